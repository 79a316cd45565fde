"""The operator's routes of the outbound path (function key), as the blueprint calls them. Each
is a JSON route (`switchboard.jsonroutes.shell`: authentication, the one error shape, storage
failures answered 503):

- `GET /api/outbound/lines`: every line's automatic texts today (``active`` or ``paused``,
  why, the counts, when it resumes) and the allowed countries;
- `POST /api/outbound/lines/{number}/resume`: resume a paused line now, with a fresh allowance
  for the rest of its local day; 200 with its report.
"""

from __future__ import annotations

import azure.functions as func

from switchboard.http import ApiError, json_response
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route
from switchboard.outbound.health import budgets_report, countries, line_report
from switchboard.outbound.service import LineRef, Outbound
from switchboard.phone import is_e164


@json_route(auth=FUNCTION_KEY)
def lines(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/outbound/lines`."""
    outbound = Outbound(request.settings)
    report = budgets_report(outbound)
    return json_response({"allowedCountries": countries(outbound.destinations), "lines": report})


@json_route(auth=FUNCTION_KEY)
def resume(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/outbound/lines/{number}/resume`."""
    number = str(request.route_params.get("number", ""))
    if not is_e164(number):
        raise ApiError(
            400,
            "invalid_number",
            "number: must be an E.164 phone number such as +15017122661",
            "number",
        )
    outbound = Outbound(request.settings)
    known = outbound.budgets().get(number)
    resumed = outbound.resume(
        LineRef(number, time_zone=known.time_zone if known is not None else None)
    )
    return json_response({"line": number, **line_report(resumed)})
