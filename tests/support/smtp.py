"""A real SMTP server for the alert e-mail tests: aiosmtpd listening on a free local port.

It speaks SMTP over TCP like any mail server (in a thread of the test process, so the test can read
what arrived); nothing is mocked. Each message that arrives is kept, parsed, with its envelope.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from support.bot_process import free_port


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return self.message.get_content()

    @property
    def raw(self) -> str:
        return self.message.as_string()


class _Keep:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK: queued"


class SmtpServer:
    """``with SmtpServer() as smtp:`` then ``smtp.url`` is SMTP_URL and ``smtp.received`` what came."""

    def __init__(self, host: str = "127.0.0.1", login: tuple[str, str] | None = None):
        """``login``: (user, password) the server then insists on (AUTH, allowed without TLS here:
        the test server is on this machine, where the bot speaks without STARTTLS too)."""
        self.host = host
        self.port = free_port()
        self.login = login
        self.received: list[Received] = []
        self.lock = threading.Lock()
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self.controller = Controller(_Keep(self), hostname=host, port=self.port, **auth)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert self.login is not None
        given = (data.login.decode(), data.password.decode())
        return AuthResult(success=given == self.login)

    @property
    def url(self) -> str:
        if self.login is None:
            return f"smtp://{self.host}:{self.port}"
        user, password = (quote(part, safe="") for part in self.login)
        return f"smtp://{user}:{password}@{self.host}:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.received)}")
