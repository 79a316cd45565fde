"""The queue step of a call flow, as pure functions: the TwiML a queued call hears at each of
its webhooks, and what each changes on the call's CallLog record (no I/O).

    /voice/incoming ... queue step ──► <Enqueue waitUrl=/voice/queue-wait action=/voice/queue-result>
    /voice/queue-wait (again and again while waiting: Twilio's QueuePosition, QueueTime, ...)
          ├─ the line closed, or QueueTime ≥ maxWait ──────────────► <Leave/>
          ├─ Digits=1 (callback on): the callback is kept ─────────► <Leave/>
          └─ the place in line, the expected wait, the callback offer, the hold prompt
    /voice/queue-result (QueueResult)
          ├─ bridged, hangup ──► <Hangup/>       ├─ leave after a callback ──► confirmation
          ├─ leave with the line closed ──► the closed flow (greeting, steps)
          └─ leave (max wait), queue-full, error ──► the next steps (voicemail ...)

    a person of the queue, rung by the app: /voice/queue-offer (press 1)
          ├─ takes a live caller ──► <Dial action=queue-offer?stage=done><Queue url=queue-connect>
          └─ takes a callback ────► <Enqueue> in the callback's own queue, waiting for the
                                    customer, whose call back dials it: <Dial><Queue>
    /voice/queue-connect (`<Queue url>`, on the leg taken off a queue): who took whom, the wait

Everything a wait URL request needs comes from the line (the cache) and Twilio's parameters, so a
warm wait URL reads no storage: what callers wait through is the path that must stay cheapest.
The decisions that need storage (which person takes whom, the callbacks) are
`switchboard.callqueue.service`'s; this module only says what is heard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from switchboard.callqueue import rules
from switchboard.callqueue.rules import Callback
from switchboard.lines.hours import State, state_at
from switchboard.lines.model import Line, Person, Prompt, QueueStep
from switchboard.phone import is_withheld
from switchboard.settings import Settings
from switchboard.twilio.twiml import twiml_text
from switchboard.voice.flow import (
    WHISPER_TIMEOUT,
    CallLogChange,
    Outcome,
    Position,
    Speaker,
    action_url,
    greet,
    locate,
    run_steps,
    spoken_number,
)

HOLD_DEFAULT = "Thank you for waiting. Someone will be with you as soon as possible."
CALLBACK_OFFER = "To be called back without losing your place in line, press 1."
CALLBACK_REFUSED = "Sorry, we cannot call you back at this number. Please stay on the line."
CONNECTING = "Connecting you now."
NOBODY_LEFT = "Nobody is waiting any more. Thank you. Goodbye."
TRY_AGAIN = "Sorry, the queue cannot be reached right now. You will be called again. Goodbye."
OFFER_DECLINED = "Goodbye."
CALL_ENDED = "The call has ended. Thank you. Goodbye."
CALLING_BACK = "We are calling them now. Please hold."
CALLBACK_UNANSWERED = (
    "They did not answer. They will get a text, and the team a note of the missed call. Goodbye."
)
CALLBACK_CONNECTED = "Connected."
#: Seconds between two hearings of a spoken hold prompt (silence between them).
HOLD_EVERY = 20
#: Words a second of speech holds, to pad a spoken hold prompt to `announceEvery`.
WORDS_PER_SECOND = 2.5
#: Seconds the callback offer's `<Gather>` waits after the document before Twilio asks again.
GATHER_TAIL = 1
#: Seconds between the updates a person waiting for a customer hears.
CONNECT_PAUSE = 10

# QueueResult values (Twilio's `<Enqueue>` action).
BRIDGED = "bridged"
BRIDGING = "bridging-in-process"
QUEUE_FULL = "queue-full"
HUNG_UP = "hangup"
LEFT = "leave"
REDIRECTED = "redirected"


def queue_step(line: Line, at: Position | None) -> QueueStep | None:
    """The queue step at `at`, or None (the line changed under the call)."""
    found = locate(line, at) if at is not None else None
    return found[1] if found is not None and isinstance(found[1], QueueStep) else None


def _position_query(line: Line, at: Position) -> dict[str, Any]:
    return {"line": line.number, "at": at.encode(), "hop": at.hop}


def _int(params: Mapping[str, str], name: str) -> int:
    raw = (params.get(name) or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0


def queue_time(params: Mapping[str, str]) -> int:
    """Twilio's `QueueTime`: seconds the call has waited (0 when absent)."""
    return _int(params, "QueueTime")


def _spoken_seconds(text: str) -> int:
    return math.ceil(len(text.split()) / WORDS_PER_SECOND)


def _line_open(line: Line, now: datetime | None) -> bool:
    if now is None:
        return True
    state, _, _ = state_at(line.schedule, now)
    return state is State.OPEN


def may_call_back(step: QueueStep, caller: str) -> bool:
    """Whether the callback is offered: the step says so and the caller's number is known."""
    return step.callback and bool(caller) and not is_withheld(caller)


def _hold(target: Any, step: QueueStep, speaker: Speaker, said: int) -> None:
    """The hold prompt: a recording once (its length sets the rhythm), or the spoken prompt
    every `HOLD_EVERY` seconds with silence between, to `announceEvery`."""
    hold = step.hold or Prompt(text=HOLD_DEFAULT)
    if hold.url:
        speaker.prompt(target, hold)
        return
    each = max(1, _spoken_seconds(hold.text or HOLD_DEFAULT)) * max(1, hold.loop)
    room = max(each, step.announce_every - said)
    stretch = max(each, HOLD_EVERY)
    for _ in range(max(1, room // stretch)):
        speaker.prompt(target, hold)
        if stretch > each:
            target.pause(length=stretch - each)
    rest = room % stretch if room >= stretch else 0
    if rest > 0:
        target.pause(length=rest)


def wait(
    params: Mapping[str, str],
    settings: Settings,
    line: Line,
    at: Position | None,
    now: datetime | None,
    callbacks_ahead: Sequence[datetime] = (),
) -> Outcome:
    """`POST /api/voice/queue-wait` (a caller in the line's queue): leave when the line closed
    or the caller waited `maxWait`; else their place in line (Twilio's `QueuePosition` plus the
    callbacks that arrived before them) and the expected wait (Twilio's `AvgQueueTime`), the
    callback offer, and the hold prompt. Twilio asks again when the document ends. Writes
    nothing: leaving is recorded by the action."""
    response = VoiceResponse()
    step = queue_step(line, at)
    waited = queue_time(params)
    if step is None:
        response.leave()
        return Outcome(twiml_text(response), "queue-lost", None)
    if not _line_open(line, now):
        response.leave()
        return Outcome(twiml_text(response), "queue-closing", None)
    if waited >= step.max_wait:
        response.leave()
        return Outcome(twiml_text(response), "queue-max-wait", None)
    assert at is not None
    speaker = Speaker.of(line, settings)
    arrived = rules.callback_arrival(now, waited) if now is not None else None
    place = (
        rules.place_in_line(
            _int(params, "QueuePosition"),
            arrived,
            callbacks_ahead,
        )
        if arrived is not None
        else max(1, _int(params, "QueuePosition"))
    )
    announcement = (
        f"You are number {place} in line. "
        f"The expected wait is {rules.expected_wait(_int(params, 'AvgQueueTime'))}."
    )
    target: Any = response
    said = _spoken_seconds(announcement)
    caller = params.get("From", "").strip()
    if may_call_back(step, caller):
        target = response.gather(
            input="dtmf",
            num_digits=1,
            timeout=GATHER_TAIL,
            action=action_url(
                settings,
                rules.WAIT_PATH,
                **_position_query(line, at),
                arrived=int(arrived.timestamp()) if arrived is not None else None,
            ),
            method="POST",
        )
        said += _spoken_seconds(CALLBACK_OFFER) + GATHER_TAIL
    speaker.say(target, announcement)
    if target is not response:
        speaker.say(target, CALLBACK_OFFER)
    _hold(target, step, speaker, said)
    return Outcome(twiml_text(response), "queue-wait", None)


def callback_answer(
    params: Mapping[str, str], line: Line, settings: Settings, allowed: bool
) -> str:
    """The answer to a caller who pressed 1: leave the queue (the action confirms), or stay with
    an apology when the outbound policy refuses to call them."""
    response = VoiceResponse()
    if allowed:
        response.leave()
    else:
        Speaker.of(line, settings).say(response, CALLBACK_REFUSED)
    return twiml_text(response)


def _initial(params: Mapping[str, str]) -> dict[str, Any]:
    initial: dict[str, Any] = {"Sid": params.get("CallSid", "").strip(), "Direction": "inbound"}
    for name in ("From", "To"):
        value = params.get(name, "").strip()
        if value:
            initial[name] = value
    return initial


def result(
    params: Mapping[str, str],
    settings: Settings,
    line: Line,
    at: Position | None,
    now: datetime | None,
    callback: Callback | None = None,
) -> Outcome:
    """`POST /api/voice/queue-result`, the `<Enqueue>` action: the caller left the queue.

    `bridged` (a person took them, and the call ended), `hangup`: nothing more. `leave` after a
    callback request: the confirmation, with the number that will be called. `leave` with the
    line closed: the closed flow (its greeting and steps). `leave` otherwise (the longest wait),
    `queue-full`, `error`: the next steps of the flow, as after an unanswered forward. The
    record gets `QueueResult`, `QueueTime` and `QueueOutcome`."""
    outcome_word = (params.get("QueueResult") or "").strip().lower()
    waited = queue_time(params)
    caller = params.get("From", "").strip()
    speaker = Speaker.of(line, settings)
    response = VoiceResponse()
    fields: dict[str, Any] = {"QueueResult": outcome_word or "unknown", "QueueTime": waited}
    step = queue_step(line, at)
    if outcome_word == BRIDGED:
        response.hangup()
        handling, word = "queue-taken", "taken"
    elif outcome_word in (BRIDGING, REDIRECTED):
        handling, word = "queue-" + outcome_word, outcome_word
    elif outcome_word == HUNG_UP:
        response.hangup()
        handling, word = "queue-hung-up", "hung-up"
    elif outcome_word == LEFT and callback is not None:
        speaker.say(
            response,
            f"We will call you back at {spoken_number(callback.caller or caller)} when it is "
            "your turn. You keep your place in line. Goodbye.",
        )
        response.hangup()
        handling, word = "queue-callback", "callback"
        fields["Callback"] = callback.status
    elif step is None or at is None:
        speaker.say(response, "Sorry, something changed while you were waiting. Goodbye.")
        response.hangup()
        handling, word = "lost", "lost"
    elif outcome_word == LEFT and not _line_open(line, now):
        # Closing time: the queue empties into the closed flow, as a call arriving now hears.
        greet(response, params, line, "closed", speaker, settings)
        handling = run_steps(
            response,
            line.flows.get("closed", ()),
            Position("closed", (0,), hop=at.hop),
            line,
            speaker,
            settings,
            caller,
        )
        word = "closed"
        fields |= {"Flow": "closed"}
    else:
        handling = run_steps(
            response,
            line.flows.get(at.flow, ()),
            at.at_index(at.index + 1),
            line,
            speaker,
            settings,
            caller,
        )
        word = {LEFT: "max-wait" if waited >= step.max_wait else "left", QUEUE_FULL: "full"}.get(
            outcome_word, "error"
        )
        fields["Reached"] = False
    fields |= {"QueueOutcome": word, "Handling": handling}
    step_name = f"queue-result-{at.encode() if at is not None else '-'}"
    return Outcome(
        twiml_text(response), handling, CallLogChange(step_name, _initial(params), fields)
    )


# --------------------------------------------------------------------------------------------
# The people of the queue


def offer(line: Line, settings: Settings, step: QueueStep | None, key_url: str) -> Outcome:
    """The whisper of an offer, on the person's answering leg: press 1 to take the next
    caller (no key: the leg hangs up, and the queue rings again later)."""
    response = VoiceResponse()
    if step is None:
        response.hangup()
        return Outcome(twiml_text(response), "queue-offer-lost", None)
    speaker = Speaker.of(line, settings)
    gather = response.gather(num_digits=1, timeout=WHISPER_TIMEOUT, action=key_url, method="POST")
    who = line.name or "your line"
    speaker.say(gather, f"Callers are waiting on {who}. Press 1 to take the next one.")
    response.hangup()
    return Outcome(twiml_text(response), "queue-offer", None)


def take_caller(
    line: Line,
    settings: Settings,
    caller: str | None,
    done_url: str,
    connect_url: str,
) -> str:
    """A person who pressed 1 takes the front of the line's queue: `<Dial><Queue>` (its `url`
    runs on the caller's leg before the two are bridged)."""
    response = VoiceResponse()
    speaker = Speaker.of(line, settings)
    if caller:
        speaker.say(response, f"Taking the call from {spoken_number(caller)}.")
    dial = response.dial(timeout=10, action=done_url, method="POST")
    dial.queue(rules.queue_name(line.number or ""), url=connect_url, method="POST")
    return twiml_text(response)


def take_callback(
    line: Line, settings: Settings, callback: Callback, wait_url: str, result_url: str
) -> str:
    """A person who pressed 1 takes a callback: they wait in the callback's own queue while the
    app calls the customer, whose answered call dials that queue."""
    response = VoiceResponse()
    Speaker.of(line, settings).say(
        response,
        f"Calling back {spoken_number(callback.caller)}, who asked to be called back. Please hold.",
    )
    response.enqueue(
        rules.connect_queue_name(callback.call_sid),
        action=result_url,
        method="POST",
        wait_url=wait_url,
        wait_url_method="POST",
    )
    return twiml_text(response)


def say_and_hang_up(line: Line, settings: Settings, text: str) -> str:
    """A sentence, then `<Hangup/>`."""
    response = VoiceResponse()
    Speaker.of(line, settings).say(response, text)
    response.hangup()
    return twiml_text(response)


def connect_wait(params: Mapping[str, str], line: Line, settings: Settings) -> str:
    """`/voice/queue-wait` for the person who accepted a callback, waiting in its own queue for
    the customer: leave after `CONNECT_WAIT` (the customer did not answer)."""
    response = VoiceResponse()
    if queue_time(params) >= rules.CONNECT_WAIT:
        response.leave()
        return twiml_text(response)
    Speaker.of(line, settings).say(response, CALLING_BACK)
    response.pause(length=CONNECT_PAUSE)
    return twiml_text(response)


def taken_change(params: Mapping[str, str], person: Person | None) -> CallLogChange:
    """What `/voice/queue-connect` records on the caller's record when a person takes them off
    the queue: who, how long they waited, and the leg that took them."""
    who = {"name": person.name, "number": person.number} if person is not None else {}
    import json

    fields: dict[str, Any] = {
        "Reached": True,
        "QueueTime": queue_time(params),
        "QueueOutcome": "taken",
        "TakenByJson": json.dumps(who, separators=(",", ":")),
    }
    leg = params.get("DequeingCallSid", "").strip()
    if leg:
        fields["TakenByCallSid"] = leg
    return CallLogChange("queue-connect", _initial(params), fields)
