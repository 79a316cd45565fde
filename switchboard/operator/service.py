"""What the operator API and the command line do: send now, history, numbers, usage.

The HTTP routes (`switchboard.operator.routes`) and `python -m switchboard` both call these
functions, so a message sent from a shell is checked, sent and recorded exactly as one sent
through `POST /api/messages`. Requests arrive already validated (`switchboard.operator.api`);
every failure leaves as an `ApiError`: 4xx for what the caller can fix, 503 for Twilio's
transient failures and unavailable storage (with `Retry-After` when retrying helps).

Twilio and storage clients are imported on first use (cold start: twilio.rest is never
imported at module import).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError

from switchboard import records
from switchboard.http import ApiError, not_found, storage_unavailable, unavailable
from switchboard.logbook.listing import STORAGE_ERRORS, HistoryQuery, list_history
from switchboard.logbook.messages import record_outbound_message
from switchboard.logbook.statuses import Kind, status_callback_url
from switchboard.logbook.store import ConcurrencyError, RecordStore
from switchboard.logs import get_logger
from switchboard.operator import api as operator_api
from switchboard.operator.api import SendRequest, UsageQuery
from switchboard.optouts import rules as optout
from switchboard.optouts.store import OptOutStore
from switchboard.phone import mask
from switchboard.settings import MissingSettingError, Settings
from switchboard.twilio.errors import classify_twilio_error

logger = get_logger(__name__)
T = TypeVar("T")

#: How the stores are obtained (tests swap them).
message_store_factory: Callable[[Settings], RecordStore] = RecordStore.messages
call_store_factory: Callable[[Settings], RecordStore] = RecordStore.calls
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings


def not_configured(exc: MissingSettingError) -> ApiError:
    """503 naming the missing setting (never a value): the app's configuration, not the caller."""
    return unavailable("not_configured", str(exc))


def _twilio_client(settings: Settings) -> Any:
    from switchboard.twilio import client as twilio_client

    try:
        return twilio_client.get_client(settings)
    except MissingSettingError as exc:
        raise not_configured(exc) from None


def _twilio_failure(exc: BaseException, what: str) -> ApiError:
    failure = classify_twilio_error(exc)
    logger.warning(
        "Twilio %s failed: %s (HTTP %s, code %s)",
        what,
        "transient" if failure.transient else "permanent",
        failure.status,
        failure.code,
    )
    return operator_api.twilio_error(failure)


def twilio_call(settings: Settings, what: str, request: Callable[[Any], T]) -> T:
    """`request(client)` on the process's Twilio client; every failure leaves as an ApiError
    (503 when transient or unreachable, 4xx/502 otherwise), never a traceback."""
    client = _twilio_client(settings)
    try:
        return request(client)
    except Exception as exc:  # classified: 503 when transient, 4xx/502 otherwise
        raise _twilio_failure(exc, what) from None


# --------------------------------------------------------------------------------------------
# Send now
# --------------------------------------------------------------------------------------------


def send_message(
    settings: Settings,
    request: SendRequest,
    *,
    app_base_url: str | None,
    source: str = "operator",
) -> dict[str, str]:
    """Send an SMS/MMS now: opt-out check, Twilio, MessageLog record. Returns {"sid","status"}.

    `app_base_url` is the public origin for the StatusCallback (trusted configuration only:
    `settings.callback_origin`, or a loopback origin locally; None: no callback, the record
    keeps Twilio's first status).
    """
    messaging_service = settings.twilio_messaging_service_sid
    sender = request.from_
    if sender is None and not messaging_service:
        try:
            sender = settings.require("twilio_from_number", "sending SMS")
        except MissingSettingError as exc:
            raise not_configured(exc) from None
    client = _twilio_client(settings)

    try:
        optout.ensure_can_text(request.to, optout_store_factory(settings))
    except optout.OptedOut:
        logger.info("Refused to text %s: opted out", mask(request.to))
        raise operator_api.opted_out_error() from None
    except optout.OptOutCheckFailed as exc:
        # Fail closed: an unreadable opt-out list never lets a text through.
        raise storage_unavailable(exc.__cause__ or exc) from None
    except STORAGE_ERRORS as exc:  # building the store (creating the table) failed
        raise storage_unavailable(exc) from None

    callback = status_callback_url(app_base_url, Kind.MESSAGE) if app_base_url else None
    if callback is None:
        logger.warning("PUBLIC_BASE_URL is not set: the message is sent without StatusCallback")

    from switchboard.twilio import client as twilio_client

    try:
        created = twilio_client.send_sms(
            client,
            to=request.to,
            body=request.body,
            from_=sender,
            messaging_service_sid=messaging_service,
            status_callback=callback,
            media_urls=list(request.media_urls) or None,
        )
    except Exception as exc:  # every Twilio failure is classified; none may escape as a 500
        error = _twilio_failure(exc, "send")
        if error.status == 400:
            _record_refused(settings, request, sender, error, source)
        raise error from None

    logger.info("Sent message %s to %s (%s)", created.sid, mask(request.to), source)
    try:
        record_outbound_message(
            message_store_factory(settings),
            created.sid,
            request.to,
            sender,
            request.body,
            request.media_urls,
            source,
            status=created.status,
        )
    except STORAGE_ERRORS as exc:
        # The SMS is on its way: answering an error would make the caller send it twice.
        logger.error(
            "Message %s was sent but not recorded in MessageLog: %s",
            created.sid,
            type(exc).__name__,
        )
    return {"sid": created.sid, "status": created.status}


def _record_refused(
    settings: Settings,
    request: SendRequest,
    sender: str | None,
    error: ApiError,
    source: str,
) -> None:
    """Keep a failed record of a send Twilio refused, and its opt-out when the code is 21610."""
    code = int(error.code) if error.code.isdigit() else None
    try:
        if code == operator_api.OPTED_OUT_CODE:
            optout_store_factory(settings).opt_out(request.to, optout.How.TWILIO_21610)
        record_outbound_message(
            message_store_factory(settings),
            None,
            request.to,
            sender,
            request.body,
            request.media_urls,
            source,
            status="failed",
            record_id="refused-" + uuid.uuid4().hex,
            error_code=code,
            error_message=error.message,
        )
    except (AzureError, ConcurrencyError, ValueError) as exc:
        logger.error("A refused message could not be recorded: %s", type(exc).__name__)


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


def _get_record(
    store_factory: Callable[[Settings], RecordStore], settings: Settings, key: str
) -> Any:
    try:
        return store_factory(settings).find(key)
    except STORAGE_ERRORS as exc:
        raise storage_unavailable(exc) from None


def get_message(settings: Settings, sid: str) -> dict[str, Any]:
    """A MessageLog record as JSON (by MessageSid, or the app's id of a refused send); 404."""
    entity = _get_record(lambda s: message_store_factory(s), settings, sid)
    if entity is None:
        raise not_found("message", sid)
    return records.to_json(dict(entity))


def get_call(settings: Settings, call_id: str) -> dict[str, Any]:
    """A CallLog record as JSON (by the app's id or the CallSid); 404."""
    entity = _get_record(lambda s: call_store_factory(s), settings, call_id)
    if entity is None:
        raise not_found("call", call_id)
    return records.to_json(dict(entity))


def list_messages(settings: Settings, query: HistoryQuery) -> dict[str, Any]:
    """Recent MessageLog records, newest first, paged."""
    try:
        store = message_store_factory(settings)
    except STORAGE_ERRORS as exc:
        raise storage_unavailable(exc) from None
    return list_history(store, query)


# --------------------------------------------------------------------------------------------
# Numbers and usage (Twilio)
# --------------------------------------------------------------------------------------------


def list_numbers(settings: Settings, limit: int, app_base_url: str | None) -> dict[str, Any]:
    """The account's IncomingPhoneNumbers, with whether their webhooks point at this app."""
    from switchboard.twilio import client as twilio_client

    client = _twilio_client(settings)
    try:
        numbers = twilio_client.list_incoming_numbers(client, limit)
    except Exception as exc:  # classified: 503 when transient, 4xx/502 otherwise
        raise _twilio_failure(exc, "numbers list") from None
    return {
        "numbers": [operator_api.number_json(n, app_base_url) for n in numbers],
        "appBaseUrl": app_base_url,
    }


def list_usage(settings: Settings, query: UsageQuery) -> dict[str, Any]:
    """Twilio Usage Records for the period and category."""
    from switchboard.twilio import client as twilio_client

    client = _twilio_client(settings)
    try:
        usage = twilio_client.list_usage_records(
            client, query.start, query.end, query.category, query.limit
        )
    except Exception as exc:  # classified: 503 when transient, 4xx/502 otherwise
        raise _twilio_failure(exc, "usage list") from None
    return {
        "usage": [operator_api.usage_json(r) for r in usage],
        "start": query.start.isoformat() if query.start else None,
        "end": query.end.isoformat() if query.end else None,
        "category": query.category,
    }
