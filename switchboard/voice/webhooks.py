"""The voice webhooks' `respond` steps (`POST /api/voice/*`): decide, record, answer TwiML.

The blueprint (`switchboard.voice.blueprint`) hands each verified request (`twilio_webhook`
checks settings and the signature: 403, nothing written, when it fails) to one of the `on_*`
steps here; `switchboard.voice.flow` decides and builds the TwiML, and this module writes the
CallLog change and answers `text/xml`.

The write is best-effort. The caller must hear the TwiML even when Table Storage is down, so a
storage failure is logged (CallSid for correlation, numbers masked) and the answer goes out
anyway. A webhook Twilio retries (same `I-Twilio-Idempotency-Token`, which means the very same
request, hence the same CallSid and step) finds its step marker already written and writes
nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import azure.functions as func

from switchboard import records
from switchboard.contacts import lookup as contacts
from switchboard.contacts.refs import ContactRef
from switchboard.http import twiml_response
from switchboard.lines import lookup as lines
from switchboard.lines.defaults import default_line
from switchboard.lines.model import Line, RingStep, VoicemailStep
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings
from switchboard.twilio.webhook import TwilioRequest
from switchboard.voice import flow as voice

logger = get_logger(__name__)

Decide = Callable[[TwilioRequest, Settings], voice.Outcome]
Respond = Callable[[TwilioRequest, Settings], func.HttpResponse]

#: How the CallLog store is obtained; the benchmark and tests swap it for a stub.
store_factory: Callable[[Settings], Any] = RecordStore.calls
#: How the line of a called number is found (this instance's cache, else the default line).
line_factory: Callable[[str, Settings], Line] = lines.line_for
#: Who a caller is (this instance's cache, else one point read of the Contacts table).
contact_factory: Callable[[Settings, str], ContactRef | None] = contacts.contact_for


def _respond(decide: Decide, record: str = "CallSid") -> Respond:
    """The `respond` step of `twilio_webhook` for one route: load and decide, record, answer.

    `record` names the parameter holding the CallLog record's id (a whisper runs on the child
    leg and writes to its parent call's record).
    """

    def respond(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
        _used_line.set(None)
        try:
            outcome = decide(request, settings)
        except Exception as exc:
            # A stored line that builds but cannot answer (a document no version of the app
            # would write): it is reported, and the caller is answered by the default line.
            line = _used_line.get()
            if line is None or line.is_default:
                raise  # the default line itself failed: a bug, not a document
            lines.report_unusable(line.number or "", line.version, type(exc).__name__)
            token = _default_only.set(True)
            try:
                outcome = decide(request, settings)
            finally:
                _default_only.reset(token)
        call_sid = request.get(record)
        if logger.isEnabledFor(logging.INFO):  # the masked numbers cost more than the check
            caller = request.get("From")
            logger.info(
                "voice %s: %s%s",
                call_sid or "-",
                outcome.handling,
                # Callbacks (recording status) carry no numbers: say nothing, not "from ''".
                f" (from {mask(caller)} to {mask(request.get('To'))})" if caller else "",
                extra={"CallSid": call_sid},
            )
        if outcome.change is not None:
            log_call(call_sid, outcome.change, request, settings)
        if outcome.handling == "queue":
            _joined_queue(settings)
        return twiml_response(outcome.twiml)

    return respond


def _joined_queue(settings: Settings) -> None:
    """A caller is being sent to the line's queue: its Twilio queue is made ready (before the
    `<Enqueue>` is answered) and its people rung (`switchboard.callqueue.service`)."""
    line = _used_line.get()
    if line is None or line.is_default or _default_only.get():
        return
    from switchboard.callqueue.service import joined

    joined(settings, line)


def log_call(
    call_sid: str, change: voice.CallLogChange, request: TwilioRequest, settings: Settings
) -> bool:
    """Write one step's change to CallLog, once; False when nothing was written (and why is logged).

    Never raises: a storage failure must not keep the caller from hearing the TwiML.
    """
    if not call_sid or not records.is_valid_record_id(call_sid):
        logger.warning("voice: a webhook without a usable CallSid: nothing recorded")
        return False
    try:
        store = store_factory(settings)
        if not store.mark_step(call_sid, change.step):
            logger.info(
                "voice %s: step %s already recorded (a Twilio retry, token %s): nothing written",
                call_sid,
                change.step,
                request.idempotency_token or "-",
                extra={"CallSid": call_sid},
            )
            return False
        now = records.utcnow()
        store.update(call_sid, lambda current: voice.apply_change(change, current, now))
    except Exception as exc:  # any storage failure: the call goes on, the failure is logged
        logger.error(
            "voice %s: CallLog not written for step %s (%s: %s); the call was answered anyway",
            call_sid,
            change.step,
            type(exc).__name__,
            _first_line(exc),
            extra={"CallSid": call_sid},
        )
        return False
    return True


def _first_line(exc: BaseException) -> str:
    # Storage errors can be long (request ids, XML bodies); they never hold the account key.
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


#: Set while a step is decided again with the default line (see `_respond`).
_default_only: ContextVar[bool] = ContextVar("voice_default_only", default=False)
#: The line the last decision in this context used (whose failure is reported).
_used_line: ContextVar[Line | None] = ContextVar("voice_used_line", default=None)


def _line_of(number: str, settings: Settings) -> Line:
    """The line of `number` (`line_factory`), or the default line while deciding again."""
    if _default_only.get():
        return default_line(settings)
    line = line_factory(number, settings)
    _used_line.set(line)
    return line


def _line(request: TwilioRequest, settings: Settings) -> Line:
    """Load: the line the call is for (this instance's cache; the default line when none)."""
    return _line_of(voice.called_number(request.params), settings)


def _position(request: TwilioRequest) -> voice.Position | None:
    """Where the call is (`at=`), carrying the hop its answer's action URLs get."""
    return voice.parse_position(
        voice.query_value(request.url, "at"), hop=voice.hop_of(request.url) + 1
    )


def decide_incoming(request: TwilioRequest, settings: Settings) -> voice.Outcome:
    """Load and decide for `POST /api/voice/incoming`: the line and the caller's contact (a
    blocked contact is rejected on every line), then `voice.incoming`."""
    line = _line(request, settings)
    caller = contact_factory(settings, request.get("From"))
    blocked = caller.id if caller is not None and caller.blocked else None
    return voice.incoming(request.params, settings, line, lines.now(settings), blocked)


def _menu(request: TwilioRequest, settings: Settings) -> voice.Outcome:
    line = _line(request, settings)
    at = _position(request)
    attempt = voice.attempt_of(request.url, limit=10)
    return voice.menu(request.params, settings, attempt, line, at)


def _dial_complete(request: TwilioRequest, settings: Settings) -> voice.Outcome:
    line = _line(request, settings)
    at = _position(request)
    turn = _small_int(voice.query_value(request.url, "turn"))
    legs: dict[str, Any] = {}
    found = voice.locate(line, at) if at is not None else None
    if found is not None and isinstance(found[1], RingStep):
        legs = _legs(request.get("CallSid"), settings)
    return voice.dial_complete(request.params, settings, line, at, turn, legs)


def _legs(call_sid: str, settings: Settings) -> dict[str, Any]:
    """Load: which ring-group legs took or declined the call (their whispers wrote them)."""
    if not call_sid or not records.is_valid_record_id(call_sid):
        return {}
    try:
        return voice.legs_of(store_factory(settings).get(call_sid))
    except Exception as exc:  # storage down: Twilio's DialBridged still says who took it
        logger.warning("voice %s: ring-group legs not readable (%s)", call_sid, type(exc).__name__)
        return {}


def _whisper(request: TwilioRequest, settings: Settings) -> voice.Outcome:
    # The answering leg's `To` is the person: the line is the one the Dial's URL names.
    line = _line_of(voice.query_value(request.url, "line") or "", settings)
    at = _position(request)
    person = voice.query_value(request.url, "person")
    answered = voice.query_value(request.url, "answered") == "1"
    index = _small_int(person) if person is not None else None
    caller = voice.query_value(request.url, "caller") or ""
    return voice.whisper(request.params, settings, line, at, index, answered, caller)


def _recording_line(request: TwilioRequest, settings: Settings) -> Line:
    # Recording callbacks carry no `To`: a stored line's number is in the signed URL.
    named = voice.query_value(request.url, "line")
    return _line_of(named, settings) if named else _line(request, settings)


def _recording(request: TwilioRequest, settings: Settings) -> voice.Outcome:
    return voice.recording(request.params, settings, _recording_line(request, settings))


def on_recording(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/voice/recording`: record the voicemail, its status callback and transcription;
    then (after the write) hand the callbacks of a voicemail step with recipients to
    `switchboard.voicemail.notify`, which queues the texts and e-mails (never the sending), and
    complete the call's event in the caller's conversation (its recording, its transcript)."""
    response = _record_and_answer(request, settings)
    if "RecordingStatus" in request.params or "TranscriptionStatus" in request.params:
        _notify_voicemail(request, settings)
        _conversation_row(request, settings)
    return response


def _conversation_row(request: TwilioRequest, settings: Settings) -> None:
    """A recording's or transcript's callback completes the call's event in the caller's
    conversation (`switchboard.conversations`; the call's end moved its state). Never raises."""
    call_sid = request.get("CallSid")
    if not call_sid or not records.is_valid_record_id(call_sid):
        return
    try:
        record = store_factory(settings).get(call_sid)
    except Exception as exc:
        logger.warning(
            "voice %s: record not readable for its conversation (%s)", call_sid, type(exc).__name__
        )
        return
    from switchboard.conversations.service import on_call_recording

    on_call_recording(dict(record) if record is not None else None, settings)


def _notify_voicemail(request: TwilioRequest, settings: Settings) -> None:
    line = _recording_line(request, settings)
    at = voice.parse_position(voice.query_value(request.url, "at"))
    found = voice.locate(line, at) if at is not None else None
    step = found[1] if found is not None else None
    if not isinstance(step, VoicemailStep) or not (step.notify_sms or step.notify_email):
        return
    from switchboard.voicemail import notify
    from switchboard.voicemail.notices import RecordingEvent

    call_sid = request.get("CallSid")
    record: dict[str, Any] | None = None
    try:
        found_record = store_factory(settings).get(call_sid) if call_sid else None
        record = dict(found_record) if found_record is not None else None
    except Exception as exc:  # the callback still carries the recording; numbers may be missing
        logger.warning(
            "voice %s: record not readable for notices (%s)", call_sid, type(exc).__name__
        )
    event = RecordingEvent.from_callback(request.params, record)
    if event is None:
        return
    # Who may hear about it, and how often, is the outbound policy's call, per recipient
    # (`switchboard.voicemail.notify`).
    notify.on_recording(event, line, step, settings)


def _small_int(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 3 else 0


#: `POST /api/voice/incoming`: reject, refuse, or greet then the flow of the line's state.
on_incoming = _respond(decide_incoming)
#: `POST /api/voice/menu`: the menu's `<Gather>` result.
on_menu = _respond(_menu)
#: `POST /api/voice/dial-complete`: after a `<Dial>`.
on_dial_complete = _respond(_dial_complete)
#: `POST /api/voice/whisper`: the answering leg of a ring group, before it is connected.
on_whisper = _respond(_whisper, record="ParentCallSid")
_record_and_answer = _respond(_recording)
