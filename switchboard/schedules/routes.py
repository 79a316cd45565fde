"""The scheduled-SMS operator routes (auth level function) as the blueprint calls them:

- `create`: ``POST /api/sms/schedules``: 201, or 200 for the same id with the same request
  again, 409 for the same id with a different one, 400 naming the field;
- `list_pending`: ``GET /api/sms/schedules``: the schedules still to send, soonest first, paged;
- `get`: ``GET /api/sms/schedules/{id}``: the schedule as JSON, 404 when unknown;
- `cancel`: ``DELETE /api/sms/schedules/{id}``: cancel if sending has not started (200 with the
  cancelled schedule), else 409.

Nothing a caller sends answers 5xx: broken settings or unreachable storage answer 503 with the
one error shape, a bug 500 (logged with its trace, answered without it). The timer that sends
due schedules is `switchboard.schedules.timer.run_timer`. The async storage client is imported on
first use.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import azure.functions as func

from switchboard import records
from switchboard import settings as settings_module
from switchboard.http import ApiError, error_response, json_response
from switchboard.logs import get_logger
from switchboard.schedules import rules as sched

if TYPE_CHECKING:
    from switchboard.schedules.store import ScheduleStore

logger = get_logger(__name__)

ROUTE = "sms/schedules"  # the route of `switchboard.schedules.blueprint`: for Location


Handler = Callable[["ScheduleStore", settings_module.Settings], Awaitable[func.HttpResponse]]


async def _serve(handler: Handler) -> func.HttpResponse:
    """Open the store for one request and map failures to the one error shape."""
    try:
        settings = settings_module.get_settings()
    except settings_module.SettingsError as exc:
        return error_response(503, "settings_invalid", str(exc))
    from azure.core.exceptions import AzureError

    from switchboard.schedules.store import ScheduleStore, open_tables

    try:
        async with open_tables(settings) as opened:
            return await handler(ScheduleStore(opened.schedules), settings)
    except AzureError as exc:
        logger.error("SmsSchedule storage failed: %s", type(exc).__name__)
        return error_response(
            503, "storage_unavailable", "storage is not available; try again", headers=_retry()
        )
    except Exception:
        logger.exception("scheduled-SMS route failed")
        return error_response(500, "internal_error", "unexpected error (logged)")


def _retry() -> dict[str, str]:
    return {"Retry-After": "5"}


def _location(schedule_id: str) -> dict[str, str]:
    from urllib.parse import quote

    return {"Location": f"/api/{ROUTE}/{quote(schedule_id, safe='')}"}


async def create(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/sms/schedules`: `{"to", "body", "sendAt", "id"?, "timeZone"?, "recurrence"?}`.

    201 created; 200 for the same id with the same request again; 409 for the same id with a
    different one; 400 naming the field (invalid JSON before anything else).
    """
    try:
        data = json.loads(req.get_body() or b"null")
    except (ValueError, RecursionError):
        return error_response(400, "invalid_json", "the request body is not valid JSON")

    async def handle(store: ScheduleStore, settings: settings_module.Settings) -> func.HttpResponse:
        from switchboard.schedules.store import CreateResult

        now = records.utcnow()
        try:
            schedule = sched.parse_new_schedule(
                data, now=now, max_lateness=settings.sms_max_lateness
            )
        except sched.ScheduleInputError as exc:
            code = "invalid_json" if exc.field is None else exc.code
            return error_response(400, code, exc.message, exc.field)
        result, _ = await store.create(schedule, now)
        if result is CreateResult.CONFLICT:
            return error_response(
                409,
                "conflict",
                f"schedule {schedule.id} already exists with a different request",
                "id",
            )
        view = await store.view(schedule.id)
        status_code = 201 if result is CreateResult.CREATED else 200
        return json_response(view, status_code, _location(schedule.id))

    return await _serve(handle)


async def list_pending(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/sms/schedules?limit=&cursor=`: the schedules still to send, soonest first
    (`{"items": [...], "nextCursor"}`); a finished one is read by its id."""
    from switchboard.http import query_param

    try:
        limit = _limit(query_param(req.params, "limit"))
        raw_cursor = query_param(req.params, "cursor")
        after = sched.decode_list_cursor(raw_cursor) if raw_cursor else None
    except sched.ScheduleInputError as exc:
        return error_response(400, exc.code, exc.message, exc.field)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    async def handle(store: ScheduleStore, settings: settings_module.Settings) -> func.HttpResponse:
        items, cursor = await store.list_pending(limit, after)
        return json_response({"items": items, "nextCursor": cursor})

    return await _serve(handle)


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    value = raw.strip()
    if not value.isdigit() or not 1 <= int(value) <= sched.MAX_LIST:
        raise sched.ScheduleInputError(
            "limit", f"must be a whole number from 1 to {sched.MAX_LIST}"
        )
    return int(value)


async def get(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/sms/schedules/{id}`: the schedule as JSON; 404 when unknown."""
    schedule_id = req.route_params.get("id", "")

    async def handle(store: ScheduleStore, settings: settings_module.Settings) -> func.HttpResponse:
        view = await store.view(schedule_id)
        if view is None:
            return _not_found(schedule_id)
        return json_response(view)

    return await _serve(handle)


async def cancel(req: func.HttpRequest) -> func.HttpResponse:
    """`DELETE /api/sms/schedules/{id}`: cancel a schedule that has not started sending (200
    with the cancelled schedule); 409 once it has, 404 when unknown."""
    schedule_id = req.route_params.get("id", "")

    async def handle(store: ScheduleStore, settings: settings_module.Settings) -> func.HttpResponse:
        from switchboard.schedules.store import CancelResult

        result, view = await store.cancel(schedule_id, records.utcnow())
        if result is CancelResult.NOT_FOUND or view is None:
            return _not_found(schedule_id)
        if result is CancelResult.TOO_LATE:
            state = view.get("status")
            message = (
                "sending has started"
                if state == sched.Status.CLAIMED.value
                else f"the schedule has ended ({state})"
            )
            return error_response(409, "not_cancellable", f"cannot cancel: {message}")
        return json_response(view)

    return await _serve(handle)


def _not_found(schedule_id: str) -> func.HttpResponse:
    shown = schedule_id if len(schedule_id) <= 64 and schedule_id.isprintable() else "(given)"
    return error_response(404, "not_found", f"no schedule with id {shown}")
