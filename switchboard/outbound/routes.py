"""The operator's routes of the outbound path (auth level function), as the blueprint calls them:

- `GET /api/outbound/lines`: every line's automatic texts today (``active`` or ``paused``,
  why, the counts, when it resumes) and the allowed countries;
- `POST /api/outbound/lines/{number}/resume`: resume a paused line now, with a fresh allowance
  for the rest of its local day; 200 with its report.
"""

from __future__ import annotations

import azure.functions as func

from switchboard.http import ApiError, json_response, unavailable
from switchboard.http import serve as http_serve
from switchboard.logs import get_logger
from switchboard.phone import is_e164
from switchboard.settings import Settings

logger = get_logger(__name__)


def _storage(exc: BaseException) -> ApiError:
    logger.error("outbound: storage failed (%s)", type(exc).__name__)
    return unavailable("storage_unavailable", "storage is unavailable, try again", 5)


def _lines(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    from switchboard.outbound.health import budgets_report, countries
    from switchboard.outbound.service import Outbound

    outbound = Outbound(settings)
    try:
        lines = budgets_report(outbound)
    except Exception as exc:
        raise _storage(exc) from exc
    return json_response({"allowedCountries": countries(outbound.destinations), "lines": lines})


def _resume(req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    from switchboard.outbound.health import line_report
    from switchboard.outbound.service import LineRef, Outbound

    number = req.route_params.get("number", "")
    if not is_e164(number):
        raise ApiError(
            400,
            "invalid_number",
            "number: must be an E.164 phone number such as +15017122661",
            "number",
        )
    outbound = Outbound(settings)
    try:
        known = outbound.budgets().get(number)
        zone = known.time_zone if known is not None else None
        resumed = outbound.resume(LineRef(number, time_zone=zone))
    except Exception as exc:
        raise _storage(exc) from exc
    return json_response({"line": number, **line_report(resumed)})


def lines(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/outbound/lines`."""
    return http_serve(req, _lines)


def resume(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/outbound/lines/{number}/resume`."""
    return http_serve(req, _resume)
