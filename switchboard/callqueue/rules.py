"""Callers who wait: the rules of a line's call queue (pure, no I/O).

A line's `queue` step (`switchboard.lines.model.QueueStep`) puts its callers in the line's own
Twilio queue (`<Enqueue>`). Twilio holds the live callers, their order and their waiting time;
this package keeps the rest, per line, in the `CallQueue` table (`switchboard.callqueue.store`):

- who of the queue's people is engaged: **ringing** (the app rang them about a waiting caller
  and they have not pressed 1 yet: the offer lapses at `until`), **busy** (they pressed 1 and
  are on a call the queue gave them, until their call ends or `MAX_TALK` passes) or
  **resting** (they let an offer ring out, or declined it: not rung again for `REST`);
- the **callbacks**: callers who pressed 1 to be called back. They left Twilio's queue but keep
  their place: a virtual place in line, kept by the time they had joined the queue
  (`arrived_at`). Live callers and callbacks are served in order of arrival.

Serving (`plan_offers`, `next_in_line`): while more callers wait (live callers in Twilio's
queue, and callbacks, which are only due while the line is open) than people are being rung,
every free person is rung at once (one outbound call each, `offer_call_id`). The first to press
1 takes whoever arrived first: a live caller (`<Dial><Queue>` bridges the front of Twilio's
queue) or a callback. A second person who presses 1 takes the next, or hears that nobody is
left.

A callback, once a person accepted it (`CONNECTING`): the person waits in a queue of their own
(`connect_queue_name`), and the app places the call to the customer exactly once through the
outbound-call queue (id `callback_call_id`: the dialer's exactly-once machinery); the customer's
leg dials that queue (`<Dial><Queue>`), which bridges the two. The person was rung first so
that a customer who answers is never put on hold again. Outcomes: `ANSWERED` (bridged),
`UNANSWERED` (the customer did not answer in `CONNECT_WAIT`: they get a text, the line's people
a notice), `DROPPED` (it waited past the maximum age, for example over a long closure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from switchboard.lines.model import Line, MenuStep, Person, QueueStep, Step
from switchboard.records import DERIVED_ID_PREFIX

# The routes Twilio reaches while a call is in a queue (served by `switchboard.voice`).
WAIT_PATH = "/api/voice/queue-wait"
RESULT_PATH = "/api/voice/queue-result"
OFFER_PATH = "/api/voice/queue-offer"
CONNECT_PATH = "/api/voice/queue-connect"

#: Twilio queue names (at most 64 characters): the line's, and one per callback being connected.
LINE_QUEUE_PREFIX = "sb-line-"
CONNECT_QUEUE_PREFIX = "sb-cb-"
#: Ids of the outbound calls the queue places (the dialer's exactly-once keys, in the namespace
#: of the ids the app derives, `records.DERIVED_ID_PREFIX`).
OFFER_ID_PREFIX = DERIVED_ID_PREFIX + "queue-offer-"
CALLBACK_ID_PREFIX = DERIVED_ID_PREFIX + "callback-"

#: Seconds a person's phone rings when the queue calls them (Twilio's `Timeout`).
OFFER_RING_SECONDS = 25
#: How long an offer is out: the ring, the whisper (press 1) and a margin for the dialer.
OFFER_SECONDS = OFFER_RING_SECONDS + 20
#: Seconds the customer's phone rings for a callback.
CALLBACK_RING_SECONDS = 25
#: How long the person who accepted a callback waits for the customer to answer: the ring, the
#: dialer's delay and a margin; then the callback is unanswered.
CONNECT_WAIT = CALLBACK_RING_SECONDS + 35
#: A person still marked busy after this long is taken as free (the end of their call was
#: missed: a person is never lost to the queue for good).
MAX_TALK = timedelta(hours=2)
#: A line's Twilio queue unused this long, and empty, is deleted (made again when next needed).
IDLE_QUEUE = timedelta(hours=1)

# Callback states.
WAITING = "waiting"
CONNECTING = "connecting"
ANSWERED = "answered"
UNANSWERED = "unanswered"
DROPPED = "dropped"
LIVE = frozenset({WAITING, CONNECTING})

RINGING = "ringing"
BUSY = "busy"
RESTING = "resting"
#: A person who let an offer ring out (or declined it) is not rung again for this long.
REST = timedelta(seconds=60)

_SID = re.compile(r"CA[0-9a-fA-F]{32}")


def digits(number: str) -> str:
    """The digits of an E.164 number (`+15017122661` -> `15017122661`)."""
    return "".join(ch for ch in number if ch.isdigit())


def queue_name(line: str) -> str:
    """The Twilio queue of a line (`sb-line-15017122661`)."""
    return LINE_QUEUE_PREFIX + digits(line)


def connect_queue_name(call_sid: str) -> str:
    """The Twilio queue where the person who accepted a callback waits for the customer."""
    return CONNECT_QUEUE_PREFIX + call_sid


def callback_call_id(call_sid: str) -> str:
    """The outbound call id of a caller's callback: one per call, whatever retries or instances."""
    return CALLBACK_ID_PREFIX + call_sid


def offer_call_id(line: str, offer: int, person: int) -> str:
    """The outbound call id of offer `offer` of a line's queue to its person `person`."""
    return f"{OFFER_ID_PREFIX}{digits(line)}-{offer}-{person}"


def is_call_sid(value: str) -> bool:
    """Whether `value` is shaped like a Twilio CallSid (what a table key and a queue name may
    carry)."""
    return bool(_SID.fullmatch(value))


def find_queue(line: Line) -> tuple[str, QueueStep] | None:
    """A line's queue step and where it is (`open.0`, `open.1.2.0` inside a menu option), or
    None: a line has at most one, in its open steps."""

    def search(steps: tuple[Step, ...], prefix: str) -> tuple[str, QueueStep] | None:
        for index, step in enumerate(steps):
            if isinstance(step, QueueStep):
                return f"{prefix}.{index}", step
            if isinstance(step, MenuStep):
                for option in step.options:
                    found = search(option.steps, f"{prefix}.{index}.{option.key}")
                    if found is not None:
                        return found
        return None

    return search(line.flows.get("open", ()), "open") if line.number else None


# --------------------------------------------------------------------------------------------
# The people


class Engaged(NamedTuple):
    """A person the queue has rung (`RINGING` until `until`) or connected (`BUSY` on the call
    of offer `offer`, taken as free again after `until`)."""

    state: str
    offer: str
    until: datetime


class Offer(NamedTuple):
    """One outbound call ringing a person about waiting callers."""

    id: str
    person_index: int
    person: Person


@dataclass(frozen=True)
class QueueState:
    """A line's queue as the app keeps it (the `line` row of `CallQueue`)."""

    queue_sid: str | None = None
    max_size: int | None = None
    people: Mapping[str, Engaged] = field(default_factory=lambda: MappingProxyType({}))
    offers: int = 0
    active_at: datetime | None = None

    def engaged(self, now: datetime) -> dict[str, Engaged]:
        """The people still engaged at `now` (a lapsed offer or a lost call frees them)."""
        return {number: e for number, e in self.people.items() if e.until > now}


def plan_offers(
    line: str, step: QueueStep, state: QueueState, waiting: int, now: datetime
) -> tuple[list[Offer], QueueState]:
    """Whom to ring now that `waiting` callers (live ones and due callbacks) wait: every free
    person at once, unless the people already being rung are as many as the callers waiting:
    the offers, and the new state, which marks them ringing for `OFFER_SECONDS`."""
    engaged = state.engaged(now)
    pruned = replace(state, people=MappingProxyType(engaged))
    if waiting <= sum(1 for e in engaged.values() if e.state == RINGING):
        return [], pruned
    free = [(i, p) for i, p in enumerate(step.people) if p.number not in engaged]
    if not free:
        return [], pruned
    number = state.offers + 1
    offers = [Offer(offer_call_id(line, number, i), i, p) for i, p in free]
    until = now + timedelta(seconds=OFFER_SECONDS)
    people = {**engaged, **{o.person.number: Engaged(RINGING, o.id, until) for o in offers}}
    return offers, replace(state, people=MappingProxyType(people), offers=number, active_at=now)


def accept(state: QueueState, number: str, offer: str, now: datetime) -> QueueState | None:
    """The state once `number` pressed 1 on offer `offer` (busy on it); None when they are
    already busy on another call of the queue."""
    engaged = state.engaged(now)
    current = engaged.get(number)
    if current is not None and current.state == BUSY and current.offer != offer:
        return None
    engaged[number] = Engaged(BUSY, offer, now + MAX_TALK)
    return replace(state, people=MappingProxyType(engaged), active_at=now)


def release(state: QueueState, number: str, offer: str, now: datetime) -> QueueState:
    """The state once the call of offer `offer` to `number` ended: free again (a later offer to
    them is left alone)."""
    engaged = state.engaged(now)
    current = engaged.get(number)
    if current is not None and current.offer == offer:
        del engaged[number]
    return replace(state, people=MappingProxyType(engaged), active_at=now)


def rest(state: QueueState, offer: str, now: datetime) -> QueueState:
    """The state once offer `offer` ended unanswered, or was declined: its person rests for
    `REST` (a person not picking up is not rung again at once)."""
    engaged = state.engaged(now)
    for number, current in engaged.items():
        if current.offer == offer and current.state == RINGING:
            engaged[number] = Engaged(RESTING, offer, now + REST)
    return replace(state, people=MappingProxyType(engaged))


# --------------------------------------------------------------------------------------------
# Callbacks: virtual places in line


@dataclass(frozen=True)
class Callback:
    """A caller who pressed 1 to be called back: their place is `arrived_at`, when they joined
    the queue."""

    call_sid: str
    caller: str
    arrived_at: datetime
    requested_at: datetime
    status: str = WAITING
    at: str = ""  # the queue step's position in the line (`open.0`)
    person: str | None = None  # who accepted it
    person_name: str | None = None
    accepted_at: datetime | None = None

    @property
    def call_id(self) -> str:
        """The id of the call back (the dialer's exactly-once key)."""
        return callback_call_id(self.call_sid)


def callback_arrival(now: datetime, queue_time: int) -> datetime:
    """When a caller joined the queue, from Twilio's `QueueTime` at `now`."""
    return now - timedelta(seconds=max(0, queue_time))


#: Twilio counts waits in whole seconds, so two arrivals this close are a tie: the live caller,
#: still holding on, goes first.
ARRIVAL_SLACK = timedelta(seconds=2)


def place_in_line(position: int, arrived_at: datetime, callbacks: Sequence[datetime]) -> int:
    """A live caller's place: Twilio's `QueuePosition` plus the callbacks that arrived before
    them (they left Twilio's queue but kept their place). A callback within `ARRIVAL_SLACK` of
    the caller is behind them, as `next_in_line` takes them: the place said is the order kept
    (two callers a second apart could otherwise each be told the other is ahead)."""
    ahead_of = arrived_at - ARRIVAL_SLACK
    return max(1, position) + sum(1 for other in callbacks if other < ahead_of)


class Next(NamedTuple):
    """Who a person who pressed 1 takes: a live caller (the front of Twilio's queue), a
    callback, or nobody."""

    kind: str  # "caller", "callback" or "none"
    callback: Callback | None = None


CALLER = Next("caller")
NOBODY = Next("none")


def next_in_line(
    front_arrived: datetime | None, callbacks: Sequence[Callback], open_now: bool
) -> Next:
    """Whoever arrived first among the front live caller (`front_arrived`: None when Twilio's
    queue is empty) and the waiting callbacks (due only while the line is open); a tie
    (`ARRIVAL_SLACK`) goes to the live caller."""
    due = [c for c in callbacks if c.status == WAITING] if open_now else []
    oldest = min(due, key=lambda c: (c.arrived_at, c.call_sid)) if due else None
    if oldest is not None and (
        front_arrived is None or oldest.arrived_at < front_arrived - ARRIVAL_SLACK
    ):
        return Next("callback", oldest)
    return CALLER if front_arrived is not None else NOBODY


def due_callbacks(callbacks: Sequence[Callback], open_now: bool) -> int:
    """How many callbacks wait for a person now (none while the line is closed)."""
    return sum(1 for c in callbacks if c.status == WAITING) if open_now else 0


def too_old(callback: Callback, now: datetime, max_age: timedelta) -> bool:
    """A waiting callback past the maximum age is dropped (recorded), never placed."""
    return callback.status == WAITING and now - callback.requested_at > max_age


def connect_lapsed(callback: Callback, now: datetime) -> bool:
    """A callback being connected whose person has waited past `CONNECT_WAIT` (with a margin:
    the person's own leg normally says so first) is unanswered."""
    started = callback.accepted_at or callback.requested_at
    return callback.status == CONNECTING and now - started > timedelta(seconds=2 * CONNECT_WAIT)


def expected_wait(average_seconds: int) -> str:
    """The expected wait in words, from Twilio's `AvgQueueTime`."""
    if average_seconds < 60:
        return "less than a minute"
    minutes = -(-average_seconds // 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"
