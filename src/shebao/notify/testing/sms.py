"""The SMS sink in tests: a running sink, the SMS channel for people that sends to it, and what
each phone received.

    def test_code(sms_sink, make_employee):
        ...  # something sends employee 13900000001 a one-time code
        assert sms_sink.code("13900000001") == "123456"

or, in a conftest: ``from shebao.notify.testing.sms import sms_sink  # noqa: F401``. Outside
pytest: ``with running_sms_sink(folder) as sink: …``.

The channel is created with the database of the test (a ``live_server`` test's too: the fixture
uses the test's database, transactional or not) and named like the demo's, so the pages show
what the demo shows; the sink's folder is the test's own (setting SHEBAO_SMS_SINK_DIR points at
it), so the 演示短信 page lists exactly this test's texts.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shebao.notify.models import Channel
from shebao.notify.smssink import SmsSinkServer, sms_latest, sms_messages, sms_sink_server

__all__ = ["SmsSink", "running_sms_sink", "sms_sink"]

_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass
class SmsSink:
    """A started sink and its channel."""

    server: SmsSinkServer
    directory: Path
    channel: Channel

    @property
    def url(self) -> str:
        return self.server.url

    def messages(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first (see ``smssink.sms_messages``)."""
        return sms_messages(directory=self.directory, limit=limit)

    def latest(self, phone: str) -> dict[str, Any] | None:
        """The newest message to ``phone``, or None."""
        return sms_latest(phone, directory=self.directory)

    def wait_for(self, phone: str, *, after: str = "", timeout: float = 10.0) -> dict[str, Any]:
        """The newest message to ``phone`` once there is one newer than the message named
        ``after`` (a record's ``name``; "" = any). Fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.latest(phone)
            if record is not None and record["name"] != after and (not after or record["name"] > after):
                return record
            if time.monotonic() > deadline:
                got = [f"{m['phone_masked']}: {m['text']}" for m in self.messages(5)]
                raise AssertionError(f"{timeout} 秒内没有发往 {phone} 的新短信；最近收到：{got or '（无）'}")
            time.sleep(0.1)

    def code(self, phone: str, *, after: str = "", timeout: float = 10.0) -> str:
        """The one-time code in the newest text to ``phone`` (waiting for it like ``wait_for``)."""
        record = self.wait_for(phone, after=after, timeout=timeout)
        code = record["params"].get("code") or ""
        if not code:
            found = _CODE.search(record["text"])
            code = found.group(1) if found else ""
        if not code:
            raise AssertionError(f"发往 {phone} 的最新短信没有验证码：{record['text']}")
        return code


@contextlib.contextmanager
def running_sms_sink(directory: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[SmsSink]:
    """Start a sink on ``host:port`` (0: a free port) storing in ``directory`` and point the
    demo's SMS channel (created if missing, enabled, for people) at it; stop it afterwards."""
    from shebao.core.context import Actor
    from shebao.demo.notify import SMS_CHANNEL_NAME, sms_sink_config
    from shebao.notify.services import channel_create, channel_update

    folder = Path(directory)
    server = sms_sink_server(host, port, folder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        actor = Actor.system(via="test")
        config = sms_sink_config(server.url)
        channel = Channel.objects.filter(name=SMS_CHANNEL_NAME).first()
        if channel is None:
            channel = channel_create(
                actor=actor,
                kind="sms_aliyun",
                name=SMS_CHANNEL_NAME,
                config=config,
                for_people=True,
                allow_private=True,
            )
        else:
            channel = channel_update(
                actor=actor, channel=channel, config=config, enabled=True, for_people=True
            )
        yield SmsSink(server=server, directory=folder, channel=channel)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sms_sink(db, tmp_path, settings) -> Iterator[SmsSink]:
    """A running SMS sink for one test, with the SMS channel for people sending to it."""
    folder = tmp_path / "sms-sink"
    settings.SHEBAO_SMS_SINK_DIR = folder
    with running_sms_sink(folder) as sink:
        yield sink
