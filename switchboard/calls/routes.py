"""The operator routes for outbound calls (auth level function), as the blueprint calls them:

- `POST /api/calls` (`create_call`): validated like a queue message, the destination checked by
  the outbound policy (400 `destination_not_allowed` naming the rule), the id registered, the
  message enqueued on `%OUTBOUND_CALL_QUEUE%` (placed by `switchboard.calls.placing`); 202 `{id,
  status}`;
- `GET /api/calls?since=&until=&limit=&cursor=` (`list_calls`): recent calls, newest first;
- `GET /api/calls/{id}` (`get_call`): one call by the app's id or Twilio's CallSid.

Failures the caller cannot fix (settings, storage, the queue) answer 503 with the one error shape.
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
from switchboard.http import ApiError, api_error_response, error_response, json_response
from switchboard.logbook import listing
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.settings import Settings, SettingsError, get_settings

logger = get_logger(__name__)


def _bad_request(exc: InvalidCallRequest) -> func.HttpResponse:
    return error_response(400, "invalid_request", exc.reason, exc.field)


def _unavailable(what: str) -> func.HttpResponse:
    # Not caused by the caller (storage or settings): 503 with no detail, logged.
    return error_response(
        503, "unavailable", f"{what} is unavailable; try again later", headers={"Retry-After": "5"}
    )


def create_call(
    req: func.HttpRequest,
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
        request = parse_call_request(decode_body(req.get_body()))
        from_ = request.from_ or settings.twilio_from_number
        if not from_:
            raise InvalidCallRequest("from", "is required: TWILIO_FROM_NUMBER is not set")
    except InvalidCallRequest as exc:
        return _bad_request(exc)
    refused = destination_refused(settings, request.to)
    if refused is not None:
        return refused
    key = request.id or uuid.uuid4().hex
    message = {**request.to_message(), "id": key}
    try:
        existing = ledger.register(key, request, from_=from_, now=now)
    except Exception:
        logger.exception("POST /api/calls: storage failed while registering %s", key)
        return _unavailable("storage")
    if existing is not None:
        record = to_idempotency_record(existing)
        if record.state is None or (
            record.state is not State.REJECTED and record.payload_hash != request.payload_hash()
        ):
            return error_response(
                409, "conflict", "this id is already used by a different call request", "id"
            )
        if record.state not in {State.PENDING, State.REJECTED}:
            return json_response({"id": key, "status": existing.get("Status") or "queued"}, 200)
    try:
        enqueue(message)
    except Exception:
        logger.exception("POST /api/calls: could not enqueue %s", key)
        return _unavailable("the call queue")
    return json_response({"id": key, "status": "queued"}, 202)


def destination_refused(settings: Settings, to: str) -> func.HttpResponse | None:
    """400 naming the rule when the outbound policy refuses to call `to` (a country
    `OUTBOUND_ALLOWED_COUNTRIES` leaves out, a premium-rate or satellite number); None when it
    may be called."""
    from switchboard.outbound.purposes import Channel
    from switchboard.outbound.service import Outbound, Refused

    try:
        Outbound(settings).require(to, channel=Channel.CALL)
    except Refused as exc:
        return api_error_response(exc.api_error("to"))
    return None


def list_calls(req: func.HttpRequest, store: RecordStore, now: datetime) -> func.HttpResponse:
    """`GET /api/calls?since=&until=&limit=&cursor=`: newest first, paged like the messages."""
    try:
        query = listing.parse_history_query(req.params, now)
        page = listing.list_history(store, query, now, key="calls")
    except ApiError as exc:
        return api_error_response(exc)
    return json_response(page)


def get_call(record_id: str, store: RecordStore) -> func.HttpResponse:
    """`GET /api/calls/{id}`: the record by the app's id, or by Twilio's CallSid; 404 if none."""
    try:
        entity = store.find(record_id)
    except Exception:
        logger.exception("GET /api/calls/{id}: storage failed")
        return _unavailable("storage")
    if entity is None:
        return error_response(404, "not_found", "no call with this id", "id")
    return json_response(records.to_json(dict(entity)))


def _enqueuer(settings: Settings) -> Callable[[dict[str, Any]], str]:
    def enqueue(message: dict[str, Any]) -> str:
        from switchboard.storage.queues import enqueue_json

        return enqueue_json(settings.outbound_call_queue, message, settings)

    return enqueue


def _open(route: str) -> tuple[Settings, RecordStore] | func.HttpResponse:
    """The settings and the CallLog store, or the 503 that says which is unavailable."""
    try:
        settings = get_settings()
    except SettingsError:
        return _unavailable("the app's configuration")
    try:
        return settings, RecordStore.calls(settings)
    except Exception:
        logger.exception("%s: storage failed", route)
        return _unavailable("storage")


def handle_calls(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/calls` (enqueue a call) and `GET /api/calls` (recent calls)."""
    opened = _open(f"{req.method} /api/calls")
    if isinstance(opened, func.HttpResponse):
        return opened
    settings, store = opened
    if req.method.upper() == "POST":
        return create_call(
            req, settings, IdempotencyStore(store), _enqueuer(settings), records.utcnow()
        )
    return list_calls(req, store, records.utcnow())


def handle_get_call(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/calls/{id}`."""
    opened = _open("GET /api/calls/{id}")
    if isinstance(opened, func.HttpResponse):
        return opened
    return get_call(req.route_params.get("id", ""), opened[1])
