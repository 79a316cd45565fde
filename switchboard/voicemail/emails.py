"""E-mail notices of voicemails: the delivery rows, their states, and the e-mail itself (pure).

One delivery row per voicemail and address lives in the call's CallLog partition (PartitionKey
= CallSid, RowKey = `email_row_key`) and holds everything the message needs: the caller, the
line (its name, number and zone), the recording, the transcript, and the delivery's state:

    waiting ──► sending (a lease, ETag-claimed) ──► sent
       ▲            │
       └─ retrying ◄┘ (a temporary failure: backoff, `EMAIL_RETRY`) ──► failed (the last one,
                                                                       or a permanent one)

A queue message (`email_message`) only points at its row, so a duplicate finds the row sent
and does nothing; with transcription on the row waits (`NotBefore`) for the transcript up to
`transcriptWait`, and the transcription callback ends the wait. `next_for` says what a
delivery does with a row: nothing, later (and until when), or send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard.lines.model import Line, VoicemailStep
from switchboard.outbound import wording
from switchboard.phone import is_withheld
from switchboard.schedules.rules import RetryPolicy
from switchboard.voicemail.notices import (
    WITHHELD,
    EventKind,
    RecordingEvent,
    caller_label,
    duration_label,
    int_of,
    line_label,
    listen_url,
    one_line,
    text_of,
    token,
)

EMAIL_ROW_PREFIX = "notice-email-"
#: The queue of e-mail deliveries (fixed, so no app setting is needed for the trigger).
EMAIL_QUEUE = "voicemail-email"
EMAIL_KIND = "voicemail-email"
#: Recordings larger than this are linked, not attached (mail servers refuse ~25 MB).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: How long a delivery attempt holds its row (fetching the audio and the SMTP exchange).
SEND_LEASE = timedelta(minutes=2)
#: A failing mail server or Twilio: 30 s doubling to 30 min, 8 attempts (about 1 h 30 min).
EMAIL_RETRY = RetryPolicy(
    base=timedelta(seconds=30), cap=timedelta(minutes=30), max_attempts=8, jitter=0.2
)


class Delivery(StrEnum):
    """States of an e-mail delivery row."""

    WAITING = "waiting"
    RETRYING = "retrying"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


FINAL_DELIVERIES = frozenset({Delivery.SENT, Delivery.FAILED})


def email_row_key(recording_sid: str, address: str) -> str:
    """The RowKey of the delivery of a voicemail to one address (in the call's partition)."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"{EMAIL_ROW_PREFIX}{token(recording_sid)}-{digest}"


def email_message(call_sid: str, row_key: str) -> dict[str, Any]:
    """The queue message of a delivery: it points at the row, which holds everything."""
    return {"v": 1, "kind": EMAIL_KIND, "call": call_sid, "row": row_key}


class InvalidEmailMessage(ValueError):
    """A queue message that is not one of `email_message`'s."""


def parse_email_message(body: bytes | str) -> tuple[str, str]:
    """(CallSid, RowKey) of a queue message; InvalidEmailMessage otherwise."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidEmailMessage("not a JSON message") from None
    if not isinstance(data, dict) or data.get("kind") != EMAIL_KIND:
        raise InvalidEmailMessage(f"not a {EMAIL_KIND} message")
    call, row = data.get("call"), data.get("row")
    if (
        not isinstance(call, str)
        or not isinstance(row, str)
        or not row.startswith(EMAIL_ROW_PREFIX)
    ):
        raise InvalidEmailMessage("a message without its call and row")
    return call, row


def email_row(
    event: RecordingEvent, line: Line, step: VoicemailStep, address: str, now: datetime
) -> dict[str, Any]:
    """A new delivery row (PartitionKey = CallSid) for `address`."""
    row: dict[str, Any] = {
        "PartitionKey": event.call_sid,
        "RowKey": email_row_key(event.recording_sid, address),
        "Kind": EMAIL_KIND,
        "To": address,
        "CallSid": event.call_sid,
        "RecordingSid": event.recording_sid,
        "Line": line.number or event.called or "",
        "LineName": line_label(line, event.called),
        "TimeZone": line.time_zone or "UTC",
        "Transcribe": step.transcribe,
        "State": Delivery.WAITING.value,
        "Attempts": 0,
        "CreatedAt": now,
        "UpdatedAt": now,
        "NotBefore": now + timedelta(seconds=step.transcript_wait) if step.transcribe else now,
    }
    return {**row, **_event_fields(event, now)}


def _event_fields(event: RecordingEvent, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "RecordingUrl": event.recording_url,
        "Caller": event.caller,
        "CallerName": event.caller_name,
        "Duration": event.duration,
        "RecordedAt": event.recorded_at,
    }
    if event.kind is EventKind.TRANSCRIPTION:
        fields["TranscriptionStatus"] = event.transcription_status
        fields["Transcript"] = event.transcript
        fields["NotBefore"] = now  # the transcript is in (or failed): no reason to wait
    elif event.recorded_at is None:
        fields["RecordedAt"] = now
    return {k: v for k, v in fields.items() if v not in (None, "")}


def merge_email_row(
    current: Mapping[str, Any], event: RecordingEvent, now: datetime
) -> dict[str, Any] | None:
    """What an event adds to an existing delivery row (None: nothing). A row already being
    sent or finished keeps what it has; otherwise the transcript (and a transcription's "no
    more waiting") wins, and recording facts only fill gaps."""
    if current.get("State") in (Delivery.SENDING, *FINAL_DELIVERIES):
        return None
    changes: dict[str, Any] = {}
    for key, value in _event_fields(event, now).items():
        overwrite = event.kind is EventKind.TRANSCRIPTION and key in (
            "Transcript",
            "TranscriptionStatus",
            "NotBefore",
        )
        if (overwrite or current.get(key) in (None, "")) and current.get(key) != value:
            changes[key] = value
    if changes.get("NotBefore") is not None and current.get("NotBefore") is not None:
        changes["NotBefore"] = min(changes["NotBefore"], current["NotBefore"])
    if changes:
        changes["UpdatedAt"] = now
    return changes or None


def email_delay(row: Mapping[str, Any], now: datetime) -> timedelta:
    """How long a queue message for the row should stay invisible (0: deliver now)."""
    due = email_due(row, now)
    return max(timedelta(0), due - now) if due is not None else timedelta(0)


class Next(StrEnum):
    """What a delivery does with a row it was pointed at."""

    DONE = "done"  # sent or failed already: nothing
    LATER = "later"  # not yet (waiting for the transcript, a backoff, another's lease)
    SEND = "send"


def email_due(row: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the row may be sent (None: never again, it is final)."""
    state = row.get("State")
    if state in FINAL_DELIVERIES:
        return None
    moments = [now]
    if state == Delivery.SENDING and isinstance(row.get("LeaseUntil"), datetime):
        moments.append(row["LeaseUntil"])
    waits_for_transcript = row.get("Transcribe") and not row.get("TranscriptionStatus")
    if waits_for_transcript and isinstance(row.get("NotBefore"), datetime):
        moments.append(row["NotBefore"])
    if isinstance(row.get("NextAttemptAt"), datetime):
        moments.append(row["NextAttemptAt"])
    return max(moments)


def next_for(row: Mapping[str, Any] | None, now: datetime) -> tuple[Next, datetime | None]:
    """What to do now with a delivery row, and until when to wait for LATER."""
    if row is None:
        return Next.DONE, None
    due = email_due(row, now)
    if due is None:
        return Next.DONE, None
    if due > now:
        return Next.LATER, due
    return Next.SEND, None


def claim_changes(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The row's properties while an attempt holds it."""
    return {
        "State": Delivery.SENDING.value,
        "LeaseUntil": now + SEND_LEASE,
        "Attempts": int(row.get("Attempts") or 0) + 1,
        "UpdatedAt": now,
    }


def failure_changes(
    row: Mapping[str, Any],
    error: str,
    *,
    transient: bool,
    now: datetime,
    retry: RetryPolicy = EMAIL_RETRY,
) -> dict[str, Any]:
    """After a failed attempt: retry with backoff (`EMAIL_RETRY`), or `failed` for good."""
    attempts = int(row.get("Attempts") or 1)
    retry_at = retry.next_attempt(attempts, now, str(row.get("RowKey", ""))) if transient else None
    if retry_at is None:
        return {
            "State": Delivery.FAILED.value,
            "LastError": error[:1000],
            "FailedAt": now,
            "UpdatedAt": now,
        }
    return {
        "State": Delivery.RETRYING.value,
        "LastError": error[:1000],
        "NextAttemptAt": retry_at,
        "UpdatedAt": now,
    }


def sent_changes(message_id: str, now: datetime, note: str | None) -> dict[str, Any]:
    """After the mail server accepted the message."""
    changes: dict[str, Any] = {
        "State": Delivery.SENT.value,
        "SentAt": now,
        "MessageId": message_id,
        "UpdatedAt": now,
    }
    if note:
        changes["AttachmentNote"] = note
    return changes


# --------------------------------------------------------------------------------------------
# The e-mail itself


def message_id(row: Mapping[str, Any], sender: str) -> str:
    """A Message-ID fixed per voicemail and address: a resend after a crash is the same message
    to mail clients and servers that drop duplicates."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "switchboard.invalid"
    return f"<{row['RowKey']}.{token(str(row.get('CallSid', '')))}@{domain}>"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, zone_name: str | None) -> str:
    """`Tuesday 1 December 2026, 09:41 EST (America/New_York)`."""
    zone = _zone(zone_name)
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()} ({zone.key})"


def attachment_name(row: Mapping[str, Any], extension: str, zone_name: str | None) -> str:
    """`voicemail-20261201-0941-12015550123.mp3`: when (local) and from whom."""
    recorded = row.get("RecordedAt")
    when = (
        recorded.astimezone(_zone(zone_name)).strftime("%Y%m%d-%H%M")
        if isinstance(recorded, datetime)
        else "recording"
    )
    caller = str(row.get("Caller") or "")
    digits = caller.lstrip("+")
    who = (
        digits if digits.isascii() and digits.isdigit() and not is_withheld(caller) else "withheld"
    )
    return f"voicemail-{when}-{who}.{extension}"


@dataclass(frozen=True)
class Audio:
    """The recording to attach."""

    content: bytes
    content_type: str  # audio/mpeg, audio/x-wav


def transcript_text(row: Mapping[str, Any]) -> str:
    """What the e-mail says under "Transcript" (`wording.transcript_note`)."""
    return wording.transcript_note(
        str(row["Transcript"]) if row.get("Transcript") else None,
        str(row.get("TranscriptionStatus") or "") or None,
        bool(row.get("Transcribe")),
    )


def compose_email(
    row: Mapping[str, Any],
    sender: str,
    *,
    audio: Audio | None,
    audio_note: str | None = None,
) -> EmailMessage:
    """The e-mail of one delivery row: subject and body with the caller, the line, the time in
    the line's zone, the duration and the transcript; the recording attached when given."""
    zone_name = str(row.get("TimeZone") or "UTC")
    line = one_line(str(row.get("LineName") or row.get("Line") or wording.YOUR_LINE))
    caller = caller_label(text_of(row.get("Caller")), text_of(row.get("CallerName")))
    duration = duration_label(int_of(row.get("Duration")))
    recorded = row.get("RecordedAt") if isinstance(row.get("RecordedAt"), datetime) else None
    listen = listen_url(text_of(row.get("RecordingUrl")))
    subject = wording.voicemail_email_subject(caller, line, duration)
    number = caller_label(text_of(row.get("Line"))) if row.get("Line") else None
    where = f"{line} ({number})" if number and number not in (line, WITHHELD) else line
    extension = "mp3" if audio is None or audio.content_type == "audio/mpeg" else "wav"
    name = attachment_name(row, extension, zone_name)
    lines = wording.voicemail_email_lines(
        where=where,
        caller=caller,
        when=local_time(recorded, zone_name) if recorded else None,
        duration=duration,
        transcript=transcript_text(row),
        attachment=name if audio is not None else None,
        missing_audio=audio_note,
        listen=listen,
        call_sid=str(row.get("CallSid", "")),
    )
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = sender
    message["To"] = str(row["To"])
    message["Date"] = format_datetime(recorded or datetime.now(UTC))
    message["Message-ID"] = message_id(row, sender)
    # RFC 3834: an automatic message; well-behaved auto-responders do not answer it (no loops).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Switchboard-Call"] = str(row.get("CallSid", ""))
    message.set_content("\n".join(lines) + "\n")
    if audio is not None:
        maintype, _, subtype = audio.content_type.partition("/")
        message.add_attachment(
            audio.content, maintype=maintype or "audio", subtype=subtype or "mpeg", filename=name
        )
    return message
