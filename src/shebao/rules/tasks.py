"""Background jobs of the rules room.

* ``findings_evaluate_daily_task`` — every day at 05:30 (Asia/Shanghai: HUEY ``utc`` is off and
  Django sets TZ from TIME_ZONE), after the roster's status refresh at 00:05: every enabled rule,
  for everyone, as of today. Deadlines move with the date (a registration warning becomes
  overdue), and snoozes whose date has come reopen, so this is also what expires snoozes.
* ``findings_consume_changes_task`` — every 5 minutes, and queued by the ledger's worker jobs
  right after a sync or a confirmed upload: evaluates the rules for the people named by the
  ledger's unconsumed change events (claimed atomically, so the schedule and a queued run never
  take one event twice).
* ``findings_evaluate_task`` — on demand: for some employees / ledger people (a roster change),
  for some rules (a rule just created or edited), or everything.

Nothing here is scheduled by web processes: the consumer (``shebao worker``) runs the periodic
tasks; the web and the CLI only queue. ``findings_evaluate_on_commit`` is how the roster and
import services queue a re-evaluation: after their transaction commits, and never failing the
caller (the daily evaluation catches up with anything a failed enqueue missed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shebao.core.context import Actor

logger = logging.getLogger(__name__)

# Beyond this many employees an incremental evaluation is no cheaper than a full one (and the
# ``IN (…)`` lists would grow past what SQLite accepts).
MAX_INCREMENTAL = 2000
# findings_consume_changes takes up to 20 000 events a call; a task takes at most this many calls.
MAX_CONSUME_ROUNDS = 10


def _summary(result) -> dict[str, Any]:
    if result is None:
        return {"rules": 0, "opened": 0, "updated": 0, "resolved": 0}
    return {
        "as_of": result.as_of.isoformat(),
        "rules": len(result.rules),
        "opened": result.opened,
        "updated": result.updated,
        "resolved": result.resolved,
    }


@db_periodic_task(crontab(minute="30", hour="5"))
def findings_evaluate_daily_task() -> dict[str, Any]:
    """Daily at 05:30: the full evaluation as of today (also reopens snoozes that have expired)."""
    from shebao.rules.services import findings_evaluate

    result = findings_evaluate(actor=Actor.system(via="worker"))
    summary = _summary(result)
    logger.info("rules: daily evaluation %s", summary)
    return summary


@db_periodic_task(crontab(minute="*/5"))
def findings_consume_changes_task() -> dict[str, Any]:
    """Every 5 minutes (and queued after syncs): evaluate for the people the ledger changed."""
    from shebao.rules.services import findings_consume_changes

    total = {"rounds": 0, "opened": 0, "updated": 0, "resolved": 0}
    actor = Actor.system(via="worker")
    for _ in range(MAX_CONSUME_ROUNDS):
        result = findings_consume_changes(actor=actor)
        if result is None:
            break
        total["rounds"] += 1
        for name in ("opened", "updated", "resolved"):
            total[name] += getattr(result, name)
    return total


@db_task()
def findings_evaluate_task(
    employee_ids: list[int] | None = None,
    person_ids: list[int] | None = None,
    rule_ids: list[int] | None = None,
    kinds: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate now: for the given employees / ledger people (incremental), else for everyone;
    limited to ``rule_ids`` / ``kinds`` when given."""
    from shebao.rules.services import findings_evaluate

    incremental = employee_ids is not None or person_ids is not None
    if incremental and not (employee_ids or person_ids):
        return _summary(None)
    if incremental and len(employee_ids or ()) + len(person_ids or ()) > MAX_INCREMENTAL:
        employee_ids = person_ids = None
        incremental = False
    result = findings_evaluate(
        actor=Actor.system(via="worker"),
        employee_ids=employee_ids if incremental else None,
        person_ids=person_ids if incremental else None,
        rule_ids=rule_ids,
        kinds=kinds,
    )
    return _summary(result)


def _enqueue(**kwargs: Any) -> None:
    try:
        findings_evaluate_task(**kwargs)
    except Exception:  # the queue is down: the write stands, the daily evaluation catches up
        logger.exception("rules: could not queue an evaluation (%s)", kwargs)


def findings_evaluate_on_commit(
    *, employee_ids: Iterable[int] | None = None, rule_ids: Iterable[int] | None = None
) -> None:
    """Queue ``findings_evaluate_task`` once the current transaction commits (at once outside one).
    ``employee_ids``: re-evaluate those employees; ``rule_ids``: those rules for everyone."""
    if rule_ids is not None:
        rules = sorted(set(rule_ids))
        if rules:
            transaction.on_commit(lambda: _enqueue(rule_ids=rules))
        return
    ids = sorted({int(pk) for pk in employee_ids or () if pk})
    if not ids:
        return
    if len(ids) > MAX_INCREMENTAL:
        transaction.on_commit(lambda: _enqueue())
    else:
        transaction.on_commit(lambda: _enqueue(employee_ids=ids))


def findings_consume_changes_enqueue() -> None:
    """Queue the change consumption (the ledger worker jobs call this after a sync or upload)."""
    try:
        findings_consume_changes_task()
    except Exception:
        logger.exception("rules: could not queue the change consumption")
