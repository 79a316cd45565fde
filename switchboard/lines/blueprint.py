"""Lines (auth level function): the operator's routes for each number's line.

Thin on purpose: each function calls its JSON route in `switchboard.lines.routes` (declared with
the function key; the shell loads the settings and answers errors in the one shape), imported on
the first call (cold start).
`lines/schema` is a literal segment, so it wins over `lines/{number}` (ASP.NET route precedence,
which the Functions host and the devkit host both follow).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/lines", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def lines_list(req: func.HttpRequest) -> func.HttpResponse:
    """Every stored line and its state now."""
    from switchboard.lines import routes

    return routes.list_lines(req)


@bp.route(route="api/lines/schema", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def lines_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The JSON Schema of a line document."""
    from switchboard.lines import routes

    return routes.schema(req)


@bp.route(
    route="api/lines/{number}", methods=["GET", "PUT", "DELETE"], auth_level=func.AuthLevel.FUNCTION
)
def lines_item(req: func.HttpRequest) -> func.HttpResponse:
    """A line's document: read, write (`If-Match`), delete."""
    from switchboard.lines import routes

    return routes.item(req)


@bp.route(route="api/lines/{number}/history", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def lines_history(req: func.HttpRequest) -> func.HttpResponse:
    """Every version of a line, newest first."""
    from switchboard.lines import routes

    return routes.history(req)


@bp.route(route="api/lines/{number}/override", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def lines_override(req: func.HttpRequest) -> func.HttpResponse:
    """Open or closed until a time or the next change; or clear the override."""
    from switchboard.lines import routes

    return routes.override(req)


@bp.route(route="api/lines/{number}/status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def lines_status(req: func.HttpRequest) -> func.HttpResponse:
    """The line's state now, why, and when it next changes."""
    from switchboard.lines import routes

    return routes.status(req)
