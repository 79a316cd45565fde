"""Sample voicemails for the unit tests: a line, a voicemail step, the two callbacks' events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchboard.lines.document import parse_line
from switchboard.lines.model import Line, VoicemailStep
from switchboard.voicemail.notices import RecordingEvent

LINE_NUMBER = "+15017122661"
CALLER = "+12015550123"
CALL = "CA" + "c" * 32
RECORDING = "RE" + "e" * 32
URL = f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Recordings/{RECORDING}"
NOW = datetime(2026, 12, 1, 14, 41, 5, tzinfo=UTC)  # 09:41 in New York (EST)


def line(**document: Any) -> Line:
    base: dict[str, Any] = {
        "name": "Main line",
        "timeZone": "America/New_York",
        "closed": [{"voicemail": {}}],
    }
    return parse_line({**base, **document}, LINE_NUMBER)[1]


MAIN = line()


def step(transcribe: bool = False, wait: int = 120) -> VoicemailStep:
    return VoicemailStep(
        transcribe=transcribe,
        notify_sms=("+15005550010",),
        notify_email=("ann@example.com",),
        transcript_wait=wait,
    )


def recorded(**changes: Any) -> RecordingEvent:
    fields: dict[str, Any] = {
        "call_sid": CALL,
        "recording_sid": RECORDING,
        "recording_url": URL,
        "caller": CALLER,
        "called": LINE_NUMBER,
        "duration": 37,
        "recording_status": "completed",
        "recorded_at": NOW,
    }
    return RecordingEvent(**{**fields, **changes})


def transcribed(
    text: str | None = "Hi, please call me back.", status: str = "completed"
) -> RecordingEvent:
    return recorded(transcript=text, transcription_status=status, recording_status=None)
