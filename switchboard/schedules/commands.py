"""Scheduled SMS from a shell (click; not deployed, like the rest of the command line).

    python -m switchboard sms schedule --to +15558675310 --body "Reminder" --send-at 2026-12-01T09:00+01:00
        [--replies "C=confirmed;X=cancelled" [--reply-until 2026-12-01T18:00+01:00]]
    python -m switchboard sms import reminders.csv [--skip-invalid]
    python -m switchboard schedules list [--limit N] [--cursor C] [--json]
    python -m switchboard schedules list --from 2026-12-01 [--to 2026-12-07] [--json]
    python -m switchboard schedules export --from 2026-12-01 [--to 2026-12-07] [--output FILE]
    python -m switchboard schedules show ID
    python -m switchboard schedules cancel ID

The same rules and store as `POST|GET|DELETE /api/sms/schedules`; the CSV rules (ids, duplicates,
lateness) are `switchboard.schedules.csv_import`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from switchboard.commandline import (
    Context,
    InvalidInput,
    echo_json,
    pass_context,
    read_text_file,
    storage_failed,
    table,
    writing,
)
from switchboard.schedules import csv_import
from switchboard.settings import Settings

T = TypeVar("T")


def _with_store(settings: Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    """`use(store)` on the schedules table, opened for this command."""
    from switchboard.schedules.store import ScheduleStore, open_tables

    async def run() -> T:
        async with open_tables(settings) as opened:
            return await use(ScheduleStore(opened.schedules))

    return asyncio.run(run())


def refusal(settings: Settings) -> Callable[[str], str | None]:
    """Why the outbound policy refuses a recipient, as an operator reads it (None: it does
    not): the same rules as `POST /api/sms/schedules`, our own numbers resolved once."""
    from switchboard.outbound.destinations import explain
    from switchboard.outbound.service import Outbound

    destinations = Outbound(settings).destinations

    def refused(to: str) -> str | None:
        problem = destinations.problem(to)
        return None if problem is None else explain(problem, destinations.describe())

    return refused


async def create_schedules(
    settings: Settings,
    items: Sequence[Any],
    now: Any,
    *,
    concurrency: int = 16,
    on_done: Callable[[int, str, BaseException | None], None] | None = None,
) -> list[str]:
    """Create schedules (`schedules.NewSchedule`) concurrently; each one's result by position:
    `created`, `same` (the id exists with the same message), `conflict`, `error` (storage
    failed: the rest are then `not-attempted`, never half-written: each create is idempotent).

    `on_done(index, result, error)` is called as each one finishes (the progress bar).
    """
    from switchboard.schedules.store import ScheduleStore, open_tables

    results = ["not-attempted"] * len(items)
    stop = asyncio.Event()
    async with open_tables(settings) as opened:
        store = ScheduleStore(opened.schedules)
        limit = asyncio.Semaphore(concurrency)

        async def create(index: int) -> None:
            async with limit:
                if stop.is_set():
                    return
                error: BaseException | None = None
                try:
                    outcome, _ = await store.create(items[index], now)
                    results[index] = str(outcome.value)
                except Exception as exc:  # storage: stop starting new ones, report it
                    stop.set()
                    results[index], error = "error", exc
            if on_done is not None:
                on_done(index, results[index], error)

        await asyncio.gather(*(create(i) for i in range(len(items))))
    return results


# --- sms schedule / sms import -----------------------------------------------------------------


@click.command("schedule")
@click.option("--to", required=True, help="Recipient (E.164).")
@click.option("--body", required=True, help="The text.")
@click.option("--send-at", required=True, help="ISO-8601 with offset, e.g. 2026-12-01T09:00+01:00.")
@click.option("--id", "schedule_id", help="Idempotency key (default: generated).")
@click.option("--time-zone", help="The recipient's IANA time zone (quiet hours, recurrence).")
@click.option("--recurrence", help="A cron expression for repeats, e.g. '0 9 * * 1-5'.")
@click.option(
    "--replies",
    help='The replies it takes: "C=confirmed;X=cancelled", or the JSON object of the API.',
)
@click.option(
    "--reply-until",
    help="Replies taken until (ISO-8601 with offset; default: the end of the day after sending).",
)
@pass_context
def schedule_command(
    context: Context,
    to: str,
    body: str,
    send_at: str,
    schedule_id: str | None,
    time_zone: str | None,
    recurrence: str | None,
    replies: str | None,
    reply_until: str | None,
) -> None:
    """Schedule an SMS (like POST /api/sms/schedules; the same --id again changes nothing)."""
    from switchboard import records
    from switchboard.schedules import rules as schedules

    data: dict[str, Any] = {
        "id": schedule_id,
        "to": to,
        "body": body,
        "sendAt": send_at,
        "timeZone": time_zone,
        "recurrence": recurrence,
        "replyUntil": reply_until,
    }
    settings = context.settings
    try:
        if replies is not None:
            data["replies"] = csv_import.replies_cell(replies)
        schedule = schedules.parse_new_schedule(
            {k: v for k, v in data.items() if v is not None},
            now=records.utcnow(),
            max_lateness=settings.sms_max_lateness,
        )
    except schedules.ScheduleInputError as exc:
        raise click.UsageError(csv_import.describe(exc)) from None
    problem = refusal(settings)(schedule.to)
    if problem is not None:  # what the API refuses with a 400 naming `to`: exit 2, as a row
        raise click.UsageError(f"to: {problem}")
    try:
        results = asyncio.run(create_schedules(settings, [schedule], records.utcnow()))
    except Exception as exc:  # storage: the message says which kind, never a connection string
        storage_failed("could not store the schedule", exc)
    result = results[0]
    if result == "conflict":
        raise click.ClickException(
            f"schedule {schedule.id} already exists with a different message (not changed)"
        )
    verb = "Scheduled" if result == "created" else "Already scheduled (unchanged):"
    click.echo(f"{verb} {schedule.id} for {records.iso(schedule.send_at)}")


async def _existing(settings: Settings, items: Sequence[Any]) -> list[bool]:
    """Whether each schedule already exists with the same message (a late row imported
    earlier)."""
    from switchboard.schedules import rules as schedules
    from switchboard.schedules.store import ScheduleStore, open_tables

    async with open_tables(settings) as opened:
        store = ScheduleStore(opened.schedules)
        rows = await asyncio.gather(*(store.get(item.id, schedules.ID_ROW) for item in items))
    return [
        row is not None and row.get("Fingerprint") == item.fingerprint()
        for row, item in zip(rows, items, strict=True)
    ]


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows even when some rows are invalid (they are listed).",
)
@click.option(
    "--concurrency",
    default=16,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Schedules written to storage at once.",
)
@pass_context
def import_command(context: Context, csv_file: Path, skip_invalid: bool, concurrency: int) -> None:
    """Schedule SMS in bulk from a CSV file (columns: to, body, sendAt[, id, timeZone,
    recurrence, replies, replyUntil]; replies as C=confirmed;X=cancelled).

    Every row is checked first; invalid rows are listed with their line numbers and, unless
    --skip-invalid, nothing is imported. Each row's id is its `id` column, else a hash of the
    row, so running the same file again creates nothing twice.
    """
    from switchboard import records

    text = read_text_file(csv_file, "a CSV file")
    settings = context.settings
    now = records.utcnow()
    try:
        plan = csv_import.plan_import(
            csv_import.read_csv_rows(text), settings.sms_max_lateness, now, refusal(settings)
        )
    except csv_import.CsvHeaderError as exc:
        raise click.UsageError(str(exc)) from None
    unchanged = 0
    if plan.late:
        try:
            known = asyncio.run(_existing(settings, [item for _, item, _ in plan.late]))
        except Exception as exc:  # storage down: nothing was written yet
            storage_failed("could not read the schedules", exc, "; nothing was imported")
        unchanged = csv_import.settle_late(plan, known)
    click.echo(
        f"Read {plan.rows} rows from {csv_file.name}: {len(plan.valid) + unchanged} valid, "
        f"{len(plan.invalid)} invalid"
        + (f", {len(plan.duplicates)} duplicates" if plan.duplicates else "")
        + "."
    )
    for line, reason in plan.invalid:
        click.echo(f"  line {line}: {reason}")
    for line, first in plan.duplicates:
        click.echo(f"  line {line}: the same schedule as line {first} (imported once)")
    if plan.invalid and not skip_invalid:
        raise InvalidInput(
            [
                "nothing was imported: fix the rows above and run the command again, or pass "
                f"--skip-invalid to import the {len(plan.valid) + unchanged} valid rows"
            ]
        )

    items = [item for _, item in plan.valid]
    failure: list[BaseException] = []
    with click.progressbar(length=len(items), label="Importing", file=sys.stderr) as bar:

        def done(_: int, __: str, error: BaseException | None) -> None:
            bar.update(1)
            if error is not None:
                failure.append(error)

        try:
            results = asyncio.run(
                create_schedules(settings, items, now, concurrency=concurrency, on_done=done)
            )
        except Exception as exc:  # opening the table failed: nothing was written
            storage_failed("could not open the schedules table", exc, "; nothing was imported")

    created = results.count("created")
    unchanged += results.count("same")
    conflicts = [plan.valid[i][0] for i, r in enumerate(results) if r == "conflict"]
    not_done = sum(1 for r in results if r in {"error", "not-attempted"})
    for line in conflicts:
        click.echo(f"  line {line}: id already used by a different schedule (not changed)")
    summary = f"{created} created, {unchanged} already there (unchanged)"
    if conflicts:
        summary += f", {len(conflicts)} conflicting ids"
    if plan.invalid:
        summary += f", {len(plan.invalid)} invalid rows skipped"
    if failure:
        raise click.ClickException(
            f"stopped by a storage error ({type(failure[0]).__name__}): {summary}; "
            f"{not_done} rows were NOT imported. Run the same command again to finish: rows "
            "already imported are recognised and not created twice"
        )
    click.echo(f"Imported {csv_file.name}: {summary}.")
    if conflicts:
        raise click.ClickException(f"{len(conflicts)} rows were not imported (conflicting ids)")


# --- schedules list / show / cancel -------------------------------------------------------------


@click.group("schedules")
def schedules_group() -> None:
    """Scheduled SMS: the pending ones, one by id, cancel."""


@schedules_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--cursor", help="The cursor the previous page printed.")
@click.option(
    "--from",
    "first",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Instead: the schedules sent (or due) on this UTC day, with their responses.",
)
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="With --from: the last day.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_command(
    context: Context,
    limit: int,
    cursor: str | None,
    first: datetime | None,
    last: datetime | None,
    as_json: bool,
) -> None:
    """The schedules still to send, soonest first (like GET /api/sms/schedules); with --from,
    those of some days, finished or not, with the replies they got."""
    from switchboard.schedules import rules as schedules

    if first is not None or last is not None:
        views = _of_days(context.settings, first, last)
        if as_json:
            echo_json({"items": views})
            return
        _print_days(views)
        return
    try:
        after = schedules.decode_list_cursor(cursor) if cursor else None
    except schedules.ScheduleInputError as exc:
        raise click.BadParameter(exc.message, param_hint="--cursor") from None
    settings = context.settings
    try:
        items, next_cursor = _with_store(settings, lambda store: store.list_pending(limit, after))
    except Exception as exc:  # storage
        storage_failed("could not read the schedules", exc)
    if as_json:
        echo_json({"items": items, "nextCursor": next_cursor})
        return
    if not items:
        click.echo("No schedules waiting to be sent.")
        return
    rows = [
        (
            item.get("nextAttemptAt") or item["sendAt"],
            item["id"],
            item["status"],
            item["to"],
            _short(item["body"]),
        )
        for item in items
    ]
    click.echo(table(rows, ("DUE", "ID", "STATUS", "TO", "BODY")))
    if next_cursor:
        click.echo(f"more: python -m switchboard schedules list --cursor {next_cursor}")


#: The days `--from`/`--to` may span at most (one command, bounded reads).
MAX_DAYS = 31


def _of_days(settings: Settings, first: datetime | None, last: datetime | None) -> list[Any]:
    """The schedules of the UTC days `first`..`last` (usage errors for a range it refuses)."""
    if first is None:
        raise click.UsageError("--to needs --from")
    start = first.date()
    end = last.date() if last is not None else start
    if end < start:
        raise click.BadParameter("is before --from", param_hint="--to")
    if (end - start).days >= MAX_DAYS:
        raise click.BadParameter(f"spans more than {MAX_DAYS} days", param_hint="--to")
    try:
        views: list[Any] = _with_store(settings, lambda store: store.of_days(start, end))
    except Exception as exc:  # storage
        storage_failed("could not read the schedules", exc)
    return views


def _print_days(views: Sequence[dict[str, Any]]) -> None:
    if not views:
        click.echo("No schedules on those days.")
        return
    rows = [
        (
            item.get("sendAt") or "",
            item["id"],
            item["status"],
            item.get("to") or "",
            _response(item),
            _short(item.get("body") or ""),
        )
        for item in views
    ]
    click.echo(table(rows, ("SEND AT", "ID", "STATUS", "TO", "RESPONSE", "BODY")))


def _response(item: dict[str, Any]) -> str:
    """A reminder's response as the listing shows it: ``confirmed (2026-12-01T09:14:02Z)``,
    ``awaiting`` while replies are taken, ``none`` after; empty for a schedule without replies."""
    if not item.get("replies"):
        return ""
    if item.get("response"):
        return f"{item['response']} ({item.get('respondedAt')})"
    return "awaiting" if item.get("status") in ("pending", "claimed", "sent") else "none"


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@schedules_group.command("export")
@click.option(
    "--from",
    "first",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="The first UTC day of sendAt.",
)
@click.option(
    "--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="The last day (default: --from)."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the CSV here (default, or -: standard output).",
)
@pass_context
def export_command(
    context: Context, first: datetime, last: datetime | None, output: Path | None
) -> None:
    """The schedules of some days as CSV (the import's columns, then status, sentAt, response,
    respondedAt), finished or not: a reminder's reply and when it came."""
    views = _of_days(context.settings, first, last)
    text = csv_import.export_rows(views)
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
        return
    with writing(output):
        output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {len(views)} schedules to {output}", err=True)


@schedules_group.command("show")
@click.argument("schedule_id")
@pass_context
def show_command(context: Context, schedule_id: str) -> None:
    """One schedule, pending or finished (like GET /api/sms/schedules/{id})."""
    settings = context.settings
    try:
        view = _with_store(settings, lambda store: store.view(schedule_id))
    except Exception as exc:  # storage
        storage_failed("could not read the schedule", exc)
    if view is None:
        raise click.ClickException(f"no schedule with id {schedule_id}")
    echo_json(view)


@schedules_group.command("cancel")
@click.argument("schedule_id")
@pass_context
def cancel_command(context: Context, schedule_id: str) -> None:
    """Cancel a schedule that has not started sending (like DELETE /api/sms/schedules/{id})."""
    from switchboard import records
    from switchboard.schedules.store import CancelResult

    settings = context.settings
    try:
        result, view = _with_store(
            settings, lambda store: store.cancel(schedule_id, records.utcnow())
        )
    except Exception as exc:  # storage
        storage_failed("could not cancel the schedule", exc)
    if result is CancelResult.NOT_FOUND or view is None:
        raise click.ClickException(f"no schedule with id {schedule_id}")
    if result is CancelResult.TOO_LATE:
        raise click.ClickException(
            f"cannot cancel {schedule_id}: it is {view.get('status')} (sending started or ended)"
        )
    if result is CancelResult.ALREADY:
        click.echo(f"{schedule_id} was already cancelled (unchanged)")
        return
    click.echo(f"Cancelled {schedule_id} (was due {view.get('sendAt')})")
