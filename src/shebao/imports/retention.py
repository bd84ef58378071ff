"""Retention of uploaded import files (PIPL: keep personal data no longer than its purpose needs).

An uploaded roster file holds plaintext ID and phone numbers. Once a batch is committed, its
staged ``ImportRow`` rows (masked copies + ciphertext) are the whole history, so the file goes;
a batch that never got committed keeps its file ``SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS`` after its
last change, so HR can still fix the mapping or parse again.

* ``import_batch_file_purge`` deletes one batch's file: the batch row records when
  (``file_purged_at``; ``file_name``, ``sha256`` and ``size`` stay) and an ``import.file_purge``
  audit row says why, in one transaction. The file itself is deleted only once that transaction
  has committed, so a rollback never leaves a batch pointing at a file that is gone.
* ``import_files_purge`` is the daily sweep (Huey task ``import_files_purge_task``,
  ``shebao purge-imports``): committed batches, expired unfinished ones, and orphan files under
  ``MEDIA_ROOT/imports/`` that no batch still holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shebao.audit.services import audit_record
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.imports.models import ImportBatch

logger = logging.getLogger(__name__)

Status = ImportBatch.Status

PURGE_ACTION = "import.file_purge"
UPLOAD_DIR = "imports"  # under MEDIA_ROOT, as import_upload_to names the files
# Unfinished batches whose file expires. Never PARSING (the parse is reading the file) nor
# COMMITTING (the batch is locked and about to become COMMITTED, purged on the next sweep).
EXPIRABLE = (Status.UPLOADED, Status.NEEDS_MAPPING, Status.PREVIEWED, Status.REJECTED, Status.FAILED)
# A file nobody references is left alone this long: an upload stores its file just before the
# batch row is inserted.
ORPHAN_AGE = dt.timedelta(days=1)


def _storage():
    return ImportBatch._meta.get_field("file").storage


def _delete_file(name: str) -> None:
    """Runs after the commit. A file already gone is fine; any other failure is logged and the
    file, now referenced by no unpurged batch, is removed by the next sweep as an orphan."""
    try:
        _storage().delete(name)
    except FileNotFoundError:
        pass
    except OSError:
        logger.warning("import file %s: could not delete, the next sweep retries", name, exc_info=True)


def _purge(*, batch_id: int, reason: str, actor: Actor, condition: Q | None = None) -> ImportBatch | None:
    """Mark one batch purged (if it still qualifies), audit it and queue the file's deletion.

    The mark is a conditional UPDATE, so it races safely with a parse claiming the batch
    (``status`` → parsing) or a second sweep: exactly one of them wins."""
    with transaction.atomic():
        now = timezone.now()
        qs = ImportBatch.objects.filter(pk=batch_id, file_purged_at__isnull=True).exclude(
            status=Status.PARSING
        )
        if condition is not None:
            qs = qs.filter(condition)
        # A plain UPDATE: updated_at is the batch's last activity and stays as it was.
        if not qs.update(file_purged_at=now):
            return None
        batch = ImportBatch.objects.get(pk=batch_id)
        audit_record(
            actor=actor,
            action=PURGE_ACTION,
            obj=batch,
            changes={"file_name": batch.file_name, "sha256": batch.sha256, "reason": reason},
        )
        name = batch.file.name
        if name:
            transaction.on_commit(lambda: _delete_file(name))
    return batch


def import_batch_file_purge(*, batch: ImportBatch, reason: str, actor: Actor | None = None) -> bool:
    """Delete the uploaded file of ``batch`` under the retention policy; False if it already was.

    ``file_purged_at`` is set and an ``import.file_purge`` audit row (file name, SHA-256, reason)
    written in one transaction; the file is deleted from storage after that transaction commits
    (inside an outer transaction: after the outermost one). A batch without a file, or whose file
    is already missing on disk, is marked all the same. A batch being parsed is refused.
    """
    actor = actor or Actor.system(via="worker")
    purged = _purge(batch_id=batch.pk, reason=reason, actor=actor)
    if purged is None:
        current = ImportBatch.objects.filter(pk=batch.pk).values("status", "file_purged_at").first()
        if current is not None and current["file_purged_at"] is None:  # only PARSING gets here
            raise ApplicationError("该批次正在解析，不能删除原文件，请稍后再试")
        if current is not None:
            batch.file_purged_at = current["file_purged_at"]
        return False
    batch.file_purged_at = purged.file_purged_at
    return True


def import_files_purge(*, now: dt.datetime | None = None, actor: Actor | None = None) -> dict[str, int]:
    """The retention sweep; returns how many files it removed, by reason.

    * ``committed``: committed batches whose file is still there;
    * ``expired``: uploaded / needs_mapping / previewed / rejected / failed batches untouched
      (``updated_at``) for ``SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS`` days;
    * ``orphans``: files under ``MEDIA_ROOT/imports/`` that no unpurged batch references, older
      than a day (no audit row each: there is no batch to attach it to).

    Each batch is purged in its own transaction. ``now`` lets tests look into the future.
    """
    now = now or timezone.now()
    actor = actor or Actor(user=None, via="worker")
    counts = {"committed": 0, "expired": 0, "orphans": 0}
    purged_names: set[str] = set()

    committed = Q(status=Status.COMMITTED)
    cutoff = now - dt.timedelta(days=settings.SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS)
    expired = Q(status__in=EXPIRABLE, updated_at__lt=cutoff)
    for reason, condition in (("committed", committed), ("expired", expired)):
        ids = list(
            ImportBatch.objects.filter(condition, file_purged_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for batch_id in ids:
            # The condition is checked again as the batch is marked: it may have moved on since.
            batch = _purge(batch_id=batch_id, reason=reason, actor=actor, condition=condition)
            if batch is not None:
                counts[reason] += 1
                purged_names.add(batch.file.name)

    counts["orphans"] = _purge_orphans(now=now, skip=purged_names)
    if any(counts.values()):
        logger.info("import files purged: %s", counts)
    return counts


def _purge_orphans(*, now: dt.datetime, skip: set[str]) -> int:
    """Files no unpurged batch references. A file still named by a batch purged in an earlier
    sweep is one whose deletion failed: it goes now. ``skip``: the files of the batches purged in
    this sweep, deleted when their transactions commit (not before, if there is an outer one)."""
    storage = _storage()
    root = Path(storage.path(UPLOAD_DIR))
    if not root.is_dir():
        return 0
    base = Path(storage.path(""))
    held = skip | set(
        ImportBatch.objects.filter(file_purged_at__isnull=True)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    oldest = (now - ORPHAN_AGE).timestamp()
    removed = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            name = path.relative_to(base).as_posix()
            if name in held:
                continue
            try:
                if path.lstat().st_mtime > oldest:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                logger.warning("orphan import file %s: could not delete", name, exc_info=True)
                continue
            removed += 1
    return removed
