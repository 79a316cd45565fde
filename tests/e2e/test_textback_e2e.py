"""Missed-call text-back end to end: the simulator calls a stored line through `python -m devkit
host`, its signed call status callback reaches `POST /api/status/call`, the host's own
scheduled-SMS timer sends the text to the Twilio stand-in, and the operator API shows the
outcome on the call (`textBack`). A missed mobile caller gets one text; a second missed call
within the window gets none; a landline gets none."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.simulator import CallSession
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.lines.document import validate
from switchboard.lines.store import LineStore
from switchboard.settings import load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle, wait_until_settled

ACCOUNT_SID = "AC" + "7b" * 16
TOKEN = "textback-e2e-auth-token-0123456789"
LINE_NUMBER = "+15017122661"
SENDER = "+15005550006"
MOBILE = "+447911123456"
LANDLINE = "+442079460000"
MESSAGE = "Sorry we missed your call at Acme. We will call you back today."


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=0) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": SENDER,
            # The business texts callers in the UK and Guernsey too (MOBILE is a Guernsey mobile).
            "OUTBOUND_ALLOWED_COUNTRIES": "US,GB,GG",
            "TABLE_CALL_LOG": "tbcall" + suffix,
            "TABLE_MESSAGE_LOG": "tbmsg" + suffix,
            "TABLE_SMS_SCHEDULE": "tbsch" + suffix,
            "TABLE_OPT_OUT": "tbopt" + suffix,
            "TABLE_LINES": "tblines" + suffix,
            "SMS_TIMER_SCHEDULE": "*/1 * * * * *",
            "OUTBOUND_CALL_QUEUE": "tb-calls-" + suffix,
        }
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        document = validate(
            {
                "name": "Main line",
                "timeZone": "Europe/London",
                "closed": [{"voicemail": {}}],
                "textBack": {"message": MESSAGE, "minSeconds": 0, "windowHours": 24},
            },
            LINE_NUMBER,
        )
        LineStore.from_settings(settings).write(
            LINE_NUMBER, document, change="put", now=records.utcnow(), expected=None
        )
        host = run_host_module(PROJECT_ROOT, env)
        yield Stack(host, standin)


def missed_call(stack: Stack, caller: str) -> str:
    """A call that ends in voicemail, with the number's status callback on `/api/status/call`."""
    call = CallSession(
        stack.host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=caller,
        to=LINE_NUMBER,
        status_callback="/api/status/call",
    )
    transcript = call.run(recording_duration=9)
    assert transcript.ok, transcript.text()
    assert transcript.steps[-1].kind == "call-status-callback"
    assert transcript.steps[-1].status == 204
    return call.call_sid


def call_json(stack: Stack, call_sid: str) -> dict[str, Any]:
    response = stack.host.request("GET", f"/api/calls/{call_sid}")
    assert response.status == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def texts_to(stack: Stack, number: str) -> list[str]:
    return [
        str(r.param("Body"))
        for r in stack.standin.requests(method="POST", resource="Messages")
        if r.param("To") == number
    ]


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_missed_mobile_caller_gets_one_text_back(stack: Stack) -> None:
    first = missed_call(stack, MOBILE)
    record = call_json(stack, first)
    assert record["textBack"] == "sent"
    assert record["textBackId"] == f"sys-textback-{first}"
    assert wait_for(lambda: texts_to(stack, MOBILE)) == [MESSAGE]

    def schedule() -> dict[str, Any]:
        found: dict[str, Any] = stack.host.request(
            "GET", f"/api/sms/schedules/{record['textBackId']}"
        ).json()
        return found

    assert wait_for(lambda: schedule()["status"] == "sent")
    assert schedule()["to"] == MOBILE

    second = missed_call(stack, MOBILE)
    assert call_json(stack, second)["textBack"] == "skipped (texted within 24 h)"
    landline = missed_call(stack, LANDLINE)
    assert call_json(stack, landline)["textBack"] == "skipped (landline)"
    wait_until_settled([stack.host])  # two more whole timer runs: nothing else goes out
    assert texts_to(stack, MOBILE) == [MESSAGE]
    assert texts_to(stack, LANDLINE) == []
