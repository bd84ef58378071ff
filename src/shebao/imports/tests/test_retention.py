"""Retention of uploaded import files: the purge service, the daily sweep, `shebao purge-imports`
and what the batch page says once the file is gone."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.exceptions import ApplicationError
from shebao.imports import services
from shebao.imports.models import ImportBatch, ImportRow
from shebao.imports.retention import import_batch_file_purge, import_files_purge
from shebao.imports.tests.builders import HEADERS, new_id, person, xlsx_bytes

Status = ImportBatch.Status


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Each test gets its own MEDIA_ROOT: the sweep walks MEDIA_ROOT/imports/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def make_batch(admin, actor_of, run_import, monkeypatch):
    """make_batch(commit=False, bad=False, keep_file=True, **create_kwargs) → a parsed (or
    committed) batch. A commit deletes the file itself; ``keep_file`` stands for a batch committed
    while its file stayed (before this policy, or a failed deletion), which the sweep purges."""

    def make(*, commit: bool = False, bad: bool = False, keep_file: bool = True, **kw) -> ImportBatch:
        rows = [person("王一", new_id(), f"R{ImportBatch.objects.count():04d}")]
        if bad:
            good = new_id()
            rows.append(person("坏人", good[:17] + ("1" if good[17] == "0" else "0"), "BAD1"))
        with monkeypatch.context() as m:
            if keep_file:
                m.setattr(services, "import_batch_file_purge", lambda **kw: False)
            return run_import(actor_of(admin), xlsx_bytes(HEADERS, rows), commit=commit, **kw)

    return make


def stored(batch: ImportBatch) -> Path:
    return Path(batch.file.path)


def purge_events(batch: ImportBatch):
    return AuditEvent.objects.filter(action="import.file_purge", object_id=str(batch.pk))


# --- import_batch_file_purge -------------------------------------------------------------------


def test_purge_deletes_the_file_after_commit_and_keeps_the_record(
    make_batch, django_capture_on_commit_callbacks
):
    batch = make_batch(commit=True)
    path = stored(batch)
    name, sha256, size = batch.file_name, batch.sha256, batch.size
    assert path.is_file() and batch.file_purged_at is None

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert import_batch_file_purge(batch=batch, reason="committed") is True
        assert path.is_file()  # nothing is deleted before the transaction commits
    assert len(callbacks) == 1
    assert not path.exists()

    assert batch.file_purged_at is not None  # the caller's instance is updated
    batch.refresh_from_db()
    assert batch.file_purged_at is not None
    assert (batch.file_name, batch.sha256, batch.size) == (name, sha256, size)
    assert batch.status == Status.COMMITTED

    event = purge_events(batch).get()
    assert event.changes == {"file_name": name, "sha256": sha256, "reason": "committed"}
    assert event.actor is None and event.via == "worker" and event.actor_label == "系统（worker）"
    assert event.object_type == "imports.importbatch"


def test_purge_records_the_acting_user(make_batch, admin, actor_of, django_capture_on_commit_callbacks):
    batch = make_batch()
    with django_capture_on_commit_callbacks(execute=True):
        assert import_batch_file_purge(batch=batch, reason="manual", actor=actor_of(admin)) is True
    event = purge_events(batch).get()
    assert event.actor == admin and event.via == "web" and event.changes["reason"] == "manual"


def test_purge_twice_is_harmless(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch(commit=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert import_batch_file_purge(batch=batch, reason="committed") is True
    first = ImportBatch.objects.get(pk=batch.pk).file_purged_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert import_batch_file_purge(batch=batch, reason="committed") is False
        # A stale instance (loaded before the purge) is told the same.
        stale = ImportBatch.objects.get(pk=batch.pk)
        stale.file_purged_at = None
        assert import_batch_file_purge(batch=stale, reason="committed") is False
    assert callbacks == []
    assert stale.file_purged_at == first
    assert ImportBatch.objects.get(pk=batch.pk).file_purged_at == first
    assert purge_events(batch).count() == 1


def test_purge_when_the_file_is_already_gone(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch()
    stored(batch).unlink()
    with django_capture_on_commit_callbacks(execute=True):
        assert import_batch_file_purge(batch=batch, reason="expired") is True
    batch.refresh_from_db()
    assert batch.file_purged_at is not None and purge_events(batch).count() == 1


def test_purge_of_a_batch_without_a_file(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch()
    stored(batch).unlink()
    ImportBatch.objects.filter(pk=batch.pk).update(file="")
    batch.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert import_batch_file_purge(batch=batch, reason="expired") is True
    assert callbacks == []  # nothing to delete
    batch.refresh_from_db()
    assert batch.file_purged_at is not None and purge_events(batch).count() == 1


def test_rollback_keeps_the_file(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch(commit=True)
    path = stored(batch)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            assert import_batch_file_purge(batch=batch, reason="committed") is True
            raise RuntimeError("the caller's transaction fails")
    assert callbacks == []
    assert path.is_file()
    assert ImportBatch.objects.get(pk=batch.pk).file_purged_at is None
    assert not purge_events(batch).exists()


def test_a_batch_being_parsed_keeps_its_file(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch()
    ImportBatch.objects.filter(pk=batch.pk).update(status=Status.PARSING)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApplicationError):
        import_batch_file_purge(batch=batch, reason="manual")
    assert stored(batch).is_file()
    assert ImportBatch.objects.get(pk=batch.pk).file_purged_at is None


# --- the sweep ---------------------------------------------------------------------------------


def test_sweep_purges_committed_batches_and_expired_unfinished_ones(
    make_batch, django_capture_on_commit_callbacks
):
    committed = make_batch(commit=True)
    by_status = {}
    for status in Status.values:
        if status != Status.COMMITTED:
            batch = make_batch()
            ImportBatch.objects.filter(pk=batch.pk).update(status=status)
            by_status[status] = batch
    files = {b.pk: stored(b) for b in [committed, *by_status.values()]}
    assert all(p.is_file() for p in files.values())

    # Today: only the committed batch's file goes; the unfinished ones are within 7 days.
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge() == {"committed": 1, "expired": 0, "orphans": 0}
    assert not files[committed.pk].exists()
    assert all(files[b.pk].is_file() for b in by_status.values())
    event = purge_events(committed).get()
    assert event.changes["reason"] == "committed" and event.via == "worker" and event.actor is None

    # Six days on: still within the retention period.
    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + dt.timedelta(days=6)
        assert import_files_purge(now=later) == {"committed": 0, "expired": 0, "orphans": 0}

    # Eight days on: every unfinished batch expires, except those being parsed or committed.
    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + dt.timedelta(days=8)
        assert import_files_purge(now=later) == {"committed": 0, "expired": 5, "orphans": 0}
    for status, batch in by_status.items():
        batch.refresh_from_db()
        if status in (Status.PARSING, Status.COMMITTING):
            assert batch.file_purged_at is None and files[batch.pk].is_file(), status
            assert not purge_events(batch).exists()
        else:
            assert batch.file_purged_at is not None and not files[batch.pk].exists(), status
            assert batch.status == status  # the status is left alone
            assert purge_events(batch).get().changes["reason"] == "expired"

    # Nothing left to do; a committing batch that ends up committed goes on the next run.
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge(now=later) == {"committed": 0, "expired": 0, "orphans": 0}
    ImportBatch.objects.filter(pk=by_status[Status.COMMITTING].pk).update(status=Status.COMMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge(now=later) == {"committed": 1, "expired": 0, "orphans": 0}


def test_retention_days_come_from_the_setting(make_batch, settings, django_capture_on_commit_callbacks):
    settings.SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS = 2
    batch = make_batch()
    with django_capture_on_commit_callbacks(execute=True):
        now = timezone.now()
        assert import_files_purge(now=now + dt.timedelta(days=1))["expired"] == 0
        assert import_files_purge(now=now + dt.timedelta(days=3))["expired"] == 1
    assert not stored(batch).exists()


def test_recent_activity_postpones_expiry(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch()
    ImportBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now() - dt.timedelta(days=10))
    fresh = make_batch()
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge() == {"committed": 0, "expired": 1, "orphans": 0}
    assert not stored(batch).exists() and stored(fresh).is_file()


def _orphan(media: Path, name: str, *, age: dt.timedelta) -> Path:
    path = media / "imports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"110101199003077777,13800138000")
    stamp = (timezone.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_sweep_removes_orphan_files(make_batch, media, django_capture_on_commit_callbacks):
    kept = make_batch()  # previewed, recent: its file stays
    old = _orphan(media, "2020/01/old.xlsx", age=dt.timedelta(days=3))
    young = _orphan(media, "2020/01/young.xlsx", age=dt.timedelta(hours=2))  # an upload in progress
    # A purged batch whose file could not be deleted at the time: removed now.
    leftover = make_batch()
    ImportBatch.objects.filter(pk=leftover.pk).update(file_purged_at=timezone.now())
    leftover_path = stored(leftover)
    os.utime(leftover_path, (old.stat().st_mtime, old.stat().st_mtime))
    outside = media / "other.txt"  # only MEDIA_ROOT/imports/ is swept
    outside.write_text("x")
    os.utime(outside, (old.stat().st_mtime, old.stat().st_mtime))

    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge() == {"committed": 0, "expired": 0, "orphans": 2}
    assert not old.exists() and not leftover_path.exists()
    assert young.is_file() and stored(kept).is_file() and outside.is_file()
    assert not AuditEvent.objects.filter(action="import.file_purge").exists()

    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + dt.timedelta(days=2)
        assert import_files_purge(now=later) == {"committed": 0, "expired": 0, "orphans": 1}
    assert not young.exists() and stored(kept).is_file()


def test_sweep_without_an_imports_folder(db, media):
    assert not (media / "imports").exists()
    assert import_files_purge() == {"committed": 0, "expired": 0, "orphans": 0}


def test_sweep_inside_a_transaction_that_rolls_back_keeps_every_file(
    make_batch, django_capture_on_commit_callbacks
):
    batch = make_batch(commit=True)
    path = stored(batch)
    os.utime(path, (0, 0))  # old enough to pass for an orphan once its batch is purged
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            assert import_files_purge()["committed"] == 1
            raise RuntimeError
    assert path.is_file()
    assert ImportBatch.objects.get(pk=batch.pk).file_purged_at is None


def test_periodic_task_is_registered_and_runs_the_sweep(make_batch, django_capture_on_commit_callbacks):
    from huey.contrib.djhuey import HUEY

    from shebao.imports.tasks import import_files_purge_task

    due = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 11, 27, 3, 20))}
    assert "import_files_purge_task" in due
    assert "import_files_purge_task" not in {
        t.name for t in HUEY.read_periodic(dt.datetime(2026, 11, 27, 3, 21))
    }

    batch = make_batch(commit=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_purge_task.call_local() == {"committed": 1, "expired": 0, "orphans": 0}
    assert not stored(batch).exists()


# --- shebao purge-imports ----------------------------------------------------------------------


def test_command_json(make_batch, django_capture_on_commit_callbacks):
    batch = make_batch(commit=True)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_imports", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"committed": 1, "expired": 0, "orphans": 0}
    assert not stored(batch).exists()
    assert purge_events(batch).get().via == "cli"


def test_command_hyphenated_name_and_summary(db):
    out = io.StringIO()
    call_command("purge-imports", stdout=out)
    assert out.getvalue().strip() == (
        "已删除导入原文件：已导入批次 0 个，超过 7 天的未完成批次 0 个，孤立文件 0 个"
    )


# --- the batch page ----------------------------------------------------------------------------


def _purge(batch: ImportBatch, django_capture_on_commit_callbacks) -> ImportBatch:
    with django_capture_on_commit_callbacks(execute=True):
        assert import_batch_file_purge(batch=batch, reason="committed")
    batch.refresh_from_db()
    return batch


def test_detail_page_says_the_file_was_deleted(login, admin, make_batch, django_capture_on_commit_callbacks):
    batch = make_batch(commit=True, bad=True, mode="valid_only")
    client = login(admin)
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert 'data-testid="file-purged"' not in page
    assert f"/imports/{batch.pk}/errors.xlsx" in page

    batch = _purge(batch, django_capture_on_commit_callbacks)
    response = client.get(f"/imports/{batch.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    day = timezone.localtime(batch.file_purged_at).strftime("%Y-%m-%d")
    assert (
        f"原文件已于 {day} 按保留策略删除（已导入的批次在导入后删除，未完成的批次保留 7 天）；"
        "如需重新解析请重新上传。"
    ) in page
    assert f"/imports/{batch.pk}/errors.xlsx" in page  # rebuilt from the staged rows
    assert 'data-testid="result"' in page and 'data-testid="rejected-table"' in page

    client.cookies["django_language"] = "en"
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert f"The original file was deleted on {day} under the retention policy" in page
    assert "keeps its file for 7 days" in page


def test_detail_page_of_purged_unfinished_batches(
    login, admin, make_batch, django_capture_on_commit_callbacks
):
    client = login(admin)
    previewed = _purge(make_batch(bad=True, mode="valid_only"), django_capture_on_commit_callbacks)
    page = client.get(f"/imports/{previewed.pk}/").content.decode()
    assert 'data-testid="file-purged"' in page
    # Confirming uses the staged rows, not the file: still offered.
    assert 'data-testid="confirm"' in page and f"/imports/{previewed.pk}/commit/" in page
    assert 'data-testid="error-workbook"' in page  # rebuilt from the staged rows

    rejected = _purge(make_batch(bad=True), django_capture_on_commit_callbacks)
    ImportBatch.objects.filter(pk=rejected.pk).update(status=Status.REJECTED)
    page = client.get(f"/imports/{rejected.pk}/").content.decode()
    assert 'data-testid="file-purged"' in page and 'data-testid="failure"' in page
    assert f"/imports/{rejected.pk}/errors.xlsx" in page and "/imports/new/" in page


# --- a purged batch in the other services -------------------------------------------------------


def test_needs_mapping_page_of_a_purged_batch(
    login, admin, org, run_import, actor_of, django_capture_on_commit_callbacks
):
    headers = ["姓名", "身份证号", "工号", "入职日期", "参保主体", "神秘列"]
    data = xlsx_bytes(headers, [["赵六", new_id(), "Q0001", dt.date(2024, 5, 6), "BJ01", "蓝色"]])
    batch = run_import(actor_of(admin), data)
    assert batch.status == Status.NEEDS_MAPPING
    _purge(batch, django_capture_on_commit_callbacks)
    response = login(admin).get(f"/imports/{batch.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="mapping-unavailable"' in page and 'data-testid="mapping-form"' not in page


def test_parsing_a_purged_batch_asks_for_a_new_upload(make_batch, django_capture_on_commit_callbacks):
    from shebao.imports.services import import_batch_parse

    batch = _purge(make_batch(bad=True), django_capture_on_commit_callbacks)
    ImportBatch.objects.filter(pk=batch.pk).update(status=Status.FAILED)
    with pytest.raises(ApplicationError) as info:
        import_batch_parse(batch=batch)
    assert info.value.message == "原文件已按保留策略删除，请重新上传"


def test_error_report_of_a_purged_batch(make_batch, admin, actor_of, django_capture_on_commit_callbacks):
    from python_calamine import CalamineWorkbook

    from shebao.imports.services import import_batch_error_report

    batch = make_batch(bad=True)
    bad_id = crypto.decrypt(
        ImportRow.objects.get(batch=batch, action="reject").original_enc["身份证号"],
        purpose="import.id_number",
    )
    batch = _purge(batch, django_capture_on_commit_callbacks)
    content = import_batch_error_report(actor=actor_of(admin), batch=batch)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    header = [str(c) for c in rows[0]]
    data = dict(zip(header, rows[1], strict=False))
    assert data["姓名"] == "坏人" and data["身份证号"] == bad_id and data["工号"] == "BAD1"
    assert "校验" in " ".join(str(c) for c in rows[1])  # the error column says what is wrong


def test_committing_deletes_the_file(make_batch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch = make_batch(commit=True, keep_file=False)
    assert batch.file_purged_at is not None and not Path(batch.file.path).exists()
    assert purge_events(batch).get().changes["reason"] == "committed"


def test_mapping_a_purged_batch_asks_for_a_new_upload(
    org, admin, run_import, actor_of, django_capture_on_commit_callbacks
):
    from shebao.imports.services import import_batch_set_mapping

    headers = ["姓名", "身份证号", "工号", "入职日期", "参保主体", "神秘列"]
    data = xlsx_bytes(headers, [["赵六", new_id(), "Q0001", dt.date(2024, 5, 6), "BJ01", "蓝色"]])
    batch = _purge(run_import(actor_of(admin), data), django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError, match="原文件已按保留策略删除"):
        import_batch_set_mapping(actor=actor_of(admin), batch=batch, mapping={"神秘列": "ignore"})
    batch.refresh_from_db()
    assert batch.status == Status.NEEDS_MAPPING
