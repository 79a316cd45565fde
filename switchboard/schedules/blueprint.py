"""Scheduled SMS: the timer that sends due schedules, and the operator routes that manage them.

- timer ``sms_schedule_timer`` on ``%SMS_TIMER_SCHEDULE%`` (NCRONTAB, resolved from the app
  setting by the host): one `switchboard.schedules.timer.run_once` per firing (`run_timer`);
- ``POST /api/sms/schedules``, ``GET /api/sms/schedules``, ``GET /api/sms/schedules/{id}``,
  ``DELETE /api/sms/schedules/{id}`` (auth level function): create, list the pending, read,
  cancel (`switchboard.schedules.routes`).

Thin on purpose: the scheduler, the schedule rules, the async storage client and twilio are
imported on the first call (cold start).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()

ROUTE = "api/sms/schedules"


@bp.timer_trigger(
    schedule="%SMS_TIMER_SCHEDULE%",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
async def sms_schedule_timer(timer: func.TimerRequest) -> None:
    """Send every due scheduled SMS exactly once (see `switchboard.schedules.timer`)."""
    from switchboard.schedules.timer import run_timer

    await run_timer(past_due=timer.past_due)


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def create_sms_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """Create a schedule: `{"to", "body", "sendAt", "id"?, "timeZone"?, "recurrence"?}`."""
    from switchboard.schedules import routes as schedule_routes

    return await schedule_routes.create(req)


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_sms_schedules(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/sms/schedules: the schedules still to send, soonest first."""
    from switchboard.schedules import routes as schedule_routes

    return await schedule_routes.list_pending(req)


@bp.route(route=ROUTE + "/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_sms_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """A schedule as JSON; 404 when unknown."""
    from switchboard.schedules import routes as schedule_routes

    return await schedule_routes.get(req)


@bp.route(route=ROUTE + "/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def cancel_sms_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """Cancel a schedule that has not started sending; 409 once it has, 404 when unknown."""
    from switchboard.schedules import routes as schedule_routes

    return await schedule_routes.cancel(req)
