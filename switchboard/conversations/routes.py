"""The operator's conversation routes (function key), as the blueprint calls them. Each is a
JSON route (`switchboard.jsonroutes.shell`: authentication, the one error shape, storage
failures answered 503); the work is `switchboard.conversations.service`'s, which the inbox
calls too for a signed-in user:

- `GET /api/conversations?line=&state=&before=&limit=`: newest activity first, paged
  (`nextBefore`);
- `GET /api/conversations/{line}/{customer}?before=&limit=`: its state and a page of its
  events (texts and calls, newest first, with their statuses);
- `PATCH /api/conversations/{line}/{customer}`: `{"state", "assignedTo", "read"}`;
- `POST /api/conversations/{line}/{customer}/messages`: `{"body", "mediaUrl"?, "key"?}` sent
  from the line's number (201; the same `key` again: 200 with what was sent, nothing sent).
"""

from __future__ import annotations

import azure.functions as func

from switchboard.conversations import api, service
from switchboard.http import json_response
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route


@json_route(auth=FUNCTION_KEY)
def list_conversations(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/conversations`."""
    query = api.list_query(request.params)
    return json_response(service.list_conversations(request.settings, request.principal, query))


@json_route(auth=FUNCTION_KEY)
def conversation(request: ApiRequest) -> func.HttpResponse:
    """`GET` / `PATCH /api/conversations/{line}/{customer}`."""
    line, customer = api.conversation_path(request.route_params)
    if request.method == "PATCH":
        change = api.change_request(request.json_object())
        found = service.change_conversation(
            request.settings, request.principal, line, customer, change
        )
        return json_response(found)
    limit, before = api.events_query(request.params)
    return json_response(
        service.show_conversation(
            request.settings, request.principal, line, customer, limit=limit, before=before
        )
    )


@json_route(auth=FUNCTION_KEY)
def send_message(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/conversations/{line}/{customer}/messages`."""
    line, customer = api.conversation_path(request.route_params)
    reply = api.reply_request(request.json_object())
    sent = service.send_reply(request.settings, request.principal, line, customer, reply)
    return json_response(sent, status_code=200 if sent["repeat"] else 201)
