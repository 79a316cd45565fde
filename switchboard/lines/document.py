"""A line's JSON document: validated against `schema.json`, then built into a `Line` (pure).

The JSON Schema is the one source of truth: `GET /api/lines/schema` serves it, the operator
API's OpenAPI description refers to it, and every rule a schema can say is said there. What a
schema cannot say is checked here after it, with the same kind of error: a day named twice,
overlapping ranges, a range of holidays that ends before it starts, a flow step that can never
run, menus nested too deep, text that is not valid Unicode or holds control characters, an
override's instants outside a sane window around now, a document too large to store.

The schema's `pattern`s are ECMA-262 expressions, as JSON Schema defines them: `$` is the end of
the text. They are run with that meaning (`switchboard.patterns.ecma_search`), not with Python's
`re.search`, whose `$` also matches before a final newline.

Every problem names the JSON pointer of the bad field (`/open/0/forward/to`) and says what is
wrong without echoing the value. `parse_line` raises `LineError` listing them all, the first one
being the most relevant.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from switchboard.lines import hours as h
from switchboard.lines.model import (
    DEFAULT_ANNOUNCE_EVERY,
    DEFAULT_MAX_WAIT,
    DEFAULT_MENU_ATTEMPTS,
    DEFAULT_MENU_TIMEOUT,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RING_TIMEOUT,
    DEFAULT_TRANSCRIPT_WAIT,
    DEFAULT_VOICEMAIL_MAX_LENGTH,
    FLOW_NAMES,
    ForwardStep,
    HangupStep,
    Line,
    MenuOption,
    MenuStep,
    PauseStep,
    Person,
    Prompt,
    PromptStep,
    QueueStep,
    RedirectStep,
    RelayPerson,
    RingStep,
    Step,
    TextBack,
    VoicemailStep,
)
from switchboard.outbound import wording
from switchboard.patterns import ecma_search, has_control
from switchboard.phone import is_e164

SCHEMA_PATH = Path(__file__).with_name("schema.json")
#: The stored document (compact JSON) is one Table Storage string property: at most 64 KiB, as
#: Table Storage measures it (UTF-16: two bytes a character, four outside the BMP).
MAX_STORED_BYTES = 64 * 1024
#: Levels of menu, counting the first: a menu in an option of a menu in an option of a menu
#: (each level is a `<Gather>` the caller hears).
MAX_MENU_DEPTH = 3
#: An override's `setAt` (when it was set): at most this long ago, and not in the future (a
#: day's slack for a clock that runs ahead). An older override has long ended: remove it.
SET_AT_PAST = timedelta(days=400)
SET_AT_AHEAD = timedelta(days=1)
#: An override's `until`: at most this long ago (an ended override may stay in the document)
#: and this far ahead of the line's clock.
UNTIL_PAST = timedelta(days=400)
UNTIL_AHEAD = timedelta(days=5 * 366)
#: Deepest nesting of objects and lists in a document: the deepest a valid one can go is about
#: twenty (three levels of menus); past this it is refused before anything walks it (a
#: recursive walk of a document nested thousands deep would exhaust Python's stack).
MAX_NESTING = 64
#: Longest span of one holiday entry with years (a yearly one spans at most a year anyway).
MAX_HOLIDAY_DAYS = 366
STEP_KINDS = (
    "say",
    "play",
    "pause",
    "menu",
    "forward",
    "ring",
    "queue",
    "voicemail",
    "hangup",
    "redirect",
)
#: `<Dial>` rings at most this many `<Number>`s at once (Twilio's limit).
MAX_RING_ALL = 10
#: Steps after which a flow list ends: nothing after them could ever run.
_ENDING_KINDS = frozenset({"menu", "voicemail", "hangup", "redirect"})

_FORMAT_MESSAGES = {
    "phone-e164": "must be an E.164 phone number such as +15017122661",
    "iana-time-zone": "must be an IANA time zone such as America/New_York",
    "clock-range": "must be a range of 24-hour times such as 08:30-17:30 (24:00 only as an end)",
    "calendar-day": "must be a day that exists, YYYY-MM-DD or MM-DD",
    "https-uri": "must be an absolute https URL",
    "date-time": "must be an ISO-8601 date and time with an offset, such as 2026-12-24T17:00:00-05:00",
    "email-address": "must be an e-mail address such as owner@example.com",
}
_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "number": "a number",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class LineError(ValueError):
    """A line document is invalid; `problems` lists each, the most relevant first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self.problems[0]) if self.problems else "invalid line")

    @property
    def pointer(self) -> str:
        """The JSON pointer of the first problem."""
        return self.problems[0].pointer if self.problems else ""


class DocumentTooLarge(LineError):
    """A valid document that Table Storage cannot hold in one property (`stored_bytes`)."""

    def __init__(self, stored_bytes: int) -> None:
        self.stored_bytes = stored_bytes
        super().__init__(
            [
                Problem(
                    "",
                    f"takes {stored_bytes:,} bytes as stored (UTF-16, as Table Storage counts); "
                    f"a line is one property of at most {MAX_STORED_BYTES:,} bytes (64 KiB)",
                )
            ]
        )


def stored_bytes(stored: Mapping[str, Any]) -> int:
    """The size of a stored document as Table Storage measures its string property: the
    compact JSON text in UTF-16."""
    text = json.dumps(stored, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le", "surrogatepass"))


def pointer(path: Iterable[str | int]) -> str:
    """A JSON pointer (RFC 6901) for a path of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


# --------------------------------------------------------------------------------------------
# The schema and its formats


@functools.cache
def schema() -> dict[str, Any]:
    """The line document's JSON Schema (loaded once)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _is_zone(value: str) -> bool:
    try:
        ZoneInfo(value)
    except Exception:  # ZoneInfoNotFoundError, ValueError (a path), OSError (a folder)
        return False
    return True


def _is_https(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and not any(c.isspace() for c in value)


def _is_email(value: str) -> bool:
    from email.utils import parseaddr

    name, address = parseaddr(value)
    local, _, domain = address.partition("@")
    return (
        not name
        and address == value
        and bool(local)
        and "." in domain
        and all(part for part in domain.split("."))
        and value.isascii()
    )


#: An instant as the documents write it: RFC 3339 (ISO-8601 extended form) with an offset,
#: seconds optional: `2026-12-24T17:00:00-05:00`, `2026-12-24T22:00Z`.
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_instant(value: str) -> datetime:
    """An ISO-8601 date and time with an offset (`Z` or `±HH:MM`); ValueError otherwise."""
    if not _INSTANT.fullmatch(value):
        raise ValueError("must be an ISO-8601 date and time with an offset")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    offset = moment.utcoffset()
    if offset is None or abs(offset) > timedelta(hours=14):
        raise ValueError("the offset must be one a clock can have (-14:00 to +14:00)")
    return moment


def _succeeds(parse: Any) -> Any:
    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True  # the type keyword reports it
        try:
            parse(value)
        except (ValueError, TypeError):
            return False
        return True

    return check


@functools.cache
def _validator() -> Any:
    # jsonschema costs ~70 ms to import: only writing a line needs it, never a call.
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checks = {
        "phone-e164": lambda v: not isinstance(v, str) or is_e164(v),
        "iana-time-zone": lambda v: not isinstance(v, str) or _is_zone(v),
        "clock-range": _succeeds(h.parse_clock_range),
        "calendar-day": _succeeds(h.parse_calendar_day),
        "https-uri": lambda v: not isinstance(v, str) or _is_https(v),
        "date-time": _succeeds(parse_instant),
        "email-address": lambda v: not isinstance(v, str) or _is_email(v),
    }
    for name, check in checks.items():
        checker.checks(name)(check)
    extend: Any = jsonschema.validators.extend  # untyped in the stubs
    validator = extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})
    return validator(schema(), format_checker=checker)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema_here: Any) -> Any:
    """The `pattern` keyword with its JSON Schema (ECMA-262) meaning: `$` ends the text."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_search(pattern, instance):
        yield ValidationError("does not match the pattern")


# --------------------------------------------------------------------------------------------
# Schema errors in words


def _schema_problem(error: Any) -> Problem:
    path = list(error.absolute_path)
    where = pointer(path)
    kind = error.validator
    schema_here = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required":
        missing = next(
            (name for name in error.validator_value if name not in (error.instance or {})), ""
        )
        return Problem(pointer([*path, missing]), "is required")
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema_here.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in known)
        if extra:
            return Problem(pointer([*path, extra[0]]), "is not allowed here")
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        expected = schema_here.get("description", "")
        return Problem(
            pointer([*path, error.instance]),
            "is not an allowed key" + (f": {expected}" if expected else ""),
        )
    if kind in ("pattern", "format"):
        fmt = str(schema_here.get("format", ""))
        if not fmt and "\\u0000" in str(schema_here.get("pattern", "")):
            return Problem(where, "must be one line of text (no line breaks or control characters)")
        return Problem(where, _FORMAT_MESSAGES.get(fmt, "is not in the expected form"))
    if kind == "type":
        allowed = error.validator_value
        names = [str(n) for n in (allowed if isinstance(allowed, list) else [allowed])]
        return Problem(where, "must be " + " or ".join(_TYPE_WORDS.get(n, n) for n in names))
    if kind == "enum":
        choices = (v if isinstance(v, str) else json.dumps(v) for v in error.validator_value)
        return Problem(where, "must be one of " + ", ".join(choices))
    if kind == "anyOf" and "kind" in _step_like(schema_here):
        return Problem(where, "must be a step: one of " + ", ".join(STEP_KINDS))
    if kind == "anyOf":
        return Problem(where, "must have one of " + _alternatives(schema_here))
    limits = {
        "minLength": "must be at least {} characters",
        "maxLength": "must be at most {} characters",
        "minimum": "must be at least {}",
        "maximum": "must be at most {}",
        "minItems": "must have at least {} entries",
        "maxItems": "must have at most {} entries",
        "minProperties": "must have at least {} entries",
        "maxProperties": "must have at most {} entries",
        "uniqueItems": "must not repeat an entry",
    }
    if kind in limits:
        return Problem(where, limits[kind].format(error.validator_value))
    return Problem(where, "is not valid here")


def _step_like(schema_here: Mapping[str, Any]) -> set[str]:
    alternatives = schema_here.get("anyOf", [])
    required = {tuple(a.get("required", ())) for a in alternatives if isinstance(a, dict)}
    return {"kind"} if {(k,) for k in STEP_KINDS} <= required else set()


def _alternatives(schema_here: Mapping[str, Any]) -> str:
    names = [
        "/".join(a.get("required", ()))
        for a in schema_here.get("anyOf", [])
        if isinstance(a, dict) and a.get("required")
    ]
    return ", ".join(names) or "the expected entries"


def _schema_problems(document: Any) -> list[Problem]:
    from jsonschema.exceptions import relevance

    errors = sorted(_validator().iter_errors(document), key=relevance)
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in errors:
        problem = _schema_problem(error)
        if problem.pointer not in seen:
            seen.add(problem.pointer)
            problems.append(problem)
    return problems


# --------------------------------------------------------------------------------------------
# What the schema cannot say


def _nesting(document: Any) -> int:
    """How deeply objects and lists nest in `document` (walked without recursion)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                items = value.values() if isinstance(value, dict) else value
                pending.extend((item, depth + 1) for item in items)
    return deepest


def _text_problem(text: str, *, multiline: bool) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "valid Unicode text"  # a lone surrogate cannot be stored
    if has_control(text, multiline=multiline):
        return "text without control characters"
    return None


def _bad_text(value: Any, path: list[str | int]) -> Iterator[Problem]:
    """Strings that are not valid Unicode or hold control characters (a value may break lines:
    a text spoken or sent; a key may not), keys included."""
    if isinstance(value, str):
        problem = _text_problem(value, multiline=True)
        if problem:
            yield Problem(pointer(path), f"must be {problem}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                problem = _text_problem(key, multiline=False)
                if problem:
                    yield Problem(pointer(path), f"has a key that is not {problem}")
                    continue
            yield from _bad_text(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_text(item, [*path, index])


def _overlap(ranges: Sequence[h.ClockRange]) -> int | None:
    """The index of the first range overlapping an earlier one on the same day, if any."""
    taken: list[tuple[int, int]] = []
    for index, span in enumerate(ranges):
        pieces = [(span.start, h.MINUTES_PER_DAY)] if span.wraps else [(span.start, span.end)]
        if span.wraps and span.end > 0:
            pieces.append((0, span.end))  # the next morning counts against the same list
        for lo, hi in pieces:
            if any(lo < other_hi and other_lo < hi for other_lo, other_hi in taken):
                return index
        taken.extend(pieces)
    return None


def _hours_problems(hours: Mapping[str, Any]) -> Iterator[Problem]:
    owner: dict[int, str] = {}
    for key, ranges in hours.items():
        for day in h.expand_days(key):
            if day in owner:
                name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day]
                yield Problem(pointer(["hours", key]), f"{name} is already given by {owner[day]}")
                break
            owner[day] = key
        index = _overlap([h.parse_clock_range(r) for r in ranges])
        if index is not None:
            yield Problem(pointer(["hours", key, index]), "overlaps another range of the day")


def _holiday_problems(holidays: Sequence[Mapping[str, Any]]) -> Iterator[Problem]:
    for index, entry in enumerate(holidays):
        if "from" in entry:
            first = h.parse_calendar_day(entry["from"])
            last = h.parse_calendar_day(entry["to"])
            if (first.year is None) != (last.year is None):
                yield Problem(
                    pointer(["holidays", index, "to"]),
                    "must have a year exactly when from has one",
                )
            elif first.year is not None and last.year is not None:
                start = date(first.year, first.month, first.day)
                end = date(last.year, last.month, last.day)
                if end < start:
                    yield Problem(pointer(["holidays", index, "to"]), "must not be before from")
                elif (end - start).days >= MAX_HOLIDAY_DAYS:
                    yield Problem(
                        pointer(["holidays", index, "to"]),
                        f"a holiday spans at most {MAX_HOLIDAY_DAYS} days",
                    )
        ranges = [h.parse_clock_range(r) for r in entry.get("hours", [])]
        overlapping = _overlap(ranges)
        if overlapping is not None:
            yield Problem(
                pointer(["holidays", index, "hours", overlapping]),
                "overlaps another range of the day",
            )


def _step_kind(step: Mapping[str, Any]) -> str:
    return next(kind for kind in STEP_KINDS if kind in step)


def _steps_problems(
    steps: Sequence[Mapping[str, Any]], path: list[str | int], depth: int
) -> Iterator[Problem]:
    """What the schema cannot say about a list of steps inside `depth` menus."""
    for index, step in enumerate(steps):
        kind = _step_kind(step)
        if kind in _ENDING_KINDS and index < len(steps) - 1:
            yield Problem(
                pointer([*path, index + 1]),
                f"can never run: the {kind} step before it ends the flow",
            )
        if kind == "ring":
            ring = step["ring"]
            if ring.get("strategy", "all") == "all" and len(ring["people"]) > MAX_RING_ALL:
                yield Problem(
                    pointer([*path, index, "ring", "people"]),
                    f"at most {MAX_RING_ALL} people ring at once (use strategy in-turn for more)",
                )
        if kind == "menu":
            if depth >= MAX_MENU_DEPTH:
                yield Problem(
                    pointer([*path, index, "menu"]),
                    f"menus nest at most {MAX_MENU_DEPTH} levels deep",
                )
                continue
            for key, option in step["menu"]["options"].items():
                yield from _steps_problems(
                    option["steps"], [*path, index, "menu", "options", key, "steps"], depth + 1
                )


def _queue_problems(document: Mapping[str, Any]) -> Iterator[Problem]:
    """A line has one Twilio queue, served while it is open: at most one `queue` step, in the
    open steps (a queue in the closed steps would send every caller straight on), and each
    person in it once."""
    queues = [(path, step) for path, step in _walk_steps(document) if "queue" in step]
    for path, _ in queues:
        if path[0] != "open":
            yield Problem(
                pointer([*path, "queue"]),
                "a queue is served only while the line is open: put it in the open steps",
            )
    for path, _ in queues[1:]:
        yield Problem(
            pointer([*path, "queue"]), f"a line has one queue: {pointer(queues[0][0])} is"
        )
    for path, step in queues:
        seen: set[str] = set()
        for index, person in enumerate(step["queue"]["people"]):
            if person["number"] in seen:
                yield Problem(
                    pointer([*path, "queue", "people", index, "number"]),
                    "is already one of this queue's people",
                )
            seen.add(person["number"])


def _semantic_problems(document: Mapping[str, Any], number: str) -> list[Problem]:
    problems: list[Problem] = []
    if "number" in document and document["number"] != number:
        problems.append(Problem("/number", "must be the number of the line being written"))
    needs_zone = [k for k in ("hours", "holidays", "override") if k in document]
    if needs_zone and "timeZone" not in document:
        problems.append(Problem("/timeZone", f"is required with {needs_zone[0]}"))
    problems.extend(_hours_problems(document.get("hours", {})))
    problems.extend(_holiday_problems(document.get("holidays", [])))
    for flow in FLOW_NAMES:
        problems.extend(_steps_problems(document.get(flow, []), [flow], 0))
    problems.extend(_relay_problems(document.get("sms", {}).get("relay", [])))
    problems.extend(_queue_problems(document))
    return problems


def _relay_problems(people: Sequence[Mapping[str, Any]]) -> Iterator[Problem]:
    """A relay person named twice (by number: their replies must find one person)."""
    seen: set[str] = set()
    for n, person in enumerate(people):
        if person["number"] in seen:
            yield Problem(pointer(["sms", "relay", n, "number"]), "is named twice in the relay")
        seen.add(person["number"])


# --------------------------------------------------------------------------------------------
# Building the Line


def _prompt(data: Mapping[str, Any]) -> Prompt:
    return Prompt(
        text=data.get("say"),
        url=data.get("play"),
        voice=data.get("voice"),
        language=data.get("language"),
        loop=int(data.get("loop", 1)),
    )


def _step(data: Mapping[str, Any]) -> Step:
    kind = _step_kind(data)
    if kind in ("say", "play"):
        return PromptStep(_prompt(data))
    if kind == "pause":
        return PauseStep(int(data["pause"]))
    body: Mapping[str, Any] = data[kind]
    if kind == "menu":
        return MenuStep(
            prompt=_prompt(body["prompt"]),
            options=tuple(
                MenuOption(
                    key=key,
                    words=tuple(w.strip() for w in option.get("words", []) if w.strip()),
                    steps=_steps(option["steps"]),
                )
                for key, option in body["options"].items()
            ),
            attempts=int(body.get("attempts", DEFAULT_MENU_ATTEMPTS)),
            timeout=int(body.get("timeout", DEFAULT_MENU_TIMEOUT)),
        )
    if kind == "forward":
        return ForwardStep(
            to=body["to"],
            timeout=int(body.get("timeout", DEFAULT_RING_TIMEOUT)),
            caller_id=body.get("callerId", "caller"),
        )
    if kind == "ring":
        return RingStep(
            people=tuple(
                Person(
                    number=p["number"],
                    name=p.get("name"),
                    timeout=p.get("timeout"),
                    confirm=p.get("confirm"),
                )
                for p in body["people"]
            ),
            strategy=body.get("strategy", "all"),
            timeout=int(body.get("timeout", DEFAULT_RING_TIMEOUT)),
            confirm=body.get("confirm", "auto"),
            caller_id=body.get("callerId", "caller"),
        )
    if kind == "queue":
        return QueueStep(
            people=tuple(Person(number=p["number"], name=p.get("name")) for p in body["people"]),
            hold=_prompt(body["hold"]) if "hold" in body else None,
            announce_every=int(body.get("announceEvery", DEFAULT_ANNOUNCE_EVERY)),
            max_wait=int(body.get("maxWait", DEFAULT_MAX_WAIT)),
            max_size=int(body.get("maxSize", DEFAULT_QUEUE_SIZE)),
            callback=bool(body.get("callback", False)),
        )
    if kind == "voicemail":
        notify = body.get("notify", {})
        return VoicemailStep(
            prompt=_prompt(body["prompt"]) if "prompt" in body else None,
            max_length=int(body.get("maxLength", DEFAULT_VOICEMAIL_MAX_LENGTH)),
            transcribe=bool(body.get("transcribe", False)),
            notify_sms=tuple(notify.get("sms", [])),
            notify_email=tuple(notify.get("email", [])),
            transcript_wait=int(notify.get("transcriptWait", DEFAULT_TRANSCRIPT_WAIT)),
        )
    if kind == "hangup":
        return HangupStep()
    return RedirectStep(url=body["url"])


def _steps(data: Sequence[Mapping[str, Any]]) -> tuple[Step, ...]:
    return tuple(_step(step) for step in data)


def _weekly(hours: Mapping[str, Sequence[str]]) -> h.WeeklyHours:
    days: list[list[h.ClockRange]] = [[] for _ in range(7)]
    for key, ranges in hours.items():
        for day in h.expand_days(key):
            days[day].extend(h.parse_clock_range(r) for r in ranges)
    return tuple(tuple(sorted(day)) for day in days)


def _holiday(entry: Mapping[str, Any]) -> h.Holiday:
    first = h.parse_calendar_day(entry.get("date") or entry["from"])
    last = h.parse_calendar_day(entry.get("date") or entry["to"])
    return h.Holiday(
        first=first,
        last=last,
        hours=tuple(sorted(h.parse_clock_range(r) for r in entry.get("hours", []))),
        name=entry.get("name"),
    )


def override_from(data: Mapping[str, Any], schedule: h.Schedule | None = None) -> h.Override:
    """The Override of a document's `override` object (already validated). An override stored
    before `until` was filled in at writing (it has `setAt` only) gets its end worked out here,
    once per read, with the same bounded search a write makes (`schedule`: the line's hours)."""
    until = parse_instant(data["until"]) if "until" in data else None
    set_at = parse_instant(data["setAt"]) if "setAt" in data else None
    if until is None and set_at is not None and schedule is not None:
        until = h.override_ends(schedule, set_at)
    return h.Override(
        state=h.State(data["state"]), until=until, set_at=set_at, reason=data.get("reason")
    )


def _schedule(document: Mapping[str, Any]) -> h.Schedule:
    """The regular schedule of a valid document (its zone, hours and holidays; no override)."""
    zone = ZoneInfo(document["timeZone"]) if "timeZone" in document else ZoneInfo("UTC")
    return h.Schedule(
        zone=zone,
        weekly=_weekly(document["hours"]) if "hours" in document else None,
        holidays=tuple(_holiday(e) for e in document.get("holidays", [])),
    )


def build_line(document: Mapping[str, Any], number: str, version: int | None) -> Line:
    """The Line of a document that `validate` accepted."""
    schedule = _schedule(document)
    if "override" in document:
        schedule = schedule._replace(override=override_from(document["override"], schedule))
    callers = document.get("callers", {})
    sms = document.get("sms", {})
    text_back = document.get("textBack")
    return Line(
        number=number,
        schedule=schedule,
        name=document.get("name"),
        time_zone=document.get("timeZone"),
        greetings={k: _prompt(v) for k, v in document.get("greeting", {}).items()},
        flows={flow: _steps(document[flow]) for flow in FLOW_NAMES if flow in document},
        blocked=frozenset(callers.get("blocked", [])),
        allowed=frozenset(callers["allowed"]) if "allowed" in callers else None,
        voice=document.get("voice"),
        language=document.get("language"),
        sms_auto_reply=sms.get("autoReply"),
        sms_closed_reply=sms.get("closedReply"),
        sms_forward_to=sms.get("forwardTo"),
        sms_relay=tuple(RelayPerson(p["name"], p["number"]) for p in sms.get("relay", [])),
        text_back=TextBack(
            message=text_back.get("message", wording.TEXT_BACK_DEFAULT),
            after_voicemail=bool(text_back.get("afterVoicemail", True)),
            min_seconds=int(text_back.get("minSeconds", 5)),
            window_hours=int(text_back.get("windowHours", 24)),
        )
        if text_back is not None
        else None,
        version=version,
    )


def _walk_steps(document: Mapping[str, Any]) -> Iterator[tuple[list[str | int], Mapping[str, Any]]]:
    """(path, step) of every step of a valid document, menu options' steps included."""

    def walk(
        steps: Sequence[Mapping[str, Any]], path: list[str | int]
    ) -> Iterator[tuple[list[str | int], Mapping[str, Any]]]:
        for index, step in enumerate(steps):
            yield [*path, index], step
            if "menu" in step:
                for key, option in step["menu"]["options"].items():
                    yield from walk(
                        option["steps"], [*path, index, "menu", "options", key, "steps"]
                    )

    for flow in FLOW_NAMES:
        yield from walk(document.get(flow, []), [flow])


def forwarding_targets(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(pointer, number) of every number a valid document sends calls or texts to: forwards,
    ring-group and queue people, `sms.forwardTo` and voicemail's `notify.sms` (checked by the outbound
    policy: never one of our own numbers, where a call or text comes straight back to the app,
    never a country or kind of number it refuses)."""
    found: list[tuple[str, str]] = []
    for path, step in _walk_steps(document):
        if "forward" in step:
            found.append((pointer([*path, "forward", "to"]), step["forward"]["to"]))
        elif "ring" in step or "queue" in step:
            kind = "ring" if "ring" in step else "queue"
            for n, person in enumerate(step[kind]["people"]):
                found.append((pointer([*path, kind, "people", n, "number"]), person["number"]))
        elif "voicemail" in step:
            notify = (step["voicemail"] or {}).get("notify") or {}
            for n, number in enumerate(notify.get("sms") or []):
                found.append((pointer([*path, "voicemail", "notify", "sms", n]), number))
    forward = document.get("sms", {}).get("forwardTo")
    if forward:
        found.append(("/sms/forwardTo", forward))
    for n, person in enumerate(document.get("sms", {}).get("relay", [])):
        found.append((pointer(["sms", "relay", n, "number"]), person["number"]))
    return found


def redirect_targets(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(pointer, URL) of every `redirect` step of a valid document (checked against the app's
    own webhooks: a call redirected there would start over, for ever)."""
    return [
        (pointer([*path, "redirect", "url"]), step["redirect"]["url"])
        for path, step in _walk_steps(document)
        if "redirect" in step
    ]


def _instant_problems(
    override: Mapping[str, Any] | None, now: datetime, clock: datetime
) -> Iterator[Problem]:
    """An override's instants outside their window: `setAt` within SET_AT_PAST before `now`
    (the real clock), `until` within UNTIL_PAST / UNTIL_AHEAD around `clock` (the line's)."""
    if not override:
        return
    if "setAt" in override:
        set_at = parse_instant(override["setAt"])
        if set_at > now + SET_AT_AHEAD:
            yield Problem("/override/setAt", "must not be in the future")
        elif set_at < now - SET_AT_PAST:
            yield Problem(
                "/override/setAt",
                f"must be within {SET_AT_PAST.days} days of now (an override set earlier has "
                "ended: remove it)",
            )
    if "until" in override:
        until = parse_instant(override["until"])
        if until > clock + UNTIL_AHEAD:
            yield Problem(
                "/override/until",
                f"must be within {UNTIL_AHEAD.days // 366} years from now",
            )
        elif until < clock - UNTIL_PAST:
            yield Problem(
                "/override/until",
                f"must be within {UNTIL_PAST.days} days of now (an override that ended earlier: "
                "remove it)",
            )


def _filled_override(
    override: Mapping[str, Any], schedule: h.Schedule, now: datetime, clock: datetime
) -> dict[str, Any]:
    """The override as stored: `until` filled in when absent (the first change of the regular
    schedule after `setAt`, else after `clock`; left out when there is none within the horizon:
    then it lasts until cleared), and `setAt` = `now` when absent."""
    filled = dict(override)
    if "until" not in filled:
        anchor = parse_instant(filled["setAt"]) if "setAt" in filled else clock
        ends = h.override_ends(schedule, anchor)
        if ends is not None:
            filled["until"] = ends.astimezone(schedule.zone).isoformat(timespec="seconds")
    if "setAt" not in filled:
        filled["setAt"] = now.astimezone(UTC).isoformat(timespec="seconds")
    return filled


def text_problems(document: Any) -> list[Problem]:
    """What no stored document may hold, checked without the schema (a call's load imports no
    validator): nesting past `MAX_NESTING`, text that is not valid Unicode or holds control
    characters (which would reach TwiML)."""
    if _nesting(document) > MAX_NESTING:
        return [Problem("", f"must not nest objects and lists over {MAX_NESTING} deep")]
    return list(_bad_text(document, []))


def stored_problems(document: Any, number: str) -> list[Problem]:
    """Why a stored document is not one `validate` would have written (its schema and what the
    schema cannot say), leaving out what changes with time (the windows of its instants) and
    its size: a document that was valid when written stays valid. [] when it is."""
    if not isinstance(document, dict):
        return [Problem("", "must be a JSON object")]
    return (
        text_problems(document)
        or _schema_problems(document)
        or _semantic_problems(document, document.get("number", number))
    )


def validate(
    document: Any,
    number: str,
    *,
    now: datetime | None = None,
    clock: datetime | None = None,
) -> dict[str, Any]:
    """The document to store for line `number`, or LineError naming every bad field
    (`DocumentTooLarge` when it is valid but too large to store).

    `now` is the real time (an override's `setAt`), `clock` the time the line is evaluated at
    (`LINES_CLOCK` outside Azure; by default `now`): an override's `until` must lie in a window
    around it. The stored form is the document as given, with `number` filled in and an
    override's `until` and `setAt` filled in when absent (`_filled_override`).
    """
    moment = now or datetime.now(UTC)
    evaluated_at = clock or moment
    if not isinstance(document, dict):
        raise LineError([Problem("", "must be a JSON object")])
    problems = text_problems(document)
    if problems:
        raise LineError(problems)
    problems = _schema_problems(document)
    if problems:
        raise LineError(problems)
    problems = _semantic_problems(document, number)
    problems += _instant_problems(document.get("override"), moment, evaluated_at)
    if problems:
        raise LineError(problems)
    stored = {"number": number, **{k: v for k, v in document.items() if k != "number"}}
    if "override" in stored:
        stored["override"] = _filled_override(
            stored["override"], _schedule(stored), moment, evaluated_at
        )
    size = stored_bytes(stored)
    if size > MAX_STORED_BYTES:
        raise DocumentTooLarge(size)
    return stored


def parse_line(
    document: Any,
    number: str,
    *,
    version: int | None = None,
    now: datetime | None = None,
    clock: datetime | None = None,
) -> tuple[dict[str, Any], Line]:
    """Validate a document and build its Line: `(stored document, line)`."""
    stored = validate(document, number, now=now, clock=clock)
    return stored, build_line(stored, number, version)
