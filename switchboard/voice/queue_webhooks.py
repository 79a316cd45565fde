"""The `respond` steps of the queue's webhooks (`POST /api/voice/queue-*`).

- `on_queue_wait` (`/api/voice/queue-wait`, the `<Enqueue>` wait URL, requested again and
  again while a caller waits): the line from this instance's cache, the place from Twilio's
  parameters and the callbacks ahead from memory, so a warm request reads and writes no
  storage. Its `<Gather>` comes back here with `Digits` (press 1: a callback). With
  `role=connect` it is the wait of a person who accepted a callback, waiting for the customer.
- `on_queue_result` (`/api/voice/queue-result`, the `<Enqueue>` action): why the caller left
  (`QueueResult`), recorded; what they hear next. With `role=connect`: the person waiting for
  a customer left (bridged, or nobody answered).
- `on_queue_offer` (`/api/voice/queue-offer`): a person the queue rang: press 1 (the whisper),
  then a caller or a callback (`stage=key`), and the end of their call (`stage=done`).
- `on_queue_connect` (`/api/voice/queue-connect`, a `<Queue url>`: on the leg taken off a queue,
  before the bridge): who took which caller and how long they waited, on the caller's record;
  or a call back answered.

Each is one trip like the other voice webhooks (`switchboard.voice.webhooks`): the line, the
decision (`switchboard.voice.queue`, pure; `switchboard.callqueue.service` for what needs
storage), the CallLog write best-effort, the TwiML.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func
from twilio.twiml.voice_response import VoiceResponse

from switchboard import records
from switchboard.callqueue import rules
from switchboard.callqueue import service as queues
from switchboard.http import twiml_response
from switchboard.lines import lookup as lines
from switchboard.lines.model import Line, Person, QueueStep
from switchboard.logs import get_logger
from switchboard.settings import Settings
from switchboard.twilio.twiml import twiml_text
from switchboard.twilio.webhook import TwilioRequest
from switchboard.voice import flow as voice
from switchboard.voice import queue as vq
from switchboard.voice import webhooks

logger = get_logger(__name__)


def _query(request: TwilioRequest, name: str) -> str:
    return voice.query_value(request.url, name) or ""


def _line(request: TwilioRequest, settings: Settings) -> Line:
    # The queue's requests carry the line in their signed URL (an offer's `To` is the person).
    return webhooks.line_factory(_query(request, "line"), settings)


def _at(request: TwilioRequest) -> voice.Position | None:
    return voice.parse_position(_query(request, "at"), hop=voice.hop_of(request.url) + 1)


def _small(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else None


def _person(line: Line, request: TwilioRequest) -> tuple[QueueStep, int, Person] | None:
    """The queue step and the person a signed URL names (`person=`), or None."""
    found = rules.find_queue(line)
    index = _small(_query(request, "person"))
    if found is None or index is None:
        return None
    person = queues.person_of(found[1], index)
    return (found[1], index, person) if person is not None else None


def _empty() -> func.HttpResponse:
    return twiml_response(str(VoiceResponse()))


def _arrival(request: TwilioRequest) -> datetime:
    raw = _query(request, "arrived")
    if raw.isascii() and raw.isdigit() and len(raw) <= 12:
        return datetime.fromtimestamp(int(raw), UTC)
    return records.utcnow()


def on_queue_wait(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/voice/queue-wait`: the wait document, the callback request, a person's wait."""
    line = _line(request, settings)
    if _query(request, "role") == "connect":
        return twiml_response(vq.connect_wait(request.params, line, settings))
    at = _at(request)
    step = vq.queue_step(line, at)
    if "Digits" in request.params:
        caller = request.get("From")
        if (
            request.get("Digits") == "1"
            and step is not None
            and at is not None
            and vq.may_call_back(step, caller)
        ):
            answer = queues.request_callback(
                settings, line, at.encode(), request.get("CallSid"), caller, _arrival(request)
            )
            return twiml_response(
                vq.callback_answer(request.params, line, settings, answer.allowed)
            )
        return _empty()  # another key: back to waiting (Twilio asks the wait URL again)
    ahead: tuple[datetime, ...] = ()
    if step is not None and step.callback and line.number:
        ahead = queues.callbacks_ahead(settings, line.number)
    outcome = vq.wait(request.params, settings, line, at, lines.now(settings), ahead)
    return twiml_response(outcome.twiml)


def on_queue_result(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/voice/queue-result`: the caller (or a person waiting for a customer) left."""
    line = _line(request, settings)
    if _query(request, "role") == "connect":
        return _connect_left(request, settings, line)
    at = _at(request)
    call_sid = request.get("CallSid")
    callback = None
    if request.get("QueueResult") == vq.LEFT and line.number and rules.is_call_sid(call_sid):
        callback = queues.callback_of(settings, line.number, call_sid)
    outcome = vq.result(request.params, settings, line, at, lines.now(settings), callback)
    if outcome.change is not None:
        webhooks.log_call(call_sid, outcome.change, request, settings)
    logger.info("voice %s: %s", call_sid or "-", outcome.handling, extra={"CallSid": call_sid})
    return twiml_response(outcome.twiml)


def _connect_left(request: TwilioRequest, settings: Settings, line: Line) -> func.HttpResponse:
    found = _person(line, request)
    callback = _query(request, "cb")
    bridged = request.get("QueueResult") == vq.BRIDGED
    if found is None or not rules.is_call_sid(callback):
        return twiml_response(vq.say_and_hang_up(line, settings, vq.OFFER_DECLINED))
    outcome = queues.callback_ended(
        settings,
        line,
        callback,
        found[2].number,
        _query(request, "offer"),
        bridged=bridged,
        connect_queue=request.get("QueueSid") or None,
    )
    if bridged or outcome == rules.ANSWERED:
        return twiml_response(vq.say_and_hang_up(line, settings, vq.CALL_ENDED))
    return twiml_response(vq.say_and_hang_up(line, settings, vq.CALLBACK_UNANSWERED))


def on_queue_offer(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/voice/queue-offer`: a person the queue rang (whisper, key, end of the call)."""
    line = _line(request, settings)
    found = _person(line, request)
    offer = _query(request, "offer")
    stage = _query(request, "stage")
    if found is None or not offer.startswith(rules.OFFER_ID_PREFIX):
        return twiml_response(vq.say_and_hang_up(line, settings, vq.OFFER_DECLINED))
    step, index, person = found
    query = {"line": line.number, "person": index, "offer": offer}
    if not stage:
        key_url = voice.action_url(settings, rules.OFFER_PATH, **query, stage="key")
        return twiml_response(vq.offer(line, settings, step, key_url).twiml)
    if stage == "done":
        queues.offer_done(settings, line.number or "", person.number, offer)
        return twiml_response(vq.say_and_hang_up(line, settings, vq.CALL_ENDED))
    if request.get("Digits") != "1":
        queues.offer_declined(settings, line.number or "", offer)
        return twiml_response(vq.say_and_hang_up(line, settings, vq.OFFER_DECLINED))
    try:
        took = queues.take(settings, line, person, offer)
    except Exception as exc:  # storage or Twilio down: the person is told, the caller waits on
        logger.error("queue: %s could not take a caller (%s)", offer, type(exc).__name__)
        queues.offer_declined(settings, line.number or "", offer)
        return twiml_response(vq.say_and_hang_up(line, settings, vq.TRY_AGAIN))
    if took.kind == "caller":
        return twiml_response(
            vq.take_caller(
                line,
                settings,
                took.caller_number,
                voice.action_url(settings, rules.OFFER_PATH, **query, stage="done"),
                voice.action_url(settings, rules.CONNECT_PATH, **query),
            )
        )
    if took.kind == "callback" and took.callback is not None:
        callback = took.callback
        try:
            queues.call_back(settings, line, callback, index, offer)
        except Exception as exc:
            logger.error("queue: call back of %s not queued (%s)", callback.call_sid, exc)
            queues.callback_ended(
                settings, line, callback.call_sid, person.number, offer, bridged=False
            )
            return twiml_response(vq.say_and_hang_up(line, settings, vq.NOBODY_LEFT))
        connect = {**query, "role": "connect", "cb": callback.call_sid}
        return twiml_response(
            vq.take_callback(
                line,
                settings,
                callback,
                voice.action_url(settings, rules.WAIT_PATH, **connect),
                voice.action_url(settings, rules.RESULT_PATH, **connect),
            )
        )
    return twiml_response(vq.say_and_hang_up(line, settings, vq.NOBODY_LEFT))


def on_queue_connect(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """`POST /api/voice/queue-connect`: the leg taken off a queue, just before the bridge."""
    line = _line(request, settings)
    found = _person(line, request)
    person = found[2] if found is not None else None
    callback = _query(request, "cb")
    response = VoiceResponse()
    speaker = voice.Speaker.of(line, settings)
    if callback:
        if rules.is_call_sid(callback) and line.number:
            queues.callback_connected(settings, line.number, callback, person)
        speaker.say(response, vq.CALLBACK_CONNECTED)
        return twiml_response(twiml_text(response))
    call_sid = request.get("CallSid")
    webhooks.log_call(call_sid, vq.taken_change(request.params, person), request, settings)
    speaker.say(response, vq.CONNECTING)
    return twiml_response(twiml_text(response))
