"""The idempotency state machine of outbound calls (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.idempotency import (
    DEFAULT_LEASE,
    FUNCTION_TIMEOUT,
    IdempotencyRecord,
    State,
    Verdict,
    evaluate,
    lease_until,
    on_poison,
    parse_state,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HASH = "a" * 64
OTHER = "b" * 64


def record(state: State | None, **changes: object) -> IdempotencyRecord:
    values: dict[str, object] = {"key": "k", "state": state, "payload_hash": HASH}
    values.update(changes)
    return IdempotencyRecord(**values)  # type: ignore[arg-type]


LIVE = NOW + timedelta(minutes=1)
EXPIRED = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (record(State.COMPLETED, sid="CA1"), Verdict.DONE),
        (record(State.FAILED), Verdict.DONE),
        (record(State.DEAD_LETTERED), Verdict.DONE),
        (record(State.PENDING), Verdict.CLAIM),
        (record(State.IN_PROGRESS, lease_until=LIVE), Verdict.IN_FLIGHT),
        (record(State.IN_PROGRESS, lease_until=EXPIRED), Verdict.CLAIM),
        (record(State.IN_PROGRESS, lease_until=NOW), Verdict.CLAIM),
        (record(State.IN_PROGRESS, lease_until=None), Verdict.CLAIM),
        (record(State.REJECTED, payload_hash=None), Verdict.CLAIM),
        (record(State.REJECTED, payload_hash=OTHER), Verdict.CLAIM),
        (record(State.PENDING, sid="CA1"), Verdict.ALREADY_PLACED),
        (record(State.IN_PROGRESS, lease_until=EXPIRED, sid="CA1"), Verdict.ALREADY_PLACED),
        (record(State.IN_PROGRESS, lease_until=LIVE, sid="CA1"), Verdict.ALREADY_PLACED),
        (record(None), Verdict.CONFLICT),
    ],
)
def test_verdict_for_the_same_payload(stored: IdempotencyRecord, expected: Verdict) -> None:
    assert evaluate(stored, HASH, NOW) is expected


@pytest.mark.parametrize(
    "state", [State.PENDING, State.IN_PROGRESS, State.COMPLETED, State.FAILED, State.DEAD_LETTERED]
)
def test_a_different_payload_is_a_conflict_in_every_state_but_rejected(state: State) -> None:
    assert evaluate(record(state, lease_until=EXPIRED), OTHER, NOW) is Verdict.CONFLICT


def test_no_state_lets_a_second_call_through_once_a_call_exists() -> None:
    """Whatever the state, a record that knows a CallSid never yields CLAIM."""
    for state in State:
        for lease in (None, EXPIRED, LIVE):
            stored = record(state, sid="CA1", lease_until=lease)
            assert evaluate(stored, HASH, NOW) is not Verdict.CLAIM or state is State.REJECTED


def test_lease_outlives_the_function_timeout() -> None:
    assert DEFAULT_LEASE > FUNCTION_TIMEOUT
    assert lease_until(NOW) == NOW + DEFAULT_LEASE
    assert lease_until(NOW, timedelta(seconds=5)) == NOW + timedelta(seconds=5)


def test_lease_live_only_in_progress() -> None:
    assert record(State.IN_PROGRESS, lease_until=LIVE).lease_live(NOW)
    assert not record(State.PENDING, lease_until=LIVE).lease_live(NOW)
    assert not record(State.IN_PROGRESS, lease_until=EXPIRED).lease_live(NOW)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, State.DEAD_LETTERED),
        (record(State.PENDING), State.DEAD_LETTERED),
        (record(State.IN_PROGRESS, lease_until=EXPIRED), State.DEAD_LETTERED),
        (record(State.IN_PROGRESS, lease_until=LIVE), None),
        (record(State.PENDING, sid="CA1"), State.COMPLETED),
        (record(State.COMPLETED), None),
        (record(State.FAILED), None),
        (record(State.DEAD_LETTERED), None),
        (record(State.REJECTED), None),
        (record(None), None),
    ],
)
def test_poison_decision(stored: IdempotencyRecord | None, expected: State | None) -> None:
    action = on_poison(stored, NOW)
    assert action.state is expected
    assert action.reason


def test_parse_state() -> None:
    assert parse_state("in-progress") is State.IN_PROGRESS
    assert parse_state("dead-lettered") is State.DEAD_LETTERED
    assert parse_state(None) is None
    assert parse_state("") is None
    assert parse_state("bogus") is None
