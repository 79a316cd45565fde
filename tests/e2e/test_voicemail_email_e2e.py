"""The `voicemail_email` queue trigger served by `python -m devkit host`: a voicemail's notice,
queued as the voice webhook queues it (base64 on `voicemail-email`), is delivered by the host's
trigger to a real SMTP server with the recording the host fetched from the Twilio stand-in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard.lines.document import parse_line
from switchboard.lines.model import VoicemailStep
from switchboard.logbook.store import RecordStore
from switchboard.settings import Settings, load_settings
from switchboard.voicemail.notices import RecordingEvent
from switchboard.voicemail.notify import on_recording
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle
from tests.mail_server import MailServer

ACCOUNT_SID = "AC" + "8c" * 16
TOKEN = "voicemail-e2e-auth-token-01234567"
LINE_NUMBER = "+15017122661"


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    mail: MailServer
    settings: Settings


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with (
        TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN) as standin,
        MailServer() as mail,
    ):
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TABLE_CALL_LOG": "vmcall" + suffix,
            "TABLE_SMS_SCHEDULE": "vmsch" + suffix,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mail.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": "voicemail@acme.example",
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        host = run_host_module(PROJECT_ROOT, env)
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        yield Stack(host, standin, mail, settings)


def test_the_host_delivers_the_queued_email_once_with_the_recording(stack: Stack) -> None:
    call_sid = "CA" + uuid.uuid4().hex
    RecordStore.calls(stack.settings).create(
        call_sid,
        {"Sid": call_sid, "Direction": "inbound", "From": "+12015550123", "To": LINE_NUMBER},
    )
    recording = stack.standin.add_recording(call_sid=call_sid, duration=12)
    event = RecordingEvent(
        call_sid=call_sid,
        recording_sid=recording["sid"],
        recording_url=recording["media_url"],
        caller="+12015550123",
        called=LINE_NUMBER,
        duration=12,
        recording_status="completed",
    )
    line = parse_line({"name": "Main line", "closed": [{"voicemail": {}}]}, LINE_NUMBER)[1]
    step = VoicemailStep(notify_email=("ann@example.com",))
    for _ in range(2):  # a retried recording status callback: two messages, one e-mail
        assert on_recording(event, line, step, stack.settings).email == {
            "ann@example.com": "queued"
        }
    done = "Executed 'Functions.voicemail_email' (Succeeded"
    deadline = time.monotonic() + 30
    while stack.host.log_text().count(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.host.log_text().count(done) == 2  # each message ran once, and returned
    [message] = stack.mail.messages
    assert str(message["Subject"]).strip() == "Voicemail from +1 201-555-0123 on Main line (0:12)"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content() == stack.standin.recording_audio(recording["sid"], "mp3")
