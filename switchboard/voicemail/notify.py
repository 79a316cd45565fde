"""The entry point of voicemail notices: what the voice webhook calls for each voicemail callback.

    on_recording(event, line, step, settings) -> NoticeReport

`POST /api/voice/recording` calls it after recording the callback in CallLog, for the
recording status callback (``RecordingStatus``) and the transcription callback
(``TranscriptionStatus``) of a voicemail step with recipients; `RecordingEvent.from_callback`
builds the event from the form and the call's record. It does only quick writes (a few table
requests per recipient and one queue message per address: tens of milliseconds), never the
sending itself, and never raises: a failure is logged and reported per recipient.

Each recipient asks the outbound policy (`switchboard.outbound`) for itself: a text to a staff
number passes its destination check, the caller's window on the line (`SMS_FORWARD_DAILY_CAP`
voicemails a day: the voicemail's two callbacks and its several recipients count once) and the
line's budget of automatic texts; an e-mail passes only the line's daily e-mail ceiling
(`VOICEMAIL_EMAIL_DAILY_LIMIT`), so a withheld or alphanumeric caller never holds an e-mail
back. A recipient refused is reported ``skipped (why)`` in the call's summary.

What it reads and writes (the design: `switchboard.voicemail.notices`):

- Contacts: the caller's name (`switchboard.contacts.lookup`, 0 reads while this instance
  remembers the number), shown in the texts and the e-mails;
- SmsSchedule: creates the notice and transcript schedules of each `notify.sms` number
  (`ScheduleStore.create`, idempotent on the derived ids) and cancels a notice a transcript
  replaces (`ScheduleStore.cancel`); the scheduled-SMS timer sends them.
- CallLog, the call's partition: one delivery row per `notify.email` address (created, or the
  transcript merged in), and a message on the `voicemail-email` queue pointing at it (delayed by
  `transcriptWait` when a transcript is awaited); the record's `VoicemailNoticesJson` summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.aio import run_sync
from switchboard.contacts.lookup import contact_for
from switchboard.lines.model import Line, VoicemailStep
from switchboard.lines.sending import line_ref
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.service import Decision, LineRef, Message, Outbound
from switchboard.phone import mask
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import FINAL, ID_ROW, NewSchedule, Status
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings
from switchboard.storage import queues
from switchboard.voicemail import emails, notices
from switchboard.voicemail.notices import EventKind, RecordingEvent, Voicemail
from switchboard.voicemail.outbox import Outbox

logger = get_logger(__name__)

#: Sends one queue message to the e-mail queue, invisible for the delay.
Enqueue = Callable[[Mapping[str, Any], timedelta], None]


@dataclass
class NoticeReport:
    """What one callback did for each recipient (number → schedule id, address → state)."""

    sms: dict[str, str] = field(default_factory=dict)
    email: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every recipient's work was done (or had been already)."""
        return not self.errors


def email_enqueuer(settings: Settings, queue: str = emails.EMAIL_QUEUE) -> Enqueue:
    """Messages to the e-mail queue (base64, as the Functions host reads them)."""

    def enqueue(message: Mapping[str, Any], delay: timedelta) -> None:
        queues.enqueue_json(
            queue, dict(message), settings, delay_seconds=int(delay.total_seconds() + 0.999)
        )

    return enqueue


def on_recording(
    event: RecordingEvent,
    line: Line,
    step: VoicemailStep,
    settings: Settings,
    *,
    now: datetime | None = None,
    enqueue: Enqueue | None = None,
    outbound: Outbound | None = None,
) -> NoticeReport:
    """Hand a voicemail's notices to the texts' timer and the e-mail queue (see the module doc).

    Idempotent: a retried callback, or the same callback on two instances at once, gives each
    recipient each voicemail once. A recording without audio (``absent``, 0 s) notifies nobody.
    """
    report = NoticeReport()
    if not (step.notify_sms or step.notify_email) or not event.has_audio:
        return report
    event = named(event, settings)
    moment = now or records.utcnow()
    correlation = {"CallSid": event.call_sid}
    voicemail = notices.voicemail_of(event, line)
    policy = outbound or Outbound(settings)
    ref = line_ref(line, settings, event.called)
    if step.notify_sms:
        try:
            allowed, refused = _ask_texts(policy, ref, event, voicemail, step)
            report.sms = dict(refused)
            if allowed:
                report.sms.update(
                    run_sync(_texts(event, voicemail, step, allowed, ref.number, moment, settings))
                )
        except Exception as exc:  # storage down: logged; a retried callback does it again
            report.errors.append(f"sms: {type(exc).__name__}")
            logger.error(
                "voicemail %s: texts not scheduled (%s)",
                event.recording_sid,
                type(exc).__name__,
                extra=correlation,
            )
    if step.notify_email:
        try:
            report.email = _emails(
                event,
                line,
                step,
                settings,
                moment,
                enqueue or email_enqueuer(settings),
                lambda key: policy.charge_email(ref, key),
            )
        except Exception as exc:
            report.errors.append(f"email: {type(exc).__name__}")
            logger.error(
                "voicemail %s: e-mails not queued (%s)",
                event.recording_sid,
                type(exc).__name__,
                extra=correlation,
            )
    _summarise(event.call_sid, report, settings)
    logger.info(
        "voicemail %s (%s): texts %s, e-mails %s",
        event.recording_sid,
        event.kind.value,
        ", ".join(f"{mask(n)} {i}" for n, i in report.sms.items()) or "-",
        ", ".join(report.email.values()) or "-",
        extra=correlation,
    )
    return report


def named(event: RecordingEvent, settings: Settings) -> RecordingEvent:
    """The event with the name of the caller's contact (`switchboard.contacts.lookup`: this
    instance's cache, else one point read; nobody when storage cannot say)."""
    if event.caller_name or not event.caller:
        return event
    contact = contact_for(settings, event.caller)
    if contact is None or not contact.label:
        return event
    return replace(event, caller_name=contact.label)


# --------------------------------------------------------------------------------------------
# Texts


def _ask_texts(
    policy: Outbound, ref: LineRef, event: RecordingEvent, voicemail: Voicemail, step: VoicemailStep
) -> tuple[list[str], dict[str, str]]:
    """Each number's answer from the outbound policy: (allowed numbers, refused → word)."""
    allowed: list[str] = []
    refused: dict[str, str] = {}
    transcript = event.kind is EventKind.TRANSCRIPTION
    for to in step.notify_sms:
        key = (notices.transcript_id if transcript else notices.notice_id)(event.recording_sid, to)
        decision = policy.ask(
            Message(
                Purpose.VOICEMAIL,
                ref,
                to,
                subject=(event.caller or "").strip() or "withheld",
                key=key,
                cause=event.recording_sid,
                body=notices.sms_body(voicemail, with_transcript=transcript),
            )
        )
        if decision.allowed:
            allowed.append(to)
        else:
            refused[to] = decision.word
    return allowed, refused


async def _texts(
    event: RecordingEvent,
    voicemail: Voicemail,
    step: VoicemailStep,
    numbers: list[str],
    line: str,
    now: datetime,
    settings: Settings,
) -> dict[str, str]:
    async with schedule_store.open_tables(settings) as opened:
        store = ScheduleStore(opened.schedules)
        done = await asyncio.gather(
            *(_text(store, event, voicemail, step, to, line, now) for to in numbers)
        )
    return dict(zip(numbers, done, strict=True))


async def _text(
    store: ScheduleStore,
    event: RecordingEvent,
    voicemail: Voicemail,
    step: VoicemailStep,
    to: str,
    line: str,
    now: datetime,
) -> str:
    """One recipient's schedules for one callback; returns the id of the text it stands for."""
    notice = notices.notice_id(event.recording_sid, to)
    transcript = notices.transcript_id(event.recording_sid, to)
    if event.kind is EventKind.RECORDING:
        if step.transcribe and await _exists(store, transcript):
            return transcript  # the transcript came first: its text is the notice
        body = notices.sms_body(voicemail, with_transcript=False)
        await _create(store, notice, to, body, notices.notice_send_at(step, now), now, line)
        # Written first, looked second (the transcription callback does the same the other way
        # round): of two racing callbacks, the later one sees the earlier one's schedule.
        if step.transcribe and await _exists(store, transcript):
            await store.cancel(notice, now)
            return transcript
        return notice
    if not event.transcribed and await _started(store, notice):
        return notice  # no transcript to add, and the notice already went (or is going)
    body = notices.sms_body(voicemail, with_transcript=True)
    await _create(store, transcript, to, body, now, now, line)
    await store.cancel(notice, now)  # pending: replaced; sent: the transcript is a second text
    return transcript


async def _create(
    store: ScheduleStore,
    schedule_id: str,
    to: str,
    body: str,
    send_at: datetime,
    now: datetime,
    line: str,
) -> None:
    # SAME (a retry) and CONFLICT (an earlier callback created it with other facts) both mean
    # this text exists: it is never created twice.
    await store.create(
        NewSchedule(
            id=schedule_id,
            to=to,
            body=body,
            send_at=send_at,
            line=line or None,
            purpose=Purpose.VOICEMAIL.value,
        ),
        now,
    )


async def _exists(store: ScheduleStore, schedule_id: str) -> bool:
    return await store.get(schedule_id, ID_ROW) is not None


async def _started(store: ScheduleStore, schedule_id: str) -> bool:
    """Whether a schedule is being sent or has ended (False when absent or still pending)."""
    found = await store.state(schedule_id)
    if found is None:
        return False
    _, state = found
    if state is None:
        return True
    status = state.get("Status")
    return status == Status.CLAIMED.value or status in {s.value for s in FINAL}


# --------------------------------------------------------------------------------------------
# E-mails


def _emails(
    event: RecordingEvent,
    line: Line,
    step: VoicemailStep,
    settings: Settings,
    now: datetime,
    enqueue: Enqueue,
    charge: Callable[[str], Decision],
) -> dict[str, str]:
    outbox = Outbox.from_settings(settings)
    states: dict[str, str] = {}
    for address in step.notify_email:
        # The line's daily e-mail ceiling, counted once per voicemail and address.
        decision = charge(emails.email_row_key(event.recording_sid, address))
        if not decision.allowed:
            states[address] = decision.word
            continue
        row = outbox.record(
            emails.email_row(event, line, step, address, now),
            lambda current: emails.merge_email_row(current, event, now),
        )
        state = str(row.get("State"))
        if state in emails.FINAL_DELIVERIES:
            states[address] = state
            continue
        enqueue(
            emails.email_message(event.call_sid, str(row["RowKey"])),
            emails.email_delay(row, now),
        )
        states[address] = "queued"
    return states


# --------------------------------------------------------------------------------------------
# The owner's view


def _summarise(call_sid: str, report: NoticeReport, settings: Settings) -> None:
    updates = {
        channel: entries
        for channel, entries in (("sms", report.sms), ("email", report.email))
        if entries
    }
    if not updates:
        return
    record_summary(call_sid, updates, settings)


def record_summary(
    call_sid: str, updates: Mapping[str, Mapping[str, str]], settings: Settings
) -> None:
    """Merge notice states into the call's `VoicemailNoticesJson` (best effort: logged)."""
    try:
        RecordStore.calls(settings).update(
            call_sid, lambda current: notices.summary_change(current, updates)
        )
    except Exception as exc:  # the notices themselves are done; only the summary is late
        logger.warning(
            "voicemail: summary of call %s not written (%s)",
            call_sid,
            type(exc).__name__,
            extra={"CallSid": call_sid},
        )
