"""Background job of the ingestion wizard: apply a confirmed upload in the worker."""

from __future__ import annotations

import logging

from huey.contrib.djhuey import db_task

from shebao.core.context import Actor
from shebao.ledger.models import SyncRun

logger = logging.getLogger(__name__)


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
    return run.status
