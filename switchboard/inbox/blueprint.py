"""The owner's inbox: the app under `/inbox/` and its JSON under `/api/inbox/...` (auth level
anonymous: the static shell serves what anyone may load, the JSON route shell checks the
session), the operator's `/api/inbox-users` routes (auth level function), and the queue
`inbox-sign-in-codes` whose function sends the sign-in codes the form asks for (a fixed name,
like the voicemail e-mails' queue: no setting can leave the trigger without one).

Thin on purpose: each function hands the request to `switchboard.inbox.assets` or a route of
`switchboard.inbox.routes`, imported on the first call (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="inbox/{*path}", methods=["GET"], auth_level=ANON)
def inbox_app(req: func.HttpRequest) -> func.HttpResponse:
    """The page and its content-hashed assets."""
    from switchboard.inbox import assets

    return assets.INBOX_APP(req)


@bp.route(route="api/inbox/signin", methods=["GET"], auth_level=ANON)
def inbox_signin_options(req: func.HttpRequest) -> func.HttpResponse:
    """Which ways to sign in are set up."""
    from switchboard.inbox import routes

    return routes.signin_options(req)


@bp.route(route="api/inbox/signin/code", methods=["POST"], auth_level=ANON)
def inbox_signin_code(req: func.HttpRequest) -> func.HttpResponse:
    """Ask for a sign-in code."""
    from switchboard.inbox import routes

    return routes.request_code(req)


@bp.queue_trigger(
    arg_name="msg", queue_name="inbox-sign-in-codes", connection="AzureWebJobsStorage"
)
def inbox_signin_code_request(msg: func.QueueMessage) -> None:
    """Send the code a sign-in form asked for, when the address is an inbox user's (off the
    request, so an outsider's address is answered as fast as a user's)."""
    from switchboard.inbox import service

    service.handle_code_request(msg.get_body())


@bp.route(route="api/inbox/signin/verify", methods=["POST"], auth_level=ANON)
def inbox_signin_verify(req: func.HttpRequest) -> func.HttpResponse:
    """Trade a code for a session."""
    from switchboard.inbox import routes

    return routes.verify_code(req)


@bp.route(route="api/inbox/signin/platform", methods=["POST"], auth_level=ANON)
def inbox_signin_platform(req: func.HttpRequest) -> func.HttpResponse:
    """A session for App Service Authentication's signed-in user (when trusted)."""
    from switchboard.inbox import routes

    return routes.platform_signin(req)


@bp.route(route="api/inbox/session", methods=["GET"], auth_level=ANON)
def inbox_session(req: func.HttpRequest) -> func.HttpResponse:
    """Who is signed in, and the session's CSRF token."""
    from switchboard.inbox import routes

    return routes.session(req)


@bp.route(route="api/inbox/signout", methods=["POST"], auth_level=ANON)
def inbox_signout(req: func.HttpRequest) -> func.HttpResponse:
    """End this session."""
    from switchboard.inbox import routes

    return routes.signout(req)


@bp.route(route="api/inbox/users", methods=["GET"], auth_level=ANON)
def inbox_users(req: func.HttpRequest) -> func.HttpResponse:
    """The inbox users (owner)."""
    from switchboard.inbox import routes

    return routes.users(req)


@bp.route(route="api/inbox/users/{id}/signout", methods=["POST"], auth_level=ANON)
def inbox_user_signout(req: func.HttpRequest) -> func.HttpResponse:
    """End a user's sessions (owner)."""
    from switchboard.inbox import routes

    return routes.end_user_sessions(req)


@bp.route(route="api/inbox/lines", methods=["GET"], auth_level=ANON)
def inbox_lines(req: func.HttpRequest) -> func.HttpResponse:
    """The lines the user may see."""
    from switchboard.inbox import routes

    return routes.lines_list(req)


@bp.route(route="api/inbox/lines/schema", methods=["GET"], auth_level=ANON)
def inbox_lines_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The line document's JSON Schema."""
    from switchboard.inbox import routes

    return routes.lines_schema(req)


@bp.route(route="api/inbox/lines/{number}", methods=["GET", "PUT"], auth_level=ANON)
def inbox_line(req: func.HttpRequest) -> func.HttpResponse:
    """A line's document."""
    from switchboard.inbox import routes

    return routes.line_item(req)


@bp.route(route="api/inbox/lines/{number}/history", methods=["GET"], auth_level=ANON)
def inbox_line_history(req: func.HttpRequest) -> func.HttpResponse:
    """A line's versions."""
    from switchboard.inbox import routes

    return routes.line_history(req)


@bp.route(route="api/inbox/lines/{number}/status", methods=["GET"], auth_level=ANON)
def inbox_line_status(req: func.HttpRequest) -> func.HttpResponse:
    """A line's state now and next change."""
    from switchboard.inbox import routes

    return routes.line_status(req)


@bp.route(route="api/inbox/lines/{number}/override", methods=["POST"], auth_level=ANON)
def inbox_line_override(req: func.HttpRequest) -> func.HttpResponse:
    """Closed now, open now, back to hours."""
    from switchboard.inbox import routes

    return routes.line_override(req)


@bp.route(route="api/inbox/lines/{number}/preview", methods=["GET"], auth_level=ANON)
def inbox_line_preview(req: func.HttpRequest) -> func.HttpResponse:
    """What a call at a given time from a given number would hear."""
    from switchboard.inbox import routes

    return routes.line_preview(req)


@bp.route(route="api/inbox/contacts", methods=["GET", "POST"], auth_level=ANON)
def inbox_contacts(req: func.HttpRequest) -> func.HttpResponse:
    """The contacts: a page of them (everyone), a new one (owner)."""
    from switchboard.inbox import contact_routes

    return contact_routes.collection(req)


@bp.route(route="api/inbox/contacts/{id}", methods=["GET", "PUT", "PATCH"], auth_level=ANON)
def inbox_contact(req: func.HttpRequest) -> func.HttpResponse:
    """A contact: read it (everyone), edit or block it (owner)."""
    from switchboard.inbox import contact_routes

    return contact_routes.item(req)


@bp.route(route="api/inbox/status", methods=["GET"], auth_level=ANON)
def inbox_status(req: func.HttpRequest) -> func.HttpResponse:
    """What is set up, in words (owner)."""
    from switchboard.inbox import routes

    return routes.status(req)


@bp.route(route="api/inbox/schedules", methods=["GET", "POST"], auth_level=ANON)
async def inbox_schedules(req: func.HttpRequest) -> func.HttpResponse:
    """The texts to send, or those of some days with their replies; schedule one (owner)."""
    from switchboard.inbox import routes

    return await routes.schedules(req)


@bp.route(route="api/inbox/schedules/{id}", methods=["GET", "DELETE"], auth_level=ANON)
async def inbox_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """A scheduled text: read or cancel (owner)."""
    from switchboard.inbox import routes

    return await routes.schedule_item(req)


@bp.route(route="api/inbox/conversations", methods=["GET"], auth_level=ANON)
def inbox_conversations(req: func.HttpRequest) -> func.HttpResponse:
    """The conversations the user may see, newest activity first (a poll: 304)."""
    from switchboard.inbox import conversation_routes

    return conversation_routes.conversation_list(req)


@bp.route(
    route="api/inbox/conversations/{line}/{customer}", methods=["GET", "PATCH"], auth_level=ANON
)
def inbox_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """A conversation: read it; done, assigned, read."""
    from switchboard.inbox import conversation_routes

    return conversation_routes.conversation_item(req)


@bp.route(
    route="api/inbox/conversations/{line}/{customer}/messages", methods=["POST"], auth_level=ANON
)
def inbox_conversation_messages(req: func.HttpRequest) -> func.HttpResponse:
    """A reply from the line's number."""
    from switchboard.inbox import conversation_routes

    return conversation_routes.conversation_reply(req)


@bp.route(
    route="api/inbox/conversations/{line}/{customer}/calls/{sid}/audio",
    methods=["GET"],
    auth_level=ANON,
)
def inbox_conversation_audio(req: func.HttpRequest) -> func.HttpResponse:
    """A voicemail's audio, whole or in ranges."""
    from switchboard.inbox import conversation_routes

    return conversation_routes.conversation_audio(req)


@bp.route(route="api/inbox-users", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def inbox_users_operator(req: func.HttpRequest) -> func.HttpResponse:
    """The operator's inbox users: list, name a new one."""
    from switchboard.inbox import routes

    return routes.operator_users(req)


@bp.route(
    route="api/inbox-users/{id}",
    methods=["GET", "PATCH", "DELETE"],
    auth_level=func.AuthLevel.FUNCTION,
)
def inbox_user_operator(req: func.HttpRequest) -> func.HttpResponse:
    """One inbox user: read, change, remove."""
    from switchboard.inbox import routes

    return routes.operator_user(req)


@bp.route(
    route="api/inbox-users/{id}/signout", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
)
def inbox_user_signout_operator(req: func.HttpRequest) -> func.HttpResponse:
    """End every session of an inbox user."""
    from switchboard.inbox import routes

    return routes.operator_end_sessions(req)
