"""A relay person's commands and the texts the relay sends (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.conversations import relay
from switchboard.conversations.relay import Ask, Command, parse_command
from switchboard.conversations.rules import Conversation
from switchboard.outbound import wording

DANA = "+15557770101"
CONVERSATION = Conversation("+15017122661", DANA, "A7", unread=2, preview="Is my bike ready?")


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("help", Command(Ask.HELP)),
        (" HELP \n", Command(Ask.HELP)),
        ("List", Command(Ask.LIST)),
        ("#A7 done", Command(Ask.DONE, "A7")),
        ("#a7  DONE ", Command(Ask.DONE, "A7")),
        ("#A7 Ready at 5.", Command(Ask.REPLY, "A7", "Ready at 5.")),
        ("# b 12 see you\nbye", Command(Ask.REPLY, "B12", "see you\nbye")),
        ("#A7", Command(Ask.REPLY, "A7", "")),
        ("#A7 done soon", Command(Ask.REPLY, "A7", "done soon")),
        ("Ready at 5.", Command(Ask.REPLY, None, "Ready at 5.")),
        ("done", Command(Ask.REPLY, None, "done")),
        ("help me please", Command(Ask.REPLY, None, "help me please")),
        ("#A7hello", Command(Ask.REPLY, None, "#A7hello")),
        ("#I1 hi", Command(Ask.REPLY, None, "#I1 hi")),
        ("", Command(Ask.REPLY, None, "")),
    ],
)
def test_what_a_relay_persons_text_asks(body: str, command: Command) -> None:
    assert parse_command(body) == command


def test_a_relayed_text_names_the_customer_and_the_tag() -> None:
    assert (
        relay.relay_text(CONVERSATION, " Is my bike ready? ")
        == "[+1555***0101 #A7] Is my bike ready?"
    )
    assert relay.relay_text(CONVERSATION, "Hi", name="Dana Reyes") == "[Dana Reyes #A7] Hi"
    assert relay.relay_text(CONVERSATION, "", attachments=2) == "[+1555***0101 #A7] (2 attachments)"
    assert relay.label(DANA, "  ") == "+1555***0101"
    long = relay.relay_text(CONVERSATION, "x" * 2000)
    assert len(long) == 1600


def test_the_digest_line() -> None:
    until = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    assert relay.digest_text(CONVERSATION, 10, until) == (
        "[+1555***0101 #A7] 10 texts relayed today; their further texts until 2026-12-02 09:30 "
        "UTC are only in the conversation (answer with #A7 to relay them again)"
    )


def test_the_list_answer() -> None:
    other = Conversation("+15017122661", "+15557770102", "B1", preview="x" * 60)
    answer = relay.list_text([CONVERSATION, other], {DANA: "Dana Reyes"})
    assert answer == (
        "Open: #A7 Dana Reyes (2 unread): Is my bike ready? | #B1 +1555***0102: " + "x" * 39 + "…"
    )
    assert relay.list_text([]) == "No open conversations."


def test_keys_are_derived_from_the_message() -> None:
    assert relay.relay_key("SM1", "+15550000001") == "relay-SM1-15550000001"
    assert relay.reply_key("SM1") == "reply-SM1"
    assert relay.key_digits("") == "x"


def test_the_answers_words() -> None:
    assert wording.relay_closed("A7") == "#A7 closed. A new text from them opens it again."
    assert wording.relay_unknown_tag("Z9").startswith("No conversation #Z9")
    assert wording.relay_empty("A7") == "Nothing to send: write #A7 then your text."
    assert "texted STOP" in wording.relay_stopped("A7")
    assert "#A7 done" in wording.RELAY_HELP


def test_a_customer_without_a_name_or_number_is_unknown() -> None:
    assert relay.label("") == "unknown"
    assert relay.label(DANA, "  ") == relay.label(DANA) != "unknown"
    assert relay.label(DANA, " Dana Reyes ") == "Dana Reyes"


def test_the_relayed_text_and_the_digest_name_the_contact() -> None:
    until = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    # An empty text without attachments says nothing of attachments.
    assert relay.relay_text(CONVERSATION, "") == f"[{relay.label(DANA)} #A7] "
    assert relay.relay_text(CONVERSATION, "", attachments=2) == (
        f"[{relay.label(DANA)} #A7] (2 attachments)"
    )
    assert relay.digest_text(CONVERSATION, 4, until, name="Dana Reyes") == wording.relay_digest(
        "Dana Reyes", "A7", 4, until
    )
