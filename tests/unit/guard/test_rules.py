"""The loop guard's rules (pure): purposes, windows, caps, digests, own numbers, echoes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.guard.rules import (
    AddressKind,
    Policy,
    Tally,
    Verdict,
    address_kind,
    bare_number,
    is_echo,
    is_reachable,
    rule,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OURS = frozenset({"+15017122661", "+15017120288"})
SENDER = "+15558675310"
ONCE = Policy(1, timedelta(hours=12))
CAPPED = Policy(3, timedelta(hours=24), digest=True)


def ask(
    policy: Policy,
    tally: Tally,
    *,
    recipient: str = SENDER,
    subject: str = SENDER,
    at=NOW,
    sid=None,
):  # type: ignore[no-untyped-def]
    return rule(
        policy, tally, subject=subject, recipient=recipient, own_numbers=OURS, now=at, sid=sid
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("+15558675310", AddressKind.NUMBER),
        ("72345", AddressKind.SHORT_CODE),
        ("898", AddressKind.SHORT_CODE),
        ("ACMEBANK", AddressKind.ALPHANUMERIC),
        ("Acme-Bank", AddressKind.ALPHANUMERIC),
        ("Acme Bank&Co", AddressKind.OTHER),  # 12 characters: longer than a sender ID
        ("whatsapp:+15558675310", AddressKind.CHANNEL),
        ("messenger:123456789", AddressKind.CHANNEL),
        ("5558675310", AddressKind.OTHER),
        ("", AddressKind.OTHER),
    ],
)
def test_addresses_are_told_apart(address: str, kind: AddressKind) -> None:
    assert address_kind(address) is kind


def test_only_numbers_and_channels_wrapping_one_can_be_texted() -> None:
    assert is_reachable("+15558675310")
    assert is_reachable("whatsapp:+15558675310")
    assert bare_number("whatsapp:+15558675310") == "+15558675310"
    for address in ("72345", "ACMEBANK", "messenger:123456789", "whatsapp:abc"):
        assert not is_reachable(address)


def test_one_per_window_then_held_without_a_write_then_a_new_window() -> None:
    first = ask(ONCE, Tally(), sid="SM1")
    assert first.verdict is Verdict.SEND
    assert first.tally == Tally(since=NOW, count=1, last_sid="SM1")
    assert first.window_ends == NOW + timedelta(hours=12)
    held = ask(ONCE, first.tally, at=NOW + timedelta(hours=11), sid="SM2")
    assert held.verdict is Verdict.HOLD
    assert held.tally == first.tally  # nothing to write
    again = ask(ONCE, first.tally, at=NOW + timedelta(hours=12), sid="SM3")
    assert again.verdict is Verdict.SEND
    assert again.tally.since == NOW + timedelta(hours=12)


def test_a_retry_of_the_allowed_message_is_allowed_again_without_counting() -> None:
    first = ask(ONCE, Tally(), sid="SM1")
    retried = ask(ONCE, first.tally, at=NOW + timedelta(seconds=5), sid="SM1")
    assert retried.verdict is Verdict.SEND
    assert retried.tally == first.tally


def test_a_capped_policy_sends_its_limit_then_one_digest_then_holds_and_counts() -> None:
    tally = Tally()
    verdicts = []
    for n in range(6):
        ruling = ask(CAPPED, tally, at=NOW + timedelta(minutes=n), sid=f"SM{n}")
        verdicts.append(ruling.verdict)
        tally = ruling.tally
    assert verdicts == [Verdict.SEND] * 3 + [Verdict.DIGEST, Verdict.HOLD, Verdict.HOLD]
    assert (tally.count, tally.digest_sent, tally.held) == (3, True, 3)
    fresh = ask(CAPPED, tally, at=NOW + timedelta(hours=24))
    assert fresh.verdict is Verdict.SEND
    assert (fresh.held_before, fresh.held_since) == (3, NOW)
    assert fresh.tally == Tally(since=NOW + timedelta(hours=24), count=1)


@pytest.mark.parametrize(
    ("recipient", "subject"),
    [("+15017122661", SENDER), (SENDER, "+15017120288"), ("72345", "72345"), ("ACME", "ACME")],
    ids=["to-our-number", "from-our-number", "short-code", "alphanumeric"],
)
def test_never_to_or_from_our_numbers_nor_to_unreachable_senders(
    recipient: str, subject: str
) -> None:
    ruling = ask(CAPPED, Tally(), recipient=recipient, subject=subject)
    assert ruling.verdict is Verdict.REFUSE
    assert ruling.tally == Tally()


@pytest.mark.parametrize(
    ("body", "echo"),
    [
        ("Thanks, we will text you back soon.", True),
        ("  THANKS,   we will text you back soon. ", True),
        ("From +15558675310: hello", True),
        ("Thanks, see you soon", False),
        ("From me: hello", False),
        ("", False),
    ],
)
def test_our_own_texts_are_recognised(body: str, echo: bool) -> None:
    assert is_echo(body, ["Thanks, we will text you back soon.", None]) is echo
