"""Conversations (auth level function): the operator's routes. Thin on purpose: each function
calls its JSON route in `switchboard.conversations.routes` (declared with the function key),
imported on the first call (cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/conversations", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def conversations_list(req: func.HttpRequest) -> func.HttpResponse:
    """The conversations, newest activity first."""
    from switchboard.conversations import routes

    return routes.list_conversations(req)


@bp.route(
    route="api/conversations/{line}/{customer}",
    methods=["GET", "PATCH"],
    auth_level=func.AuthLevel.FUNCTION,
)
def conversations_item(req: func.HttpRequest) -> func.HttpResponse:
    """A conversation and its events; its state, assignment and read mark changed."""
    from switchboard.conversations import routes

    return routes.conversation(req)


@bp.route(
    route="api/conversations/{line}/{customer}/messages",
    methods=["POST"],
    auth_level=func.AuthLevel.FUNCTION,
)
def conversations_messages(req: func.HttpRequest) -> func.HttpResponse:
    """A text to the customer, from the line's number."""
    from switchboard.conversations import routes

    return routes.send_message(req)
