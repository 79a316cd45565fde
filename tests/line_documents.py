"""Hypothesis strategies for line documents: valid ones of every shape the schema allows (up to
its limits), and hostile ones (anything JSON, valid documents with one part broken, instants at
the ends of time, trailing newlines, control characters, sizes past what storage holds).

`valid_documents(now)` builds documents `switchboard.lines.document.validate` accepts at `now`
(checked by `tests/unit/lines/test_evaluation_work.py`); `hostile_documents(now)` anything a
careless operator or an outsider could send.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Africa/Casablanca",
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NUMBERS = ("+15005550006", "+15558670001", "+442079460000", "+33612345678")
OFFSETS = ("Z", "+00:00", "-05:00", "+05:30", "+14:00", "-12:00", "+12:45")


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_ranges(draw: st.DrawFn, most: int = 3) -> list[str]:
    """Ranges of one day that do not overlap; with an odd point left over, a last range that
    runs past midnight and ends before the day's first range starts."""
    points = sorted(draw(st.sets(st.integers(0, 47), max_size=2 * most)))
    pairs = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    ranges = [f"{_clock(a * 30)}-{_clock(b * 30)}" for a, b in pairs]
    if len(points) % 2 == 1 and points[-1] > 0 and draw(st.booleans()):
        latest_end = points[0] if pairs else points[-1] - 1
        end = draw(st.integers(0, latest_end))
        ranges.append(f"{_clock(points[-1] * 30)}-{_clock(end * 30)}")
    return ranges if _no_overlap(ranges) else ranges[:-1]


def _no_overlap(ranges: list[str]) -> bool:
    from switchboard.lines.document import _overlap
    from switchboard.lines.hours import parse_clock_range

    return _overlap([parse_clock_range(r) for r in ranges]) is None


@st.composite
def hours(draw: st.DrawFn) -> dict[str, list[str]]:
    days = draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=7))
    groups: dict[str, list[str]] = {}
    index = 0
    while index < len(days):
        size = draw(st.integers(1, len(days) - index))
        key = ",".join(days[index : index + size])
        groups[key] = draw(day_ranges())
        index += size
    return groups


def _calendar_day(draw: st.DrawFn, now: datetime, yearly: bool) -> str:
    day = (now + timedelta(days=draw(st.integers(-30, 400)))).date()
    if yearly:
        return f"{day.month:02d}-{day.day:02d}"
    return day.isoformat()


@st.composite
def holidays(draw: st.DrawFn, now: datetime) -> list[dict[str, Any]]:
    found = []
    for _ in range(draw(st.integers(0, draw(st.sampled_from([3, 12, 200]))))):
        yearly = draw(st.booleans())
        entry: dict[str, Any]
        if draw(st.booleans()):
            entry = {"date": _calendar_day(draw, now, yearly)}
        else:
            first = _calendar_day(draw, now, yearly)
            last = _calendar_day(draw, now, yearly)
            if not yearly:
                first, last = sorted([first, last])
                last = min(
                    last, (datetime.fromisoformat(first) + timedelta(days=365)).date().isoformat()
                )
            entry = {"from": first, "to": last}
        if draw(st.booleans()):
            entry["hours"] = draw(day_ranges(2))
        if draw(st.booleans()):
            entry["name"] = draw(st.sampled_from(["Christmas", "Inventory", "Fête"]))
        found.append(entry)
    return found


def instant(moment: datetime, offset: str) -> str:
    """`moment` written with one of the offsets (the same instant, its local wall time)."""
    if offset == "Z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = -1 if offset.startswith("-") else 1
    hours_, minutes = (int(p) for p in offset[1:].split(":"))
    local = moment + sign * timedelta(hours=hours_, minutes=minutes)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset


@st.composite
def overrides(draw: st.DrawFn, now: datetime) -> dict[str, Any]:
    override: dict[str, Any] = {"state": draw(st.sampled_from(["open", "closed"]))}
    if draw(st.booleans()):
        ahead = timedelta(minutes=draw(st.integers(-399 * 1440, 5 * 365 * 1440)))
        override["until"] = instant(now + ahead, draw(st.sampled_from(OFFSETS)))
    if draw(st.booleans()):
        back = timedelta(minutes=draw(st.integers(1, 399 * 1440)))
        override["setAt"] = instant(now - back, draw(st.sampled_from(OFFSETS)))
    if draw(st.booleans()):
        override["reason"] = "staff party"
    return override


#: Text a person writes: letters, digits, punctuation and spaces of any script.
WORDS = st.text(
    st.characters(categories=("L", "N", "P", "Zs"), exclude_characters="\u2028\u2029"),
    min_size=1,
    max_size=40,
).filter(str.strip)
PROMPTS = st.one_of(
    st.builds(lambda text: {"say": text}, WORDS),
    st.just({"play": "https://example.com/hello.mp3"}),
)


@st.composite
def steps(draw: st.DrawFn, depth: int = 0) -> list[dict[str, Any]]:
    middle_kinds = ["say", "pause", "forward", "ring"]
    found: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(middle_kinds))
        if kind == "say":
            found.append(draw(PROMPTS))
        elif kind == "pause":
            found.append({"pause": draw(st.integers(1, 60))})
        elif kind == "forward":
            found.append({"forward": {"to": draw(st.sampled_from(NUMBERS))}})
        else:
            people = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=4, unique=True))
            strategy = draw(st.sampled_from(["all", "in-turn"]))
            found.append(
                {"ring": {"people": [{"number": n} for n in people], "strategy": strategy}}
            )
    ending = ["hangup", "voicemail", "redirect", "none"] + (["menu"] if depth < 3 else [])
    last = draw(st.sampled_from(ending))
    if last == "hangup":
        found.append({"hangup": {}})
    elif last == "voicemail":
        found.append({"voicemail": {"maxLength": draw(st.integers(1, 600))}})
    elif last == "redirect":
        found.append({"redirect": {"url": "https://example.com/twiml"}})
    elif last == "menu":
        keys = draw(st.lists(st.sampled_from("0123456789*#"), min_size=1, max_size=3, unique=True))
        options = {key: {"steps": draw(steps(depth + 1))} for key in keys}
        found.append({"menu": {"prompt": draw(PROMPTS), "options": options}})
    return found


@st.composite
def valid_documents(draw: st.DrawFn, now: datetime) -> dict[str, Any]:
    """A document `validate` accepts at `now` (the line's clock and the real time alike)."""
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["name"] = draw(st.sampled_from(["Main line", "Support", "Café Ünïcode"]))
    zoned = draw(st.booleans())
    if zoned:
        document["timeZone"] = draw(st.sampled_from(ZONES))
        if draw(st.booleans()):
            document["hours"] = draw(hours())
        if draw(st.booleans()):
            document["holidays"] = draw(holidays(now))
        if draw(st.booleans()):
            document["override"] = draw(overrides(now))
    for flow in ("open", "closed", "holiday"):
        if draw(st.booleans()):
            document[flow] = draw(steps())
    if draw(st.booleans()):
        document["greeting"] = {"open": draw(PROMPTS), "closed": draw(PROMPTS)}
    if draw(st.booleans()):
        document["callers"] = {"blocked": [draw(st.sampled_from(NUMBERS))]}
    if draw(st.booleans()):
        document["language"] = draw(st.sampled_from(["en-US", "fr-FR", "de"]))
    return document


EXTREME_INSTANTS = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+14:00",
        "1800-01-01T00:00:00Z",
        "2000-01-03T10:00:00Z",
        "2026-12-24T17:00:00-23:59",
        "20261224T170000Z",
        "2026-12-24 17:00:00+00:00",
        "2026-12-24T17:00:00",
        "2026-12-24T17:00:00Z\n",
        "",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE_TEXT = st.sampled_from(
    ["\n", "\x00", "\x1b[31m", "\u2028", "\ud800", "\U0001f4de" * 4000, " ", "$", "^"]
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def hostile_documents(draw: st.DrawFn, now: datetime) -> Any:
    """What a careless operator or an outsider sends: a valid document with one part broken
    (a leaf replaced by anything JSON, text with a newline or a control character appended,
    an instant at the end of time), or anything JSON at all."""
    choice = draw(st.sampled_from([0, 1, 1, 2, 3, 4]))  # instants at the ends of time twice
    if choice == 0:
        return draw(JSON)
    document = draw(valid_documents(now))
    if choice == 1:
        document["timeZone"] = document.get("timeZone", "UTC")
        override = {
            "state": "closed",
            draw(st.sampled_from(["until", "setAt"])): draw(EXTREME_INSTANTS),
        }
        document["override"] = override
        return document
    path = draw(st.sampled_from(_paths(document)))
    if choice == 2:
        return _replace(document, path, draw(JSON))
    if choice == 3:
        strings = [p for p in _paths(document) if p and isinstance(_get(document, p), str)]
        if strings:
            where = draw(st.sampled_from(strings))
            return _replace(document, where, _get(document, where) + draw(HOSTILE_TEXT))
    deep: Any = {"say": "deep"}
    for _ in range(draw(st.sampled_from([70, 500]))):
        deep = [deep]
    return _replace(document, path, deep) if path else {**document, "open": deep}


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value
