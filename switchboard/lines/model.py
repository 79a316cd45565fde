"""A line as plain data: its schedule, greetings, call flows and caller lists (pure).

`switchboard.lines.document` builds these from a validated JSON document (the Lines table keeps
the document itself); the voice flow reads them. Steps are a closed set of small immutable
classes, one per step kind of the JSON Schema (`schema.json`); a new kind is a new class and a new
schema entry, never a change to the existing ones.

The classes are `NamedTuple`s, not frozen dataclasses: immutable, compared and hashed by value
all the same, but a fifth of the cost to define (a frozen dataclass compiles six methods at
import), and every cold start defines them all; `Line` too (changed with `_replace`).
`HangupStep`, which has no fields (an empty tuple is falsy), is a class of its own. The
annotations are evaluated (no `from __future__ import annotations`): `NamedTuple` compiles a
string annotation into a `ForwardRef`, a third of the cost of each class.
"""

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from switchboard.lines.hours import Schedule, State

#: The call flows of a line, by name: what runs while open, closed, and on a closed holiday.
FLOW_NAMES = ("open", "closed", "holiday")

DEFAULT_MENU_ATTEMPTS = 2
DEFAULT_MENU_TIMEOUT = 5
DEFAULT_RING_TIMEOUT = 20
DEFAULT_VOICEMAIL_MAX_LENGTH = 120
DEFAULT_TRANSCRIPT_WAIT = 120
DEFAULT_ANNOUNCE_EVERY = 60
DEFAULT_MAX_WAIT = 600
DEFAULT_QUEUE_SIZE = 20


class Prompt(NamedTuple):
    """Something said (`text`, optional voice and language) or played (`url`)."""

    text: str | None = None
    url: str | None = None
    voice: str | None = None
    language: str | None = None
    loop: int = 1


class PromptStep(NamedTuple):
    """`say` / `play`: the prompt, then the next step."""

    prompt: Prompt


class PauseStep(NamedTuple):
    """`pause`: seconds of silence, then the next step."""

    seconds: int


class MenuOption(NamedTuple):
    """One key of a menu: spoken synonyms, and the steps that follow the choice."""

    key: str
    words: tuple[str, ...]
    steps: "tuple[Step, ...]"  # Step: the union of the step classes, defined below


class MenuStep(NamedTuple):
    """`menu`: a `<Gather>` reading the prompt; repeated up to `attempts` times, then goodbye."""

    prompt: Prompt
    options: tuple[MenuOption, ...]
    attempts: int = DEFAULT_MENU_ATTEMPTS
    timeout: int = DEFAULT_MENU_TIMEOUT

    @property
    def hints(self) -> str:
        """The options' spoken words, for the `<Gather>`'s `hints` ("" when none)."""
        return ", ".join(word for option in self.options for word in option.words)

    def option(self, key: str) -> MenuOption | None:
        """The option of a key."""
        for option in self.options:
            if option.key == key:
                return option
        return None

    def find(self, digits: str | None, speech: str | None) -> MenuOption | None:
        """The option chosen by DTMF digits, or by speech (a key or one of its words)."""
        if digits:
            found = self.option(digits.strip())
            if found is not None:
                return found
        if speech:
            said = re.sub(r"[^\w\s]", " ", speech.casefold()).split()
            phrase = " ".join(said)
            for option in self.options:
                if option.key in said or any(w.casefold() in said for w in option.words):
                    return option
                if any(" " in w and w.casefold() in phrase for w in option.words):
                    return option
        return None


class ForwardStep(NamedTuple):
    """`forward`: `<Dial>` one number; when nobody answers, the next step."""

    to: str
    timeout: int = DEFAULT_RING_TIMEOUT
    caller_id: str = "caller"  # "caller" (the caller's number) or "line"


class Person(NamedTuple):
    """Someone a ring group calls."""

    number: str
    name: str | None = None
    timeout: int | None = None  # None: the group's
    confirm: bool | str | None = None  # True, False, "auto"; None: the group's


class RingStep(NamedTuple):
    """`ring`: call people, all at once or in turn, each accepting with 1 when `confirm`;
    when nobody takes the call, the next step."""

    people: tuple[Person, ...]
    strategy: str = "all"  # "all" or "in-turn"
    timeout: int = DEFAULT_RING_TIMEOUT
    confirm: bool | str = "auto"  # True, False or "auto" (on for mobile numbers)
    caller_id: str = "caller"  # "caller" or "line"


class VoicemailStep(NamedTuple):
    """`voicemail`: a prompt and `<Record>`; ends the flow. `notify_*` hear about each one."""

    prompt: Prompt | None = None
    max_length: int = DEFAULT_VOICEMAIL_MAX_LENGTH
    transcribe: bool = False
    notify_sms: tuple[str, ...] = ()
    notify_email: tuple[str, ...] = ()
    transcript_wait: int = DEFAULT_TRANSCRIPT_WAIT


class QueueStep(NamedTuple):
    """`queue`: the caller waits in the line's Twilio queue (`<Enqueue>`) hearing `hold` and,
    every `announce_every` seconds, their place in line, until one of `people` takes them;
    past `max_wait` (or with `max_size` callers already waiting) the next step. With
    `callback`, the caller may press 1 to be called back and keep their place."""

    people: tuple[Person, ...]
    hold: Prompt | None = None
    announce_every: int = DEFAULT_ANNOUNCE_EVERY
    max_wait: int = DEFAULT_MAX_WAIT
    max_size: int = DEFAULT_QUEUE_SIZE
    callback: bool = False


class HangupStep:
    """`hangup`: ends the call (after the prompts before it). Every one is the same step: equal
    to any other and hashed alike, as a field-less frozen dataclass, without its generated
    methods (an empty NamedTuple would be falsy)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True if other.__class__ is HangupStep else NotImplemented

    def __hash__(self) -> int:
        return hash(HangupStep)

    def __repr__(self) -> str:
        return "HangupStep()"


class RedirectStep(NamedTuple):
    """`redirect`: hand the call to TwiML elsewhere."""

    url: str


Step = (
    PromptStep
    | PauseStep
    | MenuStep
    | ForwardStep
    | RingStep
    | QueueStep
    | VoicemailStep
    | HangupStep
    | RedirectStep
)


class RelayPerson(NamedTuple):
    """Someone who gets the line's texts on their phone and answers from there (`sms.relay`)."""

    name: str
    number: str


class TextBack(NamedTuple):
    """The line's missed-call text-back: what is sent, and when it is not. The document gives
    the message, else `switchboard.outbound.wording.TEXT_BACK_DEFAULT` (`lines.document`): a
    call's model does not load the wording of every automatic text."""

    message: str
    after_voicemail: bool = True
    min_seconds: int = 5
    window_hours: int = 24


#: No greetings, no flows: one read-only mapping shared by every line without them.
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class Line(NamedTuple):
    """One number's configuration: a stored document, or the default line from app settings.

    A NamedTuple like its steps: immutable and compared by value, changed with `_replace`.
    """

    number: str | None
    schedule: Schedule
    name: str | None = None
    time_zone: str | None = None
    greetings: Mapping[str, Prompt] = _NOTHING
    flows: Mapping[str, tuple[Step, ...]] = _NOTHING
    blocked: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None
    voice: str | None = None
    language: str | None = None
    sms_auto_reply: str | None = None
    sms_closed_reply: str | None = None
    sms_forward_to: str | None = None
    #: The people texts to the line are relayed to (and whose texts to it are replies).
    sms_relay: tuple[RelayPerson, ...] = ()
    text_back: TextBack | None = None
    #: The stored version (1, 2, ...); None for the default line.
    version: int | None = None
    #: The default line greets with the classic Azure sample (hello, ApiVersion, site name)
    #: unless VOICE_GREETING is set.
    classic_greeting: bool = False

    @property
    def is_default(self) -> bool:
        """Whether this is the default line built from the app settings."""
        return self.version is None

    def flow_name(self, state: State, on_holiday: bool) -> str:
        """Which flow runs in `state` (a closed holiday uses `holiday` when the line has it)."""
        if state is State.OPEN:
            return "open"
        if on_holiday and "holiday" in self.flows:
            return "holiday"
        return "closed"

    def relay_person(self, number: str) -> RelayPerson | None:
        """The relay person texting from `number`, if any."""
        for person in self.sms_relay:
            if person.number == number:
                return person
        return None

    def greeting(self, flow: str) -> Prompt | None:
        """The greeting of a flow (`holiday` falls back to `closed`)."""
        found = self.greetings.get(flow)
        if found is None and flow == "holiday":
            return self.greetings.get("closed")
        return found
