"""Incoming SMS: the message Twilio posts and the keyword it is, if any (pure).

Keywords follow Twilio's default handling on long codes: the whole message body, trimmed of
surrounding whitespace and compared without regard to case, must be exactly one keyword. So
"stop" and "  Stop \\n" opt out, while "stopping", "stop please", "STOP." and "don't stop" do not
(Twilio would not block the number for those either; treating them as opt-outs would make the
app's record disagree with Twilio's).

- opt out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT;
- opt in: START, YES, UNSTOP;
- help: HELP, INFO.

The words live with the opt-outs (`switchboard.optouts.rules`), so that whatever else reads a
texted word (a reminder's replies) can refuse them.

What the app answers is `switchboard.sms.replies`; the MessageLog record, `switchboard.sms.log`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from switchboard.optouts.rules import HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS
from switchboard.twilio.text import MAX_MEDIA


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
