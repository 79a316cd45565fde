"""`python -m switchboard contacts ...`: contacts from a shell (click; not deployed).

    python -m switchboard contacts list [--search dana] [--blocked] [--limit 50] [--json]
    python -m switchboard contacts show c0123456789ab | +12015550123 [--json]
    python -m switchboard contacts add --name "Dana Reyes" --number "mobile: +12015550123" \\
        [--company ...] [--email ...] [--tag VIP] [--notes ...] [--blocked]
    python -m switchboard contacts set ID|NUMBER [--name ...] [--add-number ...] \\
        [--remove-number ...] [--add-tag ...] [--remove-tag ...] [--notes ""] ...
    python -m switchboard contacts block ID|NUMBER      # a number nobody has: a new contact
    python -m switchboard contacts unblock ID|NUMBER
    python -m switchboard contacts remove ID|NUMBER
    python -m switchboard contacts import contacts.vcf [--region US] [--dry-run]
    python -m switchboard contacts export contacts.csv  # or .vcf; `-` (default) for stdout

The same service as the HTTP routes (`switchboard.contacts.service`), against the app's
storage, with the same checks: what the API would refuse prints every problem (an import's
each with its entry, line and field) and exits 2, never a traceback
(`switchboard.commandline`). A change is heard at once by the app instance that made it,
within `LINES_CACHE_SECONDS` by the others (a command line is not an instance of the app).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from switchboard.commandline import (
    Context,
    InvalidInput,
    echo_json,
    pass_context,
    read_text_file,
    table,
    writing,
    yes_no,
)
from switchboard.contacts import rules, service
from switchboard.http import ApiError

_FORMAT_OF_SUFFIX = {".vcf": "vcard", ".vcard": "vcard", ".csv": "csv"}


def _heard(context: Context) -> str:
    ttl = context.settings.lines_cache_seconds
    return f"Calls and texts hear it within {ttl} s (LINES_CACHE_SECONDS)."


def _number_item(text: str) -> dict[str, Any] | str:
    """`mobile: +12015550123` as a labelled number, or the number alone."""
    label, colon, number = text.partition(":")
    if colon and label.strip() and not label.strip().lower().startswith("tel"):
        return {"number": number.strip(), "label": label.strip()}
    return text.strip()


def _summary_row(item: dict[str, Any]) -> list[str]:
    numbers = ", ".join(n["number"] for n in item.get("numbers") or [])
    return [
        item["id"],
        item.get("name") or "",
        item.get("company") or "",
        numbers,
        "blocked" if item.get("blocked") else "",
    ]


def _describe(contact: rules.Contact) -> str:
    lines = [f"{contact.label or '(no name)'}  [{contact.id}]"]
    if contact.name and contact.company:
        lines.append(f"company: {contact.company}")
    for number in contact.numbers:
        lines.append(f"number: {number.number}" + (f" ({number.label})" if number.label else ""))
    lines += [f"e-mail: {address}" for address in contact.emails]
    if contact.tags:
        lines.append("tags: " + ", ".join(contact.tags))
    lines.append(f"blocked: {yes_no(contact.blocked)}")
    if contact.notes:
        lines.append("notes: " + contact.notes.replace("\n", "\n       "))
    lines.append(f"version: {contact.version}")
    return "\n".join(lines)


@click.group("contacts")
def contacts() -> None:
    """Contacts: names shown for numbers, and numbers blocked on every line."""


@contacts.command("list")
@click.option("--search", "-s", "query", help="The start of a word of a name, or a number.")
@click.option("--blocked", is_flag=True, help="Only blocked contacts.")
@click.option(
    "--limit",
    default=service.DEFAULT_LIMIT,
    show_default=True,
    type=click.IntRange(1, service.MAX_LIMIT),
)
@click.option("--cursor", help="The cursor the previous page printed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_command(
    context: Context,
    /,
    query: str | None,
    blocked: bool,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Contacts in the order of names, a page at a time."""
    page = service.list_contacts(
        context.settings, q=query, blocked=blocked, limit=limit, cursor=cursor
    )
    if as_json:
        echo_json(page)
        return
    items = page["items"]
    if not items:
        click.echo("No contacts." if not (query or blocked or cursor) else "No contacts found.")
    else:
        click.echo(
            table(
                [_summary_row(item) for item in items],
                ["ID", "NAME", "COMPANY", "NUMBERS", "BLOCKED"],
            )
        )
    if page.get("nextCursor"):
        click.echo(f"more: python -m switchboard contacts list --cursor {page['nextCursor']}")


@contacts.command("show")
@click.argument("key", metavar="ID|NUMBER")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def show_command(context: Context, /, key: str, as_json: bool) -> None:
    """A contact, by its id or one of its numbers."""
    stored = service.get(context.settings, key)
    if as_json:
        echo_json(rules.contact_json(stored.contact))
        return
    click.echo(_describe(stored.contact))


def _document(
    name: str | None,
    company: str | None,
    numbers: tuple[str, ...],
    emails: tuple[str, ...],
    tags: tuple[str, ...],
    notes: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field, value in (("name", name), ("company", company), ("notes", notes)):
        if value is not None:
            body[field] = value or None
    if numbers:
        body["numbers"] = [_number_item(n) for n in numbers]
    if emails:
        body["emails"] = list(emails)
    if tags:
        body["tags"] = list(tags)
    return body


@contacts.command("add")
@click.option("--name", help="The contact's name.")
@click.option("--company", help="The company.")
@click.option("--number", "numbers", multiple=True, help="A number, `mobile: +1...` (repeatable).")
@click.option("--email", "emails", multiple=True, help="An e-mail address (repeatable).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--notes", help="Notes.")
@click.option(
    "--blocked", is_flag=True, help="Block it: calls rejected, texts answered with nothing."
)
@pass_context
def add_command(
    context: Context,
    /,
    name: str | None,
    company: str | None,
    numbers: tuple[str, ...],
    emails: tuple[str, ...],
    tags: tuple[str, ...],
    notes: str | None,
    blocked: bool,
) -> None:
    """Add a contact (a name, a company or a number at least)."""
    body = _document(name, company, numbers, emails, tags, notes)
    body["blocked"] = blocked
    stored = service.create(context.settings, body)
    click.echo(
        f"added {stored.contact.label or stored.contact.numbers[0].number} [{stored.contact.id}]"
    )


@contacts.command("set")
@click.argument("key", metavar="ID|NUMBER")
@click.option("--name", help='A new name ("" removes it).')
@click.option("--company", help='A new company ("" removes it).')
@click.option("--notes", help='New notes ("" removes them).')
@click.option("--number", "numbers", multiple=True, help="Replace every number (repeatable).")
@click.option("--add-number", "added", multiple=True, help="Add a number (repeatable).")
@click.option("--remove-number", "removed", multiple=True, help="Remove a number (repeatable).")
@click.option("--email", "emails", multiple=True, help="Replace every e-mail address.")
@click.option("--tag", "tags", multiple=True, help="Replace every tag (repeatable).")
@click.option("--add-tag", "added_tags", multiple=True, help="Add a tag (repeatable).")
@click.option("--remove-tag", "removed_tags", multiple=True, help="Remove a tag (repeatable).")
@pass_context
def set_command(
    context: Context,
    /,
    key: str,
    name: str | None,
    company: str | None,
    notes: str | None,
    numbers: tuple[str, ...],
    added: tuple[str, ...],
    removed: tuple[str, ...],
    emails: tuple[str, ...],
    tags: tuple[str, ...],
    added_tags: tuple[str, ...],
    removed_tags: tuple[str, ...],
) -> None:
    """Change the fields given; the others stay."""
    if numbers and (added or removed):
        raise click.UsageError("give --number, or --add-number/--remove-number, not both")
    if tags and (added_tags or removed_tags):
        raise click.UsageError("give --tag, or --add-tag/--remove-tag, not both")
    settings = context.settings
    current = service.get(settings, key)
    body = _document(name, company, numbers, emails, tags, notes)
    if added or removed:
        region = service.default_region(settings)
        gone = set()
        for text in removed:
            try:
                gone.add(rules.normalise_number(text, region))
            except ValueError as exc:
                raise InvalidInput([f"--remove-number: {exc}"]) from None
        kept: list[Any] = [
            rules.number_json(n) for n in current.contact.numbers if n.number not in gone
        ]
        body["numbers"] = kept + [_number_item(n) for n in added]
    if added_tags or removed_tags:
        dropped = {t.strip().casefold() for t in removed_tags}
        kept_tags = [t for t in current.contact.tags if t.casefold() not in dropped]
        body["tags"] = kept_tags + list(added_tags)
    if not body:
        raise click.UsageError("nothing to change: give at least one option")
    written = service.patch(settings, current.contact.id, body, f'"{current.contact.version}"')
    click.echo(f"{written.contact.label or written.contact.id}: version {written.contact.version}")


def _block(context: Context, key: str, blocked: bool) -> None:
    done = service.set_blocked(context.settings, key, blocked)
    contact = done.contact
    who = contact.label or (contact.numbers[0].number if contact.numbers else contact.id)
    if done.created:
        click.echo(f"{who}: a new contact [{contact.id}], blocked")
    elif not done.changed:
        click.echo(f"{who}: already {'blocked' if blocked else 'not blocked'}")
    else:
        click.echo(f"{who}: {'blocked' if blocked else 'unblocked'}")
    if done.changed:
        click.echo(_heard(context))


@contacts.command("block")
@click.argument("key", metavar="ID|NUMBER")
@pass_context
def block_command(context: Context, /, key: str) -> None:
    """Block a contact on every line: its calls are rejected, its texts get nothing
    automatic (STOP and START still work). A number that is no contact's becomes one."""
    _block(context, key, True)


@contacts.command("unblock")
@click.argument("key", metavar="ID|NUMBER")
@pass_context
def unblock_command(context: Context, /, key: str) -> None:
    """Unblock a contact."""
    _block(context, key, False)


@contacts.command("remove")
@click.argument("key", metavar="ID|NUMBER")
@pass_context
def remove_command(context: Context, /, key: str) -> None:
    """Delete a contact (its numbers are nobody's again)."""
    deleted = service.delete(context.settings, key, None)
    click.echo(f"{deleted.label or deleted.id}: removed")


def _format_of(path: Path | None, given: str | None) -> str | None:
    if given:
        return given
    if path is None:
        return None
    return _FORMAT_OF_SUFFIX.get(path.suffix.lower())


@contacts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "kind",
    type=click.Choice(service.FORMATS),
    help="Default: by the file's name, else its content.",
)
@click.option(
    "--region",
    help="Where numbers without a country code are (ISO code, e.g. US); default: the country of TWILIO_FROM_NUMBER.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check the file and say what it would do; write nothing."
)
@pass_context
def import_command(
    context: Context, /, file: Path, kind: str | None, region: str | None, dry_run: bool
) -> None:
    """Import a vCard (.vcf: iOS, Android, Google Contacts) or CSV file: all of it, or
    nothing while any entry has a problem (each is printed)."""
    text = read_text_file(file, "a vCard or CSV file")
    try:
        result = service.import_file(
            context.settings, text, _format_of(file, kind), region, dry_run=dry_run
        )
    except ApiError as exc:
        if exc.status == 400:
            from switchboard.commandline import api_problems

            raise InvalidInput(api_problems(exc), f"{file.name}: nothing imported:") from None
        raise
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{file.name}: {verb} {result.entries} contact(s): {result.created} created, "
        f"{result.updated} updated, {result.unchanged} unchanged"
    )
    if not dry_run and (result.created or result.updated):
        click.echo(_heard(context))


@contacts.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "kind",
    type=click.Choice(service.FORMATS),
    help="Default: by the file's name, else vcard.",
)
@pass_context
def export_command(context: Context, /, file: Path | None, kind: str | None) -> None:
    """Every contact as a vCard 3.0 or CSV file (stdout without FILE, or with -)."""
    target = None if file is None or str(file) == "-" else file
    text = service.export_file(context.settings, _format_of(target, kind) or "vcard")
    if target is None:
        click.echo(text, nl=False)
        return
    with writing(target):
        target.write_text(text, encoding="utf-8", newline="")
    click.echo(f"exported to {target}")
