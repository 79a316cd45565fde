"""`GET /api/health` through the local host: settings present or missing (never values), storage
and Twilio reachability, function keys enforced when configured."""

from __future__ import annotations

import json

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostFactory

ACCOUNT_SID = "AC" + "5" * 32
TOKEN = "health-test-token-not-a-secret"
FUNCTION_KEY = "health-test-function-key"


def test_health_reports_presence_storage_and_twilio(run_host: HostFactory) -> None:
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN) as standin:
        host = run_host(
            PROJECT_ROOT,
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE_URL": standin.base_url,
                "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
                "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
            },
        )
        assert host.request("GET", "/api/health").status == 401
        response = host.request("GET", "/api/health", headers={"x-functions-key": FUNCTION_KEY})
        assert response.status == 200, response.text
        body = response.json()
        assert body["status"] == "ok"
        assert body["storage"] == {"ok": True, "detail": "ok"}
        assert body["twilio"]["ok"] is True
        assert "TWILIO_AUTH_TOKEN" in body["settings"]["present"]
        assert "TWILIO_FROM_NUMBER" in body["settings"]["missing"]
        assert body["settings"]["invalid"] == []
        assert body["queues"] == {
            "outbound": 0,
            "poison": 0,
            "parked": 0,
            "voicemail-email": 0,
            "voicemail-email-poison": 0,
            "call-queue-dispatch": 0,
            "call-queue-dispatch-poison": 0,
            "inbox-sign-in-codes": 0,
            "inbox-sign-in-codes-poison": 0,
        }
        # Names only: no secret and no key ever appears in the answer.
        assert TOKEN not in response.text
        assert FUNCTION_KEY not in response.text
        by_query = host.request("GET", f"/api/health?code={FUNCTION_KEY}")
        assert by_query.status == 200


def test_health_names_an_invalid_setting_without_its_value(run_host: HostFactory) -> None:
    host = run_host(
        PROJECT_ROOT,
        {
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
            "TWILIO_FROM_NUMBER": "not-a-number-xyz",
        },
    )
    response = host.request("GET", "/api/health")
    assert response.status == 503
    body = json.loads(response.text)
    assert body["status"] == "degraded"
    assert any(p.startswith("TWILIO_FROM_NUMBER:") for p in body["settings"]["invalid"])
    assert "not-a-number-xyz" not in response.text


def test_an_unset_trigger_setting_disables_only_its_function(run_host: HostFactory) -> None:
    # As the Functions host does: `%SMS_TIMER_SCHEDULE%` unresolved → that function is in error,
    # every other function still runs.
    host = run_host(PROJECT_ROOT, {"SMS_TIMER_SCHEDULE": None, "OUTBOUND_CALL_QUEUE": None})
    host.wait_for_log("'SMS_TIMER_SCHEDULE' (used as %SMS_TIMER_SCHEDULE%) is not set")
    host.wait_for_log("'OUTBOUND_CALL_QUEUE' (used as %OUTBOUND_CALL_QUEUE%) is not set")
    assert host.request("GET", "/api/health").status in (200, 503)
    assert host.request("POST", "/api/voice/incoming").status == 503  # no auth token set
