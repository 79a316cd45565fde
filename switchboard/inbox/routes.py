r"""The inbox's JSON routes, and the operator's routes for inbox users.

Under `/api/inbox/` (anonymous at the host; the JSON route shell checks the session, and the
CSRF token of every write):

| route | who | answer |
| --- | --- | --- |
| `GET /api/inbox/signin` | anyone | which ways to sign in are set up |
| `POST /api/inbox/signin/code` | anyone | `{"address"}`: 202, the same answer for every address |
| `POST /api/inbox/signin/verify` | anyone | `{"address", "code"}`: 200 and the session cookie; 401 |
| `POST /api/inbox/signin/platform` | Entra ID user | a session for the platform's signed-in user |
| `GET /api/inbox/session` | signed in | the user, the CSRF token |
| `POST /api/inbox/signout` | signed in | ends this session |
| `GET /api/inbox/users`, `POST /api/inbox/users/{id}/signout` | owner | users; end a user's sessions |
| `GET /api/inbox/lines`, `.../lines/schema`, `GET\|PUT .../lines/{number}`, `.../history`, `.../status`, `POST .../override` | owner; staff for their lines | the lines routes' answers |
| `GET /api/inbox/status` | owner | what is set up, in words |
| `GET\|POST /api/inbox/schedules`, `GET\|DELETE .../schedules/{id}` | owner | scheduled texts |
| `GET /api/inbox/lines/{number}/preview?at=&from=` | owner; staff for their lines | what a call would hear |
| `GET /api/inbox/contacts`, `GET .../contacts/{id}` | signed in | contacts (`contact_routes`) |
| `POST /api/inbox/contacts`, `PUT\|PATCH .../contacts/{id}` | owner | add, edit, block a contact |

Under `/api/inbox-users` (function key): the operator names users (`GET`, `POST`), reads,
changes and removes one (`GET`, `PATCH`, `DELETE .../{id}`), and ends its sessions
(`POST .../{id}/signout`).

The lines and schedules routes call the same handlers as the operator's routes, once the
principal may see the line: one implementation of each, two ways in.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from switchboard.http import ApiError, json_response
from switchboard.inbox import service
from switchboard.inbox.authenticator import (
    SESSION,
    platform_principal_name,
    platform_sign_in_enabled,
    secure_cookies,
    session_of,
)
from switchboard.inbox.sessions import clear_cookie, csrf_token, set_cookie
from switchboard.jsonroutes.auth import FUNCTION_KEY, INBOX_SIGN_IN, Principal, Role
from switchboard.jsonroutes.shell import ApiRequest, json_route


def _owner_only(principal: Principal) -> None:
    if not principal.sees_every_line:
        raise ApiError(403, "forbidden", "only the owner may do this")


def _line_allowed(request: ApiRequest) -> None:
    number = str(request.route_params.get("number", "")).strip()
    if not request.principal.may_see_line(number):
        # The same answer as a line that does not exist: staff learn nothing of other lines.
        raise ApiError(404, "not_found", "no line with this number among yours")


def _session_answer(request: ApiRequest, opened: service.Opened, status: int) -> func.HttpResponse:
    settings = request.settings
    key = service.session_key(settings)
    body = {
        "user": _me(opened.user.id, opened.user.name, opened.user.role, opened.user.lines),
        "csrf": csrf_token(key, opened.session_id),
    }
    cookie = set_cookie(
        opened.cookie,
        settings.inbox_session_hours * 3600,
        secure=secure_cookies(request.http, settings),
    )
    return json_response(body, status, {"Set-Cookie": cookie})


def _me(user_id: str, name: str, role: Role, lines: tuple[str, ...]) -> dict[str, Any]:
    return {"id": user_id, "name": name, "role": role.value, "lines": list(lines)}


# --- signing in (no session yet) -----------------------------------------------------------


@json_route(auth=INBOX_SIGN_IN)
def signin_options(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/signin`: which ways to sign in this app offers."""
    settings = request.settings
    return json_response(
        {
            "configured": bool(settings.inbox_session_key),
            "email": bool(settings.smtp_host and settings.smtp_from),
            "sms": settings.twilio_rest_configured
            and bool(settings.twilio_from_number or settings.twilio_messaging_service_sid),
            "platform": platform_sign_in_enabled(settings),
        }
    )


@json_route(auth=INBOX_SIGN_IN)
def request_code(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/signin/code`: `{"address"}` -> 202 (whoever the address is: the
    request is queued, and the queue's function sends the code to a user's address only)."""
    service.ask_for_code(request.settings, request.json_object().get("address"))
    return json_response(
        {
            "sent": True,
            "message": "If this address belongs to an inbox user, a code is on its way. "
            "It works once, for 10 minutes.",
        },
        202,
    )


@json_route(auth=INBOX_SIGN_IN)
def verify_code(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/signin/verify`: `{"address", "code"}` -> the session; 401 otherwise."""
    body = request.json_object()
    opened = service.verify_code(request.settings, body.get("address"), body.get("code"))
    return _session_answer(request, opened, 200)


@json_route(auth=INBOX_SIGN_IN)
def platform_signin(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/signin/platform`: a session for the user App Service Authentication
    signed in (404 unless that sign-in is trusted, see `authenticator`)."""
    settings = request.settings
    if not platform_sign_in_enabled(settings):
        raise ApiError(404, "not_enabled", "signing in with Microsoft is not enabled")
    user_id = service.platform_user(settings, platform_principal_name(request.http, settings))
    return _session_answer(request, service.open_session(settings, user_id), 200)


# --- the session ---------------------------------------------------------------------------


@json_route(auth=SESSION)
def session(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/session`: who is signed in, and the CSRF token of the session."""
    settings = request.settings
    found = session_of(request.http, settings)
    assert found is not None  # the shell admitted the request on this cookie
    user = service.get_user(settings, found[0])
    me = _me(user["id"], user["name"], Role(user["role"]), tuple(user["lines"]))
    return json_response({"user": me, "csrf": csrf_token(service.session_key(settings), found[1])})


@json_route(auth=SESSION)
def signout(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/signout`: end this session and drop its cookie."""
    settings = request.settings
    found = session_of(request.http, settings)
    assert found is not None
    service.sign_out(settings, *found)
    cookie = clear_cookie(secure=secure_cookies(request.http, settings))
    return json_response({"signedOut": True}, 200, {"Set-Cookie": cookie})


@json_route(auth=SESSION)
def users(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/users` (owner): the inbox users and their live sessions."""
    _owner_only(request.principal)
    return json_response(service.list_users(request.settings))


@json_route(auth=SESSION)
def end_user_sessions(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/users/{id}/signout` (owner): end every session of a user."""
    _owner_only(request.principal)
    return json_response(service.end_sessions(request.settings, request.route_params.get("id", "")))


# --- lines (the operator's handlers, for the lines the principal may see) ------------------


@json_route(auth=SESSION)
def lines_list(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/lines`: the lines the user may see, with their state now."""
    from switchboard.lines import service as lines_service

    found = lines_service.list_lines(request.settings)
    mine = [i for i in found["items"] if request.principal.may_see_line(i["number"])]
    return json_response({"items": mine})


@json_route(auth=SESSION)
def lines_schema(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/lines/schema`: the line document's JSON Schema."""
    from switchboard.lines import routes as lines_routes

    return lines_routes.schema.handler(request)


@json_route(auth=SESSION)
def line_item(request: ApiRequest) -> func.HttpResponse:
    """`GET` and `PUT /api/inbox/lines/{number}` (`If-Match` on a change)."""
    from switchboard.lines import routes as lines_routes

    _line_allowed(request)
    return lines_routes.item.handler(request)


@json_route(auth=SESSION)
def line_history(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/lines/{number}/history`."""
    from switchboard.lines import routes as lines_routes

    _line_allowed(request)
    return lines_routes.history.handler(request)


@json_route(auth=SESSION)
def line_status(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/lines/{number}/status`."""
    from switchboard.lines import routes as lines_routes

    _line_allowed(request)
    return lines_routes.status.handler(request)


@json_route(auth=SESSION)
def line_override(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/lines/{number}/override`: closed now, open now, back to hours."""
    from switchboard.lines import routes as lines_routes

    _line_allowed(request)
    return lines_routes.override.handler(request)


@json_route(auth=SESSION)
def line_preview(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/lines/{number}/preview?at=&from=`: what a call from `from` at `at`
    (ISO-8601; the line's zone unless it has an offset) would hear, from the line alone."""
    from switchboard.http import query_param
    from switchboard.lines import service as lines_service

    _line_allowed(request)
    return json_response(
        lines_service.preview(
            request.settings,
            request.route_params.get("number", ""),
            query_param(request.params, "at"),
            query_param(request.params, "from"),
        )
    )


# --- status and scheduled texts (owner) -----------------------------------------------------


@json_route(auth=SESSION)
def status(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/status` (owner): what is set up and what is not, in words."""
    from switchboard.inbox import status as inbox_status

    _owner_only(request.principal)
    return json_response(inbox_status.report(request.settings))


@json_route(auth=SESSION)
async def schedules(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox/schedules` (owner): the operator's `POST /api/sms/schedules`; `GET`:
    the texts still to send (`GET /api/sms/schedules`), or with `?from=&to=` (UTC days) those
    of some days, sent or not, with the replies they got."""
    from switchboard.schedules import routes as schedule_routes

    _owner_only(request.principal)
    if request.method == "GET":
        if "from" in request.params:
            return await schedule_routes.of_days(request)
        return await schedule_routes.list_pending.handler(request)
    return await schedule_routes.create.handler(request)


@json_route(auth=SESSION)
async def schedule_item(request: ApiRequest) -> func.HttpResponse:
    """`GET` and `DELETE /api/inbox/schedules/{id}` (owner)."""
    from switchboard.schedules import routes as schedule_routes

    _owner_only(request.principal)
    if request.method == "DELETE":
        return await schedule_routes.cancel.handler(request)
    return await schedule_routes.get.handler(request)


# --- the operator's users (function key) ----------------------------------------------------


@json_route(auth=FUNCTION_KEY)
def operator_users(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox-users` (every user) and `POST` (name a new one: 201)."""
    if request.method == "POST":
        return json_response(service.create_user(request.settings, request.json_object()), 201)
    return json_response(service.list_users(request.settings))


@json_route(auth=FUNCTION_KEY)
def operator_user(request: ApiRequest) -> func.HttpResponse:
    """`GET`, `PATCH` and `DELETE /api/inbox-users/{id}`."""
    user_id = request.route_params.get("id", "")
    if request.method == "PATCH":
        return json_response(service.update_user(request.settings, user_id, request.json()))
    if request.method == "DELETE":
        return json_response(service.delete_user(request.settings, user_id))
    return json_response(service.get_user(request.settings, user_id))


@json_route(auth=FUNCTION_KEY)
def operator_end_sessions(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/inbox-users/{id}/signout`: end every session of the user."""
    return json_response(service.end_sessions(request.settings, request.route_params.get("id", "")))
