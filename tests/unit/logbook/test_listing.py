"""Listing CallLog and MessageLog (pure): limit, since, cursor, window and page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard import records
from switchboard.http import ApiError, parse_limit
from switchboard.logbook import listing

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def error_of(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("1", 1), (" 100 ", 100)])
def test_limit_accepts_1_to_100(raw: str | None, expected: int) -> None:
    params = {} if raw is None else {"limit": raw}
    assert parse_limit(params) == expected


@pytest.mark.parametrize("raw", ["", " ", "0", "101", "-1", "1.5", "ten", "٣", "1e2", "9" * 30])
def test_limit_out_of_range_is_400_naming_limit(raw: str) -> None:
    error = error_of(parse_limit, {"limit": raw})
    assert (error.status, error.field) == (400, "limit")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01T09:00:00Z", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T09:00:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_since_is_iso_8601_in_utc(raw: str, expected: datetime) -> None:
    assert listing.parse_history_query({"since": raw}, NOW).since == expected


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2026-13-01", "01/11/2026", "0001-01-01T00:00:00+01:00", "2026-11-01T25:00"],
)
def test_bad_since_is_400_naming_since(raw: str) -> None:
    error = error_of(listing.parse_history_query, {"since": raw}, NOW)
    assert (error.status, error.field) == (400, "since")


def test_history_defaults_and_clamps() -> None:
    query = listing.parse_history_query({}, NOW)
    assert query == listing.HistoryQuery(since=NOW - timedelta(days=30), limit=50)
    ancient = listing.parse_history_query({"since": "0001-01-01T00:00:00Z"}, NOW)
    assert ancient.since == datetime(1970, 1, 1, tzinfo=UTC)


def test_cursor_round_trip_and_tampering() -> None:
    row = records.index_row(NOW, "SM0123")
    cursor = listing.encode_cursor(row)
    assert listing.parse_history_query({"cursor": cursor}, NOW).after == row
    assert listing.index_row_time(row) == NOW
    for bad in ["nope", "!!!", cursor[:-1], listing.encode_cursor("12-x")]:
        error = error_of(listing.parse_history_query, {"cursor": bad}, NOW)
        assert (error.status, error.field) == (400, "cursor")


def test_window_within_31_days_reads_it_all() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=3), limit=10)
    window = listing.plan_window(query, NOW)
    assert window == listing.HistoryWindow(query.since, NOW, None, None)


def test_older_since_is_reached_page_by_page() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=100), limit=10)
    window = listing.plan_window(query, NOW)
    assert window is not None
    start = datetime(2026, 10, 24, tzinfo=UTC)  # 31 days including today
    assert (window.since, window.until) == (start, NOW)
    assert window.older is not None
    # An empty page still says where to continue; the next window ends where this one began.
    page = listing.history_page([], query, window)
    assert page["messages"] == []
    following = listing.parse_history_query(
        {"since": records.iso(query.since), "cursor": page["nextCursor"]}, NOW
    )
    next_window = listing.plan_window(following, NOW)
    assert next_window is not None
    assert next_window.until == start
    assert next_window.since == datetime(2026, 9, 24, tzinfo=UTC)


def test_cursor_older_than_since_matches_nothing() -> None:
    after = records.index_row(NOW - timedelta(days=10), "x")
    query = listing.HistoryQuery(since=NOW - timedelta(days=5), limit=10, after=after)
    assert listing.plan_window(query, NOW) is None


def entity(record_id: str, created: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": record_id,
        "RowKey": "record",
        "Id": record_id,
        "Status": "sent",
        "CreatedAt": created,
        "UpdatedAt": created,
    }


def test_history_page_has_a_cursor_only_when_more_exist() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=1), limit=2)
    window = listing.plan_window(query, NOW)
    found = [entity(f"SM{i}", NOW - timedelta(minutes=i)) for i in range(3)]
    page = listing.history_page(found, query, window)
    assert [m["id"] for m in page["messages"]] == ["SM0", "SM1"]
    assert page["messages"][0]["createdAt"] == "2026-11-23T12:00:00.000Z"
    assert page["since"] == "2026-11-22T12:00:00.000Z"
    assert page["limit"] == 2
    after = listing.decode_cursor(page["nextCursor"])
    assert after == records.index_row(NOW - timedelta(minutes=1), "SM1")
    assert listing.history_page(found[:2], query, window)["nextCursor"] is None
