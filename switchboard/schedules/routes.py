"""The scheduled-SMS operator routes (function key) as the blueprint calls them:

- `create`: ``POST /api/sms/schedules``: 201, or 200 for the same id with the same request
  again, 409 for the same id with a different one, 400 naming the field (or, for a recipient
  the outbound policy refuses, `destination_not_allowed` naming the rule);
- `list_pending`: ``GET /api/sms/schedules``: the schedules still to send, soonest first, paged;
- `get`: ``GET /api/sms/schedules/{id}``: the schedule as JSON, 404 when unknown;
- `cancel`: ``DELETE /api/sms/schedules/{id}``: cancel if sending has not started (200 with the
  cancelled schedule), else 409.

Each is an async JSON route (`switchboard.jsonroutes.shell`): broken settings or unreachable
storage answer 503 in the one error shape, a bug 500 (logged with its trace, answered without
it). The timer that sends due schedules is `switchboard.schedules.timer.run_timer`. The async
storage client is imported on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import azure.functions as func

from switchboard import records
from switchboard.http import ApiError, json_response
from switchboard.jsonroutes.auth import FUNCTION_KEY
from switchboard.jsonroutes.shell import ApiRequest, json_route
from switchboard.schedules import rules as sched
from switchboard.settings import Settings

if TYPE_CHECKING:
    from switchboard.schedules.store import ScheduleStore

ROUTE = "sms/schedules"  # the route of `switchboard.schedules.blueprint`: for Location


@contextlib.asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[ScheduleStore]:
    """The schedule store for one request (storage failures are answered by the shell)."""
    from switchboard.schedules.store import ScheduleStore, open_tables

    async with open_tables(settings) as opened:
        yield ScheduleStore(opened.schedules)


def _location(schedule_id: str) -> dict[str, str]:
    from urllib.parse import quote

    return {"Location": f"/api/{ROUTE}/{quote(schedule_id, safe='')}"}


def require_destination(settings: Settings, to: str) -> None:
    """400 `destination_not_allowed` naming the rule when the outbound policy refuses to text
    `to` (checked again when the schedule falls due)."""
    from switchboard.outbound.service import Outbound, Refused

    try:
        Outbound(settings).require(to)
    except Refused as exc:
        raise exc.api_error("to") from None


def _not_found(schedule_id: str) -> ApiError:
    shown = schedule_id if len(schedule_id) <= 64 and schedule_id.isprintable() else "(given)"
    return ApiError(404, "not_found", f"no schedule with id {shown}")


@json_route(auth=FUNCTION_KEY)
async def create(request: ApiRequest) -> func.HttpResponse:
    """`POST /api/sms/schedules`: `{"to", "body", "sendAt", "id"?, "timeZone"?, "recurrence"?}`.

    201 created; 200 for the same id with the same request again; 409 for the same id with a
    different one; 400 naming the field (invalid JSON before anything else).
    """
    from switchboard.schedules.store import CreateResult

    data = request.json()
    settings = request.settings
    now = records.utcnow()
    try:
        schedule = sched.parse_new_schedule(data, now=now, max_lateness=settings.sms_max_lateness)
    except sched.ScheduleInputError as exc:
        code = "invalid_json" if exc.field is None else exc.code
        raise ApiError(400, code, exc.message, exc.field) from None
    async with _opened(settings) as store:
        # After opening the store: storage down is a 503, not a guess about the countries.
        await asyncio.to_thread(require_destination, settings, schedule.to)
        result, _ = await store.create(schedule, now)
        if result is CreateResult.CONFLICT:
            raise ApiError(
                409,
                "conflict",
                f"schedule {schedule.id} already exists with a different request",
                "id",
            )
        view = await store.view(schedule.id)
    status_code = 201 if result is CreateResult.CREATED else 200
    return json_response(view, status_code, _location(schedule.id))


@json_route(auth=FUNCTION_KEY)
async def list_pending(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/sms/schedules?limit=&cursor=`: the schedules still to send, soonest first
    (`{"items": [...], "nextCursor"}`); a finished one is read by its id."""
    from switchboard.http import query_param

    try:
        limit = _limit(query_param(request.params, "limit"))
        raw_cursor = query_param(request.params, "cursor")
        after = sched.decode_list_cursor(raw_cursor) if raw_cursor else None
    except sched.ScheduleInputError as exc:
        raise ApiError(400, exc.code, exc.message, exc.field) from None
    async with _opened(request.settings) as store:
        items, cursor = await store.list_pending(limit, after)
    return json_response({"items": items, "nextCursor": cursor})


#: The UTC days one listing of days spans at most (its reads are bounded).
MAX_DAYS = 31


async def of_days(request: ApiRequest) -> func.HttpResponse:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD` (to: default from, at most `MAX_DAYS` days): the
    schedules whose `sendAt` falls on those UTC days, sent or not, each with its reply
    (`response`, `respondedAt`), by `sendAt`: `{"items"}`. For a route that admitted the caller
    (the inbox's listing), as `schedules list --from --to` on the command line."""
    from switchboard.http import invalid, parse_date, query_param

    first = parse_date(query_param(request.params, "from") or "", "from")
    raw_last = query_param(request.params, "to")
    last = parse_date(raw_last, "to") if raw_last else first
    if last < first:
        raise invalid("to", "is before from")
    if (last - first).days >= MAX_DAYS:
        raise invalid("to", f"spans more than {MAX_DAYS} days")
    async with _opened(request.settings) as store:
        items = await store.of_days(first, last)
    return json_response({"items": items})


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    value = raw.strip()
    if not value.isdigit() or not 1 <= int(value) <= sched.MAX_LIST:
        raise sched.ScheduleInputError(
            "limit", f"must be a whole number from 1 to {sched.MAX_LIST}"
        )
    return int(value)


@json_route(auth=FUNCTION_KEY)
async def get(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/sms/schedules/{id}`: the schedule as JSON; 404 when unknown."""
    schedule_id = request.route_params.get("id", "")
    async with _opened(request.settings) as store:
        view = await store.view(schedule_id)
    if view is None:
        raise _not_found(schedule_id)
    return json_response(view)


@json_route(auth=FUNCTION_KEY)
async def cancel(request: ApiRequest) -> func.HttpResponse:
    """`DELETE /api/sms/schedules/{id}`: cancel a schedule that has not started sending (200
    with the cancelled schedule); 409 once it has, 404 when unknown."""
    from switchboard.schedules.store import CancelResult

    schedule_id = request.route_params.get("id", "")
    async with _opened(request.settings) as store:
        result, view = await store.cancel(schedule_id, records.utcnow())
    if result is CancelResult.NOT_FOUND or view is None:
        raise _not_found(schedule_id)
    if result is CancelResult.TOO_LATE:
        state = view.get("status")
        message = (
            "sending has started"
            if state == sched.Status.CLAIMED.value
            else f"the schedule has ended ({state})"
        )
        raise ApiError(409, "not_cancellable", f"cannot cancel: {message}")
    return json_response(view)
