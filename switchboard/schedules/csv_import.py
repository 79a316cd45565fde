"""Scheduling SMS in bulk from a CSV file: reading the rows and planning the import (pure).

`python -m switchboard sms import FILE` (in `switchboard.schedules.commands`) reads the file,
asks `plan_import` what it holds, then writes. Each row is checked like
`POST /api/sms/schedules` and gets its id here: its `id` column, else `csv-` and a hash of what
the row asks (`NewSchedule.fingerprint`), so importing the same file again creates nothing twice.
Within a file, a row repeating an earlier one is a duplicate (imported once) and an id used for
two different messages is an error. A row further in the past than `SMS_MAX_LATENESS` is late:
an error unless it was imported before (the command asks storage), since a schedule that exists
already is no error.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from switchboard.schedules import rules as schedules

#: CSV columns (header names compared without case, spaces, `_` and `-`).
CSV_COLUMNS = {
    "id": "id",
    "to": "to",
    "body": "body",
    "sendat": "sendAt",
    "timezone": "timeZone",
    "recurrence": "recurrence",
}
CSV_REQUIRED = ("to", "body", "sendAt")
LATE = "sendAt: further in the past than SMS_MAX_LATENESS allows"


class CsvHeaderError(ValueError):
    """The file cannot be imported at all (no header, unknown or missing columns)."""


@dataclass
class CsvRow:
    """One data row of an import file: its first line number and the request it makes."""

    line: int
    data: dict[str, str]


@dataclass
class ImportPlan:
    """What a file asks for: valid schedules (with their lines), late ones, bad rows,
    duplicates (line, first line)."""

    rows: int = 0
    valid: list[tuple[int, Any]] = field(default_factory=list)
    late: list[tuple[int, Any, str]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)


def describe(exc: Exception) -> str:
    """A schedule input error as `field: message` (the field once)."""
    field_name = getattr(exc, "field", None)
    message = str(getattr(exc, "message", None) or exc)
    if field_name and not message.startswith(field_name):
        return f"{field_name}: {message}"
    return message


def read_csv_rows(text: str) -> Iterator[CsvRow]:
    """Data rows with their first line number; blank lines skipped. CsvHeaderError for a bad
    header (unknown or missing columns)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvHeaderError("the file is empty: it needs a header row") from None
    except csv.Error as exc:
        raise CsvHeaderError(f"line 1: {exc}") from None
    names = []
    for raw in header:
        key = "".join(c for c in raw.strip().lower() if c not in " _-")
        if key not in CSV_COLUMNS:
            raise CsvHeaderError(
                f"unknown column {raw.strip()!r} (columns: id, to, body, sendAt, timeZone, "
                "recurrence)"
            )
        names.append(CSV_COLUMNS[key])
    missing = [name for name in CSV_REQUIRED if name not in names]
    if missing:
        raise CsvHeaderError("the header lacks column(s): " + ", ".join(missing))
    if len(set(names)) != len(names):
        raise CsvHeaderError("a column appears twice in the header")
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield CsvRow(start, {"_error": f"not valid CSV: {exc}"})
            return
        previous_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(names):
            yield CsvRow(start, {"_error": f"has {len(cells)} fields, the header has {len(names)}"})
            continue
        yield CsvRow(start, {n: c for n, c in zip(names, cells, strict=True) if c.strip()})


def row_id(row: CsvRow, schedule: schedules.NewSchedule) -> str:
    """The row's schedule id: its `id` column, else `csv-` + the request's fingerprint."""
    explicit = row.data.get("id")
    if explicit:
        return schedules.validate_id(explicit.strip())
    return "csv-" + schedule.fingerprint()[:40]


def plan_import(rows: Iterator[CsvRow], max_lateness: timedelta, now: datetime) -> ImportPlan:
    """Validate every row like POST /api/sms/schedules and give it its id (module docstring)."""
    plan = ImportPlan()
    seen: dict[str, tuple[int, str]] = {}
    for row in rows:
        plan.rows += 1
        if "_error" in row.data:
            plan.invalid.append((row.line, row.data["_error"]))
            continue
        data: dict[str, Any] = {k: v for k, v in row.data.items() if k != "id"}
        try:
            # Lateness is checked below: a late row that was imported before is not an error.
            schedule = schedules.parse_new_schedule(
                data, now=now, max_lateness=timedelta.max, new_id=lambda: "csv-pending"
            )
            schedule = dataclasses.replace(schedule, id=row_id(row, schedule))
        except schedules.ScheduleInputError as exc:
            plan.invalid.append((row.line, describe(exc)))
            continue
        earlier = seen.get(schedule.id)
        if earlier is not None:
            if earlier[1] == schedule.fingerprint():
                plan.duplicates.append((row.line, earlier[0]))
            else:
                plan.invalid.append(
                    (
                        row.line,
                        f"id: {schedule.id} is used on line {earlier[0]} for another message",
                    )
                )
            continue
        seen[schedule.id] = (row.line, schedule.fingerprint())
        if now - schedule.send_at > max_lateness:
            plan.late.append((row.line, schedule, LATE))
        else:
            plan.valid.append((row.line, schedule))
    return plan


def settle_late(plan: ImportPlan, imported_before: list[bool]) -> int:
    """Late rows imported before count as unchanged; the others become invalid. Returns how
    many were unchanged (`imported_before` answers for each of `plan.late`, in order)."""
    unchanged = 0
    for (line, _, reason), exists in zip(plan.late, imported_before, strict=True):
        if exists:
            unchanged += 1
        else:
            plan.invalid.append((line, reason))
    plan.invalid.sort()
    return unchanged
