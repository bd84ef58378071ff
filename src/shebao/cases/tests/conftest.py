"""Fixtures for the cases tests."""

import pytest

from shebao.api.tests.helpers import api_as, token_for  # noqa: F401 (the API client fixtures)
from shebao.notify.testing.sms import sms_sink  # noqa: F401 (the SMS sink fixture)


@pytest.fixture
def email_channel(db, system):
    """A for-people email channel, so letters can be sent (to a port nobody listens on: the
    message is only queued)."""
    from shebao.notify.services import channel_create

    return channel_create(
        actor=system,
        kind="email",
        name="员工邮箱",
        config={"host": "127.0.0.1", "port": 9, "security": "none", "from": "hr@example.com"},
        for_people=True,
    )
