"""Per-subject windows (pure): one per window, caps and their digest, retries, echoes by record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.outbound.purposes import Purpose
from switchboard.outbound.windows import (
    ECHO_MEMORY,
    Policy,
    Ruling,
    Tally,
    Verdict,
    digest_of,
    is_echo,
    policies,
    remember,
    rule,
    rule_all,
    window_words,
)
from switchboard.settings import load_settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ONCE = Policy(1, timedelta(hours=12))
CAPPED = Policy(3, timedelta(hours=24), digest=True)


def test_one_per_window_then_held_without_a_write_then_a_new_window() -> None:
    first = rule(ONCE, Tally(), now=NOW, sid="SM1")
    assert first.verdict is Verdict.SEND
    assert first.tally == Tally(since=NOW, count=1, last_sid="SM1")
    assert first.window_ends == NOW + timedelta(hours=12)
    held = rule(ONCE, first.tally, now=NOW + timedelta(hours=11), sid="SM2")
    assert held.verdict is Verdict.HOLD
    assert held.reason == "texted within 12 h"
    assert held.tally == first.tally  # nothing to write
    again = rule(ONCE, first.tally, now=NOW + timedelta(hours=12), sid="SM3")
    assert again.verdict is Verdict.SEND
    assert again.tally.since == NOW + timedelta(hours=12)


def test_a_retry_of_the_allowed_cause_is_allowed_again_without_counting() -> None:
    first = rule(ONCE, Tally(), now=NOW, sid="SM1")
    assert not first.repeat
    retried = rule(ONCE, first.tally, now=NOW + timedelta(seconds=5), sid="SM1")
    assert retried.verdict is Verdict.SEND
    assert retried.repeat
    assert retried.tally == first.tally


def test_a_capped_policy_sends_its_limit_then_one_digest_then_holds_and_counts() -> None:
    tally = Tally()
    verdicts = []
    for n in range(6):
        ruling = rule(CAPPED, tally, now=NOW + timedelta(minutes=n), sid=f"SM{n}")
        verdicts.append(ruling.verdict)
        tally = ruling.tally
    assert verdicts == [Verdict.SEND] * 3 + [Verdict.DIGEST, Verdict.HOLD, Verdict.HOLD]
    assert (tally.count, tally.digest_sent, tally.held) == (3, True, 3)
    fresh = rule(CAPPED, tally, now=NOW + timedelta(hours=24))
    assert fresh.verdict is Verdict.SEND
    assert (fresh.held_before, fresh.held_since) == (3, NOW)
    assert fresh.tally == Tally(since=NOW + timedelta(hours=24), count=1)


@pytest.mark.parametrize(
    ("window", "words"),
    [(timedelta(hours=24), "texted within 24 h"), (timedelta(minutes=90), "texted within 90 min")],
)
def test_the_reason_of_a_held_text_names_its_window(window: timedelta, words: str) -> None:
    assert window_words(Policy(1, window)) == words


@pytest.mark.parametrize(
    ("body", "echo"),
    [
        ("Thanks, we will text you back soon.", True),
        ("  THANKS,   we will text you back soon. ", True),
        ("Thanks, see you soon", False),
        # The shape of our forwards is no echo by itself: only what was sent is.
        ("From +15558675310: hello", False),
        ("", False),
    ],
)
def test_the_lines_own_answers_are_recognised(body: str, echo: bool) -> None:
    assert is_echo(body, own_texts=["Thanks, we will text you back soon.", None]) is echo


def test_a_text_we_sent_this_subject_is_recognised_by_its_recorded_digest() -> None:
    forwarded = "From +15558675310: the meeting moved to 3 pm"
    sent = remember((), forwarded)
    assert is_echo(forwarded, sent)
    assert is_echo("  from +15558675310:  THE meeting moved to 3 pm", sent)
    assert not is_echo("From +15558675310: the meeting moved to 4 pm", sent)
    assert digest_of(forwarded) in sent


def test_the_recorded_digests_keep_the_newest_few() -> None:
    sent: tuple[str, ...] = ()
    for n in range(ECHO_MEMORY + 3):
        sent = remember(sent, f"text {n}")
    assert len(sent) == ECHO_MEMORY
    assert is_echo(f"text {ECHO_MEMORY + 2}", sent)
    assert not is_echo("text 0", sent)
    assert remember(sent, "text 5").count(digest_of("text 5")) == 1


# --- every ruling in full: the verdict, the reason the owner reads, the tally kept -----------

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


def test_a_window_opens_counts_and_closes() -> None:
    held = Tally(since=NOW - 2 * DAY, count=3, digest_sent=True, held=4)
    assert rule(CAPPED, held, now=NOW, sid="SM1") == Ruling(
        Verdict.SEND,
        "first in its window",
        Tally(since=NOW, count=1, last_sid="SM1"),
        NOW + DAY,
        held_before=4,
        held_since=NOW - 2 * DAY,
    )
    quiet = Tally(since=NOW - 2 * DAY, count=1)
    assert rule(CAPPED, quiet, now=NOW) == Ruling(
        Verdict.SEND, "first in its window", Tally(since=NOW, count=1), NOW + DAY, 0, None
    )
    started = NOW - HOUR
    assert rule(CAPPED, Tally(since=started, count=1), now=NOW, sid="SM2") == Ruling(
        Verdict.SEND,
        "2 of 3 in its window",
        Tally(since=started, count=2, last_sid="SM2"),
        started + DAY,
    )
    # At the window's end a new one starts.
    at_end = rule(CAPPED, Tally(since=started, count=1), now=started + DAY)
    assert at_end.reason == "first in its window"


def test_a_retry_of_the_same_cause_is_answered_as_the_first_time() -> None:
    started = NOW - HOUR
    tally = Tally(since=started, count=3, last_sid="SM7")
    assert rule(CAPPED, tally, now=NOW, sid="SM7") == Ruling(
        Verdict.SEND, "a retry of the cause already answered", tally, started + DAY, repeat=True
    )
    # A SID remembered without a window is no retry: a new window opens.
    assert rule(CAPPED, Tally(last_sid="SM7"), now=NOW, sid="SM7").reason == "first in its window"


def test_over_the_limit_a_digest_then_holds() -> None:
    started = NOW - HOUR
    full = Tally(since=started, count=3)
    assert rule(CAPPED, full, now=NOW) == Ruling(
        Verdict.DIGEST,
        "limit of 3 reached",
        Tally(since=started, count=3, digest_sent=True, held=1),
        started + DAY,
    )
    digested = Tally(since=started, count=3, digest_sent=True, held=1)
    assert rule(CAPPED, digested, now=NOW) == Ruling(
        Verdict.HOLD,
        "limit of 3 per 24 h reached",
        Tally(since=started, count=3, digest_sent=True, held=2),
        started + DAY,
    )
    once = Tally(since=started, count=1)
    assert rule(ONCE, once, now=NOW) == Ruling(
        Verdict.HOLD, "texted within 12 h", once, started + 12 * HOUR
    )


def test_the_policies_come_from_the_settings() -> None:
    settings = load_settings({"SMS_FORWARD_DAILY_CAP": "7", "SMS_AUTO_REPLY_WINDOW": "PT3H"})
    assert policies(settings) == {
        Purpose.AUTO_REPLY: Policy(1, 3 * HOUR),
        Purpose.HELP: Policy(1, 3 * HOUR),
        Purpose.FORWARD: Policy(7, DAY, digest=True),
        Purpose.VOICEMAIL: Policy(7, DAY),
        Purpose.TEXT_BACK: Policy(1, DAY),
        Purpose.RELAY: Policy(7, DAY, digest=True),
        Purpose.RELAY_ANSWER: Policy(20, HOUR),
        Purpose.REMINDER_ANSWER: Policy(5, DAY),
        Purpose.REMINDER_NOTICE: Policy(5, DAY),
    }


def test_several_texts_of_one_subject_are_ruled_each_by_its_policy() -> None:
    tallies = {Purpose.FORWARD: Tally(since=NOW - HOUR, count=3)}
    rulings = rule_all(
        {Purpose.AUTO_REPLY: "SM9", Purpose.FORWARD: "SM9", Purpose.RELAY: "SM9"},
        tallies,
        {Purpose.AUTO_REPLY: ONCE, Purpose.FORWARD: CAPPED},
        now=NOW,
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
        # A purpose without a policy of its own: once a day per subject.
        Purpose.RELAY: Ruling(
            Verdict.SEND, "first in its window", Tally(NOW, 1, last_sid="SM9"), NOW + DAY
        ),
    }


def test_a_window_of_whole_hours_is_said_in_hours_from_one_hour() -> None:
    assert window_words(Policy(1, timedelta(hours=1))) == "texted within 1 h"
    assert window_words(Policy(1, timedelta(hours=2))) == "texted within 2 h"
    assert window_words(Policy(1, timedelta(minutes=59))) == "texted within 59 min"
