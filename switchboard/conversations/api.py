"""Conversation requests, without I/O: what a caller sent, checked, or 400 naming the field.

- `list_query(params)`: ``line`` (E.164), ``state`` (``open`` / ``done``), ``before`` (a page's
  ``nextBefore``, or an ISO-8601 instant: activity strictly before it), ``limit`` (1-100,
  default 20);
- `conversation_path(route_params)`: ``{line}`` and ``{customer}``, E.164 each;
- `events_query(params)`: ``before`` (the previous page's ``nextBefore``), ``limit`` (1-100,
  default 50);
- `reply_request(body)`: ``{"body", "mediaUrl"?, "key"?}`` (``key``: the caller's idempotency
  key: the same key again sends nothing twice);
- `change_request(body)`: ``{"state"?, "assignedTo"?, "read"?}``, at least one.

Unknown fields are refused (a typo would otherwise be silently ignored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard import records
from switchboard.conversations import rules
from switchboard.conversations.rules import Change, Cursor
from switchboard.fields import media_urls, optional_text
from switchboard.http import invalid, parse_limit, query_param
from switchboard.patterns import has_control
from switchboard.phone import is_e164
from switchboard.twilio.text import MAX_BODY_CHARS

REPLY_FIELDS = frozenset({"body", "mediaUrl", "key"})
CHANGE_FIELDS = frozenset({"state", "assignedTo", "read"})
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EVENT_CURSOR = re.compile(r"[0-9]{14,15}-[^/\\#?\x00-\x1f\x7f]{1,200}")
#: The longest name an assignment takes.
MAX_ASSIGNEE_CHARS = 100
_E164_WORDS = "must be an E.164 phone number such as +15017122661"
MAX_EVENTS = 100
DEFAULT_EVENTS = 50


@dataclass(frozen=True)
class ListQuery:
    """A listing: one line or all, one state or both, a cursor, a page size."""

    line: str | None = None
    state: str | None = None
    before: Cursor | None = None
    limit: int = rules.DEFAULT_LIMIT


@dataclass(frozen=True)
class ReplyRequest:
    """A text someone at the business sends a customer in a conversation."""

    body: str
    media: tuple[str, ...] = ()
    #: The caller's idempotency key (the same key again sends nothing twice).
    key: str | None = None


def _number(raw: str | None, name: str) -> str:
    value = raw or ""
    if value[:1] == " " and value[1:].strip().isdigit():
        # `?line=+1501...` with its + left unencoded arrives as a space: it was the +.
        value = "+" + value[1:].strip()
    value = value.strip()
    if not is_e164(value):
        raise invalid(name, _E164_WORDS)
    return value


def list_query(params: Mapping[str, str]) -> ListQuery:
    """The listing a request asks for (see the module doc)."""
    line = query_param(params, "line")
    state = query_param(params, "state")
    before = query_param(params, "before")
    if state is not None and state.strip() not in rules.STATES:
        raise invalid("state", "must be open or done")
    cursor = None
    if before is not None:
        cursor = rules.decode_cursor(before)
        if cursor is None:
            raise invalid(
                "before",
                "must be a page's nextBefore or an ISO-8601 instant such as 2026-12-01T09:00:00Z",
            )
    return ListQuery(
        line=_number(line, "line") if line is not None else None,
        state=state.strip() if state is not None else None,
        before=cursor,
        limit=parse_limit(params, default=rules.DEFAULT_LIMIT, maximum=rules.MAX_LIMIT),
    )


def conversation_path(route_params: Mapping[str, str]) -> tuple[str, str]:
    """(line, customer) of a conversation's route."""
    return (
        _number(route_params.get("line"), "line"),
        _number(route_params.get("customer"), "customer"),
    )


def events_query(params: Mapping[str, str]) -> tuple[int, str | None]:
    """(limit, before) of a conversation's page of events."""
    before = query_param(params, "before")
    if before is not None and (
        _EVENT_CURSOR.fullmatch(before) is None or not records.is_valid_key(before)
    ):
        raise invalid("before", "must be the nextBefore of the previous page")
    return parse_limit(params, default=DEFAULT_EVENTS, maximum=MAX_EVENTS), before


def _unknown(data: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    for name in sorted(data):
        if name not in known:
            fields = ", ".join(sorted(known))
            raise invalid(name, f"is not a field of {what} ({fields})", "unknown_field")


def reply_request(data: Mapping[str, Any]) -> ReplyRequest:
    """A reply: its text (or media alone), its media URLs, its idempotency key."""
    _unknown(data, REPLY_FIELDS, "a reply")
    media = media_urls(data, "mediaUrl")
    body = optional_text(data, "body", max_chars=MAX_BODY_CHARS) if "body" in data else None
    if body is None and not media:
        raise invalid("body", "is required (or mediaUrl)", "missing_field")
    key = data.get("key")
    if key is not None and (not isinstance(key, str) or _KEY.fullmatch(key) is None):
        raise invalid("key", "must be 1-64 letters, digits, - or _")
    return ReplyRequest(body or "", media, key)


def change_request(data: Mapping[str, Any]) -> Change:
    """A change of state, assignment or read mark."""
    _unknown(data, CHANGE_FIELDS, "a conversation's change")
    state = data.get("state")
    if "state" in data and state not in rules.STATES:
        raise invalid("state", "must be open or done")
    assigned = data.get("assignedTo", ...)
    if assigned is None:
        assigned = ""
    elif assigned is not ...:
        if (
            not isinstance(assigned, str)
            or not assigned.strip()
            or len(assigned) > MAX_ASSIGNEE_CHARS
            or has_control(assigned)
            or not assigned.isprintable()
        ):
            raise invalid(
                "assignedTo",
                f"must be a name of 1-{MAX_ASSIGNEE_CHARS} characters on one line, or null",
            )
        assigned = assigned.strip()
    read = data.get("read")
    if "read" in data and not isinstance(read, bool):
        raise invalid("read", "must be true or false")
    change = Change(
        state=state if isinstance(state, str) else None,
        assigned_to=assigned if isinstance(assigned, str) else None,
        read=read if isinstance(read, bool) else None,
    )
    if change.empty:
        raise invalid("state", "give state, assignedTo or read", "missing_field")
    return change
