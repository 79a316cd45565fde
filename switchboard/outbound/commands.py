"""`python -m switchboard outbound ...`: the outbound path from a shell (click; not deployed).

    python -m switchboard outbound status [--json]     # every line's automatic texts today
    python -m switchboard outbound resume +15017122661  # resume a paused line now
    python -m switchboard outbound clear +15017122661   # its texts are registered now

The same service as `GET /api/outbound/lines` and `POST /api/outbound/lines/{number}/resume`,
against the app's storage; `status` also lists the lines whose texts Twilio reports not
registered or filtered (as `GET /api/health` does, under `messaging`), and `clear` forgets
them once fixed: the next such failure counts from one and tells the owner again.
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
    from switchboard.outbound.health import budgets_report, countries, messaging_report
    from switchboard.outbound.service import Outbound

    policy = Outbound(obj.settings)
    try:
        lines = budgets_report(policy)
        messaging = messaging_report(policy)
    except Exception as exc:
        raise _storage_failed(exc) from None
    allowed = countries(policy.destinations)
    if as_json:
        found = {"allowedCountries": allowed, "lines": lines, "messaging": messaging}
        click.echo(json.dumps(found, indent=2))
        return
    shown = allowed if isinstance(allowed, str) else ", ".join(allowed) or "(none known)"
    click.echo(f"Allowed countries: {shown}")
    if not lines:
        click.echo("No line has sent anything automatic yet.")
    for kind in ("registration", "filtered"):
        if messaging.get(kind):
            click.echo(f"Texts {kind}: {messaging[kind]}")
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


@outbound.command("clear")
@click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
@click.pass_obj
def clear_command(obj: Any, numbers: tuple[str, ...]) -> None:
    """Forget a line's texts blocked as not registered or filtered, once fixed: GET /api/health
    stops reporting them, and the next such failure tells the owner again."""
    from switchboard.outbound.service import Outbound

    for number in numbers:
        if not is_e164(number):
            raise click.UsageError("NUMBER must be an E.164 phone number such as +15017122661")
    policy = Outbound(obj.settings)
    for number in numbers:
        try:
            cleared = policy.clear_problems(number)
        except Exception as exc:
            raise _storage_failed(exc) from None
        if cleared:
            click.echo(f"Cleared the delivery problems of {number} ({cleared})")
        else:
            click.echo(f"{number} had no delivery problem to clear")
