"""The status callbacks' `respond` steps (`POST /api/status/message`, `POST /api/status/call`).

The blueprint (`switchboard.status.blueprint`) hands each verified request (`twilio_webhook`
checks settings and the signature: 403, nothing written, when it fails) to `on_message` or
`on_call` here. Each callback is merged into its record with `switchboard.status.merge` under
ETag optimistic concurrency (`RecordStore.update` retries on a conflict), so callbacks that race
on two instances lose nothing and a record never moves back (see `switchboard.logbook.statuses`
for the order).

Finding the record: the `id` query parameter of the callback URL when present (the app puts it
there for what it places; Twilio signs the URL, so it is trusted), else the SID (an alias row or
the record itself), else a new record keyed by the SID and marked `Unknown=True`.

A message callback with error 21610 (recipient unsubscribed) also records an opt-out
(`How=twilio-21610`); one with a fraud or geo-permission error (30450, SMS Pumping Protection;
21408, ...: `switchboard.outbound.budget.TRIP_CODES`) pauses the automatic texts of the line it
was sent from (`switchboard.outbound`). One whose code means the text was not registered or
was filtered (30034, 30032, 30024, 30007: `switchboard.outbound.problems`) puts the plain words
on the record (`Problem`, in the same write) and counts the text against the line's problem row
(one more round trip on a warm instance, none for any other callback); the callback whose
count claims it tells the owner, once (`Outbound.delivery_problem`).

A call callback that ends one of the calls a line's queue placed to ring its people, unanswered,
frees that person at once (`switchboard.callqueue.service.offer_call_ended`). A call callback
that ends an inbound call nobody took then hands the record to the missed-call text-back
(`switchboard.textback.service.on_call_ended`, with the line of the number called:
`line_for`), which writes `TextBack` on the record; and every inbound call that ended becomes
an event of the caller's conversation on that line
(`switchboard.conversations.service.on_call_ended`: missed, voicemail, answered and by whom), as
does every call the app placed to a customer through the outbound-call queue (answered or not).
Their failures are logged and never change the answer: the record update is what the callback
is for.

Answers: 204 when applied (or nothing to change); 400 for a signed callback without SID or
status; 503 when storage failed, so the failure is visible in Twilio's debugger (and retried
when the callback URL asks Twilio to retry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from switchboard import records
from switchboard.http import no_content, plain_response
from switchboard.logbook.statuses import OPTED_OUT_ERROR_CODE, Kind
from switchboard.logbook.store import Entity, RecordStore
from switchboard.logs import get_logger
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.phone import mask
from switchboard.settings import Settings
from switchboard.status import merge as status
from switchboard.status.merge import CallbackError, StatusUpdate
from switchboard.textback import rules as text_back_rules
from switchboard.twilio.webhook import TwilioRequest

if TYPE_CHECKING:
    from switchboard.lines.model import Line

logger = get_logger(__name__)

#: How the stores are obtained (tests swap them).
store_factories: dict[Kind, Callable[[Settings], Any]] = {
    Kind.MESSAGE: RecordStore.messages,
    Kind.CALL: RecordStore.calls,
}
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings


def _line_for(number: str, settings: Settings) -> Line | None:
    from switchboard.lines.lookup import line_for

    return line_for(number, settings)  # this instance's cache: 0 storage reads while warm


#: The line of a number (its stored line, else the default line, which has no text-back).
line_for: Callable[[str, Settings], Line | None] = _line_for


def record_id_from_url(url: str) -> str | None:
    """The `id` query parameter of the callback URL (the app's record id), if any."""
    values = parse_qs(urlsplit(url).query).get("id")
    return values[0] if values and values[0] else None


@dataclass(frozen=True)
class Applied:
    """A callback merged: the record after it, and what this callback's write changed (None:
    nothing: a duplicate, or a status the record has moved past)."""

    record: Entity | None
    changes: dict[str, Any] | None


def apply_callback(store: Any, update: StatusUpdate, record_id: str | None = None) -> Entity | None:
    """Merge `update` into its record (found by `record_id`, else by SID); returns the record
    (`merge_callback`)."""
    return merge_callback(store, update, record_id).record


def merge_callback(store: Any, update: StatusUpdate, record_id: str | None = None) -> Applied:
    """Merge `update` into its record (found by `record_id`, else by SID).

    A record kept under the app's id (an outbound call, `?id=` in the callback URL) gets its
    SID alias here, once: the first callback of the call writes it, before the merge records
    on the record that it exists (`SidAlias`), so later callbacks neither read nor write it.
    Raises CallbackError when the key cannot be stored; storage errors propagate.
    """
    key = record_id or store.resolve(update.sid) or update.sid
    if not records.is_valid_record_id(key):
        raise CallbackError("status callback with an id or SID that cannot be a table key")
    current = store.get(key)
    aliased = (
        key == update.sid
        or not records.is_valid_key(update.sid)  # a SID that cannot be a key gets no alias
        or (current is not None and current.get(records.SID_ALIAS) == update.sid)
    )
    if not aliased:
        # The record was placed under the app's id: let later SID-only lookups (operators,
        # the dialer's check with Twilio for an attempt in doubt) find it.
        store.add_sid_alias(key, update.sid)

    written: list[dict[str, Any] | None] = [None]

    def change(record: Entity | None) -> dict[str, Any] | None:
        changes = status.merge(record, update)
        if not (aliased or (record is not None and record.get(records.SID_ALIAS) == update.sid)):
            changes = {**(changes or {}), records.SID_ALIAS: update.sid}
        written[0] = changes  # the last decision is the one the store wrote (or found idle)
        return changes

    result: Entity | None = store.update(key, change, current=current)
    return Applied(result, written[0])


def responder(kind: Kind) -> Callable[[TwilioRequest, Settings], func.HttpResponse]:
    """The `respond` step of `twilio_webhook` for one kind of status callback."""

    def respond(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
        try:
            update = status.parse_callback(kind, request.params)
        except CallbackError as exc:
            logger.warning("status: rejected a callback: %s", exc)
            return plain_response("Bad request", 400)
        correlation = {"MessageSid" if kind is Kind.MESSAGE else "CallSid": update.sid}
        try:
            applied = merge_callback(
                store_factories[kind](settings), update, record_id_from_url(request.url)
            )
            record = applied.record
            if kind is Kind.MESSAGE and update.error_code == OPTED_OUT_ERROR_CODE:
                _record_twilio_opt_out(update, record, settings)
            if kind is Kind.MESSAGE and update.error_code is not None:
                _twilio_error(update, applied, settings)
            if kind is Kind.CALL and text_back_rules.may_apply(record):
                _text_back(update, record, settings)
            if kind is Kind.CALL and _ends_a_conversation_call(record):
                _conversation(record, settings)
            if kind is Kind.CALL:
                _queue_call_ended(record_id_from_url(request.url), update, settings)
        except CallbackError as exc:
            logger.warning("status %s: %s", update.sid, exc, extra=correlation)
            return plain_response("Bad request", 400)
        except Exception as exc:  # storage down, or too many conflicting updates
            logger.error(
                "status %s: %s callback %s not applied (%s)",
                update.sid,
                kind.value,
                update.status,
                type(exc).__name__,
                extra=correlation,
            )
            return plain_response("Service unavailable", 503)
        logger.info(
            "status %s: %s %s -> record %s",
            update.sid,
            kind.value,
            update.status,
            (record or {}).get("Status", "-"),
            extra=correlation,
        )
        return no_content()

    return respond


#: `POST /api/status/message`: updates the message's MessageLog record.
on_message = responder(Kind.MESSAGE)
#: `POST /api/status/call`: updates the call's CallLog record.
on_call = responder(Kind.CALL)


def _text_back(update: StatusUpdate, record: Entity | None, settings: Settings) -> None:
    """The missed-call text-back of an inbound call that just ended (never raises)."""
    assert record is not None
    try:
        from switchboard.textback.service import on_call_ended

        on_call_ended(record, line_for(text_back_rules.line_number(record), settings), settings)
    except Exception as exc:  # storage or Twilio trouble: logged; a retried callback tries again
        logger.error(
            "status %s: text-back not decided (%s)",
            update.sid,
            type(exc).__name__,
            extra={"CallSid": update.sid},
        )


def _ends_a_conversation_call(record: Entity | None) -> bool:
    """Whether the record is of an inbound call, or one the app placed, that ended (cheap:
    asked before any import; `switchboard.conversations.calls` decides which are events)."""
    from switchboard.logbook import calls

    return (
        record is not None
        and (calls.is_inbound(record) or calls.is_placed(record))
        and calls.ended(record)
    )


def _conversation(record: Entity | None, settings: Settings) -> None:
    """The ended call as an event of its conversation (`switchboard.conversations`: missed,
    voicemail, answered and by whom). Never raises."""
    from switchboard.conversations.service import on_call_ended

    on_call_ended(record, settings)


def _queue_call_ended(record_id: str | None, update: StatusUpdate, settings: Settings) -> None:
    """A call a line's queue placed to ring one of its people ended: one that rang out frees
    that person at once (`switchboard.callqueue.service.offer_call_ended`). Never raises."""
    from switchboard.callqueue.rules import OFFER_ID_PREFIX

    if not record_id or not record_id.startswith(OFFER_ID_PREFIX):
        return
    from switchboard.callqueue.service import offer_call_ended

    try:
        offer_call_ended(settings, record_id, update.status)
    except Exception as exc:  # logged: the offer then lapses on its own
        logger.error("status %s: queue offer not closed (%s)", update.sid, type(exc).__name__)


def _twilio_error(update: StatusUpdate, applied: Applied, settings: Settings) -> None:
    """A fraud or geo-permission error on a message pauses its line; a code that means the
    text was not registered or was filtered counts against its line, once per message: only
    the callback that put `Problem` on the record counts it (a duplicate finds it there).
    Never raises."""
    from switchboard.outbound.budget import twilio_trip_reason
    from switchboard.outbound.problems import kind_of

    trips = twilio_trip_reason(update.error_code) is not None
    counts = kind_of(update.error_code) is not None and "Problem" in (applied.changes or {})
    if not (trips or counts):
        return
    record = applied.record or {}
    number = str(record.get("Line") or record.get("From") or "")
    number = number or str(update.identity.get("From") or "")
    from switchboard.lines.sending import line_ref_of
    from switchboard.outbound.service import Outbound

    if counts and number:
        # The line is looked up only for the owner's notice: counting needs its number alone.
        Outbound(settings).delivery_problem(
            number,
            update.error_code,
            error=str(update.fields.get("ErrorMessage") or ""),
            line=lambda: line_ref_of(number, settings),
        )
    elif trips and number:
        Outbound(settings).twilio_error(line_ref_of(number, settings), update.error_code)


def _record_twilio_opt_out(update: StatusUpdate, record: Entity | None, settings: Settings) -> None:
    number = update.to or (record or {}).get("To")
    if not number:
        logger.warning("status %s: error 21610 without a recipient number", update.sid)
        return
    created = optout_store_factory(settings).opt_out(
        str(number),
        How.TWILIO_21610,
        business_number=update.identity.get("From") or (record or {}).get("From"),
        message_sid=update.sid,
    )
    logger.info(
        "status %s: %s opted out (Twilio error 21610)%s",
        update.sid,
        mask(str(number)),
        "" if created else ", already recorded",
        extra={"MessageSid": update.sid},
    )
