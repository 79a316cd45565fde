"""The scheduled-SMS routes and timer called directly (no host): failures a caller cannot fix
answer 503 with the one error shape, never a trace; the timer survives broken settings."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from switchboard import settings as settings_module
from switchboard.schedules import blueprint as bp


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    settings_module.reset_settings_cache()
    yield clean_env
    settings_module.reset_settings_cache()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, body: bytes = b"", schedule_id: str | None = None) -> func.HttpRequest:
    url = "http://localhost/api/sms/schedules" + (f"/{schedule_id}" if schedule_id else "")
    return func.HttpRequest(
        method=method,
        url=url,
        headers={"Content-Type": "application/json"},
        params={},
        route_params={"id": schedule_id} if schedule_id else {},
        body=body,
    )


def call(function: object, req: func.HttpRequest) -> func.HttpResponse:
    user_function = function.build().get_user_function()  # type: ignore[attr-defined]
    response = asyncio.run(user_function(req))
    assert isinstance(response, func.HttpResponse)
    return response


def error_of(response: func.HttpResponse) -> dict[str, object]:
    payload = json.loads(response.get_body())
    assert set(payload) == {"error"}
    return dict(payload["error"])


def test_invalid_json_is_400_before_anything_else(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMS_MAX_LATENESS", "not-a-duration")  # settings are not even looked at
    response = call(bp.create_sms_schedule, request("POST", b"{nope"))
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_broken_settings_answer_503_naming_the_setting(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMS_MAX_LATENESS", "not-a-duration")
    response = call(bp.get_sms_schedule, request("GET", schedule_id="x"))
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "settings_invalid"
    assert "SMS_MAX_LATENESS" in str(error["message"])
    assert "not-a-duration" not in str(error["message"])


def test_unreachable_storage_answers_503(env: pytest.MonkeyPatch) -> None:
    port = closed_port()
    env.setenv(
        "AzureWebJobsStorage",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    body = json.dumps(
        {"to": "+33612345678", "body": "Hi", "sendAt": "2030-01-01T09:00:00Z"}
    ).encode()
    response = call(bp.create_sms_schedule, request("POST", body))
    assert response.status_code == 503
    assert error_of(response)["code"] == "storage_unavailable"
    assert response.headers.get("Retry-After") == "5"


def test_timer_with_broken_settings_logs_and_returns(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMS_QUIET_HOURS", "all night")
    user_function = bp.sms_schedule_timer.build().get_user_function()  # type: ignore[attr-defined]
    assert asyncio.run(user_function(TimerRequest(past_due=True))) is None


def test_timer_without_a_sender_sends_nothing(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    user_function = bp.sms_schedule_timer.build().get_user_function()  # type: ignore[attr-defined]
    assert asyncio.run(user_function(TimerRequest(past_due=False))) is None
    assert "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID" in caplog.text


def test_trigger_bindings() -> None:
    app = func.FunctionApp()
    app.register_functions(bp.bp)
    functions = {f.get_function_name(): f for f in app.get_functions()}
    timer = functions["sms_schedule_timer"].get_trigger()
    assert (timer.schedule, timer.run_on_startup, timer.use_monitor) == (
        "%SMS_TIMER_SCHEDULE%",
        False,
        True,
    )
    routes = {
        name: (f.get_trigger().route, [str(m) for m in f.get_trigger().methods])
        for name, f in functions.items()
        if name != "sms_schedule_timer"
    }
    assert routes == {
        "create_sms_schedule": ("api/sms/schedules", ["POST"]),
        "list_sms_schedules": ("api/sms/schedules", ["GET"]),
        "get_sms_schedule": ("api/sms/schedules/{id}", ["GET"]),
        "cancel_sms_schedule": ("api/sms/schedules/{id}", ["DELETE"]),
    }
    for name in routes:
        assert functions[name].get_trigger().auth_level == func.AuthLevel.FUNCTION


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "from"),
        ({"from": "2026-12-01", "to": "2026-11-30"}, "to"),
        ({"from": "2026-12-01", "to": "2027-01-01"}, "to"),
        ({"from": "1 December"}, "from"),
        ({"from": "2026-12-01", "to": "2026-12-1"}, "to"),
    ],
)
def test_a_listing_of_days_names_a_range_it_cannot_read(params: dict[str, str], field: str) -> None:
    """Refused before storage is opened (there is none here)."""
    from switchboard.http import ApiError
    from switchboard.jsonroutes.auth import OPERATOR
    from switchboard.jsonroutes.shell import ApiRequest
    from switchboard.schedules import routes
    from switchboard.settings import load_settings

    http = func.HttpRequest("GET", "http://localhost/x", params=params, body=b"")
    with pytest.raises(ApiError) as refused:
        asyncio.run(routes.of_days(ApiRequest(http, OPERATOR, load_settings({}))))
    assert (refused.value.status, refused.value.field) == (400, field)
