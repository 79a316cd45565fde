"""E-mail notices from the `voicemail-email` queue: one delivery, and the poison handler.

- `handle_message` (trigger `voicemail_email`): the message names a delivery row
  (`switchboard.voicemail.outbox`); the row says what to do (`emails.next_for`): nothing
  (sent or failed already: a duplicate message), later (waiting for the transcript, a backoff,
  another attempt's lease: the message is put back with that delay), or send. Sending claims
  the row (ETag, a 2-minute lease), fetches the recording from Twilio with the account's
  credentials (`Recordings/{sid}.json`, then its MP3; a recording kept in External Storage
  from its own host, without them), builds the e-mail
  (`emails.compose_email`) and submits it over SMTP (`switchboard.mail.smtp`).
- A failure the mail server or Twilio calls temporary is retried by the app itself, with
  backoff (`emails.EMAIL_RETRY`: 30 s doubling to 30 min, 8 attempts): the row goes
  ``retrying`` and a new message is enqueued with the delay, so no worker waits and the host's
  fixed redelivery (10 s, 5 times) is not what paces the retries. After the last attempt, or a
  permanent refusal, the row is ``failed`` with the reason, and the call's summary says so.
  A recording Twilio no longer has is not a failure: the e-mail goes without it, saying why.
- Anything unexpected (storage down) raises: the host redelivers the message, and after
  `maxDequeueCount` moves it to `voicemail-email-poison`, where `handle_poison` records the
  row ``failed`` (nothing is lost silently).

Exactly once per voicemail and address: only the attempt holding the row's lease sends, and
a sent row is never sent again. The one gap SMTP leaves (no idempotency key): a worker that
dies between the server's acceptance and the ``sent`` write sends the message again after its
lease, with the same Message-ID, which mail clients and many servers treat as one message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from switchboard import records
from switchboard.logs import get_logger
from switchboard.mail import smtp
from switchboard.mail.smtp import MailFailure, SmtpConfig
from switchboard.schedules.rules import RetryPolicy
from switchboard.settings import MissingSettingError, Settings, get_settings
from switchboard.twilio import client as twilio_client
from switchboard.twilio.errors import classify_twilio_error
from switchboard.voicemail import emails
from switchboard.voicemail.emails import Audio, InvalidEmailMessage, Next
from switchboard.voicemail.notify import Enqueue, email_enqueuer, record_summary
from switchboard.voicemail.outbox import Outbox

logger = get_logger(__name__)

#: Fetches a row's recording: (audio, why it is missing) or raises `RetryLater`.
FetchAudio = Callable[[Mapping[str, Any], Settings], tuple[Audio | None, str | None]]
Send = Callable[[EmailMessage, SmtpConfig], None]
#: When a row keeps changing under us (a transcript arriving), look again this much later.
BUSY_RETRY = timedelta(seconds=15)
#: Statuses of a recording Twilio has not finished yet.
_NOT_READY = frozenset({"processing", "in-progress"})


class RetryLater(Exception):
    """A temporary failure (Twilio, the network): the attempt is retried with backoff."""


def fetch_audio(row: Mapping[str, Any], settings: Settings) -> tuple[Audio | None, str | None]:
    """The recording of a delivery row from Twilio (its MP3), or None and why it is missing."""
    sid = str(row.get("RecordingSid") or "")
    try:
        client = twilio_client.get_client(settings)
        recording = twilio_client.fetch_recording(client, sid)
        if recording.status in _NOT_READY:
            raise RetryLater(f"the recording is still {recording.status} at Twilio")
        if recording.status not in (None, "completed"):
            return None, f"the recording is {recording.status} at Twilio"
        media = recording.media_url or str(row.get("RecordingUrl") or "")
        if not media:
            return None, "Twilio gives no media URL for it"
        downloaded = twilio_client.download_media(
            settings,
            twilio_client.recording_media_url(media, "mp3"),
            max_bytes=emails.MAX_ATTACHMENT_BYTES,
            require_https=settings.running_in_azure,
        )
    except RetryLater:
        raise
    except MissingSettingError as exc:
        return None, f"{exc.name} is not set"
    except twilio_client.MediaTooLarge:
        return None, f"it is larger than {emails.MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB"
    except twilio_client.MediaRefused as exc:
        return None, f"its media URL is not one the app fetches ({exc})"
    except Exception as exc:
        failure = classify_twilio_error(exc)
        if failure.transient:
            raise RetryLater(f"Twilio: {failure.message or failure.status}") from exc
        if failure.status == 404:
            return None, "Twilio no longer has it"
        return None, f"Twilio refused it (HTTP {failure.status})"
    return Audio(downloaded.content, downloaded.content_type), None


@dataclass
class Mailer:
    """What one delivery works with (tests swap the mail server, Twilio, the clock, retries)."""

    settings: Settings
    outbox: Outbox
    enqueue: Enqueue
    send: Send = smtp.send
    audio: FetchAudio = fetch_audio
    clock: Callable[[], datetime] = records.utcnow
    retry: RetryPolicy = emails.EMAIL_RETRY

    def deliver(self, body: bytes | str) -> str:
        """One delivery of a `voicemail-email` message (see `deliver`)."""
        try:
            call_sid, row_key = emails.parse_email_message(body)
        except InvalidEmailMessage as exc:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            logger.error("voicemail e-mail: a queue message refused (%s): %.200r", exc, text)
            return "rejected"
        message = emails.email_message(call_sid, row_key)
        for _ in range(3):
            now = self.clock()
            row = self.outbox.get(call_sid, row_key)
            if row is None:
                logger.warning(
                    "voicemail e-mail: no delivery row %s for call %s (nothing to send)",
                    row_key,
                    call_sid,
                    extra={"CallSid": call_sid},
                )
                return "orphan"
            action, until = emails.next_for(row, now)
            if action is Next.DONE:
                return "done"
            if action is Next.LATER:
                assert until is not None
                self.enqueue(message, until - now)
                return "later"
            claimed = self.outbox.change(row, emails.claim_changes(row, now))
            if claimed is not None:
                return self._attempt(claimed)
        self.enqueue(message, BUSY_RETRY)
        return "later"

    def _attempt(self, row: dict[str, Any]) -> str:
        """The attempt that holds the row's lease: fetch, compose, submit, record."""
        call_sid, address = str(row["PartitionKey"]), str(row["To"])
        try:
            config = SmtpConfig.from_settings(self.settings)
            recording, note = self.audio(row, self.settings)
            email = emails.compose_email(row, config.sender, audio=recording, audio_note=note)
            self.send(email, config)
        except MissingSettingError as exc:
            failure, transient = f"{exc.name} is not set", False
        except RetryLater as exc:
            failure, transient = str(exc), True
        except MailFailure as exc:
            failure, transient = f"mail server: {exc}", exc.transient
        else:
            changes = emails.sent_changes(str(email["Message-ID"]), self.clock(), note)
            _write_outcome(self.outbox, row, changes)
            record_summary(call_sid, {"email": {address: "sent"}}, self.settings)
            logger.info(
                "voicemail e-mail for call %s sent (attempt %s)%s",
                call_sid,
                row.get("Attempts"),
                f"; recording not attached: {note}" if note else "",
                extra={"CallSid": call_sid},
            )
            return "sent"
        return self._failed(row, failure, transient)

    def _failed(self, row: dict[str, Any], error: str, transient: bool) -> str:
        now = self.clock()
        changes = emails.failure_changes(row, error, transient=transient, now=now, retry=self.retry)
        _write_outcome(self.outbox, row, changes)
        call_sid = str(row["PartitionKey"])
        if changes["State"] == emails.Delivery.RETRYING.value:
            retry_at: datetime = changes["NextAttemptAt"]
            self.enqueue(emails.email_message(call_sid, str(row["RowKey"])), retry_at - now)
            logger.warning(
                "voicemail e-mail for call %s: attempt %s failed (%s); next at %s",
                call_sid,
                row.get("Attempts"),
                error,
                records.iso(retry_at),
                extra={"CallSid": call_sid},
            )
            return "retrying"
        record_summary(call_sid, {"email": {str(row["To"]): f"failed: {error}"}}, self.settings)
        logger.error(
            "voicemail e-mail for call %s failed for good after %s attempts: %s",
            call_sid,
            row.get("Attempts"),
            error,
            extra={"CallSid": call_sid},
        )
        return "failed"


def deliver(body: bytes | str, settings: Settings, **tools: Any) -> str:
    """One delivery of a `voicemail-email` message; returns what it did (for logs and tests):
    ``sent``, ``retrying``, ``failed``, ``later``, ``done`` (nothing left), ``orphan`` (no row),
    ``rejected`` (not one of the app's messages). Raises only for unexpected errors.
    `tools` override `Mailer`'s fields (`outbox`, `enqueue`, `send`, `audio`, `clock`, `retry`)."""
    outbox = tools.pop("outbox", None) or Outbox.from_settings(settings)
    enqueue = tools.pop("enqueue", None) or email_enqueuer(settings)
    return Mailer(settings, outbox, enqueue, **tools).deliver(body)


def _write_outcome(outbox: Outbox, row: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Record an attempt's outcome on the row it holds (a few tries: a lost write would let
    the lease expire and the message be sent again)."""
    for attempt in range(3):
        try:
            if outbox.change(row, changes) is not None:
                return
            current = outbox.get(str(row["PartitionKey"]), str(row["RowKey"]))
            if current is None:
                return
            row = current  # merged by someone in between (nothing may while we hold it)
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise RuntimeError("delivery row: the outcome could not be written")


def expire(body: bytes | str, settings: Settings, *, outbox: Outbox | None = None) -> str:
    """A message of `voicemail-email-poison`: its delivery becomes ``failed`` (nothing is lost
    silently); returns ``failed``, ``done`` or ``orphan``/``rejected`` as `deliver` does."""
    try:
        call_sid, row_key = emails.parse_email_message(body)
    except InvalidEmailMessage as exc:
        logger.error("voicemail e-mail: a poison message refused (%s)", exc)
        return "rejected"
    outbox = outbox or Outbox.from_settings(settings)
    row = outbox.get(call_sid, row_key)
    if row is None:
        return "orphan"
    if row.get("State") in emails.FINAL_DELIVERIES:
        return "done"
    last = row.get("LastError") or "an unexpected error"
    error = f"gave up after repeated delivery failures ({last})"
    outbox.change(row, emails.failure_changes(row, error, transient=False, now=records.utcnow()))
    record_summary(call_sid, {"email": {str(row["To"]): f"failed: {error}"}}, settings)
    logger.error(
        "voicemail e-mail for call %s dead-lettered: %s",
        call_sid,
        error,
        extra={"CallSid": call_sid},
    )
    return "failed"


def handle_message(body: bytes) -> str:
    """A message of the `voicemail-email` queue, with the process's settings."""
    return deliver(body, get_settings())


def handle_poison(body: bytes) -> str:
    """A message of `voicemail-email-poison`, with the process's settings."""
    return expire(body, get_settings())
