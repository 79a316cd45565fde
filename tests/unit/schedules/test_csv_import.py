"""The CSV import's rules: header, ids, duplicates and lateness (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.schedules import csv_import

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def plan(text: str) -> csv_import.ImportPlan:
    return csv_import.plan_import(csv_import.read_csv_rows(text), DAY, NOW)


def test_header_problems_stop_the_whole_file() -> None:
    for text, message in (
        ("", "empty"),
        ("to,body,colour\n", "unknown column 'colour'"),
        ("to,body\n", "lacks column(s): sendAt"),
        ("to,body,sendAt,To\n", "twice"),
    ):
        with pytest.raises(csv_import.CsvHeaderError, match=re.escape(message)):
            list(csv_import.read_csv_rows(text))


def test_ids_duplicates_and_conflicts() -> None:
    found = plan(
        "To,Body,Send_At,id\n"
        "+15558675310,hi,2026-12-02T09:00:00Z,\n"
        "+15558675310,hi,2026-12-02T09:00:00Z,\n"  # the same row: imported once
        "+15558675311,a,2026-12-02T09:00:00Z,mine\n"
        "+15558675312,b,2026-12-02T09:00:00Z,mine\n"  # the same id, another message
        "\n"
        "+1555,c,2026-12-02T09:00:00Z,\n"
    )
    assert found.rows == 5
    assert [item.id for _, item in found.valid][1] == "mine"
    assert found.valid[0][1].id.startswith("csv-")
    assert found.duplicates == [(3, 2)]
    lines = dict(found.invalid)
    assert lines[5] == "id: mine is used on line 4 for another message"
    assert lines[7].startswith("to must be an E.164")


def test_late_rows_are_errors_only_when_not_imported_before() -> None:
    found = plan(
        "to,body,sendAt\n+15558675310,old,2026-11-01T09:00:00Z\n+15558675310,older,2026-10-01T09:00:00Z\n"
    )
    assert [line for line, _, _ in found.late] == [2, 3]
    assert csv_import.settle_late(found, [True, False]) == 1
    assert found.invalid == [(3, csv_import.LATE)]
