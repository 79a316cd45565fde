"""The operator routes for outbound calls (function key), as the blueprint calls them:

- `POST /api/calls` (`create_call`): validated like a queue message, the destination checked by
  the outbound policy (400 `destination_not_allowed` naming the rule), the id registered, the
  message enqueued on `%OUTBOUND_CALL_QUEUE%` (placed by `switchboard.calls.placing`); 202 `{id,
  status}`;
- `GET /api/calls?since=&until=&limit=&cursor=` (`list_calls`): recent calls, newest first;
- `GET /api/calls/{id}` (`get_call`): one call by the app's id or Twilio's CallSid.

Each call listed or read carries `contactName`: the name of the other party's contact as it is
now (`switchboard.contacts.lookup`: at most one point read per distinct number of the page,
none while this instance remembers them), null when the number is nobody's.

Each is a JSON route (`switchboard.jsonroutes.shell`), which answers failures the caller cannot
fix (settings, storage, the queue: storage too) with 503 in the one error shape. The body is decoded as the
queue decodes a message (so a body that is not JSON is `invalid_request`, like any other field).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import azure.functions as func

from switchboard import records
from switchboard.calls.idempotency import State
from switchboard.calls.request import InvalidCallRequest, decode_body, parse_call_request
from switchboard.calls.store import IdempotencyStore, to_idempotency_record
from switchboard.contacts import lookup as contacts
from switchboard.http import ApiError, json_response
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route
from switchboard.logbook import listing
from switchboard.logbook.store import RecordStore
from switchboard.settings import Settings


def create_call(
    body: bytes,
    settings: Settings,
    ledger: IdempotencyStore,
    enqueue: Callable[[dict[str, Any]], str],
    now: datetime,
) -> func.HttpResponse:
    """`POST /api/calls`: validate like the queue, register the id, enqueue; 202 {id, status}.

    The same id again with the same request answers its current status (and enqueues again
    while it is still pending: a message lost between the two writes is never lost for good);
    with a different request, 409.
    """
    try:
        request = parse_call_request(decode_body(body))
        from_ = request.from_ or settings.twilio_from_number
        if not from_:
            raise InvalidCallRequest("from", "is required: TWILIO_FROM_NUMBER is not set")
    except InvalidCallRequest as exc:
        raise ApiError(400, "invalid_request", exc.reason, exc.field) from None
    require_destination(settings, request.to)
    key = request.id or uuid.uuid4().hex
    message = {**request.to_message(), "id": key}
    existing = ledger.register(key, request, from_=from_, now=now)
    if existing is not None:
        record = to_idempotency_record(existing)
        if record.state is None or (
            record.state is not State.REJECTED and record.payload_hash != request.payload_hash()
        ):
            raise ApiError(
                409, "conflict", "this id is already used by a different call request", "id"
            )
        if record.state not in {State.PENDING, State.REJECTED}:
            return json_response({"id": key, "status": existing.get("Status") or "queued"}, 200)
    enqueue(message)
    return json_response({"id": key, "status": "queued"}, 202)


def require_destination(settings: Settings, to: str) -> None:
    """400 `destination_not_allowed` naming the rule when the outbound policy refuses to call
    `to` (a country `OUTBOUND_ALLOWED_COUNTRIES` leaves out, a premium-rate or satellite
    number)."""
    from switchboard.outbound.purposes import Channel
    from switchboard.outbound.service import Outbound, Refused

    try:
        Outbound(settings).require(to, channel=Channel.CALL)
    except Refused as exc:
        raise exc.api_error("to") from None


def other_party(call: dict[str, Any]) -> str:
    """The number a call was with: its `from` when it came in, its `to` when the app placed it."""
    outbound = str(call.get("direction") or "").startswith("outbound")
    return str(call.get("to" if outbound else "from") or "")


def with_contact_names(settings: Settings, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls (JSON records), each with `contactName` (None: the number is nobody's)."""
    found = contacts.contacts_for(settings, (other_party(call) for call in calls))
    for call in calls:
        contact = found.get(other_party(call).strip())
        call["contactName"] = contact.label if contact is not None else None
    return calls


def list_calls(
    params: Any, store: RecordStore, now: datetime, settings: Settings
) -> func.HttpResponse:
    """`GET /api/calls?since=&until=&limit=&cursor=`: newest first, paged like the messages,
    each call with its contact's name."""
    query = listing.parse_history_query(params, now)
    page = listing.list_history(store, query, now, key="calls")
    with_contact_names(settings, page["calls"])
    return json_response(page)


def _enqueuer(settings: Settings) -> Callable[[dict[str, Any]], str]:
    def enqueue(message: dict[str, Any]) -> str:
        from switchboard.storage.queues import enqueue_json

        return enqueue_json(settings.outbound_call_queue, message, settings)

    return enqueue


@json_route(auth=FUNCTION_KEY)
def handle_calls(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/calls` (enqueue a call) and `GET /api/calls` (recent calls)."""
    settings = request.settings
    store = RecordStore.calls(settings)
    if request.method == "POST":
        return create_call(
            request.http.get_body(),
            settings,
            IdempotencyStore(store),
            _enqueuer(settings),
            records.utcnow(),
        )
    return list_calls(request.params, store, records.utcnow(), settings)


@json_route(auth=FUNCTION_KEY)
def handle_get_call(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/calls/{id}`: the record by the app's id, or by Twilio's CallSid; 404 if none."""
    entity = RecordStore.calls(request.settings).find(request.route_params.get("id", ""))
    if entity is None:
        raise ApiError(404, "not_found", "no call with this id", "id")
    return json_response(with_contact_names(request.settings, [records.to_json(dict(entity))])[0])
