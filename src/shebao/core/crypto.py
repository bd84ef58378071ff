"""Field encryption (AES-256-GCM with a key ring) and keyed blind indexes.

Ciphertexts look like ``v1.<key id>.<base64(nonce + ciphertext + tag)>``; the key id lets
old rows be read after a rotation. The column name is bound in as associated data, so a
ciphertext copied into another column does not decrypt. Blind indexes are HMAC-SHA256
under a separate key so equality search works without storing the plaintext.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shebao.instance import write_private

KEYS_FILE = "data_keys.json"


class KeyRingError(RuntimeError):
    pass


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]  # key id -> 32-byte key
    primary: str
    index_key: bytes
    source: str  # "env" or the path of the keys file
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def _aead(self, kid: str) -> AESGCM:
        # One cipher object per key: building it (the key schedule) costs as much as a message.
        aead = self._ciphers.get(kid)
        if aead is None:
            aead = self._ciphers[kid] = AESGCM(self.keys[kid])
        return aead

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead(self.primary).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        return f"v1.{self.primary}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, purpose: str) -> str:
        try:
            version, kid, body = token.split(".", 2)
        except ValueError as exc:
            raise KeyRingError("密文格式无效") from exc
        if version != "v1":
            raise KeyRingError(f"不支持的密文版本：{version}")
        if kid not in self.keys:
            raise KeyRingError(f"缺少数据密钥“{kid}”，无法解密（请检查 SHEBAO_DATA_KEYS）")
        raw = base64.urlsafe_b64decode(body)
        return self._aead(kid).decrypt(raw[:12], raw[12:], purpose.encode()).decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1]

    def blind_index(self, value: str, *, purpose: str) -> str:
        return hmac.digest(self.index_key, f"{purpose}\x00{value}".encode(), "sha256").hex()


def _b64key(text: str, what: str) -> bytes:
    try:
        text = text.strip()
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as exc:
        raise KeyRingError(f"{what} 不是有效的 base64") from exc
    if len(key) != 32:
        raise KeyRingError(f"{what} 必须是 32 字节（base64 编码），实际 {len(key)} 字节")
    return key


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key_spec(spec: str) -> tuple[dict[str, bytes], str]:
    """Parse ``kid:base64key,kid2:base64key``; the first key is the primary one."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid.isalnum():
            raise KeyRingError("SHEBAO_DATA_KEYS 格式应为 “kid:base64密钥,kid2:base64密钥”，kid 仅含字母数字")
        keys[kid] = _b64key(b64, f"数据密钥“{kid}”")
    if not keys:
        raise KeyRingError("SHEBAO_DATA_KEYS 为空")
    return keys, next(iter(keys))


def _load_or_create_file(path: Path) -> dict:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {"primary": "k1", "keys": {"k1": new_key()}, "index_key": new_key()}
        try:
            write_private(path, json.dumps(content, indent=2))
        except FileExistsError:
            pass
    return json.loads(path.read_text(encoding="utf-8"))


def load_keyring(*, data_keys: str, index_key: str, instance: Path) -> KeyRing:
    if data_keys:
        keys, primary = parse_key_spec(data_keys)
        if not index_key:
            raise KeyRingError("设置了 SHEBAO_DATA_KEYS 时必须同时设置 SHEBAO_INDEX_KEY（盲索引密钥）")
        return KeyRing(keys, primary, _b64key(index_key, "SHEBAO_INDEX_KEY"), "env")
    path = instance / KEYS_FILE
    content = _load_or_create_file(path)
    keys = {kid: _b64key(b64, f"数据密钥“{kid}”") for kid, b64 in content["keys"].items()}
    idx = _b64key(index_key, "SHEBAO_INDEX_KEY") if index_key else _b64key(content["index_key"], "index_key")
    return KeyRing(keys, content["primary"], idx, str(path))


def rotate_file_keys(instance: Path) -> str:
    """Add a new primary key to the instance key file; old keys stay for decryption."""
    path = instance / KEYS_FILE
    content = _load_or_create_file(path)
    kid = f"k{max(int(k[1:]) for k in content['keys'] if k[1:].isdigit()) + 1}"
    content["keys"] = {kid: new_key(), **content["keys"]}
    content["primary"] = kid
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    write_private(tmp, json.dumps(content, indent=2))
    os.replace(tmp, path)
    return kid


@lru_cache(maxsize=1)
def keyring() -> KeyRing:
    from django.conf import settings

    return load_keyring(
        data_keys=settings.SHEBAO_DATA_KEYS,
        index_key=settings.SHEBAO_INDEX_KEY,
        instance=settings.INSTANCE_DIR,
    )


def encrypt(plaintext: str, *, purpose: str) -> str:
    return keyring().encrypt(plaintext, purpose=purpose)


def decrypt(token: str, *, purpose: str) -> str:
    return keyring().decrypt(token, purpose=purpose)


def blind_index(value: str, *, purpose: str) -> str:
    return keyring().blind_index(value, purpose=purpose)
