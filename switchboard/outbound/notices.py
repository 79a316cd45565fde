"""The owner's one notice that a line's automatic texts paused: its words and its e-mail.

`Outbound` sends it (`service.Outbound._paused`): a text through the same outbound path (its
purpose is never counted or paused) and, where SMTP is set, the e-mail built and sent here.
Exactly one per pause: only the charge (or the Twilio refusal) whose conditional write paused
the line sends it (`budget.Charge.tripped`), whatever the number of instances. Failures are
logged; the pause itself is already recorded, and `GET /api/health` shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from switchboard.logs import get_logger
from switchboard.outbound import wording
from switchboard.outbound.budget import Budget, resumes_at, zone
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)


def resumes_words(budget: Budget, time_zone: str | None) -> str:
    """``at 00:00 on 2026-12-02 (America/New_York)``: when a paused line resumes by itself."""
    at = resumes_at(budget, time_zone)
    if at is None:
        return "when the operator resumes them"
    local = at.astimezone(zone(time_zone))
    return f"at {local:%H:%M} on {local:%Y-%m-%d} ({zone(time_zone).key})"


def paused_text(label: str, budget: Budget, time_zone: str | None) -> str:
    """The text the owner gets."""
    reason = budget.paused or "paused"
    return wording.paused_sms(label, reason, budget.sent, resumes_words(budget, time_zone))


def email_paused(
    settings: Settings,
    emails: Sequence[str],
    label: str,
    budget: Budget,
    time_zone: str | None,
) -> None:
    """The owner's e-mail (where SMTP is set). Never raises: a failure is logged."""
    if not emails or not settings.smtp_host:
        return
    from switchboard.mail import smtp

    reason = budget.paused or "paused"
    try:
        config = smtp.SmtpConfig.from_settings(settings, timeout=10.0)
        message = EmailMessage()
        message["Subject"] = wording.paused_email_subject(label, reason)
        message["From"] = config.sender
        message["To"] = ", ".join(emails)
        # RFC 3834: an automatic message; well-behaved auto-responders leave it alone.
        message["Auto-Submitted"] = "auto-generated"
        why = [f"Skipped since: {budget.skipped}"] if budget.skipped else []
        lines = wording.paused_email_lines(
            label, reason, budget.sent, resumes_words(budget, time_zone), why
        )
        message.set_content("\n".join(lines) + "\n")
        smtp.send(message, config)
    except Exception as exc:
        logger.error(
            "outbound: the owner's e-mail about the pause of %s failed (%s)",
            mask(label),
            type(exc).__name__,
        )
