"""The demo's SMS sink: Alibaba Cloud's SendSms answered and kept as files, the `shebao sms_sink`
server, the 演示短信 page, the demo's SMS channel — and the real Aliyun transport talking to it."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from shebao.core.context import Actor
from shebao.notify import smssink
from shebao.notify.management.commands.sms_sink import Command
from shebao.notify.models import Channel
from shebao.notify.smssink import render_text, sms_latest, sms_messages, sms_sink_dir, sms_store
from shebao.notify.transports import Message
from shebao.notify.transports.sms_aliyun import AliyunSms

SYSTEM = Actor.system(via="test")


def record(phone="13900000001", code="123456") -> dict:
    return {
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
        "phone": phone,
        "sign_name": "社保合规助手",
        "template_code": "SMS_SHEBAO_OTP",
        "params": {"code": code},
        "text": f"【社保合规助手】您的验证码为{code}",
        "out_id": "otp1",
        "biz_id": "1^0",
    }


def test_store_list_latest_and_retention(tmp_path, monkeypatch):
    first = sms_store(tmp_path, record(code="111111"))
    sms_store(tmp_path, record(phone="13900000002", code="222222"))
    sms_store(tmp_path, record(code="333333"))
    assert (first.stat().st_mode & 0o777) == 0o600 and (tmp_path.stat().st_mode & 0o777) == 0o700
    listed = sms_messages(directory=tmp_path)
    assert [m["params"]["code"] for m in listed] == ["333333", "222222", "111111"]  # newest first
    assert listed[0]["phone_masked"] == "139****0001" and listed[0]["received_at"].tzinfo is not None
    assert sms_latest("13900000001", directory=tmp_path)["params"]["code"] == "333333"
    assert sms_latest("+86 139-0000-0002", directory=tmp_path)["params"]["code"] == "222222"
    assert sms_latest("13800000000", directory=tmp_path) is None

    monkeypatch.setattr(smssink, "SINK_KEEP", 2)
    sms_store(tmp_path, record(code="444444"))
    assert [m["params"]["code"] for m in sms_messages(directory=tmp_path)] == ["444444", "333333"]
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "20260301T093000000000Z-001.json").write_text("not json")
    assert len(sms_messages(directory=tmp_path)) == 2
    assert sms_messages(directory=tmp_path / "missing") == []


def test_default_folder(settings, tmp_path):
    settings.SHEBAO_SMS_SINK_DIR = str(tmp_path / "configured")
    assert sms_sink_dir() == tmp_path / "configured"
    settings.SHEBAO_SMS_SINK_DIR = ""
    assert sms_sink_dir() == Path(settings.INSTANCE_DIR) / "sms-sink"


def test_text_as_the_phone_shows_it():
    templates = {"T1": "您的验证码为${code}，${minutes}分钟内有效"}
    assert (
        render_text("签名", "T1", {"code": "1", "minutes": "5"}, templates)
        == "【签名】您的验证码为1，5分钟内有效"
    )
    assert render_text("签名", "T2", {"a": "1"}, templates) == "【签名】a: 1"


def test_the_real_aliyun_transport_round_trip(tmp_path):
    server = smssink.sms_sink_server("127.0.0.1", 0, tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        transport = AliyunSms(
            {
                "access_key_id": "any",
                "access_key_secret": "any",
                "sign_name": "社保合规助手",
                "template_code": "SMS_SHEBAO_NOTICE",
                "params": ["name", "title", "deadline"],
                "templates": {"otp": "SMS_SHEBAO_OTP code"},
                "endpoint": server.url,
            },
            allow_private=True,
        )
        result = transport.send(
            Message(
                subject="",
                text="",
                to=("+8613912345678",),
                sms_params=(("code", "975310"),),
                idempotency_key="otp7-1:c3:e9",
                event="otp",
            )
        )
        assert result.provider_id.endswith("^0") and result.status_code == 200
        (got,) = sms_messages(directory=tmp_path)
        assert got["phone"] == "13912345678" and got["template_code"] == "SMS_SHEBAO_OTP"
        assert got["params"] == {"code": "975310"} and got["out_id"] == "otp7-1:c3:e9"
        assert (
            got["text"] == "【社保合规助手】您的验证码为975310，10分钟内有效。请勿告诉他人（包括公司人事）。"
        )
        transport.send(
            Message(
                subject="",
                text="",
                to=("13912345678",),
                sms_params=(("name", "张三"), ("title", "医保中断"), ("deadline", "2026-12-31")),
                event="finding",
            )
        )
        assert sms_latest("13912345678", directory=tmp_path)["text"] == (
            "【社保合规助手】张三您好：医保中断，请于2026-12-31前联系公司人事处理。"
        )
    finally:
        server.shutdown()
        server.server_close()


def _post(url: str, query: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/?{query}", data=b"", method="POST", headers={"x-acs-action": "SendSms"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_bad_requests_get_aliyun_errors_and_store_nothing(tmp_path):
    server = smssink.sms_sink_server("127.0.0.1", 0, tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _post(server.url, "SignName=a&TemplateCode=b")[1]["Code"] == "MissingParameter"
        bad_json = "PhoneNumbers=13900000001&SignName=a&TemplateCode=b&TemplateParam=%7Bx"
        assert _post(server.url, bad_json)[1]["Code"] == "isv.INVALID_JSON_PARAM"
        bad_phone = "PhoneNumbers=12345&SignName=a&TemplateCode=b"
        assert _post(server.url, bad_phone)[1]["Code"] == "isv.MOBILE_NUMBER_ILLEGAL"
        two = "PhoneNumbers=13900000001,13900000002&SignName=a&TemplateCode=b&TemplateParam=%7B%7D"
        status, answer = _post(server.url, two)
        assert status == 200 and answer["Code"] == "OK" and answer["BizId"]
        assert sorted(m["phone"] for m in sms_messages(directory=tmp_path)) == ["13900000001", "13900000002"]
        wrong = urllib.request.Request(f"{server.url}/?PhoneNumbers=1", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(wrong, timeout=10)
        assert exc.value.code == 400  # not SendSms
    finally:
        server.shutdown()
        server.server_close()


# --- the command ----------------------------------------------------------------------------


def test_command_receives_and_stores(tmp_path):
    out = io.StringIO()
    command = Command(stdout=out)
    thread = threading.Thread(
        target=call_command, args=(command, "--port", "0", "--dir", str(tmp_path)), daemon=True
    )
    thread.start()
    try:
        assert command.ready.wait(20), out.getvalue()
        host, port = command.address
        query = "PhoneNumbers=13900000001&SignName=%E7%A4%BE%E4%BF%9D&TemplateCode=SMS_SHEBAO_OTP&TemplateParam=%7B%22code%22%3A%22135790%22%7D"
        assert _post(f"http://{host}:{port}", query)[1]["Code"] == "OK"
        assert sms_latest("13900000001", directory=tmp_path)["params"] == {"code": "135790"}
    finally:
        command.stop_event.set()
        thread.join(20)
    assert not thread.is_alive()
    output = out.getvalue()
    assert f"http://127.0.0.1:{port}" in output
    assert "收到短信：139****0001 【社保】您的验证码为135790" in output
    assert output.rstrip().endswith("已停止")


def test_command_refuses_a_remote_address(tmp_path):
    with pytest.raises(CommandError, match="--allow-remote"):
        call_command(Command(), "--host", "0.0.0.0", "--dir", str(tmp_path))


# --- the demo --------------------------------------------------------------------------------


def test_demo_setup_creates_the_sms_channel_once_even_without_private_urls(db, admin):
    from shebao.demo.notify import SMS_CHANNEL_NAME, demo_notify_setup, sms_sink_channel

    with override_settings(SHEBAO_ALLOW_PRIVATE_URLS=False):
        demo_notify_setup(actor=SYSTEM)
        demo_notify_setup(actor=SYSTEM)
    (channel,) = Channel.objects.filter(kind="sms_aliyun")
    assert channel.name == SMS_CHANNEL_NAME and channel.for_people and channel.enabled
    assert channel.config["endpoint"] == "http://127.0.0.1:8026"
    assert channel.config["templates"] == {
        "case_letter": "SMS_SHEBAO_LETTER name,company,title,deadline,link",
        "otp": "SMS_SHEBAO_OTP code",
    }
    assert sms_sink_channel() == channel


def test_the_sms_page_shows_masked_numbers_and_the_whole_text(
    admin, clerk, login, settings, sms_sink, make_employee
):
    from shebao.notify import services

    emp = make_employee(phone="13712345678")
    with override_settings(SHEBAO_DEMO=True):
        assert "还没有收到短信" in login(admin).get("/notify/sms-sink/").content.decode()
        (n,) = services.employee_message_enqueue(
            event="otp", employee=emp, key="otp5-1", context={"code": "864209", "minutes": 10}, kinds=("sms",)
        )
        services.notifications_flush_one(notification=n)
        page = login(admin).get("/notify/sms-sink/").content.decode()
        assert "137****5678" in page and "13712345678" not in page
        assert "您的验证码为864209" in page and 'data-testid="tab-sms-sink"' in page
        assert login(clerk).get("/notify/sms-sink/").status_code == 403
    with override_settings(SHEBAO_DEMO=False, DEBUG=False):
        assert login(admin).get("/notify/sms-sink/").status_code == 404
