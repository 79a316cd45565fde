"""The owner's one notice that a line's automatic texts paused: a text through the same
outbound path (its purpose is never counted or paused) and, where SMTP is set, an e-mail.
The owner is the line's (`LineRef.owner_numbers`, `owner_emails`), else `OWNER_NUMBER` and
`OWNER_EMAIL`.

Exactly one per pause: only the charge (or the Twilio refusal) whose conditional write paused
the line sends it (`budget.Charge.tripped`), whatever the number of instances. Failures are
logged; the pause itself is already recorded, and `GET /api/health` shows it.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

from switchboard import records
from switchboard.logs import get_logger
from switchboard.outbound import wording
from switchboard.outbound.budget import Budget, resumes_at, zone
from switchboard.outbound.purposes import Purpose
from switchboard.phone import mask

if TYPE_CHECKING:
    from switchboard.outbound.service import LineRef, Outbound

logger = get_logger(__name__)


def resumes_words(budget: Budget, time_zone: str | None) -> str:
    """``at 00:00 on 2026-12-02 (America/New_York)``: when a paused line resumes by itself."""
    at = resumes_at(budget, time_zone)
    if at is None:
        return "when the operator resumes them"
    local = at.astimezone(zone(time_zone))
    return f"at {local:%H:%M} on {local:%Y-%m-%d} ({zone(time_zone).key})"


def notify_paused(outbound: Outbound, line: LineRef, budget: Budget) -> None:
    """Send the owner's notice of a pause (see the module doc)."""
    from switchboard.outbound.service import Message

    reason = budget.paused or "paused"
    resumes = resumes_words(budget, line.time_zone)
    settings = outbound.settings
    numbers = line.owner_numbers or tuple(n for n in (settings.owner_number,) if n)
    emails = line.owner_emails or tuple(a for a in (settings.owner_email,) if a)
    for owner in numbers[:1]:
        try:
            sent = outbound.send(
                Message(
                    Purpose.BUDGET_NOTICE,
                    line,
                    owner,
                    key=f"paused-{line.number}-{records.iso(budget.paused_at or records.utcnow())}",
                    body=wording.paused_sms(line.label, reason, budget.sent, resumes),
                ),
                source="automatic",
            )
            logger.warning(
                "outbound: the owner %s was told that %s paused (%s)",
                mask(owner),
                mask(line.number),
                sent.word,
            )
        except Exception as exc:
            logger.error(
                "outbound: the owner's text about the pause of %s failed (%s)",
                mask(line.number),
                type(exc).__name__,
            )
    if emails and settings.smtp_host:
        _email(outbound, line, emails, reason, budget, resumes)


def _email(
    outbound: Outbound,
    line: LineRef,
    emails: tuple[str, ...],
    reason: str,
    budget: Budget,
    resumes: str,
) -> None:
    from switchboard.mail import smtp

    try:
        config = smtp.SmtpConfig.from_settings(outbound.settings, timeout=10.0)
        message = EmailMessage()
        message["Subject"] = wording.paused_email_subject(line.label, reason)
        message["From"] = config.sender
        message["To"] = ", ".join(emails)
        message["Auto-Submitted"] = "auto-generated"
        why = [f"Skipped since: {budget.skipped}"] if budget.skipped else []
        message.set_content(
            "\n".join(wording.paused_email_lines(line.label, reason, budget.sent, resumes, why))
            + "\n"
        )
        smtp.send(message, config)
    except Exception as exc:
        logger.error(
            "outbound: the owner's e-mail about the pause of %s failed (%s)",
            mask(line.number),
            type(exc).__name__,
        )
