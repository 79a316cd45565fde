"""Callers who wait, at work: what the voice webhooks, the dispatch queue and the timer call.

- `joined(settings, line)`: a caller was just sent to the line's queue (`<Enqueue>`): the
  line's Twilio queue exists with the step's `MaxSize` (made or resized through the Queue
  resource the first time, remembered per instance), and a dispatch is asked for.
- `dispatch(settings, line)` (the `call-queue-dispatch` queue trigger, and the timer): while
  callers wait (Twilio's queue size; callbacks count while the line is open), ring every free
  person of the queue at once (`rules.plan_offers`, outbound calls through the outbound-call
  queue, `placing.offer_message`); drop callbacks past `QUEUE_CALLBACK_MAX_AGE`.
- `take(...)`: a person pressed 1: mark them busy and give them whoever arrived first, a live
  caller (the front of Twilio's queue) or a callback (claimed under its ETag, then its call
  back queued: `placing.callback_message`, exactly once by its id).
- `request_callback(...)`: a waiting caller pressed 1: the outbound policy decides (the
  destination, the caller's window on the line, the line's budget), then their place is kept.
- `offer_done`, `callback_connected`, `callback_ended`: a person's call ended; a call back was
  answered; the person waiting for the customer left (bridged, or nobody answered: the caller
  gets a text and the queue's people a note, once).
- `tick(settings)` (the timer, every minute): every line with something live is dispatched;
  callbacks whose connection lapsed are closed; idle Twilio queues are deleted.
- `callbacks_ahead(settings, line)`: when the callbacks waiting on a line arrived, from this
  instance's memory for `LINES_CACHE_SECONDS`: the wait URL reads no storage while warm.

Every outcome lands on the caller's CallLog record (`Callback`, `CallbackBy`, `CallbackAt`;
`TakenByJson`, `QueueTime` from the voice webhooks); a callback's outcome also in the caller's
conversation (`switchboard.conversations.service.on_callback_decided`: called back by whom, or
a missed call). Failures are logged and never keep a caller
from being answered: the timer tries again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from switchboard import records
from switchboard.aio import run_sync
from switchboard.callqueue import placing, rules
from switchboard.callqueue.rules import Callback, QueueState
from switchboard.callqueue.store import CallQueueStore
from switchboard.lines.hours import State, state_at
from switchboard.lines.model import Line, Person, QueueStep
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)

#: The queue the voice webhooks ask dispatches on (a fixed name: its trigger needs no setting).
DISPATCH_QUEUE = "call-queue-dispatch"

#: How the store and the Twilio client are obtained (tests swap them).
store_factory: Callable[[Settings], CallQueueStore] = CallQueueStore.from_settings


def _twilio(settings: Settings) -> Any:
    from switchboard.twilio import client

    return client.get_client(settings)


twilio_factory: Callable[[Settings], Any] = _twilio


def _line_for(number: str, settings: Settings) -> Line:
    from switchboard.lines.lookup import line_for

    return line_for(number, settings)


#: The line of a number (this instance's cache).
line_factory: Callable[[str, Settings], Line] = _line_for


def _clock(settings: Settings) -> datetime:
    from switchboard.lines.lookup import now

    return now(settings)


#: The clock the line's hours are evaluated at (`LINES_CLOCK` outside Azure).
line_clock: Callable[[Settings], datetime] = _clock


def _open(line: Line, settings: Settings) -> bool:
    state, _, _ = state_at(line.schedule, line_clock(settings))
    return state is State.OPEN


# --------------------------------------------------------------------------------------------
# The Twilio queue of a line


class _Known(NamedTuple):
    sid: str
    max_size: int


_known: dict[str, _Known] = {}
_known_lock = threading.Lock()


def forget() -> None:
    """Forget what this instance remembers (tests)."""
    with _known_lock:
        _known.clear()
    _pending.clear()


def ensure_queue(settings: Settings, line: str, step: QueueStep) -> str | None:
    """The SID of the line's Twilio queue, made (or resized) with the step's `maxSize` when
    needed; None when Twilio or storage cannot say (`<Enqueue>` then makes the queue itself,
    with Twilio's default size)."""
    with _known_lock:
        known = _known.get(line)
    if known is not None and known.max_size == step.max_size:
        return known.sid
    try:
        store = store_factory(settings)
        state, _ = store.state(line)
        sid = state.queue_sid
        if sid is None or state.max_size != step.max_size:
            sid = _make_queue(settings, line, step, sid)
            store.change_state(
                line,
                lambda current: (
                    None,
                    replace(current, queue_sid=sid, max_size=step.max_size),
                ),
            )
    except Exception as exc:
        logger.error(
            "queue %s: the Twilio queue could not be made (%s): Twilio makes it on demand",
            mask(line),
            type(exc).__name__,
        )
        return None
    with _known_lock:
        _known[line] = _Known(sid, step.max_size)
    return sid


def _make_queue(settings: Settings, line: str, step: QueueStep, sid: str | None) -> str:
    from switchboard.twilio import client as tc
    from switchboard.twilio.errors import classify_twilio_error

    rest = twilio_factory(settings)
    name = rules.queue_name(line)
    if sid is not None:
        try:
            return tc.update_queue(rest, sid, max_size=step.max_size).sid
        except Exception as exc:
            if classify_twilio_error(exc).status != 404:
                raise
    try:
        return tc.create_queue(rest, friendly_name=name, max_size=step.max_size).sid
    except Exception as exc:
        if classify_twilio_error(exc).transient:
            raise
        # Made already (by `<Enqueue>`, another instance, or before this table existed).
        for queue in tc.list_queues(rest, limit=1000):
            if queue.friendly_name == name:
                return tc.update_queue(rest, queue.sid, max_size=step.max_size).sid
        raise


def joined(settings: Settings, line: Line) -> None:
    """A caller is being sent to the line's queue (before the `<Enqueue>` is answered): the
    Twilio queue is ready, and a dispatch is asked for. Never raises."""
    found = rules.find_queue(line)
    if found is None or not line.number:
        return
    ensure_queue(settings, line.number, found[1])
    request_dispatch(settings, line.number)


def request_dispatch(settings: Settings, line: str) -> None:
    """Ask for a dispatch of the line's queue (`call-queue-dispatch`). Never raises: the timer
    dispatches every live line anyway."""
    from switchboard.storage.queues import enqueue_json

    try:
        enqueue_json(DISPATCH_QUEUE, {"line": line}, settings)
    except Exception as exc:
        logger.warning(
            "queue %s: dispatch not queued (%s): the timer will", mask(line), type(exc).__name__
        )


# --------------------------------------------------------------------------------------------
# Ringing the people


def _queued_calls(settings: Settings, sid: str | None) -> int | None:
    """How many callers wait in Twilio's queue (None: unknown)."""
    if sid is None:
        return 0
    from switchboard.twilio import client as tc

    try:
        return tc.fetch_queue(twilio_factory(settings), sid).current_size or 0
    except Exception as exc:
        logger.warning("queue %s: size unknown (%s)", sid, type(exc).__name__)
        return None


def _place(settings: Settings, message: dict[str, Any]) -> None:
    """Put one call on the outbound-call queue (checked like any queue message first)."""
    from switchboard.calls.request import parse_call_request
    from switchboard.storage.queues import enqueue_json

    # A message the dialer would reject is a bug here; its id is one the app derives.
    parse_call_request(message, derived_id_allowed=True)
    enqueue_json(settings.outbound_call_queue, message, settings)


@dataclass(frozen=True)
class Dispatched:
    """What one dispatch did (logs and tests)."""

    waiting: int
    rung: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


def dispatch(settings: Settings, line_number: str, now: datetime | None = None) -> Dispatched:
    """Ring the queue's free people while callers wait (see the module doc)."""
    moment = now or records.utcnow()
    line = line_factory(line_number, settings)
    found = rules.find_queue(line)
    if found is None:
        return Dispatched(0)
    _, step = found
    store = store_factory(settings)
    callbacks = [c for c, _ in store.callbacks(line_number)]
    dropped = tuple(
        c.call_sid
        for c in callbacks
        if rules.too_old(c, moment, settings.queue_callback_max_age)
        and _drop(settings, line_number, c, moment)
    )
    callbacks = [c for c in callbacks if c.call_sid not in dropped]
    state, _ = store.state(line_number)
    sid = state.queue_sid or ensure_queue(settings, line_number, step)  # made on demand, maybe
    live = _queued_calls(settings, sid)
    if live is None:
        return Dispatched(0, dropped=dropped)
    waiting = live + rules.due_callbacks(callbacks, _open(line, settings))
    offers = store.change_state(
        line_number, lambda current: rules.plan_offers(line_number, step, current, waiting, moment)
    )
    for offer in offers:
        try:
            _place(settings, placing.offer_message(settings, line, offer))
        except Exception as exc:  # the offer lapses, and the next dispatch rings again
            logger.error("queue %s: offer %s not queued (%s)", mask(line_number), offer.id, exc)
    if offers:
        logger.info(
            "queue %s: %d waiting, ringing %s",
            mask(line_number),
            waiting,
            ", ".join(mask(o.person.number) for o in offers),
        )
    return Dispatched(waiting, tuple(o.person.number for o in offers), dropped)


def _drop(settings: Settings, line: str, callback: Callback, now: datetime) -> bool:
    """A callback past its maximum age: recorded on the caller's call, forgotten here."""
    age = settings.queue_callback_max_age
    hours = int(age.total_seconds() // 3600)
    word = f"dropped (older than {hours} h)" if hours else "dropped (too old)"
    _decided(settings, callback.call_sid, {"Callback": word, "CallbackAt": now})
    store_factory(settings).delete_callback(line, callback.call_sid)
    _pending.forget(line)
    logger.warning("queue %s: callback of %s %s", mask(line), callback.call_sid, word)
    return True


def _record(settings: Settings, call_sid: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Merge `fields` into a call's CallLog record (best effort: logged when it fails); the
    record as written (None: not written)."""
    if not records.is_valid_record_id(call_sid):
        return None
    try:
        found = RecordStore.calls(settings).update(
            call_sid,
            lambda current: (
                {k: v for k, v in fields.items() if (current or {}).get(k) != v} or None
            ),
        )
    except Exception as exc:
        logger.error("queue: CallLog of %s not written (%s)", call_sid, type(exc).__name__)
        return None
    return dict(found) if found is not None else None


def _decided(settings: Settings, call_sid: str, fields: dict[str, Any]) -> None:
    """A callback's outcome on the caller's record, and in the caller's conversation (the
    call's event: answered and by whom, or a missed call). Never raises."""
    from switchboard.conversations.service import on_callback_decided

    on_callback_decided(_record(settings, call_sid, fields), settings)


# --------------------------------------------------------------------------------------------
# A person pressed 1


class Take(NamedTuple):
    """Whom a person who pressed 1 takes: `caller` (the front of Twilio's queue, `caller_number`
    when known), `callback`, or `none`."""

    kind: str
    callback: Callback | None = None
    caller_number: str | None = None


NOBODY = Take("none")


def _front(settings: Settings, sid: str | None, now: datetime) -> tuple[datetime, str] | None:
    """When the front caller of Twilio's queue arrived, and their CallSid (None: empty)."""
    if sid is None:
        return None
    from switchboard.twilio import client as tc
    from switchboard.twilio.errors import classify_twilio_error

    try:
        member = tc.fetch_queue_front(twilio_factory(settings), sid)
    except Exception as exc:
        if classify_twilio_error(exc).status == 404:
            return None
        raise
    return rules.callback_arrival(now, member.wait_time or 0), member.call_sid


def person_of(step: QueueStep, index: int) -> Person | None:
    """The queue's person `index`, or None."""
    return step.people[index] if 0 <= index < len(step.people) else None


def take(
    settings: Settings, line: Line, person: Person, offer: str, now: datetime | None = None
) -> Take:
    """A person pressed 1 on `offer`: busy from now, and given whoever arrived first."""
    moment = now or records.utcnow()
    number = line.number or ""
    store = store_factory(settings)
    state, _ = store.state(number)
    open_now = _open(line, settings)
    front = _front(settings, state.queue_sid, moment)
    for _ in range(8):
        callbacks = store.callbacks(number)
        chosen = rules.next_in_line(
            front[0] if front else None, [c for c, _ in callbacks], open_now
        )
        if chosen.kind == "none":
            offer_done(settings, number, person.number, offer, moment, dispatch_again=False)
            return NOBODY
        accepted = store.change_state(
            number,
            lambda current: _accepted(current, person.number, offer, moment),
        )
        if not accepted:
            return NOBODY  # already busy on another call of the queue
        if chosen.kind == "caller":
            assert front is not None
            return Take("caller", caller_number=_caller_of(settings, front[1]))
        assert chosen.callback is not None
        etag = next(e for c, e in callbacks if c.call_sid == chosen.callback.call_sid)
        claimed = replace(
            chosen.callback,
            status=rules.CONNECTING,
            person=person.number,
            person_name=person.name,
            accepted_at=moment,
        )
        if store.save_callback(number, claimed, etag):
            _pending.forget(number)
            return Take("callback", claimed)
    return NOBODY


def _accepted(current: QueueState, number: str, offer: str, now: datetime) -> Any:
    changed = rules.accept(current, number, offer, now)
    return (changed is not None, changed)


def _caller_of(settings: Settings, call_sid: str) -> str | None:
    try:
        record = RecordStore.calls(settings).get(call_sid)
    except Exception:
        return None
    return str(record.get("From") or "") or None if record is not None else None


def call_back(settings: Settings, line: Line, callback: Callback, person: int, offer: str) -> None:
    """Queue the call back of a claimed callback (exactly once: its id) and say so on the
    caller's record. Raises when the queue cannot be written (the person is told)."""
    _place(settings, placing.callback_message(settings, line, callback, person, offer))
    by = {"name": callback.person_name, "number": callback.person}
    _record(
        settings,
        callback.call_sid,
        {"Callback": rules.CONNECTING, "CallbackBy": json.dumps(by, separators=(",", ":"))},
    )
    logger.info(
        "queue %s: calling %s back (%s accepted)",
        mask(line.number or ""),
        mask(callback.caller),
        mask(callback.person or ""),
    )


def offer_done(
    settings: Settings,
    line: str,
    person: str,
    offer: str,
    now: datetime | None = None,
    *,
    dispatch_again: bool = True,
) -> None:
    """The call of `offer` to `person` ended: free again; the queue is dispatched (someone may
    still wait). Never raises."""
    moment = now or records.utcnow()
    try:
        store_factory(settings).change_state(
            line, lambda current: (None, rules.release(current, person, offer, moment))
        )
    except Exception as exc:
        logger.error("queue %s: %s not freed (%s)", mask(line), mask(person), type(exc).__name__)
    if dispatch_again:
        request_dispatch(settings, line)


def offer_declined(settings: Settings, line: str, offer: str, now: datetime | None = None) -> None:
    """A person let offer `offer` ring out, or declined it: they rest a while (`rules.REST`),
    and the queue is dispatched (others may be rung). Never raises."""
    moment = now or records.utcnow()
    try:
        store_factory(settings).change_state(
            line, lambda current: (None, rules.rest(current, offer, moment))
        )
    except Exception as exc:
        logger.error("queue %s: offer %s not closed (%s)", mask(line), offer, type(exc).__name__)
    request_dispatch(settings, line)


#: Final call statuses of an offer nobody picked up.
_UNANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})


def offer_call_ended(
    settings: Settings, record_id: str, status: str, now: datetime | None = None
) -> None:
    """The status callback of one of the queue's calls: an offer that ended unanswered frees
    its person to rest (`offer_declined`) at once, not when the offer lapses. Never raises."""
    if not record_id.startswith(rules.OFFER_ID_PREFIX) or status not in _UNANSWERED:
        return
    digits = record_id[len(rules.OFFER_ID_PREFIX) :].split("-", 1)[0]
    if digits.isdigit():
        offer_declined(settings, "+" + digits, record_id, now)


# --------------------------------------------------------------------------------------------
# Callbacks


class Requested(NamedTuple):
    """The answer to a caller who pressed 1: kept (their place too), or refused and why."""

    allowed: bool
    word: str


def request_callback(
    settings: Settings,
    line: Line,
    at: str,
    call_sid: str,
    caller: str,
    arrived_at: datetime,
    now: datetime | None = None,
) -> Requested:
    """A waiting caller pressed 1: ask the outbound policy (a call back is an automatic call
    an outsider causes: the destination, at most one per caller and line a day, the line's
    budget), then keep their place (the callback row, insert-if-absent: a retried request
    keeps the first). Storage trouble refuses (the caller stays in line)."""
    from switchboard.lines.sending import line_ref
    from switchboard.outbound.purposes import Channel, Purpose, skipped
    from switchboard.outbound.service import Message, Outbound

    moment = now or records.utcnow()
    number = line.number or ""
    store = store_factory(settings)
    try:
        existing = store.callback(number, call_sid)
    except Exception as exc:
        logger.error("queue %s: callback not kept (%s)", mask(number), type(exc).__name__)
        return Requested(False, skipped("storage unavailable"))
    if existing is not None:
        return Requested(True, "kept")
    decision = Outbound(settings).ask(
        Message(
            Purpose.CALLBACK,
            line_ref(line, settings),
            caller,
            subject=caller,
            key=f"callback-{call_sid}",
            cause=call_sid,
            channel=Channel.CALL,
        )
    )
    if not decision.allowed:
        _record(settings, call_sid, {"Callback": decision.word})
        logger.info("queue %s: callback for %s %s", mask(number), mask(caller), decision.word)
        return Requested(False, decision.word)
    callback = Callback(call_sid, caller, min(arrived_at, moment), moment, at=at)
    try:
        store.add_callback(number, callback)
    except Exception as exc:
        logger.error("queue %s: callback not kept (%s)", mask(number), type(exc).__name__)
        return Requested(False, skipped("storage unavailable"))
    _pending.forget(number)
    _record(settings, call_sid, {"Callback": rules.WAITING, "CallbackAt": moment})
    request_dispatch(settings, number)
    logger.info("queue %s: %s keeps their place for a callback", mask(number), mask(caller))
    return Requested(True, "kept")


def callback_of(settings: Settings, line: str, call_sid: str) -> Callback | None:
    """The callback a call asked for, or None (also when storage cannot say: the caller then
    hears the next steps rather than a promise the app may not keep)."""
    try:
        found = store_factory(settings).callback(line, call_sid)
    except Exception as exc:
        logger.error("queue %s: callback not readable (%s)", mask(line), type(exc).__name__)
        return None
    return found[0] if found is not None else None


def callback_connected(
    settings: Settings, line: str, call_sid: str, person: Person | None, now: datetime | None = None
) -> None:
    """The customer answered and is being bridged to the person: answered. Never raises."""
    moment = now or records.utcnow()
    try:
        store = store_factory(settings)
        found = store.callback(line, call_sid)
        if found is not None and found[0].status == rules.CONNECTING:
            store.save_callback(line, replace(found[0], status=rules.ANSWERED), found[1])
    except Exception as exc:
        logger.error("queue %s: callback not updated (%s)", mask(line), type(exc).__name__)
    fields: dict[str, Any] = {"Callback": rules.ANSWERED, "CallbackAt": moment}
    if person is not None:
        by = {"name": person.name, "number": person.number}
        fields["CallbackBy"] = json.dumps(by, separators=(",", ":"))
    _decided(settings, call_sid, fields)


def callback_ended(
    settings: Settings,
    line: Line,
    call_sid: str,
    person: str,
    offer: str,
    *,
    bridged: bool,
    connect_queue: str | None = None,
    now: datetime | None = None,
) -> str:
    """The person waiting for the customer left that callback's queue: bridged (answered) or
    not (nobody answered: the caller's text and the people's note go, once). The callback is
    forgotten, the person freed, the queue dispatched. Returns the callback's outcome."""
    moment = now or records.utcnow()
    number = line.number or ""
    store = store_factory(settings)
    outcome = rules.ANSWERED
    try:
        found = store.callback(number, call_sid)
        if found is not None and found[0].status == rules.CONNECTING and not bridged:
            # Only the instance whose write wins sends the texts.
            if store.save_callback(number, replace(found[0], status=rules.UNANSWERED), found[1]):
                outcome = rules.UNANSWERED
                _unanswered(settings, line, found[0], moment)
            else:
                outcome = "decided elsewhere"
        elif found is not None and found[0].status == rules.UNANSWERED:
            outcome = rules.UNANSWERED
        store.delete_callback(number, call_sid)
    except Exception as exc:
        logger.error("queue %s: callback not closed (%s)", mask(number), type(exc).__name__)
    _pending.forget(number)
    if connect_queue:
        _delete_queue(settings, connect_queue)
    offer_done(settings, number, person, offer, moment)
    return outcome


def _unanswered(settings: Settings, line: Line, callback: Callback, now: datetime) -> None:
    """A call back nobody answered: recorded, the caller's text, the people's note (through
    the outbound policy, then scheduled SMS with ids derived from the call: once)."""
    from switchboard.contacts.lookup import with_name
    from switchboard.lines.sending import line_ref
    from switchboard.outbound import wording
    from switchboard.outbound.purposes import Purpose
    from switchboard.outbound.service import Message, Outbound

    _decided(settings, callback.call_sid, {"Callback": rules.UNANSWERED, "CallbackAt": now})
    found = rules.find_queue(line)
    people = [p.number for p in found[1].people] if found else []
    ref = line_ref(line, settings)
    name = line.name or line.number or wording.YOUR_LINE
    policy = Outbound(settings)
    texts: list[tuple[str, str, str, Purpose]] = []
    missed = wording.callback_missed(name)
    asked = policy.ask(
        Message(
            Purpose.CALLBACK,
            ref,
            callback.caller,
            subject=callback.caller,
            key=f"callback-missed-{callback.call_sid}",
            cause=callback.call_sid,
            body=missed,
        )
    )
    if asked.allowed:
        texts.append(
            (f"sys-callback-missed-{callback.call_sid}", callback.caller, missed, Purpose.CALLBACK)
        )
    waited = callback.requested_at - callback.arrived_at
    note = wording.callback_missed_notice(
        name, with_name(settings, callback.caller), _minutes(waited)
    )
    for person in people:
        allowed = policy.ask(
            Message(
                Purpose.VOICEMAIL,
                ref,
                person,
                subject=callback.caller,
                key=f"callback-notice-{callback.call_sid}-{rules.digits(person)}",
                cause=callback.call_sid,
                body=note,
            )
        )
        if allowed.allowed:
            texts.append(
                (
                    f"sys-callback-notice-{callback.call_sid}-{rules.digits(person)}",
                    person,
                    note,
                    Purpose.VOICEMAIL,
                )
            )
    if texts:
        run_sync(_schedule(settings, texts, line.number or "", now))
    _record(
        settings, callback.call_sid, {"CallbackTexts": ", ".join(t[0] for t in texts) or "none"}
    )
    logger.info(
        "queue %s: call back of %s unanswered; %d text(s)",
        mask(line.number or ""),
        mask(callback.caller),
        len(texts),
    )


def _minutes(waited: timedelta) -> str:
    seconds = max(0, int(waited.total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


async def _schedule(
    settings: Settings, texts: Sequence[tuple[str, str, str, Any]], sender: str, now: datetime
) -> None:
    """The texts as scheduled SMS, idempotent on their ids: the timer sends each once."""
    from switchboard.schedules import store as schedule_store
    from switchboard.schedules.rules import NewSchedule
    from switchboard.schedules.store import ScheduleStore

    async with schedule_store.open_tables(settings) as opened:
        store = ScheduleStore(opened.schedules)
        for schedule_id, to, body, purpose in texts:
            await store.create(
                NewSchedule(
                    id=schedule_id,
                    to=to,
                    body=body,
                    send_at=now,
                    line=sender or None,
                    purpose=purpose.value,
                ),
                now,
            )


def _delete_queue(settings: Settings, sid: str) -> None:
    from switchboard.twilio import client as tc

    try:
        tc.delete_queue(twilio_factory(settings), sid)
    except Exception as exc:  # the timer's sweep tries again
        logger.info("queue: %s not deleted (%s)", sid, type(exc).__name__)


# --------------------------------------------------------------------------------------------
# The timer


@dataclass(frozen=True)
class Ticked:
    """What one timer run did (logs and tests)."""

    lines: int
    rung: int
    lapsed: int
    deleted: int


def tick(settings: Settings, now: datetime | None = None) -> Ticked:
    """Every line with something live: dispatch it (callbacks due at an opening are rung then),
    close the callbacks whose connection lapsed, delete the Twilio queue of a line idle for
    `rules.IDLE_QUEUE`."""
    moment = now or records.utcnow()
    store = store_factory(settings)
    rung = lapsed = deleted = 0
    everything = store.everything()
    for number, (state, callbacks) in everything.items():
        try:
            line = line_factory(number, settings)
            for callback, _ in callbacks:
                if rules.connect_lapsed(callback, moment) and callback.person:
                    engaged = state.people.get(callback.person) if state else None
                    callback_ended(
                        settings,
                        line,
                        callback.call_sid,
                        callback.person,
                        engaged.offer if engaged else "",
                        bridged=False,
                        now=moment,
                    )
                    lapsed += 1
            rung += len(dispatch(settings, number, moment).rung)
            if state is not None and _idle(state, callbacks, moment):
                deleted += _delete_idle(settings, store, number, state)
        except Exception as exc:
            logger.error("queue %s: not dispatched (%s)", mask(number), type(exc).__name__)
    return Ticked(len(everything), rung, lapsed, deleted)


def _idle(state: QueueState, callbacks: Sequence[Any], now: datetime) -> bool:
    return (
        not callbacks
        and not state.engaged(now)
        and state.active_at is not None
        and now - state.active_at > rules.IDLE_QUEUE
    )


def _delete_idle(settings: Settings, store: CallQueueStore, line: str, state: QueueState) -> int:
    """Delete an idle line's Twilio queue (empty) and its row; made again when next needed."""
    current, etag = store.state(line)
    if etag is None or current != state:
        return 0
    if state.queue_sid is not None:
        if _queued_calls(settings, state.queue_sid) != 0:
            return 0
        _delete_queue(settings, state.queue_sid)
    store.delete_state(line, etag)
    with _known_lock:
        _known.pop(line, None)
    return 1


# --------------------------------------------------------------------------------------------
# What the wait URL needs: the callbacks ahead, from memory


class _PendingCache:
    """When each line's waiting callbacks arrived, per instance, for `LINES_CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, tuple[datetime, ...]]] = {}
        self._lock = threading.Lock()
        #: Storage reads made (the benchmark counts them).
        self.loads = 0

    def get(self, settings: Settings, line: str) -> tuple[datetime, ...]:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(line)
        if entry is not None and now - entry[0] < settings.lines_cache_seconds:
            return entry[1]
        try:
            self.loads += 1
            found = tuple(
                c.arrived_at
                for c, _ in store_factory(settings).callbacks(line)
                if c.status == rules.WAITING
            )
        except Exception as exc:  # the place is then Twilio's alone
            logger.warning("queue %s: callbacks not readable (%s)", mask(line), type(exc).__name__)
            found = entry[1] if entry is not None else ()
        with self._lock:
            self._entries[line] = (now, found)
        return found

    def forget(self, line: str) -> None:
        with self._lock:
            self._entries.pop(line, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_pending = _PendingCache()


def callbacks_ahead(settings: Settings, line: str) -> tuple[datetime, ...]:
    """When the callbacks waiting on `line` arrived (0 storage reads while warm)."""
    return _pending.get(settings, line)


def pending_loads() -> int:
    """Storage reads the wait URL's memory has made so far (the benchmark counts them)."""
    return _pending.loads


# --------------------------------------------------------------------------------------------
# The triggers' entry points


def handle_dispatch(body: bytes) -> None:
    """One `call-queue-dispatch` message (`{"line": "+1..."}`); a malformed one is logged and
    dropped (it asks for nothing the timer does not do anyway)."""
    from switchboard.phone import is_e164
    from switchboard.settings import get_settings

    try:
        line = json.loads(body.decode("utf-8")).get("line")
    except (ValueError, UnicodeDecodeError, AttributeError):
        line = None
    if not isinstance(line, str) or not is_e164(line):
        logger.warning("queue: a dispatch message without a line: ignored")
        return
    dispatch(get_settings(), line)


def run_timer() -> Ticked:
    """The timer's run with the process's settings."""
    from switchboard.settings import get_settings

    done = tick(get_settings())
    if done.lines:
        logger.info(
            "queue timer: %d line(s), %d rung, %d lapsed, %d deleted",
            done.lines,
            done.rung,
            done.lapsed,
            done.deleted,
        )
    return done
