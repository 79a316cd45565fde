"""The idempotency state machine of outbound calls (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.calls.idempotency import (
    DEFAULT_LEASE,
    FUNCTION_TIMEOUT,
    TWILIO_CLOCK_SKEW,
    FailureAction,
    IdempotencyRecord,
    State,
    Verdict,
    attempts_made,
    decide_failure,
    doubt_since,
    evaluate,
    find_placed_call,
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
        (record(State.PENDING, attempts=2, lease_until=EXPIRED), Verdict.CLAIM),
        (record(State.PENDING, attempts=1, unverified=True), Verdict.VERIFY),
        (record(State.IN_PROGRESS, lease_until=LIVE), Verdict.IN_FLIGHT),
        (record(State.IN_PROGRESS, lease_until=LIVE, unverified=True), Verdict.IN_FLIGHT),
        # Its worker stopped somewhere, maybe after Twilio created the call: ask Twilio first.
        (record(State.IN_PROGRESS, lease_until=EXPIRED), Verdict.VERIFY),
        (record(State.IN_PROGRESS, lease_until=NOW), Verdict.VERIFY),
        (record(State.IN_PROGRESS, lease_until=None), Verdict.VERIFY),
        (record(State.REJECTED, unverified=True), Verdict.CLAIM),
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


def test_an_attempt_in_doubt_is_never_repeated_without_asking_twilio() -> None:
    """An expired in-progress record or an unverified pending one never yields CLAIM."""
    for lease in (None, EXPIRED, NOW):
        for unverified in (False, True):
            stored = record(State.IN_PROGRESS, lease_until=lease, unverified=unverified)
            assert evaluate(stored, HASH, NOW) is Verdict.VERIFY
    assert evaluate(record(State.PENDING, unverified=True), HASH, NOW) is Verdict.VERIFY
    assert evaluate(record(State.PENDING, unverified=True), OTHER, NOW) is Verdict.CONFLICT


def test_attempts_made_counts_the_attempt_of_a_stopped_worker() -> None:
    assert attempts_made(record(State.IN_PROGRESS, attempts=0)) == 1
    assert attempts_made(record(State.IN_PROGRESS, attempts=2)) == 3
    assert attempts_made(record(State.PENDING, attempts=2, unverified=True)) == 2


def test_doubt_starts_at_the_claim_or_the_lease_start() -> None:
    claimed = NOW - timedelta(minutes=11)
    assert doubt_since(record(State.IN_PROGRESS, claimed_at=claimed, lease_until=NOW)) == claimed
    # Records written before ClaimedAt existed: the lease started DEFAULT_LEASE before its end.
    assert doubt_since(record(State.IN_PROGRESS, lease_until=NOW)) == NOW - DEFAULT_LEASE
    assert doubt_since(record(State.IN_PROGRESS)) is None


# --- finding the call of an attempt in doubt among Twilio's calls ---

TO = "+15558675310"
FROM = "+15017122661"
CLAIMED = NOW - timedelta(minutes=11)


@dataclass(frozen=True)
class Call:
    sid: str
    to: str | None = TO
    from_: str | None = FROM
    direction: str | None = "outbound-api"
    date_created: datetime | None = CLAIMED + timedelta(seconds=2)


def find(calls: list[Call], owners: dict[str, str] | None = None) -> Call | None:
    return find_placed_call(
        calls,
        key="k",
        to=TO,
        from_=FROM,
        since=CLAIMED,
        owner_of=(owners or {}).get,
    )


def test_the_call_created_after_the_claim_is_found() -> None:
    assert find([Call("CA1")]) == Call("CA1")
    assert find([]) is None


def test_twilio_clock_skew_is_allowed_for() -> None:
    early = CLAIMED - TWILIO_CLOCK_SKEW
    assert find([Call("CA1", date_created=early)]) is not None
    assert find([Call("CA1", date_created=early - timedelta(seconds=1))]) is None


@pytest.mark.parametrize(
    "other",
    [
        Call("CA1", to="+15558675311"),
        Call("CA1", from_="+15017122662"),
        Call("CA1", direction="outbound-dial"),  # a <Dial> leg, not a REST create
        Call("CA1", direction="inbound"),
        Call("CA1", date_created=None),
        Call("CA1", date_created=CLAIMED - timedelta(hours=1)),  # before this id was claimed
    ],
)
def test_calls_that_cannot_be_this_attempts_are_ignored(other: Call) -> None:
    assert find([other]) is None


def test_a_call_another_record_owns_is_not_taken() -> None:
    theirs, ours = Call("CA1"), Call("CA2", date_created=CLAIMED + timedelta(seconds=30))
    assert find([theirs, ours], {"CA1": "another-id"}) == ours
    assert find([theirs], {"CA1": "another-id"}) is None
    assert find([theirs], {"CA1": "k"}) == theirs  # an alias of this very id


def test_the_earliest_match_wins_and_duplicates_do_not_matter() -> None:
    first = Call("CA9", date_created=CLAIMED)
    later = Call("CA1", date_created=CLAIMED + timedelta(minutes=1))
    assert find([later, first, later, first]) == first


def test_lease_outlives_the_function_timeout() -> None:
    assert DEFAULT_LEASE > FUNCTION_TIMEOUT
    assert lease_until(NOW) == NOW + DEFAULT_LEASE
    assert lease_until(NOW, timedelta(seconds=5)) == NOW + timedelta(seconds=5)


def test_lease_live_only_in_progress() -> None:
    assert record(State.IN_PROGRESS, lease_until=LIVE).lease_live(NOW)
    assert not record(State.PENDING, lease_until=LIVE).lease_live(NOW)
    assert not record(State.IN_PROGRESS, lease_until=EXPIRED).lease_live(NOW)


@pytest.mark.parametrize(
    ("stored", "expected", "reason"),
    [
        (None, State.DEAD_LETTERED, "no record was written before the retries ran out"),
        (record(State.PENDING), State.DEAD_LETTERED, "the retries ran out"),
        (
            record(State.IN_PROGRESS, lease_until=EXPIRED),
            State.DEAD_LETTERED,
            "the worker placing it stopped; Twilio may or may not have it",
        ),
        (record(State.IN_PROGRESS, lease_until=LIVE), None, "another worker holds the lease"),
        (record(State.PENDING, sid="CA1"), State.COMPLETED, "Twilio reported the call"),
        (record(State.IN_PROGRESS, sid="CA1"), State.COMPLETED, "Twilio reported the call"),
        (record(State.COMPLETED), None, "already completed"),
        (record(State.FAILED), None, "already failed"),
        (record(State.DEAD_LETTERED), None, "already dead-lettered"),
        (record(State.REJECTED), None, "already rejected"),
        (record(None), None, "not an outbound call"),
    ],
)
def test_poison_decision(
    stored: IdempotencyRecord | None, expected: State | None, reason: str
) -> None:
    action = on_poison(stored, NOW)
    assert action.state is expected
    assert action.reason == reason


def test_parse_state() -> None:
    assert parse_state("in-progress") is State.IN_PROGRESS
    assert parse_state("dead-lettered") is State.DEAD_LETTERED
    assert parse_state(None) is None
    assert parse_state("") is None
    assert parse_state("bogus") is None


# --- what a failed attempt means ---


@pytest.mark.parametrize(
    ("transient", "count", "expected"),
    [
        (False, 1, FailureAction.FAIL),
        (False, 5, FailureAction.FAIL),
        (True, 1, FailureAction.RETRY),
        (True, 4, FailureAction.RETRY),
        (True, 5, FailureAction.EXHAUSTED),
        (True, 9, FailureAction.EXHAUSTED),
    ],
)
def test_failure_decision(transient: bool, count: int, expected: FailureAction) -> None:
    assert decide_failure(transient=transient, dequeue_count=count, max_dequeue_count=5) is expected
