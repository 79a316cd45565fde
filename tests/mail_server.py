"""A real SMTP server for tests (aiosmtpd), on a free loopback port, that keeps what it received.

    with MailServer() as server:              # plain SMTP (SMTP_TLS=none)
        ... server.port, server.messages (email.message.EmailMessage, parsed) ...
        server.refuse_data(2, "451 4.3.0 Try again later")   # the next two DATA commands
        server.refuse_recipients("550 5.1.1 No such user")
        server.stop(); server.start()         # connections refused, then served again

`MailServer(tls=(cert, key), login=("user", "pass"))` offers STARTTLS with that certificate and
requires AUTH (only over TLS) with those credentials.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devkit.ports import free_port


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.server.recipient_refusal
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.data_commands += 1
            if self.server.data_refusals:
                self.server.data_refusals -= 1
                return self.server.data_refusal
        if self.server.data_delay:
            await asyncio.sleep(self.server.data_delay)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.server.lock:
            self.server.received.append(
                (envelope.mail_from, list(envelope.rcpt_tos), parsed, session.authenticated)
            )
        return "250 Message accepted for delivery"


class MailServer:
    """aiosmtpd in a thread of its own, on 127.0.0.1."""

    def __init__(
        self,
        *,
        tls: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.login = login
        self.lock = threading.Lock()
        self.received: list[tuple[str, list[str], EmailMessage, bool]] = []
        self.data_commands = 0
        self.data_refusals = 0
        self.data_refusal = "451 4.3.0 Try again later"
        self.data_delay = 0.0
        self.recipient_refusal: str | None = None
        self.logins: list[str] = []
        self._controller: Controller | None = None

    # -- what tests read ---------------------------------------------------------------------

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message accepted, parsed, oldest first."""
        with self.lock:
            return [message for _, _, message, _ in self.received]

    def settings(self, sender: str = "switchboard@acme.example") -> dict[str, str]:
        """The app's SMTP settings for this server (plain SMTP, no login)."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": sender,
        }

    def clear(self) -> None:
        """Forget what was received so far."""
        with self.lock:
            self.received.clear()

    def envelopes(self) -> Iterator[tuple[str, list[str], bool]]:
        """(MAIL FROM, RCPT TO, authenticated) of each accepted message."""
        with self.lock:
            entries = list(self.received)
        for sender, recipients, _, authenticated in entries:
            yield sender, recipients, authenticated

    # -- what tests configure ----------------------------------------------------------------

    def refuse_data(self, times: int, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next `times` DATA commands with `reply` (4xx: temporary, 5xx: not)."""
        with self.lock:
            self.data_refusals, self.data_refusal = times, reply

    def refuse_recipients(self, reply: str | None) -> None:
        """Answer every RCPT TO with `reply` (None: accept again)."""
        self.recipient_refusal = reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.login is None:
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        ok = (user, password) == self.login
        if ok:
            self.logins.append(user)
        return AuthResult(success=ok, handled=False)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> MailServer:
        """Listen (again) on the same port."""
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {}
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if self.login is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=True
            )
        controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
