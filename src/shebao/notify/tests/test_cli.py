"""`shebao channel add|list|update|remove` and `shebao notify test|flush`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.notify.models import Channel
from shebao.notify.testing.fakes import FakeProviders
from shebao.notify.testing.scenario import webhook_finding


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def fakes():
    with FakeProviders() as server:
        yield server


def test_channel_add_list_update_remove(db, fakes):
    out = run("channel", "add", "--kind", "dingtalk", "--name", "人事群", "--config",
              json.dumps(fakes.config("dingtalk")), "--json")  # fmt: skip
    data = json.loads(out)
    assert data["kind"] == "dingtalk" and data["rate_limit"] == 20
    assert data["secrets_set"] == {"url": True, "secret": True} and "secret" not in json.dumps(data["config"])
    listed = json.loads(run("channel", "list", "--json"))
    assert [c["name"] for c in listed] == ["站内信", "人事群"]
    assert "人事群" in run("channel", "list")
    run("channel", "update", "人事群", "--disable")
    assert not Channel.objects.get(name="人事群").enabled
    run("channel", "remove", "人事群")
    assert not Channel.objects.filter(name="人事群").exists()


def test_channel_add_errors_are_specific(db, settings):
    with pytest.raises(CommandError, match="不是有效的 JSON"):
        run("channel", "add", "--kind", "webhook", "--name", "x", "--config", "{url:")
    with pytest.raises(CommandError, match="url"):
        run("channel", "add", "--kind", "webhook", "--name", "x", "--config", "{}")
    settings.SHEBAO_ALLOW_PRIVATE_URLS = False
    with pytest.raises(CommandError, match="内网地址"):
        run(
            "channel",
            "add",
            "--kind",
            "webhook",
            "--name",
            "x",
            "--config",
            '{"url": "http://192.168.1.5/h"}',
        )
    with pytest.raises(CommandError, match="不存在"):
        run("notify", "test", "没有这个通道")


def test_notify_test_exits_non_zero_with_the_providers_error(db, fakes):
    run(
        "channel",
        "add",
        "--kind",
        "wecom",
        "--name",
        "企业微信群",
        "--config",
        json.dumps(fakes.config("wecom")),
    )
    assert "测试消息已发送" in run("notify", "test", "企业微信群")
    assert len(fakes.received["wecom"]) == 1
    fakes.error_next("wecom", 93000)
    with pytest.raises(CommandError, match="93000"):
        run("notify", "test", "企业微信群")


def test_notify_flush_sends_what_is_due(org, make_employee, fakes):
    webhook_finding(org, make_employee, fakes, recipients=["group_robot"])
    data = json.loads(run("notify", "flush", "--json"))
    assert data["sent"] == 1 and len(fakes.received["webhook"]) == 1
    assert json.loads(run("notify", "flush", "--json"))["sent"] == 0
    body = fakes.received["webhook"][0]
    assert body["event"] == "finding" and body["data"]["kind"] == "registration_overdue"
