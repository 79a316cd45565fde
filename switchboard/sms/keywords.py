"""Incoming SMS: keyword classification, the TwiML reply, and MessageLog record fields (pure).

Keywords follow Twilio's default handling on long codes: the whole message body, trimmed of
surrounding whitespace and compared without regard to case, must be exactly one keyword. So
"stop" and "  Stop \\n" opt out, while "stopping", "stop please", "STOP." and "don't stop" do not
(Twilio would not block the number for those either; treating them as opt-outs would make the
app's record disagree with Twilio's).

- opt out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT;
- opt in: START, YES, UNSTOP;
- help: HELP, INFO.

Replies (`build_reply`):

- opt-out and opt-in keywords get an empty `<Response/>`. On long codes Twilio itself answers
  them with its confirmation text, and after a STOP Twilio refuses any further message to the
  sender (error 21610), so a reply from the app would be a duplicate or an error;
- help keywords get `SMS_HELP_TEXT`;
- anything else gets `SMS_AUTO_REPLY` (when set, and unless the sender has opted out: Twilio
  would refuse it) and is forwarded to `OWNER_NUMBER` (when set, and unless the owner is the
  sender) as `<Message to=owner>` naming the sender, with the media URLs of an MMS;
- nothing to say: an empty `<Response/>`.

The texts are built with twilio's `MessagingResponse`, which escapes `<`, `&` and `>` (so `]]>`
too); characters XML 1.0 cannot carry at all are dropped from forwarded text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from twilio.twiml.messaging_response import MessagingResponse

from switchboard import records

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

#: Twilio's limit for one message body (longer bodies fail with error 21617).
MAX_BODY_CHARS = 1600
#: Twilio accepts at most 10 media URLs per message.
MAX_MEDIA = 10

# Code points XML 1.0 forbids (the C0 controls except tab/LF/CR, surrogates, U+FFFE/U+FFFF):
# ElementTree would write them as they are and produce a document Twilio cannot parse.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class KeywordKind(StrEnum):
    """What a keyword message asks for."""

    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


def normalise_keyword(body: str | None) -> str:
    """The body as a keyword candidate: surrounding whitespace removed, upper case."""
    return (body or "").strip().upper()


def classify(body: str | None) -> KeywordKind | None:
    """The keyword the whole body is, or None for an ordinary message."""
    word = normalise_keyword(body)
    if word in OPT_OUT_KEYWORDS:
        return KeywordKind.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return KeywordKind.OPT_IN
    if word in HELP_KEYWORDS:
        return KeywordKind.HELP
    return None


@dataclass(frozen=True)
class InboundMessage:
    """An incoming SMS/MMS as Twilio posts it."""

    sid: str
    from_: str
    to: str
    body: str
    media: tuple[tuple[str, str], ...] = ()  # (url, content type)
    num_segments: int | None = None
    messaging_service_sid: str | None = None
    account_sid: str | None = None

    @property
    def media_urls(self) -> list[str]:
        """The media URLs of an MMS, in order."""
        return [url for url, _ in self.media]

    @property
    def keyword(self) -> KeywordKind | None:
        """The keyword this message is, if any."""
        return classify(self.body)


class InboundError(ValueError):
    """An incoming-message webhook without the parameters Twilio always sends."""


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int((raw or "").strip())
    except ValueError:
        return None


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    """The message from Twilio's webhook parameters (`MessageSid`, `From`, `To`, `Body`,
    `NumMedia`, `MediaUrl{i}`, `MediaContentType{i}`, ...). InboundError when SID or From is
    missing."""
    sid = (params.get("MessageSid") or params.get("SmsMessageSid") or "").strip()
    sender = (params.get("From") or "").strip()
    if not sid or not sender:
        raise InboundError("incoming message without " + ("MessageSid" if not sid else "From"))
    count = _int_or_none(params.get("NumMedia")) or 0
    media: list[tuple[str, str]] = []
    # Bounded by Twilio's own limit whatever NumMedia says.
    for index in range(min(max(count, 0), MAX_MEDIA)):
        url = (params.get(f"MediaUrl{index}") or "").strip()
        if url:
            media.append((url, (params.get(f"MediaContentType{index}") or "").strip()))
    return InboundMessage(
        sid=sid,
        from_=sender,
        to=(params.get("To") or "").strip(),
        body=params.get("Body") or "",
        media=tuple(media),
        num_segments=_int_or_none(params.get("NumSegments")),
        messaging_service_sid=(params.get("MessagingServiceSid") or "").strip() or None,
        account_sid=(params.get("AccountSid") or "").strip() or None,
    )


# --- the reply ---


@dataclass(frozen=True)
class ReplySettings:
    """The settings the reply depends on (a subset of `Settings`)."""

    help_text: str
    auto_reply: str | None = None
    owner_number: str | None = None


@dataclass(frozen=True)
class Reply:
    """What to send back: a text to the sender and/or a forward to the owner."""

    to_sender: str | None = None
    forward_to: str | None = None
    forward_body: str | None = None
    forward_media: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to say."""
        return self.to_sender is None and self.forward_to is None


def xml_safe(text: str) -> str:
    """`text` without the characters an XML 1.0 document cannot contain."""
    return _XML_INVALID.sub("", text)


def truncate(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def forward_text(message: InboundMessage) -> str:
    """The forwarded text: who sent it, then the body (and a note on attachments)."""
    body = xml_safe(message.body).strip()
    head = f"From {message.from_}: "
    if message.media:
        count = len(message.media)
        note = f"[{count} attachment{'s' if count != 1 else ''}]"
        body = f"{body} {note}" if body else note
    return truncate(head + body)


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
    if not owner or owner == message.from_:
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
    return str(response)


def build_reply(
    message: InboundMessage, settings: ReplySettings, *, sender_opted_out: bool = False
) -> str:
    """The TwiML answer to an incoming message: `render(decide_reply(...))`."""
    return render(decide_reply(message, settings, sender_opted_out=sender_opted_out))


# --- MessageLog record fields ---

DIRECTION_INBOUND = "inbound"
DIRECTION_OUTBOUND = "outbound"
STATUS_RECEIVED = "received"


def inbound_fields(
    message: InboundMessage,
    received_at: datetime,
    *,
    idempotency_token: str | None = None,
) -> dict[str, Any]:
    """The MessageLog properties of an inbound message (record id = its MessageSid)."""
    fields: dict[str, Any] = {
        "Sid": message.sid,
        "Direction": DIRECTION_INBOUND,
        "From": message.from_,
        "To": message.to,
        "Body": message.body,
        "NumMedia": len(message.media),
        "MediaUrlsJson": json.dumps(message.media_urls),
        "MediaContentTypesJson": json.dumps([kind for _, kind in message.media]),
        "ReceivedAt": received_at,
        "Status": STATUS_RECEIVED,
    }
    keyword = message.keyword
    if keyword is not None:
        fields["Keyword"] = normalise_keyword(message.body)
        fields["KeywordKind"] = keyword.value
    if message.num_segments is not None:
        fields["NumSegments"] = message.num_segments
    if message.messaging_service_sid:
        fields["MessagingServiceSid"] = message.messaging_service_sid
    if idempotency_token:
        fields["IdempotencyToken"] = idempotency_token
    return fields


def outbound_fields(
    *,
    sid: str | None,
    to: str,
    from_: str | None,
    body: str | None,
    media: Sequence[str] = (),
    source: str,
    status: str,
    sent_at: datetime | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """The MessageLog properties of an outbound message the app sent (or tried to send).

    `source` says which path sent it (`operator`, `schedule`, `cli`, `test`, ...).
    """
    media_urls = [url for url in media if url]
    fields: dict[str, Any] = {
        "Direction": DIRECTION_OUTBOUND,
        "To": to,
        "Body": body or "",
        "NumMedia": len(media_urls),
        "MediaUrlsJson": json.dumps(media_urls),
        "Source": source,
        "Status": status,
        "SentAt": sent_at or records.utcnow(),
    }
    if sid:
        fields["Sid"] = sid
    if from_:
        fields["From"] = from_
    if error_code is not None:
        fields["ErrorCode"] = error_code
    if error_message:
        fields["ErrorMessage"] = error_message
    return fields
