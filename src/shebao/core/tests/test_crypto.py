from __future__ import annotations

import json
import stat

import pytest
from cryptography.exceptions import InvalidTag

from shebao.core import crypto


def ring(tmp_path, **kw):
    return crypto.load_keyring(
        data_keys=kw.get("data_keys", ""), index_key=kw.get("index_key", ""), instance=tmp_path
    )


def test_file_keys_are_generated_private_and_stable(tmp_path):
    first = ring(tmp_path)
    path = tmp_path / crypto.KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = ring(tmp_path)
    assert first.keys == second.keys and first.index_key == second.index_key
    token = first.encrypt("11010519491231002X", purpose="p")
    assert "11010519491231002X" not in token
    assert second.decrypt(token, purpose="p") == "11010519491231002X"


def test_two_instances_share_no_keys(tmp_path):
    a, b = ring(tmp_path / "a"), ring(tmp_path / "b")
    assert a.keys != b.keys
    with pytest.raises((InvalidTag, crypto.KeyRingError)):
        b.decrypt(a.encrypt("x", purpose="p"), purpose="p")
    assert a.blind_index("x", purpose="p") != b.blind_index("x", purpose="p")


def test_ciphertext_is_bound_to_its_column(tmp_path):
    r = ring(tmp_path)
    token = r.encrypt("13800138000", purpose="employee.phone")
    with pytest.raises(InvalidTag):
        r.decrypt(token, purpose="employee.id_number")


def test_encryption_is_randomised_but_blind_index_is_deterministic(tmp_path):
    r = ring(tmp_path)
    assert r.encrypt("a", purpose="p") != r.encrypt("a", purpose="p")
    assert r.blind_index("a", purpose="p") == r.blind_index("a", purpose="p")
    assert r.blind_index("a", purpose="p") != r.blind_index("a", purpose="q")


def test_rotation_keeps_old_ciphertexts_readable(tmp_path):
    old = ring(tmp_path)
    token = old.encrypt("secret", purpose="p")
    kid = crypto.rotate_file_keys(tmp_path)
    new = ring(tmp_path)
    assert new.primary == kid != old.primary
    assert new.decrypt(token, purpose="p") == "secret"
    assert new.key_id_of(new.encrypt("x", purpose="p")) == kid
    assert new.index_key == old.index_key  # blind indexes survive rotation
    assert json.loads((tmp_path / crypto.KEYS_FILE).read_text())["primary"] == kid


def test_env_keys(tmp_path):
    k1, k2, idx = crypto.new_key(), crypto.new_key(), crypto.new_key()
    r = ring(tmp_path, data_keys=f"k2:{k2},k1:{k1}", index_key=idx)
    assert r.primary == "k2" and r.source == "env"
    old = ring(tmp_path, data_keys=f"k1:{k1}", index_key=idx)
    assert r.decrypt(old.encrypt("v", purpose="p"), purpose="p") == "v"
    assert not (tmp_path / crypto.KEYS_FILE).exists()


@pytest.mark.parametrize(
    "spec,index,message",
    [
        ("k1:c2hvcnQ", "x", "必须是 32 字节"),
        ("k1:%%%", "x", "不是有效的 base64"),
        ("nocolon", "x", "格式应为"),
        (f"k1:{crypto.new_key()}", "", "SHEBAO_INDEX_KEY"),
        (f"k-1:{crypto.new_key()}", "x", "格式应为"),
    ],
)
def test_bad_env_keys_are_explained(tmp_path, spec, index, message):
    with pytest.raises(crypto.KeyRingError, match=message):
        ring(tmp_path, data_keys=spec, index_key=index)


def test_missing_key_is_explained(tmp_path):
    a = ring(tmp_path / "a")
    token = a.encrypt("v", purpose="p")
    other = ring(tmp_path, data_keys=f"k9:{crypto.new_key()}", index_key=crypto.new_key())
    with pytest.raises(crypto.KeyRingError, match="缺少数据密钥“k1”"):
        other.decrypt(token, purpose="p")
