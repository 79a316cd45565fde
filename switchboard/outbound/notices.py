"""The owner's notices: that a line's automatic texts paused, and that a line's texts are not
registered or are filtered. Their words (from `wording`) and their e-mails.

`Outbound` sends them: a text through the same outbound path (their purposes are never counted
or paused) and, where SMTP is set, the e-mail built and sent here (`send_email`).

- A pause (`service.Outbound._paused`): exactly one per pause: only the charge (or the Twilio
  refusal) whose conditional write paused the line sends it (`budget.Charge.tripped`),
  whatever the number of instances. Failures are logged; the pause itself is already
  recorded, and `GET /api/health` shows it.
- A delivery problem (`service.Outbound.delivery_problem`): one per line and kind of problem,
  then at most one a week while it goes on (`problems.count`); the e-mail first, and a text
  only from another of the business's numbers (the line's own texts are what is blocked).
  How it went is written on the problem's row, and `GET /api/health` says it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from switchboard import records
from switchboard.logs import get_logger
from switchboard.outbound import problems, wording
from switchboard.outbound.budget import Budget, resumes_at, zone
from switchboard.outbound.problems import DeliveryProblem
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


def send_email(
    settings: Settings, emails: Sequence[str], subject: str, lines: Sequence[str]
) -> str | None:
    """One of the owner's e-mails (where SMTP is set): None when the server took it, else why
    not. Never raises."""
    if not emails:
        return "no owner e-mail address"
    if not settings.smtp_host:
        return "SMTP is not set up"
    from switchboard.mail import smtp

    try:
        config = smtp.SmtpConfig.from_settings(settings, timeout=10.0)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = config.sender
        message["To"] = ", ".join(emails)
        # RFC 3834: an automatic message; well-behaved auto-responders leave it alone.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content("\n".join(lines) + "\n")
        smtp.send(message, config)
    except Exception as exc:
        return f"failed ({type(exc).__name__})"
    return None


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
    reason = budget.paused or "paused"
    why = [f"Skipped since: {budget.skipped}"] if budget.skipped else []
    failed = send_email(
        settings,
        emails,
        wording.paused_email_subject(label, reason),
        wording.paused_email_lines(
            label, reason, budget.sent, resumes_words(budget, time_zone), why
        ),
    )
    if failed is not None:
        logger.error("outbound: the owner's e-mail about the pause of %s: %s", mask(label), failed)


# --------------------------------------------------------------------------------------------
# A line's texts not registered or filtered (`problems`)


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment is not None else "today"


def _until(problem: DeliveryProblem) -> str:
    return _day((problem.told_at or problem.last or records.utcnow()) + problems.REMIND)


def problem_text(label: str, problem: DeliveryProblem) -> str:
    """The text the owner gets about a delivery problem."""
    return wording.problem_sms(
        label,
        problem.count,
        problems.what(problem.code_numbers),
        _day(problem.since),
        _until(problem),
    )


def email_problem(
    settings: Settings, emails: Sequence[str], label: str, problem: DeliveryProblem
) -> str | None:
    """The owner's e-mail about a delivery problem: None when sent, else why not."""
    codes = problem.code_numbers
    words = problems.problem_of(codes[-1] if codes else None) or problem.kind.value
    return send_email(
        settings,
        emails,
        wording.problem_email_subject(label, words),
        wording.problem_email_lines(
            label,
            problem.count,
            problems.what(codes),
            _day(problem.since),
            problems.advice(codes),
            _until(problem),
            problem.error,
        ),
    )
