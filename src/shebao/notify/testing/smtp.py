"""A real SMTP server for tests: aiosmtpd in a thread on 127.0.0.1, keeping what it receives.

    with SmtpServer(auth=("hr", "secret")) as server:
        Email({"host": server.host, "port": server.port, "security": "none", ...}).send(message)
        assert server.messages[0]["Subject"] == "…"

It can also misbehave on purpose: ``refuse()`` closes the listening socket (connections are
refused) and ``recover()`` listens again on the same port; ``reject_next()`` answers the next
RCPT or DATA commands with an error code.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_DEFAULT_TEXT = {4: "4.3.0 Temporary failure, try again later", 5: "5.1.1 Mailbox unavailable"}


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (aiosmtpd's controller cannot start on port 0: it
    connects to its own port to check that the server is up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One accepted message with its envelope (Bcc recipients appear only in ``rcpt_tos``)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    login: str | None = None  # the AUTH user, when the client logged in


@dataclass
class _Rejection:
    at: Literal["rcpt", "data"]
    reply: str
    times: int


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[Received] = field(default_factory=list)
    rejections: list[_Rejection] = field(default_factory=list)

    def take(self, at: str) -> str | None:
        with self.lock:
            for rejection in self.rejections:
                if rejection.at == at:
                    rejection.times -= 1
                    if rejection.times <= 0:
                        self.rejections.remove(rejection)
                    return rejection.reply
        return None


class _Handler:
    def __init__(self, state: _State, *, auth_required: bool) -> None:
        self.state = state
        self.auth_required = auth_required

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        # Checked here rather than with aiosmtpd's auth_required, which warns on every connection
        # when it is combined with AUTH over plain text (what tests use).
        if self.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.state.take("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.state.take("data")
        if reply:
            return reply
        raw = envelope.original_content or b""
        auth = session.auth_data
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),  # type: ignore[arg-type]
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        )
        with self.state.lock:
            self.state.received.append(received)
        return "250 2.0.0 OK: queued"


class SmtpServer:
    """Context manager; ``messages`` lists the parsed messages in the order received."""

    def __init__(
        self, *, auth: tuple[str, str] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self._state = _State()
        self._controller: Controller | None = None

    # --- what arrived ---------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    def clear(self) -> None:
        with self._state.lock:
            self._state.received.clear()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SmtpServer:
        if self._controller is None:
            self._controller = self._make_controller()
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self) -> None:
        """Stop listening: connecting now fails with "connection refused"."""
        self.stop()

    def recover(self) -> None:
        """Listen again on the same port (a stopped controller cannot restart: its loop is closed)."""
        self.start()

    def reject_next(
        self, code: int, text: str = "", times: int = 1, *, at: Literal["rcpt", "data"] = "data"
    ) -> None:
        """Answer the next ``times`` RCPT (one per recipient) or DATA commands with ``code``."""
        if not 400 <= code < 600:
            raise ValueError("code should be a 4xx or 5xx SMTP reply code")
        reply = f"{code} {text or _DEFAULT_TEXT[code // 100]}"
        with self._state.lock:
            self._state.rejections.append(_Rejection(at=at, reply=reply, times=times))

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _make_controller(self) -> Controller:
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_require_tls=False,  # tests speak plain SMTP on the loopback
            )
        return Controller(
            _Handler(self._state, auth_required=self.auth is not None),
            hostname=self.host,
            port=self.port,
            server_hostname="shebao-test-smtp",  # skips socket.getfqdn(), slow without DNS
            ready_timeout=10,
            **kwargs,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.auth is not None
        username, password = self.auth
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == username.encode() and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd answers a failure with "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
