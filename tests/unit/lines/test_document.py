"""Line documents: the JSON Schema and the checks after it, every error naming its JSON pointer."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.lines import document as d
from switchboard.lines.hours import CalendarDay, ClockRange, Holiday, Override, State
from switchboard.lines.model import (
    ForwardStep,
    HangupStep,
    MenuOption,
    MenuStep,
    PauseStep,
    Person,
    Prompt,
    PromptStep,
    QueueStep,
    RedirectStep,
    RingStep,
    TextBack,
    VoicemailStep,
)

NUMBER = "+15017122661"
MAIN_LINE: dict[str, Any] = {
    "number": NUMBER,
    "name": "Main line",
    "timeZone": "America/New_York",
    "hours": {"mon-fri": ["08:30-12:00", "13:00-17:30"], "sat": ["10:00-14:00"]},
    "holidays": [
        {"date": "2026-12-25", "name": "Christmas"},
        {"date": "2026-12-24", "hours": ["08:30-12:00"], "name": "Christmas Eve"},
        {"from": "12-31", "to": "01-01", "name": "New Year"},
    ],
    "greeting": {
        "open": {"say": "Thanks for calling Acme."},
        "closed": {"play": "https://example.com/after-hours.mp3"},
    },
    "open": [
        {
            "menu": {
                "prompt": {"say": "For sales press 1. For support press 2."},
                "options": {
                    "1": {"words": ["sales"], "steps": [{"forward": {"to": "+15005550006"}}]},
                    "2": {"steps": [{"say": "Support is closed today."}, {"voicemail": {}}]},
                },
            }
        }
    ],
    "closed": [{"voicemail": {"prompt": {"say": "Leave a message."}, "transcribe": True}}],
    "callers": {"blocked": ["+15558675309"]},
    "voice": "Polly.Joanna",
    "language": "en-US",
    "sms": {"autoReply": "Thanks, we'll text back.", "closedReply": "We're closed."},
}


def problems(document: Any, number: str = NUMBER) -> list[str]:
    with pytest.raises(d.LineError) as raised:
        d.validate(document, number)
    return [str(p) for p in raised.value.problems]


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(MAIN_LINE)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is d.__name__:  # sentinel: delete
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_schema_is_a_valid_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(d.schema())
    assert d.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_worked_example_builds_a_line() -> None:
    stored, line = d.parse_line(MAIN_LINE, NUMBER, version=3)
    assert stored == MAIN_LINE
    assert (line.number, line.name, line.version, line.time_zone) == (
        NUMBER,
        "Main line",
        3,
        "America/New_York",
    )
    menu = line.flows["open"][0]
    assert isinstance(menu, MenuStep)
    assert menu.find("1", None) is not None
    assert menu.find(None, "Sales please") is not None
    assert isinstance(menu.option("1").steps[0], ForwardStep)  # type: ignore[union-attr]
    assert isinstance(menu.option("2").steps[0], PromptStep)  # type: ignore[union-attr]
    closed = line.flows["closed"][0]
    assert isinstance(closed, VoicemailStep)
    assert closed.transcribe
    assert line.greeting("holiday") == line.greeting("closed")
    assert line.greeting("closed").url == "https://example.com/after-hours.mp3"  # type: ignore[union-attr]
    assert line.blocked == {"+15558675309"}
    assert line.allowed is None
    assert line.flow_name(State.CLOSED, on_holiday=True) == "closed"  # no holiday flow given
    assert len(line.schedule.holidays) == 3


def test_number_is_filled_from_the_path() -> None:
    document = {k: v for k, v in MAIN_LINE.items() if k != "number"}
    assert d.validate(document, NUMBER)["number"] == NUMBER


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["number"], "+15005550006", "/number: must be the number of the line being written"),
        (["timeZone"], "Mars/Olympus", "/timeZone: must be an IANA time zone"),
        (["timeZone"], "../../etc/passwd", "/timeZone: must be an IANA time zone"),
        (["hours", "mon-fri", 1], "13:00-25:00", "/hours/mon-fri/1: must be a range"),
        (["hours", "fri"], ["18:00-20:00"], "/hours/fri: fri is already given by mon-fri"),
        (["hours", "mon-fri"], ["08:00-12:00", "11:00-13:00"], "/hours/mon-fri/1: overlaps"),
        (
            ["hours", "weekdays"],
            ["08:00-12:00"],
            "/hours/weekdays: is not an allowed key: a day (mon)",
        ),
        (["holidays", 0, "date"], "2026-02-30", "/holidays/0/date: must be a day that exists"),
        (["holidays", 2, "to"], "2027-01-01", "/holidays/2/to: must have a year exactly when"),
        (["holidays", 1, "hours", 0], "8:30-12:00", "/holidays/1/hours/0: must be a range"),
        (
            ["greeting", "closed", "play"],
            "http://example.com/a.mp3",
            "/greeting/closed/play: must be an absolute https URL",
        ),
        (
            ["greeting", "open", "voice"],
            "Polly Joanna!",
            "/greeting/open/voice: is not in the expected form",
        ),
        (
            ["open", 0, "menu", "options", "1", "steps", 0, "forward", "to"],
            "5551234",
            "/open/0/menu/options/1/steps/0/forward/to: must be an E.164",
        ),
        (
            ["open", 0, "menu", "options", "1", "steps", 0, "forward", "timeout"],
            2,
            "/open/0/menu/options/1/steps/0/forward/timeout: must be at least 5",
        ),
        (
            ["open", 0, "menu", "options", "x"],
            {"steps": []},
            "/open/0/menu/options/x: is not an allowed key: one key: 0-9",
        ),
        (
            ["closed", 0, "voicemail", "maxLength"],
            "long",
            "/closed/0/voicemail/maxLength: must be a whole number",
        ),
        (
            ["closed", 0, "voicemail", "colour"],
            "red",
            "/closed/0/voicemail/colour: is not allowed here",
        ),
        (["closed"], [{"dance": {}}], "/closed/0: must be a step: one of say, play"),
        (
            ["closed"],
            [{"hangup": {}}, {"say": "bye"}],
            "/closed/1: can never run: the hangup step before it ends the flow",
        ),
        (
            ["callers", "blocked"],
            ["+15558675309", "+15558675309"],
            "/callers/blocked: must not repeat",
        ),
        (["sms", "autoReply"], "", "/sms/autoReply: must be at least 1 characters"),
        (["override"], {"state": "shut"}, "/override/state: must be one of open, closed"),
        (
            ["override"],
            {"state": "closed", "until": "2026-12-24T17:00:00"},
            "/override/until: must be an ISO-8601 date and time with an offset",
        ),
        (["colour"], "red", "/colour: is not allowed here"),
    ],
)
def test_errors_name_the_pointer(path: list[Any], value: Any, expected: str) -> None:
    found = problems(with_change(path, value))
    assert found[0].startswith(expected), found


def test_zone_is_required_with_hours() -> None:
    document = with_change(["timeZone"], d.__name__)
    assert problems(document)[0] == "/timeZone: is required with hours"


def test_holiday_needs_a_date_or_a_range() -> None:
    document = with_change(["holidays", 0], {"name": "Someday"})
    assert problems(document)[0].startswith("/holidays/0: must have one of date, from")
    document = with_change(["holidays", 0], {"from": "2026-12-20", "date": "2026-12-21"})
    assert problems(document)[0].startswith("/holidays/0/from: is not allowed here")
    document = with_change(["holidays", 0], {"from": "2026-12-20", "to": "2026-12-01"})
    assert problems(document)[0] == "/holidays/0/to: must not be before from"


def nested_menus(levels: int) -> dict[str, Any]:
    step: dict[str, Any] = {"say": "deep"}
    for _ in range(levels):
        step = {"menu": {"prompt": {"say": "p"}, "options": {"1": {"steps": [step]}}}}
    return {"open": [step]}


def test_menus_nest_three_levels_deep_at_most() -> None:
    """Three levels of menu, as the README promises (a menu in an option of a menu in an
    option of a menu); the fourth is refused where it stands."""
    d.validate(nested_menus(3), NUMBER)
    found = problems(nested_menus(4))
    deepest = "/open/0" + "/menu/options/1/steps/0" * 3 + "/menu"
    assert found == [f"{deepest}: menus nest at most 3 levels deep"]


def test_text_must_be_valid_unicode() -> None:
    assert problems({"name": "Main \ud800"}) == ["/name: must be valid Unicode text"]
    assert problems({"open": [{"say": "\udfff"}]}) == ["/open/0/say: must be valid Unicode text"]


def test_pointer_escapes_slash_and_tilde() -> None:
    assert d.pointer(["hours", "a/b", "c~d", 0]) == "/hours/a~1b/c~0d/0"


def test_document_size_is_the_stored_size() -> None:
    """The limit is what Table Storage stores: UTF-16 bytes of the compact JSON, 64 KiB."""
    emoji = "\U0001f4de" * 4000  # 4 bytes each in UTF-16: 16,000 bytes a prompt
    document = {"open": [{"say": emoji} for _ in range(5)] + [{"hangup": {}}]}
    with pytest.raises(d.DocumentTooLarge) as raised:
        d.validate(document, NUMBER)
    assert raised.value.stored_bytes > d.MAX_STORED_BYTES
    assert "65,536 bytes" in str(raised.value)
    # The same number of ASCII characters fits: 2 bytes each.
    plain = {"open": [{"say": "w" * 4000} for _ in range(5)] + [{"hangup": {}}]}
    assert d.stored_bytes(d.validate(plain, NUMBER)) < d.MAX_STORED_BYTES


def test_not_an_object() -> None:
    assert problems([1, 2]) == ["/: must be a JSON object"]


def test_override_without_until_gets_set_at_and_its_end() -> None:
    now = datetime(2026, 12, 1, 15, 4, 5, tzinfo=UTC)  # a Tuesday, 10:04 in New York
    office = {"timeZone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}}
    stored = d.validate({**office, "override": {"state": "closed"}}, NUMBER, now=now)
    assert stored["override"] == {
        "state": "closed",
        "until": "2026-12-01T17:00:00-05:00",  # the next change of the hours, filled in
        "setAt": "2026-12-01T15:04:05+00:00",
    }
    line = d.build_line(stored, NUMBER, 1)
    assert line.schedule.override is not None
    assert line.schedule.override.set_at == now
    # A line whose hours never change keeps an override without end: until cleared.
    always = d.validate({"timeZone": "UTC", "override": {"state": "closed"}}, NUMBER, now=now)
    assert always["override"] == {"state": "closed", "setAt": "2026-12-01T15:04:05+00:00"}


def test_the_test_clock_anchors_an_override_not_its_stamp() -> None:
    """`clock` (LINES_CLOCK) decides when an override ends; `setAt` is the real time."""
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    clock = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)  # Thursday 09:00 in New York
    office = {"timeZone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}}
    stored = d.validate({**office, "override": {"state": "closed"}}, NUMBER, now=now, clock=clock)
    assert stored["override"]["setAt"] == "2026-12-07T08:00:00+00:00"
    assert stored["override"]["until"] == "2026-12-24T17:00:00-05:00"


def test_an_override_stored_with_set_at_only_ends_at_the_next_change() -> None:
    """Documents written before `until` was filled in: the end is worked out when read."""
    office = {"timeZone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}}
    stored = {**office, "override": {"state": "closed", "setAt": "2026-12-01T15:04:05+00:00"}}
    line = d.build_line(stored, NUMBER, 1)
    assert line.schedule.override is not None
    assert line.schedule.override.until == datetime(2026, 12, 1, 22, 0, tzinfo=UTC)


def test_every_schema_property_is_documented() -> None:
    """Each property and step kind has a description: the schema is the documentation."""
    schema = d.schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description") or prop.get("$ref") == "#/$defs/override", name
    assert sorted(d.STEP_KINDS) == sorted(
        a["required"][0] for a in schema["$defs"]["step"]["anyOf"]
    )
    assert json.dumps(schema)  # serialisable as served


RING_LINE: dict[str, Any] = {
    "open": [
        {
            "ring": {
                "people": [
                    {"name": "Ana", "number": "+15550000001"},
                    {"name": "Ben", "number": "+15550000002", "timeout": 15, "confirm": False},
                ],
                "strategy": "in-turn",
                "callerId": "line",
            }
        },
        {
            "voicemail": {
                "transcribe": True,
                "notify": {"sms": ["+15550000009"], "email": ["owner@example.com"]},
            }
        },
    ],
    "textBack": {"message": "Sorry we missed you!", "afterVoicemail": False},
}


def test_ring_voicemail_notify_and_text_back_build() -> None:
    from switchboard.lines.model import RingStep

    _, line = d.parse_line(RING_LINE, NUMBER)
    ring, voicemail = line.flows["open"]
    assert isinstance(ring, RingStep)
    assert (ring.strategy, ring.caller_id, ring.confirm) == ("in-turn", "line", "auto")
    assert [p.name for p in ring.people] == ["Ana", "Ben"]
    assert ring.people[1].timeout == 15
    assert ring.people[1].confirm is False
    assert isinstance(voicemail, VoicemailStep)
    assert voicemail.notify_sms == ("+15550000009",)
    assert voicemail.notify_email == ("owner@example.com",)
    assert voicemail.transcript_wait == 120
    assert line.text_back is not None
    assert (line.text_back.message, line.text_back.after_voicemail) == (
        "Sorry we missed you!",
        False,
    )
    assert line.text_back.window_hours == 24


def test_ring_all_rings_ten_at_most() -> None:
    people = [{"number": f"+1555000{n:04d}"} for n in range(11)]
    found = problems({"open": [{"ring": {"people": people}}]})
    assert found[0].startswith("/open/0/ring/people: at most 10 people ring at once")
    assert d.validate({"open": [{"ring": {"people": people, "strategy": "in-turn"}}]}, NUMBER)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"people": []}, "/open/0/ring/people: must have at least 1 entries"),
        ({"people": [{"name": "x"}]}, "/open/0/ring/people/0/number: is required"),
        (
            {"people": [{"number": "+15550000001"}], "strategy": "random"},
            "/open/0/ring/strategy: must be one of all, in-turn",
        ),
        (
            {"people": [{"number": "+15550000001", "confirm": "yes"}]},
            "/open/0/ring/people/0/confirm: must be one of true, false, auto",
        ),
    ],
)
def test_ring_errors(change: dict[str, Any], expected: str) -> None:
    assert problems({"open": [{"ring": change}]})[0].startswith(expected)


@pytest.mark.parametrize("address", ["owner", "a@b", "Ana <a@b.com>", "a b@c.com", "a@b..com"])
def test_notify_email_must_be_an_address(address: str) -> None:
    found = problems({"open": [{"voicemail": {"notify": {"email": [address]}}}]})
    assert found[0].startswith("/open/0/voicemail/notify/email/0: must be an e-mail address"), found


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"name": "Main\r\nBcc: spy@example.com"}, "/name"),
        ({"timeZone": "UTC", "holidays": [{"date": "12-25", "name": "X\tY"}]}, "/holidays/0/name"),
        (
            {"open": [{"ring": {"people": [{"number": "+15550000001", "name": "A\nB"}]}}]},
            "/open/0/ring/people/0/name",
        ),
    ],
)
def test_names_are_one_line(document: dict[str, Any], pointer: str) -> None:
    """Names go into e-mail subjects and whispers: a line break could forge a header."""
    found = problems(document)
    assert found[0] == f"{pointer}: must be one line of text (no line breaks or control characters)"


def test_forwarding_targets_name_every_number_a_call_or_text_goes_to() -> None:
    stored = d.validate({**MAIN_LINE, "sms": {"forwardTo": "+15558670000"}}, NUMBER)
    assert d.forwarding_targets(stored) == [
        ("/open/0/menu/options/1/steps/0/forward/to", "+15005550006"),
        ("/sms/forwardTo", "+15558670000"),
    ]


RELAY = [{"name": "Ana", "number": "+15550000101"}, {"name": "Ben", "number": "+15550000102"}]


def test_relay_people_are_forwarding_targets_and_build_the_line() -> None:
    stored, line = d.parse_line({**MAIN_LINE, "sms": {"relay": RELAY}}, NUMBER)
    assert d.forwarding_targets(stored)[-2:] == [
        ("/sms/relay/0/number", "+15550000101"),
        ("/sms/relay/1/number", "+15550000102"),
    ]
    assert [(p.name, p.number) for p in line.sms_relay] == [
        ("Ana", "+15550000101"),
        ("Ben", "+15550000102"),
    ]
    assert line.relay_person("+15550000102") == line.sms_relay[1]
    assert line.relay_person("+15550000103") is None


@pytest.mark.parametrize(
    ("relay", "pointer", "message"),
    [
        (
            [RELAY[0], {**RELAY[1], "number": RELAY[0]["number"]}],
            "/sms/relay/1/number",
            "is named twice in the relay",
        ),
        ([{"name": "Ana"}], "/sms/relay/0", "number"),
        ([{**RELAY[0], "number": "15550000101"}], "/sms/relay/0/number", "E.164"),
        ([{**RELAY[0], "name": "A\nB"}], "/sms/relay/0/name", "one line"),
        ([], "/sms/relay", ""),
        ([RELAY[0]] * 11, "/sms/relay", ""),
    ],
)
def test_relay_people_refused(relay: list[dict[str, str]], pointer: str, message: str) -> None:
    found = problems({**MAIN_LINE, "sms": {"relay": relay}})
    assert found
    assert found[0].startswith(pointer)
    assert message in found[0]


DELETE = d.__name__  # `with_change`'s sentinel: remove the key

# Whole messages, not prefixes: what the owner reads when a document is refused (generated once
# from the code, then read; a change of wording shows here as a reviewed diff).
DOCUMENT_ERRORS: list[tuple[list[Any], Any, list[str]]] = [
    (["number"], "+15005550006", ["/number: must be the number of the line being written"]),
    (
        ["timeZone"],
        "Mars/Olympus",
        ["/timeZone: must be an IANA time zone such as America/New_York"],
    ),
    (
        ["hours", "mon-fri", 1],
        "13:00-25:00",
        [
            "/hours/mon-fri/1: must be a range of 24-hour times such as 08:30-17:30 (24:00 only as an end)"
        ],
    ),
    (["hours", "fri"], ["18:00-20:00"], ["/hours/fri: fri is already given by mon-fri"]),
    (
        ["hours", "mon-fri"],
        ["08:00-12:00", "11:00-13:00"],
        ["/hours/mon-fri/1: overlaps another range of the day"],
    ),
    (
        ["hours", "weekdays"],
        ["08:00-12:00"],
        [
            "/hours/weekdays: is not an allowed key: a day (mon), a range of days (mon-fri) or a list (sat,sun)"
        ],
    ),
    (
        ["holidays", 0, "date"],
        "2026-02-30",
        ["/holidays/0/date: must be a day that exists, YYYY-MM-DD or MM-DD"],
    ),
    (
        ["holidays", 2, "to"],
        "2027-01-01",
        ["/holidays/2/to: must have a year exactly when from has one"],
    ),
    (
        ["holidays", 1, "hours", 0],
        "8:30-12:00",
        [
            "/holidays/1/hours/0: must be a range of 24-hour times such as 08:30-17:30 (24:00 only as an end)"
        ],
    ),
    (
        ["holidays", 1, "hours"],
        ["08:00-12:00", "11:00-13:00"],
        ["/holidays/1/hours/1: overlaps another range of the day"],
    ),
    (
        ["holidays", 2],
        {"from": "2026-12-31", "to": "2026-12-01", "name": "Backwards"},
        ["/holidays/2/to: must not be before from"],
    ),
    (
        ["holidays", 2],
        {"from": "2026-12-31", "to": "2027-02-30", "name": "No day"},
        ["/holidays/2/to: must be a day that exists, YYYY-MM-DD or MM-DD"],
    ),
    (
        ["holidays", 2],
        {"from": "02-30", "to": "03-01", "name": "No day"},
        ["/holidays/2/from: must be a day that exists, YYYY-MM-DD or MM-DD"],
    ),
    (
        ["holidays", 2],
        {"name": "Nothing"},
        ["/holidays/2: must have one of date, from", "/holidays/2/from: is required"],
    ),
    (
        ["holidays", 2],
        {"date": "2026-12-26", "from": "12-26", "to": "12-27"},
        ["/holidays/2/from: is not allowed here"],
    ),
    (
        ["greeting", "closed", "play"],
        "http://example.com/a.mp3",
        ["/greeting/closed/play: must be an absolute https URL"],
    ),
    (
        ["greeting", "open", "voice"],
        "Polly Joanna!",
        ["/greeting/open/voice: is not in the expected form"],
    ),
    (
        ["greeting", "open"],
        {"say": "a", "play": "https://example.com/a.mp3"},
        ["/greeting/open/say: is not allowed here"],
    ),
    (
        ["greeting", "open"],
        {},
        ["/greeting/open: must have one of say, play", "/greeting/open/say: is required"],
    ),
    (
        ["open", 0, "menu", "options", "1", "steps", 0, "forward", "to"],
        "5551234",
        [
            "/open/0/menu/options/1/steps/0/forward/to: must be an E.164 phone number such as +15017122661"
        ],
    ),
    (
        ["open", 0, "menu", "options", "1", "steps", 0, "forward", "timeout"],
        2,
        ["/open/0/menu/options/1/steps/0/forward/timeout: must be at least 5"],
    ),
    (
        ["open", 0, "menu", "options", "1", "steps", 0, "forward", "timeout"],
        1000,
        ["/open/0/menu/options/1/steps/0/forward/timeout: must be at most 600"],
    ),
    (
        ["open", 0, "menu", "options", "x"],
        {"steps": []},
        ["/open/0/menu/options/x: is not an allowed key: one key: 0-9, * or #"],
    ),
    (["open", 0, "menu", "options"], {}, ["/open/0/menu/options: must have at least 1 entries"]),
    (
        ["open", 0, "menu", "prompt"],
        {"say": ""},
        ["/open/0/menu/prompt/say: must be at least 1 characters"],
    ),
    (
        ["open", 0, "menu", "prompt"],
        {
            "say": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        },
        ["/open/0/menu/prompt/say: must be at most 4000 characters"],
    ),
    (
        ["closed", 0, "voicemail", "maxLength"],
        "long",
        ["/closed/0/voicemail/maxLength: must be a whole number"],
    ),
    (
        ["closed", 0, "voicemail", "maxLength"],
        True,
        ["/closed/0/voicemail/maxLength: must be a whole number"],
    ),
    (
        ["closed", 0, "voicemail", "maxLength"],
        1.5,
        ["/closed/0/voicemail/maxLength: must be a whole number"],
    ),
    (
        ["closed", 0, "voicemail", "colour"],
        "red",
        ["/closed/0/voicemail/colour: is not allowed here"],
    ),
    (
        ["closed"],
        [{"dance": {}}],
        [
            "/closed/0: must be a step: one of say, play, pause, menu, forward, ring, queue, voicemail, hangup, redirect"
        ],
    ),
    (
        ["closed"],
        [{"say": "a", "play": "https://example.com/a.mp3"}],
        ["/closed/0/play: is not allowed here", "/closed/0/say: is not allowed here"],
    ),
    (
        ["closed"],
        [{"hangup": {}}, {"say": "bye"}],
        ["/closed/1: can never run: the hangup step before it ends the flow"],
    ),
    (
        ["closed"],
        [{"redirect": {"url": "https://example.com/x"}}, {"say": "bye"}],
        ["/closed/1: can never run: the redirect step before it ends the flow"],
    ),
    (["closed"], "voicemail", ["/closed: must be a list"]),
    (
        ["callers", "blocked"],
        ["+15558675309", "+15558675309"],
        ["/callers/blocked: must not repeat an entry"],
    ),
    (
        ["callers", "blocked"],
        [f"+1555{i:07d}" for i in range(501)],
        ["/callers/blocked: must have at most 500 entries"],
    ),
    (["sms", "autoReply"], "", ["/sms/autoReply: must be at least 1 characters"]),
    (["sms", "autoReply"], 3, ["/sms/autoReply: must be text"]),
    (["sms", "autoReply"], None, ["/sms/autoReply: must be text"]),
    (["override"], {"state": "shut"}, ["/override/state: must be one of open, closed"]),
    (
        ["override"],
        {"state": "closed", "until": "2026-12-24T17:00:00"},
        [
            "/override/until: must be an ISO-8601 date and time with an offset, such as 2026-12-24T17:00:00-05:00"
        ],
    ),
    (
        ["override"],
        {"state": "closed", "until": "tomorrow"},
        [
            "/override/until: must be an ISO-8601 date and time with an offset, such as 2026-12-24T17:00:00-05:00"
        ],
    ),
    (["override"], {"until": "2026-12-24T17:00:00Z"}, ["/override/state: is required"]),
    (["colour"], "red", ["/colour: is not allowed here"]),
    (["name"], "a\nb", ["/name: must be one line of text (no line breaks or control characters)"]),
    (["name"], 7, ["/name: must be text"]),
    (["textBack"], {"minSeconds": -1}, ["/textBack/minSeconds: must be at least 0"]),
    (["textBack"], {"windowHours": 0}, ["/textBack/windowHours: must be at least 1"]),
    (["textBack"], {"message": ""}, ["/textBack/message: must be at least 1 characters"]),
    (["open"], [{"ring": {"people": []}}], ["/open/0/ring/people: must have at least 1 entries"]),
    (
        ["open"],
        [{"ring": {"people": [{"number": "+15550000001"}], "strategy": "random"}}],
        ["/open/0/ring/strategy: must be one of all, in-turn"],
    ),
    (["open"], [{"pause": 0}], ["/open/0/pause: must be at least 1"]),
    (["open"], [{"pause": "1"}], ["/open/0/pause: must be a whole number"]),
    (
        ["open"],
        [{"redirect": {"url": "http://example.com"}}],
        ["/open/0/redirect/url: must be an absolute https URL"],
    ),
    (
        ["open"],
        [{"voicemail": {"notify": {"email": ["not-an-address"]}}}],
        ["/open/0/voicemail/notify/email/0: must be an e-mail address such as owner@example.com"],
    ),
    (
        ["open"],
        [{"voicemail": {"notify": {"sms": ["555"]}}}],
        ["/open/0/voicemail/notify/sms/0: must be an E.164 phone number such as +15017122661"],
    ),
    (
        ["open"],
        [
            {
                "menu": {
                    "prompt": {"say": "x"},
                    "options": {
                        "1": {
                            "steps": [
                                {
                                    "menu": {
                                        "prompt": {"say": "x"},
                                        "options": {
                                            "1": {
                                                "steps": [
                                                    {
                                                        "menu": {
                                                            "prompt": {"say": "x"},
                                                            "options": {
                                                                "1": {
                                                                    "steps": [
                                                                        {
                                                                            "menu": {
                                                                                "prompt": {
                                                                                    "say": "x"
                                                                                },
                                                                                "options": {
                                                                                    "1": {
                                                                                        "steps": []
                                                                                    }
                                                                                },
                                                                            }
                                                                        }
                                                                    ]
                                                                }
                                                            },
                                                        }
                                                    }
                                                ]
                                            }
                                        },
                                    }
                                }
                            ]
                        }
                    },
                }
            }
        ],
        [
            "/open/0/menu/options/1/steps/0/menu/options/1/steps/0/menu/options/1/steps/0/menu:"
            " menus nest at most 3 levels deep"
        ],
    ),
]


@pytest.mark.parametrize(("path", "value", "expected"), DOCUMENT_ERRORS)
def test_each_refusal_in_full(path: list[Any], value: Any, expected: list[str]) -> None:
    assert problems(with_change(path, value)) == expected


def test_a_minimal_line_gets_every_default() -> None:
    document = {
        "name": "Main",
        "open": [
            {"say": "Hi"},
            {"play": "https://example.com/a.mp3"},
            {"pause": 2},
            {
                "menu": {
                    "prompt": {"say": "Press"},
                    "options": {
                        "1": {"steps": [{"forward": {"to": "+15005550006"}}]},
                        "2": {"steps": [{"ring": {"people": [{"number": "+15550000001"}]}}]},
                        "3": {"steps": [{"voicemail": {}}]},
                        "4": {"steps": [{"redirect": {"url": "https://example.com/twiml"}}]},
                        "5": {"steps": [{"hangup": {}}]},
                    },
                }
            },
        ],
        "textBack": {},
    }
    line = d.parse_line(document, NUMBER)[1]
    assert line.flows == {
        "open": (
            PromptStep(Prompt(text="Hi", url=None, voice=None, language=None, loop=1)),
            PromptStep(Prompt(text=None, url="https://example.com/a.mp3", loop=1)),
            PauseStep(seconds=2),
            MenuStep(
                prompt=Prompt(text="Press"),
                options=(
                    MenuOption("1", (), (ForwardStep("+15005550006", 20, "caller"),)),
                    MenuOption(
                        "2",
                        (),
                        (
                            RingStep(
                                (Person("+15550000001", None, None, None),),
                                strategy="all",
                                timeout=20,
                                confirm="auto",
                                caller_id="caller",
                            ),
                        ),
                    ),
                    MenuOption("3", (), (VoicemailStep(None, 120, False, (), (), 120),)),
                    MenuOption("4", (), (RedirectStep("https://example.com/twiml"),)),
                    MenuOption("5", (), (HangupStep(),)),
                ),
                attempts=2,
                timeout=5,
            ),
        )
    }
    assert line.text_back == TextBack(
        "Sorry we missed your call. We will call you back as soon as we can.", True, 5, 24
    )
    assert (line.voice, line.language) == (None, None)
    assert line.schedule.zone == ZoneInfo("UTC")
    assert line.schedule.weekly is None
    assert line.schedule.holidays == ()


def test_every_option_given_is_kept() -> None:
    document = {
        "name": "Main",
        "timeZone": "Europe/Paris",
        "voice": "Polly.Celine",
        "language": "fr-FR",
        "hours": {"mon": ["09:00-12:00"]},
        "open": [
            {"say": "Bonjour", "voice": "Polly.Mathieu", "language": "fr-FR", "loop": 2},
            {
                "menu": {
                    "prompt": {"play": "https://example.com/menu.mp3", "loop": 3},
                    "attempts": 3,
                    "timeout": 9,
                    "options": {
                        "1": {
                            "words": ["ventes"],
                            "steps": [
                                {
                                    "forward": {
                                        "to": "+15005550006",
                                        "timeout": 30,
                                        "callerId": "line",
                                    }
                                }
                            ],
                        },
                        "2": {
                            "steps": [
                                {
                                    "ring": {
                                        "people": [
                                            {
                                                "name": "Ana",
                                                "number": "+15550000001",
                                                "timeout": 15,
                                                "confirm": False,
                                            }
                                        ],
                                        "strategy": "in-turn",
                                        "timeout": 25,
                                        "confirm": True,
                                        "callerId": "line",
                                    }
                                }
                            ]
                        },
                        "3": {
                            "steps": [
                                {
                                    "voicemail": {
                                        "prompt": {"say": "Message"},
                                        "maxLength": 60,
                                        "transcribe": True,
                                        "notify": {
                                            "sms": ["+15550000091"],
                                            "email": ["owner@example.com"],
                                            "transcriptWait": 30,
                                        },
                                    }
                                }
                            ]
                        },
                    },
                }
            },
        ],
        "textBack": {
            "message": "Rappel",
            "afterVoicemail": False,
            "minSeconds": 0,
            "windowHours": 2,
        },
    }
    line = d.parse_line(document, NUMBER)[1]
    say, menu = line.flows["open"]
    assert say == PromptStep(Prompt("Bonjour", None, "Polly.Mathieu", "fr-FR", 2))
    assert menu == MenuStep(
        prompt=Prompt(None, "https://example.com/menu.mp3", None, None, 3),
        options=(
            MenuOption("1", ("ventes",), (ForwardStep("+15005550006", 30, "line"),)),
            MenuOption(
                "2",
                (),
                (
                    RingStep(
                        (Person("+15550000001", "Ana", 15, False),),
                        strategy="in-turn",
                        timeout=25,
                        confirm=True,
                        caller_id="line",
                    ),
                ),
            ),
            MenuOption(
                "3",
                (),
                (
                    VoicemailStep(
                        Prompt("Message"), 60, True, ("+15550000091",), ("owner@example.com",), 30
                    ),
                ),
            ),
        ),
        attempts=3,
        timeout=9,
    )
    assert line.text_back == TextBack("Rappel", False, 0, 2)
    assert (line.voice, line.language) == ("Polly.Celine", "fr-FR")
    assert line.schedule.zone == ZoneInfo("Europe/Paris")
    assert line.schedule.weekly is not None
    assert line.schedule.weekly[0] == (ClockRange(540, 720),)


def test_every_number_a_line_sends_to_with_its_pointer() -> None:
    document = {
        "name": "Main",
        "open": [
            {"forward": {"to": "+15005550006"}},
            {
                "menu": {
                    "prompt": {"say": "x"},
                    "options": {
                        "1": {
                            "steps": [
                                {
                                    "ring": {
                                        "people": [
                                            {"number": "+15550000001"},
                                            {"number": "+15550000002"},
                                        ]
                                    }
                                }
                            ]
                        }
                    },
                }
            },
        ],
        "closed": [{"ring": {"people": [{"number": "+15550000003"}]}}],
        "sms": {"forwardTo": "+15550000004"},
    }
    assert d.forwarding_targets(document) == [
        ("/open/0/forward/to", "+15005550006"),
        ("/open/1/menu/options/1/steps/0/ring/people/0/number", "+15550000001"),
        ("/open/1/menu/options/1/steps/0/ring/people/1/number", "+15550000002"),
        ("/closed/0/ring/people/0/number", "+15550000003"),
        ("/sms/forwardTo", "+15550000004"),
    ]
    assert d.forwarding_targets({"name": "Quiet"}) == []


def test_a_queues_people_are_numbers_calls_go_to() -> None:
    document = {
        "open": [{"queue": {"people": [{"number": "+15550000001"}, {"number": "+15550000002"}]}}]
    }
    assert d.forwarding_targets(document) == [
        ("/open/0/queue/people/0/number", "+15550000001"),
        ("/open/0/queue/people/1/number", "+15550000002"),
    ]


QUEUE = {"people": [{"name": "Ana", "number": "+15550000001"}]}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"open": [{"queue": {"people": []}}]},
            ["/open/0/queue/people: must have at least 1 entries"],
        ),
        ({"open": [{"queue": {}}]}, ["/open/0/queue/people: is required"]),
        (
            {"open": [{"queue": {**QUEUE, "maxWait": 5}}]},
            ["/open/0/queue/maxWait: must be at least 10"],
        ),
        (
            {"open": [{"queue": {**QUEUE, "maxSize": 1001}}]},
            ["/open/0/queue/maxSize: must be at most 1000"],
        ),
        (
            {"open": [{"queue": {**QUEUE, "announceEvery": 9}}]},
            ["/open/0/queue/announceEvery: must be at least 10"],
        ),
        (
            {"open": [{"queue": {**QUEUE, "hold": {"say": "x", "play": "https://e.com/a.mp3"}}}]},
            ["/open/0/queue/hold/say: is not allowed here"],
        ),
        (
            {"open": [{"queue": {**QUEUE, "people": [{"number": "+15550000001", "timeout": 5}]}}]},
            ["/open/0/queue/people/0/timeout: is not allowed here"],
        ),
        (
            {"closed": [{"queue": QUEUE}]},
            [
                "/closed/0/queue: a queue is served only while the line is open: put it in the open steps"
            ],
        ),
        (
            {"open": [{"queue": QUEUE}, {"queue": QUEUE}]},
            ["/open/1/queue: a line has one queue: /open/0 is"],
        ),
        (
            {"open": [{"queue": {"people": [QUEUE["people"][0], QUEUE["people"][0]]}}]},
            ["/open/0/queue/people/1/number: is already one of this queue's people"],
        ),
    ],
)
def test_a_queue_step_is_refused_by_pointer(document: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(d.LineError) as refused:
        d.validate(document, "+15017122661")
    assert [str(p) for p in refused.value.problems] == expected


def test_a_queue_step_is_built_with_its_defaults() -> None:
    _, line = d.parse_line({"open": [{"queue": QUEUE}, {"voicemail": {}}]}, "+15017122661")
    step = line.flows["open"][0]
    assert step == QueueStep(people=(Person("+15550000001", "Ana"),))
    assert (step.announce_every, step.max_wait, step.max_size, step.callback) == (
        60,
        600,
        20,
        False,
    )


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("mon", "mon"),
        ("tue", "tue"),
        ("wed", "wed"),
        ("thu", "thu"),
        ("fri", "fri"),
        ("sat", "sat"),
        ("sun", "sun"),
    ],
)
def test_a_day_given_twice_is_named(day: str, name: str) -> None:
    document = {
        **copy.deepcopy(MAIN_LINE),
        "hours": {"mon-sun": ["09:00-10:00"], day: ["11:00-12:00"]},
    }
    assert problems(document) == [f"/hours/{day}: {name} is already given by mon-sun"]


def test_an_override_in_full() -> None:
    data = {
        "state": "closed",
        "until": "2026-12-24T17:00:00Z",
        "setAt": "2026-12-24T09:00:00Z",
        "reason": "staff party",
    }
    assert d.override_from(data) == Override(
        State.CLOSED,
        until=datetime(2026, 12, 24, 17, tzinfo=UTC),
        set_at=datetime(2026, 12, 24, 9, tzinfo=UTC),
        reason="staff party",
    )
    assert d.override_from({"state": "open"}) == Override(State.OPEN, None, None, None)
    with pytest.raises(ValueError, match=r"^must be an ISO-8601 date and time with an offset\Z"):
        d.parse_instant("2026-12-24T17:00:00")


def test_holidays_as_the_line_holds_them() -> None:
    line = d.parse_line(MAIN_LINE, NUMBER)[1]
    assert line.schedule.holidays == (
        Holiday(CalendarDay(2026, 12, 25), CalendarDay(2026, 12, 25), (), "Christmas"),
        Holiday(
            CalendarDay(2026, 12, 24),
            CalendarDay(2026, 12, 24),
            (ClockRange(510, 720),),
            "Christmas Eve",
        ),
        Holiday(CalendarDay(None, 12, 31), CalendarDay(None, 1, 1), (), "New Year"),
    )


# --- instants, redirects, what a stored document may hold ---------------------------------------

WINDOW_NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("override", "pointer"),
    [
        ({"setAt": "0001-01-01T00:00:00+14:00"}, "/override/setAt"),
        ({"setAt": "1800-01-03T10:00:00Z"}, "/override/setAt"),
        ({"setAt": "2025-11-01T00:00:00Z"}, "/override/setAt"),  # 401 days back
        ({"setAt": "2026-12-09T00:00:00Z"}, "/override/setAt"),  # ahead of now
        ({"until": "9999-12-31T23:59:59-14:00"}, "/override/until"),
        ({"until": "2032-12-31T00:00:00Z"}, "/override/until"),
        ({"until": "2025-10-01T00:00:00Z"}, "/override/until"),
        ({"until": "2026-12-24T17:00:00"}, "/override/until"),  # no offset
        ({"until": "20261224T170000Z"}, "/override/until"),  # basic form
        ({"until": "2026-12-24T17:00:00+23:59"}, "/override/until"),  # no clock's offset
    ],
)
def test_an_overrides_instants_are_bounded(override: dict[str, str], pointer: str) -> None:
    document = {"timeZone": "UTC", "override": {"state": "closed", **override}}
    with pytest.raises(d.LineError) as refused:
        d.validate(document, NUMBER, now=WINDOW_NOW)
    assert [p.pointer for p in refused.value.problems] == [pointer]


def test_instants_inside_the_window_are_accepted() -> None:
    for override in (
        {"setAt": "2025-11-03T00:00:00Z"},
        {"until": "2031-11-01T00:00:00+14:00"},
        {"until": "2025-11-10T00:00:00-12:00"},  # ended: kept, inert
        {"until": "2026-12-24T17:00Z"},  # seconds are optional
    ):
        document = {"timeZone": "UTC", "override": {"state": "closed", **override}}
        d.validate(document, NUMBER, now=WINDOW_NOW)


def test_redirect_targets_name_every_redirect_step() -> None:
    menu = {
        "prompt": {"say": "p"},
        "options": {"1": {"steps": [{"redirect": {"url": "https://b"}}]}},
    }
    document = {"open": [{"redirect": {"url": "https://a"}}], "closed": [{"menu": menu}]}
    assert d.redirect_targets(document) == [
        ("/open/0/redirect/url", "https://a"),
        ("/closed/0/menu/options/1/steps/0/redirect/url", "https://b"),
    ]


def test_what_a_stored_document_is_checked_for() -> None:
    """A stored document is checked for what time cannot change: a valid one stays valid
    (an override set long ago is no problem), text with control characters or a wrong shape is."""
    old = {"timeZone": "UTC", "override": {"state": "closed", "setAt": "2020-01-01T00:00:00Z"}}
    assert d.stored_problems(old, NUMBER) == []
    assert d.text_problems({"open": [{"play": "https://x/a.mp3\x00"}]})[0].pointer == "/open/0/play"
    assert d.stored_problems({"voice": ["Polly"]}, NUMBER)[0].pointer == "/voice"
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    assert d.text_problems({"open": deep})[0].message.startswith("must not nest")
    assert d.stored_problems([1], NUMBER)[0].message == "must be a JSON object"
