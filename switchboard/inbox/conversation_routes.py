"""The inbox's conversation routes (the session; CSRF on every write), as the blueprint calls
them; the work is `switchboard.inbox.conversations`' on `switchboard.conversations.service`:

| route | answer |
| --- | --- |
| `GET /api/inbox/conversations?line=&state=&q=&before=&limit=` | newest activity first, paged (`nextBefore`); an `ETag`, and 304 for a poll that sends it back and finds nothing new |
| `GET /api/inbox/conversations/{line}/{customer}?before=&limit=` | its events (texts, calls, voicemails with the app's audio path), the reply box's state, the people it may be assigned to; an `ETag`, 304 likewise |
| `PATCH /api/inbox/conversations/{line}/{customer}` | `{"state", "assignedTo", "read"}` (assigned to an inbox user who may see the line) |
| `POST /api/inbox/conversations/{line}/{customer}/messages` | `{"body", "key"?}`: sent from the line's number through the outbound policy, signed with the user's name (201; the same key again: 200, nothing sent); a refusal in words (400) |
| `GET /api/inbox/conversations/{line}/{customer}/calls/{sid}/audio` | the call's recording (MP3), whole (200) or the part `Range` asks for (206, `Content-Range`) |

Staff see only their lines: a conversation of another line is answered 404, as if it did not
exist. A poll of the list that finds nothing new costs one storage read, its view's change
marker, and a poll of a conversation one query (its state row and its line's marker): the
session is taken from this instance's memory of an earlier check of that session and that
validator (`switchboard.inbox.remembered`); anything else is checked against storage.
"""

from __future__ import annotations

from dataclasses import replace

import azure.functions as func

from switchboard.conversations import api
from switchboard.http import invalid, json_response
from switchboard.inbox import conversations
from switchboard.inbox.authenticator import COOKIES, POLLED_SESSION, SESSION
from switchboard.jsonroutes.shell import ApiRequest, json_route

_NO_STORE = {"Cache-Control": "no-store"}


def _not_modified(etag: str) -> func.HttpResponse:
    return func.HttpResponse(status_code=304, headers={"ETag": etag, **_NO_STORE})


@json_route(auth=POLLED_SESSION)
def conversation_list(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/conversations`. A poll whose validator is still current is answered
    304, on a remembered session or, once checked against storage, remembered for the next
    poll; anything else is checked against storage before it is read."""
    query = api.list_query(request.params)
    q = conversations.search_query(request.params)
    settings, asked_as = request.settings, request.principal
    validator = conversations.list_validator(settings, asked_as, query, q)
    if conversations.matches(request.headers.get("if-none-match"), validator.etag):
        if validator.marked and not asked_as.remembered:
            COOKIES.remember_poll(request.http, settings, asked_as, validator.etag)
        return _not_modified(validator.etag)
    principal = request.verify()
    if principal != replace(asked_as, remembered=False):
        validator = conversations.list_validator(settings, principal, query, q)
    found = conversations.list_conversations(settings, principal, query, q)
    return json_response(found, headers={"ETag": validator.etag, **_NO_STORE})


@json_route(auth=POLLED_SESSION)
def conversation_item(request: ApiRequest) -> func.HttpResponse:
    """`GET` and `PATCH /api/inbox/conversations/{line}/{customer}`. A poll whose validator is
    still current is answered 304 on a remembered session while its line's marker is as it was
    when the session was last checked (one query: the state row and the marker); else the
    session is checked, and remembered with the marker read before the check."""
    from switchboard.conversations import service

    line, customer = api.conversation_path(request.route_params)
    settings = request.settings
    if request.method == "PATCH":
        body = request.json_object()
        change = api.change_request(body)
        conversations.check_assignee(settings, request.principal, line, body)
        found = service.change_conversation(settings, request.principal, line, customer, change)
        return json_response(found)
    limit, before = api.events_query(request.params)
    asked_as = request.principal
    validator = conversations.conversation_validator(settings, asked_as, line, customer, before)
    if conversations.matches(request.headers.get("if-none-match"), validator.etag):
        if asked_as.remembered and COOKIES.witnessed(
            request.http, settings, validator.etag, validator.witness
        ):
            return _not_modified(validator.etag)
        principal = request.verify()
        if principal == replace(asked_as, remembered=False):
            # The marker read before this check witnesses it; a check made before the read
            # (the shell's, for a poll nothing remembered) only seeds the pair.
            witness = validator.witness if asked_as.remembered else None
            COOKIES.remember_poll(request.http, settings, principal, validator.etag, witness)
            return _not_modified(validator.etag)
    principal = request.verify()
    if principal != replace(asked_as, remembered=False):
        validator = conversations.conversation_validator(
            settings, principal, line, customer, before
        )
    shown = conversations.show_conversation(
        settings, principal, line, customer, limit=limit, before=before
    )
    return json_response(shown, headers={"ETag": validator.etag, **_NO_STORE})


@json_route(auth=SESSION)
def conversation_reply(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/conversations/{line}/{customer}/messages` (text only: `mediaUrl` is
    the operator's)."""
    from switchboard.conversations import service
    from switchboard.inbox.service import store

    line, customer = api.conversation_path(request.route_params)
    body = request.json_object()
    if "mediaUrl" in body:
        raise invalid("mediaUrl", "is not sent from the inbox", "unknown_field")
    reply = api.reply_request(body)
    settings, principal = request.settings, request.principal
    author = None
    if principal.user_id:
        stored = store(settings).get(principal.user_id)
        author = stored.user.name if stored is not None else None
    sent = service.send_reply(settings, principal, line, customer, reply, author=author)
    return json_response(sent, status_code=200 if sent["repeat"] else 201)


@json_route(auth=SESSION)
def conversation_audio(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/conversations/{line}/{customer}/calls/{sid}/audio`."""
    line, customer = api.conversation_path(request.route_params)
    found = conversations.audio(
        request.settings,
        request.principal,
        line,
        customer,
        str(request.route_params.get("sid", "")),
        request.headers.get("range"),
    )
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": "inline",
    }
    if found.content_range:
        headers["Content-Range"] = found.content_range
    return func.HttpResponse(
        found.content, status_code=found.status, mimetype=found.content_type, headers=headers
    )
