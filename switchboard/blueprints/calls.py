"""Outbound calls: the queue trigger, its poison handler and the operator routes for calls.

- `calls_queue` (queue `%OUTBOUND_CALL_QUEUE%`): validates the message, claims its id, places the
  call with Twilio and records the outcome (SPEC "Outbound calls"). It raises only for transient
  failures (so the host redelivers the message) and when another worker holds the id's lease.
- `calls_poison` (queue `%OUTBOUND_CALL_QUEUE%-poison`): the host moves a message there after
  `maxDequeueCount` deliveries; its record becomes `dead-lettered` with the last error.
- `calls` (`POST /api/calls`, `GET /api/calls?since=&limit=&until=`) and `calls_get`
  (`GET /api/calls/{id}`): auth level FUNCTION.

The Functions host resolves `%NAME%` tokens anywhere inside a binding string, so
`%OUTBOUND_CALL_QUEUE%-poison` follows the setting in Azure as in the devkit host.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func

from switchboard import operator_api, operator_service, records
from switchboard.adapters.idempotency_store import IdempotencyStore, to_idempotency_record
from switchboard.adapters.record_store import RecordStore
from switchboard.blueprints.http import error_response, json_response
from switchboard.calls import (
    CallRequest,
    FailureAction,
    InvalidCallRequest,
    decide_failure,
    decode_body,
    id_of_invalid,
    parse_call_message,
    parse_call_request,
    twiml_for,
)
from switchboard.idempotency import State, Verdict
from switchboard.phone import mask
from switchboard.settings import Settings, SettingsError, get_settings
from switchboard.status import Kind, status_callback_url

logger = logging.getLogger(__name__)

bp = func.Blueprint()

#: Where status callbacks go when neither PUBLIC_BASE_URL nor WEBSITE_HOSTNAME (Azure) is set:
#: the default origin of `func start` and `python -m devkit host`.
LOCAL_BASE_URL = "http://localhost:7071"
DEFAULT_MAX_DEQUEUE_COUNT = 5
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


@dataclass(frozen=True)
class Outcome:
    """What processing a message did (for logs and tests)."""

    id: str
    result: str  # placed | rejected | failed | duplicate | conflict | already-placed
    sid: str | None = None


# --------------------------------------------------------------------------------------------
# Processing (plain functions: the triggers below only adapt the host's objects)
# --------------------------------------------------------------------------------------------


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
        from switchboard.adapters import twilio_client

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
) -> Outcome:
    """Handle one delivery of a queue message (SPEC "Outbound calls" bullet by bullet).

    Returns normally when the message is done with (placed, rejected, failed, duplicate,
    conflict); raises TransientCallFailure or CallInFlight when it must come back.
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
        from switchboard.adapters.twilio_client import classify_twilio_error

        failure = classify_twilio_error(exc)
        action = decide_failure(
            transient=failure.transient,
            dequeue_count=dequeue_count,
            max_dequeue_count=max_deliveries,
        )
        code: int | str | None = failure.code if failure.code is not None else failure.status
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
        ledger.release(key, attempts, code, failure.message, now=now())
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
# Triggers
# --------------------------------------------------------------------------------------------


def _ledger(settings: Settings) -> IdempotencyStore:
    return IdempotencyStore(RecordStore.calls(settings))


@bp.function_name("calls_queue")
@bp.queue_trigger(
    arg_name="msg", queue_name="%OUTBOUND_CALL_QUEUE%", connection="AzureWebJobsStorage"
)
def calls_queue(msg: func.QueueMessage) -> None:
    """Place the outbound call a queue message asks for, exactly once."""
    settings = get_settings()
    process_message(
        msg.get_body(),
        str(msg.id),
        int(getattr(msg, "dequeue_count", None) or 1),
        settings=settings,
        ledger=_ledger(settings),
        place=twilio_placer(settings),
        max_deliveries=max_dequeue_count(),
    )


@bp.function_name("calls_poison")
@bp.queue_trigger(
    arg_name="msg", queue_name="%OUTBOUND_CALL_QUEUE%-poison", connection="AzureWebJobsStorage"
)
def calls_poison(msg: func.QueueMessage) -> None:
    """Dead-letter the record of a call message that used up its deliveries."""
    settings = get_settings()
    process_poison(msg.get_body(), str(msg.id), ledger=_ledger(settings))


# --------------------------------------------------------------------------------------------
# Operator routes
# --------------------------------------------------------------------------------------------


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


def list_calls(req: func.HttpRequest, store: RecordStore, now: datetime) -> func.HttpResponse:
    """`GET /api/calls?since=&until=&limit=&cursor=`: newest first, paged like the messages."""
    try:
        query = operator_api.parse_history_query(req.params, now)
        page = operator_service.list_history(store, query, now, key="calls")
    except operator_api.ApiError as exc:
        return json_response(exc.body(), exc.status, exc.headers() or None)
    return json_response(page)


def get_call(record_id: str, store: RecordStore) -> func.HttpResponse:
    """`GET /api/calls/{id}`: the record by the app's id, or by Twilio's CallSid; 404 if none."""
    try:
        entity = store.get(record_id)
        if entity is None:
            alias = store.resolve(record_id)
            entity = store.get(alias) if alias else None
    except Exception:
        logger.exception("GET /api/calls/{id}: storage failed")
        return _unavailable("storage")
    if entity is None:
        return error_response(404, "not_found", "no call with this id", "id")
    return json_response(records.to_json(dict(entity)))


def _enqueuer(settings: Settings) -> Callable[[dict[str, Any]], str]:
    def enqueue(message: dict[str, Any]) -> str:
        from switchboard.adapters.queues import enqueue_json

        return enqueue_json(settings.outbound_call_queue, message, settings)

    return enqueue


@bp.function_name("calls")
@bp.route(route="calls", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def calls(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/calls` (enqueue a call) and `GET /api/calls` (recent calls)."""
    try:
        settings = get_settings()
    except SettingsError:
        return _unavailable("the app's configuration")
    try:
        store = RecordStore.calls(settings)
    except Exception:
        logger.exception("%s /api/calls: storage failed", req.method)
        return _unavailable("storage")
    if req.method.upper() == "POST":
        return create_call(
            req, settings, IdempotencyStore(store), _enqueuer(settings), records.utcnow()
        )
    return list_calls(req, store, records.utcnow())


@bp.function_name("calls_get")
@bp.route(route="calls/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def calls_get(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/calls/{id}`."""
    try:
        settings = get_settings()
    except SettingsError:
        return _unavailable("the app's configuration")
    try:
        store = RecordStore.calls(settings)
    except Exception:
        logger.exception("GET /api/calls/{id}: storage failed")
        return _unavailable("storage")
    return get_call(req.route_params.get("id", ""), store)
