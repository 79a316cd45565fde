"""A line's budget of automatic texts (pure): the daily and burst limits, the pause and its one
notice, the local day, retries, the operator's resume, Twilio's trips, the e-mail ceiling."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from switchboard.outbound.budget import (
    BURST_LIMIT,
    DAILY_LIMIT,
    EMAIL_LIMIT,
    RELAY_LIMIT,
    RELAY_MEMORY,
    Budget,
    Limits,
    charge,
    charge_email,
    charge_relays,
    local_day,
    resume,
    resumes_at,
    rolled,
    trip,
    twilio_trip_reason,
)
from switchboard.settings import load_settings

NEW_YORK = "America/New_York"
# 09:00 in New York, Tuesday 1 December 2026.
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
LIMITS = Limits(daily=5, burst=3, emails=2)


def spend(budget: Budget, count: int, *, start: datetime, step: timedelta, prefix: str = "k"):  # type: ignore[no-untyped-def]
    results = []
    for n in range(count):
        result = charge(
            budget, key=f"{prefix}{n}", now=start + n * step, time_zone=NEW_YORK, limits=LIMITS
        )
        budget = result.budget
        results.append(result)
    return budget, results


def test_the_burst_limit_trips_the_line_once_and_it_stays_paused() -> None:
    budget, results = spend(Budget(), 6, start=NOW, step=timedelta(seconds=10))
    assert [r.allowed for r in results] == [True, True, True, False, False, False]
    assert [r.tripped for r in results] == [False, False, False, True, False, False]
    assert {r.reason for r in results[3:]} == {BURST_LIMIT}
    assert (budget.sent, budget.skipped, budget.paused) == (3, 3, BURST_LIMIT)
    # Paused until the next local day, whatever the burst window does meanwhile.
    later = charge(
        budget, key="later", now=NOW + timedelta(hours=1), time_zone=NEW_YORK, limits=LIMITS
    )
    assert (later.allowed, later.reason, later.tripped) == (False, BURST_LIMIT, False)


def test_a_slow_stream_is_stopped_by_the_daily_limit() -> None:
    budget, results = spend(Budget(), 7, start=NOW, step=timedelta(minutes=11))
    assert [r.allowed for r in results] == [True] * 5 + [False, False]
    assert results[5].tripped
    assert results[5].reason == DAILY_LIMIT
    assert budget.sent == 5


def test_the_burst_window_slides() -> None:
    budget, results = spend(Budget(), 3, start=NOW, step=timedelta(minutes=1))
    assert all(r.allowed for r in results)
    assert charge(
        budget,
        key="x",
        now=NOW + timedelta(minutes=10, seconds=1),
        time_zone=NEW_YORK,
        limits=LIMITS,
    ).allowed  # the first of the three left the window


def test_a_new_local_day_resets_the_counts_and_the_pause() -> None:
    budget, _ = spend(Budget(), 6, start=NOW, step=timedelta(minutes=11))
    assert budget.paused == DAILY_LIMIT
    assert budget.day == date(2026, 12, 1)
    # 23:59 in New York is still the same day (04:59 UTC the next morning).
    same_day = NOW.replace(hour=23, minute=59) + timedelta(hours=5)
    assert local_day(same_day, NEW_YORK) == date(2026, 12, 1)
    assert not charge(budget, key="a", now=same_day, time_zone=NEW_YORK, limits=LIMITS).allowed
    assert resumes_at(budget, NEW_YORK) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    next_day = resumes_at(budget, NEW_YORK)
    assert next_day is not None
    fresh = charge(budget, key="b", now=next_day, time_zone=NEW_YORK, limits=LIMITS)
    assert fresh.allowed
    assert (fresh.budget.day, fresh.budget.sent, fresh.budget.paused) == (
        date(2026, 12, 2),
        1,
        None,
    )
    assert rolled(budget, next_day, NEW_YORK).skipped == 0


def test_a_retry_with_the_same_key_is_allowed_and_counted_once() -> None:
    first = charge(Budget(), key="SM1-auto-reply", now=NOW, time_zone=None, limits=LIMITS)
    again = charge(first.budget, key="SM1-auto-reply", now=NOW, time_zone=None, limits=LIMITS)
    assert again.allowed
    assert again.repeat
    assert again.budget.sent == 1


def test_the_operator_resumes_with_a_fresh_allowance_for_the_day() -> None:
    budget, _ = spend(Budget(), 4, start=NOW, step=timedelta(seconds=1))
    assert budget.paused == BURST_LIMIT
    resumed = resume(budget, now=NOW + timedelta(minutes=1), time_zone=NEW_YORK)
    assert (resumed.paused, resumed.sent, resumed.recent, resumed.skipped) == (None, 0, (), 1)
    assert charge(
        resumed, key="n", now=NOW + timedelta(minutes=1), time_zone=NEW_YORK, limits=LIMITS
    ).allowed


def test_twilio_fraud_and_geo_permission_errors_trip_the_line_once() -> None:
    assert twilio_trip_reason(30450) == "Twilio error 30450"
    assert twilio_trip_reason(21408) == "Twilio error 21408"
    assert twilio_trip_reason(21215) == "Twilio error 21215"
    assert twilio_trip_reason(30003) is None
    assert twilio_trip_reason(None) is None
    paused, tripped = trip(Budget(), "Twilio error 30450", now=NOW, time_zone=NEW_YORK)
    assert tripped
    assert paused.paused == "Twilio error 30450"
    again, tripped_again = trip(paused, "Twilio error 21408", now=NOW, time_zone=NEW_YORK)
    assert not tripped_again
    assert again.paused == "Twilio error 30450"
    refused = charge(paused, key="k", now=NOW, time_zone=NEW_YORK, limits=LIMITS)
    assert (refused.allowed, refused.reason) == (False, "Twilio error 30450")


def test_voicemail_emails_have_their_own_daily_ceiling_and_never_pause() -> None:
    budget = Budget()
    results = []
    for n in range(4):
        result = charge_email(budget, key=f"e{n}", now=NOW, time_zone=NEW_YORK, limits=LIMITS)
        budget = result.budget
        results.append(result)
    assert [r.allowed for r in results] == [True, True, False, False]
    assert {r.reason for r in results[2:]} == {EMAIL_LIMIT}
    assert (budget.emails, budget.emails_skipped, budget.paused) == (2, 2, None)
    retry = charge_email(budget, key="e1", now=NOW, time_zone=NEW_YORK, limits=LIMITS)
    assert retry.allowed
    assert retry.repeat
    assert charge(budget, key="t", now=NOW, time_zone=NEW_YORK, limits=LIMITS).allowed


def test_relays_have_their_own_ceiling_all_or_none() -> None:
    limits = Limits(relays=5)
    first = charge_relays(
        Budget(), key="relay-SM1", count=2, now=NOW, time_zone=NEW_YORK, limits=limits
    )
    assert first.allowed
    assert (first.budget.relays, first.budget.relay_keys) == (2, ("relay-SM1",))
    again = charge_relays(
        first.budget, key="relay-SM1", count=2, now=NOW, time_zone=NEW_YORK, limits=limits
    )
    assert again.allowed
    assert again.repeat
    assert again.budget.relays == 2
    second = charge_relays(
        first.budget, key="relay-SM2", count=3, now=NOW, time_zone=NEW_YORK, limits=limits
    )
    assert second.allowed
    assert second.budget.relays == 5
    over = charge_relays(
        second.budget, key="relay-SM3", count=1, now=NOW, time_zone=NEW_YORK, limits=limits
    )
    assert (over.allowed, over.reason) == (False, RELAY_LIMIT)
    assert (over.budget.relays, over.budget.relays_skipped) == (5, 1)
    # Relays never pause the line, nor count against its automatic texts.
    assert over.budget.paused is None
    assert over.budget.sent == 0
    tomorrow = charge_relays(
        over.budget,
        key="relay-SM4",
        count=2,
        now=NOW + timedelta(days=1),
        time_zone=NEW_YORK,
        limits=limits,
    )
    assert tomorrow.allowed
    assert (tomorrow.budget.relays, tomorrow.budget.relays_skipped) == (2, 0)


def test_the_relay_keys_are_bounded() -> None:
    budget = Budget()
    for n in range(RELAY_MEMORY + 3):
        budget = charge_relays(
            budget, key=f"k{n}", count=1, now=NOW, time_zone=NEW_YORK, limits=Limits(relays=1000)
        ).budget
    assert len(budget.relay_keys) == RELAY_MEMORY
    assert budget.relay_keys[-1] == f"k{RELAY_MEMORY + 2}"


def test_the_limits_are_the_settings() -> None:
    settings = load_settings(
        {
            "AUTOMATIC_SMS_DAILY_LIMIT": "7",
            "AUTOMATIC_SMS_BURST_LIMIT": "3",
            "VOICEMAIL_EMAIL_DAILY_LIMIT": "11",
            "SMS_RELAY_DAILY_LIMIT": "13",
        }
    )
    assert Limits.from_settings(settings) == Limits(7, 3, 11, 13)


NEW_YORK_EVENING = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 22:00 on Dec 1 in New York


def test_a_trip_and_an_email_count_on_the_lines_own_day() -> None:
    budget = Budget(day=date(2026, 12, 1), sent=5, time_zone="America/New_York")
    tripped, paused_now = trip(budget, "30450", now=NEW_YORK_EVENING, time_zone="America/New_York")
    assert paused_now
    assert (tripped.sent, tripped.paused, tripped.paused_at) == (5, "30450", NEW_YORK_EVENING)
    charged = charge_email(
        budget, key="", now=NEW_YORK_EVENING, time_zone="America/New_York", limits=Limits()
    )
    assert (charged.budget.sent, charged.budget.emails, charged.budget.email_keys) == (5, 1, ())


def test_an_email_counted_again_is_a_repeat_of_the_same_budget() -> None:
    budget = Budget(day=date(2026, 12, 1), emails=1, email_keys=("vm-1",), time_zone="UTC")
    again = charge_email(
        budget,
        key="vm-1",
        now=datetime(2026, 12, 1, 9, tzinfo=UTC),
        time_zone=None,
        limits=Limits(),
    )
    assert (again.allowed, again.repeat, again.budget) == (True, True, budget)


def test_a_text_sent_exactly_ten_minutes_ago_has_left_the_burst_window() -> None:
    budget, _ = spend(Budget(), 3, start=NOW, step=timedelta(minutes=1))
    almost = charge(
        budget,
        key="x",
        now=NOW + timedelta(minutes=9, seconds=59),
        time_zone=NEW_YORK,
        limits=LIMITS,
    )
    assert (almost.allowed, almost.reason) == (False, BURST_LIMIT)
    exactly = charge(
        budget, key="x", now=NOW + timedelta(minutes=10), time_zone=NEW_YORK, limits=LIMITS
    )
    assert exactly.allowed
    assert [key for _, key in exactly.budget.recent] == ["k1", "k2", "x"]


def test_a_trip_keeps_when_it_paused_and_only_the_texts_of_the_burst_window() -> None:
    # Five texts 11 minutes apart: the sixth passes the daily limit, when none of the five is
    # within the last ten minutes any more.
    budget, results = spend(Budget(), 6, start=NOW, step=timedelta(minutes=11))
    assert results[5].tripped
    assert budget.paused_at == NOW + 5 * timedelta(minutes=11)
    assert budget.recent == ()
    # Tripped by the burst: the three texts of the window stay.
    burst, results = spend(Budget(), 4, start=NOW, step=timedelta(seconds=1), prefix="b")
    assert results[3].tripped
    assert burst.paused_at == NOW + timedelta(seconds=3)
    assert [key for _, key in burst.recent] == ["b0", "b1", "b2"]


def test_the_burst_window_carries_over_the_lines_midnight() -> None:
    # 23:58, 23:59 and 00:00 in New York: the text at 00:01 is the fourth in ten minutes.
    before_midnight = datetime(2026, 12, 2, 4, 58, tzinfo=UTC)
    _, results = spend(Budget(), 4, start=before_midnight, step=timedelta(minutes=1))
    assert [r.allowed for r in results] == [True, True, True, False]
    # The day changed with the third: the daily count restarted, the window did not.
    assert (results[2].budget.day, results[2].budget.sent) == (date(2026, 12, 2), 1)
    assert (results[3].reason, results[3].tripped) == (BURST_LIMIT, True)


def test_a_budget_rolls_to_the_lines_zone() -> None:
    today = Budget(day=date(2026, 12, 1), sent=2, time_zone="UTC")
    # The same local day in the line's zone: the counts stay, the zone is the line's.
    assert rolled(today, NOW, NEW_YORK) == replace(today, time_zone=NEW_YORK)
    assert rolled(replace(today, time_zone=NEW_YORK), NOW, NEW_YORK) == replace(
        today, time_zone=NEW_YORK
    )
    # A new local day starts in the line's zone (with no zone given, the budget's own: UTC here).
    tomorrow = NOW + timedelta(days=1)
    assert rolled(today, tomorrow, NEW_YORK) == Budget(day=date(2026, 12, 2), time_zone=NEW_YORK)
    assert rolled(today, tomorrow, None) == Budget(day=date(2026, 12, 2), time_zone="UTC")


def test_a_caller_without_the_lines_zone_keeps_the_day_its_budget_was_kept_in() -> None:
    """A Twilio error reported with only the line's number (the timer's, a placed call's), or
    a charge from such a caller, just after midnight UTC: the New York line is still on its
    evening, and its pause holds until its own midnight. Told in UTC, the day looked new and
    the pause ended five hours early."""
    after_utc_midnight = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)  # 19:05 on 1 December in NY
    paused, tripped = trip(
        Budget(), "Twilio error 30450", now=after_utc_midnight, time_zone=NEW_YORK
    )
    assert (tripped, paused.day, paused.time_zone) == (True, date(2026, 12, 1), NEW_YORK)
    refused = charge(paused, key="a", now=after_utc_midnight, time_zone=None, limits=LIMITS)
    assert (refused.allowed, refused.reason) == (False, "Twilio error 30450")
    assert resumes_at(paused, None) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    counted = Budget(day=date(2026, 12, 1), sent=3, time_zone=NEW_YORK)
    again, tripped = trip(counted, "Twilio error 30453", now=after_utc_midnight, time_zone=None)
    assert (tripped, again.day, again.sent) == (True, date(2026, 12, 1), 3)


def test_a_line_that_is_not_paused_does_not_resume() -> None:
    assert resumes_at(Budget(day=date(2026, 12, 1), sent=3), NEW_YORK) is None
    assert resumes_at(Budget(paused=DAILY_LIMIT), NEW_YORK) is None


@pytest.mark.usefixtures("local_clock_far_from_utc")
def test_the_resume_instant_is_in_utc_whatever_the_machines_zone() -> None:
    at = resumes_at(Budget(day=date(2026, 12, 1), paused=DAILY_LIMIT), NEW_YORK)
    assert at is not None
    assert at.isoformat() == "2026-12-02T05:00:00+00:00"


def test_the_operators_resume_clears_the_pause_on_the_lines_own_day() -> None:
    # 22:00 on 1 December in New York (already 2 December in UTC).
    paused = Budget(
        day=date(2026, 12, 1),
        sent=5,
        skipped=2,
        paused=DAILY_LIMIT,
        paused_at=NOW,
        time_zone=NEW_YORK,
    )
    resumed = resume(paused, now=NEW_YORK_EVENING, time_zone=NEW_YORK)
    assert (resumed.day, resumed.paused, resumed.paused_at) == (date(2026, 12, 1), None, None)
    assert (resumed.sent, resumed.skipped) == (0, 2)


def test_relays_count_on_the_lines_own_day_and_a_relay_without_a_key_remembers_none() -> None:
    full = Budget(day=date(2026, 12, 1), relays=5, relay_keys=("relay-SM1",), time_zone=NEW_YORK)
    evening = charge_relays(
        full,
        key="relay-SM2",
        count=1,
        now=NEW_YORK_EVENING,
        time_zone=NEW_YORK,
        limits=Limits(relays=5),
    )
    assert (evening.allowed, evening.reason) == (False, RELAY_LIMIT)
    assert (evening.budget.day, evening.budget.relays_skipped) == (date(2026, 12, 1), 1)
    keyless = charge_relays(
        Budget(), key="", count=2, now=NOW, time_zone=NEW_YORK, limits=Limits(relays=5)
    )
    assert keyless.allowed
    assert (keyless.budget.relays, keyless.budget.relay_keys) == (2, ())
