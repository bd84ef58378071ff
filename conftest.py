"""Test-run wiring: an isolated instance folder, and no silent skips in CI."""

from __future__ import annotations

import os

import pytest

# The isolated instance folder is set up by the shebao.testing_env plugin (see pyproject addopts).


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if _ci() and skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; in CI nothing may be skipped.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
