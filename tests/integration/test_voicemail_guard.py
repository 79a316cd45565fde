"""Voicemail notices through the voice recording webhook and the loop guard, against Azurite:
each voicemail asks once (its two callbacks share the answer), and a caller leaving voicemail
after voicemail gets at most `SMS_FORWARD_DAILY_CAP` notices a day to the staff."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from switchboard.lines.document import parse_line
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import ID_ROW
from switchboard.settings import Settings, load_settings
from switchboard.twilio.webhook import TwilioRequest
from switchboard.voice import webhooks as voice_webhooks

LINE = "+15017122661"
STAFF = "+15550000091"
CALLER = "+15558675310"


@pytest.fixture
def settings(
    storage_connection_string: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    loaded = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TABLE_CALL_LOG": unique_name + "c",
            "TABLE_SMS_SCHEDULE": unique_name + "s",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "SMS_FORWARD_DAILY_CAP": "2",
            "TWILIO_FROM_NUMBER": "+15005550006",
        }
    )
    line = parse_line(
        {"name": "Main line", "closed": [{"voicemail": {"notify": {"sms": [STAFF]}}}]}, LINE
    )[1]
    monkeypatch.setattr(voice_webhooks, "line_factory", lambda number, s: line)
    yield loaded
    schedule_store.forget_created_tables()


def _callback(settings: Settings, call_sid: str, recording_sid: str, **extra: str) -> None:
    params = {
        "AccountSid": "AC" + "1" * 32,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Recordings/{recording_sid}",
        "RecordingDuration": "9",
        "RecordingStatus": "completed",
        "From": CALLER,
        "To": LINE,
        **extra,
    }
    url = "https://app.example.com/api/voice/recording?line=%2B15017122661&at=closed.0"
    answer = voice_webhooks.on_recording(TwilioRequest(url=url, params=params), settings)
    assert answer.status_code == 200


async def _notices(settings: Settings) -> list[str]:
    """The ids of the voicemail notice schedules (their id rows)."""
    async with schedule_store.open_tables(settings) as opened:
        return [
            str(row["PartitionKey"])
            async for row in opened.schedules.query_entities(f"RowKey eq '{ID_ROW}'")
            if str(row["PartitionKey"]).startswith("sys-vm-")
        ]


def test_a_caller_gets_at_most_the_daily_cap_of_voicemail_notices(settings: Settings) -> None:
    for _ in range(4):
        call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
        _callback(settings, call_sid, recording_sid)
        _callback(settings, call_sid, recording_sid)  # Twilio's retry: the same answer
    notices = asyncio.run(_notices(settings))
    assert len(notices) == 2, notices
