"""A status callback, parsed, and its merge into the record (pure).

The order of status words is `switchboard.logbook.statuses`: a record's status only moves
forward in it. Other fields follow the same rule: a callback with a strictly higher status
overwrites the fields it carries; a callback at the same or a lower status only fills fields
that are still missing. A merge that changes nothing returns None, so duplicates write nothing.
The order being total makes the merge commutative, associative and idempotent, so any order and
duplication of the same callbacks ends in the same record (see `tests/unit/status`). A message
callback whose `ErrorCode` means the text was not registered or was filtered also carries
`Problem`, its plain words (`switchboard.outbound.problems.problem_of`), merged like the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.logbook.statuses import Kind, next_state
from switchboard.outbound.problems import problem_of

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
    if len(sid) > MAX_FIELD_CHARS:
        # Twilio's SIDs are 34 characters; a longer one would be written whole into the
        # record's `Sid` and fail the write at Table Storage's 64 KiB property limit.
        raise CallbackError(f"{kind.value} status callback with a SID longer than any Twilio SID")
    fields: dict[str, Any] = {}
    for param, (prop, typ) in mapping.items():
        raw = params.get(param)
        if raw is not None:
            value = _typed(raw, typ)
            if value is not None:
                fields[prop] = value
    problem = problem_of(fields.get("ErrorCode")) if kind is Kind.MESSAGE else None
    if problem is not None:
        fields["Problem"] = problem  # "not registered (A2P 10DLC)": the record says why
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
