"""A line as the outbound path sees it (`switchboard.outbound.service.LineRef`): the number its
texts go out from and whose budget they count against, its zone (its local day), its name, and
who hears that its automatic texts paused: the owner's number (`sms.forwardTo`, else
`OWNER_NUMBER`, else the first `voicemail.notify.sms` of its flows) and e-mail (`OWNER_EMAIL`,
else the line's `voicemail.notify.email` addresses)."""

from __future__ import annotations

from collections.abc import Iterator

from switchboard.lines.model import Line, MenuStep, Step, VoicemailStep
from switchboard.logs import get_logger
from switchboard.outbound.service import LineRef, owners
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)


def _voicemail_steps(steps: tuple[Step, ...]) -> Iterator[VoicemailStep]:
    for step in steps:
        if isinstance(step, VoicemailStep):
            yield step
        elif isinstance(step, MenuStep):
            for option in step.options:
                yield from _voicemail_steps(option.steps)


def voicemail_steps(line: Line) -> list[VoicemailStep]:
    """Every voicemail step of the line's flows."""
    return [found for steps in line.flows.values() for found in _voicemail_steps(steps)]


def line_ref(line: Line, settings: Settings, number: str | None = None) -> LineRef:
    """The outbound view of `line` (`number`: the number called, for the default line). Its
    zone is always named ("UTC" for a line without one): a `LineRef` without a zone is a caller
    that does not know the line's (`outbound.budget.rolled`)."""
    steps = voicemail_steps(line)
    texts = [n for step in steps for n in step.notify_sms]
    emails = [a for step in steps for a in step.notify_email]
    return LineRef(
        number=line.number or number or settings.twilio_from_number or "",
        time_zone=line.time_zone or "UTC",
        name=line.name,
        owner_numbers=owners([line.sms_forward_to or settings.owner_number, *texts[:1]])[:1],
        owner_emails=owners([settings.owner_email] if settings.owner_email else emails),
    )


def line_ref_of(number: str, settings: Settings) -> LineRef:
    """The outbound view of the line of `number` (its stored line, else the default line), for
    a caller that knows only the number; a number storage cannot look up now keeps no zone
    (its budget's own is used). Never raises."""
    from switchboard.lines.lookup import line_for

    if not number:
        return LineRef(number)
    try:
        return line_ref(line_for(number, settings), settings, number)
    except Exception as exc:
        logger.warning("the line of %s is unknown now (%s)", mask(number), type(exc).__name__)
        return LineRef(number)


def people_to_tell(line: Line, settings: Settings) -> tuple[str, ...]:
    """Who hears what a customer's text did (a reminder cancelled): the line's relay people
    (`sms.relay`) when it names any, else its owner (`sms.forwardTo`, else `OWNER_NUMBER`)."""
    relay = getattr(line, "sms_relay", None) or ()
    numbers = [str(getattr(person, "number", person)) for person in relay]
    return owners(numbers) or owners([line.sms_forward_to or settings.owner_number])
