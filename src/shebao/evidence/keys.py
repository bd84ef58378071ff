"""The instance's Ed25519 signing key: it signs each evidence bundle's manifest.

Kept in ``<instance>/evidence/signing-key.pem`` (setting ``SHEBAO_EVIDENCE_KEY_FILE`` overrides),
created on first use (mode 0600) and announced in the chain (a ``key.created`` entry with its
public half and fingerprint), so the key that signed a bundle can be matched to the ledger and to
every daily checkpoint message.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from shebao.evidence.verifier import key_fingerprint


def key_path() -> Path:
    configured = getattr(settings, "SHEBAO_EVIDENCE_KEY_FILE", None)
    return Path(configured) if configured else Path(settings.INSTANCE_DIR) / "evidence" / "signing-key.pem"


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} 不是 Ed25519 私钥")
    return key


def _create(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # never replaces a key another process just made
        except FileExistsError:
            pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def signing_key(*, create: bool = True) -> Ed25519PrivateKey | None:
    path = key_path()
    if not path.exists():
        if not create:
            return None
        _create(path)
    return _load(str(path), path.stat().st_mtime)


def public_pem(key: Ed25519PrivateKey | None = None) -> bytes:
    key = key or signing_key()
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PrivateKey | None = None) -> str:
    return key_fingerprint(public_pem(key))


def sign(data: bytes) -> bytes:
    return signing_key().sign(data)
