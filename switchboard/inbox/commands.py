"""`python -m switchboard inbox users ...`: the people who may sign in to the inbox.

    python -m switchboard inbox users list
    python -m switchboard inbox users add --name "Ana" --phone +15550000001 --role owner
    python -m switchboard inbox users add --name "Ben" --email ben@example.com --role staff \\
        --line +15017122661 --line +15017122662
    python -m switchboard inbox users set u0123456789abcdef --line +15017122661
    python -m switchboard inbox users signout u0123456789abcdef   # end every session
    python -m switchboard inbox users remove u0123456789abcdef

The same service as `/api/inbox-users` (`switchboard.inbox.service`), against the app's storage.
Exit status: 0 done, 1 the operation failed (the message says why), 2 usage error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from switchboard.commandline import echo_json
from switchboard.http import ApiError
from switchboard.inbox import service

T = TypeVar("T")


def _fail(error: ApiError) -> NoReturn:
    if error.status == 400:
        raise click.UsageError(error.message)
    raise click.ClickException(error.message)


def _run(operation: Callable[[], T]) -> T:
    from switchboard.logbook.listing import STORAGE_ERRORS

    try:
        return operation()
    except ApiError as exc:
        _fail(exc)
    except STORAGE_ERRORS as exc:
        raise click.ClickException(
            f"storage is not available ({type(exc).__name__}): is Azurite running?"
        ) from None


def _echo(data: Any) -> None:
    echo_json(data, sort_keys=False)  # a document's keys in the order it was written


def _fields(
    name: str | None, phone: str | None, email: str | None, role: str | None, lines: tuple[str, ...]
) -> dict[str, Any]:
    given: dict[str, Any] = {"name": name, "phone": phone, "email": email, "role": role}
    found = {k: v for k, v in given.items() if v is not None}
    if lines:
        found["lines"] = list(lines)
    return found


@click.group("inbox")
def inbox() -> None:
    """The owner's inbox: who may sign in."""


@inbox.group("users")
def users() -> None:
    """Inbox users: owners see everything, staff the lines they are given."""


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(obj: Any, as_json: bool) -> None:
    """Every inbox user."""
    found = _run(lambda: service.list_users(obj.settings))
    if as_json:
        _echo(found)
        return
    if not found["items"]:
        click.echo("No inbox users yet: add one with `inbox users add`.")
    for user in found["items"]:
        where = ", ".join(a for a in (user["phone"], user["email"]) if a)
        lines = " lines " + " ".join(user["lines"]) if user["role"] == "staff" else ""
        click.echo(
            f"{user['id']}  {user['role']:5}  {user['name']}  <{where}>{lines}"
            f"  ({user['sessions']} sessions)"
        )


@users.command("add")
@click.option("--name", required=True, help="The person's name.")
@click.option("--phone", help="Mobile number for sign-in codes (E.164).")
@click.option("--email", help="E-mail address for sign-in codes.")
@click.option("--role", type=click.Choice(["owner", "staff"]), required=True)
@click.option("--line", "lines", multiple=True, help="A line staff may see (E.164); repeat.")
@click.pass_obj
def add_command(
    obj: Any, name: str, phone: str | None, email: str | None, role: str, lines: tuple[str, ...]
) -> None:
    """Name a new inbox user (a phone number and/or an e-mail address)."""
    created = _run(
        lambda: service.create_user(obj.settings, _fields(name, phone, email, role, lines))
    )
    click.echo(f"Added {created['role']} {created['name']}: {created['id']}")


@users.command("set")
@click.argument("user_id")
@click.option("--name")
@click.option("--phone", help="E.164, or '' to remove.")
@click.option("--email", help="An address, or '' to remove.")
@click.option("--role", type=click.Choice(["owner", "staff"]))
@click.option("--line", "lines", multiple=True, help="Replace the lines (repeat).")
@click.pass_obj
def set_command(
    obj: Any,
    user_id: str,
    name: str | None,
    phone: str | None,
    email: str | None,
    role: str | None,
    lines: tuple[str, ...],
) -> None:
    """Change a user's name, addresses, role or lines."""
    fields = _fields(name, phone, email, role, lines)
    if not fields:
        raise click.UsageError("nothing to change: give --name, --phone, --email, --role or --line")
    _echo(_run(lambda: service.update_user(obj.settings, user_id, fields)))


@users.command("signout")
@click.argument("user_id")
@click.pass_obj
def signout_command(obj: Any, user_id: str) -> None:
    """End every session of a user."""
    ended = _run(lambda: service.end_sessions(obj.settings, user_id))
    click.echo(f"Ended {ended['ended']} sessions of {user_id}")


@users.command("remove")
@click.argument("user_id")
@click.pass_obj
def remove_command(obj: Any, user_id: str) -> None:
    """Remove a user (their sessions end)."""
    _run(lambda: service.delete_user(obj.settings, user_id))
    click.echo(f"Removed {user_id}")
