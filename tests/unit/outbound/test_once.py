"""At most once per key: what a send does with what it finds under its key (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.outbound.once import CLAIMED, CLOCK_SKEW, LEASE, Found, asked_since, judge, word_of

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_nothing_under_the_key_is_a_new_send() -> None:
    assert judge(None, NOW) is Found.NEW


def test_an_outcome_under_the_key_is_answered() -> None:
    assert judge({"Status": "queued", "Sid": "SM1"}, NOW) is Found.DONE
    assert judge({"Status": "skipped", "Reason": "opted out"}, NOW) is Found.DONE
    assert judge({"Status": CLAIMED, "Sid": "SM1"}, NOW) is Found.DONE


def test_a_claim_within_its_lease_is_another_senders() -> None:
    assert judge({"Status": CLAIMED, "ClaimedAt": NOW - LEASE + timedelta(seconds=1)}, NOW) is (
        Found.BUSY
    )


def test_a_claim_past_its_lease_is_in_doubt() -> None:
    assert judge({"Status": CLAIMED, "ClaimedAt": NOW - LEASE}, NOW) is Found.DOUBT
    assert judge({"Status": CLAIMED}, NOW) is Found.DOUBT


def test_twilio_is_asked_since_the_claim_less_the_skew() -> None:
    claimed = NOW - timedelta(minutes=3)
    assert asked_since({"ClaimedAt": claimed}, NOW) == claimed - CLOCK_SKEW
    assert asked_since({}, NOW) == NOW - CLOCK_SKEW


def test_the_word_of_what_was_found() -> None:
    assert word_of({"Status": "delivered", "Sid": "SM1"}) == "sent"
    assert word_of({"Status": "skipped", "Reason": "opted out"}) == "skipped (opted out)"
    assert word_of({"Status": "skipped"}) == "skipped (refused)"
    assert word_of({"Status": CLAIMED}) == "sending"
    assert word_of({"Status": "failed", "ErrorCode": 21211}) == "failed"
    assert word_of({"Status": "failed", "Sid": "SM1"}) == "sent"
