"""Opt-outs: who must not be texted, and the one check every outbound SMS path makes (pure).

An opt-out is kept per recipient number, for the whole business: a STOP sent to any of its
numbers stops texts from all of them (Twilio's own block is per sender number; the app is
stricter on purpose, since texting someone who said STOP is the expensive mistake).

How an opt-out is recorded (`How`):

- `keyword`: the person texted STOP (or another opt-out keyword, see `switchboard.sms.keywords`);
- `twilio-21610`: Twilio refused a send, or reported a message failed, with error 21610
  ("attempt to send to unsubscribed recipient"): Twilio already blocks them;
- `operator`: an operator recorded it (a request by phone, e-mail, ...).

START/YES/UNSTOP from the person removes the opt-out, whatever recorded it. The words
themselves are here (`OPT_OUT_KEYWORDS`, `OPT_IN_KEYWORDS`, `HELP_KEYWORDS`): the SMS webhook
reads a text as one of them, and anything else that gives a texted word a meaning (the replies a
reminder takes) must leave them alone, so that STOP always wins.

Every path that sends an SMS (the scheduled-SMS timer, `POST /api/messages`, the CLI) calls
`ensure_can_text(number, lookup)` right before sending. It raises `OptedOut` (a clear reason,
with the number masked) for an opted-out recipient, and `OptOutCheckFailed` when the opt-out list
cannot be read: the check fails closed, so an outage never lets a text through to someone who
said STOP. Treat `OptOutCheckFailed` as transient (retry later), `OptedOut` as final. A STOP this
instance received but could not write yet (`switchboard.optouts.journal`) counts as an opt-out
before storage is even asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from switchboard import records
from switchboard.optouts.journal import PENDING, Journal
from switchboard.phone import mask

ROW_KEY = "optout"

#: A text that is exactly one of these words (any case, spaces around) opts its sender out...
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
#: ...opts them back in...
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
#: ...or asks for help (Twilio answers these on long codes too).
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
#: Every word carriers and Twilio reserve: no other meaning may be given to them.
RESERVED_KEYWORDS = OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS


class How(StrEnum):
    """How an opt-out was recorded."""

    KEYWORD = "keyword"
    TWILIO_21610 = "twilio-21610"
    OPERATOR = "operator"


@dataclass(frozen=True)
class OptOutRecord:
    """One opted-out number."""

    number: str
    opted_out_at: datetime
    how: How | str
    keyword: str | None = None
    business_number: str | None = None
    message_sid: str | None = None

    def reason(self) -> str:
        """Why the number may not be texted, for errors and logs (number masked)."""
        if self.how == How.KEYWORD:
            cause = f"replied {self.keyword}" if self.keyword else "replied with an opt-out keyword"
        elif self.how == How.TWILIO_21610:
            cause = "Twilio reported error 21610 (unsubscribed recipient)"
        elif self.how == How.OPERATOR:
            cause = "an operator recorded the opt-out"
        else:
            cause = f"opted out ({self.how})"
        return f"{mask(self.number)} has opted out: {cause} on {records.iso(self.opted_out_at)}"


def to_entity(record: OptOutRecord) -> dict[str, Any]:
    """The OptOut table entity: PartitionKey = the number, RowKey = `optout`."""
    entity: dict[str, Any] = {
        "PartitionKey": record.number,
        "RowKey": ROW_KEY,
        "Number": record.number,
        "OptedOutAt": record.opted_out_at,
        "How": str(record.how),
    }
    if record.keyword:
        entity["Keyword"] = record.keyword
    if record.business_number:
        entity["BusinessNumber"] = record.business_number
    if record.message_sid:
        entity["MessageSid"] = record.message_sid
    return entity


def from_entity(entity: dict[str, Any]) -> OptOutRecord:
    """An OptOutRecord from its table entity."""
    raw_how = str(entity.get("How") or "")
    how: How | str = How(raw_how) if raw_how in {h.value for h in How} else raw_how
    at = entity.get("OptedOutAt")
    if not isinstance(at, datetime):
        at = entity.get("Timestamp") if isinstance(entity.get("Timestamp"), datetime) else None
    return OptOutRecord(
        number=str(entity.get("Number") or entity["PartitionKey"]),
        opted_out_at=at or records.utcnow(),
        how=how,
        keyword=entity.get("Keyword") or None,
        business_number=entity.get("BusinessNumber") or None,
        message_sid=entity.get("MessageSid") or None,
    )


def normalise_number(number: str) -> str:
    """The key form of a number: trimmed (E.164 as Twilio writes `From` and `To`)."""
    return number.strip()


class OptedOut(Exception):
    """The recipient has opted out: the SMS must not be sent. `record` says how and when."""

    def __init__(self, record: OptOutRecord) -> None:
        super().__init__(record.reason())
        self.record = record
        self.code = "opted_out"


class OptOutCheckFailed(RuntimeError):
    """The opt-out list could not be read: nothing may be sent now (transient; retry later)."""


class OptOutLookup(Protocol):
    """Anything that can tell whether a number opted out (`OptOutStore` does)."""

    def get(self, number: str) -> OptOutRecord | None:
        """The opt-out of `number`, or None."""
        ...


def ensure_can_text(number: str, lookup: OptOutLookup, pending: Journal = PENDING) -> None:
    """Raise OptedOut if `number` has opted out; OptOutCheckFailed if that cannot be known.

    The one check every outbound SMS path makes before sending. A STOP kept in `pending` (not
    written yet: storage was down) is an opt-out already; a pending START changes nothing here
    until it is written (the safe side).
    """
    key = normalise_number(number)
    change = pending.latest_for(key)
    if change is not None and change.opted_out:
        raise OptedOut(
            OptOutRecord(
                number=key,
                opted_out_at=change.at,
                how=How.KEYWORD,
                keyword=change.keyword,
                business_number=change.business_number,
                message_sid=change.message_sid,
            )
        )
    try:
        record = lookup.get(key)
    except Exception as exc:  # any storage failure: fail closed, never send blind
        raise OptOutCheckFailed(
            f"cannot check the opt-out list for {mask(number)}: {type(exc).__name__}"
        ) from exc
    if record is not None:
        raise OptedOut(record)
