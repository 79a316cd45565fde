"""Lines end to end: two `python -m devkit host` processes against one Azurite, the Twilio
stand-in as the account, the simulator calling as Twilio does.

- the operator API: PUT with If-Match (201, 428, 412, 200), GET with its ETag, a bad document
  named by its JSON pointer, a number that is not the account's, history, status, the schema;
- two lines with different hours and greetings answer differently at the same instant;
- a holiday's partial hours: open in the morning, the holiday greeting in the afternoon (the
  two hosts run at those two instants, `LINES_CLOCK`);
- an override set with the command line is heard on a host's next call within the TTL, and a
  clear through the other host's API as well;
- a deleted line falls back to the default line (the `VOICE_*` settings).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from devkit.simulator import CallSession, Transcript, send_sms
from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from tests.conftest import SCRUBBED_PREFIXES
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "3f" * 16
TOKEN = "lines-e2e-auth-token-0123456789ab"
KEY = "lines-e2e-function-key"
PUBLIC = "https://lines-e2e.example.com"
MAIN = "+15017122661"
SUPPORT = "+15017122662"
UNLISTED = "+15017122663"
CALLER = "+15558675310"
TTL = 3
MORNING = "2026-12-24T09:00:00-05:00"  # Christmas Eve, 09:00 in New York (06:00 in LA)
AFTERNOON = "2026-12-24T14:00:00-05:00"  # 14:00 in New York (11:00 in LA)

MAIN_LINE: dict[str, Any] = {
    "name": "Main line",
    "timeZone": "America/New_York",
    "hours": {"mon-fri": ["08:30-17:30"]},
    "holidays": [
        {"date": "12-24", "hours": ["08:30-12:00"], "name": "Christmas Eve"},
        {"date": "12-25", "name": "Christmas"},
    ],
    "greeting": {
        "open": {"say": "Thanks for calling Acme."},
        "closed": {"say": "Acme is closed."},
        "holiday": {"say": "Happy holidays from Acme."},
    },
    "closed": [{"voicemail": {"prompt": {"say": "Leave us a message."}}}],
    "sms": {
        "autoReply": "Acme here: we will text you back.",
        "closedReply": "Acme is closed today.",
    },
}
SUPPORT_LINE: dict[str, Any] = {
    "name": "Support",
    "timeZone": "America/Los_Angeles",
    "hours": {"mon-fri": ["09:00-18:00"]},
    "greeting": {
        "open": {"say": "Acme support, hello."},
        "closed": {"play": "https://example.com/support-closed.mp3"},
    },
    "open": [{"say": "All our agents are busy."}, {"hangup": {}}],
    "closed": [{"hangup": {}}],
}


@dataclass
class Stack:
    morning: HostHandle
    afternoon: HostHandle
    env: dict[str, str]
    settings_file: Path

    def api(
        self, host: HostHandle, method: str, path: str, body: Any = None, **headers: str
    ) -> Any:
        sent = {"x-functions-key": KEY, **headers}
        data = None if body is None else json.dumps(body)
        if data is not None:
            sent["Content-Type"] = "application/json"
        return host.request(method, f"/api/{path}", headers=sent, body=data)

    def call(self, host: HostHandle, to: str, **run: Any) -> Transcript:
        transcript = CallSession(
            host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            public_base_url=PUBLIC,
            from_=CALLER,
            to=to,
        ).run(**run)
        assert transcript.ok, transcript.text()
        return transcript

    def cli(self, *args: str) -> Any:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli, ["--settings", str(self.settings_file), *args], env=scrubbed
        )


def greeting(transcript: Transcript) -> str:
    first = transcript.steps[0].verbs[0]
    return first.text


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    numbers = [{"phone_number": MAIN}, {"phone_number": SUPPORT}]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, numbers=numbers) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "PUBLIC_BASE_URL": PUBLIC,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_LINES": "lines" + suffix,
            "TABLE_CALL_LOG": "linescalls" + suffix,
            "LINES_CACHE_SECONDS": str(TTL),
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
            "VOICE_VOICEMAIL": "false",
            "SMS_AUTO_REPLY": "Thanks, the app's default reply.",
        }
        morning = run_host_module(PROJECT_ROOT, {**env, "LINES_CLOCK": MORNING})
        afternoon = run_host_module(PROJECT_ROOT, {**env, "LINES_CLOCK": AFTERNOON})
        folder = tmp_path_factory.mktemp("lines-cli")
        settings_file = folder / "local.settings.json"
        values = {**env, "AzureWebJobsStorage": storage_connection_string}
        settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
        yield Stack(morning, afternoon, {**values}, settings_file)


def test_put_get_preconditions_and_history(stack: Stack) -> None:
    host = stack.morning
    created = stack.api(host, "PUT", f"lines/{MAIN}", MAIN_LINE)
    assert created.status == 201, created.text
    assert created.headers["etag"] == '"1"'
    assert created.json()["number"] == MAIN
    blind = stack.api(host, "PUT", f"lines/{MAIN}", MAIN_LINE)
    assert blind.status == 428
    assert blind.json()["error"]["field"] == "If-Match"
    stale = stack.api(host, "PUT", f"lines/{MAIN}", MAIN_LINE, **{"If-Match": '"7"'})
    assert stale.status == 412
    replaced = stack.api(host, "PUT", f"lines/{MAIN}", MAIN_LINE, **{"If-Match": '"1"'})
    assert replaced.status == 200
    assert replaced.headers["etag"] == '"2"'
    fetched = stack.api(host, "GET", f"lines/{MAIN}")
    assert fetched.status == 200
    assert fetched.headers["etag"] == '"2"'
    assert fetched.json()["holidays"] == MAIN_LINE["holidays"]
    history = stack.api(host, "GET", f"lines/{MAIN}/history?limit=1").json()
    assert [v["version"] for v in history["items"]] == [2]
    older = stack.api(host, "GET", f"lines/{MAIN}/history?cursor={history['nextCursor']}")
    assert [v["version"] for v in older.json()["items"]] == [1]
    assert older.json()["nextCursor"] is None
    assert stack.api(host, "PUT", f"lines/{SUPPORT}", SUPPORT_LINE).status == 201


def test_errors_name_the_pointer_and_the_account_is_checked(stack: Stack) -> None:
    host = stack.morning
    bad = {**SUPPORT_LINE, "open": [{"forward": {"to": "555-1234"}}]}
    answer = stack.api(host, "PUT", f"lines/{SUPPORT}", bad, **{"If-Match": "*"})
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["field"] == "/open/0/forward/to"
    assert error["errors"][0]["message"].startswith("must be an E.164 phone number")
    unlisted = stack.api(host, "PUT", f"lines/{UNLISTED}", SUPPORT_LINE)
    assert unlisted.status == 400
    assert unlisted.json()["error"]["code"] == "not_account_number"
    assert stack.api(host, "GET", f"lines/{UNLISTED}").status == 404
    assert stack.api(host, "PUT", f"lines/{UNLISTED}?force=true", SUPPORT_LINE).status == 201
    assert stack.api(host, "DELETE", f"lines/{UNLISTED}").status == 200
    assert stack.api(host, "GET", "lines/not-a-number").status == 400


def test_schema_and_listing(stack: Stack) -> None:
    schema = stack.api(stack.morning, "GET", "lines/schema")
    assert schema.status == 200
    assert schema.headers["content-type"].startswith("application/schema+json")
    assert schema.json()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    listed = stack.api(stack.morning, "GET", "lines").json()["items"]
    assert {item["number"] for item in listed} >= {MAIN, SUPPORT}


def test_two_lines_answer_differently_at_the_same_instant(stack: Stack) -> None:
    main = stack.call(stack.morning, MAIN)
    support = stack.call(stack.morning, SUPPORT)
    # 09:00 in New York on Christmas Eve: Main is open for its partial holiday hours; Support
    # (06:00 in Los Angeles) is closed and plays its recording.
    assert greeting(main) == "Thanks for calling Acme."
    assert support.steps[0].verbs[0].name == "Play"
    assert support.steps[0].verbs[0].text == "https://example.com/support-closed.mp3"
    status = stack.api(stack.morning, "GET", f"lines/{MAIN}/status").json()
    assert (status["state"], status["reason"], status["holiday"]) == (
        "open",
        "holiday",
        "Christmas Eve",
    )
    assert status["nextChange"]["at"].startswith("2026-12-24T12:00:00")


def test_a_holidays_partial_hours(stack: Stack) -> None:
    afternoon = stack.call(stack.afternoon, MAIN)
    assert greeting(afternoon) == "Happy holidays from Acme."
    assert [v.name for v in afternoon.steps[0].verbs][1:3] == ["Say", "Record"]
    support = stack.call(stack.afternoon, SUPPORT)
    assert greeting(support) == "Acme support, hello."  # 11:00 in Los Angeles: open
    status = stack.api(stack.afternoon, "GET", f"lines/{MAIN}/status").json()
    assert (status["state"], status["reason"]) == ("closed", "holiday")
    assert status["nextChange"]["at"].startswith("2026-12-28T08:30:00")  # Monday after Christmas


def test_an_override_from_the_cli_is_heard_within_the_ttl(stack: Stack) -> None:
    host = stack.morning
    assert greeting(stack.call(host, MAIN)) == "Thanks for calling Acme."  # cached: open
    done = stack.cli("lines", "override", MAIN, "closed", "--until", "2026-12-24T23:00:00-05:00")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["reason"] == "override"
    written = time.monotonic()
    heard = None
    while time.monotonic() - written < TTL + 5:
        if greeting(stack.call(host, MAIN)) == "Acme is closed.":
            heard = time.monotonic() - written
            break
        time.sleep(0.5)
    assert heard is not None, "the override was not heard"
    assert heard <= TTL + 2
    cleared = stack.api(stack.afternoon, "POST", f"lines/{MAIN}/override", {"clear": True})
    assert cleared.status == 200, cleared.text
    deadline = time.monotonic() + TTL + 5
    while greeting(stack.call(host, MAIN)) != "Thanks for calling Acme.":
        assert time.monotonic() < deadline, "the cleared override was still heard"
        time.sleep(0.5)
    history = stack.api(host, "GET", f"lines/{MAIN}/history").json()["items"]
    assert [v["change"] for v in history[:2]] == ["clear-override", "override"]


def test_the_cli_exports_and_imports_lines(stack: Stack, tmp_path: Path) -> None:
    exported = stack.cli("lines", "export", str(tmp_path))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / f"{MAIN}.json").exists()
    again = stack.cli("lines", "import", str(tmp_path))
    assert again.exit_code == 0, again.output
    assert "0 created, 0 replaced, 2 unchanged" in again.output
    (tmp_path / f"{SUPPORT}.json").write_text(json.dumps({"timeZone": "Mars/Base"}))
    refused = stack.cli("lines", "import", str(tmp_path))
    assert refused.exit_code == 2
    assert "nothing imported" in refused.output
    assert "/timeZone" in refused.output


def test_a_deleted_line_falls_back_to_the_default_line(stack: Stack) -> None:
    deleted = stack.api(stack.morning, "DELETE", f"lines/{SUPPORT}", **{"If-Match": "*"})
    assert deleted.status == 200, deleted.text
    deadline = time.monotonic() + TTL + 5
    while True:
        transcript = stack.call(stack.morning, SUPPORT)
        if greeting(transcript) == "Hello from Azure.":  # the classic default greeting
            break
        assert time.monotonic() < deadline, transcript.text()
        time.sleep(0.5)
    assert stack.api(stack.morning, "GET", f"lines/{SUPPORT}").status == 404
    status = stack.api(stack.morning, "GET", f"lines/{SUPPORT}/status").json()
    assert (status["line"], status["state"]) == ("default", "open")
    calls = RecordStore.calls(load_settings(stack.env))
    record = calls.get(transcript.call_sid)
    assert record is not None
    assert record.get("Line") in (None, "")


def test_texts_get_the_lines_reply_for_its_state(stack: Stack) -> None:
    def reply(host: HostHandle, sender: str, to: str) -> list[str]:
        result = send_sms(
            host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            public_base_url=PUBLIC,
            from_=sender,
            to=to,
            body="Are you open?",
        )
        assert result.ok, result.text()
        return [m.body for m in result.messages if m.to in (None, sender)]

    # Main is open in the morning (its autoReply), closed in the afternoon (its closedReply);
    # Support has no sms entry: the app's SMS_AUTO_REPLY.
    assert reply(stack.morning, "+15558670011", MAIN) == ["Acme here: we will text you back."]
    assert reply(stack.afternoon, "+15558670012", MAIN) == ["Acme is closed today."]
    assert reply(stack.morning, "+15558670013", SUPPORT) == ["Thanks, the app's default reply."]
