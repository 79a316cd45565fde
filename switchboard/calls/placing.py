"""Outbound calls from the queue: one delivery of a message, and the poison handler.

- `handle_message` (trigger `calls_queue`, queue `%OUTBOUND_CALL_QUEUE%`): validates the message,
  checks its destination with the outbound policy (a refused one is `rejected` with the reason:
  ``skipped (country not allowed)``), claims its id, places the call with Twilio and records the
  outcome (a geo-permission refusal also pauses the line's automatic texts). It
  raises only for transient failures (so the host redelivers the message) and when another worker
  holds the id's lease. When an earlier attempt may have reached Twilio (its worker stopped
  before storing the CallSid, or the create got no answer), it first asks Twilio for that call
  (`find_earlier_call`) and places one only if Twilio has none.
- `handle_poison` (trigger `calls_poison`, queue `%OUTBOUND_CALL_QUEUE%-poison`): the host moves a
  message there after `maxDequeueCount` deliveries; its record becomes `dead-lettered` with the
  last error.

The blueprint (`switchboard.calls.blueprint`) only passes the host's message (body, id, dequeue
count) here. The operator routes for calls are `switchboard.calls.routes`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from switchboard import records
from switchboard.calls import idempotency
from switchboard.calls.idempotency import (
    FailureAction,
    IdempotencyRecord,
    State,
    TwilioCall,
    Verdict,
    decide_failure,
)
from switchboard.calls.request import (
    CallRequest,
    InvalidCallRequest,
    id_of_invalid,
    parse_call_message,
    twiml_for,
)
from switchboard.calls.store import IdempotencyStore
from switchboard.logbook.statuses import Kind, status_callback_url
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings, SettingsError, get_settings
from switchboard.twilio.errors import classify_twilio_error

logger = get_logger(__name__)

#: Where status callbacks go when neither PUBLIC_BASE_URL nor WEBSITE_HOSTNAME (Azure) is set:
#: the default origin of `func start` and `python -m devkit host`.
LOCAL_BASE_URL = "http://localhost:7071"
DEFAULT_MAX_DEQUEUE_COUNT = 5
#: Calls read per Calls list request when looking for the call of an attempt in doubt.
FIND_LIMIT = 50
_HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


class TransientCallFailure(RuntimeError):
    """Twilio failed transiently (or a setting is missing): raised so the host retries."""


class CallInFlight(RuntimeError):
    """Another worker holds this id's lease: raised so the message comes back later."""


class Placer(Protocol):
    """Places a call with Twilio; returns (CallSid, status) or raises Twilio's error."""

    def __call__(
        self, request: CallRequest, *, from_: str, twiml: str | None, status_callback: str
    ) -> tuple[str, str]: ...


class CallFinder(Protocol):
    """Twilio's calls to `to` from `from_` created at or after `since` (and possibly more);
    raises Twilio's errors."""

    def __call__(self, *, to: str, from_: str, since: datetime) -> Sequence[TwilioCall]: ...


@dataclass(frozen=True)
class Outcome:
    """What processing a message did (for logs and tests)."""

    id: str
    result: str  # placed | rejected | failed | duplicate | conflict | already-placed
    sid: str | None = None


def callback_base_url(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The origin Twilio reaches the app at: PUBLIC_BASE_URL, the Azure host name, or local."""
    if settings.public_base_url:
        return settings.public_base_url
    hostname = (environ if environ is not None else os.environ).get("WEBSITE_HOSTNAME", "").strip()
    if hostname:
        return f"https://{hostname}"
    return LOCAL_BASE_URL


@lru_cache(maxsize=1)
def max_dequeue_count() -> int:
    """host.json `extensions.queues.maxDequeueCount` (the host's default 5 when absent)."""
    try:
        data = json.loads(_HOST_JSON.read_text(encoding="utf-8-sig"))
        value = data["extensions"]["queues"]["maxDequeueCount"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_DEQUEUE_COUNT
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_DEQUEUE_COUNT


def twilio_placer(settings: Settings) -> Placer:
    """A Placer that uses the process's Twilio client (imported on first use: cold start)."""

    def place(
        request: CallRequest, *, from_: str, twiml: str | None, status_callback: str
    ) -> tuple[str, str]:
        from switchboard.twilio import client as twilio_client

        client = twilio_client.get_client(settings)
        created = twilio_client.create_call(
            client,
            to=request.to,
            from_=from_,
            twiml=twiml,
            url=None if twiml is not None else request.url,
            status_callback=status_callback,
            machine_detection=request.machine_detection,
            timeout=request.timeout,
            record=request.record,
        )
        return created.sid, created.status

    return place


def twilio_call_finder(settings: Settings) -> CallFinder:
    """A CallFinder on the process's Twilio client (two Calls list requests)."""

    def find(*, to: str, from_: str, since: datetime) -> Sequence[TwilioCall]:
        from switchboard.twilio import client as twilio_client

        client = twilio_client.get_client(settings)
        # Calls dialed since then, and the newest ones: a call still queued has no start time
        # yet, so the StartTime filter alone would miss it.
        dialed = twilio_client.list_calls(
            client, to=to, from_=from_, start_time_after=since, limit=FIND_LIMIT
        )
        newest = twilio_client.list_calls(client, to=to, from_=from_, limit=FIND_LIMIT)
        return [*dialed, *newest]

    return find


def find_earlier_call(
    key: str,
    request: CallRequest,
    from_: str,
    record: IdempotencyRecord,
    *,
    ledger: IdempotencyStore,
    find: CallFinder,
    now: Callable[[], datetime],
) -> TwilioCall | None:
    """The call an attempt in doubt of `key` created, asked of Twilio (VERIFY), or None.

    Any failure (Twilio, settings, storage) gives the id back still in doubt and raises
    TransientCallFailure: not knowing is never a reason to place the call.
    """
    since = idempotency.doubt_since(record) or now()
    try:
        calls = find(to=request.to, from_=from_, since=since - idempotency.TWILIO_CLOCK_SKEW)
        return idempotency.find_placed_call(
            calls,
            key=key,
            to=request.to,
            from_=from_,
            since=since,
            owner_of=ledger.store.resolve,
        )
    except Exception as exc:
        code: int | str | None
        if isinstance(exc, SettingsError):
            code, message = "settings", str(exc)
        else:
            failure = classify_twilio_error(exc)
            code = failure.code if failure.code is not None else failure.status
            message = failure.message
        ledger.release(
            key,
            record.attempts,
            code,
            f"cannot ask Twilio whether an earlier attempt placed the call: {message}",
            now=now(),
            uncertain=True,
        )
        logger.warning(
            "Outbound call %s: an earlier attempt may have reached Twilio and Twilio cannot be "
            "asked (%s %s): not placed, retrying later",
            key,
            code,
            message,
        )
        raise TransientCallFailure(f"call {key}: cannot check Twilio for an earlier call") from exc


def refused_destination(settings: Settings, to: str) -> str | None:
    """``skipped (country not allowed)`` when the outbound policy refuses to call `to` (the
    country list, premium-rate and satellite numbers); None when it may be called."""
    from switchboard.outbound.purposes import Channel, skipped
    from switchboard.outbound.service import Outbound, Refused

    try:
        Outbound(settings).require(to, channel=Channel.CALL)
    except Refused as exc:
        return skipped(exc.reason)
    return None


def _twilio_error(settings: Settings, line: str, code: int | None) -> None:
    """A geo-permission refusal of a call (21215, 13227, ...) pauses the line's automatic
    texts too: someone is dialling where the business does not."""
    from switchboard.lines.sending import line_ref_of
    from switchboard.outbound.service import Outbound

    Outbound(settings).twilio_error(line_ref_of(line, settings), code)


def _text_of(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def process_message(
    body: bytes,
    message_id: str,
    dequeue_count: int,
    *,
    settings: Settings,
    ledger: IdempotencyStore,
    place: Placer,
    max_deliveries: int = DEFAULT_MAX_DEQUEUE_COUNT,
    now: Callable[[], datetime] = records.utcnow,
    find: CallFinder | None = None,
) -> Outcome:
    """Handle one delivery of a queue message (README "Outbound calls (queue)", rule by rule).

    Returns normally when the message is done with (placed, rejected, failed, duplicate,
    conflict, already-placed); raises TransientCallFailure or CallInFlight when it must come
    back. `find` looks for the call of an attempt in doubt (default: `twilio_call_finder`).
    """
    try:
        request = parse_call_message(body, default_id=message_id)
        from_ = request.from_ or settings.twilio_from_number
        if not from_:
            raise InvalidCallRequest("from", "is required: TWILIO_FROM_NUMBER is not set")
    except InvalidCallRequest as exc:
        key = id_of_invalid(body, message_id)
        created = ledger.reject(
            key, str(exc), exc.field, _text_of(body), now=now(), message_id=message_id
        )
        logger.warning(
            "Rejected outbound call message %s (id %s): %s%s",
            message_id,
            key,
            exc,
            "" if created else " (the id already has a record: left unchanged)",
        )
        return Outcome(key, "rejected")
    key = request.id or message_id
    refusal = refused_destination(settings, request.to)
    if refusal is not None:
        created = ledger.reject(
            key, refusal, "to", _text_of(body), now=now(), message_id=message_id
        )
        logger.warning(
            "Outbound call %s to %s not placed: %s%s",
            key,
            mask(request.to),
            refusal,
            "" if created else " (the id already has a record: left unchanged)",
        )
        return Outcome(key, "rejected")
    claim = ledger.claim(key, request, from_=from_, now=now(), message_id=message_id)
    if claim.verdict is Verdict.IN_FLIGHT:
        raise CallInFlight(f"call {key} is being placed by another worker; retrying later")
    if claim.verdict is Verdict.CONFLICT:
        logger.warning(
            "Outbound call %s: the id is taken by a different request (%s): no call",
            key,
            claim.record.state or "not an outbound call",
        )
        return Outcome(key, "conflict")
    if claim.verdict is Verdict.ALREADY_PLACED:
        logger.info("Outbound call %s: Twilio already has it (%s)", key, claim.record.sid)
        return Outcome(key, "already-placed", claim.record.sid)
    if claim.verdict is Verdict.DONE:
        logger.info("Outbound call %s delivered again: already %s", key, claim.record.state)
        return Outcome(key, "duplicate", claim.record.sid)
    if claim.verdict is Verdict.VERIFY:
        found = find_earlier_call(
            key,
            request,
            from_,
            claim.record,
            ledger=ledger,
            find=find or twilio_call_finder(settings),
            now=now,
        )
        if found is not None:
            logger.warning(
                "Outbound call %s: an earlier attempt did place it (%s): no second call",
                key,
                found.sid,
            )
            ledger.complete(
                key,
                found.sid,
                claim.record.attempts,
                now=now(),
                placed_at=found.date_created,
                alias=True,
            )
            return Outcome(key, "already-placed", found.sid)
        logger.info("Outbound call %s: Twilio has no call of the attempt in doubt: placing", key)
    attempts = claim.record.attempts + 1
    callback = status_callback_url(callback_base_url(settings), Kind.CALL, key)
    try:
        sid, _status = place(
            request, from_=from_, twiml=twiml_for(request), status_callback=callback
        )
    except SettingsError as exc:
        # Credentials missing or malformed: not the message's fault, and fixable; retry, and
        # let the poison handler dead-letter it with this reason if nobody fixes it in time.
        ledger.release(key, attempts, "settings", str(exc), now=now())
        logger.error("Outbound call %s not placed: %s", key, exc)
        raise TransientCallFailure(f"call {key}: {exc}") from exc
    except Exception as exc:  # classified below; anything unknown is permanent
        failure = classify_twilio_error(exc)
        action = decide_failure(
            transient=failure.transient,
            dequeue_count=dequeue_count,
            max_dequeue_count=max_deliveries,
        )
        code: int | str | None = failure.code if failure.code is not None else failure.status
        if not failure.transient:
            _twilio_error(settings, from_, failure.code)
        if action is FailureAction.FAIL:
            ledger.fail(key, attempts, code, failure.message, now=now())
            logger.warning(
                "Outbound call %s to %s failed: Twilio %s %s",
                key,
                mask(request.to),
                code,
                failure.message,
            )
            return Outcome(key, "failed")
        # No answer at all (a timeout, a dropped connection): Twilio may have created the call,
        # so the next delivery asks it first. An HTTP error answer means it did not.
        ledger.release(
            key, attempts, code, failure.message, now=now(), uncertain=failure.status is None
        )
        logger.warning(
            "Outbound call %s: transient Twilio failure on delivery %d of %d (%s %s)%s",
            key,
            dequeue_count,
            max_deliveries,
            code,
            failure.message,
            "; the message goes to the poison queue" if action is FailureAction.EXHAUSTED else "",
        )
        raise TransientCallFailure(f"call {key}: transient Twilio failure {code}") from exc
    try:
        ledger.complete(key, sid, attempts, now=now())
    except Exception:
        # Twilio has the call; the lease keeps other deliveries off it and status callbacks
        # (which carry ?id=) still fill in the SID and status. Say so loudly, do not retry.
        logger.exception("Outbound call %s placed as %s but its record was not updated", key, sid)
        return Outcome(key, "placed", sid)
    logger.info("Outbound call %s to %s placed: %s", key, mask(request.to), sid)
    return Outcome(key, "placed", sid)


def process_poison(
    body: bytes,
    message_id: str,
    *,
    ledger: IdempotencyStore,
    now: Callable[[], datetime] = records.utcnow,
) -> State | None:
    """Mark the record of a message the host gave up on `dead-lettered` (or `rejected`)."""
    try:
        request: CallRequest | None = parse_call_message(body, default_id=message_id)
    except InvalidCallRequest as exc:
        # Only reachable when recording the rejection itself failed on every delivery.
        key = id_of_invalid(body, message_id)
        ledger.reject(key, str(exc), exc.field, _text_of(body), now=now(), message_id=message_id)
        return State.REJECTED
    assert request is not None
    key = request.id or message_id
    state = ledger.dead_letter(key, request, now=now(), message_id=message_id)
    if state is State.DEAD_LETTERED:
        logger.error("Outbound call %s to %s dead-lettered", key, mask(request.to))
    return state


# --------------------------------------------------------------------------------------------
# The triggers' entry points
# --------------------------------------------------------------------------------------------


def _ledger(settings: Settings) -> IdempotencyStore:
    return IdempotencyStore(RecordStore.calls(settings))


def handle_message(body: bytes, message_id: str, dequeue_count: int) -> Outcome:
    """One delivery of a `%OUTBOUND_CALL_QUEUE%` message, with the process's settings,
    ledger and Twilio client (see `process_message`)."""
    settings = get_settings()
    return process_message(
        body,
        message_id,
        dequeue_count,
        settings=settings,
        ledger=_ledger(settings),
        place=twilio_placer(settings),
        max_deliveries=max_dequeue_count(),
    )


def handle_poison(body: bytes, message_id: str) -> State | None:
    """A message of `%OUTBOUND_CALL_QUEUE%-poison` (see `process_poison`)."""
    settings = get_settings()
    return process_poison(body, message_id, ledger=_ledger(settings))
