"""The CSV import's rules: header, ids, duplicates and lateness (pure)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from switchboard.outbound import wording
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


def test_rows_the_outbound_policy_refuses_are_errors_naming_the_rule() -> None:
    text = "to,body,sendAt\n+15558675310,home,2026-12-02T09:00:00Z\n+998901234567,abroad,2026-12-02T09:00:00Z\n"
    found = csv_import.plan_import(
        csv_import.read_csv_rows(text),
        timedelta(hours=24),
        NOW,
        lambda to: (
            "is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow"
            if to.startswith("+998")
            else None
        ),
    )
    assert [item.to for _, item in found.valid] == ["+15558675310"]
    assert found.invalid == [(3, "to: is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow")]


def test_a_replies_column_takes_pairs_or_json_and_names_bad_cells() -> None:
    found = plan(
        "to,body,sendAt,replies,replyUntil\n"
        "+15558675310,Tomorrow 9am. C to confirm,2026-12-02T09:00:00Z,C=confirmed;X=cancelled,\n"
        '+15558675311,Tomorrow 10am,2026-12-02T10:00:00Z,"{""Y"": {""means"": ""confirmed"", '
        '""answer"": ""See you, then.""}}",2026-12-02T12:00:00Z\n'
        "+15558675312,Tomorrow 11am,2026-12-02T11:00:00Z,STOP=cancelled,\n"
        "+15558675313,Tomorrow noon,2026-12-02T12:00:00Z,C,\n"
        "+15558675314,Tomorrow 1pm,2026-12-02T13:00:00Z,,2026-12-02T18:00:00Z\n"
    )
    (_, first), (_, second) = found.valid
    assert [(c.key, c.means, c.notify) for c in first.replies] == [
        ("C", "confirmed", False),
        ("X", "cancelled", True),
    ]
    assert first.reply_until is None
    assert second.replies[0].answer == "See you, then."
    assert second.reply_until == datetime(2026, 12, 2, 12, tzinfo=UTC)
    lines = dict(found.invalid)
    assert lines[4].startswith("/replies/STOP: STOP is a word carriers reserve")
    assert lines[5].startswith("replies: 'C' is not KEY=meaning")
    assert lines[6] == "replyUntil needs replies"


def test_an_export_lists_each_schedule_with_its_reply() -> None:
    views = [
        {
            "id": "appt-42",
            "to": "+15558675310",
            "body": 'Tomorrow, 9am. "C" to confirm',
            "sendAt": "2026-12-02T09:00:00.000Z",
            "status": "sent",
            "sentAt": "2026-12-02T09:00:01.000Z",
            "replies": {
                "C": {"means": "confirmed", "answer": wording.reminder_answer("confirmed")},
                "X": {
                    "means": "cancelled",
                    "answer": wording.reminder_answer("cancelled"),
                    "notify": True,
                },
            },
            "replyUntil": "2026-12-04T05:00:00.000Z",
            "response": "confirmed",
            "respondedAt": "2026-12-02T09:14:02.000Z",
        },
        {
            "id": "appt-43",
            "to": "+15558675311",
            "body": "Own words",
            "sendAt": "2026-12-02T10:00:00.000Z",
            "status": "pending",
            "replies": {"Y": {"means": "confirmed", "answer": "See you!", "notify": False}},
        },
        {
            "id": "plain",
            "to": "+15558675312",
            "body": "Hi",
            "sendAt": "2026-12-02T11:00:00.000Z",
            "status": "sent",
        },
    ]
    text = csv_import.export_rows(views)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(csv_import.EXPORT_COLUMNS)
    assert rows[1] == [
        "appt-42",
        "+15558675310",
        'Tomorrow, 9am. "C" to confirm',
        "2026-12-02T09:00:00.000Z",
        "",
        "",
        "C=confirmed;X=cancelled",
        "2026-12-04T05:00:00.000Z",
        "sent",
        "2026-12-02T09:00:01.000Z",
        "confirmed",
        "2026-12-02T09:14:02.000Z",
    ]
    assert json.loads(rows[2][6]) == {
        "Y": {"means": "confirmed", "answer": "See you!", "notify": False}
    }
    assert rows[3][6] == ""
    assert rows[3][8] == "sent"
    # The export's first columns are the import's: an edited export imports again.
    out = io.StringIO()
    csv.writer(out).writerows(row[:8] for row in rows[:3])
    again = plan(out.getvalue().replace(".000Z", "Z").replace("2026-12-02T", "2026-12-03T"))
    assert [item.id for _, item in again.valid] == ["appt-42", "appt-43"]
    assert [c.key for c in again.valid[0][1].replies] == ["C", "X"]
    assert again.valid[1][1].replies[0].answer == "See you!"


def test_the_readmes_csv_of_reminders_imports_as_it_says() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```csv\n(.*?)```", readme, re.S)
    assert found is not None
    imported = csv_import.plan_import(csv_import.read_csv_rows(found.group(1)), DAY, NOW - DAY)
    assert imported.invalid == []
    (_, confirm), (_, custom) = imported.valid
    assert [(c.key, c.means, c.notify) for c in confirm.replies] == [
        ("C", "confirmed", False),
        ("X", "cancelled", True),
    ]
    assert [(c.key, c.answer) for c in custom.replies] == [("Y", "See you!"), ("N", None)]
