"""Line hours: the state at an instant and the next change, in the line's IANA zone.

Worked examples pin the daylight-saving cases (a gap, a repeated hour, a 30-minute shift, a zone
whose rules changed, a day a zone skipped); hypothesis then checks, across zones with and without
DST, that `state_at` agrees with an independent wall-clock oracle and that `next_scheduled_change`
finds exactly the first minute where a minute-by-minute walk sees the state flip.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.lines import hours as h
from switchboard.lines.hours import CalendarDay, ClockRange, Holiday, Override, Reason, State

NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def weekly(**days: list[str]) -> h.WeeklyHours:
    table: list[tuple[ClockRange, ...]] = [() for _ in range(7)]
    for key, ranges in days.items():
        for day in h.expand_days(key.replace("_", "-")):
            table[day] = tuple(h.parse_clock_range(r) for r in ranges)
    return tuple(table)


OFFICE = h.Schedule(
    zone=NEW_YORK,
    weekly=weekly(mon_fri=["08:30-12:00", "13:00-17:30"], sat=["10:00-14:00"]),
    holidays=(
        Holiday(CalendarDay(2026, 12, 25), CalendarDay(2026, 12, 25), (), "Christmas"),
        Holiday(
            CalendarDay(2026, 12, 24),
            CalendarDay(2026, 12, 24),
            (h.parse_clock_range("08:30-12:00"),),
            "Christmas Eve",
        ),
        Holiday(CalendarDay(None, 7, 4), CalendarDay(None, 7, 4), (), "Independence Day"),
    ),
)


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "wraps"),
    [
        ("08:30-17:30", 510, 1050, False),
        ("22:00-02:00", 1320, 120, True),
        ("00:00-24:00", 0, 1440, False),
        ("18:00-24:00", 1080, 1440, False),
        ("23:59-00:00", 1439, 0, True),
    ],
)
def test_clock_ranges(text: str, start: int, end: int, wraps: bool) -> None:
    span = h.parse_clock_range(text)
    assert (span.start, span.end, span.wraps) == (start, end, wraps)
    assert str(span) == text


@pytest.mark.parametrize(
    "text", ["9:00-17:00", "09:00-09:00", "24:00-08:00", "08:00-24:30", "25:00-26:00", "x", "08-09"]
)
def test_bad_clock_ranges(text: str) -> None:
    with pytest.raises(ValueError, match=r"range|differ"):
        h.parse_clock_range(text)


def test_day_keys() -> None:
    assert h.expand_days("mon-fri") == [0, 1, 2, 3, 4]
    assert h.expand_days("sat,sun") == [5, 6]
    assert h.expand_days("fri-mon") == [4, 5, 6, 0]
    assert h.expand_days("wed") == [2]


def test_calendar_days() -> None:
    assert h.parse_calendar_day("2026-12-25") == CalendarDay(2026, 12, 25)
    assert h.parse_calendar_day("02-29") == CalendarDay(None, 2, 29)
    # Whether the shape is wrong or the day does not exist, the words are the same and whole:
    # they reach the owner after the field's pointer.
    for bad in ("2026-02-29", "02-30", "13-01", "2026-1-1", "christmas"):
        with pytest.raises(ValueError, match=r"\Amust be a day that exists, YYYY-MM-DD or MM-DD\Z"):
            h.parse_calendar_day(bad)


def test_yearly_holiday_ranges_wrap_the_new_year() -> None:
    winter = Holiday(CalendarDay(None, 12, 24), CalendarDay(None, 1, 2))
    assert winter.covers(date(2026, 12, 31))
    assert winter.covers(date(2027, 1, 2))
    assert not winter.covers(date(2027, 1, 3))
    assert not winter.covers(date(2026, 12, 23))


# --- worked examples ----------------------------------------------------------------------------


def test_office_day() -> None:
    tuesday_morning = utc("2026-12-01T09:00:00-05:00")
    status = h.status(OFFICE, tuesday_morning)
    assert (status.state, status.reason) == (State.OPEN, Reason.HOURS)
    assert status.next_change == utc("2026-12-01T12:00:00-05:00")
    assert status.next_state is State.CLOSED
    lunch = h.status(OFFICE, utc("2026-12-01T12:30:00-05:00"))
    assert lunch.state is State.CLOSED
    assert lunch.next_change == utc("2026-12-01T13:00:00-05:00")


def test_friday_evening_next_change_is_saturday_morning() -> None:
    status = h.status(OFFICE, utc("2026-12-04T18:00:00-05:00"))
    assert status.state is State.CLOSED
    assert status.next_change == utc("2026-12-05T10:00:00-05:00")


def test_holidays_closed_and_partial() -> None:
    christmas = h.status(OFFICE, utc("2026-12-25T10:00:00-05:00"))
    assert (christmas.state, christmas.reason, christmas.holiday) == (
        State.CLOSED,
        Reason.HOLIDAY,
        "Christmas",
    )
    # Saturday the 26th opens at 10:00 (its weekly hours).
    assert christmas.next_change == utc("2026-12-26T10:00:00-05:00")
    eve_morning = h.status(OFFICE, utc("2026-12-24T09:00:00-05:00"))
    assert (eve_morning.state, eve_morning.reason) == (State.OPEN, Reason.HOLIDAY)
    assert eve_morning.next_change == utc("2026-12-24T12:00:00-05:00")
    eve_afternoon = h.state_at(OFFICE, utc("2026-12-24T14:00:00-05:00"))
    assert eve_afternoon == (State.CLOSED, Reason.HOLIDAY, "Christmas Eve")


def test_yearly_holiday_every_year() -> None:
    for year in (2026, 2027, 2031):  # a Saturday, a Sunday... and a Friday
        moment = datetime(year, 7, 4, 11, tzinfo=NEW_YORK)
        assert h.state_at(OFFICE, moment) == (State.CLOSED, Reason.HOLIDAY, "Independence Day")


def test_range_past_midnight_and_a_holiday_cutting_it() -> None:
    bar = h.Schedule(zone=NEW_YORK, weekly=weekly(fri=["22:00-02:00"]))
    assert h.state_at(bar, utc("2026-12-05T01:30:00-05:00"))[0] is State.OPEN  # Saturday 01:30
    assert h.status(bar, utc("2026-12-04T23:00:00-05:00")).next_change == utc(
        "2026-12-05T02:00:00-05:00"
    )
    closed_saturday = h.Schedule(
        zone=NEW_YORK,
        weekly=bar.weekly,
        holidays=(Holiday(CalendarDay(2026, 12, 5), CalendarDay(2026, 12, 5), (), "Closed"),),
    )
    assert h.state_at(closed_saturday, utc("2026-12-05T01:30:00-05:00"))[0] is State.CLOSED
    assert h.status(closed_saturday, utc("2026-12-04T23:00:00-05:00")).next_change == utc(
        "2026-12-05T00:00:00-05:00"
    )


def test_always_open_without_hours() -> None:
    line = h.Schedule(zone=NEW_YORK)
    status = h.status(line, utc("2026-12-01T03:00:00Z"), horizon=timedelta(days=30))
    assert (status.state, status.reason, status.next_change) == (
        State.OPEN,
        Reason.ALWAYS_OPEN,
        None,
    )


def test_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    # 2027-03-14 in New York: 02:00 EST becomes 03:00 EDT (07:00Z). Sunday opens at 02:30.
    line = h.Schedule(zone=NEW_YORK, weekly=weekly(sun=["02:30-05:00"]))
    before = utc("2027-03-14T01:59:00-05:00")
    assert h.state_at(line, before)[0] is State.CLOSED
    status = h.status(line, before)
    assert status.next_change == utc("2027-03-14T07:00:00Z")  # 03:00 EDT: the jump
    assert status.next_state is State.OPEN
    assert h.status(line, status.next_change).next_change == utc("2027-03-14T05:00:00-04:00")


def test_repeated_autumn_hour_is_open_on_both_passes() -> None:
    # 2026-11-01 in New York: 02:00 EDT becomes 01:00 EST (06:00Z); 01:15-01:45 happens twice.
    line = h.Schedule(zone=NEW_YORK, weekly=weekly(sun=["01:15-01:45"]))
    first = h.status(line, utc("2026-11-01T01:00:00-04:00"))
    assert first.next_change == utc("2026-11-01T05:15:00Z")
    second = h.status(line, utc("2026-11-01T05:50:00Z"))  # between the passes
    assert second.state is State.CLOSED
    assert second.next_change == utc("2026-11-01T06:15:00Z")
    assert h.status(line, utc("2026-11-01T06:20:00Z")).next_change == utc("2026-11-01T06:45:00Z")


def test_lord_howe_half_hour_shift_skips_a_range() -> None:
    # Lord Howe moves from 02:00 to 02:30 on 2026-10-04: a Sunday range 02:00-02:20 never occurs.
    zone = ZoneInfo("Australia/Lord_Howe")
    line = h.Schedule(zone=zone, weekly=weekly(sun=["02:00-02:20"]))
    status = h.status(line, datetime(2026, 10, 3, 12, tzinfo=zone))
    assert status.next_change == datetime(2026, 10, 11, 2, 0, tzinfo=zone).astimezone(UTC)


def test_a_zone_that_changed_its_rules() -> None:
    # São Paulo had DST until 2019; on 2018-11-04 midnight became 01:00. Sunday opens at 00:00.
    zone = ZoneInfo("America/Sao_Paulo")
    line = h.Schedule(zone=zone, weekly=weekly(sun=["00:00-08:00"]))
    status = h.status(line, datetime(2018, 11, 3, 22, tzinfo=zone))
    assert status.next_change == utc("2018-11-04T03:00:00Z")  # the jump to 01:00 -02
    # In 2026 there is no DST: the Sunday opens at 00:00 -03.
    later = h.status(line, datetime(2026, 11, 7, 22, tzinfo=zone))
    assert later.next_change == utc("2026-11-08T03:00:00Z")


def test_a_day_the_zone_skipped() -> None:
    # Samoa skipped Friday 2011-12-30. Friday hours are reached only a week later.
    zone = ZoneInfo("Pacific/Apia")
    line = h.Schedule(zone=zone, weekly=weekly(fri=["09:00-17:00"]))
    status = h.status(line, datetime(2011, 12, 29, 18, tzinfo=zone))
    assert status.next_change == datetime(2012, 1, 6, 9, tzinfo=zone).astimezone(UTC)


# --- overrides -----------------------------------------------------------------------------------


def test_override_until_wins_then_the_schedule_resumes() -> None:
    closed_now = Override(State.CLOSED, until=utc("2026-12-01T15:00:00-05:00"))
    line = h.Schedule(zone=NEW_YORK, weekly=OFFICE.weekly, override=closed_now)
    status = h.status(line, utc("2026-12-01T09:00:00-05:00"))
    assert (status.state, status.reason) == (State.CLOSED, Reason.OVERRIDE)
    assert status.next_change == utc("2026-12-01T15:00:00-05:00")
    assert status.next_state is State.OPEN
    assert h.state_at(line, utc("2026-12-01T15:00:00-05:00"))[:2] == (State.OPEN, Reason.HOURS)


def until_next_change(
    schedule: h.Schedule, state: State, set_at: datetime, within: timedelta | None = None
) -> h.Schedule:
    """The schedule with an override set at `set_at` until the next change, as written: its
    end worked out once (`override_ends`; `within`: only that far, for a property that looks
    no further)."""
    if within is None:
        ends = h.override_ends(schedule, set_at)
    else:
        change = h.next_scheduled_change(schedule, set_at, set_at + within)
        ends = change[0] if change else None
    return schedule._replace(override=Override(state, until=ends, set_at=set_at))


def test_override_until_the_next_change() -> None:
    # "Closed until the next change", set at 10:00 on an open Tuesday: the schedule would close at
    # 12:00; then it is closed anyway, and opens at 13:00.
    line = until_next_change(OFFICE, State.CLOSED, utc("2026-12-01T10:00:00-05:00"))
    at_eleven = h.status(line, utc("2026-12-01T11:00:00-05:00"))
    assert (at_eleven.state, at_eleven.reason) == (State.CLOSED, Reason.OVERRIDE)
    assert at_eleven.next_change == utc("2026-12-01T13:00:00-05:00")
    assert h.state_at(line, utc("2026-12-01T12:30:00-05:00"))[1] is Reason.HOURS
    assert h.state_at(line, utc("2026-12-01T13:30:00-05:00"))[0] is State.OPEN


def test_override_open_when_closed_until_next_change() -> None:
    # Set on Saturday afternoon, closed.
    line = until_next_change(OFFICE, State.OPEN, utc("2026-12-05T15:00:00-05:00"))
    status = h.status(line, utc("2026-12-05T16:00:00-05:00"))
    assert (status.state, status.reason) == (State.OPEN, Reason.OVERRIDE)
    # The schedule's next change is Monday 08:30 (closed → open), when the override ends; the
    # state then stays open until Monday noon.
    assert status.next_change == utc("2026-12-07T12:00:00-05:00")


def test_ended_override_has_no_effect() -> None:
    ended = Override(State.CLOSED, until=utc("2026-11-30T00:00:00Z"))
    line = h.Schedule(zone=NEW_YORK, weekly=OFFICE.weekly, override=ended)
    assert h.state_at(line, utc("2026-12-01T09:00:00-05:00")) == (State.OPEN, Reason.HOURS, None)


def _with(override: Override | None) -> h.Schedule:
    return h.Schedule(zone=NEW_YORK, weekly=OFFICE.weekly, override=override)


def test_every_status_in_full() -> None:
    """State, reason, next change, next state and override: each field an owner reads."""
    tuesday_ten = utc("2026-12-01T10:00:00-05:00")
    assert h.status(_with(None), tuesday_ten) == h.LineStatus(
        State.OPEN, Reason.HOURS, None, utc("2026-12-01T12:00:00-05:00"), State.CLOSED, None
    )
    # Until a time at which the schedule is in the other state: that time, then that state.
    until_noon = Override(State.CLOSED, until=utc("2026-12-01T11:30:00-05:00"))
    assert h.status(_with(until_noon), tuesday_ten) == h.LineStatus(
        State.CLOSED,
        Reason.OVERRIDE,
        None,
        utc("2026-12-01T11:30:00-05:00"),
        State.OPEN,
        until_noon,
    )
    # Until a time at which the schedule is in the same state: its next change after that.
    until_lunch = Override(State.CLOSED, until=utc("2026-12-01T12:15:00-05:00"))
    assert h.status(_with(until_lunch), tuesday_ten) == h.LineStatus(
        State.CLOSED,
        Reason.OVERRIDE,
        None,
        utc("2026-12-01T13:00:00-05:00"),
        State.OPEN,
        until_lunch,
    )
    # Until the next change, on a line that never changes: in force with no end.
    always = h.Schedule(zone=NEW_YORK, weekly=None, override=Override(State.CLOSED))
    assert h.status(always, tuesday_ten) == h.LineStatus(
        State.CLOSED, Reason.OVERRIDE, None, None, None, Override(State.CLOSED)
    )
    assert h.status(h.Schedule(zone=NEW_YORK, weekly=None), tuesday_ten) == h.LineStatus(
        State.OPEN, Reason.ALWAYS_OPEN
    )


def test_when_an_override_is_in_force_and_ends() -> None:
    until = utc("2026-12-01T12:30:00-05:00")
    timed = Override(State.CLOSED, until=until)
    assert h.override_active(timed, until - timedelta(seconds=1))
    assert not h.override_active(timed, until)
    set_at = utc("2026-12-01T10:00:00-05:00")
    open_ended = Override(State.CLOSED, set_at=set_at)
    assert h.override_active(open_ended, set_at)
    assert not h.override_active(open_ended, set_at - timedelta(seconds=1))
    assert h.override_active(Override(State.CLOSED), set_at)  # no set_at: from now on
    # Without `until`, it ends at the regular schedule's next change after it was set.
    assert h.override_ends(_with(None), set_at) == utc("2026-12-01T12:00:00-05:00")
    never = h.Schedule(zone=NEW_YORK, weekly=None)
    assert h.override_ends(never, set_at) is None


# --- properties across zones ------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kolkata",  # no DST, half-hour offset
    "America/Sao_Paulo",  # DST abolished in 2019 (and it changed at midnight)
    "Europe/Moscow",  # changed rules in 2011 and 2014
    "Pacific/Apia",  # skipped a day in 2011
    "America/Havana",  # DST at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # DST suspended every Ramadan
]

minutes = st.integers(min_value=0, max_value=1439)
# Bias boundaries toward the small hours, where the clocks change.
small_hours = st.integers(min_value=0, max_value=4 * 60 - 1)
boundary = st.one_of(minutes, small_hours, st.sampled_from([0, 60, 120, 150, 180]))


@st.composite
def clock_ranges(draw: st.DrawFn) -> ClockRange:
    start = draw(boundary)
    end = draw(st.one_of(boundary, st.just(1440)))
    if end % 1440 == start:
        end = (start + 30) % 1440 or 1440
    return ClockRange(start, end)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[h.Schedule, datetime]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    # Some weeks with no hours at all (closed but on holidays with hours), most with some.
    has_hours = draw(st.integers(0, 4)) > 0
    week = tuple(
        tuple(draw(st.lists(clock_ranges(), max_size=3))) if has_hours else () for _ in range(7)
    )
    instant = draw(_instants(zone))
    local_day = instant.astimezone(zone).date()
    holidays = []
    for _ in range(draw(st.integers(0, 2))):
        day = local_day + timedelta(days=draw(st.integers(-1, 3)))
        yearly = draw(st.booleans())
        first = CalendarDay(None if yearly else day.year, day.month, day.day)
        span = tuple(draw(st.lists(clock_ranges(), max_size=2)))
        holidays.append(Holiday(first, first, span, "h"))
    weekly_hours = None if draw(st.integers(0, 9)) == 0 else week
    return h.Schedule(zone, weekly_hours, tuple(holidays)), instant


@st.composite
def _instants(draw: st.DrawFn, zone: ZoneInfo) -> datetime:
    # Near an offset change of the zone (when it has any in the year), else anywhere.
    year = draw(st.integers(2008, 2032))
    start = datetime(year, 1, 1, tzinfo=UTC)
    changes = list(h._offset_changes(zone, start, start + timedelta(days=366)))
    base = (
        draw(st.sampled_from(changes))
        if changes
        else start + timedelta(days=draw(st.integers(0, 364)))
    )
    return base + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))


def oracle_open(schedule: h.Schedule, instant: datetime) -> bool:
    """Wall-clock membership with naive datetimes: is the local time inside a range of its day
    (or of the previous day's past-midnight range, unless today is a holiday)?"""
    wall = instant.astimezone(schedule.zone).replace(tzinfo=None)

    def spans(day: date) -> list[tuple[datetime, datetime]]:
        holiday = next((x for x in schedule.holidays if x.covers(day)), None)
        if holiday is not None:
            ranges: tuple[ClockRange, ...] = holiday.hours
        elif schedule.weekly is None:
            ranges = (ClockRange(0, 1440),)
        else:
            ranges = schedule.weekly[day.weekday()]
        midnight = datetime.combine(day, time())
        out = []
        for r in ranges:
            end = r.end + (1440 if r.end <= r.start else 0)
            out.append((midnight + timedelta(minutes=r.start), midnight + timedelta(minutes=end)))
        return out

    today = wall.date()
    if any(a <= wall < b for a, b in spans(today)):
        return True
    if any(x.covers(today) for x in schedule.holidays):
        return False
    return any(a <= wall < b for a, b in spans(today - timedelta(days=1)))


# `make mutation` runs these once per mutant of the hours rules (hundreds): fewer examples there.
PROPERTY_SETTINGS = settings(
    max_examples=25 if os.environ.get("HYPOTHESIS_PROFILE") == "mutation" else 120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(schedules())
def test_state_matches_the_wall_clock_oracle(case: tuple[h.Schedule, datetime]) -> None:
    schedule, instant = case
    state, _, _ = h.state_at(schedule, instant)
    assert (state is State.OPEN) == oracle_open(schedule, instant)


@PROPERTY_SETTINGS
@given(schedules())
def test_next_change_is_the_first_flip_minute_by_minute(case: tuple[h.Schedule, datetime]) -> None:
    schedule, instant = case
    horizon = timedelta(hours=40)
    found = h.next_scheduled_change(schedule, instant, instant + horizon)
    start_open = oracle_open(schedule, instant)
    minute = instant.replace(second=0, microsecond=0) + timedelta(minutes=1)
    expected = None
    while minute <= instant + horizon:
        if oracle_open(schedule, minute) != start_open:
            expected = minute
            break
        minute += timedelta(minutes=1)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found[0] == expected
        assert (found[1] is State.OPEN) == (not start_open)


@PROPERTY_SETTINGS
@given(schedules(), st.sampled_from([State.OPEN, State.CLOSED]), st.integers(1, 36 * 60))
def test_override_until_next_change(
    case: tuple[h.Schedule, datetime], state: State, later_minutes: int
) -> None:
    schedule, set_at = case
    with_override = until_next_change(schedule, state, set_at, timedelta(hours=37))
    moment = set_at + timedelta(minutes=later_minutes)
    change = h.next_scheduled_change(schedule, set_at, moment)
    effective, reason, _ = h.state_at(with_override, moment)
    if change is None:
        assert (effective, reason) == (state, Reason.OVERRIDE)
    else:
        assert reason is not Reason.OVERRIDE
        assert (effective is State.OPEN) == oracle_open(schedule, moment)


@pytest.mark.usefixtures("local_clock_far_from_utc")
def test_changes_are_in_utc_whatever_the_machine_s_zone() -> None:
    friday_evening = utc("2026-12-04T18:00:00-05:00")
    change = h.next_scheduled_change(OFFICE, friday_evening, friday_evening + timedelta(days=3))
    assert change == (utc("2026-12-05T10:00:00-05:00"), State.OPEN)
    assert change[0].tzinfo is UTC
    status = h.status(OFFICE, friday_evening)
    assert status.next_change is not None
    assert status.next_change.tzinfo is UTC
    # Across the autumn change (New York falls back on 1 November 2026).
    autumn = h.next_scheduled_change(
        OFFICE, utc("2026-10-31T15:00:00-04:00"), utc("2026-11-03T00:00:00-05:00")
    )
    assert autumn == (utc("2026-11-02T08:30:00-05:00"), State.OPEN)
    assert h.state_at(OFFICE, utc("2026-11-02T08:30:00-05:00"))[0] is State.OPEN


def test_a_calendar_day_written_back() -> None:
    assert str(h.parse_calendar_day("2026-03-07")) == "2026-03-07"
    assert str(h.parse_calendar_day("12-25")) == "12-25"
    assert str(CalendarDay(987, 1, 2)) == "0987-01-02"


def test_a_status_with_no_change_ahead() -> None:
    closed = h.Schedule(zone=UTC, weekly=weekly())  # no hours at all: closed for good
    now = utc("2026-12-01T12:00:00+00:00")
    until = now + timedelta(hours=2)
    override = Override(State.CLOSED, until=until, set_at=now)
    assert h.status(closed._replace(override=override), now) == h.LineStatus(
        State.CLOSED, Reason.OVERRIDE, None, None, None, override
    )
    christmas = Holiday(CalendarDay(None, 12, 1), CalendarDay(None, 12, 1), (), "Today")
    assert h.status(closed._replace(holidays=(christmas,)), now) == h.LineStatus(
        State.CLOSED, Reason.HOLIDAY, "Today"
    )
