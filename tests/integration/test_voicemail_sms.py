"""Voicemail texts through the exactly-once scheduled-SMS path: `on_recording` against the session
Azurite, then the scheduled-SMS timer sending to the Twilio stand-in. Each recipient gets each
voicemail once, whether Twilio retries the callbacks and whether two instances run them at the
same moment; with transcription on, the transcript comes in the same text when it arrives
before `transcriptWait`, and as a second text when it comes after the notice went out."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line, VoicemailStep
from switchboard.logbook.store import RecordStore
from switchboard.schedules import store as schedule_store
from switchboard.schedules import timer as scheduler
from switchboard.schedules.store import ScheduleStore
from switchboard.schedules.timer import RunOptions
from switchboard.settings import Settings, load_settings
from switchboard.voicemail import notices
from switchboard.voicemail.notices import RecordingEvent
from switchboard.voicemail.notify import NoticeReport, on_recording

LINE_NUMBER = "+15017122661"
CALLER = "+12015550123"
# Outside numbers: the stand-in's account owns +15005550010, and no notice goes to one of ours.
STAFF = ("+15005550012", "+15005550011")
URL = "https://api.twilio.com/2010-04-01/Accounts/AC{}/Recordings/{}"


STANDIN_SEED = 19  # its own SIDs and numbers (the stand-in fixture: conftest)


@pytest.fixture
def settings(storage_connection_string: str, twilio: TwilioStandin, unique_name: str) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TABLE_CALL_LOG": unique_name,
            "TABLE_SMS_SCHEDULE": unique_name + "sch",
            "TABLE_MESSAGE_LOG": unique_name + "msg",
            "TABLE_OPT_OUT": unique_name + "opt",
        }
    )


LINE: Line = parse_line(
    {"name": "Main line", "closed": [{"voicemail": {"notify": {"sms": list(STAFF)}}}]},
    LINE_NUMBER,
)[1]


def step(*, transcribe: bool, wait: int = 300) -> VoicemailStep:
    return VoicemailStep(transcribe=transcribe, notify_sms=STAFF, transcript_wait=wait)


def voicemail(settings: Settings) -> RecordingEvent:
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    RecordStore.calls(settings).create(
        call_sid, {"Sid": call_sid, "Direction": "inbound", "From": CALLER, "To": LINE_NUMBER}
    )
    return RecordingEvent(
        call_sid=call_sid,
        recording_sid=recording_sid,
        recording_url=URL.format("d" * 32, recording_sid),
        caller=CALLER,
        called=LINE_NUMBER,
        duration=37,
        recording_status="completed",
    )


def transcription(event: RecordingEvent, status: str = "completed") -> RecordingEvent:
    text = "Hi, it's Bob, please call back." if status == "completed" else None
    return replace(event, transcript=text, transcription_status=status, recording_status=None)


def at_once(*calls: Callable[[], NoticeReport], copies: int = 2) -> list[NoticeReport]:
    """Each call `copies` times, all started together: two instances and Twilio's retries."""
    barrier = threading.Barrier(len(calls) * copies)
    reports: list[NoticeReport] = []

    def run(call: Callable[[], NoticeReport]) -> None:
        barrier.wait()
        reports.append(call())

    threads = [threading.Thread(target=run, args=(c,)) for c in calls for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(reports) == len(threads)
    assert all(report.ok for report in reports), [r.errors for r in reports]
    return reports


def run_timer(settings: Settings, clock: Callable[[], Any] = records.utcnow) -> scheduler.RunReport:
    return asyncio.run(scheduler.run_once(settings, RunOptions(), clock=clock))


def texts(twilio: TwilioStandin) -> dict[str, list[str]]:
    """The bodies Twilio was asked to send, by recipient."""
    sent: dict[str, list[str]] = {}
    for request in twilio.requests(method="POST", resource="Messages"):
        sent.setdefault(str(request.param("To")), []).append(str(request.param("Body")))
    return sent


def schedule_status(settings: Settings, schedule_id: str) -> str | None:
    async def view() -> dict[str, Any] | None:
        async with schedule_store.open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(schedule_id)

    found = asyncio.run(view())
    return None if found is None else str(found["status"])


def test_a_transcript_in_time_means_one_text_with_it(
    settings: Settings, twilio: TwilioStandin
) -> None:
    event = voicemail(settings)
    at_once(lambda: on_recording(event, LINE, step(transcribe=True), settings))
    assert run_timer(settings).sent == 0  # the notice waits for the transcript
    at_once(lambda: on_recording(transcription(event), LINE, step(transcribe=True), settings))
    assert run_timer(settings).sent == 2
    body = (
        f"Voicemail on Main line from +1 201-555-0123 (0:37): Hi, it's Bob, please call back. "
        f"Listen: {event.recording_url}.mp3"
    )
    assert texts(twilio) == {STAFF[0]: [body], STAFF[1]: [body]}
    for to in STAFF:
        assert schedule_status(settings, notices.notice_id(event.recording_sid, to)) == "cancelled"
        assert schedule_status(settings, notices.transcript_id(event.recording_sid, to)) == "sent"
    later = records.utcnow() + timedelta(minutes=10)  # past transcriptWait: nothing more goes
    assert run_timer(settings, clock=lambda: later).sent == 0
    record = RecordStore.calls(settings).get(event.call_sid) or {}
    assert notices.transcript_id(event.recording_sid, STAFF[0]) in record[notices.SUMMARY_PROPERTY]


def test_a_late_transcript_is_a_second_text(settings: Settings, twilio: TwilioStandin) -> None:
    event = voicemail(settings)
    at_once(lambda: on_recording(event, LINE, step(transcribe=True, wait=0), settings))
    assert run_timer(settings).sent == 2
    notice = (
        f"Voicemail on Main line from +1 201-555-0123 (0:37). Listen: {event.recording_url}.mp3"
    )
    assert texts(twilio) == {STAFF[0]: [notice], STAFF[1]: [notice]}
    at_once(
        lambda: on_recording(transcription(event), LINE, step(transcribe=True, wait=0), settings)
    )
    assert run_timer(settings).sent == 2
    assert run_timer(settings).sent == 0
    sent = texts(twilio)
    assert [len(sent[to]) for to in STAFF] == [2, 2]
    assert all("please call back" in sent[to][1] for to in STAFF)


def test_without_transcription_one_text_each(settings: Settings, twilio: TwilioStandin) -> None:
    event = voicemail(settings)
    reports = at_once(lambda: on_recording(event, LINE, step(transcribe=False), settings), copies=3)
    assert {tuple(sorted(r.sms.values())) for r in reports} == {
        tuple(sorted(notices.notice_id(event.recording_sid, to) for to in STAFF))
    }
    assert run_timer(settings).sent == 2
    assert run_timer(settings).sent == 0
    assert Counter(len(bodies) for bodies in texts(twilio).values()) == Counter({1: 2})


def test_a_failed_transcription_sends_the_notice_at_once(
    settings: Settings, twilio: TwilioStandin
) -> None:
    event = voicemail(settings)
    on_recording(event, LINE, step(transcribe=True), settings)
    at_once(
        lambda: on_recording(transcription(event, "failed"), LINE, step(transcribe=True), settings)
    )
    assert run_timer(settings).sent == 2
    notice = (
        f"Voicemail on Main line from +1 201-555-0123 (0:37). Listen: {event.recording_url}.mp3"
    )
    assert texts(twilio) == {STAFF[0]: [notice], STAFF[1]: [notice]}


def test_the_transcript_racing_the_recording_callback_still_means_one_text(
    settings: Settings, twilio: TwilioStandin
) -> None:
    for _ in range(3):
        twilio.reset()
        event = voicemail(settings)
        at_once(
            lambda event=event: on_recording(event, LINE, step(transcribe=True), settings),  # type: ignore[misc]
            lambda event=event: on_recording(  # type: ignore[misc]
                transcription(event), LINE, step(transcribe=True), settings
            ),
        )
        assert run_timer(settings).sent == 2
        sent = texts(twilio)
        assert [len(sent[to]) for to in STAFF] == [1, 1]
        assert all("please call back" in sent[to][0] for to in STAFF)
        for to in STAFF:
            status = schedule_status(settings, notices.notice_id(event.recording_sid, to))
            assert status in (None, "cancelled")  # never left pending beside the transcript


def test_a_transcript_that_lands_inside_the_recording_callback_still_means_one_text(
    settings: Settings, twilio: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst interleaving, forced: the whole transcription callback runs after the recording
    callback looked for a transcript and before it created its notice."""
    event = voicemail(settings)
    create = ScheduleStore.create
    interleaved: list[str] = []

    async def create_then_interleave(self: ScheduleStore, schedule: Any, now: Any) -> Any:
        if schedule.id == notices.notice_id(event.recording_sid, STAFF[0]) and not interleaved:
            interleaved.append(schedule.id)
            report = await asyncio.to_thread(
                on_recording, transcription(event), LINE, step(transcribe=True), settings
            )
            assert report.ok
        return await create(self, schedule, now)

    monkeypatch.setattr(ScheduleStore, "create", create_then_interleave)
    on_recording(event, LINE, step(transcribe=True), settings)
    assert interleaved
    assert (
        schedule_status(settings, notices.notice_id(event.recording_sid, STAFF[0])) == "cancelled"
    )
    later = records.utcnow() + timedelta(minutes=10)  # past transcriptWait
    assert run_timer(settings, clock=lambda: later).sent == 2
    sent = texts(twilio)
    assert [len(sent[to]) for to in STAFF] == [1, 1]
    assert all("please call back" in sent[to][0] for to in STAFF)


def test_an_empty_recording_notifies_nobody(settings: Settings, twilio: TwilioStandin) -> None:
    event = replace(voicemail(settings), recording_status="absent", duration=0)
    assert on_recording(event, LINE, step(transcribe=False), settings).sms == {}
    assert run_timer(settings).sent == 0
