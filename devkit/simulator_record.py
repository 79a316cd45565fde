"""A call's `<Record>` as the simulator plays it: the message left, the action's parameters, and
the callbacks Twilio sends after it (the recording status, the transcription); with the Twilio
stand-in, the recording is one it serves (`POST /_standin/recordings`), so the app can fetch its
audio as from Twilio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import urljoin

import requests

from devkit.simulator_http import API_VERSION, DEFAULT_TIMEOUT, new_sid
from devkit.simulator_twiml import Verb

#: A callback Twilio sends after a request: (kind, URL, parameters; `_method` the method).
Callback = tuple[str, str, dict[str, str]]


@dataclass(frozen=True)
class RecordOptions:
    """What a `<Record>` produces."""

    recording_url: str | None = None
    recording_duration: int = 7
    transcription_text: str | None = None


class Session(Protocol):
    """What a recording needs of the call it is part of (`CallSession`)."""

    call_sid: str
    from_: str
    to: str
    account_sid: str
    standin_url: str | None

    def say(self, line: str) -> None: ...
    def warn(self, message: str) -> None: ...


def record(
    session: Session, verb: Verb, url: str, options: RecordOptions
) -> tuple[str, dict[str, str], list[Callback]]:
    """`<Record>`: the caller leaves a message. Returns the action's URL and parameters, and the
    callbacks Twilio sends after it (recording status, transcription)."""
    recording_url, recording_duration = options.recording_url, options.recording_duration
    sid = new_sid("RE")
    media = recording_url or (
        f"https://api.twilio.com/{API_VERSION}/Accounts/{session.account_sid}/Recordings/{sid}"
    )
    if session.standin_url:
        _register_recording(session, session.standin_url, sid, recording_duration)
    session.say(f"  caller leaves a {recording_duration}s message: {media}")
    extra = {
        "RecordingUrl": media,
        "RecordingSid": sid,
        "RecordingDuration": str(recording_duration),
    }
    if "#" in verb.attr("finishOnKey", "1234567890*#"):
        extra["Digits"] = "#"
    after: list[Callback] = []
    callback = verb.attr("recordingStatusCallback")
    if callback:
        after.append(
            (
                "recording-status-callback",
                urljoin(url, callback),
                {
                    "AccountSid": session.account_sid,
                    "CallSid": session.call_sid,
                    "RecordingSid": sid,
                    "RecordingUrl": media,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(recording_duration),
                    "RecordingChannels": "1",
                    "RecordingStartTime": format_datetime(datetime.now(UTC), usegmt=True),
                    "RecordingSource": "RecordVerb",
                    "ErrorCode": "0",
                    "_method": verb.attr("recordingStatusCallbackMethod", "POST").upper(),
                },
            )
        )
    if verb.attr("transcribe").lower() == "true" or verb.attr("transcribeCallback"):
        transcribe_to = verb.attr("transcribeCallback")
        if transcribe_to:
            text = options.transcription_text or "Hi, this is a test message."
            after.append(
                (
                    "transcription-callback",
                    urljoin(url, transcribe_to),
                    {
                        "AccountSid": session.account_sid,
                        "ApiVersion": API_VERSION,
                        "CallSid": session.call_sid,
                        "CallStatus": "completed",
                        "Direction": "inbound",
                        "From": session.from_,
                        "To": session.to,
                        "Called": session.to,
                        "Caller": session.from_,
                        "RecordingSid": sid,
                        "RecordingUrl": media,
                        "TranscriptionSid": new_sid("TR"),
                        "TranscriptionText": text,
                        "TranscriptionStatus": "completed",
                        "TranscriptionType": "fast",
                        "TranscriptionUrl": (
                            f"https://api.twilio.com/{API_VERSION}/Accounts/"
                            f"{session.account_sid}/Recordings/{sid}/Transcriptions"
                        ),
                    },
                )
            )
    target = urljoin(url, verb.attr("action")) if verb.attr("action") else url
    return target, extra, after


def _register_recording(session: Session, standin_url: str, sid: str, duration: int) -> None:
    """Tell the stand-in about the recording, as Twilio would store it."""
    try:
        answer = requests.post(
            f"{standin_url}/_standin/recordings",
            json={"sid": sid, "callSid": session.call_sid, "duration": duration},
            timeout=DEFAULT_TIMEOUT,
        )
    except requests.RequestException as exc:
        session.warn(f"the stand-in did not take the recording ({exc})")
        return
    if answer.status_code != 201:
        session.warn(f"the stand-in refused the recording (HTTP {answer.status_code})")
