"""The lines routes' requests and answers, without I/O (pure).

- ETags are the line's version, quoted (`"3"`): a PUT or DELETE names the version it read in
  `If-Match` (`*` for "whatever is there"); a stale one is 412, none on an existing line is 428.
- `POST /api/lines/{number}/override` takes `{"state": "open"|"closed", "until"?, "reason"?}`
  or `{"clear": true}`.
- A line's status, its history entries and the listing have the JSON shapes here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from switchboard.http import ApiError, invalid
from switchboard.http import Precondition as Precondition
from switchboard.http import etag as etag
from switchboard.http import parse_if_match as parse_if_match
from switchboard.lines import document
from switchboard.lines import hours as h
from switchboard.lines.model import Line
from switchboard.lines.store import StoredLine
from switchboard.phone import is_e164
from switchboard.records import iso

OVERRIDE_FIELDS = frozenset({"state", "until", "reason", "clear"})
MAX_REASON_CHARS = 200
DEFAULT_HISTORY_LIMIT = 20
MAX_HISTORY_LIMIT = 100
_CURSOR_PREFIX = "v1:"


def check_precondition(precondition: Precondition | None, current: StoredLine | None) -> None:
    """412 when the precondition does not hold; 428 when an existing line is changed blind."""
    live = current is not None and not current.deleted
    if precondition is None:
        if live:
            raise ApiError(
                428,
                "precondition_required",
                "this line exists: send If-Match with its ETag (GET it first), or If-Match: *",
                "If-Match",
            )
        return
    if precondition.any_version:
        if not live:
            raise ApiError(412, "precondition_failed", "If-Match: * but the line does not exist")
        return
    if current is None or current.version != precondition.version or current.deleted:
        raise ApiError(
            412,
            "precondition_failed",
            "the line was changed since that version: GET it again and retry",
            "If-Match",
        )


def require_number(raw: str) -> str:
    """The `{number}` of a route: E.164, or 400."""
    number = raw.strip()
    if not is_e164(number):
        raise invalid("number", "must be an E.164 phone number such as +15017122661")
    return number


@dataclass(frozen=True)
class OverrideRequest:
    """A parsed override request: set (state, until, reason) or clear."""

    clear: bool = False
    state: h.State | None = None
    until: datetime | None = None
    reason: str | None = None


def parse_override(data: Mapping[str, Any], now: datetime) -> OverrideRequest:
    """`{"state", "until"?, "reason"?}` or `{"clear": true}`; 400 naming the field."""
    unknown = sorted(set(data) - OVERRIDE_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a field of an override")
    if "clear" in data:
        if data["clear"] is not True or len(data) > 1:
            raise invalid("clear", 'must be true, alone: {"clear": true}')
        return OverrideRequest(clear=True)
    state = data.get("state")
    if state not in ("open", "closed"):
        raise invalid(
            "state", "must be open or closed", "missing_field" if state is None else "invalid_field"
        )
    until: datetime | None = None
    if "until" in data:
        raw = data["until"]
        if not isinstance(raw, str):
            raise invalid("until", "must be an ISO-8601 date and time with an offset")
        try:
            until = document.parse_instant(raw)
        except ValueError:
            raise invalid("until", "must be an ISO-8601 date and time with an offset") from None
        if until <= now:
            raise invalid("until", "must be in the future")
        if until > now + document.UNTIL_AHEAD:
            raise invalid("until", f"must be within {document.UNTIL_AHEAD.days // 366} years")
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise invalid("reason", f"must be text of at most {MAX_REASON_CHARS} characters")
    return OverrideRequest(state=h.State(state), until=until, reason=reason)


def apply_override(stored: Mapping[str, Any], request: OverrideRequest) -> dict[str, Any]:
    """The document with the override set or cleared (`document.validate` then fills in its
    `setAt`, and its `until` when the request has none)."""
    changed = {k: v for k, v in stored.items() if k != "override"}
    if request.clear:
        return changed
    override: dict[str, Any] = {"state": str(request.state)}
    if request.until is not None:
        override["until"] = request.until.isoformat()
    if request.reason:
        override["reason"] = request.reason
    changed["override"] = override
    if "timeZone" not in changed:
        changed["timeZone"] = "UTC"
    return changed


def _local(moment: datetime | None, line: Line) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(line.schedule.zone).isoformat(timespec="seconds")


def status_json(line: Line, status: h.LineStatus, now: datetime) -> dict[str, Any]:
    """`GET /api/lines/{number}/status`: the state now, why, and the next change."""
    body: dict[str, Any] = {
        "number": line.number,
        "line": "default" if line.is_default else "stored",
        "version": line.version,
        "name": line.name,
        "timeZone": line.time_zone or "UTC",
        "now": _local(now, line),
        "state": str(status.state),
        "reason": str(status.reason),
        "flow": line.flow_name(status.state, status.reason is h.Reason.HOLIDAY),
    }
    if status.holiday:
        body["holiday"] = status.holiday
    body["nextChange"] = (
        {"at": _local(status.next_change, line), "state": str(status.next_state)}
        if status.next_change is not None and status.next_state is not None
        else None
    )
    if status.override is not None:
        override = status.override
        body["override"] = {
            "state": str(override.state),
            "until": _local(override.until, line),
            "setAt": _local(override.set_at, line),
            "reason": override.reason,
        }
    return body


def unusable_json(stored: StoredLine) -> dict[str, Any]:
    """What the listing and the status say of a stored version that cannot be evaluated."""
    return {
        "version": stored.version,
        "message": "this version cannot be evaluated: its last good version or the default "
        "line answers (an error is logged); write the line again to replace it",
    }


def summary_json(stored: StoredLine, state: h.LineStatus | None) -> dict[str, Any]:
    """One line of `GET /api/lines`."""
    doc = stored.document or {}
    return {
        "number": stored.number,
        "name": doc.get("name"),
        "version": stored.version,
        "updatedAt": iso(stored.updated_at) if stored.updated_at else None,
        "state": str(state.state) if state else None,
        "reason": str(state.reason) if state else None,
    }


def history_json(stored: StoredLine) -> dict[str, Any]:
    """One entry of `GET /api/lines/{number}/history`."""
    return {
        "version": stored.version,
        "updatedAt": iso(stored.updated_at) if stored.updated_at else None,
        "change": stored.change,
        "deleted": stored.deleted,
        "document": stored.document,
    }


def encode_cursor(version: int) -> str:
    """The opaque cursor of a history page that ended at `version`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{version}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    """The version a cursor continues below; 400 when it is not ours."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, ValueError):
        raise invalid("cursor", "is not a cursor of this listing") from None
    digits = text[len(_CURSOR_PREFIX) :]
    if not text.startswith(_CURSOR_PREFIX) or not (digits.isascii() and digits.isdigit()):
        raise invalid("cursor", "is not a cursor of this listing")
    return int(digits)


def utc_now() -> datetime:
    """Now in UTC."""
    return datetime.now(UTC)
