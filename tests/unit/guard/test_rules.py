"""The loop guard's rules (pure): purposes, windows, caps, digests, own numbers, echoes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.guard.rules import (
    AddressKind,
    Policy,
    Purpose,
    Ruling,
    Tally,
    Verdict,
    address_kind,
    bare_number,
    is_echo,
    is_reachable,
    policies,
    rule,
    rule_all,
)
from switchboard.settings import load_settings

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


# --- every ruling in full: the verdict, the reason the owner reads, the tally kept -----------

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


def test_refusals_say_why_and_keep_the_tally() -> None:
    tally = Tally(since=NOW - HOUR, count=1)
    assert ask(ONCE, tally, recipient="+15017122661") == Ruling(
        Verdict.REFUSE, "the recipient is one of our own numbers", tally
    )
    assert ask(ONCE, tally, subject="+15017120288") == Ruling(
        Verdict.REFUSE, "the text came from one of our own numbers", tally
    )
    assert ask(ONCE, tally, recipient="ACMEBANK", subject="ACMEBANK") == Ruling(
        Verdict.REFUSE, "the recipient is a alphanumeric address", tally
    )


def test_a_window_opens_counts_and_closes() -> None:
    held = Tally(since=NOW - 2 * DAY, count=3, digest_sent=True, held=4)
    assert ask(CAPPED, held, sid="SM1") == Ruling(
        Verdict.SEND,
        "first in its window",
        Tally(since=NOW, count=1, last_sid="SM1"),
        NOW + DAY,
        held_before=4,
        held_since=NOW - 2 * DAY,
    )
    quiet = Tally(since=NOW - 2 * DAY, count=1)
    assert ask(CAPPED, quiet) == Ruling(
        Verdict.SEND, "first in its window", Tally(since=NOW, count=1), NOW + DAY, 0, None
    )
    started = NOW - HOUR
    assert ask(CAPPED, Tally(since=started, count=1), sid="SM2") == Ruling(
        Verdict.SEND,
        "2 of 3 in its window",
        Tally(since=started, count=2, last_sid="SM2"),
        started + DAY,
    )
    # The window's last instant still counts; at its end a new one starts.
    assert ask(CAPPED, Tally(since=started, count=1), at=started + DAY).reason == (
        "first in its window"
    )


def test_a_retry_of_the_same_message_is_answered_as_the_first_time() -> None:
    started = NOW - HOUR
    tally = Tally(since=started, count=3, last_sid="SM7")
    assert ask(CAPPED, tally, sid="SM7") == Ruling(
        Verdict.SEND, "a retry of the message already answered", tally, started + DAY
    )
    assert ask(CAPPED, Tally(last_sid="SM7"), sid="SM7") == Ruling(
        Verdict.SEND, "a retry of the message already answered", Tally(last_sid="SM7"), None
    )


def test_over_the_limit_a_digest_then_holds() -> None:
    started = NOW - HOUR
    full = Tally(since=started, count=3)
    assert ask(CAPPED, full) == Ruling(
        Verdict.DIGEST,
        "limit of 3 reached",
        Tally(since=started, count=3, digest_sent=True, held=1),
        started + DAY,
    )
    digested = Tally(since=started, count=3, digest_sent=True, held=1)
    assert ask(CAPPED, digested) == Ruling(
        Verdict.HOLD,
        "over the limit of 3 until 2026-12-02 08:00 UTC",
        Tally(since=started, count=3, digest_sent=True, held=2),
        started + DAY,
    )
    once = Tally(since=started, count=1)
    assert ask(ONCE, once) == Ruling(
        Verdict.HOLD, "over the limit of 1 until 2026-12-01 20:00 UTC", once, started + 12 * HOUR
    )


def test_the_policies_come_from_the_settings() -> None:
    settings = load_settings({"SMS_FORWARD_DAILY_CAP": "7", "SMS_AUTO_REPLY_WINDOW": "PT3H"})
    assert policies(settings) == {
        Purpose.AUTO_REPLY: Policy(1, 3 * HOUR),
        Purpose.HELP: Policy(1, 3 * HOUR),
        Purpose.FORWARD: Policy(7, DAY, digest=True),
        Purpose.VOICEMAIL: Policy(7, DAY),
    }


def test_several_texts_of_one_subject_are_ruled_each_by_its_policy() -> None:
    tallies = {Purpose.FORWARD: Tally(since=NOW - HOUR, count=3)}
    rulings = rule_all(
        {Purpose.AUTO_REPLY: SENDER, Purpose.FORWARD: "+15550000091"},
        tallies,
        {Purpose.AUTO_REPLY: ONCE, Purpose.FORWARD: CAPPED},
        subject=SENDER,
        own_numbers=OURS,
        now=NOW,
        sid="SM9",
    )
    assert rulings == {
        Purpose.AUTO_REPLY: Ruling(
            Verdict.SEND, "first in its window", Tally(NOW, 1, last_sid="SM9"), NOW + 12 * HOUR
        ),
        Purpose.FORWARD: Ruling(
            Verdict.DIGEST,
            "limit of 3 reached",
            Tally(since=NOW - HOUR, count=3, digest_sent=True, held=1),
            NOW - HOUR + DAY,
        ),
    }
