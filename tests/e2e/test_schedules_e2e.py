"""Scheduled SMS through the local Functions host: the operator routes, and a timer run of the
host sending a due schedule (Twilio stand-in, session Azurite)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle, HttpResult

ACCOUNT_SID = "AC" + "5c" * 16
TOKEN = "schedules-e2e-auth-token-0123456789"
KEY = "schedules-e2e-function-key"
SENDER = "+15017122661"


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin

    def call(
        self, method: str, path: str, body: Any = None, *, key: str | None = KEY
    ) -> HttpResult:
        headers = {"x-functions-key": key} if key else {}
        data = None
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.host.request(method, f"/api/sms/schedules{path}", headers=headers, body=data)


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=0) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": SENDER,
            # The business texts France (every schedule here goes to a French mobile).
            "OUTBOUND_ALLOWED_COUNTRIES": "US,FR",
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_SMS_SCHEDULE": "e2esched" + suffix,
            "TABLE_MESSAGE_LOG": "e2esmsg" + suffix,
            "TABLE_OPT_OUT": "e2esopt" + suffix,
            "SMS_TIMER_SCHEDULE": "*/2 * * * * *",
        }
        yield Stack(run_host_module(PROJECT_ROOT, env), standin)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def later(days: int = 1) -> str:
    return iso(datetime.now(UTC) + timedelta(days=days))


def test_create_read_and_idempotent_repeat(stack: Stack) -> None:
    body = {"id": "e2e-1", "to": "+33612345678", "body": "See you", "sendAt": later()}
    created = stack.call("POST", "", body)
    assert created.status == 201, created.text
    shown = created.json()
    assert (shown["id"], shown["status"], shown["to"]) == ("e2e-1", "pending", "+33612345678")
    assert created.headers["location"] == "/api/sms/schedules/e2e-1"
    assert stack.call("POST", "", body).status == 200
    conflict = stack.call("POST", "", {**body, "body": "Changed"})
    assert conflict.status == 409
    assert conflict.json()["error"]["field"] == "id"
    fetched = stack.call("GET", "/e2e-1")
    assert fetched.status == 200
    assert fetched.json()["body"] == "See you"
    missing = stack.call("GET", "/nope")
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "not_found"
    generated = stack.call("POST", "", {k: v for k, v in body.items() if k != "id"})
    assert generated.status == 201
    assert generated.json()["id"].startswith("sch-")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "x", "sendAt": "2030-01-01T00:00:00Z"}, "to"),
        ({"to": "12", "body": "x", "sendAt": "2030-01-01T00:00:00Z"}, "to"),
        ({"to": "+33612345678", "sendAt": "2030-01-01T00:00:00Z"}, "body"),
        ({"to": "+33612345678", "body": "x", "sendAt": "2030-01-01T00:00:00"}, "sendAt"),
        (
            {"to": "+33612345678", "body": "x", "sendAt": "2030-01-01T00:00Z", "timeZone": "X"},
            "timeZone",
        ),
        (
            {"to": "+33612345678", "body": "x", "sendAt": "2030-01-01T00:00Z", "recurrence": "x"},
            "recurrence",
        ),
        ({"to": "+33612345678", "body": "x", "sendAt": "2030-01-01T00:00Z", "id": "a/b"}, "id"),
    ],
)
def test_bad_requests_name_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    answer = stack.call("POST", "", body)
    assert answer.status == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_malformed_bodies_and_missing_key_are_4xx(stack: Stack) -> None:
    lone_surrogate = '{"to": "+33612345678", "body": "\\ud800", "sendAt": "2030-01-01T00:00Z"}'
    for raw in ("{", "[1]", "null", '"x"', b"\xff\xfe", lone_surrogate):
        answer = stack.call("POST", "", raw)
        assert 400 <= answer.status < 500, (raw, answer.status, answer.text)
    assert stack.call("GET", "/e2e-1", key=None).status == 401
    assert stack.call("DELETE", "/e2e-1", key="wrong").status == 401


def test_cancel_before_sending(stack: Stack) -> None:
    body = {"id": "e2e-cancel", "to": "+33612345678", "body": "Maybe", "sendAt": later(2)}
    assert stack.call("POST", "", body).status == 201
    cancelled = stack.call("DELETE", "/e2e-cancel")
    assert cancelled.status == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert stack.call("DELETE", "/e2e-cancel").status == 200
    assert stack.call("GET", "/e2e-cancel").json()["status"] == "cancelled"
    assert stack.call("DELETE", "/unknown").status == 404


def test_the_host_timer_sends_a_due_schedule_once(stack: Stack) -> None:
    now = datetime.now(UTC)
    body = {"id": "e2e-due", "to": "+33698765432", "body": "Due now", "sendAt": iso(now)}
    assert stack.call("POST", "", body).status == 201
    deadline = time.monotonic() + 30
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = stack.call("GET", "/e2e-due").json()
        if shown["status"] == "sent":
            break
        time.sleep(0.5)
    assert shown["status"] == "sent", shown
    assert shown["sid"].startswith("SM")
    sends = [
        r
        for r in stack.standin.requests(method="POST", resource="Messages")
        if r.status == 201 and r.param("To") == "+33698765432"
    ]
    assert len(sends) == 1
    assert sends[0].param("Body") == "Due now"
    assert sends[0].param("From") == SENDER
    stack.host.wait_for_log("Executed 'Functions.sms_schedule_timer' (Succeeded", timeout=10)
    too_late = stack.call("DELETE", "/e2e-due")
    assert too_late.status == 409
    assert too_late.json()["error"]["code"] == "not_cancellable"
