"""What one incoming SMS changes and answers, from what was loaded for it (pure).

The webhook (`switchboard.sms.webhook`) makes one trip per message: it asks `needs` what to
read, reads it (`Loaded`), and `decide` says what to write and what to answer (`Decision`):

- STOP and the other opt-out words record an opt-out, START/YES/UNSTOP remove it, each once
  per message: `keyword_applied` (the message's `step-keyword` marker in MessageLog) means a
  Twilio retry of a message already acted on, which changes nothing. So a STOP retried after a
  later START does not opt the person out again. The marker is written with the message's
  record, after the change (`mark_keyword`);
- the reply is what `switchboard.sms.replies.decide_reply` would say, passed through the
  outbound policy (`switchboard.outbound`): nothing automatic for a text from the number itself
  or from one of our own numbers, nor for a body that is a text we sent this sender or one of
  the line's own answers (another bot echoing us); no text to a destination the policy refuses
  (a short code, an alphanumeric sender, a country not allowed, a premium-rate number, one of
  our numbers); the auto-reply and the HELP answer at most once per sender and line per
  `SMS_AUTO_REPLY_WINDOW`; forwards to the owner at most `SMS_FORWARD_DAILY_CAP` per sender and
  line per day, then one digest line (the owner is told, not left in silence), and the first
  forward after the pause says how many were held. The tallies it changes are in
  `Decision.tallies` (written before answering); the texts it lets through still need the
  line's budget (`Decision.charges`, charged by the webhook), and each text wanted has its word
  (`Decision.words`: ``sent`` or ``skipped (why)``), recorded on the message;
- on a line with relay people, an ordinary text is relayed to them (`Decision.relay`: the
  sender's window, like a forward's, unless someone at the business answered the conversation
  within a day, `Loaded.relay_answered`); the relay is sent by the conversations capability,
  within the line's relay ceiling, not its budget of automatic texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from switchboard.outbound.destinations import Destinations
from switchboard.outbound.purposes import SENT, Purpose, skipped
from switchboard.outbound.store import SenderState
from switchboard.outbound.windows import Policy, Ruling, Tally, Verdict, is_echo, remember, rule
from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.sms.replies import Reply, ReplySettings, decide_reply, digest_text, forward_text

#: The MessageLog step marker of a message whose keyword was applied.
KEYWORD_STEP = "keyword"
#: The record's property holding each automatic answer's word.
WORD_PROPERTIES = {
    Purpose.AUTO_REPLY: "AutoReply",
    Purpose.HELP: "Help",
    Purpose.FORWARD: "Forward",
    Purpose.RELAY: "Relay",
}
#: Why a relay goes out without the sender's window: someone answered the conversation.
ANSWERED = "an answered conversation"


@dataclass(frozen=True)
class Needs:
    """What the decision about a message needs read from storage."""

    keyword_marker: bool = False
    #: The sender's rows in OptOut: its opt-out and its tallies on this line.
    sender_state: bool = False

    @property
    def nothing(self) -> bool:
        """Whether the decision needs no read at all."""
        return not (self.keyword_marker or self.sender_state)


@dataclass(frozen=True)
class Loaded:
    """What was read: whether the keyword was already applied, and the sender's state (None:
    not read)."""

    keyword_applied: bool = False
    sender: SenderState | None = None
    #: Someone at the business answered the sender's conversation within a day.
    relay_answered: bool = False

    @property
    def sender_opted_out(self) -> bool | None:
        """Whether the sender has opted out (None: not known)."""
        if self.sender is None or not self.sender.stored:
            return None
        return self.sender.opt_out is not None


@dataclass(frozen=True)
class Policing:
    """What the outbound policy needs besides the message: the destinations (our own numbers,
    the allowed countries), the windows' policies, the time."""

    destinations: Destinations
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
    #: The window tallies this answer changes (written before answering).
    tallies: dict[Purpose, Tally] = field(default_factory=dict)
    #: Why something automatic was not sent, for the log.
    withheld: tuple[str, ...] = ()
    #: The digests of the texts sent to the sender to keep (None: unchanged).
    sent: tuple[str, ...] | None = None
    #: Each automatic answer wanted: ``sent`` or ``skipped (why)`` (recorded on the message).
    words: dict[Purpose, str] = field(default_factory=dict)
    #: The budget keys of the texts the reply sends (charged to the line before answering).
    charges: tuple[str, ...] = ()
    #: The relay's verdict on this text (None: not relayed; see the module doc).
    relay: Ruling | None = None

    def without_texts(self, reason: str) -> Decision:
        """The decision with its texts refused for `reason` (the line's budget said no; the
        relay has a ceiling of its own)."""
        words = {
            p: w if w != SENT or p is Purpose.RELAY else skipped(reason)
            for p, w in self.words.items()
        }
        return replace(self, reply=Reply(), words=words, charges=(), withheld=(reason,))


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
    return Needs(sender_state=bool(settings.auto_reply or settings.owner_number or settings.relay))


def decide(
    message: InboundMessage, loaded: Loaded, settings: ReplySettings, policing: Policing
) -> Decision:
    """The opt-out change, the keyword marker, the reply and the tallies for `message`."""
    keyword = message.keyword
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
        change = None if loaded.keyword_applied else keyword
        return Decision(opt_change=change, mark_keyword=change is not None, reply=Reply())
    wanted = decide_reply(message, settings, sender_opted_out=bool(loaded.sender_opted_out))
    relayed = bool(settings.relay) and keyword is None
    if wanted.empty and not relayed:
        return Decision(None, False, wanted)
    return _policed(
        message,
        wanted,
        loaded.sender or SenderState(message.from_),
        settings,
        policing,
        relay=relayed,
        relay_answered=loaded.relay_answered,
    )


def _wanted_purposes(message: InboundMessage, wanted: Reply, relay: bool = False) -> list[Purpose]:
    found = []
    if wanted.to_sender is not None:
        found.append(Purpose.HELP if message.keyword is KeywordKind.HELP else Purpose.AUTO_REPLY)
    if wanted.forward_to is not None:
        found.append(Purpose.FORWARD)
    if relay:
        found.append(Purpose.RELAY)
    return found


def _policed(
    message: InboundMessage,
    wanted: Reply,
    sender: SenderState,
    settings: ReplySettings,
    policing: Policing,
    *,
    relay: bool = False,
    relay_answered: bool = False,
) -> Decision:
    ours = policing.destinations
    also = (message.to,)
    purposes = _wanted_purposes(message, wanted, relay)
    if message.from_ == message.to or ours.is_ours(message.from_, also):
        why = "the text came from one of our numbers"
        return Decision(None, False, Reply(), withheld=(why,), words=_all(purposes, why))
    own_texts = (settings.auto_reply, settings.help_text)
    if message.keyword is None and is_echo(message.body, sender.sent, own_texts):
        why = "an echo of our own text"
        return Decision(None, False, Reply(), withheld=(why,), words=_all(purposes, why))
    tallies: dict[Purpose, Tally] = {}
    withheld: list[str] = []
    words: dict[Purpose, str] = {}
    charges: list[str] = []
    sent = sender.sent

    def ask(purpose: Purpose, recipient: str) -> Ruling | None:
        problem = ours.problem(recipient, also_own=also)
        if problem is not None:
            withheld.append(f"{purpose}: {problem}")
            words[purpose] = skipped(problem)
            return None
        before = sender.tally(purpose)
        ruling = rule(policing.policies[purpose], before, now=policing.now, sid=message.sid)
        if ruling.tally != before:
            tallies[purpose] = ruling.tally
        if ruling.allowed:
            words[purpose] = SENT
            charges.append(f"{message.sid}-{purpose.value}")
        else:
            withheld.append(f"{purpose}: {ruling.reason}")
            words[purpose] = skipped(ruling.reason)
        return ruling

    reply = wanted
    if wanted.to_sender is not None:
        purpose = purposes[0]
        answered = ask(purpose, message.from_)
        if answered is None or not answered.allowed:
            reply = replace(reply, to_sender=None)
        elif not answered.repeat:
            sent = remember(sent, wanted.to_sender)
    if wanted.forward_to is not None:
        reply = _forward(message, reply, wanted.forward_to, ask(Purpose.FORWARD, wanted.forward_to))
    relayed: Ruling | None = None
    if relay:
        relayed = _relay(message, sender, policing, relay_answered)
        if relayed.tally != sender.tally(Purpose.RELAY):
            tallies[Purpose.RELAY] = relayed.tally
        words[Purpose.RELAY] = SENT if relayed.allowed else skipped(relayed.reason)
        if not relayed.allowed:
            withheld.append(f"{Purpose.RELAY}: {relayed.reason}")
    return Decision(
        None,
        False,
        reply,
        tallies,
        tuple(withheld),
        sent if sent != sender.sent else None,
        words,
        tuple(charges),
        relayed,
    )


def _relay(
    message: InboundMessage, sender: SenderState, policing: Policing, answered: bool
) -> Ruling:
    """The relay's verdict: the sender's window (as a forward's: a digest line at the cap),
    or, when someone at the business answered the conversation within a day, always yes (its
    tally untouched). The relay people's own numbers were checked when the line was written."""
    before = sender.tally(Purpose.RELAY)
    if answered:
        return Ruling(Verdict.SEND, ANSWERED, before)
    return rule(policing.policies[Purpose.RELAY], before, now=policing.now, sid=message.sid)


def _all(purposes: list[Purpose], why: str) -> dict[Purpose, str]:
    return {p: skipped(why) for p in purposes}


def _forward(message: InboundMessage, reply: Reply, owner: str, ruling: Ruling | None) -> Reply:
    if ruling is None:
        return replace(reply, forward_to=None, forward_body=None, forward_media=())
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
