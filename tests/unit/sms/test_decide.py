"""The decision of one incoming SMS from what was loaded for it, outbound policy included (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.optouts.rules import How, OptOutRecord
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.store import SenderState
from switchboard.outbound.windows import DAY, Policy, Tally, remember
from switchboard.sms.decide import Decision, Loaded, Needs, Policing, decide, needs
from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.sms.replies import ReplySettings

SENDER = "+15558675310"
BUSINESS = "+15017122661"
OWNER = "+15557770100"
PLAIN = ReplySettings(help_text="Help text")
AUTO = ReplySettings(help_text="Help text", auto_reply="Thanks", owner_number=OWNER)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICIES = {
    Purpose.AUTO_REPLY: Policy(1, timedelta(hours=12)),
    Purpose.HELP: Policy(1, timedelta(hours=12)),
    Purpose.FORWARD: Policy(2, DAY, digest=True),
}
GUARD = Policing(Destinations(frozenset({BUSINESS}), frozenset({"US"})), POLICIES, NOW)


def guarding(ours: set[str], countries: set[str] | None = None) -> Policing:
    allowed = frozenset(countries) if countries is not None else frozenset({"US"})
    return Policing(Destinations(frozenset(ours), allowed), POLICIES, NOW)


def message(body: str, sender: str = SENDER, sid: str = "SM1") -> InboundMessage:
    return InboundMessage(sid=sid, from_=sender, to=BUSINESS, body=body)


def state(**tallies: Tally) -> Loaded:
    return Loaded(
        sender=SenderState(
            SENDER, tallies={Purpose(k.replace("_", "-")): v for k, v in tallies.items()}
        )
    )


def run(body: str, loaded: Loaded | None = None, **options: object) -> Decision:
    return decide(message(body, **options), loaded or state(), AUTO, GUARD)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "settings", "expected"),
    [
        ("STOP", AUTO, Needs(keyword_marker=True)),
        ("start", AUTO, Needs(keyword_marker=True, sender_state=True)),
        ("HELP", AUTO, Needs(sender_state=True)),
        ("HELP", ReplySettings(help_text=""), Needs()),
        ("hello", AUTO, Needs(sender_state=True)),
        ("hello", PLAIN, Needs()),
    ],
)
def test_needs_reads_only_what_the_decision_uses(
    body: str, settings: ReplySettings, expected: Needs
) -> None:
    assert needs(message(body), settings) == expected
    assert expected.nothing == (expected == Needs())


@pytest.mark.parametrize("body", ["STOP", "unstop"])
def test_a_keyword_is_applied_once_and_marked(body: str) -> None:
    first = decide(message(body), Loaded(), AUTO, GUARD)
    assert first.opt_change is message(body).keyword
    assert first.mark_keyword
    assert first.reply.empty
    retried = decide(message(body), Loaded(keyword_applied=True), AUTO, GUARD)
    assert (retried.opt_change, retried.mark_keyword) == (None, False)


def test_ordinary_text_follows_the_loaded_opt_out_state() -> None:
    record = OptOutRecord(SENDER, NOW, How.KEYWORD, keyword="STOP")
    opted_out = run("hello", Loaded(sender=SenderState(SENDER, opt_out=record)))
    assert (opted_out.opt_change, opted_out.reply.to_sender) == (None, None)
    assert opted_out.reply.forward_to == OWNER
    unknown = run("hello", Loaded(sender=SenderState(SENDER, stored=False)))  # storage failed
    assert unknown.reply.to_sender == "Thanks"
    assert run("help").opt_change is None
    assert run("STOP").opt_change is KeywordKind.OPT_OUT


def test_the_first_text_gets_the_auto_reply_and_the_forward_and_both_are_counted() -> None:
    first = run("hello")
    assert (first.reply.to_sender, first.reply.forward_to) == ("Thanks", OWNER)
    assert first.tallies[Purpose.AUTO_REPLY] == Tally(since=NOW, count=1, last_sid="SM1")
    assert first.tallies[Purpose.FORWARD].count == 1


def test_within_the_window_no_second_auto_reply_then_forwards_until_the_cap_and_a_digest() -> None:
    replied = Tally(since=NOW - timedelta(hours=1), count=1, last_sid="SM0")
    second = run("again", state(auto_reply=replied, forward=Tally(since=NOW, count=1)))
    assert second.reply.to_sender is None
    assert second.reply.forward_body == f"From {SENDER}: again"
    assert Purpose.AUTO_REPLY not in second.tallies  # nothing to write for the held auto-reply
    digest = run("third", state(auto_reply=replied, forward=Tally(since=NOW, count=2)))
    assert digest.reply.forward_to == OWNER
    body = digest.reply.forward_body or ""
    assert SENDER in body
    assert "third" not in body
    assert "only logged" in body
    assert digest.tallies[Purpose.FORWARD].digest_sent
    held = run(
        "fourth", state(auto_reply=replied, forward=Tally(since=NOW, count=2, digest_sent=True))
    )
    assert held.reply.empty
    assert held.tallies[Purpose.FORWARD].held == 1


def test_after_the_window_the_first_forward_says_how_many_were_held() -> None:
    old = Tally(since=NOW - timedelta(hours=25), count=2, digest_sent=True, held=7)
    after = run("back again", state(forward=old))
    assert after.reply.forward_body is not None
    assert after.reply.forward_body.startswith(f"From {SENDER}: (+7 earlier texts not forwarded")
    assert after.reply.forward_body.endswith("back again")
    assert after.tallies[Purpose.FORWARD] == Tally(since=NOW, count=1, last_sid="SM1")


def test_a_twilio_retry_of_the_answered_message_gets_the_same_answer() -> None:
    answered = Tally(since=NOW, count=1, last_sid="SM1")
    retried = run("hello", state(auto_reply=answered, forward=answered))
    assert (retried.reply.to_sender, retried.reply.forward_to) == ("Thanks", OWNER)
    assert retried.tallies == {}


def test_one_help_answer_per_window() -> None:
    assert run("HELP").reply.to_sender == "Help text"
    answered = Tally(since=NOW - timedelta(hours=11), count=1, last_sid="SM0")
    assert run("help", state(help=answered)).reply.empty
    expired = Tally(since=NOW - timedelta(hours=13), count=1, last_sid="SM0")
    assert run("help", state(help=expired)).reply.to_sender == "Help text"


@pytest.mark.parametrize("sender", [BUSINESS, "+15017120288"])
def test_nothing_automatic_for_our_own_numbers(sender: str) -> None:
    guard = guarding({BUSINESS, "+15017120288"})
    decision = decide(message("hi", sender=sender), state(), AUTO, guard)
    assert decision.reply.empty
    assert decision.tallies == {}
    assert set(decision.words.values()) == {"skipped (the text came from one of our numbers)"}


def test_no_forward_to_an_owner_that_is_one_of_our_numbers() -> None:
    guard = guarding({BUSINESS, OWNER})
    decision = decide(message("hi"), state(), AUTO, guard)
    assert (decision.reply.to_sender, decision.reply.forward_to) == ("Thanks", None)
    assert decision.words == {
        Purpose.AUTO_REPLY: "sent",
        Purpose.FORWARD: "skipped (one of our numbers)",
    }


@pytest.mark.parametrize("body", ["Thanks", "  thanks ", "HELP TEXT"])
def test_the_lines_own_answers_coming_back_get_nothing(body: str) -> None:
    assert run(body).reply.empty


def test_a_text_we_sent_this_sender_coming_back_gets_nothing_whatever_its_words() -> None:
    echoed = f"From {OWNER}: hi"
    assert not run(echoed).reply.empty  # words alone prove nothing
    sent = SenderState(SENDER, sent=remember((), echoed))
    assert run(echoed, Loaded(sender=sent)).reply.empty


def test_the_first_auto_reply_is_recorded_for_echoes_and_charged_to_the_line() -> None:
    first = run("hello")
    assert first.sent == remember((), "Thanks")
    assert first.charges == ("SM1-auto-reply", "SM1-forward")
    assert first.words == {Purpose.AUTO_REPLY: "sent", Purpose.FORWARD: "sent"}
    refused = first.without_texts("daily limit")
    assert refused.reply.empty
    assert set(refused.words.values()) == {"skipped (daily limit)"}


def test_no_text_to_a_country_the_policy_does_not_allow() -> None:
    abroad = message("hi", sender="+998901234567")
    decision = decide(abroad, state(), AUTO, GUARD)
    assert decision.reply.to_sender is None
    assert decision.words[Purpose.AUTO_REPLY] == "skipped (country not allowed)"
    assert decision.reply.forward_to == OWNER  # the owner still hears about it
    assert Purpose.AUTO_REPLY not in decision.tallies


@pytest.mark.parametrize("sender", ["72345", "ACMEBANK", "Acme-Bank"])
def test_short_codes_and_alphanumeric_senders_are_forwarded_but_never_answered(
    sender: str,
) -> None:
    decision = decide(message("Your code is 123456", sender=sender), state(), AUTO, GUARD)
    assert decision.reply.to_sender is None
    assert decision.reply.forward_to == OWNER


# --------------------------------------------------------------------------------------------
# The relay (a line with relay people)

RELAYING = ReplySettings(
    help_text="Help text", auto_reply="Thanks", owner_number=OWNER, relay=("+15550000101",)
)
RELAY_GUARD = Policing(
    GUARD.destinations, {**POLICIES, Purpose.RELAY: Policy(2, DAY, digest=True)}, NOW
)


def relayed(body: str, loaded: Loaded | None = None, **options: object) -> Decision:
    return decide(message(body, **options), loaded or state(), RELAYING, RELAY_GUARD)  # type: ignore[arg-type]


def test_a_line_with_relay_people_relays_instead_of_forwarding() -> None:
    first = relayed("hello")
    assert (first.reply.to_sender, first.reply.forward_to) == ("Thanks", None)
    assert first.relay is not None
    assert first.relay.allowed
    assert first.words[Purpose.RELAY] == "sent"
    assert first.tallies[Purpose.RELAY] == Tally(since=NOW, count=1, last_sid="SM1")
    # The relay is not charged to the line's budget of automatic texts (its own ceiling).
    assert first.charges == ("SM1-auto-reply",)
    assert needs(
        message("hello"), ReplySettings(help_text="", relay=("+15550000101",))
    ).sender_state


def test_a_texter_nobody_answered_is_relayed_up_to_the_cap_then_one_digest() -> None:
    capped = relayed("again", state(relay=Tally(since=NOW, count=2)))
    assert capped.relay is not None
    assert capped.relay.verdict.value == "digest"
    held = relayed("more", state(relay=Tally(since=NOW, count=2, digest_sent=True)))
    assert held.relay is not None
    assert not held.relay.allowed
    assert held.words[Purpose.RELAY] == "skipped (limit of 2 per 24 h reached)"


def test_an_answered_conversation_is_relayed_in_full() -> None:
    full = Tally(since=NOW, count=2, digest_sent=True)
    answered = relayed(
        "more",
        Loaded(sender=SenderState(SENDER, tallies={Purpose.RELAY: full}), relay_answered=True),
    )
    assert answered.relay is not None
    assert answered.relay.allowed
    assert Purpose.RELAY not in answered.tallies


def test_no_relay_for_keywords_our_own_numbers_or_echoes() -> None:
    assert relayed("HELP").relay is None
    assert relayed("STOP").relay is None
    ours = relayed("hello", sender=BUSINESS)
    assert ours.relay is None
    assert ours.words[Purpose.RELAY] == "skipped (the text came from one of our numbers)"


def test_the_budget_refusing_the_automatic_texts_leaves_the_relay() -> None:
    refused = relayed("hello").without_texts("daily limit")
    assert refused.words == {Purpose.AUTO_REPLY: "skipped (daily limit)", Purpose.RELAY: "sent"}
    assert refused.relay is not None
