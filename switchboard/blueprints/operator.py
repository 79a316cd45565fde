"""Operator API (auth level function): health, and the routes of SPEC "Operator API"."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func

from switchboard import operator_api, operator_service, records
from switchboard import settings as settings_module
from switchboard.adapters import tables
from switchboard.adapters.signature import public_url
from switchboard.blueprints.http import error_response, json_response
from switchboard.health import Check, health_report
from switchboard.operator_api import ApiError

logger = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Which settings are present (never values) and whether storage and Twilio answer."""
    presence = settings_module.presence()
    try:
        settings = settings_module.load_settings()
    except settings_module.SettingsError as exc:
        problems = [str(p) for p in exc.problems]
        storage = Check(False, "settings invalid")
        twilio = Check(False, "settings invalid")
    else:
        problems = []
        storage = Check(*tables.storage_reachable(settings))
        twilio = _twilio_check(settings)
    status, body = health_report(presence, problems, storage, twilio)
    return json_response(body, status)


def _twilio_check(settings: settings_module.Settings) -> Check:
    if not settings.twilio_rest_configured:
        return Check(False, "not configured", configured=False)
    from switchboard.adapters import twilio_client

    ok, detail = twilio_client.twilio_reachable(settings)
    return Check(ok, detail)


# --------------------------------------------------------------------------------------------
# Messages, numbers, usage, the OpenAPI description (SPEC "Operator API"; shared core:
# switchboard.operator_service, validation and JSON shapes: switchboard.operator_api)
# --------------------------------------------------------------------------------------------

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"

Handler = Callable[[func.HttpRequest, settings_module.Settings], func.HttpResponse]


def serve(req: func.HttpRequest, handler: Handler) -> func.HttpResponse:
    """Run `handler` with the settings; `ApiError` becomes the one JSON error shape.

    (A helper called by each route rather than a decorator: the Functions worker reads the
    route function's own signature to bind `req`.)
    """
    try:
        settings = settings_module.get_settings()
    except settings_module.SettingsError as exc:
        return _error(operator_api.unavailable("settings_invalid", str(exc)))
    try:
        return handler(req, settings)
    except ApiError as exc:
        return _error(exc)
    except Exception:
        # A bug, not the caller's fault: logged with its trace, answered without it.
        logger.exception("Operator route %s failed", getattr(handler, "__name__", "?"))
        return error_response(500, "internal_error", "unexpected error (logged)")


def _error(exc: ApiError) -> func.HttpResponse:
    return json_response(exc.body(), exc.status, exc.headers() or None)


def app_base_url(req: func.HttpRequest, settings: settings_module.Settings) -> str:
    """This app's public origin: `PUBLIC_BASE_URL`, else the request's (proxy headers honoured)."""
    if settings.public_base_url:
        return settings.public_base_url
    parts = urlsplit(public_url(req.url, req.headers, None))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


@bp.function_name("send_message")
@bp.route(route="messages", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def send_message(req: func.HttpRequest) -> func.HttpResponse:
    """Send an SMS/MMS now: `{"to", "body", "from"?, "mediaUrl"?}` → 201 `{"sid", "status"}`."""

    def handle(req: func.HttpRequest, settings: settings_module.Settings) -> func.HttpResponse:
        request = operator_api.parse_send_request(operator_api.parse_json_object(req.get_body()))
        result = operator_service.send_message(
            settings, request, app_base_url=app_base_url(req, settings), source="operator"
        )
        return json_response(result, 201)

    return serve(req, handle)


@bp.function_name("list_messages")
@bp.route(route="messages", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_messages(req: func.HttpRequest) -> func.HttpResponse:
    """Recent messages, newest first: `?since=&limit=&cursor=` → `{"items", "nextCursor"}`."""

    def handle(req: func.HttpRequest, settings: settings_module.Settings) -> func.HttpResponse:
        query = operator_api.parse_history_query(req.params, records.utcnow())
        return json_response(operator_service.list_messages(settings, query))

    return serve(req, handle)


@bp.function_name("get_message")
@bp.route(route="messages/{sid}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_message(req: func.HttpRequest) -> func.HttpResponse:
    """A message's MessageLog record; 404 when unknown."""

    def handle(req: func.HttpRequest, settings: settings_module.Settings) -> func.HttpResponse:
        sid = req.route_params.get("sid", "")
        return json_response(operator_service.get_message(settings, sid))

    return serve(req, handle)


@bp.function_name("list_numbers")
@bp.route(route="numbers", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_numbers(req: func.HttpRequest) -> func.HttpResponse:
    """The account's phone numbers, their webhooks, and whether those point at this app."""

    def handle(req: func.HttpRequest, settings: settings_module.Settings) -> func.HttpResponse:
        limit = operator_api.parse_numbers_query(req.params)
        base = app_base_url(req, settings)
        return json_response(operator_service.list_numbers(settings, limit, base))

    return serve(req, handle)


@bp.function_name("list_usage")
@bp.route(route="usage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_usage(req: func.HttpRequest) -> func.HttpResponse:
    """Twilio usage records: `?start=YYYY-MM-DD&end=YYYY-MM-DD&category=&limit=`."""

    def handle(req: func.HttpRequest, settings: settings_module.Settings) -> func.HttpResponse:
        query = operator_api.parse_usage_query(req.params)
        return json_response(operator_service.list_usage(settings, query))

    return serve(req, handle)


_openapi_lock = threading.Lock()
_openapi_text: str | None = None


def openapi_text() -> str:
    """`switchboard/openapi.json`, read once per process."""
    global _openapi_text
    with _openapi_lock:
        if _openapi_text is None:
            _openapi_text = OPENAPI_PATH.read_text(encoding="utf-8")
        return _openapi_text


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 description of the operator API."""
    return func.HttpResponse(
        openapi_text(), status_code=200, mimetype="application/json", charset="utf-8"
    )
