"""Texts blocked as unregistered, end to end: 30 texts to US numbers through `POST /api/messages`
on `python -m devkit host`, from a number the Twilio stand-in treats as unregistered (every
text ends `undelivered` with 30034, as Twilio answers for a 10DLC number on no campaign). The
stand-in's signed status callbacks reach `POST /api/status/message`; then `GET /api/health`
shows one problem (not 30), the owner got one e-mail and one text (from the account's other
number), every message's record says why, and the command line says the same."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES, HostFactory, HostHandle
from tests.mail_server import MailServer

ACCOUNT_SID = "AC" + "25" * 16
TOKEN = "delivery-problems-e2e-auth-token-0123"
BUSINESS = "+15017122661"  # the stand-in account's main number: not registered
SECOND = "+15005550010"  # the account's other number
OWNER = "+15005550006"
OWNER_MAIL = "owner@acme.example"
CUSTOMERS = [f"+1201555{n:04d}" for n in range(100, 130)]  # 30 US numbers
WORDS = "not registered (A2P 10DLC)"


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    mail: MailServer
    env: dict[str, str]
    settings_file: Path

    def run(self, *args: str) -> Result:
        """`python -m switchboard ...` in-process, with the host's settings."""
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli,
            ["--settings", str(self.settings_file), *args],
            env={**scrubbed, **self.env},
            catch_exceptions=False,
        )

    def texts_to(self, number: str) -> list[Any]:
        return [
            r
            for r in self.standin.requests(method="POST", resource="Messages")
            if r.param("To") == number and r.status == 201
        ]


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with (
        TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=0) as standin,
        MailServer() as mail,
    ):
        env = {
            "AzureWebJobsStorage": storage_connection_string,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "OWNER_NUMBER": OWNER,
            "OWNER_EMAIL": OWNER_MAIL,
            **mail.settings(),
            "TABLE_MESSAGE_LOG": "dpmsg" + suffix,
            "TABLE_CALL_LOG": "dpcall" + suffix,
            "TABLE_OPT_OUT": "dpopt" + suffix,
            "TABLE_SMS_SCHEDULE": "dpsch" + suffix,
            "TABLE_LINES": "dplines" + suffix,
            "TABLE_INBOX_USERS": "dpusers" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        settings_file = tmp_path_factory.mktemp("problems") / "local.settings.json"
        settings_file.write_text(json.dumps({"Values": {}}), encoding="utf-8")
        standin.set_sender_outcome(BUSINESS, "undelivered", 30034)
        # No PUBLIC_BASE_URL: a send through the loopback host gets its callback there.
        host = run_host_module(PROJECT_ROOT, env)
        yield Stack(host, standin, mail, env, settings_file)


@pytest.fixture(scope="module")
def sent(stack: Stack) -> list[str]:
    """The 30 texts, sent, and every status callback of theirs delivered and answered."""
    sids = []
    for to in CUSTOMERS:
        response = stack.host.request(
            "POST", "/api/messages", body=json.dumps({"to": to, "body": "Your order is ready."})
        )
        assert response.status == 201, response.text
        sids.append(response.json()["sid"])
    assert stack.standin.wait_idle(60)
    for sid in sids:
        deliveries = stack.standin.callbacks(sid, kind="message-status")
        assert [d.params["MessageStatus"] for d in deliveries] == ["queued", "sent", "undelivered"]
        assert [d.status for d in deliveries] == [204, 204, 204], deliveries
        assert deliveries[-1].params["ErrorCode"] == "30034"
    return sids


def test_health_shows_one_problem_not_thirty(stack: Stack, sent: list[str]) -> None:
    response = stack.host.request("GET", "/api/health")
    assert response.status == 503, response.text
    report = response.json()
    assert report["status"] == "degraded"
    messaging = report["messaging"]
    assert set(messaging) == {"ok", "registration", "lines"}
    assert messaging["ok"] is False
    sentence = messaging["registration"]
    assert sentence.startswith(
        f"30 texts from {BUSINESS} were blocked as unregistered (A2P 10DLC, error 30034) since "
    )
    assert "register an A2P 10DLC brand and campaign" in sentence
    assert f"by e-mail to {OWNER_MAIL}; by text to {OWNER} from {SECOND}" in sentence
    line = messaging["lines"][BUSINESS]["registration"]
    assert (line["texts"], line["codes"]) == (30, {"30034": 30})
    assert line["lastError"] == "US A2P 10DLC - Message from an Unregistered Number"


def test_the_owner_is_told_once_by_e_mail_and_by_text_from_another_number(
    stack: Stack, sent: list[str]
) -> None:
    assert [m["To"] for m in stack.mail.messages] == [OWNER_MAIL]
    mail = stack.mail.messages[0]
    assert mail["Subject"] == f"Texts from {BUSINESS} are not delivered: {WORDS}"
    assert "python -m switchboard outbound clear +15017122661" in mail.get_content()
    [notice] = stack.texts_to(OWNER)
    assert notice.param("From") == SECOND
    assert str(notice.param("Body")).startswith(
        f"Switchboard: 1 text from {BUSINESS} was blocked as unregistered"
    )


def test_each_message_says_why(stack: Stack, sent: list[str]) -> None:
    for sid in sent:
        response = stack.host.request("GET", f"/api/messages/{sid}")
        assert response.status == 200, response.text
        record = response.json()
        assert (record["status"], record["error"]["code"], record["problem"]) == (
            "undelivered",
            30034,
            WORDS,
        )
    listed = stack.run("messages", "list", "--limit", "40")
    assert listed.exit_code == 0, listed.output
    assert listed.output.count(f"undelivered: {WORDS}") == 30


def test_the_command_line_says_it_once_and_clear_forgets_it(stack: Stack, sent: list[str]) -> None:
    health = stack.run("health")
    assert health.exit_code == 1, health.output
    assert health.output.count("TEXTS BLOCKED (not registered): 30 texts from") == 1
    status = stack.run("outbound", "status")
    assert status.exit_code == 0, status.output
    assert "Texts registration: 30 texts from" in status.output
    cleared = stack.run("outbound", "clear", BUSINESS)
    assert cleared.exit_code == 0, cleared.output
    assert cleared.output.strip() == f"Cleared the delivery problems of {BUSINESS} (1)"
    report = stack.host.request("GET", "/api/health").json()
    assert report["messaging"] == {"ok": True, "lines": {}}
    bad = stack.run("outbound", "clear", "15017122661")
    assert bad.exit_code == 2
    assert "E.164" in bad.output
