"""Sign-in codes (pure): six digits, hashed and bound, ten minutes, once, five tries, five an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.inbox import codes
from switchboard.inbox.codes import CodeState, Verdict

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
KEY = "k" * 32


def test_a_code_is_six_digits_and_its_hash_is_bound_to_user_address_and_key() -> None:
    drawn = {codes.new_code() for _ in range(200)}
    assert all(codes.is_code_shaped(c) for c in drawn)
    assert len(drawn) > 150
    hashed = codes.code_hash(KEY, "u1", "+15550001111", "123456")
    assert "123456" not in hashed
    assert hashed != codes.code_hash(KEY, "u2", "+15550001111", "123456")
    assert hashed != codes.code_hash(KEY, "u1", "a@b.example", "123456")
    assert hashed != codes.code_hash("j" * 32, "u1", "+15550001111", "123456")
    for bad in ("12345", "1234567", "12345a", "１２３４５６", " 12345"):
        assert not codes.is_code_shaped(bad)


def test_a_good_code_opens_once() -> None:
    state = codes.issue(CodeState(), "h", NOW)
    assert state.expires_at == NOW + timedelta(minutes=10)
    verdict, after = codes.check(state, "h", NOW + timedelta(minutes=9))
    assert verdict is Verdict.ACCEPTED
    assert codes.check(after, "h", NOW + timedelta(minutes=9))[0] is Verdict.NO_CODE


def test_an_expired_code_is_refused_and_forgotten() -> None:
    state = codes.issue(CodeState(), "h", NOW)
    verdict, after = codes.check(state, "h", NOW + timedelta(minutes=10))
    assert verdict is Verdict.EXPIRED
    assert after.code_hash is None


def test_five_wrong_tries_spend_the_code() -> None:
    state = codes.issue(CodeState(), "h", NOW)
    verdicts = []
    for _ in range(codes.MAX_TRIES):
        verdict, state = codes.check(state, "wrong", NOW)
        verdicts.append(verdict)
    assert verdicts == [Verdict.WRONG] * (codes.MAX_TRIES - 1) + [Verdict.TOO_MANY_TRIES]
    assert codes.check(state, "h", NOW)[0] is Verdict.NO_CODE


def test_five_codes_an_hour_per_address() -> None:
    state = CodeState()
    for minute in range(codes.MAX_CODES_PER_HOUR):
        assert codes.may_issue(state, NOW + timedelta(minutes=minute))
        state = codes.issue(state, f"h{minute}", NOW + timedelta(minutes=minute))
    assert not codes.may_issue(state, NOW + timedelta(minutes=59))
    assert codes.may_issue(state, NOW + timedelta(minutes=60))
    # a new code replaces the one before it
    assert codes.check(state, "h0", NOW + timedelta(minutes=5))[0] is Verdict.WRONG
