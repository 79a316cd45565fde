"""HTTP triggers for `python -m devkit host`: routing, function keys, request/response conversion.

Requests reach functions as `func.HttpRequest` with the URL exactly as received (scheme, Host
header, raw path and query): the app validates Twilio signatures over it, so nothing such as
`X-Forwarded-*` is applied here. Query parameters with an empty value are dropped from `params`,
as the Functions host drops them. Responses follow the Python worker's conversion of
`func.HttpResponse` (mimetype/charset become Content-Type unless the function set one).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import hdrs, web
from multidict import CIMultiDict

from devkit.host_functions import HTTP_TRIGGER, FunctionSpec
from devkit.host_invoke import Invoker

logger = logging.getLogger("devkit.host")
HTTP_REASON = "This function was programmatically called via the host APIs."
#: The Functions host's request size limit (Kestrel's MaxRequestBodySize there). The host
#: buffers a whole body before it invokes a Python function (the worker gets it over gRPC as
#: bytes), so a function never answers before its body has arrived, in Azure or here.
MAX_BODY_BYTES = 100 * 1024 * 1024
_NO_BODY_STATUSES = {204, 304}


@dataclass(frozen=True)
class FunctionKeys:
    """Keys from DEVHOST_FUNCTION_KEY / DEVHOST_MASTER_KEY; unset: not enforced, as Core Tools."""

    function_key: str | None = None
    master_key: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FunctionKeys:
        """Read the keys from the environment (empty values count as unset)."""
        return cls(
            function_key=environ.get("DEVHOST_FUNCTION_KEY") or None,
            master_key=environ.get("DEVHOST_MASTER_KEY") or None,
        )

    @property
    def enforced(self) -> bool:
        """Whether function and admin routes require a key."""
        return bool(self.function_key or self.master_key)

    def accepted(self, auth_level: str) -> list[str]:
        """Keys valid for an auth level (the master key opens function-level routes too)."""
        master = self.master_key or self.function_key
        if auth_level == "admin":
            return [master] if master else []
        return [k for k in (self.function_key, self.master_key) if k]

    def authorized(self, auth_level: str, request: web.Request) -> bool:
        """The host's rule: `x-functions-key` header, else the `code` query parameter."""
        if auth_level == "anonymous" or not self.enforced:
            return True
        supplied = request.headers.get("x-functions-key") or request.query.get("code") or ""
        return any(
            hmac.compare_digest(supplied.encode(), key.encode())
            for key in self.accepted(auth_level)
        )


def request_url(request: web.Request) -> str:
    """The URL as the client sent it: scheme of the connection, Host header, raw target."""
    raw_target = request.raw_path  # path and query exactly as on the request line
    if raw_target.startswith(("http://", "https://")):  # absolute-form request target
        return raw_target
    host = request.headers.get(hdrs.HOST)
    if not host:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host = f"{sockname[0]}:{sockname[1]}" if sockname else "127.0.0.1"
    return f"{request.scheme}://{host}{raw_target}"


def _joined(pairs: Any, *, lower: bool = False) -> dict[str, str]:
    # Repeated headers and query parameters arrive as one comma-joined value, as the host's
    # request model (StringValues.ToString()) hands them to the worker.
    joined: dict[str, str] = {}
    for raw_key, value in pairs:
        key = raw_key.lower() if lower else raw_key
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def query_params(request: web.Request) -> dict[str, str]:
    """The query as the worker gets it: repeated names joined, empty values dropped.

    The Functions host hands the worker only parameters whose (joined) value is non-empty, so
    `GET /api/messages?limit=` reaches the function without `limit` and gets its default. The
    URL itself keeps the query exactly as sent (signatures are computed over it).
    """
    return {name: value for name, value in _joined(request.query.items()).items() if value}


def build_http_request(
    request: web.Request, body: bytes, route_params: Mapping[str, str]
) -> func.HttpRequest:
    """The `func.HttpRequest` a function receives for this aiohttp request."""
    return func.HttpRequest(
        method=request.method,
        url=request_url(request),
        headers=_joined(request.headers.items(), lower=True),
        params=query_params(request),
        route_params=dict(route_params),
        body=body,
    )


def to_web_response(value: Any) -> web.Response:
    """Convert what an HTTP function returned, like the worker's HttpResponseConverter."""
    if value is None:
        return web.Response(status=204)
    if isinstance(value, str):
        value = func.HttpResponse(value)
    elif isinstance(value, bytes | bytearray):
        value = func.HttpResponse(bytes(value), mimetype="application/octet-stream")
    if not isinstance(value, func.HttpResponse):
        raise TypeError(
            f"an HTTP function must return func.HttpResponse or str, not {type(value).__name__}"
        )
    headers: CIMultiDict[str] = CIMultiDict()
    for name, header_value in value.headers.items():
        headers.add(name, str(header_value))
    if hdrs.CONTENT_TYPE not in headers:
        mimetype = value.mimetype or "text/plain"
        headers[hdrs.CONTENT_TYPE] = (
            f"{mimetype}; charset={value.charset}" if mimetype.startswith("text/") else mimetype
        )
    status = int(value.status_code)
    body = b"" if status in _NO_BODY_STATUSES else value.get_body()
    return web.Response(status=status, body=body, headers=headers)


class HttpDispatcher:
    """Serves every httpTrigger function under the route prefix."""

    def __init__(self, functions: list[FunctionSpec], invoker: Invoker, keys: FunctionKeys) -> None:
        """Routes are tried most specific first (ASP.NET inbound precedence), then by name."""
        http_functions = [f for f in functions if f.trigger_type == HTTP_TRIGGER]
        self.functions = sorted(
            http_functions,
            key=lambda f: (f.route.precedence if f.route else (), f.name),
        )
        self.invoker = invoker
        self.keys = keys

    def build_app(self) -> web.Application:
        """An aiohttp application sending every path to `handle`."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        # (?s): a decoded path may hold any character, newlines included; the routes decide.
        app.router.add_route("*", "/{tail:(?s:.*)}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route, authorize, invoke, convert; 404/405/401/500 like the Functions host."""
        path = request.path
        candidates: list[tuple[FunctionSpec, dict[str, str]]] = []
        for spec in self.functions:
            assert spec.route is not None
            values = spec.route.match(path)
            if values is not None:
                candidates.append((spec, values))
        if not candidates:
            if path == "/" and request.method in {"GET", "HEAD"}:
                return web.Response(text="The devkit Functions host is running.\n")
            return web.Response(status=404)
        chosen = next(
            ((s, v) for s, v in candidates if s.methods is None or request.method in s.methods),
            None,
        )
        if chosen is None:
            allowed = sorted({m for s, _ in candidates for m in (s.methods or ())})
            return web.Response(status=405, headers={hdrs.ALLOW: ", ".join(allowed)})
        spec, route_values = chosen
        if not self.keys.authorized(spec.auth_level, request):
            return web.Response(status=401)
        if (request.content_length or 0) > MAX_BODY_BYTES:
            # Refused from the header alone, as Kestrel does: nothing of it is read.
            return web.Response(status=413)
        body = await request.read()
        http_request = build_http_request(request, body, route_values)
        result = await self.invoker.invoke(
            spec,
            lambda: http_request,
            reason=HTTP_REASON,
            trace_parent=request.headers.get("traceparent"),
        )
        if not result.succeeded:
            return web.Response(status=500)  # details are on the console, never in the body
        try:
            return to_web_response(result.http_response)
        except (TypeError, ValueError) as error:
            logger.error(f"Functions.{spec.name}: invalid HTTP response: {error}")
            return web.Response(status=500)
