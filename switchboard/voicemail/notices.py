"""Voicemail notices: what the recipients of a voicemail get, and when (pure, no I/O).

A line's voicemail step names who hears about each message (`VoicemailStep.notify_sms`,
`notify_email`); `switchboard.voicemail.notify.on_recording` turns each Twilio callback of a
voicemail into the work below, and the work is done outside the webhook:

Texts (through the exactly-once scheduled-SMS path, `switchboard.schedules`)
    Two schedules per recipient at most, with ids derived from the recording and the number
    (in the `sys-` namespace the app reserves for the ids it derives):

    - the **notice** ``sys-vm-<RecordingSid>-<digits>``: "Voicemail on Main line from
      +1 201-555-0123 (0:37). Listen: <audio URL>", created by the recording status callback,
      due at once without transcription, else `transcriptWait` seconds later;
    - the **transcript** ``sys-vm-<RecordingSid>-<digits>-t``: the same text with the
      transcript ("... (0:37): <transcript> Listen: ..."), created by the transcription callback,
      due at once; it then cancels the notice if that is still pending. A transcript that comes
      after the notice went out is a second text, as the issue allows; one that comes first
      means a single text. A failed transcription sends the notice at once (as the transcript
      schedule, without text) unless it already went.

    Every create is idempotent on its id (a retried callback, a second instance: nothing
    twice), and the two callbacks write their own schedule before looking at the other's, so
    whichever of them runs second sees the first's and the notice is never left pending beside
    an earlier transcript. The timer then sends each schedule once, after the recipient's quiet
    hours (`SMS_QUIET_HOURS`), never to an opted-out number.

E-mail (through the queue `voicemail-email`, `switchboard.voicemail.mailing`)
    One delivery row per voicemail and address in the call's CallLog partition (RowKey
    ``notice-email-<RecordingSid>-<address hash>``) holds everything the message needs and its
    state: ``waiting`` → ``sending`` (a lease, ETag-claimed) → ``sent`` | ``failed``, and
    ``retrying`` between attempts. Queue messages only point at the row, so a duplicate message
    finds the row already sent and does nothing. With transcription on, the e-mail waits for the
    transcript up to `transcriptWait` seconds (the first message is enqueued with that delay, the
    transcription callback enqueues another at once); it goes once, with whatever it has then.

Each notice carries the caller, the line (its name, else its number), the duration, the
transcript when there is one, and the time in the line's zone (e-mail).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr, parsedate_to_datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard.lines.model import Line, VoicemailStep
from switchboard.schedules.rules import RetryPolicy
from switchboard.twilio.text import MAX_BODY_CHARS, is_valid_unicode, xml_safe

#: Ids the app derives for the scheduled-SMS path start with this (issue 14 reserves it).
DERIVED_ID_PREFIX = "sys-"
SMS_ID_PREFIX = DERIVED_ID_PREFIX + "vm-"
TRANSCRIPT_SUFFIX = "-t"
EMAIL_ROW_PREFIX = "notice-email-"
#: The queue of e-mail deliveries (fixed, so no app setting is needed for the trigger).
EMAIL_QUEUE = "voicemail-email"
EMAIL_KIND = "voicemail-email"
#: The longest transcript kept (Table Storage properties hold 32 K characters).
MAX_TRANSCRIPT_CHARS = 4000
#: Recordings larger than this are linked, not attached (mail servers refuse ~25 MB).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: How long a delivery attempt holds its row (fetching the audio and the SMTP exchange).
SEND_LEASE = timedelta(minutes=2)
#: A failing mail server or Twilio: 30 s doubling to 30 min, 8 attempts (about 1 h 30 min).
EMAIL_RETRY = RetryPolicy(
    base=timedelta(seconds=30), cap=timedelta(minutes=30), max_attempts=8, jitter=0.2
)
WITHHELD = "a withheld number"

_TOKEN = re.compile(r"^[A-Za-z0-9]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class EventKind(StrEnum):
    """Which callback of a voicemail an event is."""

    RECORDING = "recording"  # the recording status callback (RecordingStatus)
    TRANSCRIPTION = "transcription"  # the transcription callback (TranscriptionStatus)


class Delivery(StrEnum):
    """States of an e-mail delivery row."""

    WAITING = "waiting"
    RETRYING = "retrying"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


FINAL_DELIVERIES = frozenset({Delivery.SENT, Delivery.FAILED})


# --------------------------------------------------------------------------------------------
# The event: one callback of a voicemail, as plain data


@dataclass(frozen=True)
class RecordingEvent:
    """One Twilio callback about a voicemail, as plain data.

    The recording status callback carries no numbers: `caller` (From) and `called` (To, the
    line's number) then come from the call's CallLog record (`from_callback` fills them).
    `transcription_status` is set only by a transcription callback (``completed`` or
    ``failed``).
    """

    call_sid: str
    recording_sid: str
    recording_url: str | None = None
    caller: str | None = None
    called: str | None = None
    duration: int | None = None
    transcript: str | None = None
    transcription_status: str | None = None
    recording_status: str | None = None
    recorded_at: datetime | None = None

    @property
    def kind(self) -> EventKind:
        """A transcription callback or a recording status callback."""
        if self.transcription_status is not None:
            return EventKind.TRANSCRIPTION
        return EventKind.RECORDING

    @property
    def has_audio(self) -> bool:
        """False for an empty or failed recording (``absent``, ``failed``, 0 seconds)."""
        if self.recording_status not in (None, "", "completed"):
            return False
        return self.duration != 0

    @property
    def transcribed(self) -> bool:
        """Whether this is a transcription that produced text."""
        return self.transcription_status == "completed" and bool(self.transcript)

    @classmethod
    def from_callback(
        cls, params: Mapping[str, str], record: Mapping[str, Any] | None = None
    ) -> RecordingEvent | None:
        """The event of a recording status or transcription callback (None for the `<Record>`
        action and for requests without CallSid/RecordingSid). `record` (the call's CallLog
        record) gives the numbers and the duration the callback lacks."""

        def value(name: str) -> str:
            return (params.get(name) or "").strip()

        if "TranscriptionStatus" not in params and "RecordingStatus" not in params:
            return None
        call_sid, recording_sid = value("CallSid"), value("RecordingSid")
        if not call_sid or not recording_sid:
            return None
        known = record or {}
        transcript = params.get("TranscriptionText") or None
        transcription_status = None
        if "TranscriptionStatus" in params:
            # A transcription callback without a usable status is no transcript: "failed".
            transcription_status = value("TranscriptionStatus").lower() or "failed"
        return cls(
            call_sid=call_sid,
            recording_sid=recording_sid,
            recording_url=value("RecordingUrl") or _str(known.get("RecordingUrl")),
            caller=value("From") or _str(known.get("From")),
            called=value("To") or _str(known.get("Line")) or _str(known.get("To")),
            duration=_int(value("RecordingDuration")) or _int(known.get("RecordingDuration")),
            transcript=clean_transcript(transcript) if transcript else None,
            transcription_status=transcription_status,
            recording_status=value("RecordingStatus").lower() or None,
            recorded_at=_rfc2822(value("RecordingStartTime")),
        )


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _rfc2822(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def clean_transcript(text: str) -> str | None:
    """A transcript fit to send and store: valid Unicode, one paragraph, bounded; None if empty."""
    if not is_valid_unicode(text):
        return None
    flat = " ".join(_CONTROL.sub(" ", xml_safe(text)).split())
    if not flat:
        return None
    return flat if len(flat) <= MAX_TRANSCRIPT_CHARS else flat[: MAX_TRANSCRIPT_CHARS - 1] + "…"


# --------------------------------------------------------------------------------------------
# What a notice says


def line_label(line: Line, number: str | None = None) -> str:
    """How notices name a line: its name, else its number (readable), else "your line"."""
    if line.name and line.name.strip():
        return one_line(line.name)
    found = line.number or number
    return caller_label(found) if found else "your line"


def caller_label(number: str | None) -> str:
    """A number as people read it (`+1 201-555-0123`), or "a withheld number"."""
    if not number or not number.startswith("+"):
        return WITHHELD
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number if re.fullmatch(r"\+\d{4,15}", number) else WITHHELD
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def duration_label(seconds: int | None) -> str | None:
    """`0:37`, `12:05`, `1:02:03`; None when unknown."""
    if seconds is None or seconds < 0:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def listen_url(recording_url: str | None) -> str | None:
    """Where a person can play the recording: Twilio's MP3 of it (the media URL + `.mp3`)."""
    if not recording_url:
        return None
    from switchboard.twilio.client import recording_media_url

    return recording_media_url(recording_url, "mp3")


def one_line(text: str) -> str:
    """Text without line breaks or control characters (a header, a one-line label)."""
    return " ".join(_CONTROL.sub(" ", xml_safe(text)).split())


@dataclass(frozen=True)
class Voicemail:
    """What every notice of one voicemail says."""

    line: str
    caller: str
    duration: str | None
    listen: str | None
    transcript: str | None = None


def voicemail_of(event: RecordingEvent, line: Line) -> Voicemail:
    """The notice's facts from an event and the line it was left on."""
    return Voicemail(
        line=line_label(line, event.called),
        caller=caller_label(event.caller),
        duration=duration_label(event.duration),
        listen=listen_url(event.recording_url),
        transcript=event.transcript if event.transcribed else None,
    )


def sms_body(voicemail: Voicemail, *, with_transcript: bool) -> str:
    """ "Voicemail on Main line from +1 201-555-0123 (0:37): <transcript> Listen: <URL>"
    (without a transcript: "... (0:37). Listen: ..."), at most one message long."""
    head = f"Voicemail on {voicemail.line} from {voicemail.caller}"
    if voicemail.duration:
        head += f" ({voicemail.duration})"
    tail = f" Listen: {voicemail.listen}" if voicemail.listen else ""
    transcript = voicemail.transcript if with_transcript else None
    if not transcript:
        return _fit(head + "." + tail)
    room = MAX_BODY_CHARS - len(head) - len(tail) - 2
    if len(transcript) > room:
        transcript = transcript[: max(0, room - 1)] + "…"
    return _fit(f"{head}: {transcript}{tail}")


def _fit(text: str) -> str:
    return text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 1] + "…"


# --------------------------------------------------------------------------------------------
# Ids and timing of the texts


def _token(value: str) -> str:
    """A key-safe token of a SID or number: itself when plain, else a digest."""
    plain = value.lstrip("+")
    if _TOKEN.match(plain):
        return plain
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def notice_id(recording_sid: str, recipient: str) -> str:
    """The schedule id of the notice text of a voicemail to one number."""
    return f"{SMS_ID_PREFIX}{_token(recording_sid)}-{_token(recipient)}"


def transcript_id(recording_sid: str, recipient: str) -> str:
    """The schedule id of the transcript text of a voicemail to one number."""
    return notice_id(recording_sid, recipient) + TRANSCRIPT_SUFFIX


def notice_send_at(step: VoicemailStep, now: datetime) -> datetime:
    """When the notice text goes: at once, or with transcription `transcriptWait` seconds after
    the recording status callback (the transcript normally comes within a minute or two)."""
    return now + timedelta(seconds=step.transcript_wait) if step.transcribe else now


# --------------------------------------------------------------------------------------------
# E-mail delivery rows


def email_row_key(recording_sid: str, address: str) -> str:
    """The RowKey of the delivery of a voicemail to one address (in the call's partition)."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"{EMAIL_ROW_PREFIX}{_token(recording_sid)}-{digest}"


def email_message(call_sid: str, row_key: str) -> dict[str, Any]:
    """The queue message of a delivery: it points at the row, which holds everything."""
    return {"v": 1, "kind": EMAIL_KIND, "call": call_sid, "row": row_key}


class InvalidEmailMessage(ValueError):
    """A queue message that is not one of `email_message`'s."""


def parse_email_message(body: bytes | str) -> tuple[str, str]:
    """(CallSid, RowKey) of a queue message; InvalidEmailMessage otherwise."""
    import json

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
    return f"<{row['RowKey']}.{_token(str(row.get('CallSid', '')))}@{domain}>"


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
    caller = str(row.get("Caller") or "").lstrip("+")
    who = caller if caller.isdigit() else "withheld"
    return f"voicemail-{when}-{who}.{extension}"


@dataclass(frozen=True)
class Audio:
    """The recording to attach."""

    content: bytes
    content_type: str  # audio/mpeg, audio/x-wav


def transcript_text(row: Mapping[str, Any]) -> str:
    """What the e-mail says under "Transcript"."""
    if row.get("Transcript"):
        return str(row["Transcript"])
    status = row.get("TranscriptionStatus")
    if status == "failed":
        return "(Twilio could not transcribe this message)"
    if status == "completed":
        return "(the transcript is empty)"
    if row.get("Transcribe"):
        return "(no transcript arrived in time)"
    return "(transcription is off for this line)"


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
    line = one_line(str(row.get("LineName") or row.get("Line") or "your line"))
    caller = caller_label(_str(row.get("Caller")))
    duration = duration_label(_int(row.get("Duration")))
    recorded = row.get("RecordedAt") if isinstance(row.get("RecordedAt"), datetime) else None
    listen = listen_url(_str(row.get("RecordingUrl")))
    subject = f"Voicemail from {caller} on {line}" + (f" ({duration})" if duration else "")
    number = caller_label(_str(row.get("Line"))) if row.get("Line") else None
    where = f"{line} ({number})" if number and number not in (line, WITHHELD) else line
    lines = [
        f"New voicemail on {where}.",
        "",
        f"From:       {caller}",
        f"When:       {local_time(recorded, zone_name)}" if recorded else "When:       (unknown)",
        f"Duration:   {duration or '(unknown)'}",
        "Transcript:",
        f"  {transcript_text(row)}",
        "",
    ]
    extension = "mp3" if audio is None or audio.content_type == "audio/mpeg" else "wav"
    name = attachment_name(row, extension, zone_name)
    if audio is not None:
        lines.append(f"The recording is attached ({name}).")
    elif audio_note:
        lines.append(f"The recording is not attached: {audio_note}.")
    if listen:
        lines.append(f"Listen online (your Twilio login may be asked): {listen}")
    lines.append(f"Call: {row.get('CallSid', '')}")
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


# --------------------------------------------------------------------------------------------
# The owner's view: a summary on the call's CallLog record


SUMMARY_PROPERTY = "VoicemailNoticesJson"
_FINAL_WORDS = ("sent", "failed")


def summary_change(
    current: Mapping[str, Any] | None, updates: Mapping[str, Mapping[str, str]]
) -> dict[str, Any] | None:
    """The record's `VoicemailNoticesJson` with `updates` merged in; None when the record is
    absent or nothing changes.

    Its shape: ``{"sms": {number: "<schedule id>, <schedule id>"}, "email": {address: state}}``:
    a text's schedule ids accumulate (GET /api/sms/schedules/{id} tells how each went); an
    e-mail's state (queued, sent, failed: why) is never moved back from sent or failed."""
    import json

    if current is None:
        return None
    try:
        summary = json.loads(str(current.get(SUMMARY_PROPERTY) or "{}"))
    except ValueError:
        summary = {}
    if not isinstance(summary, dict):
        summary = {}
    changed = False
    for channel, entries in updates.items():
        known = summary.setdefault(channel, {})
        if not isinstance(known, dict):
            known = summary[channel] = {}
        for key, state in entries.items():
            before = str(known.get(key) or "")
            if channel == "sms":
                ids = [i for i in before.split(", ") if i]
                state = ", ".join(ids + [i for i in state.split(", ") if i and i not in ids])
            downgrade = before.startswith(_FINAL_WORDS) and not state.startswith(_FINAL_WORDS)
            if before == state or downgrade:
                continue
            known[key] = state
            changed = True
    if not changed:
        return None
    return {SUMMARY_PROPERTY: json.dumps(summary, separators=(",", ":"), ensure_ascii=False)}
