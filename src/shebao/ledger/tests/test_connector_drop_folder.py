"""The drop folder: complete files ingested and moved, failures noted, incomplete files and links left alone."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from shebao.core.context import Actor
from shebao.ledger.connectors.base import ConnectorError
from shebao.ledger.connectors.drop_folder import drop_folder_poll
from shebao.ledger.models import Connector, SyncRun
from shebao.ledger.sync import connector_run

pytestmark = pytest.mark.django_db

OLD = time.time() - 3600


@pytest.fixture
def folder(tmp_path, settings):
    settings.INSTANCE_DIR = tmp_path / "instance"
    settings.SHEBAO_DROP_FOLDER_SETTLE_SECONDS = 60
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture
def connector(org, folder):
    return Connector.objects.create(
        entity=org["bj"], kind="drop_folder", name="机器人投递", folder=str(folder)
    )


@pytest.fixture
def ingested(monkeypatch):
    """A stand-in for ledger_file_ingest: "bad" in the content fails, "boom" raises, the same
    bytes twice are a duplicate; it records what it was given."""
    from shebao.ledger import services

    calls = []

    def fake(*, entity, path, filename, source, actor, profile="auto", connector=None, **kw):
        data = Path(path).read_bytes()
        calls.append({"filename": filename, "source": source, "data": data, "path": Path(path)})
        if b"boom" in data:
            raise RuntimeError("parser crashed")
        sha = hashlib.sha256(data).hexdigest()
        run = services.sync_run_start(
            entity=entity, source=source, actor=actor, connector=connector, file_name=filename, sha256=sha
        )
        if b"bad" in data:
            return services.sync_run_finish(
                run=run, status="failed", errors=[{"message": "未能识别文件格式：缺少“费款所属期”列"}]
            )
        if SyncRun.objects.filter(sha256=sha, status="succeeded").exists():
            return services.sync_run_finish(run=run, status="duplicate", warnings=["同一文件已导入"])
        return services.sync_run_finish(run=run, status="succeeded", counts={"records_created": 1})

    monkeypatch.setattr(services, "ledger_file_ingest", fake)
    return calls


def _drop(folder: Path, name: str, data: bytes, *, age: float | None = OLD) -> Path:
    path = folder / name
    path.write_bytes(data)
    if age is not None:
        os.utime(path, (age, age))
    return path


def _poll(connector, now=None):
    return drop_folder_poll(connector=connector, actor=Actor.system(via="test"), now=now)


def test_complete_files_are_ingested_and_moved(connector, folder, ingested):
    _drop(folder, "2025-03 缴费明细.xlsx", b"good file")
    _drop(folder, "notes.txt", b"not an export")
    _drop(folder, "~$2025-03 缴费明细.xlsx", b"office lock file")
    _drop(folder, "download.csv.part", b"half")
    runs = _poll(connector)
    assert [r.status for r in runs] == ["succeeded"]
    assert runs[0].source == "drop_folder" and runs[0].connector == connector
    assert ingested[0]["filename"] == "2025-03 缴费明细.xlsx" and ingested[0]["data"] == b"good file"
    assert not ingested[0]["path"].exists()  # the private copy is gone
    (moved,) = (folder / "processed").iterdir()
    assert moved.name.endswith("-2025-03 缴费明细.xlsx") and moved.read_bytes() == b"good file"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["processed", "notes.txt", "~$2025-03 缴费明细.xlsx", "download.csv.part"]
    )
    # the same file again: recognised (here by the fake, as ledger_file_ingest does by hash) and moved
    _drop(folder, "2025-03 缴费明细.xlsx", b"good file")
    (run,) = _poll(connector)
    assert run.status == "duplicate"
    assert len(list((folder / "processed").iterdir())) == 2


def test_failed_file_goes_to_failed_with_a_chinese_note(connector, folder, ingested):
    _drop(folder, "bad.csv", b"bad content")
    _drop(folder, "crash.xls", b"boom")
    runs = _poll(connector)
    assert [r.status for r in runs] == ["failed", "failed"]
    crash = next(r for r in runs if r.file_name == "crash.xls")
    assert crash.sha256 == hashlib.sha256(b"boom").hexdigest() and "parser crashed" in str(crash.errors)
    failed = folder / "failed"
    names = sorted(p.name for p in failed.iterdir())
    assert len(names) == 4 and sum(n.endswith(".error.txt") for n in names) == 2
    note = next(p for p in failed.iterdir() if p.name.endswith("bad.csv.error.txt")).read_text(
        encoding="utf-8"
    )
    assert "未能导入" in note and "未能识别文件格式" in note and f"#{runs[0].pk}" in note
    assert not (folder / "processed").exists()


def test_incomplete_file_is_left_for_the_next_poll(connector, folder, ingested):
    now = time.time()
    path = _drop(folder, "still-copying.xlsx", b"part", age=None)
    assert _poll(connector, now=now) == [] and path.exists()
    with path.open("ab") as fh:  # still growing at the second poll
        fh.write(b" more")
    assert _poll(connector, now=now + 5) == [] and path.exists()
    # unchanged since the previous poll: complete
    (run,) = _poll(connector, now=now + 10)
    assert run.status == "succeeded" and ingested[-1]["data"] == b"part more" and not path.exists()
    # or old enough without a second look
    _drop(folder, "late.csv", b"x", age=time.time() - 61)
    assert [r.file_name for r in _poll(connector)] == ["late.csv"]


def test_symlinks_are_never_followed(connector, folder, tmp_path, ingested):
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"outside the folder")
    os.symlink(secret, folder / "link.csv")
    assert _poll(connector) == []
    assert ingested == [] and secret.read_bytes() == b"outside the folder"
    failed = folder / "failed"
    link = next(p for p in failed.iterdir() if p.name.endswith("link.csv"))
    assert link.is_symlink()  # the link was moved, not its target
    assert "符号链接" in (failed / (link.name + ".error.txt")).read_text(encoding="utf-8")


def test_missing_or_disallowed_folder(org, connector, folder, settings, ingested):
    settings.SHEBAO_DROP_FOLDER_ROOTS = [str(folder.parent / "elsewhere")]
    with pytest.raises(ConnectorError, match="SHEBAO_DROP_FOLDER_ROOTS"):
        _poll(connector)
    settings.SHEBAO_DROP_FOLDER_ROOTS = None
    connector.folder = str(folder / "nope")
    with pytest.raises(ConnectorError, match="不存在"):
        _poll(connector)


def test_connector_run_schedules_the_next_poll(connector, folder, ingested):
    _drop(folder, "a.csv", b"good")
    runs = connector_run(connector=connector, actor=Actor.system(via="test"))
    assert [r.status for r in runs] == ["succeeded"]
    connector.refresh_from_db()
    assert connector.last_run_at and connector.next_run_at > connector.last_run_at


def test_real_ingestion_of_an_unrecognised_file_fails_into_failed(connector, folder):
    _drop(folder, "random.csv", "姓名,爱好\n张三,篮球\n".encode())
    (run,) = _poll(connector)
    assert run.status == "failed" and run.source == "drop_folder"
    assert any(p.name.endswith("random.csv.error.txt") for p in (folder / "failed").iterdir())
