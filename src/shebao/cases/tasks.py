"""Background jobs of the cases room: opening the cases that rules ask for automatically.

``cases_auto_open_task`` runs every minute and is queued when an evaluation that opened findings
commits (``rules.engine.transitions_record`` → ``cases_auto_open_on_commit``)."""

from __future__ import annotations

import logging

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger(__name__)


def _wanted() -> bool:
    from shebao.rules.models import AlertRule

    return AlertRule.objects.filter(enabled=True).exclude(auto_case="").exists()


@db_periodic_task(crontab(minute="*"))
def cases_auto_open_periodic_task() -> int:
    return _run()


@db_task()
def cases_auto_open_task() -> int:
    return _run()


def _run() -> int:
    if not _wanted():
        return 0
    from shebao.cases.services import cases_auto_open
    from shebao.rules.models import FindingTransition

    pending = FindingTransition.objects.filter(processed_at__isnull=True, to_status="open").exclude(
        finding__rule__auto_case=""
    )
    total = 0
    for _ in range(10):  # up to 2,000 openings a run; the next minute takes the rest
        if not pending.exists():
            break
        total += len(cases_auto_open())
    if total:
        logger.info("cases: opened %s cases automatically", total)
    return total


def cases_auto_open_on_commit() -> None:
    """Queue an automatic-opening run after the current transaction commits, when some rule
    opens cases automatically; never fails the caller (the minute's schedule catches up)."""
    try:
        if not _wanted():
            return
    except Exception:  # pragma: no cover - a broken query must not break an evaluation
        logger.exception("cases: could not check for automatic cases")
        return

    def queue() -> None:
        try:
            cases_auto_open_task()
        except Exception:
            logger.exception("cases: could not queue automatic cases")

    transaction.on_commit(queue)
