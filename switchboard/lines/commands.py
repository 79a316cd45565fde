"""`python -m switchboard lines ...`: lines from a shell (click; not deployed, like the CLI).

    python -m switchboard lines list
    python -m switchboard lines show +15017122661
    python -m switchboard lines set +15017122661 main-line.json [--force]
    python -m switchboard lines override +15017122661 closed --until 2026-12-24T17:00-05:00
    python -m switchboard lines override +15017122661 --clear
    python -m switchboard lines status +15017122661 [--at 2026-12-24T09:00]
    python -m switchboard lines preview +15017122661 --at 2026-12-24T09:00 --from +15558675310
    python -m switchboard lines history +15017122661
    python -m switchboard lines export lines/      # one <number>.json per line
    python -m switchboard lines import lines/      # checks every file before writing any

The same service as the HTTP routes (`switchboard.lines.service`), against the app's storage,
with the same checks: a file the API would refuse prints every error the API gives (each with
its JSON pointer) and exits 2, as does a file that is not UTF-8 or not JSON
(`switchboard.commandline`). `set` and `import` replace whatever version is current; `import`
checks every file first, with every check a PUT makes (the schema, the instants, the stored
size, the account's numbers, forwards to our own numbers, redirects into this app), and writes
nothing when any file fails; it leaves a line whose document is unchanged alone (no new
version), so a business can keep its lines in git and import them again and again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

from switchboard.commandline import (
    InvalidInput,
    api_failure,
    api_problems,
    echo_json,
    read_json_file,
    writing,
)
from switchboard.http import ApiError, json_bytes
from switchboard.lines import service
from switchboard.phone import is_e164


def _fail(error: ApiError) -> NoReturn:
    # The shared failure: what was given is wrong (4xx: every problem, exit 2), or storage is
    # down (a 503 tells to start `make run` when it is local).
    raise api_failure(error)


def _settings(obj: Any) -> Any:
    return obj.settings


def _echo(data: Any) -> None:
    echo_json(data, sort_keys=False)  # a document's keys in the order it was written


@click.group("lines")
def lines() -> None:
    """Each number's line: hours, holidays, greetings and call flow."""


@lines.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(obj: Any, as_json: bool) -> None:
    """Every stored line and its state now."""
    try:
        found = service.list_lines(_settings(obj))
    except ApiError as exc:
        _fail(exc)
    if as_json:
        _echo(found)
        return
    if not found["items"]:
        click.echo("No lines: every number answers with the default line (the VOICE_* settings).")
        return
    for item in found["items"]:
        state = "unusable" if item.get("unusable") else item["state"] or "?"
        click.echo(f"{item['number']}  v{item['version']}  {state:6}  {item['name'] or ''}")


@lines.command("show")
@click.argument("number")
@click.pass_obj
def show_command(obj: Any, number: str) -> None:
    """A line's document (as JSON)."""
    try:
        stored = service.get(_settings(obj), number)
    except ApiError as exc:
        _fail(exc)
    _echo(stored.document)


@lines.command("set")
@click.argument("number")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Keep a number that is not one of the account's.")
@click.pass_obj
def set_command(obj: Any, number: str, file: Path, force: bool) -> None:
    """Create or replace a line from a JSON file."""
    settings = _settings(obj)
    body = read_json_file(file)
    try:
        written = _put(settings, number, body, force=force, change="put")
    except ApiError as exc:
        raise api_failure(exc, f"{file}: not written:") from None
    if written is None:
        click.echo(f"{number}: unchanged")
        return
    for warning in written.warnings:
        click.echo(f"warning: {warning['message']}", err=True)
    verb = "created" if written.created else "replaced"
    click.echo(f"{number}: {verb}, version {written.version}")
    click.echo(heard_when(settings))


def _put(
    settings: Any, number: str, body: Any, *, force: bool, change: str
) -> service.Written | None:
    """Write `body` over whatever is current, after every check a PUT makes (`ApiError` when
    one fails); None when it equals the current document."""
    number = number.strip()
    stored, _ = service.checked(settings, number, body, force=force)
    try:
        current = service.get(settings, number)
    except ApiError as exc:
        if exc.status != 404:
            raise
        current = None
    if current is not None and current.document == stored:
        return None
    return service.put(
        settings,
        number,
        body,
        if_match="*" if current is not None else None,
        force=force,
        change=change,
    )


@lines.command("override")
@click.argument("number")
@click.argument("state", required=False, type=click.Choice(["open", "closed"]))
@click.option("--until", help="ISO-8601 with offset; default: until the next change of the hours.")
@click.option("--reason", help="Why (shown in the status).")
@click.option("--clear", is_flag=True, help="Remove the override.")
@click.pass_obj
def override_command(
    obj: Any, number: str, state: str | None, until: str | None, reason: str | None, clear: bool
) -> None:
    """Open or closed whatever the hours say, until a time or the next change; or --clear."""
    if clear == (state is not None):
        raise click.UsageError("give a state (open or closed), or --clear")
    body: dict[str, Any] = {"clear": True} if clear else {"state": state}
    if until:
        body["until"] = until
    if reason:
        body["reason"] = reason
    settings = _settings(obj)
    try:
        line = service.override(settings, number, body)
        assert line.number is not None
        _echo(service.status(settings, line.number))
    except ApiError as exc:
        _fail(exc)


@lines.command("status")
@click.argument("number")
@click.option("--at", help="Another moment: ISO-8601, in the line's zone unless it has an offset.")
@click.pass_obj
def status_command(obj: Any, number: str, at: str | None) -> None:
    """A line's state now (or --at), why, and the next change."""
    settings = _settings(obj)
    try:
        moment = _moment(at, _line(settings, number)) if at else None
        _echo(service.status(settings, number, moment))
    except ApiError as exc:
        _fail(exc)


def heard_when(settings: Any) -> str:
    """When calls hear a change: at once on this instance, within the cache TTL elsewhere."""
    ttl = settings.lines_cache_seconds
    return (
        f"Calls hear it within {ttl} s (LINES_CACHE_SECONDS: each app instance keeps a line that "
        "long; the instance that wrote it, at once)"
    )


def _line(settings: Any, number: str) -> Any:
    """The number's line: its stored document, else the default line of the settings."""
    return service.answering_line(settings, number)


def _moment(raw: str, line: Any) -> Any:
    """`--at` as an instant: an offset is honoured, a plain local time is in the line's zone."""
    try:
        return service.instant_for(raw, line)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


@lines.command("preview")
@click.argument("number")
@click.option("--at", help="ISO-8601, in the line's zone unless it has an offset (default now).")
@click.option(
    "--from", "caller", default=service.SAMPLE_CALLER, show_default=True, help="The caller."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def preview_command(obj: Any, number: str, at: str | None, caller: str, as_json: bool) -> None:
    """What a call from --from at --at would hear, and what it would make the app send, from
    the stored line (or the default line): nothing is called, nothing restarts."""
    from switchboard.lines.lookup import now
    from switchboard.lines.preview import describe, preview

    if not is_e164(caller.strip()):
        raise click.BadParameter(
            "must be an E.164 number such as +15558675310", param_hint="--from"
        )
    settings = _settings(obj)
    try:
        line = _line(settings, number)
    except ApiError as exc:
        _fail(exc)
    moment = _moment(at, line) if at else now(settings)
    found = preview(line, moment, caller.strip())
    if as_json:
        _echo({**found._asdict(), "at": found.at.isoformat()})
        return
    click.echo(describe(found, number.strip(), caller.strip(), line.name))


@lines.command("history")
@click.argument("number")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--cursor", help="The cursor the previous page printed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with each version's document).")
@click.pass_obj
def history_command(obj: Any, number: str, limit: int, cursor: str | None, as_json: bool) -> None:
    """Every version of a line, newest first: when, what changed (put, override, import...)."""
    try:
        found = service.history(_settings(obj), number, limit, cursor)
    except ApiError as exc:
        _fail(exc)
    if as_json:
        _echo(found)
        return
    items = found.get("items") or []
    if not items:
        click.echo(f"{number.strip()}: no versions")
    for item in items:
        name = (item.get("document") or {}).get("name") or ""
        click.echo(
            f"v{item['version']}  {item.get('updatedAt') or '?'}  {item['change']:15} {name}"
        )
    if found.get("nextCursor"):
        click.echo(
            f"more: python -m switchboard lines history {number.strip()} --cursor "
            f"{found['nextCursor']}"
        )


@lines.command("delete")
@click.argument("number")
@click.pass_obj
def delete_command(obj: Any, number: str) -> None:
    """Delete a line (its history stays; the default line answers the number again)."""
    try:
        version = service.delete(_settings(obj), number, if_match=None)
    except ApiError as exc:
        _fail(exc)
    click.echo(f"{number.strip()}: deleted (version {version})")
    click.echo(heard_when(_settings(obj)))


@lines.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export_command(obj: Any, folder: Path) -> None:
    """Write one <number>.json per line into FOLDER."""
    settings = _settings(obj)
    try:
        found = service.list_lines(settings)["items"]
        documents = {
            item["number"]: service.get(settings, item["number"]).document for item in found
        }
    except ApiError as exc:
        _fail(exc)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        for number, data in documents.items():
            path = folder / f"{number}.json"
            path.write_bytes(json_bytes(data, indent=2) + b"\n")
    click.echo(f"exported {len(documents)} line(s) to {folder}")


@lines.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Keep numbers that are not the account's.")
@click.pass_obj
def import_command(obj: Any, folder: Path, force: bool) -> None:
    """Create or replace every <number>.json of FOLDER; nothing is written while any is invalid."""
    settings = _settings(obj)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InvalidInput([f"{folder}: no <number>.json files"])
    planned: list[tuple[str, Any]] = []
    problems: list[str] = []
    for path in files:
        number = path.stem
        if not is_e164(number):
            problems.append(f"{path.name}: the file name must be the line's E.164 number")
            continue
        try:
            body = read_json_file(path)
            service.checked(settings, number, body, force=force)
        except InvalidInput as exc:
            problems += [p.replace(str(path), path.name, 1) for p in exc.problems]
            continue
        except ApiError as exc:
            if exc.status >= 500:
                _fail(exc)  # storage or Twilio: nothing was written
            problems += [f"{path.name}: {p}" for p in api_problems(exc)]
            continue
        planned.append((number, body))
    if problems:
        raise InvalidInput(problems, "nothing imported:")
    counts = {"created": 0, "replaced": 0, "unchanged": 0}
    for number, body in planned:
        try:
            written = _put(settings, number, body, force=True, change="import")
        except ApiError as exc:
            _fail(exc)
        key = "unchanged" if written is None else "created" if written.created else "replaced"
        counts[key] += 1
    click.echo(
        f"imported {len(planned)} line(s): {counts['created']} created, "
        f"{counts['replaced']} replaced, {counts['unchanged']} unchanged"
    )
    click.echo(heard_when(settings))
