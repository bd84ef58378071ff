"""Fixtures for the cases tests."""

from shebao.notify.testing.sms import sms_sink  # noqa: F401 (the SMS sink fixture)
