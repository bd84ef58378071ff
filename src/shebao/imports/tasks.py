"""Background jobs of the import engine: parse after upload, commit after confirmation.

The services set the batch's progress and, on any error, its ``failed`` status and message
(the commit is one transaction, so nothing is half-written); the tasks only look the objects up.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from shebao.core.context import Actor
from shebao.imports.models import ImportBatch
from shebao.imports.retention import import_files_purge
from shebao.imports.services import import_batch_commit, import_batch_parse

logger = logging.getLogger(__name__)


def _status(batch_id: int) -> str:
    return ImportBatch.objects.filter(pk=batch_id).values_list("status", flat=True).first() or "missing"


@db_task()
def import_batch_parse_task(batch_id: int) -> str:
    batch = ImportBatch.objects.select_related("uploaded_by", "default_entity").filter(pk=batch_id).first()
    if batch is None:
        return "missing"
    try:
        import_batch_parse(batch=batch)
    except Exception:  # recorded on the batch (status failed, error) by the service
        logger.info("import batch %s: parse did not complete", batch_id, exc_info=True)
    return _status(batch_id)


@db_task()
def import_batch_commit_task(
    batch_id: int, user_id: int | None, ip: str | None = None, via: str = "worker"
) -> str:
    from shebao.accounts.models import User

    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return "missing"
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    if user_id is not None and user is None:
        ImportBatch.objects.filter(pk=batch_id, status=ImportBatch.Status.PREVIEWED).update(
            status=ImportBatch.Status.FAILED, error="确认导入的用户已不存在"
        )
        return _status(batch_id)
    try:
        import_batch_commit(actor=Actor(user=user, ip=ip, via=via), batch=batch)
    except Exception:  # recorded on the batch (status failed, error) by the service
        logger.info("import batch %s: commit did not complete", batch_id, exc_info=True)
    return _status(batch_id)


@db_periodic_task(crontab(minute="20", hour="3"))
def import_files_purge_task() -> dict[str, int]:
    """Daily at 03:20 (Asia/Shanghai): delete the uploaded files of committed batches, of
    unfinished batches past SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS, and orphan files (PIPL)."""
    return import_files_purge()
