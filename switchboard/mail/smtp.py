"""SMTP with the standard library: the connection the settings describe, and what a failure means.

- `SmtpConfig.from_settings` reads `SMTP_HOST`, `SMTP_PORT`, `SMTP_USERNAME`, `SMTP_PASSWORD`,
  `SMTP_FROM` and `SMTP_TLS` (`MissingSettingError` names a missing one).
- `send(message, config)` delivers one `email.message.EmailMessage`: `starttls` (the default)
  connects in plain text and upgrades with STARTTLS before anything else (refusing a server
  that does not offer it, so a password never crosses the network readable); `implicit` speaks
  TLS from the first byte (port 465, "SMTPS"); `none` neither (a local test server such as
  aiosmtpd or MailHog; refused in Azure unless the host is loopback, see `switchboard.settings`).
  Certificates are verified against the system's trust store (`SSL_CERT_FILE` is honoured).
- Failures raise `MailFailure`, `transient` when trying again later may help: no connection,
  a timeout, a dropped connection, a 4xx reply; permanent for 5xx replies (a recipient refused,
  authentication refused, a message rejected), a server without STARTTLS, a certificate that
  does not verify, or a missing setting.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from switchboard.settings import Settings

DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}
#: Seconds for connecting and for each reply of the server.
DEFAULT_TIMEOUT_SECONDS = 30.0


class MailFailure(Exception):
    """A message was not delivered to the server: `transient` when a later try may succeed."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit mail."""

    host: str
    port: int
    sender: str
    tls: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float | None = None) -> SmtpConfig:
        """The configuration of the settings; `MissingSettingError` for SMTP_HOST / SMTP_FROM."""
        host = settings.require("smtp_host", "e-mail notices")
        sender = settings.require("smtp_from", "e-mail notices")
        return cls(
            host=host,
            port=settings.smtp_port or DEFAULT_PORTS[settings.smtp_tls],
            sender=sender,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=timeout or DEFAULT_TIMEOUT_SECONDS,
        )

    @property
    def sender_address(self) -> str:
        """The bare address of `sender` (without its display name)."""
        return parseaddr(self.sender)[1]


def _connect(config: SmtpConfig, context: ssl.SSLContext) -> smtplib.SMTP:
    if config.tls == "implicit":
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        connection.ehlo()
        if config.tls == "starttls":
            if not connection.has_extn("starttls"):
                raise MailFailure("the server does not offer STARTTLS", transient=False)
            connection.starttls(context=context)
            connection.ehlo()
    except BaseException:
        connection.close()
        raise
    return connection


def send(
    message: EmailMessage, config: SmtpConfig, *, context: ssl.SSLContext | None = None
) -> None:
    """Submit `message` (its own From/To headers say who); `MailFailure` when not accepted."""
    try:
        connection = _connect(config, context or ssl.create_default_context())
        try:
            if config.username and config.password:
                connection.login(config.username, config.password)
            refused = connection.send_message(message)
        finally:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()
    except MailFailure:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused(exc.recipients) from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        raise MailFailure(
            f"the server answered {exc.smtp_code} {text.strip()[:200]}".strip(),
            transient=400 <= exc.smtp_code < 500,
            code=exc.smtp_code,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailFailure(f"not supported by the server: {exc}", transient=False) from None
    except ssl.SSLCertVerificationError as exc:
        raise MailFailure(
            f"certificate not trusted: {exc.verify_message}", transient=False
        ) from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timeouts, drops
        raise MailFailure(
            f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": "), transient=True
        ) from None
    if refused:
        raise _refused(refused)


def _refused(recipients: dict[str, tuple[int, bytes]]) -> MailFailure:
    """The failure for refused recipients: transient only when every refusal is a 4xx."""
    codes = [code for code, _ in recipients.values()]
    return MailFailure(
        f"recipient refused ({', '.join(str(c) for c in codes)})",
        transient=bool(codes) and all(400 <= c < 500 for c in codes),
        code=codes[0] if codes else None,
    )
