"""Exactly-once placement of outbound calls: the idempotency state machine (pure).

Modelled on AWS Lambda Powertools' idempotency utility: one record per idempotency key (the
call's `id`) with a status, a hash of the payload and, while a worker is placing the call, a lease
that expires after the function timeout. The storage adapter
(`switchboard.calls.store`) creates records with insert-if-absent and changes them
only under an ETag match; this module decides what each observation means.

States (`IdempotencyStatus` on the CallLog record):

    (none) ──claim──▶ in-progress ──Twilio accepted──▶ completed
                          │ ├──────permanent error───▶ failed
                          │ └──────transient error───▶ pending ──claim──▶ in-progress ...
    in-progress with an expired lease, or pending after an attempt in doubt
        ──verify (ask Twilio)──▶ completed with the CallSid found, or in-progress (place it)
    (none) ──invalid──▶ rejected ──a valid message with that id──▶ in-progress
    pending / in-progress with an expired lease ──poison handler──▶ dead-lettered
    pending (created by POST /api/calls before enqueuing) ──claim──▶ in-progress

Rules, in the order `evaluate` applies them:

- a different payload under the same key is a CONFLICT: never a call, whatever the state
  (a `rejected` record has no payload to compare with: see below);
- `completed`, `failed`, `dead-lettered`: DONE, never a second call;
- a record that already holds a CallSid (a status callback carrying `?id=` found it, for example
  after a timeout whose call Twilio did create) is ALREADY_PLACED: it is marked completed;
- `in-progress` under a live lease: IN_FLIGHT, another worker is placing it (the message is
  retried later, so nothing is lost if that worker then fails);
- an expired `in-progress` (its worker stopped at an unknown point, maybe after Twilio created
  the call but before the CallSid was stored) and a `pending` record marked `unverified` (a
  create got no answer: a timeout or a dropped connection, which Twilio may have acted on):
  VERIFY, a takeover like CLAIM after which the worker asks Twilio for the call
  (`find_placed_call`) and places one only if Twilio has none;
- `pending` and `rejected`: CLAIM (a takeover, under the ETag read). A rejected id never reached
  Twilio, so a corrected message may reuse it.

The lease is the function timeout plus a margin, counted from the claim (which happens after the
function started): the host stops a function at its timeout, so no two live workers can hold the
same lease, and the holder may write its outcome without an ETag (status callbacks touch other
properties of the same entity and would only make an ETag condition fail for nothing).

A failed attempt (`decide_failure`) is retried by raising when Twilio failed transiently, and
recorded `failed` when Twilio refused for good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

#: host.json `functionTimeout` (5 minutes, the Consumption plan default).
FUNCTION_TIMEOUT = timedelta(minutes=5)
#: Added to the function timeout so that a lease always outlives the worker that holds it.
LEASE_MARGIN = timedelta(seconds=30)
DEFAULT_LEASE = FUNCTION_TIMEOUT + LEASE_MARGIN
#: Subtracted from the claim time when asking Twilio for a call an earlier attempt created:
#: Twilio's clock (`date_created`) and ours may disagree a little. Kept small because the match
#: is only on numbers and time (see `find_placed_call`).
TWILIO_CLOCK_SKEW = timedelta(minutes=1)
#: The direction of a call created through the REST API (<Dial> legs are `outbound-dial`).
API_DIRECTION = "outbound-api"


class State(StrEnum):
    """Idempotency status of a call record."""

    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    DEAD_LETTERED = "dead-lettered"


FINAL_STATES = frozenset({State.COMPLETED, State.FAILED, State.DEAD_LETTERED})


class Verdict(StrEnum):
    """What a worker holding a valid message should do, given the stored record."""

    CLAIM = "claim"  # take the record (ETag-conditioned) and place the call
    DONE = "done"  # final already: no call, return normally
    ALREADY_PLACED = "already-placed"  # Twilio has the call (a CallSid is known): mark completed
    CONFLICT = "conflict"  # same id, different payload: no call, return normally
    IN_FLIGHT = "in-flight"  # another worker holds a live lease: retry the message later
    VERIFY = "verify"  # taken, but an earlier attempt may have reached Twilio: ask it first


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the state machine needs of a stored record."""

    key: str
    state: State | None
    payload_hash: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    sid: str | None = None
    etag: str | None = None
    #: When the attempts not yet known to have failed began (`ClaimedAt`): the start of the
    #: window in which Twilio may hold a call of this id.
    claimed_at: datetime | None = None
    #: A pending record whose last create got no answer (or whose check with Twilio failed).
    unverified: bool = False

    def lease_live(self, now: datetime) -> bool:
        """Whether an in-progress lease still protects the worker holding it."""
        return (
            self.state is State.IN_PROGRESS
            and self.lease_until is not None
            and self.lease_until > now
        )


def parse_state(value: object) -> State | None:
    """The State of a stored value (None for records the queue never touched: inbound calls)."""
    try:
        return State(str(value)) if value else None
    except ValueError:
        return None


def evaluate(record: IdempotencyRecord, payload_hash: str, now: datetime) -> Verdict:
    """The verdict for a valid message with `payload_hash` meeting an existing `record`."""
    if record.state is None:
        # A record that the outbound path did not create (an inbound CallSid used as an id):
        # the id is taken by something else.
        return Verdict.CONFLICT
    if record.state is not State.REJECTED and record.payload_hash != payload_hash:
        return Verdict.CONFLICT
    if record.state in FINAL_STATES:
        return Verdict.DONE
    if record.sid and record.state in {State.PENDING, State.IN_PROGRESS}:
        return Verdict.ALREADY_PLACED
    if record.lease_live(now):
        return Verdict.IN_FLIGHT
    if record.state is State.IN_PROGRESS or (record.state is State.PENDING and record.unverified):
        return Verdict.VERIFY
    return Verdict.CLAIM


def attempts_made(record: IdempotencyRecord) -> int:
    """Create attempts so far: an in-progress record's worker stopped during one it never
    counted (attempts are written with the outcome)."""
    return record.attempts + (1 if record.state is State.IN_PROGRESS else 0)


def doubt_since(record: IdempotencyRecord, lease: timedelta = DEFAULT_LEASE) -> datetime | None:
    """When the attempts in doubt began: the claim time, else (records written before
    `ClaimedAt` existed) the lease's start; a VERIFY takeover keeps it as the record's
    `ClaimedAt`, so a check that fails and is retried still covers the first attempt."""
    if record.claimed_at is not None:
        return record.claimed_at
    if record.lease_until is not None:
        return record.lease_until - lease
    return None


class TwilioCall(Protocol):
    """What matching needs of a call in Twilio's Calls list (`twilio_client.CallRecord`)."""

    @property
    def sid(self) -> str: ...
    @property
    def to(self) -> str | None: ...
    @property
    def from_(self) -> str | None: ...
    @property
    def direction(self) -> str | None: ...
    @property
    def date_created(self) -> datetime | None: ...


C = TypeVar("C", bound=TwilioCall)


def find_placed_call(
    calls: Iterable[C],
    *,
    key: str,
    to: str,
    from_: str,
    since: datetime,
    owner_of: Callable[[str], str | None],
    skew: timedelta = TWILIO_CLOCK_SKEW,
) -> C | None:
    """The call an earlier attempt of `key` created, among Twilio's `calls`, or None.

    Twilio's Calls API takes no idempotency key and its Call resource echoes nothing of ours
    (neither the TwiML nor the StatusCallback URL that carries `?id=`), so the match is:
    a call created through the API (`outbound-api`) with this `to` and `from_`, created at or
    after `since - skew`, whose SID no other record owns (`owner_of` reads the SID aliases:
    written by each call's first status callback, and at once for a call adopted here). The
    earliest such call wins.

    Limits: a call to the same number from the same number made by something else (the console,
    another system, another id whose record also lost its CallSid, or another id's call whose
    first status callback has not reached the app) inside the window is taken for this one, and
    this id's call is then not placed; a call Twilio lists only after the check (a create still
    running on Twilio's side) is missed.
    """
    start = since - skew
    matches = [
        call
        for call in calls
        if call.to == to
        and call.from_ == from_
        and (call.direction or API_DIRECTION) == API_DIRECTION
        and call.date_created is not None
        and call.date_created >= start
    ]
    for call in sorted(matches, key=lambda c: (c.date_created or start, c.sid)):
        if owner_of(call.sid) in {None, key}:
            return call
    return None


def lease_until(now: datetime, lease: timedelta = DEFAULT_LEASE) -> datetime:
    """When a lease taken `now` expires."""
    return now + lease


@dataclass(frozen=True)
class PoisonAction:
    """What the poison handler writes: the new state, or nothing (`state` None)."""

    state: State | None
    reason: str


def on_poison(record: IdempotencyRecord | None, now: datetime) -> PoisonAction:
    """The poison handler's decision for the record of a message the host gave up on.

    - no record: the message never got far enough to write one (storage failing on every
      delivery): dead-lettered;
    - pending, or in-progress with an expired lease: dead-lettered with the last error;
    - in-progress under a live lease: left alone, the worker holding it writes the outcome (this
      is another copy of the same id that kept meeting it);
    - a record with a CallSid: completed, the call exists;
    - final or rejected: nothing to do.
    """
    if record is None:
        return PoisonAction(State.DEAD_LETTERED, "no record was written before the retries ran out")
    if record.state in {State.PENDING, State.IN_PROGRESS} and record.sid:
        return PoisonAction(State.COMPLETED, "Twilio reported the call")
    if record.state is State.PENDING:
        return PoisonAction(State.DEAD_LETTERED, "the retries ran out")
    if record.state is State.IN_PROGRESS:
        if record.lease_live(now):
            return PoisonAction(None, "another worker holds the lease")
        return PoisonAction(
            State.DEAD_LETTERED, "the worker placing it stopped; Twilio may or may not have it"
        )
    return PoisonAction(None, f"already {record.state}" if record.state else "not an outbound call")


class FailureAction(StrEnum):
    """What the queue function does after Twilio refused or failed to place a call."""

    RETRY = "retry"  # record the attempt, raise: the host redelivers the message
    EXHAUSTED = "exhausted"  # same, but this was the last delivery: the poison handler follows
    FAIL = "fail"  # permanent: record `failed` with Twilio's code and message, return normally


def decide_failure(*, transient: bool, dequeue_count: int, max_dequeue_count: int) -> FailureAction:
    """The action for a failed attempt on the `dequeue_count`-th delivery of the message.

    Transient failures (429, 5xx, timeouts) are retried by raising; the host moves the message to
    `<queue>-poison` once it has been delivered `max_dequeue_count` times, where the poison
    handler marks the record `dead-lettered`. EXHAUSTED differs from RETRY only in what is
    logged: both raise, so the move to the poison queue stays the host's decision.
    """
    if not transient:
        return FailureAction.FAIL
    if dequeue_count >= max_dequeue_count:
        return FailureAction.EXHAUSTED
    return FailureAction.RETRY
