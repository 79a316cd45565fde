"""What the app would answer to an incoming SMS, as TwiML (pure); what it may answer is the
outbound policy's call (`switchboard.sms.decide`, `switchboard.outbound`).

- opt-out and opt-in keywords get an empty `<Response/>`. On long codes Twilio itself answers
  them with its confirmation text, and after a STOP Twilio refuses any further message to the
  sender (error 21610), so a reply from the app would be a duplicate or an error;
- help keywords get `SMS_HELP_TEXT` (its default: `switchboard.outbound.wording.HELP_DEFAULT`);
- anything else gets `SMS_AUTO_REPLY` (when set, and unless the sender has opted out: Twilio
  would refuse it) and is forwarded to `OWNER_NUMBER` (when set, and unless the owner is the
  sender) as `<Message to=owner>` naming the sender, with the media URLs of an MMS; on a line
  with relay people (`sms.relay`) it is relayed to them instead (`switchboard.conversations`);
- nothing to say: an empty `<Response/>`.

The words of the forwards are `switchboard.outbound.wording`'s. The texts are built with
twilio's `MessagingResponse`, which escapes `<`, `&` and `>` (so `]]>`
too); characters XML 1.0 cannot carry at all are dropped from forwarded text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from twilio.twiml.messaging_response import MessagingResponse

from switchboard.lines.model import Line
from switchboard.outbound import wording
from switchboard.settings import Settings
from switchboard.sms.keywords import InboundMessage, KeywordKind
from switchboard.twilio.text import MAX_BODY_CHARS, MAX_MEDIA, xml_safe
from switchboard.twilio.twiml import twiml_text


@dataclass(frozen=True)
class ReplySettings:
    """The settings the reply depends on (a subset of `Settings`)."""

    help_text: str
    auto_reply: str | None = None
    owner_number: str | None = None
    #: The line's relay people (`sms.relay`): texts are relayed to them, not forwarded.
    relay: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplySettings:
        """SMS_HELP_TEXT, SMS_AUTO_REPLY and OWNER_NUMBER."""
        return cls(
            help_text=settings.sms_help_text or wording.HELP_DEFAULT,
            auto_reply=settings.sms_auto_reply,
            owner_number=settings.owner_number,
        )

    @classmethod
    def for_line(cls, settings: Settings, line: Line, is_open: bool) -> ReplySettings:
        """The texted line's replies: its `sms.closedReply` while closed, else its
        `sms.autoReply`; its `sms.forwardTo`; what it leaves out, the settings' (SMS_AUTO_REPLY,
        OWNER_NUMBER). The default line is the settings themselves."""
        auto_reply = line.sms_auto_reply or settings.sms_auto_reply
        if not is_open and line.sms_closed_reply:
            auto_reply = line.sms_closed_reply
        return cls(
            help_text=settings.sms_help_text or wording.HELP_DEFAULT,
            auto_reply=auto_reply,
            owner_number=line.sms_forward_to or settings.owner_number,
            relay=tuple(person.number for person in line.sms_relay),
        )


@dataclass(frozen=True)
class Reply:
    """What to send back: a text to the sender and/or a forward to the owner, and texts to
    other people (`others`: (to, body), such as the note that a customer cancelled a reminder)."""

    to_sender: str | None = None
    forward_to: str | None = None
    forward_body: str | None = None
    forward_media: tuple[str, ...] = field(default_factory=tuple)
    others: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        """Whether there is nothing to say."""
        return self.to_sender is None and self.forward_to is None and not self.others


def truncate(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut."""
    return wording.fit(text, limit)


def forward_text(
    message: InboundMessage, *, held: int = 0, held_since: datetime | None = None
) -> str:
    """The forwarded text (`wording.forward`): who sent it, then the body (and a note on
    attachments); the first forward after the daily cap says how many were held."""
    return wording.forward(
        message.from_,
        xml_safe(message.body),
        attachments=len(message.media),
        held=held,
        held_since=held_since,
    )


def digest_text(sender: str, forwarded: int, since: datetime | None, until: datetime) -> str:
    """The one line the owner gets instead of a forward once a sender reaches the daily cap."""
    return wording.forward_digest(sender, forwarded, since, until)


def decide_reply(
    message: InboundMessage, settings: ReplySettings, *, sender_opted_out: bool = False
) -> Reply:
    """What the app answers to `message` (pure; see the module doc for the rules)."""
    keyword = message.keyword
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
        return Reply()
    if keyword is KeywordKind.HELP:
        return Reply(to_sender=truncate(settings.help_text)) if settings.help_text else Reply()
    to_sender = None
    if settings.auto_reply and not sender_opted_out:
        to_sender = truncate(settings.auto_reply)
    owner = settings.owner_number
    if not owner or owner == message.from_ or settings.relay:
        # A line with relay people relays its texts (`switchboard.conversations`) instead.
        return Reply(to_sender=to_sender)
    return Reply(
        to_sender=to_sender,
        forward_to=owner,
        forward_body=forward_text(message),
        forward_media=tuple(message.media_urls[:MAX_MEDIA]),
    )


def render(reply: Reply) -> str:
    """The TwiML document for `reply` (`<Response/>` when empty)."""
    response = MessagingResponse()
    if reply.to_sender is not None:
        response.message(xml_safe(reply.to_sender))
    if reply.forward_to is not None:
        body = xml_safe(reply.forward_body or "")
        if reply.forward_media:
            # With media, Twilio wants the text in a <Body> noun next to the <Media> nouns.
            forward = response.message(to=reply.forward_to)
            forward.body(body)
            for url in reply.forward_media:
                forward.media(xml_safe(url))
        else:
            response.message(body, to=reply.forward_to)
    for to, text in reply.others:
        response.message(xml_safe(text), to=to)
    return twiml_text(response)


def build_reply(
    message: InboundMessage, settings: ReplySettings, *, sender_opted_out: bool = False
) -> str:
    """The TwiML answer to an incoming message: `render(decide_reply(...))`."""
    return render(decide_reply(message, settings, sender_opted_out=sender_opted_out))
