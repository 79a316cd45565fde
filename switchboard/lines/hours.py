"""When a line is open: `(schedule, instant) → state + reason + the next change` (pure).

A line's hours are wall-clock hours in its IANA time zone: "open 08:30-17:30" means open while
the clock on the office wall reads 08:30 to 17:29, whatever the UTC offset is that day. That one
rule decides every daylight-saving case without special cases:

- a range that starts inside a spring-forward gap (02:30 on the night the clocks jump from 02:00
  to 03:00) opens when the clock jumps past it, at 03:00;
- a range over the repeated autumn hour is open during both passes of the wall clock through it;
- a 30-minute shift (Australia/Lord_Howe) or a zone whose rules changed (zoneinfo knows the
  history) needs nothing more.

Ranges whose end is not after their start run past midnight (`22:00-02:00` on Friday is open
from Friday 22:00 to Saturday 02:00); `24:00` ends a day. A holiday replaces the hours of its
whole local day, 00:00 to 24:00: closed, or its own ranges (the previous evening's past-midnight
range is cut at midnight). When several holidays cover a day, the first one listed wins. An
override wins over everything until it ends: at `until`. An override written without `until`
lasts until the first change of the regular schedule after it was set: that instant is worked
out once, when it is written (`override_ends`), and stored as its `until`; one that never ends
within the horizon lasts until it is cleared.

The state at an instant (`state_at`, what every call asks) costs the same whatever the
instants of the document are: a comparison with the override's end, then the hours and
holidays of one local day and the day before. The next change (`status`) is found without
stepping through time: the state can only change where the wall clock reaches a range boundary
(the instant a local time maps to, once or twice in a repeated hour) or where the UTC offset
changes (the clock jumps over a boundary). Those candidate instants are computed for a week at a
time and checked in order, never further than a horizon (400 days) ahead of the instant asked
about. `WORK` counts the steps of both (loop iterations), so tests bound the work of any
document without timing it.

The value classes are `NamedTuple`s (immutable, compared, hashed and, for `ClockRange`, ordered
by value): a frozen dataclass compiles its methods at import, five times the cost, and every
cold start defines them. Their annotations are evaluated (no `from __future__ import
annotations`): `NamedTuple` compiles a string annotation into a `ForwardRef`.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import NamedTuple

MINUTES_PER_DAY = 24 * 60
#: How far ahead `status` looks for the next change before saying "none".
DEFAULT_HORIZON = timedelta(days=400)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CHUNK_DAYS = 7
_CALENDAR_DAY = r"([0-9]{4}-)?[0-9]{2}-[0-9]{2}"  # compiled on first use (by `re`)


class Work:
    """Steps of evaluation done in this process: one per holiday or range looked at, per
    candidate instant checked, per probe of the zone's offset. Tests read `steps` before and
    after an evaluation to bound its work in iterations, never in time."""

    steps = 0


WORK = Work()

#: The schema's limits the bounds below rest on: holidays of a line, ranges of one day.
MAX_HOLIDAYS = 200
MAX_RANGES = 12
#: The most steps `state_at` takes for any valid document, whatever the instants: the
#: holidays and ranges of the local day, then of the day before.
STATE_STEPS = 2 * (MAX_HOLIDAYS + MAX_RANGES) + 2
#: The most steps `status` (or an override's end, `override_ends`) takes for any valid
#: document: for each week of the horizon (59 chunks), the boundaries of 9 days (13 each), the
#: hourly offset probes of 11 days (24 each) and their bisections (about 50), the holidays of 7
#: new days (200 each), and at most 7 × 52 candidate instants checking 24 ranges each. The
#: worst document built so far takes about 140,000.
STATUS_STEPS = (DEFAULT_HORIZON.days // _CHUNK_DAYS + 2) * (
    9 * (1 + MAX_RANGES) + 11 * 24 + 50 + 7 * MAX_HOLIDAYS + 7 * 52 * 2 * MAX_RANGES
)


class State(StrEnum):
    """Whether a line takes calls as open or as closed."""

    OPEN = "open"
    CLOSED = "closed"


class Reason(StrEnum):
    """Why a line is in its state."""

    HOURS = "hours"  # the weekly hours
    ALWAYS_OPEN = "always-open"  # the line has no hours
    HOLIDAY = "holiday"  # a holiday (closed, or open for its own hours)
    OVERRIDE = "override"  # an override set by the owner


class ClockRange(NamedTuple):
    """A daily range of wall-clock minutes; an end not after the start runs past midnight."""

    start: int  # minutes after midnight, 0..1439
    end: int  # 1..1440

    @property
    def wraps(self) -> bool:
        """Whether the range ends the next day."""
        return self.end <= self.start

    @property
    def length(self) -> int:
        """Minutes covered."""
        return self.end - self.start if not self.wraps else MINUTES_PER_DAY - self.start + self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock_range(text: str) -> ClockRange:
    """`HH:MM-HH:MM` (24:00 only as an end) into a ClockRange; ValueError with a reason."""
    try:
        start_text, end_text = text.split("-")
        start = _minutes(start_text, allow_24=False)
        end = _minutes(end_text, allow_24=True)
    except ValueError:
        raise ValueError("must be a range of 24-hour times such as 08:30-17:30") from None
    if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
        raise ValueError("start and end must differ")
    if start == 0 and end == MINUTES_PER_DAY:
        return ClockRange(0, MINUTES_PER_DAY)
    return ClockRange(start, end)


def _minutes(text: str, *, allow_24: bool) -> int:
    hours_text, minutes_text = text.split(":")
    if len(hours_text) != 2 or len(minutes_text) != 2:
        raise ValueError(text)
    hours, minutes = int(hours_text), int(minutes_text)
    if allow_24 and hours == 24 and minutes == 0:
        return MINUTES_PER_DAY
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError(text)
    return hours * 60 + minutes


#: The weekly hours: seven tuples of ranges, Monday first (`date.weekday()`).
WeeklyHours = tuple[tuple[ClockRange, ...], ...]


def day_index(name: str) -> int:
    """0 for mon ... 6 for sun."""
    return _DAY_NAMES.index(name)


def expand_days(key: str) -> list[int]:
    """The days a key of `hours` names: `mon`, `mon-fri`, `sat,sun`, `fri-mon` (wraps)."""
    days: list[int] = []
    for part in key.split(","):
        first, _, last = part.partition("-")
        start = day_index(first)
        stop = day_index(last) if last else start
        day = start
        while True:
            days.append(day)
            if day == stop:
                break
            day = (day + 1) % 7
    return days


class CalendarDay(NamedTuple):
    """A day of the calendar: once (with a year) or every year (year None)."""

    year: int | None
    month: int
    day: int

    def __str__(self) -> str:
        return (f"{self.year:04d}-" if self.year is not None else "") + (
            f"{self.month:02d}-{self.day:02d}"
        )


def parse_calendar_day(text: str) -> CalendarDay:
    """`YYYY-MM-DD` or `MM-DD`; the day must exist (02-29 only yearly or in a leap year)."""
    if not re.fullmatch(_CALENDAR_DAY, text):
        raise ValueError("must be a day that exists, YYYY-MM-DD or MM-DD")
    parts = text.split("-")
    try:
        if len(parts) == 3:
            found = date(int(parts[0]), int(parts[1]), int(parts[2]))
            return CalendarDay(found.year, found.month, found.day)
        if len(parts) == 2:
            found = date(2024, int(parts[0]), int(parts[1]))  # 2024: a leap year
            return CalendarDay(None, found.month, found.day)
    except ValueError:
        pass
    raise ValueError("must be a day that exists, YYYY-MM-DD or MM-DD")


class Holiday(NamedTuple):
    """Days that replace the weekly hours: closed, or open for `hours` only."""

    first: CalendarDay
    last: CalendarDay
    hours: tuple[ClockRange, ...] = ()
    name: str | None = None

    def covers(self, day: date) -> bool:
        """Whether the holiday applies on local `day`."""
        if self.first.year is not None and self.last.year is not None:
            first = date(self.first.year, self.first.month, self.first.day)
            last = date(self.last.year, self.last.month, self.last.day)
            return first <= day <= last
        month_day = (day.month, day.day)
        start = (self.first.month, self.first.day)
        end = (self.last.month, self.last.day)
        if start <= end:
            return start <= month_day <= end
        return month_day >= start or month_day <= end  # a range over the new year


class Override(NamedTuple):
    """Open or closed regardless of hours, until `until` or until the next scheduled change."""

    state: State
    until: datetime | None = None
    set_at: datetime | None = None
    reason: str | None = None


class Schedule(NamedTuple):
    """What decides a line's state: its zone, weekly hours (None: always open), holidays, override."""

    #: The line's zone (a ZoneInfo; the always-open default line's is plain UTC).
    zone: tzinfo
    weekly: WeeklyHours | None = None
    holidays: tuple[Holiday, ...] = ()
    override: Override | None = None


class LineStatus(NamedTuple):
    """A line's state at an instant, why, and when it next changes (None: not within the horizon)."""

    state: State
    reason: Reason
    holiday: str | None = None
    next_change: datetime | None = None
    next_state: State | None = None
    override: Override | None = None


# --------------------------------------------------------------------------------------------
# The regular schedule (hours and holidays) at a wall-clock time


def holiday_on(schedule: Schedule, day: date) -> Holiday | None:
    """The holiday that governs local `day` (the first listed that covers it), if any."""
    for holiday in schedule.holidays:
        WORK.steps += 1
        if holiday.covers(day):
            return holiday
    return None


_ALL_DAY = (ClockRange(0, MINUTES_PER_DAY),)


#: A day's ranges and the holiday that gave them, remembered during one search for the next
#: change (every candidate instant of a day asks for the same day, and a line may have 200
#: holidays to look through).
_Days = dict[date, tuple[tuple[ClockRange, ...], Holiday | None]]


def _ranges_of(
    schedule: Schedule, day: date, days: _Days | None = None
) -> tuple[tuple[ClockRange, ...], Holiday | None]:
    if days is not None and day in days:
        return days[day]
    holiday = holiday_on(schedule, day)
    found: tuple[tuple[ClockRange, ...], Holiday | None]
    if holiday is not None:
        found = holiday.hours, holiday
    elif schedule.weekly is None:
        found = _ALL_DAY, None
    else:
        found = schedule.weekly[day.weekday()], None
    if days is not None:
        days[day] = found
    return found


def _wall_open(
    schedule: Schedule, wall: datetime, days: _Days | None = None
) -> tuple[bool, Holiday | None]:
    """Whether the regular schedule is open at naive local wall time `wall`, and the holiday
    that decided it (the day's own, or the previous day's whose range runs past midnight)."""
    day = wall.date()
    minute = wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60
    ranges, holiday = _ranges_of(schedule, day, days)
    for span in ranges:
        WORK.steps += 1
        if span.wraps:
            if minute >= span.start:
                return True, holiday
        elif span.start <= minute < span.end:
            return True, holiday
    if holiday is not None:
        return False, holiday  # a holiday's day is its own: yesterday's late range stops at 0:00
    previous_ranges, previous_holiday = _ranges_of(schedule, day - timedelta(days=1), days)
    for span in previous_ranges:
        WORK.steps += 1
        if span.wraps and minute < span.end:
            return True, previous_holiday
    return False, None


def _local_wall(schedule: Schedule, instant: datetime) -> datetime:
    return instant.astimezone(schedule.zone).replace(tzinfo=None)


def scheduled_state(
    schedule: Schedule, instant: datetime, days: _Days | None = None
) -> tuple[State, Reason, str | None]:
    """The regular schedule's state at `instant` (override ignored), its reason, the holiday."""
    if schedule.weekly is None and not schedule.holidays:
        # Nothing to look up (the default line, a line without hours): open all day, every day.
        return State.OPEN, Reason.ALWAYS_OPEN, None
    is_open, holiday = _wall_open(schedule, _local_wall(schedule, instant), days)
    state = State.OPEN if is_open else State.CLOSED
    if holiday is not None:
        return state, Reason.HOLIDAY, holiday.name
    if schedule.weekly is None:
        return state, Reason.ALWAYS_OPEN, None
    return state, Reason.HOURS, None


# --------------------------------------------------------------------------------------------
# Where the state can change


def _instants_of_wall(zone: tzinfo, wall: datetime) -> set[datetime]:
    """The UTC instants at which the clock in `zone` reads `wall`: one, two in a repeated hour,
    and for a time skipped by a gap the instants its two offsets give (harmless candidates)."""
    return {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).replace(fold=0) for fold in (0, 1)}


def _offset_changes(zone: tzinfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """The instants in [start, end] (UTC) where the zone's UTC offset changes, to the second."""
    step = 3600
    lo = int(start.timestamp())
    stop = int(end.timestamp())
    lo_offset = datetime.fromtimestamp(lo, UTC).astimezone(zone).utcoffset()
    while lo < stop:
        WORK.steps += 1
        hi = min(lo + step, stop)
        hi_offset = datetime.fromtimestamp(hi, UTC).astimezone(zone).utcoffset()
        if hi_offset != lo_offset:
            a, b = lo, hi  # offset at a differs from offset at b: the change is in (a, b]
            while b - a > 1:
                WORK.steps += 1
                mid = (a + b) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == lo_offset:
                    a = mid
                else:
                    b = mid
            yield datetime.fromtimestamp(b, UTC)
        lo, lo_offset = hi, hi_offset


def _candidates(schedule: Schedule, first_day: date, last_day: date, days: _Days) -> set[datetime]:
    """Instants where the regular state may change, for local days first_day..last_day."""
    zone = schedule.zone
    found: set[datetime] = set()
    day = first_day
    while day <= last_day:
        WORK.steps += 1
        midnight = datetime.combine(day, time())
        found |= _instants_of_wall(zone, midnight)  # holidays and days start at midnight
        ranges, _ = _ranges_of(schedule, day, days)
        for span in ranges:
            WORK.steps += 1
            found |= _instants_of_wall(zone, midnight + timedelta(minutes=span.start))
            end_minute = span.end + (MINUTES_PER_DAY if span.wraps else 0)
            found |= _instants_of_wall(zone, midnight + timedelta(minutes=end_minute))
        day += timedelta(days=1)
    start = datetime.combine(first_day, time()).replace(tzinfo=UTC) - timedelta(days=1)
    end = datetime.combine(last_day, time()).replace(tzinfo=UTC) + timedelta(days=2)
    found.update(_offset_changes(zone, start, end))
    return found


def next_scheduled_change(
    schedule: Schedule, after: datetime, limit: datetime
) -> tuple[datetime, State] | None:
    """The first instant in (after, limit] where the regular state differs from its state at
    `after`, and the state from then on; None when it does not change by `limit`."""
    days: _Days = {}
    current, _, _ = scheduled_state(schedule, after, days)
    chunk_start = after
    while chunk_start < limit:
        first_day = _local_wall(schedule, chunk_start).date()
        last_day = first_day + timedelta(days=_CHUNK_DAYS - 1)
        chunk_end = min(
            limit,
            datetime.combine(last_day + timedelta(days=1), time())
            .replace(tzinfo=schedule.zone)
            .astimezone(UTC),
        )
        if chunk_end <= chunk_start:  # a zone whose day does not advance (never, but be safe)
            chunk_end = min(limit, chunk_start + timedelta(days=_CHUNK_DAYS))
        # The day before can hold a range that ends in this chunk; the day after, a boundary
        # at local midnight that falls inside it in UTC.
        candidates = _candidates(
            schedule, first_day - timedelta(days=1), last_day + timedelta(days=1), days
        )
        for instant in sorted(c for c in candidates if chunk_start < c <= chunk_end):
            WORK.steps += 1
            state, _, _ = scheduled_state(schedule, instant, days)
            if state != current:
                return instant, state
        chunk_start = chunk_end
    return None


# --------------------------------------------------------------------------------------------
# With the override


def override_ends(schedule: Schedule, set_at: datetime) -> datetime | None:
    """When an override set at `set_at` without `until` ends: the first change of the regular
    schedule after it, within the horizon (None: not within it, so it lasts until cleared).
    Worked out once when the override is written (or when a document stored before `until` was
    filled in is read), never at each call."""
    change = next_scheduled_change(schedule, set_at, set_at + DEFAULT_HORIZON)
    return change[0] if change is not None else None


def override_active(override: Override, now: datetime) -> bool:
    """Whether `override` is in force at `now`: before its `until`; without one (it lasts until
    cleared), from `set_at` on."""
    if override.until is not None:
        return now < override.until
    return override.set_at is None or override.set_at <= now


def state_at(schedule: Schedule, now: datetime) -> tuple[State, Reason, str | None]:
    """The line's state at `now` (override first), its reason and holiday name: what a call
    needs, without looking for the next change (the same small work whatever the instants)."""
    override = schedule.override
    if override is not None and override_active(override, now):
        return override.state, Reason.OVERRIDE, None
    return scheduled_state(schedule, now)


def status(schedule: Schedule, now: datetime, horizon: timedelta = DEFAULT_HORIZON) -> LineStatus:
    """The state at `now`, why, and the next instant the state really changes."""
    limit = now + horizon
    if schedule.override is not None and override_active(schedule.override, now):
        state = schedule.override.state
        ends = schedule.override.until
        if ends is None:
            return LineStatus(state, Reason.OVERRIDE, override=schedule.override)
        after, _, _ = scheduled_state(schedule, ends)
        if after != state:
            return LineStatus(state, Reason.OVERRIDE, None, ends, after, schedule.override)
        change = next_scheduled_change(schedule, ends, limit)
        return LineStatus(
            state,
            Reason.OVERRIDE,
            None,
            change[0] if change else None,
            change[1] if change else None,
            schedule.override,
        )
    state, reason, holiday = scheduled_state(schedule, now)
    change = next_scheduled_change(schedule, now, limit)
    if change is None:
        return LineStatus(state, reason, holiday)
    return LineStatus(state, reason, holiday, change[0], change[1])
