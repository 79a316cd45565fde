"""Line documents at their limits, word for word: the deepest nesting let in, the longest
holiday, ten people ringing at once, the keys and values checked after a bad one, the steps
checked after a menu nested too deep, the zone a holiday or an override needs, and the exact
pointer and words of each refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.lines import document as d

NUMBER = "+15017122661"
ZONE = {"timeZone": "America/New_York"}


def refusals(document: Any) -> list[d.Problem]:
    with pytest.raises(d.LineError) as raised:
        d.validate(document, NUMBER)
    return raised.value.problems


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` objects deep (the document itself the first)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_nesting_up_to_the_limit_is_let_in_and_one_more_is_refused() -> None:
    assert d.text_problems(nested(d.MAX_NESTING)) == []
    assert d.text_problems([nested(d.MAX_NESTING - 1)]) == []
    assert d.text_problems(nested(d.MAX_NESTING + 1)) == [
        d.Problem("", f"must not nest objects and lists over {d.MAX_NESTING} deep")
    ]


def test_what_is_not_an_object_is_refused_at_the_root() -> None:
    assert refusals(["not", "an", "object"]) == [d.Problem("", "must be a JSON object")]
    assert d.stored_problems("text", NUMBER) == [d.Problem("", "must be a JSON object")]


def test_a_bad_key_is_named_and_the_rest_are_still_checked() -> None:
    document = {"sms": {"bad\u0007key": "x", "autoReply": "ring\u0007ring"}}
    assert d.text_problems(document) == [
        d.Problem("/sms", "has a key that is not text without control characters"),
        d.Problem("/sms/autoReply", "must be text without control characters"),
    ]


@pytest.mark.parametrize(("last", "refused"), [("2027-01-01", False), ("2027-01-02", True)])
def test_a_holiday_spans_a_year_at_most(last: str, refused: bool) -> None:
    document = {**ZONE, "holidays": [{"from": "2026-01-01", "to": last, "name": "Sabbatical"}]}
    if not refused:
        assert d.validate(document, NUMBER)["holidays"] == document["holidays"]
        return
    assert refusals(document) == [
        d.Problem("/holidays/0/to", f"a holiday spans at most {d.MAX_HOLIDAY_DAYS} days")
    ]


def test_a_yearly_holiday_over_the_new_year_is_let_in() -> None:
    document = {**ZONE, "holidays": [{"from": "12-24", "to": "01-02", "name": "Winter"}]}
    assert d.validate(document, NUMBER)["holidays"] == document["holidays"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("holidays", [{"date": "12-25", "name": "Christmas"}]),
        ("override", {"state": "closed"}),
        ("hours", {"mon": ["09:00-17:00"]}),
    ],
)
def test_hours_holidays_and_overrides_need_a_zone(key: str, value: Any) -> None:
    assert refusals({key: value}) == [d.Problem("/timeZone", f"is required with {key}")]


def test_ten_people_ring_at_once() -> None:
    people = [{"number": f"+1555000{n:04d}"} for n in range(d.MAX_RING_ALL)]
    stored = d.validate({"open": [{"ring": {"people": people}}]}, NUMBER)
    assert len(stored["open"][0]["ring"]["people"]) == d.MAX_RING_ALL


def test_steps_after_a_menu_nested_too_deep_are_still_checked() -> None:
    too_deep: dict[str, Any] = {"say": "deep"}
    for _ in range(d.MAX_MENU_DEPTH + 1):
        too_deep = {"menu": {"prompt": {"say": "p"}, "options": {"1": {"steps": [too_deep]}}}}
    crowd = [{"number": f"+1555000{n:04d}"} for n in range(d.MAX_RING_ALL + 1)]
    # Inside the deepest menu allowed: a menu too deep, then a ring of too many people.
    deepest_steps = [too_deep["menu"]["options"]["1"]["steps"][0], {"ring": {"people": crowd}}]
    steps = deepest_steps
    for _ in range(d.MAX_MENU_DEPTH):
        steps = [{"menu": {"prompt": {"say": "p"}, "options": {"1": {"steps": steps}}}}]
    where = "/open/0" + "/menu/options/1/steps/0" * (d.MAX_MENU_DEPTH - 1) + "/menu/options/1/steps"
    found = [str(p) for p in refusals({"open": steps})]
    assert f"{where}/1: can never run: the menu step before it ends the flow" in found
    assert f"{where}/0/menu: menus nest at most {d.MAX_MENU_DEPTH} levels deep" in found
    assert (
        f"{where}/1/ring/people: at most {d.MAX_RING_ALL} people ring at once "
        "(use strategy in-turn for more)"
    ) in found


def test_a_relay_person_named_twice_is_refused_in_words() -> None:
    relay = [{"name": "Ana", "number": "+15550000101"}, {"name": "Ben", "number": "+15550000101"}]
    assert refusals({"sms": {"relay": relay}}) == [
        d.Problem("/sms/relay/1/number", "is named twice in the relay")
    ]


def test_an_override_set_a_moment_ago_is_checked_against_the_real_clock() -> None:
    # No `now` given: the real time, an aware UTC instant, is compared with `setAt`.
    set_at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    stored = d.validate({**ZONE, "override": {"state": "closed", "setAt": set_at}}, NUMBER)
    assert stored["override"]["setAt"] == set_at


def test_a_document_of_exactly_64_kib_as_stored_fits() -> None:
    def spoken(last: int) -> dict[str, Any]:
        prompts = [{"say": "w" * 4000} for _ in range(8)] + [{"say": "w" * last}]
        return {"open": [*prompts, {"hangup": {}}]}

    # Each ASCII character is 2 bytes in UTF-16: pad the last prompt to the limit exactly.
    short = d.stored_bytes({"number": NUMBER, **spoken(1)})
    exact = 1 + (d.MAX_STORED_BYTES - short) // 2
    assert d.stored_bytes(d.validate(spoken(exact), NUMBER)) == d.MAX_STORED_BYTES
    with pytest.raises(d.DocumentTooLarge) as raised:
        d.validate(spoken(exact + 1), NUMBER)
    assert raised.value.stored_bytes == d.MAX_STORED_BYTES + 2
