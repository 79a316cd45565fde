"""Scheduling SMS in bulk from a CSV file: reading the rows and planning the import, and the rows
of an export (pure).

`python -m switchboard sms import FILE` (in `switchboard.schedules.commands`) reads the file,
asks `plan_import` what it holds, then writes. Each row is checked like
`POST /api/sms/schedules` and gets its id here: its `id` column, else `csv-` and a hash of what
the row asks (`NewSchedule.fingerprint`), so importing the same file again creates nothing twice.
Within a file, a row repeating an earlier one is a duplicate (imported once) and an id used for
two different messages is an error; so is a recipient the outbound policy refuses (a country
`OUTBOUND_ALLOWED_COUNTRIES` leaves out, a premium-rate number, one of our own numbers). A row further in the past than `SMS_MAX_LATENESS` is late:
an error unless it was imported before (the command asks storage), since a schedule that exists
already is no error.

A reminder's `replies` cell is ``C=confirmed;X=cancelled`` (each reply ``KEY=meaning``, ``;``
between them; the app's answer for each meaning), or the JSON object `POST /api/sms/schedules`
takes when a reply needs its own answer (``{"C": {"means": "confirmed", "answer": "See you!"}}``,
quoted as CSV quotes a cell holding commas and quotes); `replyUntil` is ISO-8601 with an offset
(`switchboard.schedules.replies`).

`export_rows` are the lines of `python -m switchboard schedules export`: each schedule as
`EXPORT_COLUMNS` (its reply and when it came among them).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from switchboard.outbound import wording
from switchboard.schedules import replies as reply_rules
from switchboard.schedules import rules as schedules

#: CSV columns (header names compared without case, spaces, `_` and `-`).
CSV_COLUMNS = {
    "id": "id",
    "to": "to",
    "body": "body",
    "sendat": "sendAt",
    "timezone": "timeZone",
    "recurrence": "recurrence",
    "replies": "replies",
    "replyuntil": "replyUntil",
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
                "recurrence, replies, replyUntil)"
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


def replies_cell(text: str) -> dict[str, Any]:
    """A `replies` cell as the object `POST /api/sms/schedules` takes; ScheduleInputError
    naming the reply (``/replies/C``) when it cannot be read."""
    try:
        return reply_rules.as_json(reply_rules.parse_cell(text))
    except reply_rules.RepliesError as exc:
        raise schedules.ScheduleInputError(exc.field, exc.message) from None


def row_id(row: CsvRow, schedule: schedules.NewSchedule) -> str:
    """The row's schedule id: its `id` column, else `csv-` + the request's fingerprint."""
    explicit = row.data.get("id")
    if explicit:
        return schedules.validate_id(explicit.strip())
    return "csv-" + schedule.fingerprint()[:40]


def plan_import(
    rows: Iterator[CsvRow],
    max_lateness: timedelta,
    now: datetime,
    refused: Callable[[str], str | None] = lambda to: None,
) -> ImportPlan:
    """Validate every row like POST /api/sms/schedules and give it its id (module docstring).
    `refused(to)` says why the outbound policy refuses a recipient (None: it does not)."""
    plan = ImportPlan()
    seen: dict[str, tuple[int, str]] = {}
    for row in rows:
        plan.rows += 1
        if "_error" in row.data:
            plan.invalid.append((row.line, row.data["_error"]))
            continue
        data: dict[str, Any] = {k: v for k, v in row.data.items() if k != "id"}
        try:
            if "replies" in data:
                data["replies"] = replies_cell(data["replies"])
            # Lateness is checked below: a late row that was imported before is not an error.
            schedule = schedules.parse_new_schedule(
                data, now=now, max_lateness=timedelta.max, new_id=lambda: "csv-pending"
            )
            schedule = dataclasses.replace(schedule, id=row_id(row, schedule))
        except schedules.ScheduleInputError as exc:
            plan.invalid.append((row.line, describe(exc)))
            continue
        problem = refused(schedule.to)
        if problem is not None:
            plan.invalid.append((row.line, f"to: {problem}"))
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


#: The columns of `schedules export`: what a schedule is (the import's columns), then how it went.
EXPORT_COLUMNS = (
    "id",
    "to",
    "body",
    "sendAt",
    "timeZone",
    "recurrence",
    "replies",
    "replyUntil",
    "status",
    "sentAt",
    "response",
    "respondedAt",
)


def _replies_text(shown: object) -> str:
    """A schedule's `replies` (as the API shows them, each with its answer) as the cell the
    import reads: the short form when every answer is the app's own for its meaning."""
    if not isinstance(shown, dict) or not shown:
        return ""
    choices = [
        dataclasses.replace(c, answer=None) if c.answer == wording.reminder_answer(c.means) else c
        for c in reply_rules.from_stored(json.dumps(shown))
    ]
    return reply_rules.cell_text(choices)


def export_rows(views: Iterable[dict[str, Any]]) -> str:
    """The CSV text of schedules (`ScheduleStore.of_days` views): a header, then one line each."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for view in views:
        cells = {**view, "replies": _replies_text(view.get("replies"))}
        writer.writerow(
            ["" if cells.get(name) is None else str(cells[name]) for name in EXPORT_COLUMNS]
        )
    return out.getvalue()
