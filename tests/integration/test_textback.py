"""Missed-call text-back through the call status callback, in process: the callback merged into
the call's record in the session Azurite, the text-back decided there, and the scheduled-SMS
timer sending to the Twilio stand-in. One text for a missed mobile caller (whatever retries and
instances), none for a second missed call within the window, a landline, a short call, an
opted-out caller, or a call somebody took; quiet hours defer it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.schedules import store as schedule_store
from switchboard.schedules import timer as scheduler
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings, load_settings
from switchboard.status import callbacks
from switchboard.textback import rules
from switchboard.twilio.webhook import TwilioRequest

LINE_NUMBER = "+15017122661"
MOBILE = "+447911123456"
LANDLINE = "+442079460000"
MESSAGE = "Sorry we missed your call. We'll call you back within the hour."


STANDIN_SEED = 20  # its own SIDs and numbers (the stand-in fixture: conftest)


LINE: Line = parse_line(
    {
        "name": "Main line",
        "closed": [{"voicemail": {}}],
        "textBack": {"message": MESSAGE, "minSeconds": 5, "windowHours": 24},
    },
    LINE_NUMBER,
)[1]


@pytest.fixture
def make_settings(storage_connection_string: str, twilio: TwilioStandin, unique_name: str) -> Any:
    def make(**extra: str) -> Settings:
        return load_settings(
            {
                "AzureWebJobsStorage": storage_connection_string,
                **twilio.settings(),
                "TWILIO_FROM_NUMBER": "+15005550006",
                "TABLE_CALL_LOG": unique_name,
                "TABLE_SMS_SCHEDULE": unique_name + "sch",
                "TABLE_MESSAGE_LOG": unique_name + "msg",
                "TABLE_OPT_OUT": unique_name + "opt",
                "TABLE_CONTACTS": unique_name + "contacts",
                # The business texts callers in the UK and Guernsey too (MOBILE is a Guernsey
                # number, LANDLINE a London one).
                "OUTBOUND_ALLOWED_COUNTRIES": "US,GB,GG",
                **extra,
            }
        )

    return make


@pytest.fixture
def settings(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(
        callbacks, "line_for", lambda number, _: LINE if number == LINE_NUMBER else None
    )
    result: Settings = make_settings()
    return result


def incoming(settings: Settings, caller: str, **fields: Any) -> str:
    """The CallLog record the voice flow writes for a call that went to voicemail."""
    call_sid = "CA" + uuid.uuid4().hex
    RecordStore.calls(settings).create(
        call_sid,
        {
            "Sid": call_sid,
            "Direction": "inbound",
            "From": caller,
            "To": LINE_NUMBER,
            "Status": "in-progress",
            "Handling": "voicemail",
            **fields,
        },
    )
    return call_sid


def ended(
    settings: Settings, call_sid: str, caller: str, seconds: int = 40, status: str = "completed"
) -> int:
    """Twilio's final call status callback, verified, through the responder."""
    request = TwilioRequest(
        url="https://switchboard.example/api/status/call",
        params={
            "CallSid": call_sid,
            "CallStatus": status,
            "CallDuration": str(seconds),
            "From": caller,
            "To": LINE_NUMBER,
            "Direction": "inbound",
            "AccountSid": settings.twilio_account_sid or "",
        },
    )
    response = callbacks.on_call(request, settings)
    return int(response.status_code)


def record(settings: Settings, call_sid: str) -> dict[str, Any]:
    found = RecordStore.calls(settings).get(call_sid)
    assert found is not None
    return dict(found)


def run_timer(settings: Settings, clock: Any = records.utcnow) -> scheduler.RunReport:
    return asyncio.run(scheduler.run_once(settings, clock=clock))


def texted(twilio: TwilioStandin) -> list[tuple[str, str]]:
    return [
        (str(r.param("To")), str(r.param("Body")))
        for r in twilio.requests(method="POST", resource="Messages")
    ]


def test_a_missed_mobile_caller_gets_one_text_whatever_the_retries(
    settings: Settings, twilio: TwilioStandin
) -> None:
    call_sid = incoming(settings, MOBILE)
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def instance() -> None:  # the callback, retried, on two instances at once
        barrier.wait()
        statuses.append(ended(settings, call_sid, MOBILE))

    threads = [threading.Thread(target=instance) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [204, 204, 204]
    found = record(settings, call_sid)
    assert found["TextBack"] == "sent"
    assert found["TextBackId"] == rules.schedule_id(call_sid)
    assert run_timer(settings).sent == 1
    assert ended(settings, call_sid, MOBILE) == 204  # a late duplicate: decided already
    assert run_timer(settings).sent == 0
    assert texted(twilio) == [(MOBILE, MESSAGE)]


def test_a_second_missed_call_within_the_window_gets_none(
    settings: Settings, twilio: TwilioStandin
) -> None:
    first, second = incoming(settings, MOBILE), incoming(settings, MOBILE)
    ended(settings, first, MOBILE)
    ended(settings, second, MOBILE)
    assert record(settings, first)["TextBack"] == "sent"
    assert record(settings, second)["TextBack"] == "skipped (texted within 24 h)"
    assert "TextBackId" not in record(settings, second)
    assert run_timer(settings).sent == 1
    assert texted(twilio) == [(MOBILE, MESSAGE)]


@pytest.mark.parametrize(
    ("caller", "seconds", "fields", "word"),
    [
        (LANDLINE, 40, {}, "skipped (landline)"),
        ("anonymous", 40, {}, "skipped (withheld number)"),
        (MOBILE, 3, {}, "skipped (call shorter than 5 s)"),
        ("+15005550006", 40, {}, "skipped (one of our numbers)"),
        (MOBILE, 40, {"Handling": "rejected"}, "skipped (blocked caller)"),
    ],
)
def test_callers_who_get_none_and_why(
    settings: Settings,
    twilio: TwilioStandin,
    caller: str,
    seconds: int,
    fields: dict[str, Any],
    word: str,
) -> None:
    call_sid = incoming(settings, caller, **fields)
    assert ended(settings, call_sid, caller, seconds) == 204
    assert record(settings, call_sid)["TextBack"] == word
    assert run_timer(settings).sent == 0
    assert texted(twilio) == []


def test_an_opted_out_caller_gets_none(settings: Settings, twilio: TwilioStandin) -> None:
    OptOutStore.from_settings(settings).opt_out(MOBILE, How.KEYWORD, keyword="STOP")
    call_sid = incoming(settings, MOBILE)
    ended(settings, call_sid, MOBILE)
    assert record(settings, call_sid)["TextBack"] == "skipped (opted out)"
    assert run_timer(settings).sent == 0
    assert texted(twilio) == []


def test_a_blocked_contact_gets_none(settings: Settings, twilio: TwilioStandin) -> None:
    from switchboard.contacts import service as contacts

    contacts.set_blocked(settings, MOBILE, True)  # blocked since it called
    call_sid = incoming(settings, MOBILE)
    ended(settings, call_sid, MOBILE)
    assert record(settings, call_sid)["TextBack"] == "skipped (blocked contact)"
    assert run_timer(settings).sent == 0
    assert texted(twilio) == []


def test_a_call_somebody_took_writes_nothing(settings: Settings, twilio: TwilioStandin) -> None:
    call_sid = incoming(
        settings, MOBILE, Reached=True, TakenByJson='{"name": "Ann", "number": "+15005550010"}'
    )
    ended(settings, call_sid, MOBILE)
    assert "TextBack" not in record(settings, call_sid)
    other_line = incoming(settings, MOBILE, To="+15005550010")  # a number without a stored line
    ended(settings, other_line, MOBILE)
    assert "TextBack" not in record(settings, other_line)
    assert run_timer(settings).sent == 0


def test_the_text_waits_for_the_end_of_the_callers_quiet_hours(
    make_settings: Any, twilio: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callbacks, "line_for", lambda number, _: LINE)
    london = datetime.now(ZoneInfo("Europe/London"))
    start, end = london - timedelta(hours=1), london + timedelta(hours=2)
    settings = make_settings(SMS_QUIET_HOURS=f"{start:%H}:00-{end:%H}:00")
    call_sid = incoming(settings, MOBILE)
    ended(settings, call_sid, MOBILE)
    assert record(settings, call_sid)["TextBack"] == "sent"
    assert run_timer(settings).sent == 0  # inside the London mobile's quiet hours: it waits

    async def view() -> dict[str, Any] | None:
        async with schedule_store.open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(rules.schedule_id(call_sid))

    schedule = asyncio.run(view())
    assert schedule is not None
    assert schedule["status"] == "pending"
    wakes = datetime.fromisoformat(schedule["nextAttemptAt"].replace("Z", "+00:00"))
    assert wakes.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == f"{end:%H}:00"
    assert run_timer(settings, clock=lambda: wakes + timedelta(seconds=1)).sent == 1
    assert texted(twilio) == [(MOBILE, MESSAGE)]
