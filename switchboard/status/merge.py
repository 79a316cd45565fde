"""Status words of messages and calls, their order, and the merge of a status callback (pure).

Twilio delivers status callbacks late, more than once and out of order, and two of them may be
applied at the same moment by two instances. So a record's status is never "the last callback
received" but the highest status seen in an explicit total order:

- messages: accepted < scheduled < queued < sending < sent < delivered < read < undelivered
  < failed < canceled;
- calls: queued < initiated < ringing < in-progress < completed < canceled < no-answer < busy
  < failed.

The states from `delivered` (messages) and `completed` (calls) on are terminal: a record never
moves back from them to an earlier state. Within the terminal tier the order is a fixed
precedence, used only when contradictory final reports arrive (Twilio's real sequences contain
one final state, plus `read` after `delivered`): failures rank above successes so that the error
code a failure carries is never attached to a success status. A total order makes the merge
commutative, associative and idempotent, so any order and duplication of the same callbacks ends
in the same record (see `tests/unit/test_status.py`).

Other fields follow the same rule: a callback with a strictly higher status overwrites the fields
it carries; a callback at the same or a lower status only fills fields that are still missing. A
merge that changes nothing returns None, so duplicates write nothing.

Statuses the app sets itself (`received`, `rejected`, `dead-lettered`, ...) and statuses Twilio
may add in the future rank below every known one: Twilio's own report always wins over them, and
an unknown incoming status never moves a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

UNKNOWN_RANK = -1

#: Error code Twilio returns (REST) or reports (callback) when the recipient has opted out.
OPTED_OUT_ERROR_CODE = 21610


class Kind(StrEnum):
    """Which log a status belongs to."""

    MESSAGE = "message"
    CALL = "call"


MESSAGE_ORDER: tuple[str, ...] = (
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "canceled",
)
CALL_ORDER: tuple[str, ...] = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "canceled",
    "no-answer",
    "busy",
    "failed",
)
MESSAGE_TERMINAL = frozenset(MESSAGE_ORDER[MESSAGE_ORDER.index("delivered") :])
CALL_TERMINAL = frozenset(CALL_ORDER[CALL_ORDER.index("completed") :])

_RANKS: dict[Kind, dict[str, int]] = {
    Kind.MESSAGE: {status: rank for rank, status in enumerate(MESSAGE_ORDER)},
    Kind.CALL: {status: rank for rank, status in enumerate(CALL_ORDER)},
}
_TERMINAL: dict[Kind, frozenset[str]] = {Kind.MESSAGE: MESSAGE_TERMINAL, Kind.CALL: CALL_TERMINAL}

# Callback parameter -> (record property, type). Twilio sends everything as strings.
_MESSAGE_FIELDS: dict[str, tuple[str, type]] = {
    "ErrorCode": ("ErrorCode", int),
    "ErrorMessage": ("ErrorMessage", str),
    "NumSegments": ("NumSegments", int),
    "Price": ("Price", str),
    "PriceUnit": ("PriceUnit", str),
}
_CALL_FIELDS: dict[str, tuple[str, type]] = {
    "ErrorCode": ("ErrorCode", int),
    "ErrorMessage": ("ErrorMessage", str),
    "CallDuration": ("CallDuration", int),
    "Duration": ("Duration", int),
    "AnsweredBy": ("AnsweredBy", str),
    "SipResponseCode": ("SipResponseCode", int),
    "Price": ("Price", str),
    "PriceUnit": ("PriceUnit", str),
}
# Kept only when a callback creates a record the app did not know (Unknown=True).
_IDENTITY_FIELDS = ("From", "To", "Direction", "AccountSid", "MessagingServiceSid")


def rank(kind: Kind, status: str | None) -> int:
    """Position of `status` in the kind's order; UNKNOWN_RANK for absent or unknown words."""
    if not status:
        return UNKNOWN_RANK
    return _RANKS[kind].get(status.strip().lower(), UNKNOWN_RANK)


def is_known(kind: Kind, status: str | None) -> bool:
    """Whether `status` is one of Twilio's status words for this kind."""
    return rank(kind, status) != UNKNOWN_RANK


def is_terminal(kind: Kind, status: str | None) -> bool:
    """Whether `status` is final for this kind (no earlier state can follow it)."""
    return (status or "").strip().lower() in _TERMINAL[kind]


def next_state(kind: Kind, current: str | None, incoming: str | None) -> str | None:
    """The status a record moves to when `incoming` is reported, or None to stay at `current`.

    It moves only forward in the order above; an unknown incoming word never moves it.
    """
    incoming_rank = rank(kind, incoming)
    if incoming_rank == UNKNOWN_RANK or incoming_rank <= rank(kind, current):
        return None
    return (incoming or "").strip().lower()


@dataclass(frozen=True)
class StatusUpdate:
    """One status callback, parsed: the SID, the reported status and the fields it carries."""

    kind: Kind
    sid: str
    status: str
    fields: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> int | None:
        """Twilio's error code, when the callback carried one."""
        code = self.fields.get("ErrorCode")
        return code if isinstance(code, int) else None

    @property
    def to(self) -> str | None:
        """The recipient (`To`) the callback names, if any."""
        return self.identity.get("To") or None


class CallbackError(ValueError):
    """A status callback without the parameters every callback has (its SID and status)."""


#: Longest text kept from a callback field: Twilio's are short, and a Table Storage property
#: holds at most 64 KiB (a longer value would make the whole write fail).
MAX_FIELD_CHARS = 1024
_INT32 = range(-(2**31), 2**31)


def _typed(raw: str, kind: type) -> Any:
    value = raw.strip()
    if not value:
        return None
    if kind is int:
        try:
            number = int(value)
        except ValueError:
            return None  # a malformed number is dropped rather than stored as text
        # Table Storage stores Python ints as Int32: a larger one would fail the write.
        return number if number in _INT32 else None
    return value[:MAX_FIELD_CHARS]


def parse_callback(kind: Kind, params: Mapping[str, str]) -> StatusUpdate:
    """A StatusUpdate from Twilio's form parameters; CallbackError when SID or status is missing."""
    if kind is Kind.MESSAGE:
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        mapping = _MESSAGE_FIELDS
    else:
        sid = params.get("CallSid") or ""
        status = params.get("CallStatus") or ""
        mapping = _CALL_FIELDS
    sid, status = sid.strip(), status.strip().lower()[:MAX_FIELD_CHARS]
    if not sid or not status:
        missing = "SID" if not sid else "status"
        raise CallbackError(f"{kind.value} status callback without its {missing}")
    fields: dict[str, Any] = {}
    for param, (prop, typ) in mapping.items():
        raw = params.get(param)
        if raw is not None:
            value = _typed(raw, typ)
            if value is not None:
                fields[prop] = value
    identity = {
        name: params[name].strip()[:MAX_FIELD_CHARS]
        for name in _IDENTITY_FIELDS
        if params.get(name)
    }
    return StatusUpdate(kind=kind, sid=sid, status=status, fields=fields, identity=identity)


def _missing(value: Any) -> bool:
    return value is None or value == ""


def merge(current: Mapping[str, Any] | None, update: StatusUpdate) -> dict[str, Any] | None:
    """The properties to write for `update` on `current` (None: nothing changes).

    This is the change function `RecordStore.update` applies under ETag concurrency. For an
    absent record it returns a whole new record marked `Unknown=True` with what the callback
    says (SID, status, numbers, fields).
    """
    if current is None:
        record: dict[str, Any] = {
            "Sid": update.sid,
            "Status": update.status,
            "Unknown": True,
            **update.identity,
            **update.fields,
        }
        return record
    changes: dict[str, Any] = {}
    moved = next_state(update.kind, current.get("Status"), update.status)
    if moved is not None:
        changes["Status"] = moved
    for prop, value in update.fields.items():
        # A higher status overwrites what it carries; anything else only fills gaps.
        if (moved is not None or _missing(current.get(prop))) and current.get(prop) != value:
            changes[prop] = value
    if _missing(current.get("Sid")):
        changes["Sid"] = update.sid
    return changes or None


def apply(current: Mapping[str, Any] | None, update: StatusUpdate) -> dict[str, Any]:
    """`current` with `update` merged in (pure; for tests and callers that hold the record)."""
    changes = merge(current, update)
    return {**(current or {}), **(changes or {})}


def status_callback_url(base_url: str, kind: Kind, record_id: str | None = None) -> str:
    """The StatusCallback URL for something the app places: `/api/status/<kind>?id=<record id>`.

    Twilio signs the URL with its query, so the `id` comes back verified and the callback finds
    the record even before the SID is stored with it.
    """
    url = f"{base_url.rstrip('/')}/api/status/{kind.value}"
    if record_id:
        url += "?id=" + quote(record_id, safe="")
    return url
