"""Reminders that take replies, through the local Functions host: a reminder created over the
API is sent by the host's timer; the customer's "c " (signed, from the simulator) comes back
answered and the reminder is `confirmed` in the API, `schedules show`, `schedules list --from`
and `schedules export`; a reply after `replyUntil` is an ordinary text (the auto-reply)."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from devkit.simulator import SmsResult, send_sms
from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from switchboard.outbound import wording
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "3b" * 16
TOKEN = "reminders-e2e-auth-token-0123456789"
KEY = "reminders-e2e-function-key"
LINE = "+15017122661"
AUTO_REPLY = "Thanks! We will text you back soon."


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    settings_file: Path

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        answer = self.host.request(
            method,
            f"/api/sms/schedules{path}",
            headers={"x-functions-key": KEY, "Content-Type": "application/json"},
            body=data,
        )
        return answer.status, answer.json()

    def text(self, sender: str, body: str) -> SmsResult:
        result = send_sms(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            from_=sender,
            to=LINE,
            body=body,
        )
        assert result.status == 200, result.lines
        return result

    def cli(self, *args: str) -> Result:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli, ["--settings", str(self.settings_file), *args], env=scrubbed
        )

    def sent(self, schedule_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The schedule once the host's timer has sent it (polled: the timer runs every 2 s)."""
        deadline = time.monotonic() + timeout
        while True:
            status, shown = self.api("GET", f"/{schedule_id}")
            assert status == 200, shown
            if shown["status"] == "sent" or time.monotonic() > deadline:
                assert shown["status"] == "sent", shown
                return dict(shown)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": LINE,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_SMS_SCHEDULE": "e2erem" + suffix,
            "TABLE_MESSAGE_LOG": "e2eremmsg" + suffix,
            "TABLE_OPT_OUT": "e2eremopt" + suffix,
            "TABLE_CALL_LOG": "e2eremcall" + suffix,
            "OUTBOUND_CALL_QUEUE": "e2e-rem-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "*/2 * * * * *",
            "SMS_AUTO_REPLY": AUTO_REPLY,
        }
        host = run_host_module(PROJECT_ROOT, env)
        settings_file = tmp_path_factory.mktemp("reminders") / "local.settings.json"
        values = {**env, "AzureWebJobsStorage": storage_connection_string}
        settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
        yield Stack(host, standin, settings_file)


def customer() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def now_iso(seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def test_a_reminder_with_c_and_x_gets_c_back_and_is_confirmed(stack: Stack) -> None:
    dana = customer()
    status, created = stack.api(
        "POST",
        "",
        {
            "id": "appt-42",
            "to": dana,
            "body": "Your appointment is tomorrow at 9. Reply C to confirm, X to cancel.",
            "sendAt": now_iso(),
            "timeZone": "America/New_York",
            "replies": {"C": "confirmed", "X": "cancelled"},
        },
    )
    assert status == 201, created
    assert created["replies"]["C"] == {
        "means": "confirmed",
        "answer": wording.reminder_answer("confirmed"),
        "notify": False,
    }
    assert created["replies"]["X"]["notify"] is True
    sent = stack.sent("appt-42")
    assert "response" not in sent
    assert sent["replyUntil"] > sent["sentAt"]

    answer = stack.text(dana, "c ")
    assert [(m.to, m.body) for m in answer.messages] == [
        (None, wording.reminder_answer("confirmed"))
    ]
    status, shown = stack.api("GET", "/appt-42")
    assert (shown["status"], shown["response"]) == ("sent", "confirmed")
    assert shown["respondedAt"] >= shown["sentAt"]

    show = stack.cli("schedules", "show", "appt-42")
    assert show.exit_code == 0, show.output
    assert json.loads(show.output)["response"] == "confirmed"
    day = shown["sendAt"][:10]
    listed = stack.cli("schedules", "list", "--from", day)
    assert listed.exit_code == 0, listed.output
    (line,) = [row for row in listed.output.splitlines() if "appt-42" in row]
    assert f"confirmed ({shown['respondedAt']})" in line
    exported = stack.cli("schedules", "export", "--from", day)
    assert exported.exit_code == 0, exported.output
    (row,) = [r for r in csv.DictReader(io.StringIO(exported.output)) if r["id"] == "appt-42"]
    assert (row["replies"], row["response"], row["respondedAt"]) == (
        "C=confirmed;X=cancelled",
        "confirmed",
        shown["respondedAt"],
    )


def test_a_reply_after_reply_until_is_an_ordinary_text(stack: Stack) -> None:
    eli = customer()
    status, created = stack.api(
        "POST",
        "",
        {
            "id": "appt-43",
            "to": eli,
            "body": "Your appointment was today at 9. Reply C to confirm.",
            "sendAt": now_iso(-60),
            "replies": {"C": "confirmed"},
            "replyUntil": now_iso(-30),
        },
    )
    assert status == 201, created
    stack.sent("appt-43")
    answer = stack.text(eli, "C")
    assert [(m.to, m.body) for m in answer.messages] == [(None, AUTO_REPLY)]
    status, shown = stack.api("GET", "/appt-43")
    assert "response" not in shown


def test_replies_are_checked_in_the_api_and_the_cli(stack: Stack) -> None:
    status, refused = stack.api(
        "POST",
        "",
        {"to": customer(), "body": "x", "sendAt": now_iso(3600), "replies": {"stop": "cancelled"}},
    )
    assert status == 400
    assert refused["error"]["field"] == "/replies/stop"
    bad = stack.cli(
        "sms", "schedule", "--to", customer(), "--body", "x", "--send-at", now_iso(3600),
        "--replies", "C=confirmed;Quit=cancelled",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "/replies/Quit" in bad.output
    good = stack.cli(
        "sms", "schedule", "--to", customer(), "--body", "Tomorrow at 9: C or X",
        "--send-at", now_iso(3600), "--id", "appt-44", "--replies", "C=confirmed;X=cancelled",
    )  # fmt: skip
    assert good.exit_code == 0, good.output
    status, shown = stack.api("GET", "/appt-44")
    assert sorted(shown["replies"]) == ["C", "X"]


def test_the_days_listing_refuses_ranges_it_cannot_read(stack: Stack) -> None:
    for args, message in (
        (("schedules", "list", "--to", "2026-12-01"), "--to needs --from"),
        (("schedules", "list", "--from", "2026-12-02", "--to", "2026-12-01"), "before --from"),
        (("schedules", "export", "--from", "2026-01-01", "--to", "2026-03-01"), "31 days"),
        (("schedules", "export", "--from", "tomorrow"), "tomorrow"),
    ):
        result = stack.cli(*args)
        assert result.exit_code == 2, result.output
        assert message in result.output
    empty = stack.cli("schedules", "list", "--from", "2031-01-01", "--json")
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.output) == {"items": []}
