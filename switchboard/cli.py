"""`python -m switchboard`: the operator command line, assembled from the capabilities' commands.

Each capability keeps its commands beside its rules (`switchboard/<capability>/commands.py`);
what they share (settings, failures, output) is `switchboard.commandline`. This module only puts
them together:

    python -m switchboard call --to +15558675310 --say "Your appointment is tomorrow at 9."
    python -m switchboard calls list
    python -m switchboard sms send --to +15558675310 --body "Your order has shipped."
    python -m switchboard sms schedule --to +15558675310 --body "Reminder" \\
        --send-at 2026-12-01T09:00:00+01:00
    python -m switchboard sms import reminders.csv
    python -m switchboard schedules list | show ID | cancel ID
    python -m switchboard messages list
    python -m switchboard show call reminder-42 | show message SM0123...
    python -m switchboard numbers | numbers check | numbers wire --all --app https://...
    python -m switchboard usage --start 2026-11-01 --end 2026-11-30
    python -m switchboard lines list | show | set | override | status | history | preview | ...
    python -m switchboard outbound status | resume +15017122661
    python -m switchboard health
    python -m switchboard inbox users list | add | set | signout | remove
    python -m switchboard contacts list | show | add | set | block | unblock | remove | import | export
    python -m switchboard conversations list | show | reply | done

Settings come from the environment, then `local.settings.json` (its `Values`, as Core Tools reads
them; a variable already set in the environment wins). `--settings PATH` names another file.
The app package must not import `devkit` (it is not deployed), so the file is read here.

Exit status: 0 done, 1 the operation failed (the message says why), 2 what was given cannot be
taken (a usage error, or a file or option the API would refuse: every problem is printed, with
its JSON pointer for a document; `switchboard.commandline`).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from switchboard.calls.commands import call_command, calls_group
from switchboard.commandline import Context, SwitchboardGroup, settings_environment
from switchboard.contacts.commands import contacts as contacts_group
from switchboard.conversations.commands import conversations as conversations_group
from switchboard.inbox.commands import inbox as inbox_group
from switchboard.lines.commands import lines as lines_group
from switchboard.numbers.commands import numbers as numbers_group
from switchboard.operator.commands import (
    health_command,
    messages_group,
    send_command,
    show_group,
    usage_command,
)
from switchboard.outbound.commands import outbound as outbound_group
from switchboard.schedules.commands import import_command, schedule_command, schedules_group

__all__ = ["cli", "main", "settings_environment"]


@click.group(cls=SwitchboardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A local.settings.json to read (default: ./local.settings.json when present).",
)
@click.pass_context
def cli(ctx: click.Context, settings_file: Path | None) -> None:
    """Switchboard's operator command line: calls, SMS, lines, contacts, numbers, history and
    health."""
    ctx.obj = Context(settings_file=settings_file)


@cli.group("sms")
def sms() -> None:
    """Send, schedule and import SMS."""


sms.add_command(send_command)
sms.add_command(schedule_command)
sms.add_command(import_command)
for command in (
    call_command,
    calls_group,
    messages_group,
    schedules_group,
    show_group,
    numbers_group,
    usage_command,
    lines_group,
    outbound_group,
    inbox_group,
    contacts_group,
    conversations_group,
    health_command,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m switchboard`."""
    # Failures reach the user as the command's own one-line message; the library's log lines
    # (meant for Application Insights) would only repeat them on stderr.
    logging.basicConfig(level=logging.CRITICAL)
    # Stored text can hold what UTF-8 cannot carry (a lone surrogate in a row written by hand):
    # printed as its escape, the command still shows the rest, instead of failing on output.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    cli.main(args=list(argv) if argv is not None else None, prog_name="python -m switchboard")
