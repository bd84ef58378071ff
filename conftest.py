"""Test-run wiring: an isolated instance folder, and no silent skips in CI."""

from __future__ import annotations

import os
import tempfile

import pytest

# Tests never touch the developer's ./instance (database, keys, queue).
os.environ.setdefault("SHEBAO_INSTANCE_DIR", tempfile.mkdtemp(prefix="shebao-test-"))
os.environ.setdefault("SHEBAO_HUEY_IMMEDIATE", "true")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if _ci() and skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; in CI nothing may be skipped.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
