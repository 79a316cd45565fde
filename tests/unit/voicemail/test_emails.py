"""Voicemail e-mails (pure): the delivery rows and their states, backoff, the queue messages, and
the e-mail itself, parsed back with `email`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from switchboard.voicemail import emails as e
from switchboard.voicemail.emails import Delivery, Next
from tests.unit.voicemail.samples import (
    CALL,
    MAIN,
    NOW,
    RECORDING,
    URL,
    line,
    recorded,
    step,
    transcribed,
)

# --- e-mail delivery rows ----------------------------------------------------------------


def test_a_delivery_row_waits_for_the_transcript_then_goes() -> None:
    row = e.email_row(recorded(), MAIN, step(transcribe=True, wait=60), "ann@example.com", NOW)
    assert row["PartitionKey"] == CALL
    assert row["RowKey"] == e.email_row_key(RECORDING, "ANN@example.com ")
    assert row["State"] == "waiting"
    assert row["LineName"] == "Main line"
    assert e.next_for(row, NOW) == (Next.LATER, NOW + timedelta(seconds=60))
    assert e.email_delay(row, NOW) == timedelta(seconds=60)
    later = NOW + timedelta(seconds=5)
    changes = e.merge_email_row(row, transcribed(), later)
    assert changes is not None
    assert changes["Transcript"] == "Hi, please call me back."
    assert changes["NotBefore"] == later
    merged = {**row, **changes}
    assert e.next_for(merged, later) == (Next.SEND, None)
    assert e.merge_email_row(merged, transcribed(), later) is None  # a retried callback


def test_a_transcript_first_then_the_recording_only_fills_gaps() -> None:
    first = e.email_row(
        replace(transcribed(), duration=None),
        MAIN,
        step(transcribe=True),
        "ann@example.com",
        NOW,
    )
    assert first["NotBefore"] == NOW
    assert first["Transcript"]
    changes = e.merge_email_row(first, recorded(), NOW + timedelta(seconds=1))
    assert changes is not None
    assert changes["Duration"] == 37
    assert "NotBefore" not in changes
    assert "Transcript" not in changes


def test_rows_being_sent_or_done_take_no_merge_and_say_what_to_do() -> None:
    row = e.email_row(recorded(), MAIN, step(), "ann@example.com", NOW)
    assert e.next_for(row, NOW) == (Next.SEND, None)
    held = {**row, **e.claim_changes(row, NOW)}
    assert held["Attempts"] == 1
    assert held["State"] == "sending"
    assert e.merge_email_row(held, transcribed(), NOW) is None
    assert e.next_for(held, NOW + timedelta(seconds=30)) == (Next.LATER, NOW + e.SEND_LEASE)
    assert e.next_for(held, NOW + e.SEND_LEASE) == (Next.SEND, None)  # its attempt vanished
    for state in (Delivery.SENT, Delivery.FAILED):
        assert e.next_for({**row, "State": state.value}, NOW) == (Next.DONE, None)
    assert e.next_for(None, NOW) == (Next.DONE, None)


def test_failures_back_off_then_give_up() -> None:
    row: dict[str, Any] = e.email_row(recorded(), MAIN, step(), "ann@example.com", NOW)
    waits = []
    for attempt in range(1, e.EMAIL_RETRY.max_attempts + 1):
        row = {**row, **e.claim_changes(row, NOW)}
        assert row["Attempts"] == attempt
        row = {**row, **e.failure_changes(row, "451 try later", transient=True, now=NOW)}
        if row["State"] == "failed":
            break
        assert row["State"] == "retrying"
        waits.append(row["NextAttemptAt"] - NOW)
        assert e.next_for(row, NOW) == (Next.LATER, row["NextAttemptAt"])
    assert row["State"] == "failed"
    assert row["LastError"] == "451 try later"
    assert len(waits) == e.EMAIL_RETRY.max_attempts - 1
    assert waits == sorted(waits)
    assert waits[0] < timedelta(seconds=31) < waits[1]
    assert waits[-1] <= timedelta(minutes=30)
    permanent = e.failure_changes({**row, "Attempts": 1}, "550 no", transient=False, now=NOW)
    assert permanent["State"] == "failed"


def test_queue_messages_point_at_rows() -> None:
    message = e.email_message(CALL, e.email_row_key(RECORDING, "a@b.co"))
    assert e.parse_email_message(json.dumps(message).encode()) == (CALL, message["row"])
    for junk in (b"\xff", b"[]", b'{"kind": "other"}', b'{"kind": "voicemail-email", "row": 1}'):
        with pytest.raises(e.InvalidEmailMessage):
            e.parse_email_message(junk)


# --- the e-mail ----------------------------------------------------------------------------


def parsed(message: EmailMessage) -> Any:
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_the_email_names_caller_line_local_time_duration_and_transcript() -> None:
    row = {
        **e.email_row(recorded(), MAIN, step(transcribe=True), "ann@example.com", NOW),
        "Transcript": "Hi, please call me back.",
        "TranscriptionStatus": "completed",
    }
    audio = e.Audio(b"ID3 fake mp3 bytes", "audio/mpeg")
    mail = parsed(e.compose_email(row, "Acme Voicemail <voicemail@acme.example>", audio=audio))
    assert mail["Subject"] == "Voicemail from +1 201-555-0123 on Main line (0:37)"
    assert mail["To"] == "ann@example.com"
    assert mail["From"] == "Acme Voicemail <voicemail@acme.example>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"] == e.message_id(row, "voicemail@acme.example")
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
    # Lines refuse such a name (one line of text); the e-mail holds even so (a line stored by
    # an older version): built past the validation.
    hostile = line()._replace(name="Main\r\nBcc: everyone@example.com line")
    row = e.email_row(recorded(), hostile, step(), "ann@example.com", NOW)
    mail = parsed(
        e.compose_email(row, "v@acme.example", audio=None, audio_note="Twilio no longer has it")
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
    assert e.transcript_text({**base, "TranscriptionStatus": "failed"}).startswith("(Twilio could")
    assert e.transcript_text(base) == "(no transcript arrived in time)"
    assert e.transcript_text({**base, "Transcript": "hello"}) == "hello"


def test_the_email_names_the_callers_contact() -> None:
    event = replace(recorded(), caller_name="Dana Reyes")
    row = e.email_row(event, MAIN, step(), "ann@example.com", NOW)
    assert row["CallerName"] == "Dana Reyes"
    mail = parsed(e.compose_email(row, "v@acme.example", audio=None))
    assert mail["Subject"] == "Voicemail from Dana Reyes (+1 201-555-0123) on Main line (0:37)"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "From:       Dana Reyes (+1 201-555-0123)" in body
