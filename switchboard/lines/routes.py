"""The lines routes (auth level function): read the request, call `switchboard.lines.service`,
answer JSON (errors in the one shape, `{"error": {"code", "message", "field"}}`).

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
from switchboard.lines import api, document, service
from switchboard.settings import Settings


def _number(req: func.HttpRequest) -> str:
    return str(req.route_params.get("number", ""))


#: The largest request body read: a storable line takes at most 64 KiB as UTF-16, which no
#: UTF-8 body much larger than this can be (short of padding); larger is 413 unread.
MAX_BODY_BYTES = 1024 * 1024


def _body(req: func.HttpRequest) -> Any:
    raw = req.get_body()
    if not raw:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    if len(raw) > MAX_BODY_BYTES:
        raise service.too_large()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def _origin(req: func.HttpRequest) -> str | None:
    """The origin the request arrived on (only ever compared: a redirect there is refused)."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _force(req: func.HttpRequest) -> bool:
    raw = query_param(req.params, "force")
    if raw is None:
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid_field", "force: must be true or false", "force")
    return raw.lower() in ("true", "1")


def list_lines(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`GET /api/lines`."""
    return json_response(service.list_lines(settings))


def schema(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`GET /api/lines/schema`."""
    return func.HttpResponse(
        json.dumps(document.schema(), ensure_ascii=False, indent=2),
        status_code=200,
        mimetype="application/schema+json",
        charset="utf-8",
    )


def item(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`GET`, `PUT` and `DELETE /api/lines/{number}`."""
    number = _number(req)
    if req.method == "PUT":
        written = service.put(
            settings,
            number,
            _body(req),
            if_match=req.headers.get("if-match"),
            force=_force(req),
            request_origin=_origin(req),
        )
        body: dict[str, Any] = dict(written.document)
        headers = {"ETag": api.etag(written.version)}
        if written.warnings:
            headers["Warning"] = '299 - "' + written.warnings[0]["message"] + '"'
        return json_response(body, 201 if written.created else 200, headers)
    if req.method == "DELETE":
        version = service.delete(settings, number, if_match=req.headers.get("if-match"))
        return json_response({"number": number.strip(), "version": version, "deleted": True}, 200)
    stored = service.get(settings, number)
    return json_response(stored.document, 200, {"ETag": api.etag(stored.version)})


def history(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`GET /api/lines/{number}/history`."""
    limit = parse_limit(
        req.params, default=api.DEFAULT_HISTORY_LIMIT, maximum=api.MAX_HISTORY_LIMIT
    )
    cursor = query_param(req.params, "cursor")
    return json_response(service.history(settings, _number(req), limit, cursor))


def override(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/lines/{number}/override`."""
    line = service.override(settings, _number(req), _body(req))
    assert line.number is not None
    return json_response(
        service.status(settings, line.number), 200, {"ETag": api.etag(line.version or 0)}
    )


def status(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    """`GET /api/lines/{number}/status`."""
    return json_response(service.status(settings, _number(req)))
