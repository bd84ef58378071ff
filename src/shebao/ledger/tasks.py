"""Background jobs of the ledger: run the connectors that are due; apply a confirmed upload.

Every five minutes ``ledger_connectors_tick_task`` looks for enabled connectors whose
``next_run_at`` has come, claims each with a conditional UPDATE (moving ``next_run_at`` one
interval on, so a second scheduler or the next tick does not queue it again) and queues one
``ledger_connector_sync_task`` per connector. A connector never runs twice at once: the HTTP
sync refuses to start while a run of the same connector is in progress (checked and started in
one transaction with the connector row locked), the drop-folder poll holds a file lock.

After a sync or an upload has been applied (and its people reconciled), the rules are evaluated
for the people it changed: the job queues ``findings_consume_changes_task``, which consumes the
ledger's change events.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shebao.core.context import Actor
from shebao.ledger.connectors.base import ConnectorError
from shebao.ledger.models import Connector, SyncRun
from shebao.ledger.sync import ConnectorBusy, connector_claim, connector_run, connectors_due

logger = logging.getLogger(__name__)


@db_task()
def ledger_connector_sync_task(
    connector_id: int,
    full: bool = False,
    user_id: int | None = None,
    ip: str | None = None,
    via: str = "worker",
) -> str:
    """``user_id``: who pressed 立即同步 (the run and its audit row name them); None for the schedule."""
    from shebao.accounts.models import User

    connector = Connector.objects.select_related("entity").filter(pk=connector_id).first()
    if connector is None:
        return "missing"
    if not connector.enabled and user_id is None:
        return "disabled"
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    actor = Actor(user=user, ip=ip, via=via) if user is not None else Actor.system(via="worker")
    try:
        runs = connector_run(connector=connector, actor=actor, full=full)
    except ConnectorBusy:
        logger.info("connector %s: already running, skipped", connector_id)
        return "busy"
    except ConnectorError as exc:  # a drop folder that is missing or not allowed
        logger.warning("connector %s: %s", connector_id, exc.message)
        return "failed"
    if runs:
        _rules_follow()
    return runs[-1].status if runs else "idle"


def _rules_follow() -> None:
    """The alert rules follow what the ledger now says (for the people whose data changed)."""
    from shebao.rules.tasks import findings_consume_changes_enqueue

    findings_consume_changes_enqueue()


@db_periodic_task(crontab(minute="*/5"))
def ledger_connectors_tick_task() -> list[int]:
    """Every 5 minutes: queue a sync for each connector that is due; the ids queued."""
    now = timezone.now()
    queued = []
    for connector in connectors_due(now):
        if connector_claim(connector, now):
            ledger_connector_sync_task(connector.pk)
            queued.append(connector.pk)
    return queued


# --- the ingestion wizard -------------------------------------------------------------------


@db_task()
def ledger_upload_apply_task(
    run_id: int, user_id: int | None, ip: str | None = None, via: str = "worker"
) -> str:
    from shebao.accounts.models import User
    from shebao.ledger.services import ledger_upload_apply, sync_run_finish

    run = SyncRun.objects.select_related("entity", "import_batch").filter(pk=run_id).first()
    if run is None:
        return "missing"
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    try:
        run = ledger_upload_apply(actor=Actor(user=user, ip=ip, via=via), run=run)
    except Exception as exc:  # the run must not stay "running" forever
        logger.exception("ledger upload %s failed", run_id)
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, errors=[{"message": f"导入失败：{exc}"}])
    else:
        _rules_follow()
    return run.status
