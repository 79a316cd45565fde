"""The contacts routes (function key): read the request, call `switchboard.contacts.service`,
answer. Each is a JSON route (`switchboard.jsonroutes.shell`): errors in the one shape
`{"error": {"code", "message", "field", "errors"?}}` (a document's fields as JSON pointers, an
import's as `entry 3 (line 45), TEL (line 47)`).

| route | answer |
| --- | --- |
| `GET /api/contacts?q=&blocked=&limit=&cursor=` | `{"items": [contact without notes], "nextCursor"}`, in the order of names |
| `POST /api/contacts` | 201, the contact, `ETag`, `Location` |
| `GET /api/contacts/{id}` | the contact (`{id}`: its id or one of its numbers), `ETag: "<version>"` |
| `PUT /api/contacts/{id}` | every field replaced; `If-Match` required (428), stale 412 |
| `PATCH /api/contacts/{id}` | the fields given (`{"blocked": true}`); `If-Match` checked when sent |
| `DELETE /api/contacts/{id}` | 200 `{id, deleted}` |
| `POST /api/contacts/import?format=&region=&dryRun=` | the file as the body (`text/vcard` or `text/csv`, at most `MAX_IMPORT_BYTES`): `{entries, created, updated, unchanged, dryRun}`; 400 `invalid_import` naming every problem, nothing written |
| `GET /api/contacts/export?format=vcard\\|csv` | every contact as a file (`contacts.vcf`, `contacts.csv`) |
"""

from __future__ import annotations

import azure.functions as func

from switchboard.contacts import rules, service
from switchboard.contacts.store import Stored
from switchboard.http import ApiError, etag, invalid, json_response, parse_limit, query_param
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route

#: The largest import file the route takes (a phone's export with photos is larger than a JSON
#: document; the command line reads any size).
MAX_IMPORT_BYTES = 8 * 1024 * 1024


def _flag(request: ApiRequest, name: str) -> bool:
    raw = query_param(request.params, name)
    if raw is None:
        return False
    if raw.strip().lower() not in ("true", "false", "1", "0"):
        raise invalid(name, "must be true or false")
    return raw.strip().lower() in ("true", "1")


def _key(request: ApiRequest) -> str:
    return str(request.route_params.get("id", ""))


def _contact(stored: Stored, status: int = 200) -> func.HttpResponse:
    headers = {"ETag": etag(stored.contact.version)}
    if status == 201:
        headers["Location"] = f"/api/contacts/{stored.contact.id}"
    return json_response(rules.contact_json(stored.contact), status, headers)


@json_route(auth=FUNCTION_KEY)
def collection(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/contacts` (a page) and `POST /api/contacts` (a new contact)."""
    if request.method == "POST":
        return _contact(service.create(request.settings, request.json_object()), 201)
    limit = parse_limit(request.params, default=service.DEFAULT_LIMIT, maximum=service.MAX_LIMIT)
    return json_response(
        service.list_contacts(
            request.settings,
            q=query_param(request.params, "q"),
            blocked=_flag(request, "blocked"),
            limit=limit,
            cursor=query_param(request.params, "cursor"),
        )
    )


@json_route(auth=FUNCTION_KEY)
def item(request: ApiRequest) -> func.HttpResponse:
    """`GET`, `PUT`, `PATCH` and `DELETE /api/contacts/{id}`."""
    settings, key = request.settings, _key(request)
    if_match = request.headers.get("if-match")
    if request.method == "PUT":
        return _contact(service.replace_contact(settings, key, request.json_object(), if_match))
    if request.method == "PATCH":
        return _contact(service.patch(settings, key, request.json_object(), if_match))
    if request.method == "DELETE":
        deleted = service.delete(settings, key, if_match)
        return json_response({"id": deleted.id, "deleted": True})
    return _contact(service.get(settings, key))


def _text_body(request: ApiRequest) -> str:
    raw = request.http.get_body() or b""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "invalid_import",
            f"the file is not UTF-8 text (byte {exc.start + 1}): save it as UTF-8",
            "file",
        ) from None


def _format(request: ApiRequest) -> str | None:
    given = query_param(request.params, "format")
    if given is not None:
        return given
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    return content_type if content_type in ("text/vcard", "text/x-vcard", "text/csv") else None


@json_route(auth=FUNCTION_KEY, max_body_bytes=MAX_IMPORT_BYTES)
def import_contacts(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/contacts/import`: a vCard or CSV file, all or nothing."""
    kind = _format(request)
    region = query_param(request.params, "region")
    dry_run = _flag(request, "dryRun")
    text = _text_body(request)
    result = service.import_file(request.settings, text, kind, region, dry_run=dry_run)
    return json_response(result.json())


_FILES: dict[str, tuple[str, str]] = {
    "vcard": ("text/vcard", "contacts.vcf"),
    "csv": ("text/csv", "contacts.csv"),
}


@json_route(auth=FUNCTION_KEY)
def export_contacts(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/contacts/export?format=vcard|csv`: every contact as one file."""
    kind = service.format_of("", query_param(request.params, "format") or "vcard")
    mimetype, name = _FILES[kind]
    return func.HttpResponse(
        service.export_file(request.settings, kind),
        status_code=200,
        mimetype=mimetype,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
