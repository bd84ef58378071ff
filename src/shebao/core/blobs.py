"""A content-addressed store for documents that must never change: issued letters, proof files.

Each blob is kept once under ``<instance>/blobs/ab/cd/<sha256>`` (setting ``SHEBAO_BLOB_DIR``
overrides the folder), written to a temporary name and renamed, read-only afterwards. Reading
checks the hash again, so a file altered on disk is refused rather than served.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

from shebao.core.exceptions import ApplicationError

_SHA = re.compile(r"^[0-9a-f]{64}$")


class BlobMissing(ApplicationError):
    def __init__(self, sha256: str):
        super().__init__(f"文件 {sha256[:12]}… 不存在", code="not_found")


class BlobCorrupt(ApplicationError):
    def __init__(self, sha256: str):
        super().__init__(f"文件 {sha256[:12]}… 已被改动（SHA-256 不符），拒绝读取", code="corrupt")


def blob_root() -> Path:
    configured = getattr(settings, "SHEBAO_BLOB_DIR", None)
    return Path(configured) if configured else Path(settings.INSTANCE_DIR) / "blobs"


def blob_path(sha256: str) -> Path:
    if not _SHA.match(sha256 or ""):
        raise ApplicationError("无效的文件摘要")
    return blob_root() / sha256[:2] / sha256[2:4] / sha256


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_put(data: bytes) -> str:
    """Store ``data`` (once) and return its SHA-256 (hex)."""
    sha = sha256_of(data)
    path = blob_path(sha)
    if path.exists():
        return sha
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(blob_root(), 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o400)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return sha


def blob_read(sha256: str) -> bytes:
    """The stored bytes, checked against their name."""
    path = blob_path(sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BlobMissing(sha256) from None
    if sha256_of(data) != sha256:
        raise BlobCorrupt(sha256)
    return data


def blob_exists(sha256: str) -> bool:
    return blob_path(sha256).exists()
