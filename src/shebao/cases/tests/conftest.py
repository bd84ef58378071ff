"""Fixtures for the cases tests."""

from shebao.api.tests.helpers import api_as, token_for  # noqa: F401 (the API client fixtures)
from shebao.cases.testing.walk import email_channel, hr, mailbox  # noqa: F401 (shared fixtures)
from shebao.notify.testing.sms import sms_sink  # noqa: F401 (the SMS sink fixture)
