"""Line hours to the letter: the work of an evaluation counted as `hours.WORK` documents it (one
step per holiday or range looked at, per day and per candidate instant of a search, per probe of
the zone's offset), each local day's holidays looked through once per search, the offset found
to the second, a change at the very edge of a week of the search or of its limit, sub-second
instants at a range's edges, and the exact words and limits of the parsers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.lines import hours as h
from switchboard.lines.hours import CalendarDay, ClockRange, Holiday, State

NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 12, 7)
#: Holidays of another year: looked through on every day, covering none.
LONG_AGO = tuple(Holiday(CalendarDay(2000, 1, n), CalendarDay(2000, 1, n)) for n in (1, 2, 3))
CLOSED_WEEK: h.WeeklyHours = tuple(() for _ in range(7))


def steps(work: Callable[[], Any]) -> tuple[int, Any]:
    """The steps `work` took, and what it returned."""
    before = h.WORK.steps
    result = work()
    return h.WORK.steps - before, result


def week(**days: str) -> h.WeeklyHours:
    """Weekly hours from `mon="09:00-17:00,..."`."""
    table = [
        tuple(h.parse_clock_range(r) for r in days[name].split(",")) if name in days else ()
        for name in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ]
    return tuple(table)


# --- the work, counted ---------------------------------------------------------------------------


def test_a_calls_state_counts_each_holiday_and_range_it_looks_at() -> None:
    line = h.Schedule(
        UTC, week(mon="09:00-12:00,13:00-17:00", sun="08:00-09:00,22:00-01:00"), LONG_AGO
    )
    # Monday 18:00, closed: Monday's 3 holidays and 2 ranges, then Sunday's 3 holidays and 2
    # ranges (its late range could still run).
    assert steps(lambda: h.state_at(line, datetime(2026, 12, 7, 18, tzinfo=UTC))) == (
        10,
        (State.CLOSED, h.Reason.HOURS, None),
    )
    # Monday 00:30, open by Sunday's late range, found at the last range looked at.
    assert steps(lambda: h.state_at(line, datetime(2026, 12, 7, 0, 30, tzinfo=UTC))) == (
        10,
        (State.OPEN, h.Reason.HOURS, None),
    )


def test_a_searchs_work_step_by_step() -> None:
    line = h.Schedule(UTC, week(mon="09:00-17:00"), LONG_AGO)
    after = datetime(2026, 12, 7, 9, tzinfo=UTC)  # a boundary itself: not a change after it
    # The state at `after`: Monday's 3 holidays, its first range (open): 4. The week's
    # candidates: the 9 local days Sunday 6th..Monday 14th (9), the holidays of the 8 not seen
    # yet (24), the two Mondays' ranges (2), the offset probed hourly from a day before the
    # first to two days after the last (11 days: 264). No candidate in (09:00, 11:00].
    assert steps(lambda: h.next_scheduled_change(line, after, after + timedelta(hours=2))) == (
        303,
        None,
    )
    # Without the holidays, 27 fewer: each day's were looked through once.
    without = line._replace(holidays=())
    assert steps(lambda: h.next_scheduled_change(without, after, after + timedelta(hours=2))) == (
        276,
        None,
    )


def test_a_long_search_goes_a_local_week_at_a_time() -> None:
    closed = h.Schedule(NEW_YORK, CLOSED_WEEK)
    after = datetime(2026, 11, 30, tzinfo=NEW_YORK).astimezone(UTC)  # a Monday, 00:00
    # Four weeks, each: its 9 days, 264 offset probes (no change in December), and the 7 local
    # midnights inside it checked (the first week's first midnight is `after`, not after it).
    assert steps(lambda: h.next_scheduled_change(closed, after, after + timedelta(days=28))) == (
        4 * (9 + 264 + 7),
        None,
    )
    # With two holidays: once per local day touched (Sunday 29th to Monday 28th: 30 days).
    with_holidays = closed._replace(holidays=LONG_AGO[:2])
    assert steps(
        lambda: h.next_scheduled_change(with_holidays, after, after + timedelta(days=28))
    ) == (4 * (9 + 264 + 7) + 30 * 2, None)


def test_the_offset_is_probed_hourly_and_bisected_to_the_second() -> None:
    start = datetime(2027, 3, 13, tzinfo=UTC)
    assert steps(lambda: list(h._offset_changes(UTC, start, start + timedelta(days=1)))) == (
        24,
        [],
    )
    assert steps(lambda: list(h._offset_changes(UTC, start, start + timedelta(days=400)))) == (
        400 * 24,
        [],
    )
    # New York springs forward at 07:00Z on the 14th: 48 probes, then 12 halvings of an hour.
    assert steps(lambda: list(h._offset_changes(NEW_YORK, start, start + timedelta(days=2)))) == (
        48 + 12,
        [datetime(2027, 3, 14, 7, tzinfo=UTC)],
    )


@pytest.mark.parametrize("seconds", [0, 1, 2, 3, 7, 1799, 1801, 3599])
def test_an_offset_change_is_found_to_the_second_from_any_start(seconds: int) -> None:
    start = datetime(2027, 3, 13, tzinfo=UTC) + timedelta(seconds=seconds)
    changes = list(h._offset_changes(NEW_YORK, start, start + timedelta(days=2)))
    assert changes == [datetime(2027, 3, 14, 7, tzinfo=UTC)]
    assert changes[0].microsecond == 0


# --- the edges of a search ------------------------------------------------------------------------


@pytest.mark.parametrize("days_later", range(1, 17))
def test_a_change_at_midnight_any_day_ahead_is_found(days_later: int) -> None:
    # A closed line that opens at 00:00 on one holiday: its midnight may fall at the very end of
    # a week of the search, or at the limit itself (the limit is included).
    day = date(2026, 11, 30) + timedelta(days=days_later)
    opening = Holiday(
        CalendarDay(day.year, day.month, day.day),
        CalendarDay(day.year, day.month, day.day),
        (h.parse_clock_range("00:00-01:00"),),
        "Open night",
    )
    line = h.Schedule(NEW_YORK, CLOSED_WEEK, (opening,))
    after = datetime(2026, 11, 30, 12, tzinfo=NEW_YORK).astimezone(UTC)
    midnight = datetime.combine(day, time()).replace(tzinfo=NEW_YORK).astimezone(UTC)
    assert h.next_scheduled_change(line, after, after + timedelta(days=20)) == (
        midnight,
        State.OPEN,
    )
    assert h.next_scheduled_change(line, after, midnight) == (midnight, State.OPEN)
    assert h.next_scheduled_change(line, after, midnight - timedelta(seconds=1)) is None


def test_a_change_is_a_plain_utc_instant() -> None:
    line = h.Schedule(NEW_YORK, week(sun="01:15-01:45"))
    # The repeated hour of 2026-11-01: the second pass through 01:15 is one of two instants.
    change = h.next_scheduled_change(
        line, datetime(2026, 11, 1, 5, 50, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    )
    assert change == (datetime(2026, 11, 1, 6, 15, tzinfo=UTC), State.OPEN)
    assert change[0].tzinfo is UTC
    assert change[0].fold == 0  # a UTC instant is never ambiguous (repr and pickle agree)


@pytest.mark.parametrize(
    ("wall", "is_open"),
    [
        (datetime(2026, 12, 7, 8, 29, 59, 999999), False),
        (datetime(2026, 12, 7, 8, 30, 0, 1), True),
        (datetime(2026, 12, 7, 17, 29, 59, 999999), True),
        (datetime(2026, 12, 7, 17, 30, 0, 1), False),
        (datetime(2026, 12, 7, 16, 59), True),
    ],
)
def test_a_range_holds_from_its_first_microsecond_to_its_last(
    wall: datetime, is_open: bool
) -> None:
    line = h.Schedule(NEW_YORK, week(mon="08:30-17:30"))
    state, _, _ = h.state_at(line, wall.replace(tzinfo=NEW_YORK))
    assert (state is State.OPEN) is is_open


# --- the parsers' words and limits ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["08:60-09:00", "08:00-09:60", "24:00-08:00", "8:00-09:00"])
def test_a_clock_range_out_of_the_clock_is_refused_in_words(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"\Amust be a range of 24-hour times such as 08:30-17:30\Z"
    ):
        h.parse_clock_range(text)


def test_a_clock_range_that_starts_where_it_ends_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match=r"\Astart and end must differ\Z"):
        h.parse_clock_range("09:00-09:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00-24:00", ClockRange(0, 1440)),
        ("00:01-24:00", ClockRange(1, 1440)),
        ("23:59-24:00", ClockRange(1439, 1440)),
        ("00:00-00:01", ClockRange(0, 1)),
    ],
)
def test_clock_ranges_at_the_ends_of_the_day(text: str, expected: ClockRange) -> None:
    span = h.parse_clock_range(text)
    assert span == expected
    assert not span.wraps


def test_a_yearly_day_keeps_its_month_and_day() -> None:
    assert h.parse_calendar_day("02-29") == CalendarDay(None, 2, 29)
    assert h.parse_calendar_day("12-01") == CalendarDay(None, 12, 1)
    with pytest.raises(ValueError, match=r"\Amust be a day that exists, YYYY-MM-DD or MM-DD\Z"):
        h.parse_calendar_day("2026-12-01x")


def test_a_holiday_with_one_year_given_counts_as_yearly() -> None:
    # Only both days dated make a dated holiday; one dated end reads as month and day.
    half_dated = Holiday(CalendarDay(2026, 12, 24), CalendarDay(None, 12, 26))
    assert half_dated.covers(date(2031, 12, 25))
    other_half = Holiday(CalendarDay(None, 12, 24), CalendarDay(2026, 12, 26))
    assert other_half.covers(date(2031, 12, 25))
    dated = Holiday(CalendarDay(2026, 12, 24), CalendarDay(2026, 12, 26))
    assert dated.covers(date(2026, 12, 24))
    assert not dated.covers(date(2031, 12, 25))


def test_a_yearly_holiday_over_the_new_year_starts_on_its_first_day() -> None:
    winter = Holiday(CalendarDay(None, 12, 31), CalendarDay(None, 1, 1))
    assert winter.covers(date(2026, 12, 31))
    assert winter.covers(date(2027, 1, 1))
    assert not winter.covers(date(2026, 12, 30))


def test_holidays_without_hours_close_a_line_without_weekly_hours() -> None:
    closed_day = Holiday(CalendarDay(None, 12, 25), CalendarDay(None, 12, 25), (), "Christmas")
    line = h.Schedule(NEW_YORK, None, (closed_day,))
    christmas = datetime(2026, 12, 25, 12, tzinfo=NEW_YORK)
    assert h.state_at(line, christmas) == (State.CLOSED, h.Reason.HOLIDAY, "Christmas")
    assert h.state_at(line, christmas + timedelta(days=1)) == (
        State.OPEN,
        h.Reason.ALWAYS_OPEN,
        None,
    )
