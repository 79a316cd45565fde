"""Timer triggers for `python -m devkit host`: NCRONTAB schedules, past_due, run_on_startup.

Schedules are six-field NCRONTAB (`{second} {minute} {hour} {day} {month} {day-of-week}`; five
fields mean second 0, as the host accepts) or a TimeSpan interval (`00:05:00`), in UTC unless
`WEBSITE_TIME_ZONE` names another zone. A timer never runs concurrently with itself (the host's
singleton lock). An occurrence missed because the previous run was still going fires once, late,
with `past_due=True` (as the host's schedule monitor reports it); further misses are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest
from croniter import croniter

from devkit.host_config import HostConfigError, parse_timespan
from devkit.host_functions import FunctionSpec, HostStartupError
from devkit.host_invoke import DevRetryContext, Invoker, constant

logger = logging.getLogger("devkit.host")
# Later than this after its occurrence, a firing is past due.
PAST_DUE_TOLERANCE = timedelta(seconds=1)
_NEVER = "0001-01-01T00:00:00"


class Schedule(Protocol):
    """When a timer fires."""

    @property
    def description(self) -> str:
        """How the listing shows the schedule."""
        ...

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (aware datetimes)."""
        ...


@dataclass
class CronSchedule:
    """An NCRONTAB expression in a time zone."""

    expression: str
    zone: tzinfo = UTC

    def __post_init__(self) -> None:
        fields = self.expression.split()
        if len(fields) == 5:
            fields.insert(0, "0")
        if len(fields) != 6 or not croniter.is_valid(" ".join(fields), second_at_beginning=True):
            raise ValueError(
                f"{self.expression!r} is not an NCRONTAB expression "
                "'{second} {minute} {hour} {day} {month} {day-of-week}'"
            )
        self._normalized = " ".join(fields)

    @property
    def description(self) -> str:
        """How `func start` shows the schedule."""
        return f"Cron: '{self.expression}'"

    def next_after(self, moment: datetime) -> datetime:
        """Next occurrence after `moment`, in UTC."""
        start = moment.astimezone(self.zone)
        found: datetime = croniter(self._normalized, start, second_at_beginning=True).get_next(
            datetime
        )
        return found.astimezone(UTC)


@dataclass
class IntervalSchedule:
    """A TimeSpan schedule: every `seconds` from the previous occurrence."""

    seconds: float

    @property
    def description(self) -> str:
        """How `func start` shows the schedule."""
        return f"Interval: {self.seconds:g}s"

    def next_after(self, moment: datetime) -> datetime:
        """`moment` plus the interval."""
        return moment + timedelta(seconds=self.seconds)


def parse_schedule(expression: str, zone: tzinfo) -> Schedule:
    """An NCRONTAB expression or a TimeSpan; ValueError names the expression."""
    text = expression.strip()
    if ":" in text and " " not in text:
        seconds = parse_timespan(text)
        if seconds <= 0:
            raise ValueError(f"{expression!r}: the interval must be positive")
        return IntervalSchedule(seconds)
    return CronSchedule(text, zone)


def timer_zone(environ: Mapping[str, str]) -> tzinfo:
    """UTC, or the IANA zone in WEBSITE_TIME_ZONE."""
    name = environ.get("WEBSITE_TIME_ZONE", "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HostConfigError(
            "setting 'WEBSITE_TIME_ZONE' must be an IANA time zone name such as 'Europe/Paris'"
        ) from None


def plan_next(
    schedule: Schedule, fired_for: datetime, now: datetime, was_catch_up: bool
) -> tuple[datetime, bool]:
    """After the run for occurrence `fired_for` ends at `now`: the next occurrence to wait for.

    Returns (occurrence, is_catch_up). The first occurrence missed during the run is returned
    (it fires at once, past due); a catch-up run never causes another catch-up.
    """
    following = schedule.next_after(fired_for)
    if following <= now and not was_catch_up:
        return following, True
    return schedule.next_after(max(now, fired_for)), False


def now_utc() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


async def sleep_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when `stopping` was set meanwhile."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


class TimerRunner:
    """Runs one timer function on its schedule until the host stops."""

    def __init__(
        self,
        spec: FunctionSpec,
        schedule: Schedule,
        invoker: Invoker,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        """`clock` is injectable for tests."""
        self.spec = spec
        self.schedule = schedule
        self.invoker = invoker
        self.clock = clock
        self.last: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """The loop: run on startup if asked, then each occurrence (one run at a time)."""
        scheduled = self.schedule.next_after(self.clock())
        if self.spec.run_on_startup and not stopping.is_set():
            await self._fire(stopping, scheduled, past_due=False)
        catch_up = False
        while not stopping.is_set():
            while (remaining := (scheduled - self.clock()).total_seconds()) > 0:
                # Re-check the wall clock at least every minute (sleeps drift, clocks move).
                if await sleep_or_stop(stopping, min(remaining, 60.0)):
                    return
            late = self.clock() - scheduled
            await self._fire(
                stopping, self.schedule.next_after(scheduled), late > PAST_DUE_TOLERANCE
            )
            scheduled, catch_up = plan_next(self.schedule, scheduled, self.clock(), catch_up)

    async def _fire(
        self, stopping: asyncio.Event, next_occurrence: datetime, past_due: bool
    ) -> None:
        """One firing, with the function's retry policy (timer triggers honour it)."""
        policy = self.spec.retry
        attempt, error = 0, None
        fired = self.clock()
        while True:
            request = TimerRequest(
                past_due=past_due,
                schedule_status={
                    "Last": self.last.isoformat() if self.last else _NEVER,
                    "Next": next_occurrence.isoformat(),
                    "LastUpdated": fired.isoformat(),
                },
                schedule={"AdjustForDST": True},
            )
            retry = DevRetryContext(attempt, policy.max_retry_count if policy else 0, error)
            result = await self.invoker.invoke(
                self.spec,
                constant(request),
                reason=f"Timer fired at {fired.isoformat()}",
                retry_context=retry,
            )
            if result.succeeded or policy is None or stopping.is_set():
                break
            if policy.max_retry_count != -1 and attempt >= policy.max_retry_count:
                break
            attempt, error = attempt + 1, result.error
            logger.info(
                f"Functions.{self.spec.name}: retry {attempt} of "
                f"{policy.max_retry_count} ({policy.strategy})"
            )
            if await sleep_or_stop(stopping, policy.delay_before(attempt)):
                break
        self.last = fired


def build_schedule(spec: FunctionSpec, zone: tzinfo) -> Schedule:
    """The schedule of a timer function; errors name the function."""
    assert spec.schedule is not None
    try:
        return parse_schedule(spec.schedule, zone)
    except ValueError as exc:
        raise HostStartupError(f"function '{spec.name}': invalid schedule: {exc}") from None
