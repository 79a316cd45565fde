"""The lines routes (function key): read the request, call `switchboard.lines.service`, answer
JSON. Each is a JSON route (`switchboard.jsonroutes.shell`), which answers errors in the one
shape, `{"error": {"code", "message", "field"}}` (a document's field as a JSON pointer).

| route | answer |
| --- | --- |
| `GET /api/lines` | `{"items": [{number, name, version, updatedAt, state, reason}]}` |
| `GET /api/lines/schema` | the line document's JSON Schema (`application/schema+json`) |
| `GET /api/lines/{number}` | the document, `ETag: "<version>"` |
| `PUT /api/lines/{number}[?force=true]` | 201 created / 200 replaced, the document and its ETag; `If-Match` required on an existing line (428), stale → 412; 400 with the JSON pointer of every bad field; 413 larger than Table Storage stores; a number that is not the account's → 400 unless `?force=true` |
| `DELETE /api/lines/{number}` | 200 `{number, version, deleted}`; `If-Match` checked when given |
| `GET /api/lines/{number}/history?limit=&cursor=` | versions newest first, `nextCursor` |
| `POST /api/lines/{number}/override` | `{"state", "until"?, "reason"?}` or `{"clear": true}` → the status |
| `GET /api/lines/{number}/status` | state now, why, the next change |
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from switchboard.http import ApiError, json_response, parse_limit, query_param
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route
from switchboard.lines import api, document, service


def _number(request: ApiRequest) -> str:
    return str(request.route_params.get("number", ""))


def _body(request: ApiRequest) -> Any:
    # Empty is "not an object" (the document's own checks name what a non-object lacks).
    if not request.http.get_body():
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return request.json()


def _origin(request: ApiRequest) -> str | None:
    """The origin the request arrived on (only ever compared: a redirect there is refused)."""
    parts = urlsplit(request.http.url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _force(request: ApiRequest) -> bool:
    raw = query_param(request.params, "force")
    if raw is None:
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid_field", "force: must be true or false", "force")
    return raw.lower() in ("true", "1")


@json_route(auth=FUNCTION_KEY)
def list_lines(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/lines`."""
    return json_response(service.list_lines(request.settings))


@json_route(auth=FUNCTION_KEY)
def schema(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/lines/schema`."""
    return func.HttpResponse(
        json.dumps(document.schema(), ensure_ascii=False, indent=2),
        status_code=200,
        mimetype="application/schema+json",
        charset="utf-8",
    )


@json_route(auth=FUNCTION_KEY)
def item(request: ApiRequest) -> func.HttpResponse:
    """`GET`, `PUT` and `DELETE /api/lines/{number}`."""
    number = _number(request)
    if request.method == "PUT":
        given = _body(request)
        written = service.put(
            request.settings,
            number,
            given,
            if_match=request.headers.get("if-match"),
            force=_force(request),
            request_origin=_origin(request),
        )
        body: dict[str, Any] = dict(written.document)
        headers = {"ETag": api.etag(written.version)}
        if written.warnings:
            headers["Warning"] = '299 - "' + written.warnings[0]["message"] + '"'
        return json_response(body, 201 if written.created else 200, headers)
    if request.method == "DELETE":
        version = service.delete(request.settings, number, if_match=request.headers.get("if-match"))
        return json_response({"number": number.strip(), "version": version, "deleted": True}, 200)
    stored = service.get(request.settings, number)
    return json_response(stored.document, 200, {"ETag": api.etag(stored.version)})


@json_route(auth=FUNCTION_KEY)
def history(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/lines/{number}/history`."""
    limit = parse_limit(
        request.params, default=api.DEFAULT_HISTORY_LIMIT, maximum=api.MAX_HISTORY_LIMIT
    )
    cursor = query_param(request.params, "cursor")
    return json_response(service.history(request.settings, _number(request), limit, cursor))


@json_route(auth=FUNCTION_KEY)
def override(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/lines/{number}/override`."""
    body = _body(request)
    settings = request.settings
    line = service.override(settings, _number(request), body)
    assert line.number is not None
    return json_response(
        service.status(settings, line.number), 200, {"ETag": api.etag(line.version or 0)}
    )


@json_route(auth=FUNCTION_KEY)
def status(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/lines/{number}/status`."""
    return json_response(service.status(request.settings, _number(request)))
