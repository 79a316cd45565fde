"""Voicemail notices (pure): the event of a callback, the texts, their ids and timing, and the
owner's summary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.lines.document import parse_line
from switchboard.twilio.text import MAX_BODY_CHARS
from switchboard.voicemail import notices as n
from switchboard.voicemail.notices import EventKind, RecordingEvent
from tests.unit.voicemail.samples import (
    CALL,
    CALLER,
    LINE_NUMBER,
    MAIN,
    NOW,
    RECORDING,
    URL,
    recorded,
    step,
    transcribed,
)

# --- the event ---------------------------------------------------------------------------


def test_a_recording_status_callback_takes_the_numbers_from_the_call_record() -> None:
    params = {
        "CallSid": CALL,
        "RecordingSid": RECORDING,
        "RecordingUrl": URL,
        "RecordingStatus": "completed",
        "RecordingDuration": "37",
        "RecordingStartTime": "Tue, 01 Dec 2026 14:40:28 +0000",
    }
    record = {"From": CALLER, "To": "+15005550006", "Line": LINE_NUMBER}
    event = RecordingEvent.from_callback(params, record)
    assert event is not None
    assert (event.kind, event.caller, event.called, event.duration) == (
        EventKind.RECORDING,
        CALLER,
        LINE_NUMBER,
        37,
    )
    assert event.recorded_at == datetime(2026, 12, 1, 14, 40, 28, tzinfo=UTC)
    assert event.has_audio


def test_a_transcription_callback_and_the_record_action() -> None:
    params = {
        "CallSid": CALL,
        "RecordingSid": RECORDING,
        "From": CALLER,
        "To": LINE_NUMBER,
        "TranscriptionStatus": "completed",
        "TranscriptionText": "Hi,\n\tplease  call\x00 me back.",
    }
    event = RecordingEvent.from_callback(params, {"RecordingDuration": 12})
    assert event is not None
    assert event.kind is EventKind.TRANSCRIPTION
    assert event.transcript == "Hi, please call me back."
    assert event.transcribed
    assert event.duration == 12
    no_status = RecordingEvent.from_callback({**params, "TranscriptionStatus": ""})
    assert no_status is not None
    assert no_status.transcription_status == "failed"
    action = {"CallSid": CALL, "RecordingSid": RECORDING, "RecordingDuration": "37", "Digits": "#"}
    assert RecordingEvent.from_callback(action) is None
    assert RecordingEvent.from_callback({"RecordingStatus": "completed", "CallSid": CALL}) is None


def test_an_empty_or_failed_recording_has_no_audio() -> None:
    assert not recorded(recording_status="absent").has_audio
    assert not recorded(recording_status="failed").has_audio
    assert not recorded(duration=0).has_audio
    assert recorded(duration=None).has_audio


def test_a_transcript_that_is_not_unicode_or_too_long() -> None:
    assert n.clean_transcript("bad \ud800 text") is None
    assert n.clean_transcript(" \n ") is None
    long = n.clean_transcript("word " * 2000)
    assert long is not None
    assert len(long) == n.MAX_TRANSCRIPT_CHARS
    assert long.endswith("…")


# --- the texts ---------------------------------------------------------------------------


def test_the_text_with_and_without_a_transcript() -> None:
    listen = URL + ".mp3"
    with_text = n.sms_body(n.voicemail_of(transcribed(), MAIN), with_transcript=True)
    assert with_text == (
        f"Voicemail on Main line from +1 201-555-0123 (0:37): Hi, please call me back. "
        f"Listen: {listen}"
    )
    notice = n.sms_body(n.voicemail_of(recorded(), MAIN), with_transcript=False)
    assert notice == f"Voicemail on Main line from +1 201-555-0123 (0:37). Listen: {listen}"


def test_a_text_for_an_unnamed_line_a_withheld_caller_and_a_long_transcript() -> None:
    unnamed = parse_line({"closed": [{"voicemail": {}}]}, LINE_NUMBER)[1]
    event = replace(transcribed("blah " * 900), caller="anonymous", duration=3725)
    body = n.sms_body(n.voicemail_of(event, unnamed), with_transcript=True)
    assert body.startswith("Voicemail on +1 501-712-2661 from a withheld number (1:02:05): blah")
    assert len(body) <= MAX_BODY_CHARS
    assert body.endswith(f"… Listen: {URL}.mp3")


def test_durations() -> None:
    assert [n.duration_label(s) for s in (0, 7, 37, 61, 3600, None)] == [
        "0:00",
        "0:07",
        "0:37",
        "1:01",
        "1:00:00",
        None,
    ]


def test_text_ids_are_derived_one_per_voicemail_recipient_and_kind() -> None:
    notice = n.notice_id(RECORDING, "+15005550010")
    assert notice == f"sys-vm-{RECORDING}-15005550010"
    assert n.transcript_id(RECORDING, "+15005550010") == notice + "-t"
    assert n.notice_id(RECORDING, "+15005550011") != notice
    odd = n.notice_id("RE/../#?", "+1 (500) 555")
    assert records.is_valid_key(odd)
    assert len(odd) <= 128
    assert odd.startswith("sys-vm-")


def test_the_notice_waits_for_the_transcript_only_when_there_will_be_one() -> None:
    assert n.notice_send_at(step(transcribe=False), NOW) == NOW
    assert n.notice_send_at(step(transcribe=True, wait=90), NOW) == NOW + timedelta(seconds=90)


# --- the owner's summary -------------------------------------------------------------------


def summary(current: dict[str, Any], updates: dict[str, dict[str, str]]) -> dict[str, Any]:
    changes = n.summary_change(current, updates)
    assert changes is not None
    result: dict[str, Any] = json.loads(changes[n.SUMMARY_PROPERTY])
    return result


def test_the_summary_collects_text_ids_and_keeps_final_email_states() -> None:
    first = summary({}, {"sms": {"+1": "sys-vm-a"}, "email": {"a@b.co": "queued"}})
    record = {n.SUMMARY_PROPERTY: json.dumps(first)}
    second = summary(record, {"sms": {"+1": "sys-vm-a-t"}, "email": {"a@b.co": "sent"}})
    assert second == {"sms": {"+1": "sys-vm-a, sys-vm-a-t"}, "email": {"a@b.co": "sent"}}
    record = {n.SUMMARY_PROPERTY: json.dumps(second)}
    assert n.summary_change(record, {"email": {"a@b.co": "queued"}}) is None  # never back
    assert n.summary_change(record, {"sms": {"+1": "sys-vm-a"}}) is None
    assert n.summary_change(None, {"sms": {"+1": "x"}}) is None  # no record: nothing created


def test_withheld_callers_are_named_as_withheld() -> None:
    """The one list of withheld forms (words and their keypad spellings) names the caller in
    every notice; before, "+266696687" read "+266 696687"."""
    from switchboard.voicemail.notices import caller_label

    for withheld in ("", None, "anonymous", "Restricted", "+266696687", "+86282452253"):
        assert caller_label(withheld) == "a withheld number"
    assert caller_label("+12015550123") == "+1 201-555-0123"


def test_a_contacts_name_comes_first_with_its_number() -> None:
    from switchboard.voicemail.notices import caller_label

    assert caller_label("+12015550123", "Dana Reyes") == "Dana Reyes (+1 201-555-0123)"
    assert caller_label("+12015550123", " \n ") == "+1 201-555-0123"
    assert caller_label("+12015550123", "x" * 200) == "x" * 60 + " (+1 201-555-0123)"
    assert caller_label("anonymous", "Someone") == "Someone"
    named = replace(transcribed(), caller_name="Dana\nReyes")
    body = n.sms_body(n.voicemail_of(named, MAIN), with_transcript=True)
    assert body.startswith("Voicemail on Main line from Dana Reyes (+1 201-555-0123) (0:37): Hi")
