"""`GET /api/calls`: the listing query's errors, defaults and bounds (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.http import ApiError
from switchboard.logbook.listing import parse_history_query

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"until": "soon"}, "until"),
    ],
)
def test_list_query_errors_name_the_field(params: dict[str, str], field: str) -> None:
    # GET /api/calls pages with the operator API's one history query (as /api/messages does).
    with pytest.raises(ApiError) as caught:
        parse_history_query(params, NOW)
    assert (caught.value.status, caught.value.field) == (400, field)


def test_list_query_defaults_and_bounds() -> None:
    query = parse_history_query({}, NOW)
    assert (query.since, query.until, query.limit) == (NOW - timedelta(days=30), None, 50)
    assert parse_history_query({"limit": " 7 ", "code": "function-key"}, NOW).limit == 7
    since = parse_history_query({"since": "2026-11-20T10:00:00+05:00"}, NOW).since
    assert since == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    assert parse_history_query({"since": "2026-11-22T00:00:00"}, NOW).since.tzinfo is UTC
    # Year 1 is no error (nothing is that old): it is clamped, never an overflow (a 500).
    assert parse_history_query({"until": "0001-01-01T00:00:00Z"}, NOW).until == datetime(
        1970, 1, 1, tzinfo=UTC
    )
