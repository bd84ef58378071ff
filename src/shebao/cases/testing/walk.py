"""Fixtures and helpers for walking a case through the services in tests (the cases, evidence and
demo tests share them): an HR actor, a for-people email channel (a real local SMTP server, or a
port nobody listens on when the message only has to be queued), and the employee's answer."""

from __future__ import annotations

import pytest

from shebao.core.context import Actor
from shebao.notify.testing.smtp import SmtpServer


def _email_channel(system, host: str, port: int):
    from shebao.notify.services import channel_create

    return channel_create(
        actor=system,
        kind="email",
        name="员工邮箱",
        config={"host": host, "port": port, "security": "none", "from": "hr@example.com"},
        for_people=True,
    )


@pytest.fixture
def hr(admin) -> Actor:
    return Actor(user=admin)


@pytest.fixture
def mailbox(db, system):
    """A for-people email channel on a real local SMTP server."""
    with SmtpServer() as server:
        _email_channel(system, server.host, server.port)
        yield server


@pytest.fixture
def email_channel(db, system):
    """A for-people email channel to a port nobody listens on: letters can be sent (queued)."""
    return _email_channel(system, "127.0.0.1", 9)


def answer(letter, decision: str, *, reason: str = "", files=None):
    """The employee opens the newest link, confirms with the last 4 of the ID number, answers."""
    from shebao.cases.services import ack_resolve, ack_submit, ack_token, ack_verify
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    request = letter.requests.order_by("-id").first()
    resolved = ack_resolve(ack_token(request))
    assert resolved.ok, resolved.state
    number = crypto.decrypt(letter.case.employee.id_number_enc, purpose=ID_PURPOSE)
    assert ack_verify(request=resolved.request, value=number[-4:], ip="10.0.0.8") == "id_last4"
    return ack_submit(
        request=resolved.request,
        decision=decision,
        reason=reason,
        shown_sha256=letter.sha256,
        files=files,
        ip="10.0.0.8",
        user_agent="Mozilla/5.0 (iPhone)",
    )
