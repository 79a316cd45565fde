"""The relay from the owner's phone (pure): what a relay person's text asks, and the texts the
relay sends.

A line's `sms.relay` people get each customer's text on their own phones, from the line's
number: ``[Dana Reyes #A7] text`` (the contact's name, else the masked number, and the
conversation's tag), MMS media relayed as media. A text from one of them to the line is never a
customer's text; it is one of:

- ``help``: the commands (`wording.RELAY_HELP`);
- ``list``: the line's most recent open conversations with their tags;
- ``#A7 done``: conversation A7 closed;
- ``#A7 text``: `text` to the customer of A7;
- anything else: to the customer of the last text relayed to this person.

Keywords win first: a relay person's STOP opts their own number out (their relays stop, nothing
else), START brings them back; it never reaches a customer. The customer only ever sees the
line's number. How often and how much is relayed: `switchboard.outbound.windows` (a texter
nobody answered: `SMS_FORWARD_DAILY_CAP` a day, then one digest line) and the line's relay
ceiling (`SMS_RELAY_DAILY_LIMIT`, `switchboard.outbound.budget.charge_relays`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from switchboard.conversations.rules import Conversation, parse_tag
from switchboard.outbound import wording
from switchboard.phone import mask

#: Conversations `list` answers with.
LIST_SIZE = 5
_TAGGED = re.compile(r"\s*(#\s*[A-Za-z]\s*[0-9]{1,7})(?:\s+(.*))?", re.DOTALL)


class Ask(StrEnum):
    """What a relay person's text asks."""

    HELP = "help"
    LIST = "list"
    DONE = "done"
    REPLY = "reply"


@dataclass(frozen=True)
class Command:
    """A relay person's text, understood: what it asks, the tag it names (None: the last
    conversation relayed to them), the text to send."""

    ask: Ask
    tag: str | None = None
    text: str = ""


def parse_command(body: str) -> Command:
    """What a relay person's text asks (see the module doc); any case, spaces around."""
    word = body.strip().upper()
    if word == "HELP":
        return Command(Ask.HELP)
    if word == "LIST":
        return Command(Ask.LIST)
    tagged = _TAGGED.fullmatch(body)
    if tagged is not None:
        tag = parse_tag(tagged.group(1))
        rest = (tagged.group(2) or "").strip()
        if tag is not None:
            if rest.upper() == "DONE":
                return Command(Ask.DONE, tag)
            return Command(Ask.REPLY, tag, rest)
    return Command(Ask.REPLY, None, body.strip())


def label(customer: str, name: str | None = None) -> str:
    """How a relay names the customer: the contact's name, else the masked number."""
    return name.strip() if name and name.strip() else mask(customer) or "unknown"


def relay_text(
    conversation: Conversation, body: str, *, attachments: int = 0, name: str | None = None
) -> str:
    """A customer's text as relay people get it: ``[Dana Reyes #A7] text``."""
    return wording.relay(
        label(conversation.customer, name), conversation.tag, body, attachments=attachments
    )


def digest_text(
    conversation: Conversation, relayed: int, until: datetime, *, name: str | None = None
) -> str:
    """The one line relay people get once a texter nobody answered reaches the daily cap."""
    return wording.relay_digest(
        label(conversation.customer, name), conversation.tag, relayed, until
    )


def list_text(conversations: Sequence[Conversation], names: dict[str, str] | None = None) -> str:
    """The answer to ``list``: tag, who, unread and the latest text of each."""
    known = names or {}
    return wording.relay_list(
        [
            (c.tag, label(c.customer, known.get(c.customer)), c.unread, c.preview)
            for c in conversations
        ]
    )


def key_digits(number: str) -> str:
    """A number's digits, for keys derived from it (``+15550000001`` → ``15550000001``)."""
    return "".join(ch for ch in number if ch.isdigit()) or "x"


def relay_key(message_sid: str, person: str) -> str:
    """The key (and MessageLog record id) of one relayed copy of a customer's text: one per
    text and person, whatever Twilio retries or instances."""
    return f"relay-{message_sid}-{key_digits(person)}"


def reply_key(message_sid: str) -> str:
    """The key of the text a relay person's text sends the customer."""
    return f"reply-{message_sid}"
