"""Calls on a stored line: the state picks the flow, steps run in order, positions travel in the
action URLs; ring groups with press 1 (all at once, in turn) and their whispers. TwiML parsed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from switchboard.lines import document
from switchboard.lines.model import Line
from switchboard.settings import Settings, load_settings
from switchboard.voice import flow as voice

NUMBER = "+15017122661"
CALLER = "+15558675310"
ANA, BEN, CEC = "+15550000001", "+15550000002", "+442079460000"  # CEC: a London landline
TUESDAY_10 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
TUESDAY_20 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 20:00 in New York
CHRISTMAS = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)

ACME: dict[str, Any] = {
    "name": "Main line",
    "timeZone": "America/New_York",
    "hours": {"mon-fri": ["08:30-17:30"]},
    "holidays": [{"date": "12-25", "name": "Christmas"}],
    "greeting": {
        "open": {"say": "Thanks for calling Acme."},
        "closed": {"play": "https://example.com/closed.mp3"},
        "holiday": {"say": "Merry Christmas, we are closed."},
    },
    "open": [
        {"pause": 1},
        {
            "menu": {
                "prompt": {"say": "Sales press 1. Support press 2."},
                "options": {
                    "1": {
                        "words": ["sales"],
                        "steps": [{"forward": {"to": ANA, "timeout": 15}}, {"voicemail": {}}],
                    },
                    "2": {
                        "steps": [
                            {
                                "ring": {
                                    "people": [
                                        {"name": "Ana", "number": ANA},
                                        {"name": "Ben", "number": BEN},
                                    ]
                                }
                            },
                            {"say": "Nobody could take your call."},
                            {"voicemail": {"prompt": {"say": "Leave a message for support."}}},
                        ]
                    },
                },
                "attempts": 3,
            }
        },
    ],
    "closed": [{"voicemail": {"maxLength": 60, "transcribe": True}}],
    "voice": "Polly.Matthew",
}


def settings(**env: str) -> Settings:
    return load_settings(env)


def line_of(doc: dict[str, Any], version: int = 4) -> Line:
    return document.parse_line(doc, NUMBER, version=version)[1]


def call(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "1" * 32,
        "From": CALLER,
        "To": NUMBER,
        "CallStatus": "ringing",
        **extra,
    }


def root(twiml: str) -> ET.Element:
    element = ET.fromstring(twiml)  # noqa: S314 - the app's own TwiML
    assert element.tag == "Response"
    return element


def names(twiml: str) -> list[str]:
    return [el.tag for el in root(twiml)]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


LINE = line_of(ACME)


def test_open_flow_greets_then_runs_steps_until_the_menu() -> None:
    out = voice.incoming(call(), settings(), LINE, TUESDAY_10)
    verbs = list(root(out.twiml))
    assert [v.tag for v in verbs] == ["Say", "Pause", "Gather", "Redirect"]
    assert verbs[0].text == "Thanks for calling Acme."
    assert verbs[0].attrib["voice"] == "Polly.Matthew"
    gather = verbs[2]
    assert query(gather.attrib["action"]) == {"attempt": "1", "at": "open.1", "hop": "1"}
    assert gather.attrib["hints"] == "sales"
    assert out.handling == "menu"
    assert out.change is not None
    assert out.change.fields["Flow"] == "open"
    assert out.change.initial["Line"] == NUMBER
    assert out.change.initial["LineVersion"] == 4


def test_closed_flow_plays_the_closed_greeting_and_records() -> None:
    out = voice.incoming(call(), settings(), LINE, TUESDAY_20)
    verbs = list(root(out.twiml))
    assert [v.tag for v in verbs] == ["Play", "Say", "Record", "Say", "Hangup"]
    assert verbs[0].text == "https://example.com/closed.mp3"
    record = verbs[2].attrib
    assert record["maxLength"] == "60"
    assert record["transcribe"] == "true"
    assert query(record["action"]) == {"line": NUMBER, "at": "closed.0", "hop": "1"}
    assert out.change is not None
    assert out.change.fields["LineState"] == "closed/hours"


def test_a_closed_holiday_uses_the_holiday_greeting_and_the_closed_steps() -> None:
    out = voice.incoming(call(), settings(), LINE, CHRISTMAS)
    verbs = list(root(out.twiml))
    assert verbs[0].text == "Merry Christmas, we are closed."
    assert "Record" in [v.tag for v in verbs]
    assert out.change is not None
    assert out.change.fields["Flow"] == "closed"
    assert out.change.fields["LineState"] == "closed/holiday"


def test_a_holiday_flow_when_the_line_has_one() -> None:
    doc = {**ACME, "holiday": [{"say": "Happy holidays."}, {"hangup": {}}]}
    out = voice.incoming(call(), settings(), line_of(doc), CHRISTMAS)
    assert names(out.twiml) == ["Say", "Say", "Hangup"]
    assert out.handling == "hangup"


def test_menu_choice_runs_the_option_steps_with_nested_positions() -> None:
    # The menu's request came with hop=1: its answer's URLs carry hop 2, and so on.
    at = voice.parse_position("open.1", hop=2)
    out = voice.menu(call(Digits="1"), settings(), 1, LINE, at)
    dial = root(out.twiml)[0]
    assert dial.tag == "Dial"
    assert dial.attrib["timeout"] == "15"
    assert query(dial.attrib["action"]) == {"at": "open.1.1.0", "hop": "2"}
    unanswered = voice.dial_complete(
        call(DialCallStatus="no-answer", CallStatus="in-progress"),
        settings(),
        LINE,
        voice.parse_position("open.1.1.0", hop=3),
    )
    record = root(unanswered.twiml).find("Record")
    assert record is not None
    assert query(record.attrib["action"]) == {"line": NUMBER, "at": "open.1.1.1", "hop": "3"}


def test_menu_attempts_come_from_the_line() -> None:
    at = voice.parse_position("open.1")
    second = voice.menu(call(Digits="9"), settings(), 2, LINE, at)
    assert second.handling == "menu-repeat"  # 3 attempts on this line
    third = voice.menu(call(Digits="9"), settings(), 3, LINE, at)
    assert third.handling == "goodbye"


def test_a_position_that_no_longer_exists_ends_politely() -> None:
    out = voice.menu(call(Digits="1"), settings(), 1, LINE, voice.parse_position("open.7"))
    verbs = list(root(out.twiml))
    assert [v.tag for v in verbs] == ["Say", "Hangup"]
    assert "something changed" in (verbs[0].text or "")
    assert out.handling == "lost"


@pytest.mark.parametrize(
    "raw", ["", "open", "open.x", "open.0.1", "open.0.12.0", "open.0.1.0.2.9999"]
)
def test_malformed_positions_are_none(raw: str) -> None:
    assert voice.parse_position(raw) is None


def test_positions_round_trip() -> None:
    at = voice.parse_position("open.1.#.0")
    assert at is not None
    assert at.encode() == "open.1.#.0"
    assert at.at_index(2).encode() == "open.1.#.2"


# --- ring groups -----------------------------------------------------------------------------


def ring_line(strategy: str = "all", **ring: Any) -> Line:
    people = [
        {"name": "Ana", "number": ANA},
        {"name": "Ben", "number": BEN, "timeout": 12},
        {"name": "Cec", "number": CEC},
    ]
    doc = {
        "name": "Main line",
        "open": [
            {"ring": {"people": people, "strategy": strategy, **ring}},
            {"voicemail": {}},
        ],
    }
    return line_of(doc)


def test_ring_all_dials_every_number_with_a_whisper() -> None:
    line = ring_line(callerId="line")
    out = voice.incoming(call(), settings(), line, TUESDAY_10)
    dial = root(out.twiml)[0]
    assert dial.tag == "Dial"
    assert dial.attrib["callerId"] == NUMBER
    assert query(dial.attrib["action"]) == {"at": "open.0", "hop": "1"}
    numbers = list(dial)
    assert [n.text for n in numbers] == [ANA, BEN, CEC]
    assert [query(n.attrib["url"]) for n in numbers] == [
        {"line": NUMBER, "caller": CALLER, "at": "open.0", "person": str(i), "hop": "1"}
        for i in range(3)
    ]


def test_ring_in_turn_one_at_a_time_then_the_next_step() -> None:
    line = ring_line("in-turn")
    first = root(voice.incoming(call(), settings(), line, TUESDAY_10).twiml)[0]
    assert [n.text for n in first] == [ANA]
    assert query(first.attrib["action"]) == {"at": "open.0", "turn": "0", "hop": "1"}
    at = voice.parse_position("open.0", hop=2)
    nobody = call(DialCallStatus="no-answer", CallStatus="in-progress")
    second = voice.dial_complete(nobody, settings(), line, at, 0, {})
    dial = root(second.twiml)[0]
    assert [n.text for n in dial] == [BEN]
    assert dial.attrib["timeout"] == "12"  # Ben's own
    assert query(dial.attrib["action"]) == {"at": "open.0", "turn": "1", "hop": "2"}
    last = voice.dial_complete(nobody, settings(), line, at, 2, {})
    assert "Record" in names(last.twiml)  # nobody took it: the voicemail step
    assert last.change is not None
    assert last.change.fields["Reached"] is False


def test_ring_in_turn_reaches_the_last_person_before_the_next_step() -> None:
    """After the second of three people does not answer, the third is rung (not the voicemail):
    every person of an in-turn group gets their turn, the last one too."""
    line = ring_line("in-turn")
    at = voice.parse_position("open.0", hop=2)
    nobody = call(DialCallStatus="no-answer", CallStatus="in-progress")
    third = voice.dial_complete(nobody, settings(), line, at, 1, {})
    assert third.handling == "ring"
    dial = root(third.twiml)[0]
    assert dial.tag == "Dial"
    assert [n.text for n in dial] == [CEC]
    assert query(dial.attrib["action"]) == {"at": "open.0", "turn": "2", "hop": "2"}
    assert "Record" not in names(third.twiml)
    assert third.change is not None
    assert "Reached" not in third.change.fields


def test_whisper_asks_for_one_and_declines_without_it() -> None:
    line = ring_line()
    at = voice.parse_position("open.0", hop=2)
    leg = {"CallSid": "CA" + "9" * 32, "ParentCallSid": "CA" + "1" * 32, "From": CALLER, "To": ANA}
    ask = voice.whisper(leg, settings(), line, at, 0, answered=False)
    verbs = list(root(ask.twiml))
    assert [v.tag for v in verbs] == ["Gather", "Hangup"]
    said = verbs[0].find("Say")
    assert said is not None
    assert said.text == "Call for Main line from 1, 5 5 5, 8 6 7, 5 3 1 0. Press 1 to accept."
    assert query(verbs[0].attrib["action"]) == {
        "line": NUMBER,
        "caller": CALLER,
        "at": "open.0",
        "person": "0",
        "answered": "1",
        "hop": "2",
    }
    assert ask.change is None
    yes = voice.whisper({**leg, "Digits": "1"}, settings(), line, at, 0, answered=True)
    assert names(yes.twiml) == []  # an empty document: Twilio connects the legs
    assert yes.change is not None
    assert yes.change.leg == (
        leg["CallSid"],
        {"person": 0, "name": "Ana", "number": ANA, "accepted": True},
    )
    no = voice.whisper({**leg, "Digits": "7"}, settings(), line, at, 0, answered=True)
    assert names(no.twiml) == ["Hangup"]
    assert no.change is not None
    assert no.change.leg is not None
    assert no.change.leg[1]["accepted"] is False


def test_a_landline_is_connected_without_press_one_by_default() -> None:
    line = ring_line()
    at = voice.parse_position("open.0")
    leg = {"CallSid": "CA" + "8" * 32, "ParentCallSid": "CA" + "1" * 32, "From": CALLER, "To": CEC}
    out = voice.whisper(leg, settings(), line, at, 2, answered=False)
    assert names(out.twiml) == []
    assert out.change is not None
    assert out.change.leg is not None
    assert out.change.leg[1]["accepted"] is True


def test_whisper_for_an_unknown_leg_hangs_up() -> None:
    line = ring_line()
    leg = {"CallSid": "CA" + "7" * 32, "ParentCallSid": "CA" + "1" * 32}
    assert names(
        voice.whisper(leg, settings(), line, voice.parse_position("open.1"), 0, False).twiml
    ) == ["Hangup"]
    assert names(
        voice.whisper(leg, settings(), line, voice.parse_position("open.0"), 5, False).twiml
    ) == ["Hangup"]


def test_completed_is_not_taken_unless_the_whisper_accepted() -> None:
    """Twilio says `completed` for a leg that answered then hung up in its whisper: the hunt
    goes on (the pitfall of Twilio's own hunt template)."""
    line = ring_line("in-turn")
    at = voice.parse_position("open.0")
    leg = "CA" + "9" * 32
    done = call(DialCallStatus="completed", DialCallSid=leg, CallStatus="in-progress")
    declined = {leg: {"person": 0, "name": "Ana", "number": ANA, "accepted": False}}
    out = voice.dial_complete(done, settings(), line, at, 0, declined)
    assert out.handling == "ring"  # Ben is next
    accepted = {leg: {"person": 0, "name": "Ana", "number": ANA, "accepted": True}}
    taken = voice.dial_complete(
        {**done, "DialCallDuration": "30"}, settings(), line, at, 0, accepted
    )
    assert names(taken.twiml) == ["Hangup"]
    assert taken.change is not None
    assert json.loads(taken.change.fields["TakenByJson"]) == {"name": "Ana", "number": ANA}
    assert taken.change.fields["Reached"] is True


def test_bridged_counts_even_when_the_legs_could_not_be_read() -> None:
    line = ring_line()
    at = voice.parse_position("open.0")
    done = call(DialCallStatus="completed", DialCallSid="CA" + "9" * 32, DialBridged="true")
    out = voice.dial_complete(done, settings(), line, at, 0, {})
    assert out.handling == "answered"


def test_apply_change_records_each_leg_once() -> None:
    leg = ("CA" + "9" * 32, {"person": 0, "accepted": True})
    change = voice.CallLogChange(step="whisper", leg=leg)
    first = voice.apply_change(change, {}, TUESDAY_10)
    assert first is not None
    assert voice.legs_of(first) == {leg[0]: leg[1]}
    assert voice.apply_change(change, first, TUESDAY_10) is None


def test_spoken_numbers() -> None:
    assert voice.spoken_number("+15558675310") == "1, 5 5 5, 8 6 7, 5 3 1 0"
    assert voice.spoken_number("+442079460000") == "4 4, 2 0, 7 9 4 6, 0 0 0 0"
    # Withheld callers are named as withheld, never spelt out ("a n o n y m o u s").
    for withheld in ("", "anonymous", "Restricted", "+266696687", "+86282452253"):
        assert voice.spoken_number(withheld) == "a withheld number"


# --- the hop limit and redirects into the app ------------------------------------------------


def test_a_request_past_the_hop_limit_says_goodbye() -> None:
    at_limit = voice.parse_position("open.1", hop=voice.MAX_HOPS)
    served = voice.menu(call(Digits="1"), settings(), 1, LINE, at_limit)
    assert names(served.twiml) == ["Dial"]
    past = voice.parse_position("open.1", hop=voice.MAX_HOPS + 1)
    ended = voice.menu(call(Digits="1"), settings(), 1, LINE, past)
    assert names(ended.twiml) == ["Say", "Hangup"]
    assert ended.handling == "hop-limit"
    assert root(ended.twiml)[0].text == voice.TOO_LONG
    nobody = call(DialCallStatus="no-answer", CallStatus="in-progress")
    at = voice.parse_position("open.1.1.0", hop=voice.MAX_HOPS + 1)
    assert voice.dial_complete(nobody, settings(), LINE, at).handling == "hop-limit"
    assert voice.hop_of("/api/voice/menu?attempt=1&at=open.0&hop=17") == 17
    assert voice.hop_of("/api/voice/menu?hop=x") == voice.hop_of("/api/voice/menu") == 0


def _most_hops(steps: list[dict[str, Any]]) -> int:
    """The most requests a list of steps can take after the one that ran it: a forward's end,
    each turn of an in-turn ring, a menu's repeats and then its longest option, a recording."""
    hops = 0
    for step in steps:
        if "forward" in step:
            hops += 1
        elif "ring" in step:
            ring = step["ring"]
            hops += len(ring["people"]) if ring.get("strategy") == "in-turn" else 1
        elif "menu" in step:
            menu = step["menu"]
            options = [_most_hops(option["steps"]) for option in menu["options"].values()]
            hops += menu.get("attempts", 2) + max(options)
        elif "voicemail" in step:
            hops += 1
    return hops


def test_the_longest_flow_a_valid_line_allows_stays_under_the_hop_limit() -> None:
    """Four lists of 20 steps (three levels of menus), 19 in-turn ring groups of 20 people in
    each, menus offered 5 times: the hop limit never cuts a call a line allows."""
    people = [{"number": f"+1555000{n:04d}"} for n in range(20)]
    ring = {"ring": {"people": people, "strategy": "in-turn"}}
    steps: list[dict[str, Any]] = [ring] * 19 + [{"voicemail": {}}]
    for _ in range(3):
        menu = {"prompt": {"say": "p"}, "options": {"1": {"steps": steps}}, "attempts": 5}
        steps = [ring] * 19 + [{"menu": menu}]
    # A line the schema allows (even larger than Table Storage would store).
    assert document.stored_problems({"open": steps}, NUMBER) == []
    assert _most_hops(steps) < voice.MAX_HOPS


def test_a_stored_redirect_into_the_app_is_not_followed() -> None:
    """Refused when a line is written; one stored earlier is never followed (a loop)."""
    own = {
        "open": [
            {"say": "One moment."},
            {"redirect": {"url": "https://app.example.com/api/voice/incoming"}},
        ]
    }
    line = document.build_line(own, NUMBER, 2)
    looped = voice.incoming(call(), settings(PUBLIC_BASE_URL="https://app.example.com"), line)
    assert names(looped.twiml) == ["Say", "Say", "Hangup"]
    elsewhere = {"open": [{"redirect": {"url": "https://example.com/twiml"}}]}
    followed = voice.incoming(call(), settings(), document.build_line(elsewhere, NUMBER, 2))
    assert names(followed.twiml) == ["Redirect"]
