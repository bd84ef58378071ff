"""The instance folder: everything one installation owns (database, keys, uploads, queue).

Two instances with different SHEBAO_INSTANCE_DIR share nothing: every path and every
generated secret below is derived from that folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def instance_dir() -> Path:
    path = Path(os.environ.get("SHEBAO_INSTANCE_DIR") or Path.cwd() / "instance").resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, content: str) -> None:
    """Create a file readable by the owner only, without a window where it is world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)


def secret_key(folder: Path) -> str:
    from_env = os.environ.get("SHEBAO_SECRET_KEY")
    if from_env:
        return from_env
    path = folder / "secret_key"
    if not path.exists():
        try:
            write_private(path, secrets.token_urlsafe(50))
        except FileExistsError:  # another process created it first
            pass
    return path.read_text(encoding="utf-8").strip()
