"""Incoming SMS, opt-outs and message status callbacks through the local Functions host.

One `python -m devkit host` over the project (module scope) with the session Azurite and the
Twilio stand-in; inbound texts come from the simulator (`python -m devkit sms` once as a command,
then its library), outbound ones go through the app's Twilio client to the stand-in, whose signed
status callbacks reach the host's `/api/status/message`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.simulator import SmsResult, send_sms, sign_and_post
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.logbook.statuses import Kind, status_callback_url
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How, OptedOut, ensure_can_text
from switchboard.optouts.store import OptOutStore
from switchboard.outbound.messagelog import record_outbound
from switchboard.settings import Settings, load_settings
from switchboard.storage import tables
from switchboard.twilio import client as twilio_client
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "e2" * 16
TOKEN = "sms-e2e-auth-token-0123456789abcd"
BUSINESS = "+15017122661"
OWNER = "+15005550006"
AUTO_REPLY = "Thanks! We'll text you back soon."
HELP_TEXT = "Acme Plumbing: call 555-0100. Reply STOP to opt out."


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    settings: Settings
    messages: RecordStore
    optouts: OptOutStore


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TABLE_MESSAGE_LOG": "e2emsg" + suffix,
            "TABLE_CALL_LOG": "e2ecall" + suffix,
            "TABLE_OPT_OUT": "e2eopt" + suffix,
            "SMS_AUTO_REPLY": AUTO_REPLY,
            "SMS_HELP_TEXT": HELP_TEXT,
            "OWNER_NUMBER": OWNER,
            # Settings other functions of the app need for the host to start (their triggers).
            "OUTBOUND_CALL_QUEUE": "e2e-sms-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        host = run_host_module(PROJECT_ROOT, env)
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        yield Stack(
            host,
            standin,
            settings,
            RecordStore.messages(settings),
            OptOutStore.from_settings(settings),
        )


def new_sender() -> str:
    """A fresh sender number per test, so tests never see each other's opt-outs."""
    return "+1555" + str(uuid.uuid4().int)[:7]


def text(stack: Stack, sender: str, body: str, media: tuple[str, ...] = ()) -> SmsResult:
    result = send_sms(
        stack.host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=sender,
        to=BUSINESS,
        body=body,
        media_urls=media,
    )
    assert result.status == 200, result.lines
    assert not result.errors, result.errors
    return result


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_stop_through_the_devkit_command_then_start(stack: Stack) -> None:
    sender = new_sender()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PUBLIC_"))},
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": "",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devkit",
            "sms",
            "--from",
            sender,
            "--to",
            BUSINESS,
            "--body",
            " stop ",
            "--app",
            stack.host.url,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entity = tables.get_or_none(stack.optouts.table, sender, "optout")
    assert entity is not None
    assert (entity["How"], entity["Keyword"], entity["BusinessNumber"]) == (
        "keyword",
        "STOP",
        BUSINESS,
    )
    with pytest.raises(OptedOut):
        ensure_can_text(sender, stack.optouts)

    started = text(stack, sender, "Start")
    assert started.messages == []
    assert tables.get_or_none(stack.optouts.table, sender, "optout") is None
    ensure_can_text(sender, stack.optouts)


def test_help_gets_the_help_text(stack: Stack) -> None:
    result = text(stack, new_sender(), "help")
    assert [(m.body, m.to) for m in result.messages] == [(HELP_TEXT, None)]


def test_normal_text_gets_auto_reply_and_escaped_owner_forward(stack: Stack) -> None:
    sender = new_sender()
    body = "Leak at <b>Main & 5th</b> ]]> now!"
    result = text(stack, sender, body)
    assert "&lt;b&gt;Main &amp; 5th&lt;/b&gt; ]]&gt;" in result.twiml
    assert [(m.body, m.to) for m in result.messages] == [
        (AUTO_REPLY, None),
        (f"From {sender}: {body}", OWNER),
    ]
    record = stack.messages.get(result.message_sid)
    assert record is not None
    assert (record["Direction"], record["From"], record["Body"], record["Status"]) == (
        "inbound",
        sender,
        body,
        "received",
    )


def test_mms_is_logged_with_media_urls(stack: Stack) -> None:
    sender = new_sender()
    media = ("https://example.com/photos/leak.jpg", "https://example.com/photos/meter.png")
    result = text(stack, sender, "photos", media)
    (forward,) = [m for m in result.messages if m.to == OWNER]
    assert forward.media == list(media)
    record = stack.messages.get(result.message_sid)
    assert record is not None
    json_record = records.to_json(record)
    assert json_record["numMedia"] == 2
    assert json_record["mediaUrls"] == list(media)
    assert json_record["mediaContentTypes"] == ["image/jpeg", "image/png"]


def test_forged_signature_is_403_and_writes_nothing(stack: Stack) -> None:
    sender = new_sender()
    sid = "SM" + uuid.uuid4().hex
    before = len(list(stack.messages.table.list_entities()))
    response = sign_and_post(
        stack.host.api("sms/incoming"),
        {
            "MessageSid": sid,
            "From": sender,
            "To": BUSINESS,
            "Body": "STOP",
            "NumMedia": "0",
            "AccountSid": ACCOUNT_SID,
        },
        auth_token="not-the-auth-token",
    )
    assert response.status == 403
    assert "<Response" not in response.body
    status_response = sign_and_post(
        stack.host.api("status/message"),
        {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610", "To": sender},
        auth_token="not-the-auth-token",
    )
    assert status_response.status == 403
    assert len(list(stack.messages.table.list_entities())) == before
    assert stack.optouts.get(sender) is None


def _send(stack: Stack, to: str, body: str) -> str:
    ensure_can_text(to, stack.optouts)
    client = twilio_client.build_client(stack.settings)
    created = twilio_client.send_sms(
        client,
        to=to,
        body=body,
        from_=BUSINESS,
        status_callback=status_callback_url(stack.host.url, Kind.MESSAGE),
    )
    record_outbound(
        stack.messages, created.sid, to, BUSINESS, body, (), "test", status=created.status
    )
    return created.sid


def test_standin_callbacks_take_the_message_to_delivered(stack: Stack) -> None:
    # Every callback twice, in shuffled order: the record still ends delivered.
    stack.standin.configure_callbacks(duplicates=1, shuffle=True)
    try:
        to = new_sender()
        sid = _send(stack, to, "Your plumber arrives at 9.")
        assert stack.standin.wait_idle(15)
        record = wait_for(
            lambda: (r := stack.messages.get(sid)) and r["Status"] == "delivered" and r, 10
        )
        assert record, stack.messages.get(sid)
        assert (record["Direction"], record["Body"], record["Source"]) == (
            "outbound",
            "Your plumber arrives at 9.",
            "test",
        )
        assert not record.get("Unknown")
        deliveries = stack.standin.callbacks(sid, "message-status")
        assert {d.params["MessageStatus"] for d in deliveries} >= {"sent", "delivered"}
        assert all(d.status == 204 for d in deliveries), [(d.status, d.error) for d in deliveries]
    finally:
        stack.standin.configure_callbacks(duplicates=0, shuffle=False)


def test_21610_in_a_callback_records_an_opt_out(stack: Stack) -> None:
    to = new_sender()
    stack.standin.set_message_outcome(to, "failed", 21610)
    sid = _send(stack, to, "Reminder")
    assert stack.standin.wait_idle(15)
    opted = wait_for(lambda: stack.optouts.get(to), 10)
    assert opted is not None
    assert (opted.how, opted.message_sid) == (How.TWILIO_21610, sid)
    record = stack.messages.get(sid)
    assert record is not None
    assert (record["Status"], record["ErrorCode"]) == ("failed", 21610)
    with pytest.raises(OptedOut):
        ensure_can_text(to, stack.optouts)
