"""`python -m switchboard numbers wire|check` against the Twilio stand-in and Azurite.

A fresh account (the stand-in's two numbers, one wired to another app, one with nothing), a line
for the main number: `check` shows what differs, `wire --all` points both at the app and
publishes their fallback TwiML to a blob container anonymous GETs can read (Azurite's blob
service, as the fallback account in Azure), `wire` again changes nothing, `check` then agrees.
The fallback document is read as Twilio reads it (GET, with the call's parameters in the query),
parsed as XML, and played through the simulator: the owner's phone rings, then voicemail, then
goodbye.
"""

from __future__ import annotations

import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from click.testing import CliRunner, Result

from devkit.azurite import Azurite
from devkit.simulator import CallSession
from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from tests.e2e.conftest import SCRUBBED_PREFIXES

ACCOUNT_SID = "AC" + "d2" * 16
TOKEN = "numbers-e2e-auth-token-0123456789"
MAIN = "+15017122661"
SECOND = "+15005550010"
OWNER = "+15550001111"
LINE_FORWARD = "+15550002222"
APP = "https://switchboard.example.net"


def parse(twiml: str) -> ET.Element:
    """The app's own TwiML as a tree (its XML, not untrusted input)."""
    return ET.fromstring(twiml)  # noqa: S314


@dataclass
class Account:
    standin: TwilioStandin
    env: dict[str, str]
    container_url: str
    settings_file: str

    def run(self, *args: str) -> Result:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli,
            ["--settings", self.settings_file, *args],
            env={**scrubbed, **self.env},
            catch_exceptions=False,
        )

    def number(self, phone: str) -> dict[str, Any]:
        return next(n for n in self.standin.store.numbers if n["phone_number"] == phone)


@pytest.fixture(scope="module")
def account(
    azurite: Azurite, storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Account]:
    suffix = uuid.uuid4().hex[:10]
    container = f"http://127.0.0.1:{azurite.ports['blob']}/devstoreaccount1/fallback-{suffix}"
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN) as standin:
        env = {
            "AzureWebJobsStorage": storage_connection_string,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": MAIN,
            "TABLE_LINES": "numlines" + suffix,
            "OWNER_NUMBER": OWNER,
            "FALLBACK_CONTAINER_URL": container,
            "VOICE_TTS_VOICE": "Polly.Joanna",
        }
        folder = tmp_path_factory.mktemp("numbers")
        settings_file = folder / "local.settings.json"
        settings_file.write_text('{"Values": {}}', encoding="utf-8")
        found = Account(standin, env, container, str(settings_file))
        line = folder / "main.json"
        line.write_text(
            json.dumps(
                {
                    "name": "Main line",
                    "open": [{"forward": {"to": LINE_FORWARD}}],
                    "sms": {"forwardTo": OWNER},
                }
            ),
            encoding="utf-8",
        )
        done = found.run("lines", "set", MAIN, str(line))
        assert done.exit_code == 0, done.output
        yield found


def test_wire_check_and_the_fallback_callers_hear(account: Account) -> None:
    before = account.run("numbers", "check", "--app", APP)
    assert before.exit_code == 0, before.output
    assert f"{MAIN}  NO" in before.output
    assert f"{SECOND}  NO" in before.output
    assert "2 number(s) to wire" in before.output
    assert f"VoiceUrl: http://localhost:7071/api/voice/incoming -> {APP}/api/voice/incoming" in (
        before.output
    )

    account.standin.clear_requests()
    wired = account.run("numbers", "wire", "--all", "--app", APP)
    assert wired.exit_code == 0, wired.output
    assert "2 wired, 0 already wired" in wired.output
    assert f"{MAIN}: fallback published (dials {OWNER}, then voicemail)" in wired.output
    updates = account.standin.requests(method="POST", resource="IncomingPhoneNumbers")
    assert len(updates) == 2
    main = account.number(MAIN)
    assert main["voice_url"] == f"{APP}/api/voice/incoming"
    assert main["sms_url"] == f"{APP}/api/sms/incoming"
    assert main["status_callback"] == f"{APP}/api/status/call"
    assert main["voice_fallback_method"] == "GET"
    assert main["voice_fallback_url"].startswith(account.container_url + "/voice-15017122661-")
    assert main["sms_fallback_url"].startswith(account.container_url + "/sms-15017122661-")

    # Idempotent: nothing differs, so nothing is sent to Twilio; the same documents are kept.
    account.standin.clear_requests()
    again = account.run("numbers", "wire", "--all", "--app", APP)
    assert again.exit_code == 0, again.output
    assert "0 wired, 2 already wired (unchanged)" in again.output
    assert account.standin.requests(method="POST") == []
    assert account.number(MAIN)["voice_fallback_url"] == main["voice_fallback_url"]

    after = account.run("numbers", "check", "--app", APP, "--json")
    assert after.exit_code == 0, after.output
    report = {n["number"]: n for n in json.loads(after.output)["numbers"]}
    assert report[MAIN] == {
        "number": MAIN,
        "wired": True,
        "differs": {},
        "fallback": "published",
        "line": True,
    }
    assert report[SECOND]["line"] is False
    assert report[SECOND]["fallback"] == "published"

    # What Twilio fetches: a GET with the call's parameters, no credentials.
    url = main["voice_fallback_url"]
    answer = requests.get(
        url, params={"CallSid": "CA" + "0" * 32, "ErrorCode": "11200"}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = parse(answer.text)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Say", "Say", "Dial", "Say", "Record"]
    assert root[0].text == "Thank you for calling Main line."
    assert root[0].get("voice") == "Polly.Joanna"
    assert root.find("Dial/Number").text == OWNER  # the line's sms.forwardTo first
    record = root.find("Record")
    assert record.get("method") == "GET"
    assert record.get("action").endswith("-done.xml")
    # The second number has no line: the owner too, by the settings.
    second = parse(requests.get(account.number(SECOND)["voice_fallback_url"], timeout=10).text)
    assert second.find("Dial/Number").text == OWNER
    sms = parse(requests.get(main["sms_fallback_url"], timeout=10).text)
    assert sms.tag == "Response"
    assert list(sms) == []

    # Played as Twilio plays a fallback: the owner does not answer, the caller leaves a message.
    parts = urlsplit(url)
    transcript = CallSession(
        f"{parts.scheme}://{parts.netloc}",
        path=parts.path,
        method="GET",
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_="+15558675310",
        to=MAIN,
    ).run(dial_status="no-answer")
    assert transcript.ok, transcript.text()
    said = [v.text for v in transcript.verbs if v.name == "Say"]
    assert said[-1] == "Thank you. Goodbye."
    assert transcript.ended_by == "hangup"
    assert [s.method for s in transcript.webhooks] == ["GET", "GET"]


def test_errors_are_one_line_never_a_traceback(account: Account) -> None:
    unknown = account.run("numbers", "wire", "+15551234567", "--app", APP)
    assert unknown.exit_code == 1
    assert "is not a number of this account" in unknown.output
    both = account.run("numbers", "wire", MAIN, "--all", "--app", APP)
    assert both.exit_code == 2
    assert "give a NUMBER or --all" in both.output
    plain = account.run("numbers", "wire", "--all", "--app", "ftp://x")
    assert plain.exit_code == 2
    assert "--app" in plain.output
    assert "Traceback" not in unknown.output + both.output + plain.output


def test_a_local_fallback_container_is_refused_for_real_twilio(account: Account) -> None:
    env = {**account.env, "TWILIO_API_BASE_URL": "https://api.twilio.com"}
    result = CliRunner().invoke(
        cli.cli,
        ["--settings", account.settings_file, "numbers", "wire", "--all", "--app", APP],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert "FALLBACK_CONTAINER_URL is on this machine" in result.output
