"""Voicemail e-mails end to end below the host: `on_recording` against the session Azurite, the
`voicemail-email` queue drained as the Functions host would, the recording fetched from the
Twilio stand-in, and a real SMTP server (aiosmtpd) whose received messages are parsed with
`email`: what arrives, once, with the audio attached; retried with backoff when the server
refuses or fails, then delivered once; recorded when it never works."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line, VoicemailStep
from switchboard.logbook.store import RecordStore
from switchboard.mail import smtp
from switchboard.schedules.rules import RetryPolicy
from switchboard.settings import Settings, load_settings
from switchboard.storage import queues
from switchboard.voicemail import emails, mailing, notices
from switchboard.voicemail.notices import RecordingEvent
from switchboard.voicemail.notify import email_enqueuer, on_recording
from switchboard.voicemail.outbox import Outbox
from tests.mail_server import MailServer
from tests.storage_identity import self_signed_certificate

LINE_NUMBER = "+15017122661"
CALLER = "+12015550123"
SENDER = "Acme Voicemail <voicemail@acme.example>"
FAST = RetryPolicy(base=timedelta(seconds=0.4), cap=timedelta(seconds=2), max_attempts=4, jitter=0)
RECORDED_AT = datetime(2026, 12, 1, 14, 41, 5, tzinfo=UTC)  # 09:41 EST in New York


STANDIN_SEED = 18  # its own SIDs and numbers (the stand-in fixture: conftest)


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def settings(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str, mail: MailServer
) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TABLE_CALL_LOG": unique_name,
            "TABLE_SMS_SCHEDULE": unique_name + "sch",
            "TABLE_MESSAGE_LOG": unique_name + "msg",
            "TABLE_OPT_OUT": unique_name + "opt",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mail.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": SENDER,
        }
    )


@pytest.fixture
def queue(unique_name: str) -> str:
    return unique_name + "-mail"


def main_line() -> Line:
    document = {
        "name": "Main line",
        "timeZone": "America/New_York",
        "closed": [{"voicemail": {"notify": {"email": ["ann@example.com"]}}}],
    }
    return parse_line(document, LINE_NUMBER)[1]


def step(
    *, transcribe: bool, wait: int = 60, emails: tuple[str, ...] = ("ann@example.com",)
) -> VoicemailStep:
    return VoicemailStep(transcribe=transcribe, notify_email=emails, transcript_wait=wait)


def call_with_recording(
    twilio: TwilioStandin, settings: Settings, duration: int = 37
) -> RecordingEvent:
    """A call in CallLog (as the voice flow wrote it) and its recording at the stand-in."""
    call_sid = "CA" + uuid.uuid4().hex
    RecordStore.calls(settings).create(
        call_sid, {"Sid": call_sid, "Direction": "inbound", "From": CALLER, "To": LINE_NUMBER}
    )
    recording = twilio.add_recording(call_sid=call_sid, duration=duration)
    return RecordingEvent(
        call_sid=call_sid,
        recording_sid=recording["sid"],
        recording_url=recording["media_url"],
        caller=CALLER,
        called=LINE_NUMBER,
        duration=duration,
        recording_status="completed",
        recorded_at=RECORDED_AT,
    )


def transcription_of(
    event: RecordingEvent, text: str = "Hi, it's Bob, please call back."
) -> RecordingEvent:
    return replace(event, transcript=text, transcription_status="completed", recording_status=None)


class HostQueue:
    """The `voicemail-email` trigger as the Functions host runs it: receive what is visible,
    run the function, delete the message when it returned (here in this process)."""

    def __init__(self, settings: Settings, name: str, **tools: Any) -> None:
        self.settings = settings
        self.client = queues.get_queue(name, settings)
        self.enqueue = email_enqueuer(settings, name)
        self.delays: list[timedelta] = []
        self.outcomes: list[str] = []
        self.tools = tools
        self.lock = threading.Lock()

    def _enqueue(self, message: Any, delay: timedelta) -> None:
        with self.lock:
            self.delays.append(delay)
        self.enqueue(message, delay)

    def run(self, until: Callable[[], bool], timeout: float = 20.0) -> list[str]:
        """Deliver messages until `until()` holds (checked between polls), bounded in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.client.receive_messages(
                messages_per_page=16, visibility_timeout=30
            ):
                outcome = mailing.deliver(
                    message.content, self.settings, enqueue=self._enqueue, **self.tools
                )
                with self.lock:
                    self.outcomes.append(outcome)
                self.client.delete_message(message)
            if until():
                return self.outcomes
            time.sleep(0.1)
        raise AssertionError(f"not done in {timeout} s: outcomes {self.outcomes}")

    def drain(self) -> list[str]:
        """Deliver whatever is visible now (one pass)."""
        return self.run(lambda: True, timeout=5)


def summary(settings: Settings, call_sid: str) -> dict[str, Any]:
    record = RecordStore.calls(settings).get(call_sid) or {}
    result: dict[str, Any] = json.loads(record.get(notices.SUMMARY_PROPERTY) or "{}")
    return result


def row_of(
    settings: Settings, event: RecordingEvent, address: str = "ann@example.com"
) -> dict[str, Any]:
    row = Outbox.from_settings(settings).get(
        event.call_sid, emails.email_row_key(event.recording_sid, address)
    )
    assert row is not None
    return dict(row)


def test_the_email_carries_the_transcript_and_the_recording_once(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    enqueue = email_enqueuer(settings, queue)
    report = on_recording(event, main_line(), step(transcribe=True), settings, enqueue=enqueue)
    assert report.email == {"ann@example.com": "queued"}
    host = HostQueue(settings, queue)
    assert host.drain() == []  # waiting for the transcript: the message is not visible yet
    for _ in range(2):  # the transcription callback, retried by Twilio
        on_recording(
            transcription_of(event), main_line(), step(transcribe=True), settings, enqueue=enqueue
        )
    host.run(lambda: len(mail.messages) >= 1)
    host.drain()
    [message] = mail.messages
    assert str(message["Subject"]).strip() == "Voicemail from +1 201-555-0123 on Main line (0:37)"
    assert message["To"] == "ann@example.com"
    assert message["From"] == SENDER
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "New voicemail on Main line (+1 501-712-2661)." in body
    assert "Tuesday 1 December 2026, 09:41 EST (America/New_York)" in body
    assert "Duration:   0:37" in body
    assert "Hi, it's Bob, please call back." in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "audio/mpeg"
    assert attachment.get_filename() == "voicemail-20261201-0941-12015550123.mp3"
    assert attachment.get_content() == twilio.recording_audio(event.recording_sid, "mp3")
    fetched = twilio.requests(method="GET", resource="Recordings")
    assert [r.path.rsplit("/", 1)[1] for r in fetched] == [
        f"{event.recording_sid}.json",
        f"{event.recording_sid}.mp3",
    ]
    assert all(r.authenticated and r.identity == twilio.account_sid for r in fetched)
    assert row_of(settings, event)["State"] == "sent"
    assert summary(settings, event.call_sid)["email"] == {"ann@example.com": "sent"}
    # The message delayed for the transcript comes back after its wait: it finds the row sent.
    again = json.dumps(emails.email_message(event.call_sid, row_of(settings, event)["RowKey"]))
    assert mailing.deliver(again, settings, enqueue=enqueue) == "done"
    assert len(mail.messages) == 1


def test_without_transcription_the_email_goes_at_once_to_each_address(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings, duration=5)
    emails = ("ann@example.com", "bob@example.com")
    enqueue = email_enqueuer(settings, queue)
    for _ in range(2):  # a retried recording status callback
        on_recording(
            event, main_line(), step(transcribe=False, emails=emails), settings, enqueue=enqueue
        )
    host = HostQueue(settings, queue)
    host.run(lambda: len(mail.messages) >= 2)
    host.drain()
    assert sorted(str(m["To"]) for m in mail.messages) == list(emails)
    assert sorted(host.outcomes) == ["done", "done", "sent", "sent"]
    body = mail.messages[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "(transcription is off for this line)" in body
    assert "Duration:   0:05" in body


def test_a_refusing_then_failing_mail_server_is_retried_with_backoff_and_delivers_once(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    mail.stop()  # connections refused
    report = on_recording(
        event,
        main_line(),
        step(transcribe=False),
        settings,
        enqueue=email_enqueuer(settings, queue),
    )
    assert report.ok  # the callback only queued the e-mail: nothing waited for the server
    host = HostQueue(settings, queue, retry=FAST)
    assert host.drain() == ["retrying"]
    first = row_of(settings, event)
    assert first["State"] == "retrying"
    assert first["Attempts"] == 1
    assert "ConnectionRefusedError" in first["LastError"]
    mail.start()
    mail.refuse_data(1, "451 4.3.0 Mailbox busy, try again later")  # then a temporary refusal
    host.run(lambda: len(mail.messages) >= 1)
    host.drain()
    assert len(mail.messages) == 1
    assert mail.data_commands == 2
    assert host.outcomes[-1] in ("sent", "done")
    assert host.outcomes.count("sent") == 1
    assert host.outcomes.count("retrying") == 2
    retries = [d for d in host.delays if d > timedelta(0)]
    assert retries[:2] == [FAST.delay(1), FAST.delay(2)]  # 0.4 s, then 0.8 s: backoff
    done = row_of(settings, event)
    assert (done["State"], done["Attempts"]) == ("sent", 3)
    assert "451" in done["LastError"]
    assert summary(settings, event.call_sid)["email"] == {"ann@example.com": "sent"}


def test_a_server_that_never_recovers_is_recorded_after_the_last_attempt(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    mail.stop()
    on_recording(
        event,
        main_line(),
        step(transcribe=False),
        settings,
        enqueue=email_enqueuer(settings, queue),
    )
    host = HostQueue(settings, queue, retry=FAST)
    host.run(lambda: row_of(settings, event)["State"] == "failed")
    assert host.outcomes == ["retrying"] * (FAST.max_attempts - 1) + ["failed"]
    row = row_of(settings, event)
    assert row["Attempts"] == FAST.max_attempts
    state = summary(settings, event.call_sid)["email"]["ann@example.com"]
    assert state.startswith("failed: mail server: ConnectionRefusedError")


def test_a_permanent_refusal_is_not_retried(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    mail.refuse_recipients("550 5.1.1 No such user here")
    on_recording(
        event,
        main_line(),
        step(transcribe=False),
        settings,
        enqueue=email_enqueuer(settings, queue),
    )
    host = HostQueue(settings, queue, retry=FAST)
    assert host.drain() == ["failed"]
    assert mail.messages == []
    assert summary(settings, event.call_sid)["email"] == {
        "ann@example.com": "failed: mail server: recipient refused (550)"
    }


def test_duplicate_messages_on_two_instances_send_once(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    mail.data_delay = 0.5  # a slow server: both instances are busy at the same time
    barrier = threading.Barrier(2)
    enqueue = email_enqueuer(settings, queue)

    def callback() -> None:
        barrier.wait()
        on_recording(event, main_line(), step(transcribe=False), settings, enqueue=enqueue)

    threads = [threading.Thread(target=callback) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    messages = list(queues.get_queue(queue, settings).receive_messages(messages_per_page=16))
    assert len(messages) == 2  # each instance queued its own

    outcomes: list[str] = []

    def instance(body: str) -> None:
        barrier.wait()
        outcomes.append(mailing.deliver(body, settings, enqueue=enqueue))

    workers = [threading.Thread(target=instance, args=(m.content,)) for m in messages]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(mail.messages) == 1
    assert sorted(outcomes) in (["later", "sent"], ["done", "sent"])


def test_starttls_and_login_by_default(
    settings: Settings, twilio: TwilioStandin, queue: str, tmp_path: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    with MailServer(tls=(cert, key), login=("apikey", "s3cret")) as secure:
        tls_settings = replace(
            settings,
            smtp_port=secure.port,
            smtp_tls="starttls",
            smtp_username="apikey",
            smtp_password="s3cret",
        )
        event = call_with_recording(twilio, tls_settings)
        on_recording(
            event,
            main_line(),
            step(transcribe=False),
            tls_settings,
            enqueue=email_enqueuer(tls_settings, queue),
        )
        host = HostQueue(
            tls_settings,
            queue,
            send=lambda message, config: smtp.send(message, config, context=trusted),
        )
        host.run(lambda: len(secure.messages) >= 1)
        assert secure.logins == ["apikey"]
        assert [authenticated for _, _, authenticated in secure.envelopes()] == [True]
    # A server that offers no STARTTLS is refused (the password would cross in clear).
    with MailServer() as plain:
        config = smtp.SmtpConfig(host="127.0.0.1", port=plain.port, sender=SENDER, tls="starttls")
        message = emails.compose_email(row_of(tls_settings, event), SENDER, audio=None)
        with pytest.raises(smtp.MailFailure) as refused:
            smtp.send(message, config)
        assert not refused.value.transient
        assert "STARTTLS" in str(refused.value)
        assert plain.messages == []


def test_a_recording_twilio_no_longer_has_goes_as_a_link(
    settings: Settings, twilio: TwilioStandin, mail: MailServer, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    twilio.reset()  # the recording is gone (deleted at Twilio)
    on_recording(
        event,
        main_line(),
        step(transcribe=False),
        settings,
        enqueue=email_enqueuer(settings, queue),
    )
    HostQueue(settings, queue).run(lambda: len(mail.messages) >= 1)
    [message] = mail.messages
    assert list(message.iter_attachments()) == []
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "The recording is not attached: Twilio no longer has it." in body
    assert row_of(settings, event)["AttachmentNote"] == "Twilio no longer has it"


def test_a_poisoned_message_records_the_delivery_failed(
    settings: Settings, twilio: TwilioStandin, queue: str
) -> None:
    event = call_with_recording(twilio, settings)
    on_recording(
        event,
        main_line(),
        step(transcribe=False),
        settings,
        enqueue=email_enqueuer(settings, queue),
    )
    [message] = list(queues.get_queue(queue, settings).receive_messages(messages_per_page=16))
    assert mailing.expire(message.content, settings) == "failed"
    assert row_of(settings, event)["State"] == "failed"
    state = summary(settings, event.call_sid)["email"]["ann@example.com"]
    assert state.startswith("failed: gave up after repeated delivery failures")
    assert mailing.expire(message.content, settings) == "done"
    assert mailing.deliver(b"not json", settings) == "rejected"
