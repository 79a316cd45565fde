"""A sign-in code on its way: by e-mail over SMTP, or by SMS.

The SMS goes through the one way out (`switchboard.outbound`, purpose `sign-in-code`: the
destination check, the opt-out, Twilio, the MessageLog record; never counted against a line's
budget of automatic texts, which must not lock the owner out, and bounded per user by
`switchboard.inbox.codes`). Its words are `switchboard.outbound.wording.sign_in_code`'s.
"""

from __future__ import annotations

from email.message import EmailMessage

from switchboard.inbox.codes import CODE_LIFETIME
from switchboard.outbound import wording
from switchboard.settings import Settings, callback_origin

SUBJECT = "Your Switchboard inbox code"


def code_text(code: str) -> str:
    """The words of a code message (SMS and e-mail alike)."""
    return wording.sign_in_code(code, int(CODE_LIFETIME.total_seconds() // 60))


def send_code_by_email(settings: Settings, address: str, code: str) -> None:
    """Mail the code (`MailFailure` or `MissingSettingError` when it cannot go)."""
    from switchboard.mail import smtp

    config = smtp.SmtpConfig.from_settings(settings, timeout=15)
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = address
    message["Subject"] = SUBJECT
    message.set_content(code_text(code))
    smtp.send(message, config)


def send_code_by_sms(settings: Settings, number: str, code: str) -> None:
    """Text the code (`ApiError` when it cannot go: a destination the outbound policy refuses,
    opted out, Twilio refusing, ...)."""
    from switchboard.http import ApiError
    from switchboard.logbook.statuses import Kind, status_callback_url
    from switchboard.outbound.purposes import Purpose
    from switchboard.outbound.service import LineRef, Message, Outbound

    origin = callback_origin(settings)
    sent = Outbound(settings).send(
        Message(Purpose.SIGN_IN_CODE, LineRef(""), number, body=code_text(code)),
        status_callback=status_callback_url(origin, Kind.MESSAGE) if origin else None,
        source="inbox-code",
    )
    if sent.sid is None:
        raise ApiError(400, "not_sent", f"the code was not sent: {sent.word}", "phone")


def send_code(settings: Settings, kind: str, address: str, code: str) -> None:
    """Send the code over the address's channel (`phone` or `email`)."""
    if kind == "phone":
        send_code_by_sms(settings, address, code)
    else:
        send_code_by_email(settings, address, code)
