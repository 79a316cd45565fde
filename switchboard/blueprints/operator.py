"""Operator API (auth level function): health, and the routes of SPEC "Operator API"."""

from __future__ import annotations

import azure.functions as func

from switchboard import settings as settings_module
from switchboard.adapters import tables
from switchboard.blueprints.http import json_response
from switchboard.health import Check, health_report

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Which settings are present (never values) and whether storage and Twilio answer."""
    presence = settings_module.presence()
    try:
        settings = settings_module.load_settings()
    except settings_module.SettingsError as exc:
        problems = [str(p) for p in exc.problems]
        storage = Check(False, "settings invalid")
        twilio = Check(False, "settings invalid")
    else:
        problems = []
        storage = Check(*tables.storage_reachable(settings))
        twilio = _twilio_check(settings)
    status, body = health_report(presence, problems, storage, twilio)
    return json_response(body, status)


def _twilio_check(settings: settings_module.Settings) -> Check:
    if not settings.twilio_rest_configured:
        return Check(False, "not configured", configured=False)
    from switchboard.adapters import twilio_client

    ok, detail = twilio_client.twilio_reachable(settings)
    return Check(ok, detail)
