"""Fixtures of the notifications room's own test helpers, for every test here."""

from shebao.notify.testing.fakes import fake_providers  # noqa: F401
from shebao.notify.testing.sms import sms_sink  # noqa: F401
