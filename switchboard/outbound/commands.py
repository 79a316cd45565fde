"""`python -m switchboard outbound ...`: the outbound path from a shell (click; not deployed).

    python -m switchboard outbound status [--json]     # every line's automatic texts today
    python -m switchboard outbound resume +15017122661  # resume a paused line now

The same service as `GET /api/outbound/lines` and `POST /api/outbound/lines/{number}/resume`,
against the app's storage.
"""

from __future__ import annotations

import json
from typing import Any

import click

from switchboard.phone import is_e164


def _storage_failed(exc: BaseException) -> click.ClickException:
    return click.ClickException(f"storage is unavailable ({type(exc).__name__}): try again")


@click.group("outbound")
def outbound() -> None:
    """What the app sends by itself: each line's budget, its pause, the allowed countries."""


@outbound.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status_command(obj: Any, as_json: bool) -> None:
    """Every line's automatic texts today: active or paused, why, the counts."""
    from switchboard.outbound.health import budgets_report, countries
    from switchboard.outbound.service import Outbound

    policy = Outbound(obj.settings)
    try:
        lines = budgets_report(policy)
    except Exception as exc:
        raise _storage_failed(exc) from None
    allowed = countries(policy.destinations)
    if as_json:
        click.echo(json.dumps({"allowedCountries": allowed, "lines": lines}, indent=2))
        return
    shown = allowed if isinstance(allowed, str) else ", ".join(allowed) or "(none known)"
    click.echo(f"Allowed countries: {shown}")
    if not lines:
        click.echo("No line has sent anything automatic yet.")
    for number, report in lines.items():
        state = report["state"]
        if state == "paused":
            state += f" ({report['reason']}; resumes {report.get('resumesAt') or 'when resumed'})"
        click.echo(
            f"{number}  {state}  texts today {report['automaticTexts']}, skipped "
            f"{report['skipped']}, voicemail e-mails {report['voicemailEmails']}"
        )


@outbound.command("resume")
@click.argument("number")
@click.pass_obj
def resume_command(obj: Any, number: str) -> None:
    """Resume a paused line now, with a fresh allowance for the rest of its local day."""
    from switchboard.outbound.service import LineRef, Outbound

    if not is_e164(number):
        raise click.UsageError("NUMBER must be an E.164 phone number such as +15017122661")
    policy = Outbound(obj.settings)
    try:
        known = policy.budgets().get(number)
        resumed = policy.resume(
            LineRef(number, time_zone=known.time_zone if known is not None else None)
        )
    except Exception as exc:
        raise _storage_failed(exc) from None
    click.echo(
        f"Resumed the automatic texts of {number} (sent today: {resumed.sent}, "
        f"skipped: {resumed.skipped})"
    )
