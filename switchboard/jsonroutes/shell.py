"""The shell every JSON route goes through (the operator's API today, the inbox's next).

A capability declares each handler with `json_route(auth=...)` and its blueprint calls the
declared route with the host's request (`return routes.send_message(req)`, or `await` for an
async handler). Serving a request is, in this order:

1. authenticate (`switchboard.jsonroutes.auth`): the principal, or 401/403;
2. a body over `MAX_JSON_BODY_BYTES` (or the route's own cap: a file a route imports): 413,
   before anything reads it;
3. the handler, with an `ApiRequest`: the request, the principal, the settings on first use,
   the JSON body on first use (invalid JSON: 400 `invalid_json` naming the body and where it
   breaks, before the settings are even looked at);
4. a principal remembered from an earlier check (a poll's: `auth.Principal.remembered`) that
   the handler did not check against storage (`ApiRequest.verify`) is checked now, before any
   answer but a 304 leaves (a session that ended: 401 instead of the answer);
5. every answer gets `SECURITY_HEADERS`.

Every failure becomes the one error shape `{"error": {"code", "message", "field"?}}`, mapped in
one place (`failure_response`): `ApiError` as raised; broken settings 503 `settings_invalid`
(naming the settings, never a value, to the operator; no detail to anyone else); a missing
setting 503 `not_configured`; Table or Queue Storage failing 503 `storage_unavailable` and a
transient Twilio failure 503 `twilio_unavailable`, both with `Retry-After`; anything else is a
bug: 500 `internal_error`, its trace logged and never answered. So no input gives a traceback.

Sync and async handlers share all of it: `JsonRoute` and `AsyncJsonRoute` differ only in
whether they await the handler. (The blueprint calls the route rather than being decorated
itself: the Functions worker reads the registered function's own signature, and a blueprint
imports only azure.functions when the app is indexed.)
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, overload

import azure.functions as func

from switchboard.http import (
    ApiError,
    DuplicateKey,
    api_error_response,
    loads_json,
    storage_unavailable,
    twilio_unavailable,
    unavailable,
)
from switchboard.jsonroutes.auth import Auth, InboxSession, Principal
from switchboard.logs import get_logger
from switchboard.settings import MissingSettingError, Settings, SettingsError, get_settings

logger = get_logger(__name__)

#: Largest JSON body accepted (bytes). The largest legitimate one is a line document (at most
#: 64 KiB stored as UTF-16, so ~96 KB compact in the worst UTF-8, more pretty-printed); the
#: others are a few KB (an SMS of 1,600 characters, TwiML of 4,000).
MAX_JSON_BODY_BYTES = 256 * 1024

#: Headers on every answer of a JSON route: never cached (answers carry people's numbers and
#: texts), never sniffed into HTML, never framed, never leaking the URL onwards.
SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

_NO_BODY = object()


# --------------------------------------------------------------------------------------------
# JSON bodies (pure)


def parse_json_body(raw: bytes | str | None) -> Any:
    """A request body's JSON value, or 400 `invalid_json` saying what is wrong with the body."""
    if raw is None or not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty: expected JSON")
    try:
        return loads_json(raw)
    except DuplicateKey as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})",
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the request body is not UTF-8 JSON") from None
    except (ValueError, RecursionError):
        # Bytes in another UTF (json detects it) that do not decode; nesting deeper than the
        # interpreter's stack.
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def parse_json_object(raw: bytes | str | None) -> dict[str, Any]:
    """The request body as a JSON object, or 400 `invalid_json`."""
    if raw is None or not raw.strip():
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    value = parse_json_body(raw)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


# --------------------------------------------------------------------------------------------
# The request a handler gets


class ApiRequest:
    """One request as a handler sees it: the host's request (`http`), who is calling
    (`principal`), the settings and the JSON body, each loaded on first use (a failure there is
    answered by the shell: 503 for the settings, 400 for the body)."""

    __slots__ = ("_check", "_json", "_settings", "http", "principal")

    def __init__(
        self,
        http: func.HttpRequest,
        principal: Principal,
        settings: Settings | None = None,
        check: Callable[[], Principal] | None = None,
    ) -> None:
        self.http = http
        self.principal = principal
        self._settings = settings
        self._json: Any = _NO_BODY
        self._check = check

    @property
    def unchecked(self) -> bool:
        """Whether the principal is a remembered one nobody has checked against storage yet."""
        return self.principal.remembered and self._check is not _refused

    def verify(self) -> Principal:
        """The principal checked against storage: a remembered one (a poll's) is checked now
        (`ApiError` 401 when its session ended), and replaced by what storage says."""
        if self.principal.remembered:
            if self._check is None:
                raise ApiError(401, "unauthenticated", "sign in to the inbox first")
            check, self._check = self._check, _refused
            self.principal = check()
        return self.principal

    @property
    def method(self) -> str:
        """The HTTP method, upper case."""
        return str(self.http.method).upper()

    @property
    def params(self) -> Mapping[str, str]:
        """The query parameters."""
        params: Mapping[str, str] = self.http.params
        return params

    @property
    def route_params(self) -> Mapping[str, str]:
        """The route's `{name}` values."""
        values: Mapping[str, str] = self.http.route_params
        return values

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers (case-insensitive)."""
        headers: Mapping[str, str] = self.http.headers
        return headers

    @property
    def settings(self) -> Settings:
        """The app's settings (`SettingsError` when they are broken: the shell answers 503)."""
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    def json(self) -> Any:
        """The body's JSON value (parsed once); 400 `invalid_json` when empty or not JSON."""
        if self._json is _NO_BODY:
            self._json = parse_json_body(self.http.get_body())
        return self._json

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 `invalid_json` otherwise."""
        if self._json is _NO_BODY:
            self._json = parse_json_object(self.http.get_body())
        if not isinstance(self._json, dict):
            raise ApiError(400, "invalid_json", "the request body must be a JSON object")
        return self._json


def _refused() -> Principal:
    """What a second check of a principal the first check refused answers."""
    raise ApiError(401, "unauthenticated", "sign in to the inbox first")


# --------------------------------------------------------------------------------------------
# Failures and answers


def _is_storage_failure(exc: BaseException) -> bool:
    """An Azure SDK failure (Table or Queue Storage). Checked without importing azure.core: an
    exception of a module that was never imported cannot exist."""
    module = sys.modules.get("azure.core.exceptions")
    azure_error = getattr(module, "AzureError", None) if module is not None else None
    return isinstance(azure_error, type) and isinstance(exc, azure_error)


def _is_twilio_failure(exc: BaseException) -> bool:
    module = sys.modules.get("twilio.base.exceptions")
    twilio_error = getattr(module, "TwilioException", None) if module is not None else None
    return isinstance(twilio_error, type) and isinstance(exc, twilio_error)


def failure_error(exc: Exception, principal: Principal | None) -> ApiError:
    """The answer to what a route raised (`principal`: who was calling, None before that was
    known). Only the operator learns which settings are broken."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SettingsError):
        operator = principal is not None and principal.is_operator
        if isinstance(exc, MissingSettingError):
            return unavailable("not_configured", str(exc) if operator else "a setting is missing")
        return unavailable(
            "settings_invalid", str(exc) if operator else "the app's settings are invalid"
        )
    if _is_storage_failure(exc):
        return storage_unavailable(exc)
    if _is_twilio_failure(exc):
        from switchboard.twilio.errors import classify_twilio_error

        failure = classify_twilio_error(exc)
        if failure.transient:
            return twilio_unavailable(failure.status == 429 or failure.code == 20429)
    return ApiError(500, "internal_error", "unexpected error (logged)")


def secured(response: func.HttpResponse) -> func.HttpResponse:
    """`response` with `SECURITY_HEADERS` (a header the handler set itself is kept)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def error_answer(error: ApiError) -> func.HttpResponse:
    """The one error shape for `error`, with the security headers."""
    return secured(api_error_response(error))


# --------------------------------------------------------------------------------------------
# Routes

SyncHandler = Callable[[ApiRequest], func.HttpResponse]
AsyncHandler = Callable[[ApiRequest], Awaitable[func.HttpResponse]]


class _Route:
    """What sync and async routes share: the declaration, admission and failure answers."""

    def __init__(
        self, handler: Callable[..., Any], auth: Auth, max_body: int = MAX_JSON_BODY_BYTES
    ) -> None:
        self.auth = auth
        self.max_body = max_body
        self.name = f"{handler.__module__}.{handler.__qualname__}"
        self.__doc__ = handler.__doc__

    def admit(self, req: func.HttpRequest) -> ApiRequest:
        """Authenticate and bound the body: the `ApiRequest` for the handler, or an error."""
        loaded: list[Settings] = []

        def settings() -> Settings:
            if not loaded:
                loaded.append(get_settings())
            return loaded[0]

        principal = self.auth.authenticate(req, settings)
        if len(req.get_body() or b"") > self.max_body:
            raise ApiError(413, "body_too_large", f"the request body is over {self.max_body} bytes")
        check = None
        if principal.remembered and isinstance(self.auth, InboxSession):
            session = self.auth

            def check() -> Principal:
                return session.verify(req, settings)

        return ApiRequest(req, principal, loaded[0] if loaded else None, check)

    def settle(self, request: ApiRequest, response: func.HttpResponse) -> func.HttpResponse:
        """`response`, unless it carries something (anything but 304) and rests on a
        remembered principal that storage no longer vouches for."""
        if response.status_code != 304 and request.unchecked:
            request.verify()
        return secured(response)

    def fail(self, exc: Exception, request: ApiRequest | None) -> func.HttpResponse:
        """The answer to what admission or the handler raised (bugs logged with their trace)."""
        if request is not None and request.unchecked:
            try:
                request.verify()
            except Exception as checked:
                exc = checked
        error = failure_error(exc, request.principal if request is not None else None)
        if error.status == 500:
            logger.error("JSON route %s failed", self.name, exc_info=exc)
        return error_answer(error)


class JsonRoute(_Route):
    """A synchronous handler with its authentication: call it with the host's request."""

    def __init__(self, handler: SyncHandler, auth: Auth, max_body: int = MAX_JSON_BODY_BYTES):
        super().__init__(handler, auth, max_body)
        self.handler = handler

    def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        """Serve `req` through the shell."""
        request = None
        try:
            request = self.admit(req)
            return self.settle(request, self.handler(request))
        except Exception as exc:
            return self.fail(exc, request)


class AsyncJsonRoute(_Route):
    """An async handler with its authentication: await it with the host's request."""

    def __init__(self, handler: AsyncHandler, auth: Auth, max_body: int = MAX_JSON_BODY_BYTES):
        super().__init__(handler, auth, max_body)
        self.handler = handler

    async def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        """Serve `req` through the shell."""
        request = None
        try:
            request = self.admit(req)
            return self.settle(request, await self.handler(request))
        except Exception as exc:
            return self.fail(exc, request)


class _Declaration:
    def __init__(self, auth: Auth, max_body: int) -> None:
        self.auth = auth
        self.max_body = max_body

    @overload
    def __call__(self, handler: AsyncHandler) -> AsyncJsonRoute: ...
    @overload
    def __call__(self, handler: SyncHandler) -> JsonRoute: ...
    def __call__(self, handler: AsyncHandler | SyncHandler) -> AsyncJsonRoute | JsonRoute:
        if inspect.iscoroutinefunction(handler):
            return AsyncJsonRoute(handler, self.auth, self.max_body)
        return JsonRoute(handler, self.auth, self.max_body)  # type: ignore[arg-type]


def json_route(*, auth: Auth, max_body_bytes: int = MAX_JSON_BODY_BYTES) -> _Declaration:
    """Declare a JSON route's handler and who may call it (`auth.FUNCTION_KEY` or
    `auth.InboxSession(...)`); the result serves the host's request through the shell. A route
    that takes a file (an import) may take a larger body (`max_body_bytes`)."""
    return _Declaration(auth, max_body_bytes)
