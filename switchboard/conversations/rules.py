"""A conversation's state, how events and changes move it, and the keys that list it (pure).

A conversation is the pair (line, customer number). Its events (every text in or out, every
call) are rows of its partition in MessageLog (`switchboard.outbound.messagelog`: one range
read gives a page of them, newest first). Its state is one row of the `Conversations` table:

- `state`: ``open`` or ``done``; a new event from the customer (a text, a missed call, a
  voicemail) opens a done conversation again; the business's own texts do not;
- `unread`: the customer's events since someone at the business read it (a reply reads it);
- `lastAt`, `preview`, `lastDirection`, `lastKind`: the latest activity (an event's time,
  never moving back: a call's event is stamped with the call's start);
- `assignedTo`: who at the business has it (optional);
- `tag`: a short name, unique on the line and stable for ever (``A7``), for the relay;
- `lastStaffAt`: when someone at the business last answered (the relay's per-texter window
  does not apply to a conversation answered within a day);
- the ids of its latest events, so that an event recorded twice (a webhook Twilio retries)
  counts once.

**One partition for the business.** Every row of every line lives in one partition of the
table (PartitionKey ``account``), its RowKey prefixed by the line (``<line>|``). Azure's target
for one partition is 2,000 entities a second and a text's conversation writes about six in one
transaction: a few hundred texts a second, where a small business gets a few a minute. And one
partition lets any write of any line be one transaction with the rows every line shares (the
account's change marker, below).

**Listing in proportion to the page.** Beside the state row, each conversation has one row of
its line's *activity index*, keyed by its state and its last activity, newest first:

    RowKey = ``<line>|o-<inverted ms>-<customer>`` (open) / ``<line>|d-...`` (done)

carrying the summary a list shows. An event moves it: the state row (under its ETag), the old
index row's delete and the new one's insert are one transaction, so the index never holds a
stale row and never misses one. A page of a line's open conversations is one range read of
``<line>|o-``; any state merges the two ranges; every line merges the lines' ranges (the lines
that have conversations: one row each, ``line|<line>``, which also holds the line's tag
counter). Each range is read in pages of about its share of the page, so a page reads about
`limit` entities plus a few per range, whatever the history holds (`page_size`).

The cursor (`before`) is the last row's sort key and line, so paging across merged ranges is
exact; an ISO-8601 instant works too (activity strictly before it).

**What changed, in one read.** Every transaction also replaces, unconditionally, its line's
*change marker* (``changed|<line>``) and the account's (``changed``), at no extra round trip:
a marker's ETag moves whenever anything a list of its line (or of any line) shows moves. A view
that polls (the inbox) keeps one marker's ETag as its validator (`view_marker_key`): a view of
one line its line's, a view of more than one line (the owner's every line, a staff user's
lines) the account's, so a poll that finds nothing new reads one marker whatever the number of
lines, and no conversation. What ends or narrows someone's sessions moves the markers too
(`ConversationStore.touch_markers`), so a poll answered from an instance's memory of a session
misses its validator and checks the session again.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard import records

OPEN = "open"
DONE = "done"
STATES = (OPEN, DONE)
KIND_TEXT = "text"
KIND_CALL = "call"
INBOUND = "inbound"
OUTBOUND = "outbound"

#: The one partition of every row (see "One partition for the business").
PARTITION = "account"
#: Ends a line's prefix of its rows' keys (a line's number never holds it).
LINE_END = "|"
STATE_ROW_PREFIX = "c-"
TAG_ROW_PREFIX = "t-"
RELAY_ROW_PREFIX = "r-"
#: A line's row (its tag counter, `NextTag`): one per line that has conversations.
LINE_ROW_PREFIX = "line|"
#: The account's change marker, and each line's (see "What changed, in one read").
ACCOUNT_MARKER = "changed"
LINE_MARKER_PREFIX = "changed|"
ACTIVITY_PREFIXES = {OPEN: "o-", DONE: "d-"}
#: The first RowKey after each state's range (``.`` follows ``-``).
ACTIVITY_ENDS = {OPEN: "o.", DONE: "d."}
#: The first RowKey after a family of rows (``}`` follows ``|``).
_FAMILY_END = "}"
#: Characters of the latest event kept for lists.
PREVIEW_CHARS = 160
#: Event ids a state row remembers (a retry comes within minutes, a few events apart at most).
RECENT_EVENTS = 16
#: A conversation someone at the business answered within this is relayed in full.
ANSWERED_WINDOW = timedelta(hours=24)
MAX_LIMIT = 100
DEFAULT_LIMIT = 20

#: Tags: a letter (no I or O, which read as 1 and 0) and a number: A1 ... Z1, A2, ...
TAG_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TAG = re.compile(r"#?\s*([A-Za-z])\s*([0-9]{1,7})")
_SUFFIX = re.compile(r"[0-9]{14,15}-[^/\\#?\x00-\x1f\x7f]{1,64}")
_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: A cursor's line: a line's number (E.164), or none.
_LINE = re.compile(r"(\+[1-9][0-9]{1,14})?")
_MAX_MS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


def tag_for(sequence: int) -> str:
    """The tag of the line's `sequence`-th conversation (0: ``A1``, 23: ``Z1``, 24: ``A2``)."""
    letter = TAG_LETTERS[sequence % len(TAG_LETTERS)]
    return f"{letter}{sequence // len(TAG_LETTERS) + 1}"


def parse_tag(text: str) -> str | None:
    """A tag as written (``#a7``, ``A7``, ``# A 7``), upper case; None when it is not one."""
    found = _TAG.fullmatch(text.strip())
    if found is None:
        return None
    letter, number = found.group(1).upper(), int(found.group(2))
    return f"{letter}{number}" if letter in TAG_LETTERS and number > 0 else None


# --------------------------------------------------------------------------------------------
# Events and state


@dataclass(frozen=True)
class Event:
    """One event of a conversation, as its state sees it."""

    id: str
    at: datetime
    kind: str
    direction: str
    summary: str
    #: The customer did something (a text, a missed call, a voicemail): unread, reopens.
    from_customer: bool = False
    #: Someone at the business answered (a reply): read, and the relay's window lifts.
    by_staff: bool = False


@dataclass(frozen=True)
class Conversation:
    """A conversation's state (see the module doc)."""

    line: str
    customer: str
    tag: str
    state: str = OPEN
    unread: int = 0
    last_at: datetime | None = None
    preview: str = ""
    last_direction: str = ""
    last_kind: str = ""
    assigned_to: str | None = None
    created_at: datetime | None = None
    last_staff_at: datetime | None = None
    last_customer_at: datetime | None = None
    read_at: datetime | None = None
    recent: tuple[str, ...] = ()

    @property
    def activity_key(self) -> str:
        """Its row of the activity index (RowKey)."""
        return activity_key(self.line, self.state, self.last_at, self.customer)

    def answered_since(self, now: datetime, window: timedelta = ANSWERED_WINDOW) -> bool:
        """Whether someone at the business answered it within `window` of `now`."""
        return self.last_staff_at is not None and now - self.last_staff_at < window


def preview_of(text: str) -> str:
    """An event's text as a list shows it: one line, at most `PREVIEW_CHARS`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def new_conversation(line: str, customer: str, tag: str, now: datetime) -> Conversation:
    """A conversation before its first event."""
    return Conversation(line, customer, tag, created_at=now)


def apply_event(conversation: Conversation, event: Event) -> Conversation | None:
    """The state after `event`; None when the event was applied already (a retry)."""
    if event.id in conversation.recent:
        return None
    moved = conversation.last_at is None or event.at >= conversation.last_at
    changed = replace(conversation, recent=(*conversation.recent, event.id)[-RECENT_EVENTS:])
    if moved:
        changed = replace(
            changed,
            last_at=event.at,
            preview=preview_of(event.summary),
            last_direction=event.direction,
            last_kind=event.kind,
        )
    if event.from_customer:
        changed = replace(
            changed,
            unread=changed.unread + 1,
            state=OPEN,
            last_customer_at=_latest(changed.last_customer_at, event.at),
        )
    if event.by_staff:
        changed = replace(
            changed,
            unread=0,
            read_at=_latest(changed.read_at, event.at),
            last_staff_at=_latest(changed.last_staff_at, event.at),
        )
    return changed


def _latest(current: datetime | None, moment: datetime) -> datetime:
    return moment if current is None or moment > current else current


@dataclass(frozen=True)
class Change:
    """What `PATCH` (and `done`) change: each field None leaves it as it is; `assigned_to` ""
    unassigns."""

    state: str | None = None
    assigned_to: str | None = None
    read: bool | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing is asked."""
        return self.state is None and self.assigned_to is None and self.read is None


def apply_change(conversation: Conversation, change: Change, now: datetime) -> Conversation:
    """The state after a change someone at the business made."""
    changed = conversation
    if change.state is not None:
        changed = replace(changed, state=change.state)
    if change.assigned_to is not None:
        changed = replace(changed, assigned_to=change.assigned_to or None)
    if change.read is True:
        changed = replace(changed, unread=0, read_at=now)
    elif change.read is False:
        changed = replace(changed, unread=max(1, changed.unread))
    return changed


# --------------------------------------------------------------------------------------------
# Keys and rows


def inverted_ms(moment: datetime) -> int:
    """Milliseconds until 9999-12-31: a key part that sorts newest first."""
    return _MAX_MS - int(moment.timestamp() * 1000)


def sort_suffix(last_at: datetime | None, customer: str) -> str:
    """The part of an activity key that orders the list: newest first, then by customer (no
    activity yet: last)."""
    inverted = _MAX_MS if last_at is None else inverted_ms(last_at)
    return f"{inverted:014d}-{customer}"


def line_prefix(line: str) -> str:
    """What starts the RowKey of every row of `line`."""
    return line + LINE_END


def line_of(row_key: str) -> str:
    """The line of a row keyed by `line_prefix` ("" for a row of no line)."""
    line, end, _ = row_key.partition(LINE_END)
    return line if end and line.startswith("+") else ""


def activity_key(line: str, state: str, last_at: datetime | None, customer: str) -> str:
    """The RowKey of a conversation's row of the activity index."""
    return line_prefix(line) + ACTIVITY_PREFIXES[state] + sort_suffix(last_at, customer)


def state_key(line: str, customer: str) -> str:
    """The RowKey of a conversation's state row."""
    return line_prefix(line) + STATE_ROW_PREFIX + customer


def tag_key(line: str, tag: str) -> str:
    """The RowKey of a tag's row (tag → customer)."""
    return line_prefix(line) + TAG_ROW_PREFIX + tag


def relay_key(line: str, person: str) -> str:
    """The RowKey of a relay person's pointer (the conversation last relayed to them)."""
    return line_prefix(line) + RELAY_ROW_PREFIX + person


def line_key(line: str) -> str:
    """The RowKey of the line's row (its tag counter; it lists the line among those with
    conversations)."""
    return LINE_ROW_PREFIX + line


def line_marker_key(line: str) -> str:
    """The RowKey of the line's change marker."""
    return LINE_MARKER_PREFIX + line


def view_marker_key(lines: Iterable[str]) -> str:
    """The marker whose ETag moves with everything a view of `lines` shows: one line's own,
    the account's for more than one line (or none: whatever it would show moves it too)."""
    wanted = set(lines)
    return line_marker_key(wanted.pop()) if len(wanted) == 1 else ACCOUNT_MARKER


def family_bounds(prefix: str) -> tuple[str, str]:
    """(low, high) of the RowKeys of a family of rows (`LINE_ROW_PREFIX`,
    `LINE_MARKER_PREFIX`): one range read lists them."""
    return prefix, prefix[: -len(LINE_END)] + _FAMILY_END


def marker_rows(lines: Iterable[str], at: datetime) -> list[dict[str, Any]]:
    """The account's change marker and each of `lines`' as a write replaces them (their
    ETags are what matter)."""
    keys = [ACCOUNT_MARKER, *(line_marker_key(line) for line in sorted(set(lines)))]
    return [{"PartitionKey": PARTITION, "RowKey": key, "At": at} for key in keys]


def keyable(line: str, customer: str) -> bool:
    """Whether (line, customer) can key a conversation's rows."""
    return (
        bool(line and customer)
        and LINE_END not in line
        and all(
            records.is_valid_key(k)
            for k in (state_key(line, customer), activity_key(line, OPEN, None, customer))
        )
    )


_SUMMARY_PROPERTIES = {
    "Customer": "customer",
    "Tag": "tag",
    "State": "state",
    "Unread": "unread",
    "LastAt": "last_at",
    "Preview": "preview",
    "LastDirection": "last_direction",
    "LastKind": "last_kind",
    "AssignedTo": "assigned_to",
}
_STATE_PROPERTIES = {
    **_SUMMARY_PROPERTIES,
    "CreatedAt": "created_at",
    "LastStaffAt": "last_staff_at",
    "LastCustomerAt": "last_customer_at",
    "ReadAt": "read_at",
}


def _properties(conversation: Conversation, names: Mapping[str, str]) -> dict[str, Any]:
    found = {prop: getattr(conversation, attr) for prop, attr in names.items()}
    # Table Storage keeps no nulls: an absent property is None.
    return {k: ("" if v is None else v) for k, v in found.items()}


def state_row(conversation: Conversation) -> dict[str, Any]:
    """The conversation's state row (its key, its summary, `ActivityKey`, `Recent`)."""
    return {
        "PartitionKey": PARTITION,
        "RowKey": state_key(conversation.line, conversation.customer),
        **_properties(conversation, _STATE_PROPERTIES),
        "ActivityKey": conversation.activity_key,
        "Recent": " ".join(conversation.recent),
    }


def index_row(conversation: Conversation) -> dict[str, Any]:
    """The conversation's row of the activity index (the summary a list shows)."""
    return {
        "PartitionKey": PARTITION,
        "RowKey": conversation.activity_key,
        **_properties(conversation, _SUMMARY_PROPERTIES),
    }


def _moment(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


def from_row(entity: Mapping[str, Any], line: str | None = None) -> Conversation:
    """A conversation from its state row or its index row (`line`: its line, else the one
    its RowKey names)."""
    state = _text(entity.get("State"))
    return Conversation(
        line=line or line_of(_text(entity.get("RowKey"))),
        customer=_text(entity.get("Customer")),
        tag=_text(entity.get("Tag")),
        state=state if state in STATES else OPEN,
        unread=max(0, int(entity.get("Unread") or 0)),
        last_at=_moment(entity.get("LastAt")),
        preview=_text(entity.get("Preview")),
        last_direction=_text(entity.get("LastDirection")),
        last_kind=_text(entity.get("LastKind")),
        assigned_to=_text(entity.get("AssignedTo")) or None,
        created_at=_moment(entity.get("CreatedAt")),
        last_staff_at=_moment(entity.get("LastStaffAt")),
        last_customer_at=_moment(entity.get("LastCustomerAt")),
        read_at=_moment(entity.get("ReadAt")),
        recent=tuple(_text(entity.get("Recent")).split()),
    )


# --------------------------------------------------------------------------------------------
# Listing


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's sort suffix and line (rows after it come next)."""

    suffix: str
    line: str = ""

    def encode(self) -> str:
        """The cursor as an opaque URL-safe token."""
        raw = f"{self.suffix}|{self.line}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def admits(self, suffix: str, line: str) -> bool:
        """Whether a row sorts after the cursor."""
        return (suffix, line) > (self.suffix, self.line)


def cursor_before(moment: datetime) -> Cursor:
    """A cursor admitting only activity strictly before `moment` (``~`` sorts after every
    number, so every conversation of that millisecond is behind it)."""
    return Cursor(f"{inverted_ms(moment):014d}-~")


def decode_cursor(raw: str) -> Cursor | None:
    """A cursor from `before`: a token of `Cursor.encode`, or an ISO-8601 instant with an
    offset; None when it is neither."""
    text = raw.strip()
    if _ISO_START.fullmatch(text[:10]):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None or not 1970 <= moment.year <= 9998:
            return None
        return cursor_before(moment)
    try:
        # Excess padding is ignored: two pad any token the encoder stripped.
        decoded = base64.urlsafe_b64decode(text + "==").decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    # A line never holds `|`, a customer might (a sender's name): split at the last one.
    suffix, bar, line = decoded.rpartition("|")
    if not bar or _SUFFIX.fullmatch(suffix) is None or _LINE.fullmatch(line) is None:
        return None
    return Cursor(suffix, line)


def page_size(limit: int, ranges: int) -> int:
    """Rows to read per request of each range merged into a page of `limit`: about its share
    of the page (one range: the whole page and one more, to know whether another follows)."""
    if ranges <= 1:
        return limit + 1
    return max(2, math.ceil((limit + 1) / ranges) + 1)


def range_bounds(line: str, state: str, cursor: Cursor | None) -> tuple[str, str]:
    """(low, high) of the RowKeys of one state's range of a line's index (low inclusive)."""
    prefix = line_prefix(line) + ACTIVITY_PREFIXES[state]
    low = prefix + cursor.suffix if cursor is not None else prefix
    return low, line_prefix(line) + ACTIVITY_ENDS[state]


def suffix_of(row_key: str) -> str:
    """The sort suffix of an activity RowKey."""
    return row_key.partition(LINE_END)[2][2:]


def is_activity_key(row_key: str) -> bool:
    """Whether a RowKey is one of the activity index's."""
    _, end, rest = row_key.partition(LINE_END)
    return bool(end) and rest[:2] in ACTIVITY_PREFIXES.values()


def states_of(state: str | None) -> tuple[str, ...]:
    """The states a listing reads (None: both)."""
    return STATES if state is None else (state,)


def visible_lines(
    known: Iterable[str], allowed: Iterable[str] | None, line: str | None
) -> list[str]:
    """The lines a listing reads: the one asked for, else every line with conversations;
    only those in `allowed` (None: every line)."""
    wanted = [line] if line else sorted(set(known))
    if allowed is None:
        return wanted
    permitted = set(allowed)
    return [n for n in wanted if n in permitted]
