"""The timer's lease (issue 14, item 8): short enough to recover fast, long enough to be safe."""

from __future__ import annotations

from datetime import timedelta

from switchboard.schedules.timer import RunOptions
from switchboard.twilio.client import DEFAULT_TIMEOUT_SECONDS


def test_the_lease_margin_outlasts_a_send_started_at_its_last_moment() -> None:
    """A send starts no later than lease - margin and ends within the request timeout; the
    margin keeps another 15 s for clock skew and stalls (module doc of schedules.timer)."""
    options = RunOptions()
    assert options.lease_margin >= timedelta(seconds=DEFAULT_TIMEOUT_SECONDS + 15)


def test_the_lease_covers_claim_to_send_start_and_recovers_within_three_minutes() -> None:
    """90 s from claim to the last send start (twice the ~45 s worst wait of a claimed chunk);
    a killed run's SMS goes out at most lease + one timer period (60 s) later: ≤ 3 min."""
    options = RunOptions()
    assert options.lease - options.lease_margin >= timedelta(seconds=2 * 45)
    assert options.lease + timedelta(minutes=1) <= timedelta(minutes=3)
    assert options.budget < options.lease - options.lease_margin
