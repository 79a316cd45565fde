"""The outbound path's operator routes (auth level function): each function calls its JSON
route in `switchboard.outbound.routes` (declared with the function key), imported on the first
call (cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/outbound/lines", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def outbound_lines(req: func.HttpRequest) -> func.HttpResponse:
    """Every line's automatic texts today: active or paused, why, the counts."""
    from switchboard.outbound import routes

    return routes.lines(req)


@bp.route(
    route="api/outbound/lines/{number}/resume", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
)
def outbound_resume(req: func.HttpRequest) -> func.HttpResponse:
    """Resume a paused line's automatic texts now."""
    from switchboard.outbound import routes

    return routes.resume(req)
