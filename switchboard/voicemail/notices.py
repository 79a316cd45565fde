"""Voicemail notices: what the recipients of a voicemail get, and when (pure, no I/O).

The design of the whole package is here; this module holds the event, the texts and their
ids, and the owner's summary; `switchboard.voicemail.emails` the e-mail's rows and message.

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
      after the notice went out is a second text (the notice cannot wait for ever); one that
      comes first means a single text. A failed transcription sends the notice at once (as the transcript
      schedule, without text) unless it already went.

    Every create is idempotent on its id (a retried callback, a second instance: nothing
    twice), and the two callbacks write their own schedule before looking at the other's, so
    whichever of them runs second sees the first's and the notice is never left pending beside
    an earlier transcript. The timer then sends each schedule once, after the recipient's quiet
    hours (`SMS_QUIET_HOURS`), never to an opted-out number.

E-mail (through the queue `voicemail-email`: `emails` for the rows, `mailing` for a delivery)
    One delivery row per voicemail and address in the call's CallLog partition (RowKey
    ``notice-email-<RecordingSid>-<address hash>``) holds everything the message needs and its
    state: ``waiting`` → ``sending`` (a lease, ETag-claimed) → ``sent`` | ``failed``, and
    ``retrying`` between attempts. Queue messages only point at the row, so a duplicate message
    finds the row already sent and does nothing. With transcription on, the e-mail waits for the
    transcript up to `transcriptWait` seconds (the first message is enqueued with that delay, the
    transcription callback enqueues another at once); it goes once, with whatever it has then.

Each notice carries the caller (the name of their contact with the number, `Dana Reyes
(+1 201-555-0123)`, when the number is a contact's), the line (its name, else its number), the
duration, the transcript when there is one, and the time in the line's zone (e-mail).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from switchboard.lines.model import Line, VoicemailStep
from switchboard.outbound import wording
from switchboard.patterns import without_controls
from switchboard.phone import is_withheld
from switchboard.records import DERIVED_ID_PREFIX
from switchboard.twilio.text import is_valid_unicode, xml_safe

#: The scheduled-SMS ids of voicemail notices, in the namespace of the ids the app derives (no
#: operator's schedule id may use it, so no chosen id can collide with a derived one).
SMS_ID_PREFIX = DERIVED_ID_PREFIX + "vm-"
TRANSCRIPT_SUFFIX = "-t"
#: The longest transcript kept (Table Storage properties hold 32 K characters).
MAX_TRANSCRIPT_CHARS = 4000
WITHHELD = wording.WITHHELD_CALLER

_TOKEN = re.compile(r"[A-Za-z0-9]{1,64}")


class EventKind(StrEnum):
    """Which callback of a voicemail an event is."""

    RECORDING = "recording"  # the recording status callback (RecordingStatus)
    TRANSCRIPTION = "transcription"  # the transcription callback (TranscriptionStatus)


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
    #: The name of the caller's contact (`switchboard.voicemail.notify` looks it up).
    caller_name: str | None = None

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
            recording_url=value("RecordingUrl") or text_of(known.get("RecordingUrl")),
            caller=value("From") or text_of(known.get("From")),
            called=value("To") or text_of(known.get("Line")) or text_of(known.get("To")),
            duration=int_of(value("RecordingDuration")) or int_of(known.get("RecordingDuration")),
            transcript=clean_transcript(transcript) if transcript else None,
            transcription_status=transcription_status,
            recording_status=value("RecordingStatus").lower() or None,
            recorded_at=_rfc2822(value("RecordingStartTime")),
        )


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def int_of(value: Any) -> int | None:
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
    flat = one_line(text)
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
    return caller_label(found) if found else wording.YOUR_LINE


def caller_label(number: str | None, name: str | None = None) -> str:
    """A number as people read it (`+1 201-555-0123`), or "a withheld number"; with the name
    of the number's contact first when there is one: `Dana Reyes (+1 201-555-0123)`."""
    readable = _readable_number(number)
    shown = one_line(name)[:MAX_NAME_CHARS] if name else ""
    if not shown:
        return readable
    return shown if readable == WITHHELD else f"{shown} ({readable})"


#: The most of a contact's name a notice shows.
MAX_NAME_CHARS = 60


def _readable_number(number: str | None) -> str:
    if not number or is_withheld(number) or not number.startswith("+"):
        return WITHHELD
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number if re.fullmatch(r"\+[0-9]{4,15}", number) else WITHHELD
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
    return " ".join(without_controls(xml_safe(text)).split())


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
        caller=caller_label(event.caller, event.caller_name),
        duration=duration_label(event.duration),
        listen=listen_url(event.recording_url),
        transcript=event.transcript if event.transcribed else None,
    )


def sms_body(voicemail: Voicemail, *, with_transcript: bool) -> str:
    """The notice's text (`wording.voicemail_sms`): "Voicemail on Main line from
    +1 201-555-0123 (0:37): <transcript> Listen: <URL>", at most one message long."""
    return wording.voicemail_sms(
        voicemail.line,
        voicemail.caller,
        voicemail.duration,
        voicemail.listen,
        voicemail.transcript if with_transcript else None,
    )


# --------------------------------------------------------------------------------------------
# Ids and timing of the texts


def token(value: str) -> str:
    """A key-safe token of a SID or number: itself when plain, else a digest."""
    plain = value.lstrip("+")
    if _TOKEN.fullmatch(plain):
        return plain
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def notice_id(recording_sid: str, recipient: str) -> str:
    """The schedule id of the notice text of a voicemail to one number."""
    return f"{SMS_ID_PREFIX}{token(recording_sid)}-{token(recipient)}"


def transcript_id(recording_sid: str, recipient: str) -> str:
    """The schedule id of the transcript text of a voicemail to one number."""
    return notice_id(recording_sid, recipient) + TRANSCRIPT_SUFFIX


def notice_send_at(step: VoicemailStep, now: datetime) -> datetime:
    """When the notice text goes: at once, or with transcription `transcriptWait` seconds after
    the recording status callback (the transcript normally comes within a minute or two)."""
    return now + timedelta(seconds=step.transcript_wait) if step.transcribe else now


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
