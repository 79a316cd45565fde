"""The work of evaluating a line is bounded for every valid document, counted in steps
(`hours.WORK`: loop iterations), never timed.

- `state_at` (what each call asks) takes at most `hours.STATE_STEPS`, and at most twice the
  document's own holidays and ranges of a day, whatever the instants of the document and of the
  evaluation are (before, an override's `setAt` made each call walk the hours from then:
  seconds for a `setAt` some years back);
- `status` and building a line (an override stored with `setAt` only gets its end worked out
  there) take at most `hours.STATUS_STEPS`, and more instants do not cost more;
- the schema's limits are the ones the bounds rest on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.lines import document as d
from switchboard.lines import hours as h
from tests.line_documents import valid_documents

NUMBER = "+15017122661"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
WORK_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def steps(work: Callable[[], Any]) -> int:
    before = h.WORK.steps
    work()
    return h.WORK.steps - before


def most_ranges_a_day(document: dict[str, Any]) -> int:
    day_lists = [ranges for ranges in document.get("hours", {}).values()]
    day_lists += [entry.get("hours", []) for entry in document.get("holidays", [])]
    return max((len(r) for r in day_lists), default=1)


@WORK_SETTINGS
@given(valid_documents(NOW), st.integers(-400 * 1440, 400 * 1440))
def test_a_calls_evaluation_is_bounded_whatever_the_instants(
    document: dict[str, Any], minutes: int
) -> None:
    stored = d.validate(document, NUMBER, now=NOW)
    line = d.build_line(stored, NUMBER, 1)
    moment = NOW + timedelta(minutes=minutes)
    taken = steps(lambda: h.state_at(line.schedule, moment))
    holidays = len(document.get("holidays", []))
    assert taken <= 2 * (holidays + most_ranges_a_day(document)) + 2
    assert taken <= h.STATE_STEPS


@WORK_SETTINGS
@given(valid_documents(NOW))
def test_a_status_and_a_build_are_bounded(document: dict[str, Any]) -> None:
    stored = d.validate(document, NUMBER, now=NOW)
    built = steps(lambda: d.build_line(stored, NUMBER, 1))
    line = d.build_line(stored, NUMBER, 1)
    assert built <= h.STATUS_STEPS
    assert steps(lambda: h.status(line.schedule, NOW)) <= h.STATUS_STEPS
    # A document stored before an override's end was filled in (setAt only): the end is
    # worked out once, when it is built, within the same bound.
    override = stored.get("override")
    if override and "setAt" in override:
        legacy = {**stored, "override": {k: v for k, v in override.items() if k != "until"}}
        assert steps(lambda: d.build_line(legacy, NUMBER, 1)) <= h.STATUS_STEPS


def test_the_worst_documents_built_stay_within_the_bounds() -> None:
    """The most expensive shapes: 200 holidays that never change the state, twelve ranges a
    day that meet end to end (boundaries everywhere, no change), a zone with a 45-minute
    offset."""
    whole_day = [f"{2 * i:02d}:00-{2 * i + 2:02d}:00" for i in range(11)] + ["22:00-24:00"]
    halves = ["00:00-12:00", "12:00-24:00"]
    worst = {
        "timeZone": "Pacific/Chatham",
        "hours": {"mon-sun": whole_day},
        "holidays": [{"from": "2020-01-01", "to": "2020-12-31", "hours": halves}] * 199
        + [{"from": "01-01", "to": "12-31", "hours": whole_day}],
        "override": {"state": "closed", "setAt": "2026-01-01T00:00:00Z"},
    }
    stored = d.validate(worst, NUMBER, now=NOW)
    line = d.build_line(stored, NUMBER, 1)
    assert steps(lambda: h.state_at(line.schedule, NOW)) <= h.STATE_STEPS
    assert steps(lambda: h.status(line.schedule, NOW)) <= h.STATUS_STEPS
    legacy = {**stored, "override": {"state": "closed", "setAt": "2026-01-01T00:00:00Z"}}
    assert steps(lambda: d.build_line(legacy, NUMBER, 1)) <= h.STATUS_STEPS


def test_an_override_set_long_ago_costs_a_call_nothing_more() -> None:
    """The case that made calls slow: an override's `setAt` years back on a line whose hours
    never change. Its end is worked out when the line is built (bounded); each call then
    compares one instant."""
    closed = {"timeZone": "UTC", "hours": {}}
    for set_at in ("2000-01-03T10:00:00Z", "1800-01-03T10:00:00Z"):
        stored = {**closed, "override": {"state": "open", "setAt": set_at}}
        line = d.build_line(stored, NUMBER, 1)
        assert steps(lambda line=line: h.state_at(line.schedule, NOW)) <= h.STATE_STEPS


def test_the_bounds_rest_on_the_schemas_limits() -> None:
    definitions = d.schema()["$defs"]
    assert d.schema()["properties"]["holidays"]["maxItems"] == h.MAX_HOLIDAYS
    assert definitions["ranges"]["maxItems"] == h.MAX_RANGES
