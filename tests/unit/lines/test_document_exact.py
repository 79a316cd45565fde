"""Line documents to the letter: what `parse_line` passes on (the real time and the line's
clock), an override's given instants kept as given, the stored size as Table Storage counts it,
the numbers a voicemail texts, a queue's options, what a stored document is checked for, and
the errors' words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from switchboard.lines import document as d
from switchboard.lines import hours

NUMBER = "+15017122661"
OFFICE: dict[str, Any] = {"timeZone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}}
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday, 03:00 in New York
CLOCK = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)  # a Thursday, 09:00 in New York


def test_parse_line_passes_the_real_time_and_the_lines_clock() -> None:
    stored, line = d.parse_line(
        {**OFFICE, "override": {"state": "closed"}}, NUMBER, version=2, now=NOW, clock=CLOCK
    )
    assert stored["override"] == {
        "state": "closed",
        "until": "2026-12-24T17:00:00-05:00",  # the next change after the clock
        "setAt": "2026-12-07T08:00:00+00:00",  # the real time
    }
    assert line.version == 2


def test_an_overrides_given_instants_are_kept_as_given() -> None:
    given = {
        "state": "open",
        "until": "2026-12-07T20:00:00-05:00",
        "setAt": "2026-12-07T07:30:00+00:00",
    }
    stored = d.validate({**OFFICE, "override": given}, NUMBER, now=NOW)
    assert stored["override"] == given
    # Only setAt given: the end is the first change after it, not after the clock.
    set_at = {"state": "closed", "setAt": "2026-12-07T07:30:00+00:00"}
    stored = d.validate({**OFFICE, "override": set_at}, NUMBER, now=NOW, clock=CLOCK)
    assert stored["override"] == {**set_at, "until": "2026-12-07T09:00:00-05:00"}


def test_the_stored_size_is_compact_json_in_utf16() -> None:
    assert d.stored_bytes({"a": "é", "b": [1, 2]}) == 2 * len('{"a":"é","b":[1,2]}')
    assert d.stored_bytes({"a": "😀"}) == 2 * (len('{"a":""}') + 2)  # a surrogate pair


def test_the_numbers_a_voicemail_texts_are_forwarding_targets() -> None:
    document = {
        "open": [
            {"say": "Leave a message."},
            {"voicemail": {"notify": {"sms": ["+15550000001", "+15550000002"]}}},
        ],
        "closed": [{"voicemail": {}}],
    }
    assert d.forwarding_targets(document) == [
        ("/open/1/voicemail/notify/sms/0", "+15550000001"),
        ("/open/1/voicemail/notify/sms/1", "+15550000002"),
    ]


def test_a_queues_options_as_given() -> None:
    queue = {
        "people": [{"name": "Ana", "number": "+15550000001"}],
        "announceEvery": 45,
        "maxWait": 900,
        "maxSize": 7,
        "callback": True,
    }
    _, line = d.parse_line({"open": [{"queue": queue}, {"voicemail": {}}]}, NUMBER)
    step = line.flows["open"][0]
    assert (step.announce_every, step.max_wait, step.max_size, step.callback) == (
        45,
        900,
        7,
        True,
    )


def test_what_a_stored_document_is_checked_for() -> None:
    assert d.stored_problems(["not", "an", "object"], NUMBER) == [
        d.Problem("", "must be a JSON object")
    ]
    bell = {"open": [{"say": "ring\x07"}]}
    assert [str(p) for p in d.stored_problems(bell, NUMBER)] == [
        "/open/0/say: must be text without control characters"
    ]
    # The document's own number is the line's: a stored document is checked against it.
    own = {"number": NUMBER, "open": [{"forward": {"to": "+15005550006"}}]}
    assert d.stored_problems(own, "+15550009999") == []


def test_an_instant_with_an_offset_no_clock_has_is_refused() -> None:
    assert d.parse_instant("2026-12-24T10:00+14:00").utcoffset() is not None
    with pytest.raises(ValueError, match=r"^the offset must be one a clock can have") as refused:
        d.parse_instant("2026-12-24T10:00+14:30")
    assert str(refused.value) == "the offset must be one a clock can have (-14:00 to +14:00)"


def test_the_errors_in_words() -> None:
    assert str(d.LineError([])) == "invalid line"
    assert d.LineError([]).pointer == ""
    too_large = d.DocumentTooLarge(70_000)
    assert too_large.pointer == ""
    assert str(too_large) == (
        "/: takes 70,000 bytes as stored (UTF-16, as Table Storage counts); a line is one "
        "property of at most 65,536 bytes (64 KiB)"
    )


def schema_error(validator: str, **fields: Any) -> SimpleNamespace:
    """A jsonschema error as `_schema_problem` reads one (the parts it looks at)."""
    base: dict[str, Any] = {
        "absolute_path": ["open", 0],
        "validator": validator,
        "schema": {},
        "validator_value": None,
        "instance": None,
        "schema_path": [],
    }
    return SimpleNamespace(**{**base, **fields})


def test_schema_errors_in_words_for_every_shape() -> None:
    problem = d._schema_problem
    assert problem(
        schema_error("required", validator_value=["say"], instance={"say": "x"})
    ) == d.Problem("/open/0/", "is required")
    assert problem(
        schema_error("additionalProperties", schema=True, instance={"z": 1})
    ) == d.Problem("/open/0/z", "is not allowed here")
    assert problem(schema_error("additionalProperties", instance={"z": 1})) == d.Problem(
        "/open/0/z", "is not allowed here"
    )
    assert problem(
        schema_error("pattern", schema_path=["propertyNames", "pattern"], instance="9")
    ) == d.Problem("/open/0/9", "is not an allowed key")
    assert problem(
        schema_error(
            "pattern",
            schema={"description": "a key 1-9"},
            schema_path=["propertyNames", "pattern"],
            instance="x",
        )
    ) == d.Problem("/open/0/x", "is not an allowed key: a key 1-9")
    assert problem(schema_error("type", validator_value=["string", "null"])) == d.Problem(
        "/open/0", "must be text or null"
    )
    assert problem(schema_error("type", validator_value="integer")) == d.Problem(
        "/open/0", "must be a whole number"
    )
    assert problem(schema_error("maxProperties", validator_value=3)) == d.Problem(
        "/open/0", "must have at most 3 entries"
    )
    assert problem(schema_error("const", validator_value="x")) == d.Problem(
        "/open/0", "is not valid here"
    )


def test_alternatives_and_step_like_shapes() -> None:
    assert d._alternatives({}) == "the expected entries"
    assert (
        d._alternatives({"anyOf": [{"required": ["date"]}, {"required": ["from", "to"]}, True]})
        == "date, from/to"
    )
    assert d._step_like({}) == set()
    assert d._step_like({"anyOf": [{}, True]}) == set()


def test_a_format_check_passes_what_is_not_text() -> None:
    check = d._succeeds(int)
    assert check(5) is True  # the type keyword reports it
    assert check("12") is True
    assert check("twelve") is False


def test_only_https_with_a_host_and_no_space_is_https() -> None:
    assert d._is_https("https://example.com/a.mp3")
    assert not d._is_https("http://example.com/a.mp3")
    assert not d._is_https("https:///a.mp3")
    assert not d._is_https("https://example.com/a b.mp3")


def test_a_line_has_seven_days_and_keeps_a_given_end() -> None:
    line = d.build_line({**OFFICE}, NUMBER, 1)
    assert len(line.schedule.weekly) == 7
    override = d.override_from(
        {"state": "closed", "until": "2026-12-08T12:00:00-05:00", "setAt": "2026-12-07T08:00Z"},
        line.schedule,
    )
    assert override.until == datetime(2026, 12, 8, 17, 0, tzinfo=UTC)


def refused(document: dict[str, Any], now: datetime = NOW) -> list[str]:
    with pytest.raises(d.LineError) as error:
        d.validate(document, NUMBER, now=now)
    return [str(p) for p in error.value.problems]


def test_an_overrides_instants_at_the_edges_of_their_windows() -> None:
    def override(set_at: datetime, until: datetime) -> dict[str, Any]:
        return {
            **OFFICE,
            "override": {
                "state": "closed",
                "setAt": set_at.isoformat(),
                "until": until.isoformat(),
            },
        }

    edge_ahead, edge_past = NOW + d.SET_AT_AHEAD, NOW - d.SET_AT_PAST
    d.validate(override(edge_ahead, NOW + d.UNTIL_AHEAD), NUMBER, now=NOW)
    d.validate(override(edge_past, NOW - d.UNTIL_PAST), NUMBER, now=NOW)
    second = timedelta(seconds=1)
    assert refused(override(edge_ahead + second, NOW + d.UNTIL_AHEAD + second)) == [
        "/override/setAt: must not be in the future",
        "/override/until: must be within 5 years from now",
    ]
    assert refused(override(edge_past - second, NOW - d.UNTIL_PAST - second)) == [
        "/override/setAt: must be within 400 days of now (an override set earlier has ended: "
        "remove it)",
        "/override/until: must be within 400 days of now (an override that ended earlier: "
        "remove it)",
    ]


def test_a_day_given_twice_still_has_its_ranges_checked() -> None:
    hours = {"mon-fri": ["09:00-17:00"], "fri": ["09:00-12:00", "11:00-13:00"]}
    assert refused({"timeZone": "UTC", "hours": hours}) == [
        "/hours/fri: fri is already given by mon-fri",
        "/hours/fri/1: overlaps another range of the day",
    ]


@pytest.mark.parametrize(
    ("ranges", "overlapping"),
    [
        (["22:00-02:00", "23:00-23:30"], 1),  # inside the evening part
        (["22:00-00:01", "00:00-08:00"], 1),  # the minute past midnight
        (["22:00-02:00", "00:00-00:01"], 1),  # the first minute of the morning part
        (["09:00-12:00", "08:00-09:00"], None),  # touching is not overlapping
        (["22:00-00:00", "00:00-06:00"], None),  # ends at midnight: no morning part
    ],
)
def test_ranges_overlap_across_midnight(ranges: list[str], overlapping: int | None) -> None:
    spans = [hours.parse_clock_range(r) for r in ranges]
    assert d._overlap(spans) == overlapping
