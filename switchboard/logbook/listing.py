"""Listing CallLog and MessageLog newest first, a page at a time (`GET /api/messages`,
`GET /api/calls`, and the command line): the query, its window, the cursor and the page.

Records are listed through their index rows (`switchboard.records`): one partition per UTC day,
newest first within a day, read by `RecordStore.list_recent`. A request reads at most
`MAX_WINDOW_DAYS` days; an older `since` is reached by following `nextCursor`, so no request can
ask for a year of scans. Everything here is pure except `list_history`, which reads the store it
is given.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError

from switchboard import records
from switchboard.http import (
    invalid,
    parse_datetime,
    parse_limit,
    query_param,
    storage_unavailable,
)
from switchboard.logbook.store import ConcurrencyError, RecordStore
from switchboard.logs import get_logger

logger = get_logger(__name__)

#: `since` defaults to this far back.
DEFAULT_SINCE = timedelta(days=30)
#: One request reads at most this many days of the history index (one partition per day).
MAX_WINDOW_DAYS = 31
#: Storage failures that mean "try again later" rather than "your request is wrong".
STORAGE_ERRORS: tuple[type[BaseException], ...] = (AzureError, ConcurrencyError)

# Index RowKeys (`records.index_row`): inverted milliseconds (14+ digits), a hyphen, the id.
_INDEX_ROW = re.compile(r"([0-9]{14,16})-(.+)", re.DOTALL)
_CURSOR_PREFIX = "v1:"
# The index row of the epoch holds the inversion constant: inverted ms + real ms = this.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INVERSION = int(records.index_row(_EPOCH, "").split("-", 1)[0])


def encode_cursor(index_row: str) -> str:
    """The opaque `nextCursor` for a listing that continues after an index row."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + index_row).encode("utf-8")).decode("ascii")


def decode_cursor(raw: str) -> str:
    """The index row a cursor from `encode_cursor` holds, or 400 naming `cursor`."""
    try:
        text = base64.urlsafe_b64decode(raw.strip().encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid("cursor", "is not a cursor this API returned") from None
    row = text.removeprefix(_CURSOR_PREFIX)
    if (
        not text.startswith(_CURSOR_PREFIX)
        or not _INDEX_ROW.fullmatch(row)
        or not records.is_valid_key(row)
    ):
        raise invalid("cursor", "is not a cursor this API returned")
    try:
        index_row_time(row)
    except (ValueError, OverflowError):
        raise invalid("cursor", "is not a cursor this API returned") from None
    return row


def index_row_time(row: str) -> datetime:
    """The creation time (ms) an index RowKey encodes."""
    match = _INDEX_ROW.fullmatch(row)
    if match is None:
        raise ValueError("not an index row")
    ms = _INVERSION - int(match.group(1))
    if not 0 <= ms <= _INVERSION:
        raise ValueError("index row time out of range")
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class HistoryQuery:
    """`GET /api/messages`: since, until, limit, and the cursor of the previous page."""

    since: datetime
    limit: int
    until: datetime | None = None
    after: str | None = None


def parse_history_query(params: Mapping[str, str], now: datetime) -> HistoryQuery:
    """since (ISO-8601, default 30 days before until), until (default now), limit (1..100),
    cursor (a `nextCursor`)."""
    raw_until = query_param(params, "until")
    # Nothing was recorded before 1970; clamping keeps date arithmetic far from year 1.
    until = max(parse_datetime(raw_until, "until"), _EPOCH) if raw_until else None
    raw_since = query_param(params, "since")
    if raw_since:
        since = parse_datetime(raw_since, "since")
    else:
        since = min(until or now, now) - DEFAULT_SINCE
    since = max(since, _EPOCH)
    limit = parse_limit(params)
    raw_cursor = query_param(params, "cursor")
    after = decode_cursor(raw_cursor) if raw_cursor else None
    return HistoryQuery(since=since, limit=limit, until=until, after=after)


@dataclass(frozen=True)
class HistoryWindow:
    """What one listing request reads: records created in [since, until] after `after`.

    `older` is the cursor to continue below `since` when the window was cut short of the
    caller's `since` (MAX_WINDOW_DAYS), whatever this page finds.
    """

    since: datetime
    until: datetime
    after: str | None
    older: str | None


def plan_window(query: HistoryQuery, now: datetime) -> HistoryWindow | None:
    """The window of one listing request, or None when nothing can match (cursor below since)."""
    until = min(query.until or now, now)
    if query.after:
        until = min(until, index_row_time(query.after))
    if until < query.since:
        return None
    first_day = until.astimezone(UTC).date() - timedelta(days=MAX_WINDOW_DAYS - 1)
    window_start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    if query.since >= window_start:
        return HistoryWindow(query.since, until, query.after, None)
    # "~" sorts after any id made of printable ASCII: the next page starts below window_start.
    return HistoryWindow(window_start, until, query.after, records.index_row(window_start, "~"))


def history_page(
    entities: Sequence[Mapping[str, Any]],
    query: HistoryQuery,
    window: HistoryWindow | None,
    key: str = "messages",
) -> dict[str, Any]:
    """`{key: [...], "nextCursor", "since", "limit"}` from up to limit+1 records read newest
    first in `window` (None: nothing could match)."""
    limit = query.limit
    items = list(entities[:limit])
    cursor: str | None = None
    if len(entities) > limit:
        last = items[-1]
        created = last.get("CreatedAt")
        if isinstance(created, datetime):
            cursor = encode_cursor(records.index_row(created, str(last["Id"])))
    elif window is not None and window.older is not None:
        cursor = encode_cursor(window.older)
    return {
        key: [records.to_json(dict(e)) for e in items],
        "nextCursor": cursor,
        "since": records.iso(query.since),
        "limit": limit,
    }


def list_history(
    store: RecordStore,
    query: HistoryQuery,
    now: datetime | None = None,
    key: str = "messages",
) -> dict[str, Any]:
    """A page of records newest first: `{key: [...], "nextCursor", ...}` (`history_page`).

    The one listing of the operator API: `GET /api/messages` and `GET /api/calls` both page
    through it.
    """
    now = now or records.utcnow()
    window = plan_window(query, now)
    if window is None:
        return history_page([], query, None, key)
    try:
        # One more than asked: it tells whether another page exists without a second request.
        entities = store.list_recent(
            window.since, query.limit + 1, window.until, after=window.after
        )
    except STORAGE_ERRORS as exc:
        raise storage_unavailable(exc) from None
    return history_page(entities, query, window, key)
