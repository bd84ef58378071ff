"""Configuration from the environment: instance folders are isolated, Redis is optional."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

PROBE = """
import json, django
django.setup()
from django.conf import settings
from huey.contrib.djhuey import HUEY
from shebao.core import crypto
ring = crypto.keyring()
print(json.dumps({
    "db": str(settings.DATABASES["default"]["NAME"]),
    "engine": settings.DATABASES["default"]["ENGINE"],
    "secret": settings.SECRET_KEY,
    "keys": sorted(k.hex() for k in ring.keys.values()),
    "index": ring.index_key.hex(),
    "huey": type(HUEY).__name__,
    "huey_name": HUEY.name,
    "huey_file": getattr(HUEY.storage, "filename", ""),
    "media": str(settings.MEDIA_ROOT),
}))
"""


def probe(instance, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHEBAO_") and k != "DATABASE_URL"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "shebao.settings",
            "SHEBAO_INSTANCE_DIR": str(instance),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_two_instances_share_nothing(tmp_path):
    a, b = probe(tmp_path / "a"), probe(tmp_path / "b")
    assert a["engine"].endswith("sqlite3")
    for key in ("db", "secret", "keys", "index", "huey_file", "media"):
        assert a[key] != b[key], key
    assert a["db"].startswith(str(tmp_path / "a"))
    assert (tmp_path / "a" / "data_keys.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "a" / "secret_key").stat().st_mode & 0o077 == 0
    assert probe(tmp_path / "a") == a  # stable across restarts


def test_redis_queue_is_namespaced_per_instance(tmp_path):
    url = "redis://127.0.0.1:6379/15"
    a = probe(tmp_path / "a", SHEBAO_REDIS_URL=url)
    b = probe(tmp_path / "b", SHEBAO_REDIS_URL=url)
    assert a["huey"] == b["huey"] == "RedisHuey"
    assert a["huey_name"] != b["huey_name"]


def test_redis_queue_round_trip(tmp_path):
    redis = pytest.importorskip("redis")
    from huey import RedisHuey

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("本机 Redis（127.0.0.1:6379）未运行")
    huey = RedisHuey(f"shebao-test-{uuid.uuid4().hex[:8]}", url="redis://127.0.0.1:6379/15")

    @huey.task()
    def add(x, y):
        return x + y

    result = add(2, 3)
    task = huey.dequeue()
    huey.execute(task)
    assert result.get() == 5
    huey.storage.flush_all()


def test_env_database_url_and_keys(tmp_path):
    from shebao.core.crypto import new_key

    k, idx = new_key(), new_key()
    got = probe(
        tmp_path / "x",
        DATABASE_URL=f"sqlite:///{tmp_path}/other.db",
        SHEBAO_DATA_KEYS=f"k7:{k}",
        SHEBAO_INDEX_KEY=idx,
        SHEBAO_SECRET_KEY="s" * 50,
    )
    assert got["db"] == f"{tmp_path}/other.db" and got["secret"] == "s" * 50
    assert not (tmp_path / "x" / "data_keys.json").exists()
