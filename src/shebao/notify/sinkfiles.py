"""The folder of a demo sink (``mailsink``, ``smssink``): each message one new file named
``<UTC timestamp>-<n><suffix>`` (mode 0600, folder 0700), listed newest first, only the newest
``keep`` kept."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from pathlib import Path

_store_lock = threading.Lock()


class SinkFolder:
    """The sink files with ``suffix`` (".eml", ".json") in ``path``."""

    def __init__(self, path: str | os.PathLike[str], suffix: str) -> None:
        self.path = Path(path)
        self.suffix = suffix

    @staticmethod
    def name_pattern(suffix: str) -> re.Pattern[str]:
        """What a sink file's name looks like (no path separators, no ``..``)."""
        return re.compile(rf"\d{{8}}T\d{{6}}\d{{6}}Z-\d{{3,}}{re.escape(suffix)}")

    def store(self, data: bytes, *, now: dt.datetime, keep: int) -> Path:
        """Write one message as a new file and drop the oldest beyond ``keep``."""
        folder = self.path
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)  # the messages name employees (and carry their codes): owner only
        stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
        with _store_lock:
            n = 1
            while True:
                path = folder / f"{stamp}-{n:03d}{self.suffix}"
                try:
                    # O_EXCL reserves the name even against another process writing the same microsecond.
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    n += 1
                    continue
                break
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self.prune(keep)
        return path

    def files(self) -> list[Path]:
        """Sink files, newest first (names sort by time, then by sequence number)."""
        if not self.path.is_dir():
            return []
        pattern = self.name_pattern(self.suffix)
        names = [name for name in os.listdir(self.path) if pattern.fullmatch(name)]
        names.sort(key=self._sort_key, reverse=True)
        return [self.path / name for name in names]

    def prune(self, keep: int) -> None:
        """Delete all but the newest ``keep`` files."""
        for old in self.files()[keep:]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _sort_key(self, name: str) -> tuple[str, int]:
        stamp, _, rest = name.partition("-")
        return stamp, int(rest.removesuffix(self.suffix))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
