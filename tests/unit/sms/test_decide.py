"""The decision of one incoming SMS from what was loaded for it (pure)."""

from __future__ import annotations

import pytest

from switchboard.sms.decide import Loaded, Needs, decide, needs
from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.sms.replies import ReplySettings

PLAIN = ReplySettings(help_text="Help text")
AUTO = ReplySettings(help_text="Help text", auto_reply="Thanks", owner_number="+15005550006")


def message(body: str) -> InboundMessage:
    return InboundMessage(sid="SM1", from_="+15558675310", to="+15017122661", body=body)


@pytest.mark.parametrize(
    ("body", "settings", "expected"),
    [
        ("STOP", AUTO, Needs(keyword_marker=True)),
        ("start", AUTO, Needs(keyword_marker=True, sender_opt_out=True)),
        ("HELP", AUTO, Needs()),
        ("hello", AUTO, Needs(sender_opt_out=True)),
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
    first = decide(message(body), Loaded(), AUTO)
    assert first.opt_change is message(body).keyword
    assert first.mark_keyword
    assert first.reply.empty
    retried = decide(message(body), Loaded(keyword_applied=True), AUTO)
    assert (retried.opt_change, retried.mark_keyword) == (None, False)


def test_ordinary_text_follows_the_loaded_opt_out_state() -> None:
    opted_out = decide(message("hello"), Loaded(sender_opted_out=True), AUTO)
    assert (opted_out.opt_change, opted_out.reply.to_sender) == (None, None)
    assert opted_out.reply.forward_to == AUTO.owner_number
    unknown = decide(message("hello"), Loaded(), AUTO)  # storage failed: not known
    assert unknown.reply.to_sender == "Thanks"
    assert decide(message("help"), Loaded(), AUTO).opt_change is None
    assert decide(message("STOP"), Loaded(), AUTO).opt_change is KeywordKind.OPT_OUT
