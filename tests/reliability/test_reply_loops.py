"""Reply loops: nothing an outsider texts may make the app text at will.

What a phone system's users expect, checked through the local host with signed webhooks:

- at most one auto-reply (`SMS_AUTO_REPLY`) and one HELP answer per sender per window
  (`SMS_AUTO_REPLY_WINDOW`, default 12 h), kept in Table Storage, so two instances of the app
  answer a sender once between them;
- at most `SMS_FORWARD_DAILY_CAP` (default 10) texts of one sender forwarded to `OWNER_NUMBER`
  per day, then one digest line telling the owner that further texts from that sender are only
  logged (the owner is told, not left in silence);
- no auto-reply and no forward when the sender is the number texted, one of the account's own
  numbers, a short code or an alphanumeric sender ID; no forward to one of our own numbers;
- no reply to a text whose body is the app's own auto-reply (another bot echoing us);
- so two of our numbers auto-replying to each other, or an owner number that is one of ours,
  start no chain.

The account's numbers come from the Twilio stand-in's IncomingPhoneNumbers (`BUSINESS` and
`SECOND`), as they would from Twilio. Chains are played as Twilio would deliver them
(`app_clients.play_chain`): a message the app sends to one of our numbers comes back as a webhook.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import Answer, play_chain, text
from tests.reliability.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    BUSINESS,
    OWNER,
    HostFactory,
    app_env,
    sized,
)

#: A second number of the same Twilio account, served by the same app.
SECOND = "+15017120288"
AUTO_REPLY = "Thanks, we will text you back soon."
HELP_TEXT = "Reply STOP to unsubscribe. Call +15017120199 for help."


def new_sender() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


@pytest.fixture(scope="module")
def account() -> Iterator[TwilioStandin]:
    """A Twilio stand-in whose account owns BUSINESS and SECOND."""
    with TwilioStandin(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_keys={API_KEY_SID: API_KEY_SECRET},
        callback_delay_ms=5,
        numbers=[
            {"phone_number": BUSINESS, "friendly_name": "Main line"},
            {"phone_number": SECOND, "friendly_name": "Second line"},
        ],
    ) as running:
        yield running


@dataclass
class Apps:
    """Hosts of the app against the `account` stand-in, started on demand (module scope)."""

    factory: HostFactory
    standin: TwilioStandin

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        return app_env(
            "loops",
            TWILIO_API_BASE_URL=self.standin.base_url,
            SMS_AUTO_REPLY=AUTO_REPLY,
            SMS_HELP_TEXT=HELP_TEXT,
            **overrides,
        )

    def start(self, env: dict[str, str | None]) -> HostHandle:
        return self.factory(PROJECT_ROOT, env)


@pytest.fixture(scope="module")
def apps(rel_host_module: HostFactory, account: TwilioStandin) -> Apps:
    return Apps(rel_host_module, account)


@pytest.fixture(scope="module")
def capped(apps: Apps) -> HostHandle:
    """The app with a forward cap of 5 a day (the window stays at its default)."""
    return apps.start(apps.env(SMS_FORWARD_DAILY_CAP="5"))


@pytest.fixture(scope="module")
def defaults(apps: Apps) -> HostHandle:
    """The app with the guard's defaults (no window or cap setting)."""
    return apps.start(apps.env())


def burst(host: HostHandle, sender: str, count: int, to: str = BUSINESS) -> list[Answer]:
    answers = [text(host, sender, to, f"Message number {n} from a customer") for n in range(count)]
    assert [a.status for a in answers] == [200] * count, [a.body[:200] for a in answers]
    return answers


def summary(answers: list[Answer]) -> dict[str, int]:
    """Outbound messages by destination kind, for assertion messages."""
    outbound = [m for a in answers for m in a.messages]
    return {
        "texts": len(answers),
        "outbound": len(outbound),
        "to_owner": sum(m.to == OWNER for m in outbound),
        "to_others": sum(m.to != OWNER for m in outbound),
    }


@sized(default=50, soak=300)
def test_a_burst_from_one_sender_gets_one_auto_reply_and_capped_forwards(
    capped: HostHandle, size: int
) -> None:
    """50 texts from one sender → 1 auto-reply, 5 forwards and 1 digest line (unguarded:
    100 outbound messages, one auto-reply and one forward per text)."""
    sender = new_sender()
    answers = burst(capped, sender, size)
    shown = summary(answers)
    replies = [m for a in answers for m in a.to(sender)]
    forwards = [m for a in answers for m in a.to(OWNER)]
    assert len(replies) == 1, shown
    assert replies[0].body == AUTO_REPLY
    assert answers[0].to(sender), "the first text is the one answered"
    assert len(forwards) == 5 + 1, shown
    for n, forward in enumerate(forwards[:5]):
        assert f"Message number {n} from a customer" in forward.body, forward
    digest = forwards[5]
    assert sender in digest.body, digest  # the owner learns who keeps texting
    assert "Message number 5" not in digest.body, "the digest is not a sixth forward"
    assert shown["outbound"] == 7, shown


def test_the_defaults_bound_a_burst_too(defaults: HostHandle) -> None:
    """Defaults: 30 texts from one sender → one auto-reply (12 h window) and at most
    10 forwards and a digest (daily cap 10). Unguarded: 30 of each."""
    sender = new_sender()
    answers = burst(defaults, sender, 30)
    shown = summary(answers)
    assert sum(len(a.to(sender)) for a in answers) == 1, shown
    assert sum(len(a.to(OWNER)) for a in answers) <= 10 + 1, shown


def test_one_auto_reply_per_sender_across_two_instances(apps: Apps) -> None:
    """The window is kept in Table Storage: two instances (hosts on the same tables)
    answer alternating texts from one sender once between them. Unguarded: every text answered."""
    env = apps.env()
    first, second = apps.start(env), apps.start(env)
    sender = new_sender()
    answers = [
        text(host, sender, BUSINESS, f"text {n}")
        for n, host in enumerate([first, second, first, second, second, first])
    ]
    assert [a.status for a in answers] == [200] * 6
    assert sum(len(a.to(sender)) for a in answers) == 1, summary(answers)


def test_a_sender_gets_each_lines_auto_reply_once(defaults: HostHandle) -> None:
    """The window is per sender and line: a customer who texted one line still gets another
    line's auto-reply, and each line answers them once."""
    sender = new_sender()
    answers = [text(defaults, sender, to, "hello") for to in (BUSINESS, SECOND, BUSINESS, SECOND)]
    assert [len(a.to(sender)) for a in answers] == [1, 1, 0, 0], summary(answers)


def test_thirty_helps_get_one_answer(defaults: HostHandle) -> None:
    """HELP (and INFO) is answered once per sender per window. Unguarded: 30 answers."""
    sender = new_sender()
    answers = [text(defaults, sender, BUSINESS, word) for word in ["HELP", "help", " Info "] * 10]
    assert [a.status for a in answers] == [200] * 30
    helps = [m for a in answers for m in a.to(sender)]
    assert len(helps) == 1, summary(answers)
    assert helps[0].body == HELP_TEXT


def test_a_text_that_is_our_own_auto_reply_gets_no_reply(defaults: HostHandle) -> None:
    """A body that is exactly our auto-reply (another bot echoing us) is not
    answered. Unguarded: it gets the auto-reply back."""
    sender = new_sender()
    answer = text(defaults, sender, BUSINESS, AUTO_REPLY)
    assert answer.status == 200
    assert answer.to(sender) == [], answer.body


def test_a_text_from_the_number_itself_is_neither_answered_nor_forwarded(
    defaults: HostHandle,
) -> None:
    """From equal to To. Unguarded: answered and forwarded."""
    answer = text(defaults, BUSINESS, BUSINESS, "Hello me")
    assert answer.status == 200
    assert answer.messages == [], answer.body


def test_a_text_from_another_of_our_numbers_is_neither_answered_nor_forwarded(
    defaults: HostHandle,
) -> None:
    """SECOND is one of the account's numbers (IncomingPhoneNumbers). Unguarded: the
    app auto-replies to it and forwards its text."""
    answer = text(defaults, SECOND, BUSINESS, "Hello from the second line")
    assert answer.status == 200
    assert answer.messages == [], answer.body


@pytest.mark.parametrize("sender", ["72345", "ACMEBANK", "Acme-Bank"])
def test_short_codes_and_alphanumeric_senders_get_no_auto_reply(
    defaults: HostHandle, sender: str
) -> None:
    """Short codes and alphanumeric sender IDs (verification codes, carrier notices,
    other businesses' bots) cannot usefully be answered. Unguarded: the auto-reply goes back."""
    answer = text(defaults, sender, BUSINESS, "Your code is 123456")
    assert answer.status == 200
    assert answer.to(sender) == [], answer.body


def test_an_owner_number_that_is_one_of_ours_starts_no_chain(apps: Apps) -> None:
    """`OWNER_NUMBER` on another number of the same account. Unguarded one customer text
    starts a chain still growing after 30 hops (each forward arrives at SECOND, which answers
    and forwards again)."""
    host = apps.start(apps.env(OWNER_NUMBER=SECOND))
    hops = play_chain(host, new_sender(), BUSINESS, "Hello", own_numbers={BUSINESS, SECOND})
    between_ours = [h for h in hops if h.from_ in {BUSINESS, SECOND}]
    assert len(hops) <= 2, [(h.from_, h.to, h.body[:40]) for h in hops]
    assert len(between_ours) <= 1, [(h.from_, h.to, h.body[:40]) for h in hops]


def test_two_of_our_numbers_auto_replying_to_each_other_stop(apps: Apps) -> None:
    """BUSINESS and SECOND both auto-reply (no owner). A text from one to the other
    must not ping-pong. Unguarded it never stops (the chain is cut at 30 hops here)."""
    host = apps.start(apps.env(OWNER_NUMBER=None))
    hops = play_chain(host, SECOND, BUSINESS, "Hi there", own_numbers={BUSINESS, SECOND})
    assert len(hops) <= 2, [(h.from_, h.to, h.body[:40]) for h in hops]


def test_a_loop_stops_even_between_numbers_the_app_cannot_know(apps: Apps) -> None:
    """THIRD and FOURTH are served by the app but listed nowhere (not in Twilio's
    numbers list as the app sees it, not TWILIO_FROM_NUMBER): the guards that need no list (one
    auto-reply per sender per window, no reply to our own auto-reply) still end the chain.
    Unguarded it never stops."""
    third, fourth = "+15017120301", "+15017120302"
    host = apps.start(apps.env(OWNER_NUMBER=None))
    hops = play_chain(host, fourth, third, "Hi there", own_numbers={third, fourth})
    assert len(hops) <= 3, [(h.from_, h.to, h.body[:40]) for h in hops]
