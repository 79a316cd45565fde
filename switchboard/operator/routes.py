"""The operator routes (function key) as the blueprint calls them: health, messages, numbers,
usage and the OpenAPI description.

Each is a JSON route (`switchboard.jsonroutes.shell`): the shell authenticates, loads the
settings on first use and answers every failure in the one JSON error shape. Validation and JSON
shapes are `switchboard.operator.api`, the work `switchboard.operator.service` (shared with
`python -m switchboard`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func

from switchboard import records
from switchboard import settings as settings_module
from switchboard.http import json_response
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route
from switchboard.logbook import listing
from switchboard.logs import get_logger
from switchboard.operator import api as operator_api
from switchboard.operator import service as operator_service
from switchboard.operator.health import Check, health_report
from switchboard.storage import tables

logger = get_logger(__name__)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"


@json_route(auth=FUNCTION_KEY)
def health(request: ApiRequest) -> func.HttpResponse:
    """Which settings are present (never values) and whether storage and Twilio answer
    (broken settings are part of the report, so it loads them itself)."""
    status, body = health_check()
    return json_response(body, status)


def health_check(environ: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, report) of `GET /api/health` for these settings (default: the process's
    environment); `python -m switchboard health` prints the same report."""
    states = settings_module.setting_states(environ)
    try:
        settings = settings_module.load_settings(environ)
    except settings_module.SettingsError as exc:
        problems = [str(p) for p in exc.problems]
        storage = Check(False, "settings invalid")
        twilio = Check(False, "settings invalid")
    else:
        problems = []
        storage = Check(*tables.storage_reachable(settings))
        twilio = _twilio_check(settings)
        outbound = _outbound_report(settings, storage.ok)
        problems += outbound.pop("problems")
    unusable = _unusable_lines(settings) if storage.ok else None
    messaging = _messaging_report(settings) if storage.ok else None
    status, body = health_report(states, problems, storage, twilio, unusable, messaging)
    if storage.ok:
        body["queues"] = _queue_report(settings)
        body["outbound"] = outbound
    return status, body


def _outbound_report(settings: settings_module.Settings, storage_ok: bool) -> dict[str, Any]:
    """The outbound path: each line's automatic texts today (paused or not, with the counts),
    the allowed countries, and forwarding settings it refuses (under `problems`)."""
    from switchboard.outbound import health as outbound_health

    try:
        section, problems = outbound_health.report(settings, with_lines=storage_ok)
    except Exception as exc:  # storage failing between the check and the read
        logger.warning("health: the outbound report failed (%s)", type(exc).__name__)
        return {"problems": [], "error": type(exc).__name__}
    return {**section, "problems": problems}


def _messaging_report(settings: settings_module.Settings) -> dict[str, Any] | None:
    """The lines whose texts Twilio reports not registered or filtered, one sentence per kind
    (None: the rows could not be read)."""
    from switchboard.outbound import health as outbound_health
    from switchboard.outbound.service import Outbound

    try:
        return outbound_health.messaging_report(Outbound(settings))
    except Exception as exc:  # storage failing between the check and the read
        logger.warning("health: the delivery problems could not be read (%s)", type(exc).__name__)
        return None


def _unusable_lines(settings: settings_module.Settings) -> list[dict[str, object]] | None:
    """The stored lines that cannot be evaluated (None: the Lines table could not be read)."""
    from switchboard.lines import service as lines_service

    try:
        return lines_service.unusable_lines(settings)
    except Exception as exc:  # storage answered a moment ago; say so rather than fail
        logger.warning("health: the lines could not be read (%s)", type(exc).__name__)
        return None


#: The app's other queue triggers, by their fixed names (the voicemail e-mails, the call
#: queue's dispatch, the inbox's sign-in codes). Named here, not imported, so the operator does
#: not import another capability; a unit test checks the list against the queue triggers
#: `function_app.py` registers.
FIXED_QUEUES = ("voicemail-email", "call-queue-dispatch", "inbox-sign-in-codes")


def _queue_report(settings: settings_module.Settings) -> dict[str, int | None]:
    """Messages waiting in the call queue, its poison queue, and parked for good.

    `<queue>-poison-poison` holds messages the host could not even decode (not base64): they
    never reach app code, so this count is how an operator learns of them.
    """
    from switchboard.storage import queues

    name = settings.outbound_call_queue
    names = [name, f"{name}-poison", f"{name}-poison-poison"]
    names += [q for fixed in FIXED_QUEUES for q in (fixed, f"{fixed}-poison")]
    depths = queues.queue_depths(names, settings)
    report: dict[str, int | None] = {
        "outbound": depths[name],
        "poison": depths[f"{name}-poison"],
        "parked": depths[f"{name}-poison-poison"],
    }
    for fixed in FIXED_QUEUES:
        report[fixed] = depths[fixed]
        report[f"{fixed}-poison"] = depths[f"{fixed}-poison"]
    return report


def _twilio_check(settings: settings_module.Settings) -> Check:
    if not settings.twilio_rest_configured:
        return Check(False, "not configured", configured=False)
    from switchboard.twilio import client as twilio_client

    ok, detail = twilio_client.twilio_reachable(settings)
    return Check(ok, detail)


def app_base_url(req: func.HttpRequest, settings: settings_module.Settings) -> str | None:
    """This app's public origin, for the URLs it gives Twilio: trusted configuration only (a
    forged header must never choose where Twilio sends a callback: `settings.callback_origin`,
    that is `PUBLIC_BASE_URL`, else in Azure
    `https://$WEBSITE_HOSTNAME`), never `Host` or `X-Forwarded-*`). Outside Azure without
    `PUBLIC_BASE_URL` (a laptop), the origin the request reached is used only when it is a
    loopback address (`func start`, `python -m devkit host`); else None: no callback."""
    trusted = settings_module.callback_origin(settings)
    if trusted:
        return trusted
    try:
        parts = urlsplit(req.url)
        loopback = settings_module.is_loopback_host(parts.hostname)
    except ValueError:
        loopback = False
    if loopback:
        return str(urlunsplit((parts.scheme, parts.netloc, "", "", "")))
    _warn_no_origin_once()
    return None


@functools.cache
def _warn_no_origin_once() -> None:
    logger.warning(
        "PUBLIC_BASE_URL is not set and the request did not reach a loopback address: messages "
        "go without a StatusCallback (set PUBLIC_BASE_URL to the app's https origin)"
    )


@json_route(auth=FUNCTION_KEY)
def send_message(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/messages`: `{"to", "body", "from"?, "mediaUrl"?}` → 201 `{"sid", "status"}`."""
    send = operator_api.parse_send_request(request.json_object())
    settings = request.settings
    result = operator_service.send_message(
        settings, send, app_base_url=app_base_url(request.http, settings), source="operator"
    )
    return json_response(result, 201)


@json_route(auth=FUNCTION_KEY)
def list_messages(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/messages?since=&limit=&cursor=` → `{"items", "nextCursor"}`, newest first."""
    query = listing.parse_history_query(request.params, records.utcnow())
    return json_response(operator_service.list_messages(request.settings, query))


@json_route(auth=FUNCTION_KEY)
def get_message(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/messages/{sid}`: the MessageLog record; 404 when unknown."""
    sid = request.route_params.get("sid", "")
    return json_response(operator_service.get_message(request.settings, sid))


@json_route(auth=FUNCTION_KEY)
def list_numbers(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/numbers`: the account's numbers, their webhooks, whether they point here."""
    limit = operator_api.parse_numbers_query(request.params)
    settings = request.settings
    base = app_base_url(request.http, settings)
    return json_response(operator_service.list_numbers(settings, limit, base))


@json_route(auth=FUNCTION_KEY)
def list_usage(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/usage?start=YYYY-MM-DD&end=YYYY-MM-DD&category=&limit=`: Twilio usage records."""
    query = operator_api.parse_usage_query(request.params)
    return json_response(operator_service.list_usage(request.settings, query))


@json_route(auth=FUNCTION_KEY)
def openapi(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/openapi.json`: the OpenAPI 3 description of the operator API."""
    return func.HttpResponse(
        openapi_text(), status_code=200, mimetype="application/json", charset="utf-8"
    )


_openapi_lock = threading.Lock()
_openapi_text: str | None = None


def openapi_text() -> str:
    """`switchboard/openapi.json`, read once per process."""
    global _openapi_text
    with _openapi_lock:
        if _openapi_text is None:
            _openapi_text = OPENAPI_PATH.read_text(encoding="utf-8")
        return _openapi_text
