"""Voicemail notices (pure): the event of a callback, the texts, their ids and timing, the
e-mail delivery rows and their states, the e-mail itself, and the owner's summary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from switchboard import records
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line, VoicemailStep
from switchboard.twilio.text import MAX_BODY_CHARS
from switchboard.voicemail import notices as n
from switchboard.voicemail.notices import Delivery, EventKind, Next, RecordingEvent

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


# --- e-mail delivery rows ----------------------------------------------------------------


def test_a_delivery_row_waits_for_the_transcript_then_goes() -> None:
    row = n.email_row(recorded(), MAIN, step(transcribe=True, wait=60), "ann@example.com", NOW)
    assert row["PartitionKey"] == CALL
    assert row["RowKey"] == n.email_row_key(RECORDING, "ANN@example.com ")
    assert row["State"] == "waiting"
    assert row["LineName"] == "Main line"
    assert n.next_for(row, NOW) == (Next.LATER, NOW + timedelta(seconds=60))
    assert n.email_delay(row, NOW) == timedelta(seconds=60)
    later = NOW + timedelta(seconds=5)
    changes = n.merge_email_row(row, transcribed(), later)
    assert changes is not None
    assert changes["Transcript"] == "Hi, please call me back."
    assert changes["NotBefore"] == later
    merged = {**row, **changes}
    assert n.next_for(merged, later) == (Next.SEND, None)
    assert n.merge_email_row(merged, transcribed(), later) is None  # a retried callback


def test_a_transcript_first_then_the_recording_only_fills_gaps() -> None:
    first = n.email_row(
        replace(transcribed(), duration=None),
        MAIN,
        step(transcribe=True),
        "ann@example.com",
        NOW,
    )
    assert first["NotBefore"] == NOW
    assert first["Transcript"]
    changes = n.merge_email_row(first, recorded(), NOW + timedelta(seconds=1))
    assert changes is not None
    assert changes["Duration"] == 37
    assert "NotBefore" not in changes
    assert "Transcript" not in changes


def test_rows_being_sent_or_done_take_no_merge_and_say_what_to_do() -> None:
    row = n.email_row(recorded(), MAIN, step(), "ann@example.com", NOW)
    assert n.next_for(row, NOW) == (Next.SEND, None)
    held = {**row, **n.claim_changes(row, NOW)}
    assert held["Attempts"] == 1
    assert held["State"] == "sending"
    assert n.merge_email_row(held, transcribed(), NOW) is None
    assert n.next_for(held, NOW + timedelta(seconds=30)) == (Next.LATER, NOW + n.SEND_LEASE)
    assert n.next_for(held, NOW + n.SEND_LEASE) == (Next.SEND, None)  # its attempt vanished
    for state in (Delivery.SENT, Delivery.FAILED):
        assert n.next_for({**row, "State": state.value}, NOW) == (Next.DONE, None)
    assert n.next_for(None, NOW) == (Next.DONE, None)


def test_failures_back_off_then_give_up() -> None:
    row: dict[str, Any] = n.email_row(recorded(), MAIN, step(), "ann@example.com", NOW)
    waits = []
    for attempt in range(1, n.EMAIL_RETRY.max_attempts + 1):
        row = {**row, **n.claim_changes(row, NOW)}
        assert row["Attempts"] == attempt
        row = {**row, **n.failure_changes(row, "451 try later", transient=True, now=NOW)}
        if row["State"] == "failed":
            break
        assert row["State"] == "retrying"
        waits.append(row["NextAttemptAt"] - NOW)
        assert n.next_for(row, NOW) == (Next.LATER, row["NextAttemptAt"])
    assert row["State"] == "failed"
    assert row["LastError"] == "451 try later"
    assert len(waits) == n.EMAIL_RETRY.max_attempts - 1
    assert waits == sorted(waits)
    assert waits[0] < timedelta(seconds=31) < waits[1]
    assert waits[-1] <= timedelta(minutes=30)
    permanent = n.failure_changes({**row, "Attempts": 1}, "550 no", transient=False, now=NOW)
    assert permanent["State"] == "failed"


def test_queue_messages_point_at_rows() -> None:
    message = n.email_message(CALL, n.email_row_key(RECORDING, "a@b.co"))
    assert n.parse_email_message(json.dumps(message).encode()) == (CALL, message["row"])
    for junk in (b"\xff", b"[]", b'{"kind": "other"}', b'{"kind": "voicemail-email", "row": 1}'):
        with pytest.raises(n.InvalidEmailMessage):
            n.parse_email_message(junk)


# --- the e-mail ----------------------------------------------------------------------------


def parsed(message: EmailMessage) -> Any:
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_the_email_names_caller_line_local_time_duration_and_transcript() -> None:
    row = {
        **n.email_row(recorded(), MAIN, step(transcribe=True), "ann@example.com", NOW),
        "Transcript": "Hi, please call me back.",
        "TranscriptionStatus": "completed",
    }
    audio = n.Audio(b"ID3 fake mp3 bytes", "audio/mpeg")
    mail = parsed(n.compose_email(row, "Acme Voicemail <voicemail@acme.example>", audio=audio))
    assert mail["Subject"] == "Voicemail from +1 201-555-0123 on Main line (0:37)"
    assert mail["To"] == "ann@example.com"
    assert mail["From"] == "Acme Voicemail <voicemail@acme.example>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"] == n.message_id(row, "voicemail@acme.example")
    assert mail["Message-ID"].endswith("@acme.example>")
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "New voicemail on Main line (+1 501-712-2661)." in body
    assert "From:       +1 201-555-0123" in body
    assert "Tuesday 1 December 2026, 09:41 EST (America/New_York)" in body
    assert "Duration:   0:37" in body
    assert "Hi, please call me back." in body
    assert f"{URL}.mp3" in body
    assert CALL in body
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "audio/mpeg"
    assert attachment.get_filename() == "voicemail-20261201-0941-12015550123.mp3"
    assert attachment.get_content() == b"ID3 fake mp3 bytes"


def test_an_email_without_its_recording_says_why_and_headers_stay_one_line() -> None:
    hostile = line(name="Main\r\nBcc: everyone@example.com line")
    row = n.email_row(recorded(), hostile, step(), "ann@example.com", NOW)
    mail = parsed(
        n.compose_email(row, "v@acme.example", audio=None, audio_note="Twilio no longer has it")
    )
    # (A long header may be folded right after its name: unfolded it reads the same.)
    assert str(mail["Subject"]).strip() == (
        "Voicemail from +1 201-555-0123 on Main Bcc: everyone@example.com line (0:37)"
    )
    assert mail["Bcc"] is None
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "The recording is not attached: Twilio no longer has it." in body
    assert "(transcription is off for this line)" in body
    assert list(mail.iter_attachments()) == []


def test_what_the_email_says_about_the_transcript() -> None:
    base = {"Transcribe": True}
    assert n.transcript_text({**base, "TranscriptionStatus": "failed"}).startswith("(Twilio could")
    assert n.transcript_text(base) == "(no transcript arrived in time)"
    assert n.transcript_text({**base, "Transcript": "hello"}) == "hello"


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
