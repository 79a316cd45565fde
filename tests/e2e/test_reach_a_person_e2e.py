"""Reaching a person end to end, through two `python -m devkit host` instances sharing one Azurite, the
Twilio stand-in and a real SMTP server (aiosmtpd):

a caller rings a line whose ring group nobody takes → voicemail (transcribed) → a text to each of
two recipients and an e-mail with the audio attached to one, each exactly once, although Twilio
retries the transcription callback and the retry reaches the other host; both hosts run the
scheduled-SMS timer and the e-mail queue trigger (so both could send). Then the caller, a mobile,
gets one text back; a second missed call within the window gets none, and a landline none.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.storage.queue import QueueClient

from devkit.simulator import CallSession, parse_callees, sign_and_post
from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle, wait_until_settled
from tests.mail_server import MailServer

ACCOUNT_SID = "AC" + "2d" * 16
TOKEN = "reach-e2e-auth-token-0123456789ab"
KEY = "reach-e2e-function-key"
LINE = "+15017122661"
SENDER = "+15005550006"
ANA, BEN = "+15550000001", "+15550000002"
OWNER, PARTNER = "+15550000091", "+15550000092"
CALLER = "+447911123456"  # a UK mobile
TRANSCRIPT = "Hi, it is Sam, please call me back about the order."
TEXT_BACK = "Sorry we missed your call at Acme. We will call you back today."

DOCUMENT: dict[str, Any] = {
    "name": "Main line",
    "open": [
        {"ring": {"people": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}]}},
        {
            "voicemail": {
                "transcribe": True,
                "notify": {
                    "sms": [OWNER, PARTNER],
                    "email": ["owner@acme.example"],
                    "transcriptWait": 60,
                },
            }
        },
    ],
    "textBack": {"message": TEXT_BACK, "minSeconds": 0},
}


@dataclass
class Stack:
    first: HostHandle
    second: HostHandle
    standin: TwilioStandin
    mail: MailServer

    email_queue: Any  # the voicemail e-mails' queue (a QueueClient)

    def settle(self) -> None:
        """Wait until nothing more can go out from either host (see `wait_until_settled`)."""
        wait_until_settled([self.first, self.second], queues=[self.email_queue])

    def texts_to(self, number: str) -> list[str]:
        return [
            str(r.param("Body"))
            for r in self.standin.requests(method="POST", resource="Messages")
            if r.param("To") == number
        ]


def wait_for(predicate: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def call_from(caller: str, host: HostHandle, stack: Stack) -> CallSession:
    """A simulated call from `caller` to the line through `host`, with status callbacks."""
    return CallSession(
        host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=caller,
        to=LINE,
        standin_url=stack.standin.base_url,
        status_callback="/api/status/call",
    )


def record_of(call: CallSession, host: HostHandle) -> dict[str, Any]:
    """The call's CallLog record, as the operator API shows it."""
    answer = host.request("GET", f"/api/calls/{call.call_sid}", headers={"x-functions-key": KEY})
    record: dict[str, Any] = answer.json()
    return record


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with (
        TwilioStandin(
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            callback_delay_ms=0,
            numbers=[{"phone_number": LINE}],
        ) as standin,
        MailServer() as mail,
    ):
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": SENDER,
            # The business calls back callers in the UK and Guernsey too (CALLER is a Guernsey mobile).
            "OUTBOUND_ALLOWED_COUNTRIES": "US,GB,GG",
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_CALL_LOG": "reachcall" + suffix,
            "TABLE_MESSAGE_LOG": "reachmsg" + suffix,
            "TABLE_SMS_SCHEDULE": "reachsch" + suffix,
            "TABLE_OPT_OUT": "reachopt" + suffix,
            "TABLE_LINES": "reachlines" + suffix,
            "OUTBOUND_CALL_QUEUE": "reach-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "*/1 * * * * *",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mail.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": "voicemail@acme.example",
        }
        # Its name is fixed; the host factory empties it before the first host starts.
        queue = QueueClient.from_connection_string(storage_connection_string, "voicemail-email")
        first = run_host_module(PROJECT_ROOT, env)
        second = run_host_module(PROJECT_ROOT, env)
        written = first.request(
            "PUT",
            f"/api/lines/{LINE}",
            headers={"x-functions-key": KEY, "Content-Type": "application/json"},
            body=json.dumps(DOCUMENT),
        )
        assert written.status == 201, written.text
        yield Stack(first, second, standin, mail, queue)


def test_voicemail_reaches_two_phones_and_a_mailbox_once_each(stack: Stack) -> None:
    call = call_from(CALLER, stack.first, stack)
    transcript = call.run(
        callees=parse_callees([f"{ANA}=no-answer", f"{BEN}="]),
        transcription_text=TRANSCRIPT,
        callback_repeats=2,  # Twilio retries: every callback twice
    )
    assert transcript.ok, transcript.text()
    assert "Record" in [v.name for v in transcript.verbs]
    # The retried transcription callback also reaches the other instance.
    sent = next(s for s in transcript.steps if s.kind == "transcription-callback")
    parts = urlsplit(sent.url)
    other = f"{stack.second.url}{parts.path}?{parts.query}"
    again = sign_and_post(other, sent.params, auth_token=TOKEN)
    assert again.status == 200, again.body

    assert wait_for(lambda: stack.texts_to(OWNER) and stack.texts_to(PARTNER))
    assert wait_for(lambda: stack.mail.messages, timeout=60)
    stack.settle()  # every queue empty, two more whole timer runs on each host
    for number in (OWNER, PARTNER):
        texts = stack.texts_to(number)
        assert len(texts) == 1, texts
        assert texts[0].startswith("Voicemail on Main line from")
        assert TRANSCRIPT in texts[0]
    assert len(stack.mail.messages) == 1
    mail = stack.mail.messages[0]
    assert mail["To"] == "owner@acme.example"
    assert "Main line" in str(mail["Subject"])
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert TRANSCRIPT in body.get_content()
    attachments = list(mail.iter_attachments())
    assert len(attachments) == 1
    record = record_of(call, stack.first)
    audio = stack.standin.recording_audio(record["recordingSid"])
    assert attachments[0].get_content() == audio
    assert record["reached"] is False
    # The caller (a mobile, nobody reached, a voicemail left) gets one text back.
    assert wait_for(lambda: stack.texts_to(CALLER)) == [TEXT_BACK]
    assert record["textBack"] == "sent"


def test_a_second_missed_call_within_the_window_gets_no_text_back(stack: Stack) -> None:
    call = call_from(CALLER, stack.second, stack)
    assert call.run(callees=parse_callees([f"{ANA}=busy", f"{BEN}=busy"])).ok
    record = record_of(call, stack.second)
    assert record["textBack"].startswith("skipped (texted within 24 h")
    stack.settle()
    assert stack.texts_to(CALLER) == [TEXT_BACK]


def test_a_missed_call_from_a_landline_gets_no_text_back(stack: Stack) -> None:
    landline = "+442071838750"  # a London fixed line: valid, but it cannot read a text
    call = call_from(landline, stack.first, stack)
    assert call.run(callees=parse_callees([f"{ANA}=no-answer", f"{BEN}=busy"])).ok
    record = record_of(call, stack.first)
    assert record["reached"] is False
    assert record["textBack"] == "skipped (landline)"
    stack.settle()  # whole timer runs on each host: nothing goes out to it
    assert stack.texts_to(landline) == []
