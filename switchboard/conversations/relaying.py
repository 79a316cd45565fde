"""The SMS webhook's conversation and relay steps (`switchboard.sms.webhook` calls them, in its
order of checks: STOP/START first, then a text from one of the line's relay people
(`person_text`), then the line's other rules, then an ordinary text (`customer_text`)).

- `customer_text`: a customer's text recorded in its conversation (state, unread, reopened,
  the relay people's pointers moved to it) and relayed to each relay person, from the line's
  number, as ``[Dana Reyes #A7] text`` with the MMS media. The sender's window was decided with
  the webhook's other automatic texts (`switchboard.sms.decide`); the copies are counted
  against the line's relay ceiling (one write for all), then each is sent at most once
  (`Outbound.send_once`, key ``relay-<MessageSid>-<person's digits>``: Twilio's retries and
  other instances send nothing twice; a person who texted STOP is skipped).
- `person_text`: what a relay person's text asks (`switchboard.conversations.relay`): a reply
  goes to the customer through `service.send_reply` (key ``reply-<MessageSid>``, so once
  whatever retries); the answer to a command, or why a reply went nowhere, is the TwiML answer
  to the person (through the outbound policy's window for them: `Purpose.RELAY_ANSWER`).

Round trips to Table Storage: a customer's text to a line costs two more than before (its
conversation's state and the line's counter in one query, then one transaction), and with
relay people one for the ceiling and six per person (their opt-out, the claim and its day
index row, Twilio's answer recorded, its SID alias, its conversation row), the people in
parallel. A relay person's reply: the pointer or tag (one point read), the customer's opt-out,
the same five for the text, then the conversation (two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from switchboard import records
from switchboard.conversations import relay, rules, service
from switchboard.conversations.api import ReplyRequest
from switchboard.conversations.relay import Ask
from switchboard.conversations.rules import Change, Event
from switchboard.conversations.store import Contended, Loaded
from switchboard.http import ApiError
from switchboard.jsonroutes.auth import Role, inbox_user
from switchboard.lines.model import Line, RelayPerson
from switchboard.logs import get_logger
from switchboard.outbound import wording
from switchboard.outbound.purposes import SENT, Purpose, skipped
from switchboard.outbound.service import BUSY, Message, Outbound, Sent
from switchboard.outbound.windows import Ruling, Verdict
from switchboard.phone import mask
from switchboard.settings import Settings, callback_origin

logger = get_logger(__name__)

#: The outbound policy (tests and the benchmark swap its stores).
outbound_factory: Callable[[Settings], Outbound] = Outbound


@dataclass(frozen=True)
class Text:
    """An incoming text as the relay needs it."""

    sid: str
    from_: str
    to: str
    body: str
    media: tuple[str, ...] = ()


def before_text(settings: Settings, text: Text) -> Loaded | None:
    """The conversation's state before a customer's text (None: the pair keys none). Storage
    errors raise: the webhook stops its storage work."""
    return service.load(settings, text.to, text.from_)


def answered(loaded: Loaded | None, now: datetime) -> bool:
    """Whether someone at the business answered the conversation within a day."""
    return bool(loaded and loaded.conversation and loaded.conversation.answered_since(now))


def customer_text(
    settings: Settings,
    line: Line,
    text: Text,
    *,
    loaded: Loaded | None,
    ruling: Ruling | None,
) -> str | None:
    """Record a customer's text in its conversation and relay it (see the module doc); the
    relay's word (``sent``, ``skipped (why)``), None when the line does not relay it. Storage
    errors of the conversation raise (the webhook stops its storage work); other instances
    winning every round leave the text unrelayed (said in its word)."""
    people = line.sms_relay if ruling is not None and ruling.allowed else ()
    try:
        recorded = service.record_event(
            settings,
            text.to,
            text.from_,
            Event(
                text.sid,
                records.utcnow(),
                rules.KIND_TEXT,
                rules.INBOUND,
                text.body or ("(media)" if text.media else ""),
                from_customer=True,
            ),
            relayed_to=[p.number for p in people],
            loaded=loaded,
        )
    except Contended:
        logger.error("sms %s: its conversation lost every write to other instances", text.sid)
        return None if ruling is None else skipped(BUSY)
    if ruling is None:
        return None
    if not ruling.allowed:
        return skipped(ruling.reason)
    if recorded is None:
        return skipped("not a conversation")
    return _relay(settings, line, text, recorded.conversation, ruling, people)


def _relay(
    settings: Settings,
    line: Line,
    text: Text,
    conversation: rules.Conversation,
    ruling: Ruling,
    people: Sequence[RelayPerson],
) -> str:
    from switchboard.lines.sending import line_ref
    from switchboard.optouts.store import OptOutStore

    name = service.name_lookup(settings, text.from_)
    if ruling.verdict is Verdict.DIGEST:
        until = ruling.window_ends or records.utcnow()
        body = relay.digest_text(conversation, ruling.tally.count, until, name=name)
        media: tuple[str, ...] = ()
    else:
        body = relay.relay_text(conversation, text.body, attachments=len(text.media), name=name)
        media = text.media
    ref = line_ref(line, settings, text.to)
    policy = outbound_factory(settings)
    charged = policy.charge_relays(ref, f"relay-{text.sid}", len(people))
    if not charged.allowed:
        logger.warning(
            "sms %s: not relayed to %d people of %s (%s)",
            text.sid,
            len(people),
            mask(text.to),
            charged.reason,
        )
        return skipped(charged.reason or "refused")
    lookup = OptOutStore.from_settings(settings)
    origin = callback_origin(settings)

    def send(person: RelayPerson) -> str:
        message = Message(
            Purpose.RELAY,
            ref,
            person.number,
            subject=text.from_,
            key=relay.relay_key(text.sid, person.number),
            cause=text.sid,
            body=body,
            media=media,
        )
        try:
            sent: Sent = policy.send_once(
                message, callback_origin=origin, lookup=lookup, settled=True
            )
        except Exception as exc:  # Twilio or storage: that person's copy only
            logger.error(
                "sms %s: relay to %s failed (%s)", text.sid, mask(person.number), type(exc).__name__
            )
            return skipped("not sent")
        return sent.word

    if len(people) == 1:
        words = [send(people[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(people)) as pool:
            words = list(pool.map(send, people))
    logger.info(
        "sms %s: relayed to %s",
        text.sid,
        ", ".join(f"{mask(p.number)} {w}" for p, w in zip(people, words, strict=True)),
    )
    return SENT if any(w in (SENT, "sending") for w in words) else words[0]


# --------------------------------------------------------------------------------------------
# A text from a relay person


@dataclass(frozen=True)
class Answered:
    """What a relay person's text did: the answer to send them (None: none), and the word the
    webhook records on the text (``reply #A7: sent``, ``list``, ...)."""

    answer: str | None
    word: str


def person_text(settings: Settings, line: Line, person: RelayPerson, text: Text) -> Answered:
    """Act on a relay person's text (see the module doc); never raises (storage or Twilio
    failing is said to the person)."""
    number = text.to
    command = relay.parse_command(text.body)
    try:
        answered = _act(settings, line, person, text, command)
    except Exception as exc:
        logger.error(
            "sms %s: the relay person's %s was not done (%s)",
            text.sid,
            command.ask.value,
            type(exc).__name__,
        )
        answered = Answered("Not done: the line could not reach its records. Try again.", "failed")
    if answered.answer is None:
        return answered
    return _policed(settings, line, person, text, answered, number)


def _act(
    settings: Settings, line: Line, person: RelayPerson, text: Text, command: relay.Command
) -> Answered:
    store = service.store_factory(settings)
    number = text.to
    if command.ask is Ask.HELP:
        return Answered(wording.RELAY_HELP, "help")
    if command.ask is Ask.LIST:
        page = store.page([number], [rules.OPEN], None, relay.LIST_SIZE)
        names = service.names_of(settings, [c.customer for c in page.items])
        return Answered(relay.list_text(page.items, names), "list")
    if command.tag is not None:
        customer, tag = store.customer_of_tag(number, command.tag), command.tag
        if customer is None:
            return Answered(wording.relay_unknown_tag(command.tag), f"#{command.tag} unknown")
    else:
        pointed = store.pointer(number, person.number)
        if pointed is None:
            return Answered(wording.RELAY_NOTHING_TO_ANSWER, "nothing to answer")
        customer, tag = pointed
    principal = inbox_user(f"relay:{person.number}", Role.STAFF, [number])
    if command.ask is Ask.DONE:
        service.change_conversation(settings, principal, number, customer, Change(state=rules.DONE))
        return Answered(wording.relay_closed(tag), f"#{tag} done")
    if not command.text and not text.media:
        return Answered(wording.relay_empty(tag), f"#{tag} empty")
    try:
        sent = service.send_reply(
            settings,
            principal,
            number,
            customer,
            ReplyRequest(command.text, text.media),
            author=person.name,
            record_id=relay.reply_key(text.sid),
        )
    except ApiError as error:
        if error.code == "opted_out":
            return Answered(wording.relay_stopped(tag), f"reply #{tag}: skipped (opted out)")
        return Answered(wording.relay_not_sent(tag, error.message), f"reply #{tag}: {error.code}")
    return Answered(None, f"reply #{tag}: {sent['status']}")


def _policed(
    settings: Settings, line: Line, person: RelayPerson, text: Text, answered: Answered, number: str
) -> Answered:
    """The answer through the outbound policy (the person's window: a phone answering every
    text by itself is answered at most `RELAY_ANSWERS_PER_HOUR` times)."""
    from switchboard.lines.sending import line_ref

    assert answered.answer is not None
    decision = outbound_factory(settings).ask(
        Message(
            Purpose.RELAY_ANSWER,
            line_ref(line, settings, number),
            person.number,
            subject=person.number,
            key=f"answer-{text.sid}",
            cause=text.sid,
            body=answered.answer,
        )
    )
    if decision.allowed:
        return answered
    return Answered(None, f"{answered.word}; answer {decision.word}")
