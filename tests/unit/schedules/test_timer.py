"""The timer's documented defaults, as the timer trigger runs it (no I/O: the run is captured),
and its lease: short enough to recover fast, long enough to be safe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.schedules import store as schedule_store
from switchboard.schedules import timer
from switchboard.schedules.rules import RetryPolicy
from switchboard.settings import load_settings
from switchboard.twilio import client as twilio_client
from switchboard.twilio.client import DEFAULT_TIMEOUT_SECONDS

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def options_of_a_timer_firing(monkeypatch: pytest.MonkeyPatch) -> timer.RunOptions:
    """The options `run_timer` (what the `sms_schedule_timer` trigger calls) runs with."""
    seen: list[timer.RunOptions] = []

    class Captured:
        def __init__(self, settings: Any, options: timer.RunOptions, *_: Any) -> None:
            seen.append(options)

        async def execute(self) -> timer.RunReport:
            return timer.RunReport()

    @contextlib.asynccontextmanager
    async def nothing(_: Any) -> AsyncIterator[None]:
        yield None

    settings = load_settings({"TWILIO_FROM_NUMBER": "+15017122661"})
    monkeypatch.setattr(timer, "get_settings", lambda: settings)
    monkeypatch.setattr(timer, "Run", Captured)
    monkeypatch.setattr(schedule_store, "open_tables", nothing)
    monkeypatch.setattr(twilio_client, "async_client", nothing)
    asyncio.run(timer.run_timer())
    (options,) = seen
    return options


def test_the_timer_claims_for_45_seconds_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # README (Scheduled SMS): "claims for 45 s per run (the rest waits for the next run)".
    # A zero budget would claim nothing at all.
    options = options_of_a_timer_firing(monkeypatch)
    assert options.budget == timedelta(seconds=45)


def test_the_timer_retries_from_one_minute_doubling_to_thirty_in_eight_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # README: transient failures are retried on later runs "1 min doubling to 30 min,
    # 8 attempts, then failed".
    retry = options_of_a_timer_firing(monkeypatch).retry
    unjittered = RetryPolicy(base=retry.base, cap=retry.cap, max_attempts=retry.max_attempts)
    delays = [unjittered.delay(attempt) for attempt in range(1, 8)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30)]
    waits = [retry.next_attempt(attempt, NOW, key="appt-42") for attempt in range(1, 9)]
    assert all(wait is not None for wait in waits[:7])
    assert waits[7] is None  # the eighth failed attempt is the last: `failed`
    # Jitter only shortens a wait, by at most a fifth (runs of many retries spread out).
    for attempt, wait in enumerate(waits[:7], start=1):
        assert wait is not None
        assert 0.8 * delays[attempt - 1] <= wait - NOW <= delays[attempt - 1]


def test_the_lease_margin_outlasts_a_send_started_at_its_last_moment() -> None:
    """A send starts no later than lease - margin and ends within the request timeout; the
    margin keeps another 15 s for clock skew and stalls (module doc of schedules.timer)."""
    options = timer.RunOptions()
    assert options.lease_margin >= timedelta(seconds=DEFAULT_TIMEOUT_SECONDS + 15)


def test_the_lease_covers_claim_to_send_start_and_recovers_within_three_minutes() -> None:
    """90 s from claim to the last send start (twice the ~45 s worst wait of a claimed chunk);
    a killed run's SMS goes out at most lease + one timer period (60 s) later: ≤ 3 min."""
    options = timer.RunOptions()
    assert options.lease - options.lease_margin >= timedelta(seconds=2 * 45)
    assert options.lease + timedelta(minutes=1) <= timedelta(minutes=3)
    assert options.budget < options.lease - options.lease_margin
