"""`python -m switchboard`: the operator command line.

The same core as the HTTP operator API (`switchboard.operator.service`, `switchboard.calls.request`,
`switchboard.schedules.rules`), run from a shell against the app's storage and Twilio account:

    python -m switchboard call --to +15558675310 --say "Your appointment is tomorrow at 9."
    python -m switchboard sms send --to +15558675310 --body "Your order has shipped."
    python -m switchboard sms schedule --to +15558675310 --body "Reminder" \\
        --send-at 2026-12-01T09:00:00+01:00
    python -m switchboard sms import reminders.csv
    python -m switchboard show call reminder-42
    python -m switchboard show message SM0123...
    python -m switchboard numbers
    python -m switchboard usage --start 2026-11-01 --end 2026-11-30
    python -m switchboard lines list | show | set | override | status | export | import

Settings come from the environment, then `local.settings.json` (its `Values`, as Core Tools reads
them; a variable already set in the environment wins). `--settings PATH` names another file.
The app package must not import `devkit` (it is not deployed), so the file is read here.

Exit status: 0 done, 1 the operation failed (the message says why), 2 what was given cannot be
taken (a usage error, or a file or option the API would refuse: every problem is printed, with
its JSON pointer for a document; `switchboard.command_input`).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from switchboard.command_input import CommandGroup, InvalidInput, parse_json_text, read_text_file
from switchboard.http import ApiError
from switchboard.lines.commands import lines as lines_group
from switchboard.logbook.listing import STORAGE_ERRORS, storage_unavailable
from switchboard.operator import api as operator_api
from switchboard.operator import service as operator_service
from switchboard.settings import Settings, SettingsError, load_settings

LOCAL_SETTINGS = "local.settings.json"
Q = TypeVar("Q")


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def read_local_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json ({} when the file does not exist)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: cannot read it as JSON ({exc})") from None
    values = data.get("Values", {}) if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise click.ClickException(f"{path}: 'Values' must be an object of strings")
    result: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, str | int | float):
            result[str(key)] = str(value)
    return result


def settings_environment(
    settings_file: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """local.settings.json `Values` overlaid by the environment (the environment wins)."""
    source = dict(os.environ if environ is None else environ)
    path = settings_file or Path.cwd() / LOCAL_SETTINGS
    if settings_file is not None and not settings_file.exists():
        raise click.ClickException(f"{settings_file}: no such file")
    return {**read_local_settings(path), **source}


@dataclass
class Context:
    """What every command needs: where settings come from, loaded once on first use."""

    settings_file: Path | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (a clear error naming the setting otherwise)."""
        if self._settings is None:
            try:
                self._settings = load_settings(settings_environment(self.settings_file))
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings


pass_context = click.make_pass_decorator(Context)


def fail(error: ApiError) -> NoReturn:
    """Leave with the API's error as a one-line message (exit status 1)."""
    detail = error.message
    if error.retry_after is not None:
        detail += f" (retry in {error.retry_after} s)"
    code = error.code if error.code[:1].isdigit() else None
    raise click.ClickException(f"Twilio error {code}: {detail}" if code else detail)


def echo_json(data: Any) -> None:
    """Pretty JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


# --------------------------------------------------------------------------------------------
# The command group
# --------------------------------------------------------------------------------------------


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A local.settings.json to read (default: ./local.settings.json when present).",
)
@click.pass_context
def cli(ctx: click.Context, settings_file: Path | None) -> None:
    """Switchboard's operator command line: calls, SMS, history, numbers and usage."""
    ctx.obj = Context(settings_file=settings_file)


cli.add_command(lines_group)


# --- call -------------------------------------------------------------------------------------


@cli.command("call")
@click.option("--to", help="The number to call (E.164).")
@click.option("--from", "from_", help="Caller ID (E.164); default TWILIO_FROM_NUMBER.")
@click.option("--say", help="Text to speak.")
@click.option("--twiml", help="TwiML to run instead of --say.")
@click.option("--url", help="An https URL returning TwiML, instead of --say.")
@click.option("--voice", help="Voice for --say, e.g. Polly.Joanna.")
@click.option("--language", help="Language for --say, e.g. en-US.")
@click.option("--timeout", type=int, help="Seconds to ring (5-600).")
@click.option(
    "--machine-detection",
    type=click.Choice(["Enable", "DetectMessageEnd"]),
    help="Answering-machine detection.",
)
@click.option("--record/--no-record", default=None, help="Record the call.")
@click.option("--id", "call_id", help="Idempotency key (default: the queue message id).")
@click.option(
    "--json",
    "json_text",
    help="The whole queue message as a JSON object ('-' reads stdin); replaces the options.",
)
@pass_context
def call_command(context: Context, /, json_text: str | None, **options: Any) -> None:
    """Enqueue an outbound call (validated like a queue message, sent base64-encoded)."""
    from switchboard.calls.request import InvalidCallRequest, parse_call_request
    from switchboard.storage.queues import enqueue_json

    if json_text is not None:
        raw = sys.stdin.read() if json_text == "-" else json_text
        message: Any = parse_json_text(raw, "--json")
    else:
        names = {"from_": "from", "call_id": "id", "machine_detection": "machineDetection"}
        message = {names.get(k, k): v for k, v in options.items() if v is not None}
    try:
        request = parse_call_request(message)
    except InvalidCallRequest as exc:
        raise click.UsageError(str(exc)) from None
    settings = context.settings
    payload = request.to_message()
    try:
        message_id = enqueue_json(settings.outbound_call_queue, payload, settings)
    except STORAGE_ERRORS as exc:
        fail(storage_unavailable(exc))
    call_id = request.id or message_id
    click.echo(f"Enqueued call {call_id} on queue {settings.outbound_call_queue}")


# --- sms --------------------------------------------------------------------------------------


@cli.group("sms")
def sms() -> None:
    """Send, schedule and import SMS."""


@sms.command("send")
@click.option("--to", required=True, help="Recipient (E.164).")
@click.option("--body", required=True, help="The text (at most 1,600 characters).")
@click.option("--from", "from_", help="Sender (E.164); default the Messaging Service or number.")
@click.option("--media-url", "media_urls", multiple=True, help="An https media URL (repeatable).")
@pass_context
def sms_send(
    context: Context, to: str, body: str, from_: str | None, media_urls: Sequence[str]
) -> None:
    """Send an SMS now (opt-out check, MessageLog record), like POST /api/messages."""
    data: dict[str, Any] = {"to": to, "body": body}
    if from_ is not None:
        data["from"] = from_
    if media_urls:
        data["mediaUrl"] = list(media_urls)
    try:
        request = operator_api.parse_send_request(data)
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    settings = context.settings
    try:
        result = operator_service.send_message(
            settings, request, app_base_url=settings.public_base_url, source="cli"
        )
    except ApiError as exc:
        fail(exc)
    click.echo(f"Sent {result['sid']} ({result['status']})")


def _schedule_error(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    message = str(getattr(exc, "message", None) or exc)
    return (
        f"{field_name}: {message}" if field_name and not message.startswith(field_name) else message
    )


@sms.command("schedule")
@click.option("--to", required=True, help="Recipient (E.164).")
@click.option("--body", required=True, help="The text.")
@click.option("--send-at", required=True, help="ISO-8601 with offset, e.g. 2026-12-01T09:00+01:00.")
@click.option("--id", "schedule_id", help="Idempotency key (default: generated).")
@click.option("--time-zone", help="The recipient's IANA time zone (quiet hours, recurrence).")
@click.option("--recurrence", help="A cron expression for repeats, e.g. '0 9 * * 1-5'.")
@pass_context
def sms_schedule(
    context: Context,
    to: str,
    body: str,
    send_at: str,
    schedule_id: str | None,
    time_zone: str | None,
    recurrence: str | None,
) -> None:
    """Schedule an SMS (like POST /api/sms/schedules; the same --id again changes nothing)."""
    from switchboard import records
    from switchboard.schedules import rules as schedules

    data = {
        "id": schedule_id,
        "to": to,
        "body": body,
        "sendAt": send_at,
        "timeZone": time_zone,
        "recurrence": recurrence,
    }
    settings = context.settings
    try:
        schedule = schedules.parse_new_schedule(
            {k: v for k, v in data.items() if v is not None},
            now=records.utcnow(),
            max_lateness=settings.sms_max_lateness,
        )
    except schedules.ScheduleInputError as exc:
        raise click.UsageError(_schedule_error(exc)) from None
    try:
        results = asyncio.run(create_schedules(settings, [schedule], records.utcnow()))
    except Exception as exc:  # storage: the message says which kind, never a connection string
        raise click.ClickException(f"could not store the schedule: {type(exc).__name__}") from None
    result = results[0]
    if result == "conflict":
        raise click.ClickException(
            f"schedule {schedule.id} already exists with a different message (not changed)"
        )
    verb = "Scheduled" if result == "created" else "Already scheduled (unchanged):"
    click.echo(f"{verb} {schedule.id} for {records.iso(schedule.send_at)}")


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


# --- sms import -------------------------------------------------------------------------------

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


@dataclass
class CsvRow:
    """One data row of an import file: its first line number and the request it makes."""

    line: int
    data: dict[str, str]


@dataclass
class ImportPlan:
    """What a file asks for: valid schedules (with their lines), bad rows, duplicates."""

    rows: int = 0
    valid: list[tuple[int, Any]] = field(default_factory=list)
    late: list[tuple[int, Any, str]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)


def read_csv_rows(text: str) -> Iterator[CsvRow]:
    """Data rows with their first line number; blank lines skipped. UsageError for a bad
    header (unknown or missing columns)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise click.UsageError("the file is empty: it needs a header row") from None
    except csv.Error as exc:
        raise click.UsageError(f"line 1: {exc}") from None
    names = []
    for raw in header:
        key = "".join(c for c in raw.strip().lower() if c not in " _-")
        if key not in CSV_COLUMNS:
            raise click.UsageError(
                f"unknown column {raw.strip()!r} (columns: id, to, body, sendAt, timeZone, "
                "recurrence)"
            )
        names.append(CSV_COLUMNS[key])
    missing = [name for name in CSV_REQUIRED if name not in names]
    if missing:
        raise click.UsageError("the header lacks column(s): " + ", ".join(missing))
    if len(set(names)) != len(names):
        raise click.UsageError("a column appears twice in the header")
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


def plan_import(rows: Iterator[CsvRow], settings: Settings, now: Any) -> ImportPlan:
    """Validate every row like POST /api/sms/schedules and give it its id: the `id` column,
    else `csv-` + a hash of the row's content, so the same row imported again is the same
    schedule (nothing is created twice)."""
    from switchboard.schedules import rules as schedules

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
            explicit = row.data.get("id")
            schedule_id = (
                schedules.validate_id(explicit.strip())
                if explicit
                else "csv-" + schedule.fingerprint()[:40]
            )
        except schedules.ScheduleInputError as exc:
            plan.invalid.append((row.line, _schedule_error(exc)))
            continue
        schedule = dataclasses.replace(schedule, id=schedule_id)
        earlier = seen.get(schedule_id)
        if earlier is not None:
            if earlier[1] == schedule.fingerprint():
                plan.duplicates.append((row.line, earlier[0]))
            else:
                plan.invalid.append(
                    (
                        row.line,
                        f"id: {schedule_id} is used on line {earlier[0]} for another message",
                    )
                )
            continue
        seen[schedule_id] = (row.line, schedule.fingerprint())
        if now - schedule.send_at > settings.sms_max_lateness:
            plan.late.append(
                (row.line, schedule, "sendAt: further in the past than SMS_MAX_LATENESS allows")
            )
        else:
            plan.valid.append((row.line, schedule))
    return plan


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


@sms.command("import")
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
def sms_import(context: Context, csv_file: Path, skip_invalid: bool, concurrency: int) -> None:
    """Schedule SMS in bulk from a CSV file (columns: to, body, sendAt[, id, timeZone,
    recurrence]).

    Every row is checked first; invalid rows are listed with their line numbers and, unless
    --skip-invalid, nothing is imported. Each row's id is its `id` column, else a hash of the
    row, so running the same file again creates nothing twice.
    """
    from switchboard import records

    text = read_text_file(csv_file, "a CSV file")
    settings = context.settings
    now = records.utcnow()
    plan = plan_import(read_csv_rows(text), settings, now)
    unchanged = 0
    if plan.late:
        try:
            known = asyncio.run(_existing(settings, [item for _, item, _ in plan.late]))
        except Exception as exc:  # storage down: nothing was written yet
            raise click.ClickException(
                f"could not read the schedules ({type(exc).__name__}); nothing was imported"
            ) from None
        for (line, _, reason), exists in zip(plan.late, known, strict=True):
            if exists:
                unchanged += 1
            else:
                plan.invalid.append((line, reason))
    plan.invalid.sort()
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
            raise click.ClickException(
                f"could not open the schedules table ({type(exc).__name__}); nothing was imported"
            ) from None

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


# --- show -------------------------------------------------------------------------------------


@cli.group("show")
def show() -> None:
    """Show a call's or a message's record."""


def _show(record: Callable[[Settings, str], dict[str, Any]], context: Context, key: str) -> None:
    try:
        echo_json(record(context.settings, key))
    except ApiError as exc:
        fail(exc)


@show.command("call")
@click.argument("call_id")
@pass_context
def show_call(context: Context, call_id: str) -> None:
    """A call's record, by the app's id or the CallSid."""
    _show(operator_service.get_call, context, call_id)


@show.command("message")
@click.argument("sid")
@pass_context
def show_message(context: Context, sid: str) -> None:
    """A message's record, by its MessageSid."""
    _show(operator_service.get_message, context, sid)


# --- numbers and usage ------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _from_twilio(
    parse: Callable[[], Q], fetch: Callable[[Q], dict[str, Any]], as_json: bool
) -> dict[str, Any] | None:
    """The options checked (a usage error names the option), then what Twilio answers (its
    failure ends the command); None when the answer was printed as JSON."""
    try:
        query = parse()
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    try:
        result = fetch(query)
    except ApiError as exc:
        fail(exc)
    if as_json:
        echo_json(result)
        return None
    return result


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


@cli.command("numbers")
@click.option("--limit", default="50", help="At most this many (1-1000).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def numbers_command(context: Context, limit: str, as_json: bool) -> None:
    """The account's phone numbers and whether their webhooks point at this app."""
    result = _from_twilio(
        lambda: operator_api.parse_numbers_query({"limit": limit}),
        lambda count: operator_service.list_numbers(
            context.settings, count, context.settings.public_base_url
        ),
        as_json,
    )
    if result is None:
        return
    settings = context.settings
    rows = [
        (
            n["phoneNumber"],
            n["friendlyName"] or "",
            ",".join(k for k, v in sorted(n["capabilities"].items()) if v),
            n["voiceUrl"] or "-",
            _yes_no(n["voiceUrlPointsHere"]),
            n["smsUrl"] or "-",
            _yes_no(n["smsUrlPointsHere"]),
        )
        for n in result["numbers"]
    ]
    headers = ("NUMBER", "NAME", "CAPABILITIES", "VOICE URL", "HERE", "SMS URL", "HERE")
    click.echo(_table(rows, headers))
    if not settings.public_base_url:
        click.echo("(HERE is ? because PUBLIC_BASE_URL is not set)")


@cli.command("usage")
@click.option("--start", help="First day, YYYY-MM-DD (GMT).")
@click.option("--end", help="Last day, YYYY-MM-DD (GMT).")
@click.option("--category", help="A Twilio usage category, e.g. sms-outbound.")
@click.option("--limit", default="50", help="At most this many records (1-1000).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def usage_command(
    context: Context,
    start: str | None,
    end: str | None,
    category: str | None,
    limit: str,
    as_json: bool,
) -> None:
    """Twilio usage records (category, usage, price) for a period."""
    params = {"start": start, "end": end, "category": category, "limit": limit}
    result = _from_twilio(
        lambda: operator_api.parse_usage_query({k: v for k, v in params.items() if v}),
        lambda query: operator_service.list_usage(context.settings, query),
        as_json,
    )
    if result is None:
        return
    rows = [
        (
            u["category"],
            u["description"] or "",
            f"{u['usage'] or ''} {u['usageUnit'] or ''}".strip(),
            f"{u['price'] or ''} {u['priceUnit'] or ''}".strip(),
        )
        for u in result["usage"]
    ]
    click.echo(_table(rows, ("CATEGORY", "DESCRIPTION", "USAGE", "PRICE")))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m switchboard`."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="python -m switchboard")
