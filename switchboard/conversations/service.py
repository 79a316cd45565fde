"""What the operator API, the command line and the owner's inbox do with conversations, and the
entry points other capabilities call when something happens in one.

The reads and writes take a `Principal` (`switchboard.jsonroutes.auth`): the operator and the
owner see every line, a staff user only theirs (`Principal.lines`); a conversation on another
line is answered as if it did not exist (404), never as forbidden, so nothing leaks:

    list_conversations(settings, principal, ListQuery(line=None, state="open", before=None,
                                                      limit=20)) -> dict
    show_conversation(settings, principal, line, customer, limit=50, before=None) -> dict
    send_reply(settings, principal, line, customer, ReplyRequest(body, media, key),
               author="Ana") -> dict
    change_conversation(settings, principal, line, customer, Change(state="done")) -> dict
    move_markers(settings, lines)   # what ends or narrows a session: polls check it again

Failures leave as `ApiError` (the shell and the command line answer them): 400 naming the
field or the rule, 404, 503 when Twilio is unavailable; storage errors propagate (503).

Entry points of the webhooks (the `on_*` never raise: a conversation's bookkeeping must not
fail a caller or a texter; failures are logged):

    load(settings, line, customer) -> Loaded | None     # storage errors raise
    record_event(settings, line, customer, event, relayed_to=(), loaded=None)  # likewise
    on_text(settings, line, customer, event, ...) -> Recorded | None
    on_call_ended(record, settings)       # the call status callback, after its merge
    on_callback_decided(record, settings) # the call queue decided a caller's call back
    on_call_recording(record, settings)   # a recording's or transcript's callback
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.conversations import calls as call_events
from switchboard.conversations import rules
from switchboard.conversations.api import DEFAULT_EVENTS, ListQuery, ReplyRequest
from switchboard.conversations.rules import Change, Conversation, Event
from switchboard.conversations.store import ConversationStore, Loaded, Recorded
from switchboard.http import ApiError, not_found, twilio_unavailable
from switchboard.jsonroutes.auth import Principal
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts import rules as optout
from switchboard.outbound.messagelog import call_entry, read_conversation
from switchboard.phone import mask
from switchboard.settings import Settings, callback_origin

logger = get_logger(__name__)

#: How the stores are obtained (tests and the benchmark swap them).
store_factory: Callable[[Settings], ConversationStore] = ConversationStore.from_settings
message_store_factory: Callable[[Settings], RecordStore] = RecordStore.messages


def contact_names(settings: Settings, numbers: Sequence[str]) -> dict[str, str]:
    """The names the contacts give `numbers` (a contact's name, else its company; only the
    numbers that have one), from this instance's memory of the contacts, else one point read
    per number, in parallel (`switchboard.contacts.lookup`). Best effort: when the contacts
    cannot be read the numbers are shown masked, and nothing else stops."""
    from switchboard.contacts.lookup import contacts_for

    try:
        found = contacts_for(settings, numbers)
    except Exception as exc:  # the lookup keeps its own fallbacks; this is the last one
        logger.warning("contact names not read (%s): numbers shown", type(exc).__name__)
        return {}
    return {n: c.label for n, c in found.items() if c is not None and c.label}


#: Where customers' names come from (tests and the benchmark swap it).
names_lookup: Callable[[Settings, Sequence[str]], dict[str, str]] = contact_names


def name_lookup(settings: Settings, number: str) -> str | None:
    """The contact's name of one number (None: nobody known, or not readable now)."""
    return names_lookup(settings, [number]).get(number)


def allowed_lines(principal: Principal) -> frozenset[str] | None:
    """The lines `principal` may see (None: every line)."""
    return None if principal.sees_every_line else principal.lines


def _require_visible(principal: Principal, line: str) -> None:
    if not principal.may_see_line(line):
        raise not_found("conversation", line)


# --------------------------------------------------------------------------------------------
# JSON


def summary_json(conversation: Conversation, name: str | None = None) -> dict[str, Any]:
    """A conversation as a list shows it."""
    found: dict[str, Any] = {
        "line": conversation.line,
        "customer": conversation.customer,
        "tag": conversation.tag,
        "state": conversation.state,
        "unread": conversation.unread,
        "lastActivityAt": records.iso(conversation.last_at) if conversation.last_at else None,
        "preview": conversation.preview,
        "lastDirection": conversation.last_direction or None,
        "lastKind": conversation.last_kind or None,
        "assignedTo": conversation.assigned_to,
    }
    if name:
        found["name"] = name
    return found


_EVENT_FIELDS = {
    "Direction": "direction",
    "From": "from",
    "To": "to",
    "Body": "body",
    "Purpose": "purpose",
    "Origin": "origin",
    "Author": "author",
    "Event": "event",
    "TakenBy": "takenBy",
    "Duration": "duration",
    "RecordingUrl": "recordingUrl",
    "RecordingDuration": "recordingDuration",
    "Transcript": "transcript",
    "QueueTime": "queueTime",
    "Callback": "callback",
    "BlockedContact": "blockedContact",
    "Reminder": "reminder",
    "Response": "response",
}


def event_json(row: dict[str, Any], status: str | None) -> dict[str, Any]:
    """One event of a conversation (a text or a call) as JSON."""
    at = row.get("At")
    found: dict[str, Any] = {
        "id": row.get("Id"),
        "at": records.iso(at) if isinstance(at, datetime) else None,
        "kind": row.get("Kind") or rules.KIND_TEXT,
        "media": int(row.get("NumMedia") or 0),
    }
    for prop, name in _EVENT_FIELDS.items():
        value = row.get(prop)
        if value not in (None, ""):
            found[name] = value
    if status:
        found["status"] = status
    return found


# --------------------------------------------------------------------------------------------
# Reads


def list_conversations(
    settings: Settings, principal: Principal, query: ListQuery
) -> dict[str, Any]:
    """A page of the conversations `principal` may see, newest activity first."""
    store = store_factory(settings)
    allowed = allowed_lines(principal)
    if query.line is not None:
        lines = rules.visible_lines((), allowed, query.line)
    else:
        lines = rules.visible_lines(store.known_lines(), allowed, None)
    page = store.page(lines, rules.states_of(query.state), query.before, query.limit)
    names = names_lookup(settings, [c.customer for c in page.items])
    return {
        "conversations": [summary_json(c, names.get(c.customer)) for c in page.items],
        "nextBefore": page.next_cursor.encode() if page.next_cursor is not None else None,
    }


def show_conversation(
    settings: Settings,
    principal: Principal,
    line: str,
    customer: str,
    *,
    limit: int = DEFAULT_EVENTS,
    before: str | None = None,
) -> dict[str, Any]:
    """A conversation's state and a page of its events, newest first (404: none)."""
    _require_visible(principal, line)
    conversation = store_factory(settings).get(line, customer)
    if conversation is None:
        raise not_found("conversation", f"{line}/{customer}")
    log = message_store_factory(settings)
    page = read_conversation(log.table, line, customer, limit, before)
    events = [event_json(row, _status(log, row)) for row in page.items]
    return {
        "conversation": summary_json(conversation, name_lookup(settings, customer)),
        "events": events,
        "nextBefore": page.next_cursor,
    }


def _status(log: RecordStore, row: dict[str, Any]) -> str | None:
    """An event's status: a call's from its row, a text we sent from its record (one point
    read: callbacks move the record, not the row); a text received is ``received``."""
    if row.get("Kind") == rules.KIND_CALL:
        return str(row.get("Status") or "") or None
    if row.get("Direction") != rules.OUTBOUND:
        return "received"
    record_id = str(row.get("Id") or "")
    if not str(row.get("RowKey", "")).endswith("-" + record_id):
        return None  # an answer in a webhook's TwiML: Twilio reports no status for it
    found = log.get(record_id)
    return str(found.get("Status") or "") or None if found is not None else None


# --------------------------------------------------------------------------------------------
# Writes


def send_reply(
    settings: Settings,
    principal: Principal,
    line: str,
    customer: str,
    request: ReplyRequest,
    *,
    author: str | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Text `customer` from `line` through the outbound path (`Purpose.STAFF_REPLY`, sent by
    the operator: the destination and the opt-out are checked, 400 naming the rule; never
    counted against the line's automatic texts), at most once per key, and record it in the
    conversation (read, answered). `record_id`: the message's key as derived by the caller
    (the relay's), else ``api-<key>`` or a new one."""
    from switchboard.lines.lookup import line_for
    from switchboard.lines.sending import line_ref
    from switchboard.optouts.store import OptOutStore
    from switchboard.outbound.purposes import Origin, Purpose
    from switchboard.outbound.service import Message, Outbound, Refused

    _require_visible(principal, line)
    store = store_factory(settings)
    policy = Outbound(settings)
    if store.get(line, customer) is None and not policy.destinations.is_ours(line):
        raise not_found("line", line)
    key = record_id or f"api-{request.key or uuid.uuid4().hex}"
    message = Message(
        Purpose.STAFF_REPLY,
        line_ref(line_for(line, settings), settings, line),
        customer,
        origin=Origin.OPERATOR,
        key=key,
        body=request.body,
        media=request.media,
    )
    try:
        sent = policy.send_once(
            message,
            callback_origin=callback_origin(settings),
            lookup=OptOutStore.from_settings(settings),
            store=message_store_factory(settings),
            author=author,
            source="conversation",
        )
    except Refused as exc:
        raise exc.api_error("customer") from None
    except optout.OptedOut:
        raise opted_out(customer) from None
    except optout.OptOutCheckFailed as exc:
        raise exc.__cause__ or exc from None
    except ApiError:
        raise
    except Exception as exc:
        raise _twilio_failure(exc) from exc
    recorded = store.record(
        line,
        customer,
        Event(
            key,
            records.utcnow(),
            rules.KIND_TEXT,
            rules.OUTBOUND,
            request.body or "(media)",
            by_staff=True,
        ),
        now=records.utcnow(),
    )
    return {
        "id": sent.record_id,
        "sid": sent.sid,
        "status": sent.status,
        "repeat": sent.repeat,
        "conversation": summary_json(recorded.conversation, name_lookup(settings, customer)),
    }


def opted_out(customer: str) -> ApiError:
    """400: the customer texted STOP (the rule, and what lifts it)."""
    return ApiError(
        400,
        "opted_out",
        "customer: has opted out (texted STOP): the line may not text them until they text START",
        "customer",
        extra={"customer": mask(customer)},
    )


def _twilio_failure(exc: Exception) -> ApiError:
    from switchboard.twilio.errors import classify_twilio_error

    failure = classify_twilio_error(exc)
    if failure.transient or failure.status is None:
        return twilio_unavailable(failure.status == 429 or failure.code == 20429)
    code = str(failure.code) if failure.code is not None else "twilio_error"
    return ApiError(400, code, f"Twilio refused the text: {failure.message}", "customer")


def change_conversation(
    settings: Settings, principal: Principal, line: str, customer: str, change: Change
) -> dict[str, Any]:
    """Change a conversation's state, assignment or read mark (404: none)."""
    _require_visible(principal, line)
    changed = store_factory(settings).change(line, customer, change, now=records.utcnow())
    if changed is None:
        raise not_found("conversation", f"{line}/{customer}")
    return summary_json(changed, name_lookup(settings, customer))


def move_markers(settings: Settings, lines: Iterable[str] | None) -> int:
    """Replace the account's change marker and `lines`' (None: every line's), so every list
    of them misses its validator at the next poll: what ends or narrows an inbox session
    calls it after storing the change, so a poll answered from an instance's memory of the
    session is checked against storage again. Returns the markers replaced."""
    return store_factory(settings).touch_markers(lines, now=records.utcnow())


# --------------------------------------------------------------------------------------------
# What the webhooks call


def load(settings: Settings, line: str, customer: str) -> Loaded | None:
    """A conversation's state before an event (None when the pair cannot key one). Storage
    errors raise (the webhook stops its storage work there)."""
    if not rules.keyable(line, customer):
        return None
    return store_factory(settings).load(line, customer)


def record_event(
    settings: Settings,
    line: str,
    customer: str,
    event: Event,
    *,
    relayed_to: Iterable[str] = (),
    loaded: Loaded | None = None,
) -> Recorded | None:
    """Record an event of (line, customer) in its conversation (None: the pair cannot key
    one). Storage errors and `Contended` raise."""
    if not rules.keyable(line, customer):
        return None
    return store_factory(settings).record(
        line, customer, event, now=records.utcnow(), relayed_to=relayed_to, loaded=loaded
    )


def on_text(
    settings: Settings,
    line: str,
    customer: str,
    event: Event,
    *,
    relayed_to: Iterable[str] = (),
    loaded: Loaded | None = None,
) -> Recorded | None:
    """`record_event`, never raising: None when it could not be recorded (logged)."""
    try:
        return record_event(settings, line, customer, event, relayed_to=relayed_to, loaded=loaded)
    except Exception as exc:
        logger.error(
            "conversation of %s on %s: event %s not recorded (%s)",
            mask(customer),
            mask(line),
            event.id,
            type(exc).__name__,
        )
        return None


def on_call_ended(record: dict[str, Any] | None, settings: Settings) -> None:
    """The call status callback's hook: an inbound call that ended, or one the app placed to a
    customer, becomes its conversation's event (its row in MessageLog, its state moved). Never
    raises."""
    found = call_events.call_event(record)
    if found is None or found.outcome is None:
        return
    _write_call_row(found, settings)
    on_text(settings, found.line, found.customer, found.ended_event())


def on_callback_decided(record: dict[str, Any] | None, settings: Settings) -> None:
    """The call queue decided a caller's call back (answered, by whom; or it never reached
    them): the call's row says so, and its conversation's state moves (answered: the
    business's event; never reached: the customer's, unread). Before the call itself ended
    nothing is done: its end decides with the outcome on the record. Never raises."""
    found = call_events.call_event(record)
    if found is None or found.outcome is None or not found.resolved:
        return
    _write_call_row(found, settings)
    on_text(settings, found.line, found.customer, found.resolution(records.utcnow()))


def on_call_recording(record: dict[str, Any] | None, settings: Settings) -> None:
    """A recording's or transcript's callback: the call's row completed (its state moved when
    the call ended). Never raises."""
    found = call_events.call_event(record)
    if found is not None:
        _write_call_row(found, settings)


def _write_call_row(found: call_events.CallEvent, settings: Settings) -> None:
    from azure.data.tables import UpdateMode

    row = call_entry(
        line=found.line,
        party=found.customer,
        call_sid=found.call_sid,
        at=found.at,
        fields=found.fields,
        direction=found.direction,
    )
    if row is None:
        return
    try:
        message_store_factory(settings).table.upsert_entity(row, mode=UpdateMode.MERGE)
    except Exception as exc:
        logger.error(
            "call %s: its conversation row not written (%s)", found.call_sid, type(exc).__name__
        )


def names_of(settings: Settings, numbers: Sequence[str]) -> dict[str, str]:
    """The names the contacts know for `numbers` (only those known)."""
    return names_lookup(settings, numbers)
