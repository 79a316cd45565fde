"""Incoming calls: what Switchboard says and does, as pure functions (no I/O).

Each webhook of `POST /api/voice/*` is one function here taking the request's form parameters,
the line the call is for (`switchboard.lines`: a stored line, or the default line built from the
`VOICE_*` settings) and the settings, and returning an `Outcome`: the TwiML to answer (built with
twilio's `VoiceResponse`, which escapes every piece of text) and the change to make to the call's
CallLog record. `switchboard.voice.webhooks` loads the line, calls these, writes the change
best-effort and answers.

The call flow:

    /voice/incoming ── blocked caller (the line's, or a blocked contact) ► <Reject/>
          │        ── not on the allowed list ─────────────────────► <Say>sorry</Say><Hangup/>
          │ the line's state now (open / closed / holiday) picks the flow; its greeting, then
          │ its steps in order:
          ├─ say / play / pause ─► and on to the next step
          ├─ menu ──► <Gather action=/voice/menu?at=…> ──► /voice/menu ─► the option's steps
          ├─ forward ──► <Dial action=/voice/dial-complete?at=…> ─► answered: <Hangup/>
          │                                                        otherwise: the next step
          ├─ ring ──► <Dial><Number url=/voice/whisper?…>… ─► someone pressed 1: <Hangup/>
          │            (all at once, or one after another)        otherwise: the next step
          ├─ queue ──► <Enqueue waitUrl=/voice/queue-wait action=/voice/queue-result> (see
          │            `switchboard.voice.queue`): taken by a person, else the next step
          ├─ voicemail ──► <Record action=/voice/recording?at=…>
          ├─ hangup, redirect
          └─ no steps left ──► goodbye <Hangup/>

Where the call is travels in the action URLs (`at=open.0.1.0`: the flow, then step index, menu
key, step index, ...), with the menu attempt (`attempt=2`), the ring turn (`turn=1`) and the hop
(`hop=3`: how many requests of this call's flow came before). Twilio signs those URLs, so a
caller cannot forge them; a position that no longer exists (the line was edited during the call)
ends the call politely, and so does a hop past `MAX_HOPS`: whatever a flow (or a future step
kind) does, no call goes round for ever. A `redirect` into the app's own webhooks is refused
when a line is written; one a line stored earlier still holds is never followed.
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import functools
import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.twiml.voice_response import VoiceResponse

from switchboard.lines.defaults import default_line
from switchboard.lines.hours import Reason, State, state_at
from switchboard.lines.model import (
    ForwardStep,
    HangupStep,
    Line,
    MenuStep,
    PauseStep,
    Person,
    Prompt,
    PromptStep,
    QueueStep,
    RedirectStep,
    RingStep,
    Step,
    VoicemailStep,
)
from switchboard.logs import get_logger
from switchboard.own_urls import leads_back
from switchboard.phone import WITHHELD_LABEL, is_withheld
from switchboard.settings import Settings, app_origins
from switchboard.twilio.text import xml_safe
from switchboard.twilio.twiml import twiml_text

logger = get_logger(__name__)

# The Functions host serves HTTP routes under `/api` (host.json `extensions.http.routePrefix`).
INCOMING_PATH = "/api/voice/incoming"
MENU_PATH = "/api/voice/menu"
DIAL_COMPLETE_PATH = "/api/voice/dial-complete"
RECORDING_PATH = "/api/voice/recording"
WHISPER_PATH = "/api/voice/whisper"

#: How many times a menu is offered before the caller hears goodbye (a menu's own `attempts`).
MENU_ATTEMPTS = 2
#: Seconds a whisper's `<Gather>` waits for the answering person's key.
WHISPER_TIMEOUT = 5
#: Requests of one call's flow after `/voice/incoming`, at most. The longest flow a valid line
#: allows stays under it (four lists of 20 steps, 19 of them in-turn ring groups of 20 people,
#: three levels of menus offered 5 times: under 1,600 hops); past it, the call says goodbye.
MAX_HOPS = 2000

SITE_FALLBACK = "Switchboard"
GOODBYE = "Thank you for calling. Goodbye."
NOT_ALLOWED = "Sorry, this number does not take calls from your line. Goodbye."
NOT_UNDERSTOOD = "Sorry, I did not get that."
VOICEMAIL_PROMPT = "Please leave a message after the tone. Press the pound key when you are done."
NO_MESSAGE = "We did not get a message. Goodbye."
MESSAGE_THANKS = "Thank you, your message has been recorded. Goodbye."
LOST = "Sorry, something changed while you were calling. Please call again. Goodbye."
TOO_LONG = "Sorry, this call cannot go on. Please call again. Goodbye."

# DialCallStatus values meaning the dialled leg was picked up (Twilio's hunt template checks
# `complete`, which never comes, and so dials on after a finished call).
_CONNECTED = frozenset({"completed", "answered"})


class CallLogChange(NamedTuple):
    """What one webhook step changes on the call's CallLog record (applied by `apply_change`).

    `step` names the step for retry detection (same CallSid + step = a Twilio retry).
    `initial` fills properties the record lacks (the first writer wins: From, To, Direction...);
    `fields` are set every time; `menu_choice` is appended to `MenuChoicesJson`; `leg` adds one
    answered ring-group leg to `LegsJson` (by its CallSid).
    """

    step: str
    initial: Mapping[str, Any] = MappingProxyType({})
    fields: Mapping[str, Any] = MappingProxyType({})
    menu_choice: Mapping[str, Any] | None = None
    starts_call: bool = False
    leg: tuple[str, Mapping[str, Any]] | None = None


class Outcome(NamedTuple):
    """The answer to one voice webhook: TwiML, a short word for logs, and the record change."""

    twiml: str
    handling: str
    change: CallLogChange | None


# --------------------------------------------------------------------------------------------
# Where a call is in its line's flow


class Position:
    """A step of a line's flow: the flow's name, then index, menu key, index, ... (`open.0.1.0`),
    and the hop the action URLs naming it carry (`hop`: the requests of the call's flow before
    the one these URLs lead to).

    A plain class: made per request from `at=` and written back into URLs (`encode`), never
    compared nor changed, so nothing is generated for every cold start to build.
    """

    __slots__ = ("flow", "hop", "path")

    def __init__(self, flow: str, path: tuple[int | str, ...], hop: int = 0) -> None:
        self.flow = flow
        self.path = path
        self.hop = hop

    def __repr__(self) -> str:
        return f"Position({self.encode()!r}, hop={self.hop})"

    def encode(self) -> str:
        """The `at=` value of action URLs."""
        return ".".join([self.flow, *(str(part) for part in self.path)])

    def at_index(self, index: int) -> "Position":
        """The step `index` of the same list."""
        return Position(self.flow, (*self.path[:-1], index), self.hop)

    def option(self, key: str, index: int = 0) -> "Position":
        """Step `index` of menu option `key` of this (menu) step."""
        return Position(self.flow, (*self.path, key, index), self.hop)

    @property
    def index(self) -> int:
        """The step's index in its list."""
        last = self.path[-1]
        return last if isinstance(last, int) else 0


def hop_of(url: str) -> int:
    """The hop of a request: its URL's `hop=` (0 when absent: `/voice/incoming`, or a URL from
    before hops were counted)."""
    raw = query_value(url, "hop") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0


def parse_position(raw: str | None, hop: int = 0) -> Position | None:
    """A Position from `at=` (None when absent or malformed); `hop`: what the action URLs of
    the answer carry (the request's hop + 1)."""
    if not raw:
        return None
    parts = raw.split(".")
    if len(parts) < 2 or len(parts) > 16 or len(parts) % 2:
        return None
    path: list[int | str] = []
    for number, part in enumerate(parts[1:]):
        if number % 2 == 0:
            if not part.isdigit() or len(part) > 3:
                return None
            path.append(int(part))
        else:
            if len(part) != 1 or part not in "0123456789*#":
                return None
            path.append(part)
    return Position(parts[0], tuple(path), hop)


def locate(line: Line, position: Position) -> tuple[tuple[Step, ...], Step] | None:
    """The list a position points into and its step, or None when it does not exist."""
    steps = line.flows.get(position.flow)
    if steps is None:
        return None
    step: Step | None = None
    path = position.path
    for depth in range(0, len(path), 2):
        index = path[depth]
        if not isinstance(index, int) or index >= len(steps):
            return None
        step = steps[index]
        if depth + 1 < len(path):
            key = path[depth + 1]
            if not isinstance(step, MenuStep) or not isinstance(key, str):
                return None
            option = step.option(key)
            if option is None:
                return None
            steps = option.steps
    return (steps, step) if step is not None else None


def first_position(line: Line, kinds: tuple[type, ...], flow: str = "open") -> Position | None:
    """The first step of one of `kinds` in a flow, depth first: where a request that carries no
    position (from a call answered before positions existed) most likely stands."""

    def search(steps: tuple[Step, ...], prefix: tuple[int | str, ...]) -> Position | None:
        for index, step in enumerate(steps):
            if isinstance(step, kinds):
                return Position(flow, (*prefix, index))
            if isinstance(step, MenuStep):
                for option in step.options:
                    found = search(option.steps, (*prefix, index, option.key))
                    if found is not None:
                        return found
        return None

    return search(line.flows.get(flow, ()), ())


def query_value(url: str, name: str) -> str | None:
    """The first value of query parameter `name` of `url`."""
    values = parse_qs(urlsplit(url).query).get(name, [])
    return values[0] if values else None


# --------------------------------------------------------------------------------------------
# TwiML building blocks


class Speaker:
    """How `<Say>` speaks on this line: the line's voice and language, else the settings'.

    A plain class: one per voice and language (`of`), never compared nor changed, and nothing
    generated for every cold start to build (a frozen dataclass compiles five methods).
    """

    __slots__ = ("language", "plain", "voice")

    def __init__(self, voice: str | None, language: str | None) -> None:
        self.voice = voice
        self.language = language
        #: The attributes of a plain `<Say>`, worked out once: a call says several things.
        self.plain = {k: v for k, v in (("voice", voice), ("language", language)) if v}

    @classmethod
    def of(cls, line: Line, settings: Settings) -> "Speaker":
        """The line's speaker (one per voice and language: it holds no per-call state)."""
        return _speaker(
            line.voice or settings.voice_tts_voice, line.language or settings.voice_language
        )

    def say(self, target: Any, text: str, prompt: Prompt | None = None) -> None:
        """`<Say>` with the voice and language (omitted when unset: Twilio's defaults)."""
        # Caller-supplied text (ApiVersion) may hold characters XML 1.0 cannot carry at all.
        if prompt is None or (not prompt.voice and not prompt.language and prompt.loop == 1):
            # The line's own voice (most says of a stored line too): worked out once.
            target.say(xml_safe(text), **self.plain)
            return
        attrs: dict[str, Any] = {}
        voice = prompt.voice or self.voice
        language = prompt.language or self.language
        if voice:
            attrs["voice"] = voice
        if language:
            attrs["language"] = language
        if prompt.loop != 1:
            attrs["loop"] = prompt.loop
        target.say(xml_safe(text), **attrs)

    def prompt(self, target: Any, prompt: Prompt) -> None:
        """A prompt: `<Say>` its text or `<Play>` its URL."""
        if prompt.url:
            attrs = {"loop": prompt.loop} if prompt.loop != 1 else {}
            target.play(prompt.url, **attrs)
        elif prompt.text:
            self.say(target, prompt.text, prompt)


@functools.lru_cache(maxsize=64)
def _speaker(voice: str | None, language: str | None) -> Speaker:
    return Speaker(voice, language)


def action_url(settings: Settings, path: str, **query: Any) -> str:
    """Where Twilio should post next: absolute under PUBLIC_BASE_URL when set, else the path.

    A path is resolved by Twilio against the URL it just called, which is right unless a proxy
    rewrites paths; PUBLIC_BASE_URL makes the callback independent of that.
    """
    return _action_url(settings.public_base_url or "", path, tuple(query.items()))


@functools.lru_cache(maxsize=1024)
def _action_url(base: str, path: str, query: tuple[tuple[str, Any], ...]) -> str:
    # Pure, and every call of a line asks for the same few (a position, an attempt): the
    # encoding is remembered.
    given = {k: v for k, v in query if v is not None}
    suffix = f"?{urlencode(given)}" if given else ""
    return f"{base}{path}{suffix}"


def _goodbye(response: VoiceResponse, speaker: Speaker, text: str = GOODBYE) -> None:
    speaker.say(response, text)
    response.hangup()


def greet(
    response: VoiceResponse,
    params: Mapping[str, str],
    line: Line,
    flow: str,
    speaker: Speaker,
    settings: Settings,
) -> None:
    """The line's greeting for the flow; the default line's is VOICE_GREETING or the classic
    Azure sample's: hello, the ApiVersion, the site name."""
    greeting = line.greeting(flow)
    if greeting is not None:
        speaker.prompt(response, greeting)
        return
    if not line.classic_greeting:
        return
    speaker.say(response, "Hello from Azure.")
    response.pause()
    api_version = params.get("ApiVersion", "").strip()
    if api_version:
        speaker.say(response, f"This call uses Twilio API version {api_version}.")
        response.pause()
    speaker.say(response, f"You have reached {settings.site_name or SITE_FALLBACK}.")


def offer_menu(
    response: VoiceResponse,
    menu: MenuStep,
    at: Position,
    attempt: int,
    speaker: Speaker,
    settings: Settings,
) -> None:
    """`<Gather>` reading the prompt; silence falls through to a `<Redirect>` to the same step.

    Both the Gather's action and the fallback carry the position and the attempt, so
    `/voice/menu` knows which menu this was and whether it was the first offer or a repeat.
    """
    target = action_url(settings, MENU_PATH, attempt=attempt, at=at.encode(), hop=at.hop)
    gather_attrs: dict[str, Any] = {
        "input": "dtmf speech",
        "num_digits": 1,
        "action": target,
        "method": "POST",
        "timeout": menu.timeout,
    }
    if speaker.language:
        gather_attrs["language"] = speaker.language
    hints = menu.hints
    if hints:
        gather_attrs["hints"] = hints
    gather = response.gather(**gather_attrs)
    speaker.prompt(gather, menu.prompt)
    # Nothing pressed or said: Twilio moves past the Gather without calling its action.
    response.redirect(target, method="POST")


def dial(
    response: VoiceResponse, step: ForwardStep, at: Position, line: Line, settings: Settings
) -> None:
    """`<Dial>` one number; `/voice/dial-complete` decides what happens when it ends."""
    attrs: dict[str, Any] = {
        "timeout": step.timeout,
        "action": action_url(settings, DIAL_COMPLETE_PATH, at=at.encode(), hop=at.hop),
        "method": "POST",
    }
    if step.caller_id == "line" and line.number:
        attrs["caller_id"] = line.number
    response.dial(step.to, **attrs)


def confirms(person: Person, ring: RingStep) -> bool:
    """Whether `person` must press 1 to take a call: their own setting, else the group's;
    "auto" is on for mobile numbers (and for numbers the plan cannot tell apart, as in the US),
    so a cell phone's own voicemail never takes the call."""
    choice = person.confirm if person.confirm is not None else ring.confirm
    if choice == "auto":
        return is_mobile_or_unknown(person.number)
    return bool(choice)


def is_mobile_or_unknown(number: str) -> bool:
    """Whether phonenumbers says mobile, or cannot tell (fixed line or mobile, unknown)."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        kind = phonenumbers.number_type(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return True
    return kind in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.UNKNOWN,
        PhoneNumberType.PAGER,
    )


def whisper_url(
    settings: Settings,
    line: Line,
    caller: str,
    at: Position,
    person: int,
    *,
    answered: bool = False,
) -> str:
    """`/voice/whisper` for one person of a ring group: the line and the caller travel in the
    signed URL (the answering leg's own `To` is the person, its `From` may be the line)."""
    return action_url(
        settings,
        WHISPER_PATH,
        line=line.number,
        caller=caller or None,
        at=at.encode(),
        person=person,
        answered=1 if answered else None,
        hop=at.hop,
    )


def ring(
    response: VoiceResponse,
    step: RingStep,
    at: Position,
    turn: int,
    line: Line,
    settings: Settings,
    caller: str = "",
) -> None:
    """`<Dial>` the ring group: every person at once, or person `turn` of an in-turn group.

    Each `<Number>` runs `/voice/whisper` on the answering leg before the legs are connected:
    it asks for 1 when the person confirms, and in every case records who answered.
    """
    people = list(enumerate(step.people))
    if step.strategy == "in-turn":
        people = [people[turn]]
    timeout = people[0][1].timeout if step.strategy == "in-turn" else None
    attrs: dict[str, Any] = {
        "timeout": timeout or step.timeout,
        "action": action_url(
            settings,
            DIAL_COMPLETE_PATH,
            at=at.encode(),
            turn=turn if step.strategy == "in-turn" else None,
            hop=at.hop,
        ),
        "method": "POST",
    }
    if step.caller_id == "line" and line.number:
        attrs["caller_id"] = line.number
    dial_verb = response.dial(**attrs)
    for index, person in people:
        dial_verb.number(
            person.number,
            url=whisper_url(settings, line, caller, at, index),
            method="POST",
        )


def enqueue(
    response: VoiceResponse, step: QueueStep, at: Position, line: Line, settings: Settings
) -> None:
    """`<Enqueue>` into the line's queue (`switchboard.voice.queue` answers its wait URL and
    action): both URLs carry the line and where the step is, signed by Twilio like every action
    URL. The queue's size is the Twilio queue's own `MaxSize`, set when the queue is made."""
    from switchboard.callqueue import rules as queues  # a queue step only: not every call's

    query = {"line": line.number, "at": at.encode(), "hop": at.hop}
    response.enqueue(
        queues.queue_name(line.number or ""),
        action=action_url(settings, queues.RESULT_PATH, **query),
        method="POST",
        wait_url=action_url(settings, queues.WAIT_PATH, **query),
        wait_url_method="POST",
    )


def voicemail(
    response: VoiceResponse,
    step: VoicemailStep,
    at: Position,
    speaker: Speaker,
    settings: Settings,
    line_number: str | None = None,
) -> None:
    """Prompt, `<Record>`, and a goodbye for when nothing was recorded.

    The Record's action and its status callback both go to `/voice/recording`. Twilio skips the
    action when the recording is empty and moves on to the next verb: hence the goodbye after it.
    The recording status and transcription callbacks carry no `To`, so a stored line's number
    travels in the (signed) URL: `line=`.
    """
    if step.prompt is not None:
        speaker.prompt(response, step.prompt)
    else:
        speaker.say(response, VOICEMAIL_PROMPT)
    recording = action_url(settings, RECORDING_PATH, line=line_number, at=at.encode(), hop=at.hop)
    record_attrs: dict[str, Any] = {
        "max_length": step.max_length,
        "finish_on_key": "#",
        "play_beep": True,
        "action": recording,
        "method": "POST",
        "recording_status_callback": recording,
        "recording_status_callback_method": "POST",
    }
    if step.transcribe:
        record_attrs["transcribe"] = True
        record_attrs["transcribe_callback"] = recording
    response.record(**record_attrs)
    _goodbye(response, speaker, NO_MESSAGE)


def run_steps(
    response: VoiceResponse,
    steps: tuple[Step, ...],
    start: Position,
    line: Line,
    speaker: Speaker,
    settings: Settings,
    caller: str = "",
) -> str:
    """The TwiML of `steps` from `start` on, up to the first step that waits for Twilio (a menu,
    a dial, a recording) or ends the call; returns the handling word."""
    said = False
    for index in range(start.index, len(steps)):
        step = steps[index]
        if isinstance(step, PromptStep):
            speaker.prompt(response, step.prompt)
            said = True
            continue
        if isinstance(step, PauseStep):
            response.pause(length=step.seconds)
            continue
        # Only a step that names itself in an action URL needs its position (says and pauses,
        # a greeting's usual run of them, skip building one each).
        at = start.at_index(index)
        if isinstance(step, MenuStep):
            offer_menu(response, step, at, 1, speaker, settings)
            return "menu"
        if isinstance(step, ForwardStep):
            dial(response, step, at, line, settings)
            return "forward"
        if isinstance(step, RingStep):
            ring(response, step, at, 0, line, settings, caller)
            return "ring"
        if isinstance(step, QueueStep):
            if not line.number:
                continue  # only a stored line has a queue (the default line has none)
            enqueue(response, step, at, line, settings)
            return "queue"
        if isinstance(step, VoicemailStep):
            voicemail(response, step, at, speaker, settings, line.number)
            return "voicemail"
        if isinstance(step, HangupStep):
            response.hangup()
            return "hangup"
        if isinstance(step, RedirectStep):
            if leads_back(step.url, app_origins(settings)):
                # Stored before such redirects were refused: never followed (a loop).
                logger.error("voice: a redirect into this app's own webhooks was not followed")
                break
            response.redirect(step.url, method="POST")
            return "redirect"
    _goodbye(response, speaker)
    return "said" if said else "goodbye"


def _first_kind(steps: tuple[Step, ...]) -> str:
    kinds = {
        PromptStep: "say",
        PauseStep: "pause",
        MenuStep: "menu",
        ForwardStep: "forward",
        RingStep: "ring",
        QueueStep: "queue",
        VoicemailStep: "voicemail",
        HangupStep: "hangup",
        RedirectStep: "redirect",
    }
    return kinds.get(type(steps[0]), "step") if steps else "hangup"


# --------------------------------------------------------------------------------------------
# The webhooks


def _call_sid(params: Mapping[str, str]) -> str:
    return params.get("CallSid", "").strip()


def called_number(params: Mapping[str, str]) -> str:
    """The number a call is for: `To`, else `Called`."""
    return (params.get("To") or params.get("Called") or "").strip()


def incoming(
    params: Mapping[str, str],
    settings: Settings,
    line: Line | None = None,
    now: datetime | None = None,
    blocked_contact: str | None = None,
) -> Outcome:
    """`POST /api/voice/incoming`: reject, refuse, or greet and run the flow of the line's state.
    `blocked_contact` is the id of the caller's contact when it is blocked (on every line)."""
    line = line or default_line(settings)
    speaker = Speaker.of(line, settings)
    caller = params.get("From", "").strip()
    response = VoiceResponse()
    fields: dict[str, Any] = {}
    if caller and (blocked_contact or caller in line.blocked):
        response.reject()
        handling = "rejected"
        if blocked_contact:
            fields = {"BlockedContact": blocked_contact}
    elif line.allowed is not None and caller not in line.allowed:
        _goodbye(response, speaker, NOT_ALLOWED)
        handling = "refused"
    else:
        state, reason = State.OPEN, Reason.ALWAYS_OPEN
        if now is not None:
            state, reason, _ = state_at(line.schedule, now)
        on_holiday = state is State.CLOSED and reason is Reason.HOLIDAY
        flow = line.flow_name(state, on_holiday)
        greet(response, params, line, "holiday" if on_holiday else flow, speaker, settings)
        handling = run_steps(
            response,
            line.flows.get(flow, ()),
            Position(flow, (0,), hop=1),
            line,
            speaker,
            settings,
            caller,
        )
        fields = {"Flow": flow, "LineState": f"{state}/{reason}"}
    initial: dict[str, Any] = {
        "Sid": _call_sid(params),
        "Direction": "inbound",
        "From": caller,
        "To": called_number(params),
        "Status": params.get("CallStatus", "").strip() or "ringing",
        "Source": "webhook",
        "MenuChoicesJson": "[]",
    }
    if line.version is not None:
        initial["Line"] = line.number
        initial["LineVersion"] = line.version
    change = CallLogChange(
        step="incoming",
        initial=initial,
        fields={"Handling": handling, **fields},
        starts_call=True,
    )
    return Outcome(twiml_text(response), handling, change)


def attempt_of(url: str, limit: int = MENU_ATTEMPTS) -> int:
    """The menu attempt carried by the action URL (`?attempt=2`); 1 when absent or malformed."""
    raw = query_value(url, "attempt")
    try:
        attempt = int(raw) if raw else 1
    except ValueError:
        return 1
    return min(max(attempt, 1), limit)


def _lost(params: Mapping[str, str], speaker: Speaker, step: str, *, given: bool = True) -> Outcome:
    """A position that no longer exists (the line changed during the call): goodbye. Without
    any position (a request from before positions existed) it is the plain goodbye."""
    response = VoiceResponse()
    _goodbye(response, speaker, LOST if given else GOODBYE)
    handling = "lost" if given else "goodbye"
    return Outcome(
        twiml_text(response),
        handling,
        CallLogChange(step, _initial_from(params), {"Handling": handling}),
    )


def _too_long(params: Mapping[str, str], speaker: Speaker, step: str) -> Outcome:
    """A request past `MAX_HOPS` of its call's flow: goodbye, whatever the flow would do."""
    logger.warning(
        "voice %s: the call's flow went past %d hops: ended", _call_sid(params), MAX_HOPS
    )
    response = VoiceResponse()
    _goodbye(response, speaker, TOO_LONG)
    handling = "hop-limit"
    return Outcome(
        twiml_text(response),
        handling,
        CallLogChange(step, _initial_from(params), {"Handling": handling}),
    )


def menu(
    params: Mapping[str, str],
    settings: Settings,
    attempt: int = 1,
    line: Line | None = None,
    at: Position | None = None,
) -> Outcome:
    """`POST /api/voice/menu`: act on `Digits` / `SpeechResult`; repeat, then goodbye."""
    line = line or default_line(settings)
    speaker = Speaker.of(line, settings)
    given = at is not None
    at = at or first_position(line, (MenuStep,)) or Position("open", (0,))
    if at.hop > MAX_HOPS:
        return _too_long(params, speaker, f"menu-{at.encode()}-{attempt}-hops")
    found = locate(line, at)
    if found is None or not isinstance(found[1], MenuStep):
        return _lost(params, speaker, f"menu-{at.encode()}-{attempt}", given=given)
    step = found[1]
    attempt = min(max(attempt, 1), step.attempts)
    digits = params.get("Digits", "").strip() or None
    speech = params.get("SpeechResult", "").strip() or None
    response = VoiceResponse()
    option = step.find(digits, speech)
    if option is not None:
        handling = run_steps(
            response,
            option.steps,
            at.option(option.key),
            line,
            speaker,
            settings,
            params.get("From", "").strip(),
        )
    elif attempt < step.attempts:
        speaker.say(response, NOT_UNDERSTOOD)
        offer_menu(response, step, at, attempt + 1, speaker, settings)
        handling = "menu-repeat"
    else:
        _goodbye(response, speaker)
        handling = "goodbye"
    choice = {
        "attempt": attempt,
        "digits": digits,
        "speech": speech,
        "option": option.key if option else None,
        "action": _first_kind(option.steps) if option else None,
        "at": at.encode(),
    }
    change = CallLogChange(
        step=f"menu-{at.encode()}-{attempt}",
        initial=_initial_from(params),
        fields={"Handling": handling},
        menu_choice=choice,
    )
    return Outcome(twiml_text(response), handling, change)


def _voicemail_after_dial(settings: Settings) -> tuple[Step, ...]:
    """What follows an unanswered Dial the flow did not place: voicemail when VOICE_VOICEMAIL."""
    if settings.voice_voicemail:
        return (
            VoicemailStep(
                max_length=settings.voice_voicemail_max_length,
                transcribe=settings.voice_transcribe,
            ),
        )
    return ()


def _person(step: RingStep, index: int | None) -> Person | None:
    if index is None or not 0 <= index < len(step.people):
        return None
    return step.people[index]


def taken(
    params: Mapping[str, str], step: RingStep | None, legs: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The answered leg that took the call after a Dial, or None when nobody did.

    A ring group's leg counts only when its whisper accepted it (`legs`, recorded by
    `/voice/whisper`): Twilio reports `completed` for a leg that answered and then hung up in its
    whisper, which must not end the hunt. `DialBridged=true` also says the legs were connected.
    """
    status = params.get("DialCallStatus", "").strip().lower()
    leg = params.get("DialCallSid", "").strip()
    if step is None:
        return {"sid": leg} if status in _CONNECTED else None
    accepted = legs.get(leg) if leg else None
    if isinstance(accepted, Mapping) and accepted.get("accepted"):
        return accepted
    if params.get("DialBridged", "").strip().lower() == "true" and status in _CONNECTED:
        return accepted if isinstance(accepted, Mapping) else {"sid": leg}
    return None


def dial_complete(
    params: Mapping[str, str],
    settings: Settings,
    line: Line | None = None,
    at: Position | None = None,
    turn: int = 0,
    legs: Mapping[str, Any] | None = None,
) -> Outcome:
    """`POST /api/voice/dial-complete`: hang up when someone took the call; else ring the next
    person of an in-turn group, else the next step of the flow."""
    line = line or default_line(settings)
    speaker = Speaker.of(line, settings)
    status = params.get("DialCallStatus", "").strip().lower()
    given = at is not None
    if at is not None and at.hop > MAX_HOPS:
        return _too_long(params, speaker, f"dial-complete-{at.encode()}-{turn}-hops")
    guess = at or first_position(line, (ForwardStep, RingStep))
    found = locate(line, guess) if guess is not None else None
    steps: tuple[Step, ...]
    step: Step
    if guess is None or found is None or not isinstance(found[1], ForwardStep | RingStep):
        if at is not None:
            return _lost(params, speaker, f"dial-complete-{at.encode()}-{turn}")
        # A Dial the flow did not place: voicemail when not answered, else hang up.
        steps, step = _voicemail_after_dial(settings), ForwardStep(to="")
        where = Position("unplaced", (-1,))  # not a flow: its steps are not the line's
    else:
        (steps, step), where = found, guess
    step_name = f"dial-complete-{where.encode()}-{turn}" if given else "dial-complete"
    ring_step = step if isinstance(step, RingStep) else None
    took = taken(params, ring_step, legs or {})
    response = VoiceResponse()
    fields: dict[str, Any] = {"DialOutcome": status or "unknown"}
    if took is not None:
        # Answered and finished: nothing left to play.
        response.hangup()
        handling = "answered"
        fields["Reached"] = True
        if ring_step is not None:
            fields["TakenByJson"] = json.dumps(
                {"name": took.get("name"), "number": took.get("number")}, separators=(",", ":")
            )
    elif params.get("CallStatus", "").strip().lower() == "completed":
        response.hangup()  # the caller already hung up
        handling = "caller-hung-up"
    elif (
        ring_step is not None
        and ring_step.strategy == "in-turn"
        and turn + 1 < len(ring_step.people)
    ):
        ring(response, ring_step, where, turn + 1, line, settings, params.get("From", "").strip())
        handling = "ring"
    else:
        start = where.at_index(where.index + 1)
        handling = run_steps(
            response, steps, start, line, speaker, settings, params.get("From", "").strip()
        )
        if ring_step is not None:
            fields["Reached"] = False
    fields["Handling"] = handling
    duration = _int(params.get("DialCallDuration"))
    if duration is not None:
        fields["DialCallDuration"] = duration
    change = CallLogChange(step=step_name, initial=_initial_from(params), fields=fields)
    return Outcome(twiml_text(response), handling, change)


def spoken_number(number: str) -> str:
    """A phone number as a voice reads it best: digit by digit, in its national groups; a
    withheld caller (`anonymous`, the keypad spellings such as +266696687) as withheld."""
    if is_withheld(number):
        return WITHHELD_LABEL
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
        grouped = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        grouped = number
    groups = [g for g in grouped.replace("-", " ").replace("+", "").split() if g]
    return ", ".join(" ".join(group) for group in groups) if groups else "an unknown number"


def whisper(
    params: Mapping[str, str],
    settings: Settings,
    line: Line,
    at: Position | None,
    person_index: int | None,
    answered: bool,
    caller: str = "",
) -> Outcome:
    """`POST /api/voice/whisper`: on the answering leg of a ring group, before it is connected.

    First request: a person who confirms hears "Call for <line> from <caller>. Press 1 to
    accept." (no key: that leg hangs up, the others keep ringing or the next in turn is tried);
    one who does not confirm is connected at once. The `<Gather>` comes back with `answered`:
    1 connects (an empty document: Twilio then bridges the legs), anything else hangs up this
    leg. The parent call's record learns which leg took it (`LegsJson`). The leg's own `To` is
    the person's number and its `From` may be the line's, so the line and the caller travel in
    the (signed) URL: `line=`, `caller=`.
    """
    speaker = Speaker.of(line, settings)
    response = VoiceResponse()
    found = locate(line, at) if at is not None else None
    ring_step = found[1] if found is not None and isinstance(found[1], RingStep) else None
    person = _person(ring_step, person_index) if ring_step is not None else None
    leg_sid = _call_sid(params)
    parent = params.get("ParentCallSid", "").strip()
    if ring_step is None or person is None or at is None or at.hop > MAX_HOPS:
        response.hangup()  # not ours (or the line changed): never connect an unknown leg
        return Outcome(twiml_text(response), "whisper-lost", None)
    leg = {"person": person_index, "name": person.name, "number": person.number}
    needs_key = confirms(person, ring_step)
    if answered or not needs_key:
        accepted = not needs_key or params.get("Digits", "").strip() == "1"
        if not accepted:
            response.hangup()
        handling = "whisper-accepted" if accepted else "whisper-declined"
        change = CallLogChange(
            step=f"whisper-{leg_sid}-{'key' if answered else 'answer'}",
            fields={},
            leg=(leg_sid, {**leg, "accepted": accepted}),
        )
        return Outcome(twiml_text(response), handling, change if parent else None)
    caller = caller or params.get("From", "").strip()
    target = whisper_url(settings, line, caller, at, person_index or 0, answered=True)
    gather = response.gather(num_digits=1, timeout=WHISPER_TIMEOUT, action=target, method="POST")
    who = line.name or "your line"
    speaker.say(gather, f"Call for {who} from {spoken_number(caller)}. Press 1 to accept.")
    response.hangup()  # no key: this leg only
    return Outcome(twiml_text(response), "whisper", None)


def recording(params: Mapping[str, str], settings: Settings, line: Line | None = None) -> Outcome:
    """`POST /api/voice/recording`: the Record action, its status callback, its transcription.

    Twilio posts three kinds of request here: the status callback (`RecordingStatus`), the
    transcription callback (`TranscriptionStatus`) and the `<Record>` action (neither), which
    is the only one whose TwiML is played: thanks and goodbye. All three store what they carry.
    """
    line = line or default_line(settings)
    response = VoiceResponse()
    recording_sid = params.get("RecordingSid", "").strip()
    fields: dict[str, Any] = {}
    if params.get("RecordingUrl", "").strip():
        fields["RecordingUrl"] = params["RecordingUrl"].strip()
    if recording_sid:
        fields["RecordingSid"] = recording_sid
    duration = _int(params.get("RecordingDuration"))
    if duration is not None:
        fields["RecordingDuration"] = duration
    if "TranscriptionStatus" in params:
        fields["TranscriptionStatus"] = params["TranscriptionStatus"].strip()
        text = params.get("TranscriptionText", "")
        if text:
            fields["TranscriptionText"] = text
        step, handling = f"transcription-{recording_sid}", "transcription"
    elif "RecordingStatus" in params:
        fields["RecordingStatus"] = params["RecordingStatus"].strip()
        step, handling = f"recording-status-{recording_sid}", "recording-status"
    else:
        _goodbye(response, Speaker.of(line, settings), MESSAGE_THANKS)
        step, handling = "recording", "recorded"
    change = CallLogChange(step=step, initial=_initial_from(params), fields=fields)
    return Outcome(twiml_text(response), handling, change)


def _initial_from(params: Mapping[str, str]) -> dict[str, Any]:
    """What a later step knows about the call, for a record the incoming step could not write
    (storage was down then): the caller and number when Twilio sent them."""
    initial: dict[str, Any] = {
        "Sid": _call_sid(params),
        "Direction": "inbound",
        "Source": "webhook",
        "MenuChoicesJson": "[]",
    }
    for name in ("From", "To"):
        value = params.get(name, "").strip()
        if value:
            initial[name] = value
    return initial


def _int(raw: str | None) -> int | None:
    try:
        return int((raw or "").strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Applying a change to the stored record (pure: the store runs it under an ETag)


def apply_change(
    change: CallLogChange, current: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The properties to merge into the record (`current`, None when absent), or None.

    Used as `RecordStore.update`'s change function, so it may run more than once when a write
    races another; it reads only its arguments.
    """
    record = current or {}
    update: dict[str, Any] = {}
    for key, value in change.initial.items():
        if value not in (None, "") and record.get(key) in (None, ""):
            update[key] = value
    if change.starts_call and record.get("StartedAt") is None:
        update["StartedAt"] = now
    for key, value in change.fields.items():
        if record.get(key) != value:
            update[key] = value
    if change.menu_choice is not None:
        choices = _json_list(record.get("MenuChoicesJson"))
        entry = (change.menu_choice.get("at"), change.menu_choice.get("attempt"))
        # One entry per menu and attempt: a retry that slipped past the step marker adds nothing.
        if all((c.get("at"), c.get("attempt")) != entry for c in choices):
            choices.append(dict(change.menu_choice))
            update["MenuChoicesJson"] = json.dumps(choices, separators=(",", ":"))
    if change.leg is not None:
        legs = legs_of(record)
        sid, leg = change.leg
        if legs.get(sid) != dict(leg):
            legs[sid] = dict(leg)
            update["LegsJson"] = json.dumps(legs, separators=(",", ":"))
    return update or None


def legs_of(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ring-group legs a call record knows (`LegsJson`: leg CallSid → person, accepted)."""
    raw = (record or {}).get("LegsJson")
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, str):
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []
