"""Inbox users as the operator names them (pure): who they are, how they sign in, what they see.

An inbox user has a name, a phone number and/or an e-mail address (where sign-in codes go),
and a role: `owner` sees and changes everything, `staff` only the lines they are given (E.164
numbers). Validation answers `ApiError` 400 naming the field, as every JSON route does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from switchboard.http import ApiError, invalid
from switchboard.jsonroutes.auth import Role
from switchboard.patterns import MAX_EMAIL_ADDRESS, is_email_address
from switchboard.phone import is_e164
from switchboard.records import iso

MAX_NAME = 80
MAX_EMAIL = MAX_EMAIL_ADDRESS
MAX_LINES = 100
#: A user's id: `u` and 16 hex digits (random; never an address, so ids say nothing).
USER_ID = re.compile(r"u[0-9a-f]{16}")
_FIELDS = frozenset({"name", "phone", "email", "role", "lines"})


def new_user_id() -> str:
    """A fresh random user id."""
    return "u" + secrets.token_hex(8)


def normalise_email(raw: str) -> str:
    """An address as stored and compared: trimmed, lower case."""
    return raw.strip().lower()


def address_kind(raw: str) -> str | None:
    """`phone` for an E.164 number, `email` for an e-mail address, else None."""
    value = raw.strip()
    if is_e164(value):
        return "phone"
    if len(value) <= MAX_EMAIL and is_email_address(value):
        return "email"
    return None


@dataclass(frozen=True)
class InboxUser:
    """One inbox user as stored."""

    id: str
    name: str
    role: Role
    phone: str | None = None
    email: str | None = None
    lines: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sessions: tuple[Any, ...] = field(default=(), compare=False)

    def addresses(self) -> list[tuple[str, str]]:
        """(kind, address) for each way a code can reach the user."""
        found = [("phone", self.phone)] if self.phone else []
        return found + ([("email", self.email)] if self.email else [])


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("name", "must be a non-empty string")
    text = value.strip()
    if len(text) > MAX_NAME or not text.isprintable():
        raise invalid("name", f"must be at most {MAX_NAME} printable characters")
    return text


def _phone(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise invalid("phone", "must be an E.164 phone number such as +15017122661")
    return value.strip()


def _email(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or address_kind(value) != "email":
        raise invalid("email", "must be an e-mail address such as ana@example.com")
    return normalise_email(value)


def _role(value: Any) -> Role:
    if value not in (Role.OWNER.value, Role.STAFF.value):
        raise invalid("role", "must be owner or staff")
    return Role(value)


def _lines(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LINES:
        raise invalid("lines", f"must be a list of at most {MAX_LINES} E.164 numbers")
    for position, number in enumerate(value):
        if not isinstance(number, str) or not is_e164(number.strip()):
            raise invalid(f"lines/{position}", "must be an E.164 phone number", "invalid_field")
    return tuple(dict.fromkeys(n.strip() for n in value))


def parse_user(data: Any, *, current: InboxUser | None = None) -> InboxUser:
    """A new user (`current` None: `name` and `role` required) or `current` changed by the
    given fields. Raises `ApiError` 400 naming the field."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise invalid(
            unknown[0], "is not a field of an inbox user (name, phone, email, role, lines)"
        )
    if current is None:
        user = InboxUser(
            id=new_user_id(),
            name=_name(data.get("name")),
            role=_role(data.get("role")),
            phone=_phone(data.get("phone")),
            email=_email(data.get("email")),
            lines=_lines(data.get("lines")),
        )
    else:
        changes: dict[str, Any] = {}
        if "name" in data:
            changes["name"] = _name(data["name"])
        if "role" in data:
            changes["role"] = _role(data["role"])
        if "phone" in data:
            changes["phone"] = _phone(data["phone"])
        if "email" in data:
            changes["email"] = _email(data["email"])
        if "lines" in data:
            changes["lines"] = _lines(data["lines"])
        user = replace(current, **changes)
    if not user.phone and not user.email:
        raise invalid("phone", "an inbox user needs a phone number or an e-mail address (or both)")
    if user.role is Role.OWNER:
        user = replace(user, lines=())
    return user


def user_json(user: InboxUser, *, live_sessions: int | None = None) -> dict[str, Any]:
    """A user as the APIs answer it (never a session or a code)."""
    body: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "role": user.role.value,
        "phone": user.phone,
        "email": user.email,
        "lines": list(user.lines),
        "createdAt": iso(user.created_at) if user.created_at else None,
        "updatedAt": iso(user.updated_at) if user.updated_at else None,
    }
    if live_sessions is not None:
        body["sessions"] = live_sessions
    return body


def visible_lines(user: InboxUser, numbers: Sequence[str]) -> list[str]:
    """Of `numbers`, those the user may see (all for the owner)."""
    if user.role is Role.OWNER:
        return list(numbers)
    allowed = set(user.lines)
    return [n for n in numbers if n in allowed]
