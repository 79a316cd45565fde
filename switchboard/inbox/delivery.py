"""A sign-in code on its way: by e-mail over SMTP, or by SMS.

Each channel is one small function so that the SMS one can move to another send path by
changing its body alone: today it goes through the operator's send path
(`switchboard.operator.service.send_message`: the opt-out check, Twilio, the MessageLog record
with source `inbox-code`), the one way the app texts on request.
"""

from __future__ import annotations

from email.message import EmailMessage

from switchboard.inbox.codes import CODE_LIFETIME
from switchboard.settings import Settings, callback_origin

SUBJECT = "Your Switchboard inbox code"


def code_text(code: str) -> str:
    """The words of a code message (SMS and e-mail alike)."""
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return (
        f"{code} is your Switchboard inbox code. It works once, for {minutes} minutes. "
        "If you did not ask for it, ignore this message."
    )


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
    """Text the code (`ApiError` when it cannot go: opted out, Twilio refusing, ...)."""
    from switchboard.operator import service
    from switchboard.operator.api import SendRequest

    service.send_message(
        settings,
        SendRequest(to=number, body=code_text(code)),
        app_base_url=callback_origin(settings),
        source="inbox-code",
    )


def send_code(settings: Settings, kind: str, address: str, code: str) -> None:
    """Send the code over the address's channel (`phone` or `email`)."""
    if kind == "phone":
        send_code_by_sms(settings, address, code)
    else:
        send_code_by_email(settings, address, code)
