"""What one incoming SMS changes and answers, from what was loaded for it (pure).

The webhook (`switchboard.sms.webhook`) makes one trip per message: it asks `needs` what to
read, reads it (`Loaded`), and `decide` says what to write and what to answer (`Decision`):

- STOP and the other opt-out words record an opt-out, START/YES/UNSTOP remove it, each once
  per message: `keyword_applied` (the message's `step-keyword` marker in MessageLog) means a
  Twilio retry of a message already acted on, which changes nothing. So a STOP retried after a
  later START does not opt the person out again. The marker is written with the message's
  record, after the change (`mark_keyword`);
- the reply is what `switchboard.sms.replies.decide_reply` would say, passed through the loop
  guard (`switchboard.guard.rules`, issue 14): nothing automatic for a text from the number
  itself or from one of our own numbers, nor for a body that is one of our own automatic texts
  (another bot echoing us); the auto-reply and the HELP answer at most once per sender per
  `SMS_AUTO_REPLY_WINDOW`, and only to a sender that can be texted (not a short code or an
  alphanumeric sender ID); forwards to the owner never to one of our own numbers, at most
  `SMS_FORWARD_DAILY_CAP` per sender per day, then one digest line (the owner is told, not left
  in silence), and the first forward after the pause says how many were held. The tallies it
  changes are in `Decision.tallies` (written before answering).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from switchboard.guard.rules import Policy, Purpose, Ruling, Tally, Verdict, is_echo, rule
from switchboard.guard.store import SenderState
from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.sms.replies import Reply, ReplySettings, decide_reply, digest_text, forward_text

#: The MessageLog step marker of a message whose keyword was applied.
KEYWORD_STEP = "keyword"


@dataclass(frozen=True)
class Needs:
    """What the decision about a message needs read from storage."""

    keyword_marker: bool = False
    #: The sender's row group in OptOut: its opt-out and the loop guard's tallies.
    sender_state: bool = False

    @property
    def nothing(self) -> bool:
        """Whether the decision needs no read at all."""
        return not (self.keyword_marker or self.sender_state)


@dataclass(frozen=True)
class Loaded:
    """What was read: whether the keyword was already applied, and the sender's state (None:
    not read; read from this instance's memory when storage failed)."""

    keyword_applied: bool = False
    sender: SenderState | None = None

    @property
    def sender_opted_out(self) -> bool | None:
        """Whether the sender has opted out (None: not known)."""
        if self.sender is None or not self.sender.stored:
            return None
        return self.sender.opt_out is not None


@dataclass(frozen=True)
class Guarding:
    """What the loop guard needs besides the message: the account's numbers, the policies,
    the time."""

    own_numbers: frozenset[str]
    policies: Mapping[Purpose, Policy]
    now: datetime


@dataclass(frozen=True)
class Decision:
    """What to write and what to answer."""

    #: OPT_OUT or OPT_IN to apply to the sender now; None: no opt-out change.
    opt_change: KeywordKind | None
    #: Write the keyword's step marker with the message's record.
    mark_keyword: bool
    reply: Reply
    #: The guard tallies this answer changes (written before answering).
    tallies: dict[Purpose, Tally] = field(default_factory=dict)
    #: Why something automatic was not sent, for the log.
    withheld: tuple[str, ...] = ()


def needs(message: InboundMessage, settings: ReplySettings) -> Needs:
    """The reads `decide` needs: the keyword marker for STOP/START (and, for START, whether
    there is an opt-out to remove); the sender's state when something automatic may go out."""
    keyword = message.keyword
    if keyword is KeywordKind.OPT_OUT:
        return Needs(keyword_marker=True)
    if keyword is KeywordKind.OPT_IN:
        return Needs(keyword_marker=True, sender_state=True)
    if keyword is KeywordKind.HELP:
        return Needs(sender_state=bool(settings.help_text))
    return Needs(sender_state=bool(settings.auto_reply or settings.owner_number))


def decide(
    message: InboundMessage, loaded: Loaded, settings: ReplySettings, guarding: Guarding
) -> Decision:
    """The opt-out change, the keyword marker, the reply and the guard's tallies for `message`."""
    keyword = message.keyword
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
        change = None if loaded.keyword_applied else keyword
        return Decision(opt_change=change, mark_keyword=change is not None, reply=Reply())
    wanted = decide_reply(message, settings, sender_opted_out=bool(loaded.sender_opted_out))
    if wanted.empty:
        return Decision(None, False, wanted)
    return _guarded(
        message, wanted, loaded.sender or SenderState(message.from_), settings, guarding
    )


def _guarded(
    message: InboundMessage,
    wanted: Reply,
    sender: SenderState,
    settings: ReplySettings,
    guarding: Guarding,
) -> Decision:
    own = guarding.own_numbers | {message.to}
    if message.from_ == message.to or message.from_ in own:
        return Decision(None, False, Reply(), withheld=("the text came from one of our numbers",))
    if message.keyword is None and is_echo(message.body, (settings.auto_reply, settings.help_text)):
        return Decision(None, False, Reply(), withheld=("the text is one of our own texts",))
    tallies: dict[Purpose, Tally] = {}
    withheld: list[str] = []

    def ask(purpose: Purpose, recipient: str) -> Ruling:
        before = sender.tally(purpose)
        ruling = rule(
            guarding.policies[purpose],
            before,
            subject=message.from_,
            recipient=recipient,
            own_numbers=own,
            now=guarding.now,
            sid=message.sid,
        )
        if ruling.tally != before:
            tallies[purpose] = ruling.tally
        if not ruling.allowed:
            withheld.append(f"{purpose}: {ruling.reason}")
        return ruling

    reply = wanted
    if wanted.to_sender is not None:
        purpose = Purpose.HELP if message.keyword is KeywordKind.HELP else Purpose.AUTO_REPLY
        if not ask(purpose, message.from_).allowed:
            reply = replace(reply, to_sender=None)
    if wanted.forward_to is not None:
        reply = _forward(message, reply, wanted.forward_to, ask(Purpose.FORWARD, wanted.forward_to))
    return Decision(None, False, reply, tallies, tuple(withheld))


def _forward(message: InboundMessage, reply: Reply, owner: str, ruling: Ruling) -> Reply:
    if ruling.verdict is Verdict.SEND:
        if not ruling.held_before:
            return reply
        body = forward_text(message, held=ruling.held_before, held_since=ruling.held_since)
        return replace(reply, forward_body=body)
    if ruling.verdict is Verdict.DIGEST:
        assert ruling.window_ends is not None  # a digest always has a window
        body = digest_text(
            message.from_, ruling.tally.count, ruling.tally.since, ruling.window_ends
        )
        return replace(reply, forward_to=owner, forward_body=body, forward_media=())
    return replace(reply, forward_to=None, forward_body=None, forward_media=())
