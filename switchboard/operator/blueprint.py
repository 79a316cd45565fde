"""Operator API (auth level function): health, messages, numbers, usage, the OpenAPI file.

Thin on purpose: each function calls its JSON route in `switchboard.operator.routes` (declared
with the function key; the shell loads the settings and answers errors in the one JSON shape),
imported on the first call (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Which settings are present (never values) and whether storage and Twilio answer."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.health(req)


@bp.route(route="api/messages", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def send_message(req: func.HttpRequest) -> func.HttpResponse:
    """Send an SMS/MMS now: `{"to", "body", "from"?, "mediaUrl"?}` → 201 `{"sid", "status"}`."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.send_message(req)


@bp.route(route="api/messages", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_messages(req: func.HttpRequest) -> func.HttpResponse:
    """Recent messages, newest first: `?since=&limit=&cursor=` → `{"items", "nextCursor"}`."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.list_messages(req)


@bp.route(route="api/messages/{sid}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_message(req: func.HttpRequest) -> func.HttpResponse:
    """A message's MessageLog record; 404 when unknown."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.get_message(req)


@bp.route(route="api/numbers", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_numbers(req: func.HttpRequest) -> func.HttpResponse:
    """The account's phone numbers, their webhooks, and whether those point at this app."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.list_numbers(req)


@bp.route(route="api/usage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_usage(req: func.HttpRequest) -> func.HttpResponse:
    """Twilio usage records: `?start=YYYY-MM-DD&end=YYYY-MM-DD&category=&limit=`."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.list_usage(req)


@bp.route(route="api/openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 description of the operator API."""
    from switchboard.operator import routes as operator_routes

    return operator_routes.openapi(req)
