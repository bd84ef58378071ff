"""The drop folder: a per-entity folder where a robot (or a person) saves government exports.

Each poll ingests the files that are complete — size and modification time unchanged since the
previous poll, or older than ``SHEBAO_DROP_FOLDER_SETTLE_SECONDS`` — one ``ledger_file_ingest``
each, then moves them to ``processed/`` or, when the run failed, to ``failed/`` with a
``.error.txt`` note in Chinese, under a timestamped name. A file dropped twice is recognised
by its hash by the ingestion (a "duplicate" run); it is moved to ``processed/`` like any other.

Symbolic links are never followed: a link in the folder is moved to ``failed/`` with a note
(the link itself, not what it points to), and files are opened with ``O_NOFOLLOW`` and copied
to a private temporary file before parsing, so a file swapped for a link mid-poll is refused.
What the previous poll saw is kept in the instance folder (``drop-folders/<connector>.json``),
not in the drop folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from shebao.core.exceptions import ApplicationError
from shebao.ledger.connectors.base import ConnectorError

__all__ = ["DropFolderBusy", "EXTENSIONS", "drop_folder_poll", "drop_folder_scan"]

logger = logging.getLogger(__name__)

EXTENSIONS = frozenset({".xlsx", ".xls", ".csv"})
PROCESSED, FAILED = "processed", "failed"
# Office lock files, partial downloads and editors' temporaries are never complete exports.
_TEMP_PREFIXES = (".", "~$", "~")
_TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".download")


class DropFolderBusy(Exception):
    pass


def _settle_seconds() -> float:
    return float(getattr(settings, "SHEBAO_DROP_FOLDER_SETTLE_SECONDS", 120))


def _state_path(connector) -> Path:
    base = Path(getattr(settings, "INSTANCE_DIR", tempfile.gettempdir())) / "drop-folders"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"connector-{connector.pk}.json"


def folder_allowed(folder: Path) -> bool:
    """Whether a drop folder lies under one of SHEBAO_DROP_FOLDER_ROOTS (any folder when unset)."""
    roots = getattr(settings, "SHEBAO_DROP_FOLDER_ROOTS", None)
    resolved = folder.expanduser().resolve()
    return not roots or any(resolved.is_relative_to(Path(r).expanduser().resolve()) for r in roots)


def _folder(connector) -> Path:
    text = (connector.folder or "").strip()
    if not text:
        raise ConnectorError(f"连接器“{connector.name}”未设置投递文件夹", code="no_folder")
    folder = Path(text).expanduser().resolve()
    if not folder.is_dir():
        raise ConnectorError(f"投递文件夹不存在或不是文件夹：{folder}", code="no_folder")
    if not folder_allowed(folder):
        raise ConnectorError(
            f"投递文件夹 {folder} 不在允许的目录（SHEBAO_DROP_FOLDER_ROOTS）之内", code="folder_refused"
        )
    return folder


@contextlib.contextmanager
def _lock(path: Path):
    """One poll per connector at a time (an advisory lock next to the poll state)."""
    try:
        import fcntl
    except ImportError:  # Windows: the database claim of the scheduler is the only guard
        yield
        return
    with open(path.with_suffix(".lock"), "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise DropFolderBusy(str(path)) from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _wanted(name: str) -> bool:
    lower = name.lower()
    return (
        not lower.startswith(_TEMP_PREFIXES)
        and not lower.endswith(_TEMP_SUFFIXES)
        and os.path.splitext(lower)[1] in EXTENSIONS
    )


def drop_folder_scan(folder: Path, previous: dict[str, list[int]], *, now: float, settle: float):
    """(complete file names oldest first, symlinks, pending {name: [size, mtime_ns]})."""
    complete: list[tuple[float, str]] = []
    links: list[str] = []
    pending: dict[str, list[int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not _wanted(entry.name):
                continue
            if entry.is_symlink():
                links.append(entry.name)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            signature = [st.st_size, st.st_mtime_ns]
            stable = st.st_size > 0 and previous.get(entry.name) == signature
            if stable or now - st.st_mtime >= settle:
                complete.append((st.st_mtime, entry.name))
            else:
                pending[entry.name] = signature
    return [name for _, name in sorted(complete)], sorted(links), pending


def _destination(folder: Path, sub: str, name: str) -> Path:
    target_dir = folder / sub
    if target_dir.is_symlink():
        raise ConnectorError(f"{target_dir} 是符号链接，拒绝把文件移入", code="folder_refused")
    target_dir.mkdir(exist_ok=True)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    target = target_dir / f"{stamp}-{name}"
    n = 1
    while target.exists() or target.is_symlink():
        target = target_dir / f"{stamp}-{n}-{name}"
        n += 1
    return target


def _error_lines(errors) -> list[str]:
    lines = []
    for e in errors or []:
        if isinstance(e, dict):
            where = "".join(
                x
                for x in (
                    f"第 {e['row']} 行 " if e.get("row") else "",
                    f"{e['column']}：" if e.get("column") else "",
                )
            )
            lines.append(f"- {where}{e.get('message', '')}")
        else:
            lines.append(f"- {e}")
    return lines


def _move(folder: Path, name: str, *, failed: bool, note: list[str] | None = None) -> Path:
    target = _destination(folder, FAILED if failed else PROCESSED, name)
    os.rename(folder / name, target)  # rename never follows a link: a link is moved as a link
    if failed:
        text = "\n".join(
            [
                f"文件：{name}",
                f"时间：{timezone.localtime():%Y-%m-%d %H:%M:%S}",
                "该文件未能导入社保台账，原因如下：",
                *(note or ["- 未知错误"]),
                "",
                "请修正后重新放入投递文件夹（不要放回 failed 文件夹）。",
                "",
            ]
        )
        target.with_name(target.name + ".error.txt").write_text(text, encoding="utf-8")
    return target


def _copy_nofollow(path: Path, dest) -> str:
    """Copy a regular file without following links; its SHA-256."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise ConnectorError("不是普通文件", code="not_a_file")
        while chunk := src.read(1024 * 1024):
            digest.update(chunk)
            dest.write(chunk)
    dest.flush()
    return digest.hexdigest()


def _failed_run(connector, actor, name: str, sha256: str, message: str):
    from shebao.ledger.services import sync_run_finish, sync_run_start

    run = sync_run_start(
        entity=connector.entity,
        source="drop_folder",
        actor=actor,
        connector=connector,
        file_name=name,
        sha256=sha256,
    )
    return sync_run_finish(
        run=run, status="failed", errors=[{"row": None, "column": None, "code": "ingest", "message": message}]
    )


def _ingest(connector, actor, folder: Path, name: str):
    from shebao.ledger.models import SyncRun
    from shebao.ledger.services import ledger_file_ingest

    sha256, run, message = "", None, ""
    suffix = os.path.splitext(name)[1].lower()
    with tempfile.NamedTemporaryFile(
        prefix="shebao-drop-", suffix=suffix
    ) as tmp:  # mode 0600, deleted on close
        try:
            sha256 = _copy_nofollow(folder / name, tmp)
        except (OSError, ConnectorError) as exc:
            message = "无法读取文件（可能是符号链接或文件已被移走）：" + getattr(exc, "message", str(exc))
        else:
            try:
                run = ledger_file_ingest(
                    entity=connector.entity,
                    path=Path(tmp.name),
                    filename=name,
                    source="drop_folder",
                    actor=actor,
                    profile="auto",
                    connector=connector,
                )
            except ApplicationError as exc:
                message = exc.message
            except Exception as exc:
                logger.exception("drop folder %s: %s could not be ingested", connector.pk, name)
                message = f"导入出错：{exc.__class__.__name__}: {exc}"
    if run is None:
        run = _failed_run(connector, actor, name, sha256, message)
        note = [f"- {message}"]
    else:
        note = _error_lines(run.errors)
    failed = run.status == SyncRun.Status.FAILED
    if failed and not note:
        note = ["- 导入失败（没有更详细的错误信息）"]
    if failed:
        note.append(f"（同步记录 #{run.pk}）")
    if os.path.lexists(folder / name):
        try:
            _move(folder, name, failed=failed, note=note)
        except (OSError, ConnectorError):  # stays in place: the next poll sees it again (a duplicate)
            logger.exception("drop folder %s: could not move %s", connector.pk, name)
    return run


def drop_folder_poll(*, connector, actor, now: float | None = None) -> list:
    """Ingest the connector's complete files; the runs, in the order the files were dropped.

    Raises ``ConnectorError`` when the folder is missing or not allowed, ``DropFolderBusy`` when
    another poll of the same connector is running."""
    folder = _folder(connector)
    state_path = _state_path(connector)
    with _lock(state_path):
        try:
            previous = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
        except (OSError, ValueError):
            previous = {}
        complete, links, pending = drop_folder_scan(
            folder, previous, now=time.time() if now is None else now, settle=_settle_seconds()
        )
        state_path.write_text(json.dumps(pending), encoding="utf-8")
        for name in links:
            logger.warning("drop folder %s: symlink %s refused", connector.pk, name)
            _move(
                folder,
                name,
                failed=True,
                note=["- 这是一个符号链接（快捷方式）。为安全起见，投递文件夹只读取实际文件，不跟随链接。"],
            )
        return [_ingest(connector, actor, folder, name) for name in complete]
