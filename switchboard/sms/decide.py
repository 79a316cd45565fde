"""What one incoming SMS changes and answers, from what was loaded for it (pure).

The webhook (`switchboard.sms.webhook`) makes one trip per message: it asks `needs` what to
read, reads it (`Loaded`), and `decide` says what to write and what to answer (`Decision`):

- STOP and the other opt-out words record an opt-out, START/YES/UNSTOP remove it, each once
  per message: `keyword_applied` (the message's `step-keyword` marker in MessageLog) means a
  Twilio retry of a message already acted on, which changes nothing. So a STOP retried after a
  later START does not opt the person out again. The marker is written with the message's
  record, after the change (`mark_keyword`);
- the reply is `switchboard.sms.replies.decide_reply`, with the sender's opt-out state when an
  auto-reply depends on it (unknown counts as not opted out: the owner's forward and Twilio's
  own block still apply).
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.sms.replies import Reply, ReplySettings, decide_reply

#: The MessageLog step marker of a message whose keyword was applied.
KEYWORD_STEP = "keyword"


@dataclass(frozen=True)
class Needs:
    """What the decision about a message needs read from storage."""

    keyword_marker: bool = False
    sender_opt_out: bool = False

    @property
    def nothing(self) -> bool:
        """Whether the decision needs no read at all."""
        return not (self.keyword_marker or self.sender_opt_out)


@dataclass(frozen=True)
class Loaded:
    """What was read: whether the keyword was already applied, whether the sender is opted out
    (None: not read, or storage failed)."""

    keyword_applied: bool = False
    sender_opted_out: bool | None = None


@dataclass(frozen=True)
class Decision:
    """What to write and what to answer."""

    #: OPT_OUT or OPT_IN to apply to the sender now; None: no opt-out change.
    opt_change: KeywordKind | None
    #: Write the keyword's step marker with the message's record.
    mark_keyword: bool
    reply: Reply


def needs(message: InboundMessage, settings: ReplySettings) -> Needs:
    """The reads `decide` needs: the keyword marker for STOP/START (and, for START, whether
    there is an opt-out to remove); the sender's opt-out when an auto-reply may go out."""
    keyword = message.keyword
    if keyword is KeywordKind.OPT_OUT:
        return Needs(keyword_marker=True)
    if keyword is KeywordKind.OPT_IN:
        return Needs(keyword_marker=True, sender_opt_out=True)
    return Needs(sender_opt_out=keyword is None and bool(settings.auto_reply))


def decide(message: InboundMessage, loaded: Loaded, settings: ReplySettings) -> Decision:
    """The opt-out change, the keyword marker and the reply for `message`."""
    keyword = message.keyword
    opt_change: KeywordKind | None = None
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN) and not loaded.keyword_applied:
        opt_change = keyword
    return Decision(
        opt_change=opt_change,
        mark_keyword=opt_change is not None,
        reply=decide_reply(message, settings, sender_opted_out=bool(loaded.sender_opted_out)),
    )
