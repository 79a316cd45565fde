"""The loop guard's rules (pure): may an automatic text go out now, for this purpose?

Every automatic text has a purpose (`Purpose`) and a policy (`Policy`): at most `limit` texts per
`window` for one *subject*, the outsider whose text or call causes it (the sender of a text, a
caller), counted from the first text of the window (`Tally`). A forward's policy also has a
digest: when the limit is reached, one last text tells the recipient that further ones are only
logged. `rule` decides one text; it never does I/O.

Refused whatever the tally (nothing counted): a recipient that is one of the account's own
numbers (a forward to ourselves loops), a subject that is one of them (our own text coming
back), and a recipient that cannot usefully be texted (a short code: Twilio cannot text one,
error 21265; an alphanumeric sender ID: one-way). `address_kind` tells them apart (Twilio's
rules: alphanumeric sender IDs are 1-11 of letters, digits, space and `+ - _ &` with at least one
letter; short codes are 5-6 digits, 3-8 allowed here for other countries; channel addresses such
as `whatsapp:+1...` wrap a number). `is_echo` recognises a body that is one of our own automatic
texts (another bot answering us), which no automatic text answers either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from switchboard.phone import is_e164
from switchboard.settings import Settings


class Purpose(StrEnum):
    """What an automatic text is for (one tally each per subject)."""

    AUTO_REPLY = "auto-reply"
    HELP = "help"
    FORWARD = "forward"
    #: The texts and e-mails telling a line's people about a voicemail.
    VOICEMAIL = "voicemail"


@dataclass(frozen=True)
class Policy:
    """At most `limit` texts per `window` for one subject; then, with `digest`, one more text
    saying the rest is only logged."""

    limit: int
    window: timedelta
    digest: bool = False


#: A forward's window: the owner hears about at most SMS_FORWARD_DAILY_CAP texts per day.
FORWARD_WINDOW = timedelta(hours=24)


def policies(settings: Settings) -> dict[Purpose, Policy]:
    """The policy of each purpose from the settings (the guard cannot be turned off)."""
    window = settings.sms_auto_reply_window
    return {
        Purpose.AUTO_REPLY: Policy(1, window),
        Purpose.HELP: Policy(1, window),
        Purpose.FORWARD: Policy(settings.sms_forward_daily_cap, FORWARD_WINDOW, digest=True),
        # A caller leaving voicemail after voicemail cannot make the staff's phones buzz
        # without end: the same daily cap per caller as forwards (each voicemail stays in
        # CallLog with its recording).
        Purpose.VOICEMAIL: Policy(settings.sms_forward_daily_cap, FORWARD_WINDOW),
    }


@dataclass(frozen=True)
class Tally:
    """What the guard remembers of one subject and purpose (stored: `switchboard.guard.store`)."""

    #: When the current window started (the first text of the window); None: never.
    since: datetime | None = None
    #: Texts sent in the current window.
    count: int = 0
    #: Whether the window's digest was sent.
    digest_sent: bool = False
    #: Texts held back (not sent) in the current window.
    held: int = 0
    #: The SID of the message (or call) whose text was last allowed: its retry is allowed again.
    last_sid: str | None = None


class Verdict(StrEnum):
    """What to do with one automatic text."""

    SEND = "send"
    #: The limit is reached: send the digest instead of the text (once per window).
    DIGEST = "digest"
    #: Over the limit: not sent (counted in `held`).
    HOLD = "hold"
    #: Never sent to this recipient or for this subject (nothing counted).
    REFUSE = "refuse"


@dataclass(frozen=True)
class Ruling:
    """The verdict on one automatic text, why, and the tally to store."""

    verdict: Verdict
    reason: str
    #: The tally after this text (store it when it differs from the one given).
    tally: Tally
    #: When the current window ends (None when nothing is counted).
    window_ends: datetime | None = None
    #: On the first text of a new window: how many were held in the previous one, and since when.
    held_before: int = 0
    held_since: datetime | None = None

    @property
    def allowed(self) -> bool:
        """Whether something goes out (the text, or its digest)."""
        return self.verdict in (Verdict.SEND, Verdict.DIGEST)


class AddressKind(StrEnum):
    """What a `From` / `To` address is."""

    NUMBER = "number"
    CHANNEL = "channel"
    SHORT_CODE = "short-code"
    ALPHANUMERIC = "alphanumeric"
    OTHER = "other"


_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 +&_-]{1,11}")
_CHANNEL = re.compile(r"[a-z][a-z0-9-]*:(.+)")


@lru_cache(maxsize=4096)
def address_kind(address: str) -> AddressKind:
    """Whether `address` is an E.164 number, a channel address, a short code, an alphanumeric
    sender ID or something else (cached: phonenumbers' check costs ~90 µs, more than the rest
    of an SMS webhook's decision)."""
    value = address.strip()
    if is_e164(value):
        return AddressKind.NUMBER
    if _SHORT_CODE.fullmatch(value):
        return AddressKind.SHORT_CODE
    if _ALPHANUMERIC.fullmatch(value):
        return AddressKind.ALPHANUMERIC
    if _CHANNEL.fullmatch(value):
        return AddressKind.CHANNEL
    return AddressKind.OTHER


def bare_number(address: str) -> str:
    """The number an address stands for: `whatsapp:+1555...` → `+1555...` (else as given)."""
    value = address.strip()
    match = _CHANNEL.fullmatch(value)
    if match and address_kind(match.group(1)) is AddressKind.NUMBER:
        return match.group(1)
    return value


def is_reachable(address: str) -> bool:
    """Whether an automatic text can usefully go to `address`: a number, or a channel address
    wrapping one (never a short code, an alphanumeric sender ID or anything else)."""
    kind = address_kind(address)
    if kind is AddressKind.NUMBER:
        return True
    return kind is AddressKind.CHANNEL and address_kind(bare_number(address)) is AddressKind.NUMBER


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


#: The shape of the app's own forwards and digests: "From +15558675310: ...".
OWN_FORWARD = re.compile(r"^From \+\d{7,15}: ")


def is_echo(body: str, own_texts: Iterable[str | None]) -> bool:
    """Whether `body` is one of the app's own automatic texts coming back (compared without
    regard to case and spacing), or has the shape of its forwards and digests."""
    normal = _normal(body)
    if not normal:
        return False
    if OWN_FORWARD.match(body.strip()):
        return True
    return any(text and normal == _normal(text) for text in own_texts)


def rule(
    policy: Policy,
    tally: Tally,
    *,
    subject: str,
    recipient: str,
    own_numbers: frozenset[str],
    now: datetime,
    sid: str | None = None,
) -> Ruling:
    """The verdict on one automatic text to `recipient`, caused by `subject` (see module doc)."""
    if bare_number(recipient) in own_numbers:
        return Ruling(Verdict.REFUSE, "the recipient is one of our own numbers", tally)
    if bare_number(subject) in own_numbers:
        return Ruling(Verdict.REFUSE, "the text came from one of our own numbers", tally)
    if not is_reachable(recipient):
        return Ruling(
            Verdict.REFUSE, f"the recipient is a {address_kind(recipient).value} address", tally
        )
    if sid is not None and tally.last_sid == sid:
        # Twilio retrying the same message: answer it as the first time, count nothing.
        ends = tally.since + policy.window if tally.since else None
        return Ruling(Verdict.SEND, "a retry of the message already answered", tally, ends)
    if tally.since is None or now >= tally.since + policy.window:
        fresh = Tally(since=now, count=1, last_sid=sid)
        return Ruling(
            Verdict.SEND,
            "first in its window",
            fresh,
            now + policy.window,
            held_before=tally.held,
            held_since=tally.since if tally.held else None,
        )
    ends = tally.since + policy.window
    if tally.count < policy.limit:
        counted = replace(tally, count=tally.count + 1, last_sid=sid)
        return Ruling(
            Verdict.SEND, f"{counted.count} of {policy.limit} in its window", counted, ends
        )
    if policy.digest and not tally.digest_sent:
        digested = replace(tally, digest_sent=True, held=tally.held + 1)
        return Ruling(Verdict.DIGEST, f"limit of {policy.limit} reached", digested, ends)
    # Held texts are counted only where a later text reports them (a digest policy): the
    # others cost no write while the window lasts.
    return Ruling(
        Verdict.HOLD,
        f"over the limit of {policy.limit} until {ends:%Y-%m-%d %H:%M} UTC",
        replace(tally, held=tally.held + 1) if policy.digest else tally,
        ends,
    )


def rule_all(
    asked: Mapping[Purpose, str],
    tallies: Mapping[Purpose, Tally],
    policies_: Mapping[Purpose, Policy],
    *,
    subject: str,
    own_numbers: frozenset[str],
    now: datetime,
    sid: str | None = None,
) -> dict[Purpose, Ruling]:
    """`rule` for several texts caused by one subject (`asked`: purpose → recipient)."""
    return {
        purpose: rule(
            policies_[purpose],
            tallies.get(purpose, Tally()),
            subject=subject,
            recipient=recipient,
            own_numbers=own_numbers,
            now=now,
            sid=sid,
        )
        for purpose, recipient in asked.items()
    }
