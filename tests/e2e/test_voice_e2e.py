"""Incoming calls end to end: the simulator plays Twilio against `python -m devkit host`.

A call walks greeting → menu → digit → forward → no answer → voicemail → recording callback, and
the CallLog entity in Azurite ends up holding the recording. Blocked and unlisted callers are
turned away. With storage stopped, calls are still answered. The app runs behind a
PUBLIC_BASE_URL, so every request is signed over the public URL, as Twilio signs it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.azurite import Azurite
from devkit.simulator import CallSession, Transcript, sign_and_post
from switchboard import records
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "5e" * 16
TOKEN = "voice-e2e-auth-token-0123456789ab"
PUBLIC = "https://switchboard-e2e.example.com"
BUSINESS = "+15017122661"
SALES = "+15005550006"
CALLER = "+15558675310"
BLOCKED = "+15558670001"
STRANGER = "+15558670002"
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/REe2e"
MENU = {
    "prompt": "For sales press 1 or say sales. For our hours press 2.",
    "options": {
        "1": {"action": "forward", "to": SALES, "words": ["sales"]},
        "2": {"action": "say", "text": "We are open nine to five."},
    },
}


def voice_env(table: str) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        "TABLE_CALL_LOG": table,
        # The other triggers' `%NAME%` settings must resolve for the host to start; keep them
        # out of the way (their own queue, a timer that fires once a year).
        "OUTBOUND_CALL_QUEUE": "e2e-voice-" + table.lower(),
        "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        "WEBSITE_SITE_NAME": "switchboard-e2e",
        "VOICE_TTS_VOICE": "Polly.Joanna",
        "VOICE_LANGUAGE": "en-US",
        "VOICE_MENU": json.dumps(MENU),
        "VOICE_RING_TIMEOUT": "15",
        "VOICE_VOICEMAIL": "true",
        "VOICE_VOICEMAIL_MAX_LENGTH": "60",
        "VOICE_BLOCKED_CALLERS": BLOCKED,
        "VOICE_ALLOWED_CALLERS": f"{CALLER},{BLOCKED}",
    }


@dataclass
class Stack:
    host: HostHandle
    calls: RecordStore


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Stack:
    env = voice_env("e2evoice" + uuid.uuid4().hex[:10])
    host = run_host_module(PROJECT_ROOT, env)
    settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
    return Stack(host, RecordStore.calls(settings))


def session(host: HostHandle, caller: str, lines: list[str] | None = None) -> CallSession:
    return CallSession(
        host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        public_base_url=PUBLIC,
        from_=caller,
        to=BUSINESS,
        echo=lines.append if lines is not None else None,
    )


def paths(transcript: Transcript) -> list[str]:
    return [step.url.removeprefix(PUBLIC) for step in transcript.steps]


def test_menu_forward_no_answer_voicemail_is_logged_with_the_recording(stack: Stack) -> None:
    lines: list[str] = []
    call = session(stack.host, CALLER, lines)
    transcript = call.run(digits=["1"], dial_status="no-answer", recording_url=RECORDING)
    assert transcript.ok, transcript.text()
    assert transcript.ended_by == "hangup"
    assert paths(transcript) == [
        "/api/voice/incoming",
        "/api/voice/menu?attempt=1&at=open.0&hop=1",
        "/api/voice/dial-complete?at=open.0.1.0&hop=2",
        "/api/voice/recording?at=open.0.1.1&hop=3",
        "/api/voice/recording?at=open.0.1.1&hop=3",  # the recording status callback
    ]
    assert transcript.steps[-1].kind.startswith("recording-status")
    first = [v.name for v in transcript.steps[0].verbs]
    assert first == ["Say", "Pause", "Say", "Pause", "Say", "Gather", "Redirect"]
    assert "switchboard-e2e" in transcript.steps[0].verbs[4].text
    assert "2010-04-01" in transcript.steps[0].verbs[2].text
    dial = transcript.steps[1].verbs[0]
    assert dial.name == "Dial"
    assert dial.text.strip() == SALES
    assert dial.attrs["action"] == f"{PUBLIC}/api/voice/dial-complete?at=open.0.1.0&hop=2"
    assert [v.name for v in transcript.steps[2].verbs] == ["Say", "Record", "Say", "Hangup"]
    assert [v.name for v in transcript.steps[3].verbs] == ["Say", "Hangup"]

    record = stack.calls.get(call.call_sid)
    assert record is not None, stack.host.log_text()
    assert record["RecordingUrl"] == RECORDING
    assert record["RecordingDuration"] == 7
    assert record["RecordingStatus"] == "completed"
    assert record["From"] == CALLER
    assert record["To"] == BUSINESS
    assert record["Direction"] == "inbound"
    assert record["Status"] == "ringing"
    assert record["Source"] == "webhook"
    assert record["Sid"] == call.call_sid
    assert record["DialOutcome"] == "no-answer"
    assert record["Handling"] == "voicemail"
    assert isinstance(record["StartedAt"], type(records.utcnow()))
    choices = json.loads(record["MenuChoicesJson"])
    assert choices == [
        {
            "attempt": 1,
            "digits": "1",
            "speech": None,
            "option": "1",
            "action": "forward",
            "at": "open.0",
        }
    ]
    # The transcript the README quotes.
    print("\n".join(lines))


@pytest.fixture(scope="module")
def transcribing(run_host_module: HostFactory, storage_connection_string: str) -> Stack:
    """A second host, with VOICE_TRANSCRIBE=true: `<Record transcribe="true">`."""
    env = voice_env("e2etrans" + uuid.uuid4().hex[:10]) | {"VOICE_TRANSCRIBE": "true"}
    host = run_host_module(PROJECT_ROOT, env)
    settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
    return Stack(host, RecordStore.calls(settings))


def test_a_transcription_callback_ends_in_the_call_log_once(transcribing: Stack) -> None:
    # README (Voice): with VOICE_TRANSCRIBE=true, /api/voice/recording receives the
    # transcription callback and stores the transcription with the call. The simulator sends
    # it as Twilio does (after the recording status callback, to `transcribeCallback`), and
    # sends every callback twice, as Twilio's retries would.
    text = "Hi, it's Sam: the boiler is leaking again, please call me back."
    call = session(transcribing.host, CALLER)
    transcript = call.run(
        digits=["1"],
        dial_status="no-answer",
        recording_url=RECORDING,
        transcription_text=text,
        callback_repeats=2,
    )
    assert transcript.ok, transcript.text()
    record_verb = next(v for v in transcript.steps[2].verbs if v.name == "Record")
    assert record_verb.attrs["transcribe"] == "true"
    assert record_verb.attrs["transcribeCallback"].startswith(f"{PUBLIC}/api/voice/recording")
    deliveries = [s for s in transcript.steps if s.kind == "transcription-callback"]
    assert [d.status for d in deliveries] == [200, 200]

    record = transcribing.calls.get(call.call_sid)
    assert record is not None, transcribing.host.log_text()
    assert record["TranscriptionText"] == text
    assert record["TranscriptionStatus"] == "completed"
    assert record["RecordingUrl"] == RECORDING
    # A late retry of the same callback (same RecordingSid: the same step) writes nothing,
    # whatever it carries.
    before = _stored(transcribing, call.call_sid)
    first = deliveries[0]
    retry = sign_and_post(
        first.sent_to,
        first.params | {"TranscriptionText": "garbled"},
        auth_token=TOKEN,
        signed_url=first.url,
    )
    assert retry.status == 200
    assert _stored(transcribing, call.call_sid) == before


def test_a_retried_webhook_writes_nothing_twice(stack: Stack) -> None:
    call = session(stack.host, CALLER)
    transcript = call.run(digits=["2"])
    assert transcript.ok, transcript.text()
    before = _stored(stack, call.call_sid)
    assert before["Handling"] == "said"
    # Twilio retries the first webhook late: the same request (same CallSid and step).
    first = transcript.webhooks[0]
    retry = sign_and_post(
        stack.host.url + "/api/voice/incoming",
        first.params,
        auth_token=TOKEN,
        signed_url=first.url,
    )
    assert retry.status == 200
    assert "<Gather" in retry.body  # the caller would still hear the right TwiML
    assert _stored(stack, call.call_sid) == before  # not rolled back to "menu", no new write


def _stored(stack: Stack, call_sid: str) -> dict[str, Any]:
    record = stack.calls.get(call_sid)
    assert record is not None
    return {k: v for k, v in record.items() if k not in {"Timestamp", "etag"}}


def test_a_blocked_caller_is_rejected(stack: Stack) -> None:
    call = session(stack.host, BLOCKED)
    transcript = call.run()
    assert transcript.ok, transcript.text()
    assert transcript.ended_by == "reject"
    assert [v.name for v in transcript.verbs] == ["Reject"]
    assert not transcript.answered
    record = stack.calls.get(call.call_sid)
    assert record is not None
    assert record["Handling"] == "rejected"


def test_a_caller_not_on_the_allowed_list_is_refused_politely(stack: Stack) -> None:
    transcript = session(stack.host, STRANGER).run(digits=["1"])
    assert transcript.ok, transcript.text()
    assert [v.name for v in transcript.verbs] == ["Say", "Hangup"]
    assert "Sorry" in transcript.verbs[0].text
    assert transcript.verbs[0].attrs.get("voice") == "Polly.Joanna"
    assert len(transcript.webhooks) == 1


def test_an_unknown_choice_repeats_the_menu_once_then_says_goodbye(stack: Stack) -> None:
    transcript = session(stack.host, CALLER).run(digits=["9", ""])
    assert transcript.ok, transcript.text()
    assert paths(transcript) == [
        "/api/voice/incoming",
        "/api/voice/menu?attempt=1&at=open.0&hop=1",
        # silence: the Redirect after the repeated Gather
        "/api/voice/menu?attempt=2&at=open.0&hop=2",
    ]
    assert [v.name for v in transcript.steps[-1].verbs] == ["Say", "Hangup"]
    assert transcript.ended_by == "hangup"


def test_calls_are_answered_when_storage_is_down(run_host: HostFactory) -> None:
    with Azurite(ports=0) as storage:
        env = {**voice_env("e2edown" + uuid.uuid4().hex[:8])}
        env["AzureWebJobsStorage"] = storage.connection_string
        host = run_host(PROJECT_ROOT, env)
        working = session(host, CALLER).run(digits=["2"])
        assert working.ok, working.text()
        settings = load_settings(env)
        assert RecordStore.calls(settings).get(working.call_sid) is not None
        storage.stop()
        down = session(host, CALLER).run(digits=["1"], dial_status="busy")
    assert down.ok, down.text() + "\n" + host.log_text()
    assert down.ended_by == "hangup"
    assert [s.url.removeprefix(PUBLIC) for s in down.webhooks] == [
        "/api/voice/incoming",
        "/api/voice/menu?attempt=1&at=open.0&hop=1",
        "/api/voice/dial-complete?at=open.0.1.0&hop=2",
        "/api/voice/recording?at=open.0.1.1&hop=3",
    ]
    host.wait_for_log("CallLog not written")
    assert CALLER not in host.log_text()  # numbers are masked in logs
    assert TOKEN not in host.log_text()
    # The host's queue poller keeps retrying the dead storage; a graceful shutdown would wait
    # for it (up to 10 s): this test has checked what it came for, so stop it briskly.
    host.stop(timeout=2)
