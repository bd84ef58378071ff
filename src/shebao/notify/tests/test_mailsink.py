"""The demo's mail sink: files in, summaries out, and the `shebao mail_sink` server."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.notify import mailsink
from shebao.notify.mailsink import sink_dir, sink_message, sink_messages, sink_store
from shebao.notify.management.commands.mail_sink import Command
from shebao.notify.testing.smtp import free_port


def mail(subject: str = "【社保合规】3 名员工未参保", html: str = "") -> bytes:
    msg = EmailMultiAlternatives(
        subject=subject,
        body="张三 您好：\n请尽快为李四办理增员。\n",
        from_email="社保合规助手 <hr@example.com>",
        to=["张三 <zhangsan@example.com>"],
    )
    if html:
        msg.attach_alternative(html, "text/html")
    return msg.message().as_bytes(linesep="\r\n")


def test_store_list_and_read(tmp_path):
    first = sink_store(tmp_path, mail("第一封"))
    second = sink_store(tmp_path, mail("第二封", html="<p>您好</p>"))
    assert first.parent == tmp_path and first.suffix == ".eml"
    assert (first.stat().st_mode & 0o777) == 0o600

    listed = sink_messages(directory=tmp_path)
    assert [m["subject"] for m in listed] == ["第二封", "第一封"]  # newest first
    newest = listed[0]
    assert newest["name"] == second.name
    assert newest["from"] == "社保合规助手 <hr@example.com>"
    assert newest["to"] == "张三 <zhangsan@example.com>"
    assert newest["has_html"] is True and listed[1]["has_html"] is False
    assert "请尽快为李四办理增员" in newest["text"]
    assert newest["size"] == second.stat().st_size
    assert newest["date"].tzinfo is not None

    full = sink_message(second.name, directory=tmp_path)
    assert full is not None
    assert full["subject"] == "第二封"
    assert full["html"].strip() == "<p>您好</p>"
    assert full["text"].startswith("张三 您好：")
    assert sink_message(first.name, directory=tmp_path)["html"] == ""

    assert sink_messages(directory=tmp_path, limit=1)[0]["name"] == second.name


def test_same_instant_gets_distinct_names(tmp_path, monkeypatch):
    monkeypatch.setattr(mailsink, "_now", lambda: dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC))
    names = [sink_store(tmp_path, mail(f"第{i}封")).name for i in range(1, 12)]
    assert names[0] == "20260301T093000000000Z-001.eml"
    assert len(set(names)) == 11
    # Sequence 10 and 11 sort after 9 (by number, not as text).
    assert [m["subject"] for m in sink_messages(directory=tmp_path)][:3] == ["第11封", "第10封", "第9封"]


def test_retention_keeps_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(mailsink, "SINK_KEEP", 3)
    for i in range(5):
        sink_store(tmp_path, mail(f"第{i}封"))
    assert [m["subject"] for m in sink_messages(directory=tmp_path)] == ["第4封", "第3封", "第2封"]
    assert len(list(tmp_path.glob("*.eml"))) == 3


def test_names_outside_the_sink_are_refused(tmp_path):
    inner = tmp_path / "sink"
    stored = sink_store(inner, mail())
    (tmp_path / "20260301T093000000000Z-001.eml").write_bytes(mail("外面"))

    assert sink_message(stored.name, directory=inner) is not None
    for name in [
        "../20260301T093000000000Z-001.eml",
        f"./{stored.name}",
        f"sub/{stored.name}",
        f"..\\{stored.name}",
        str(stored),
        "..",
        "",
        "20260301T093000000000Z-999.eml",  # well-formed but absent
    ]:
        assert sink_message(name, directory=inner) is None, name


def test_a_malformed_file_still_lists(tmp_path):
    (tmp_path / "20260301T093000000000Z-001.eml").write_bytes(b"\xff\xfe not a mail \x00\r\n\r\n\xc3")
    (tmp_path / "notes.txt").write_text("ignored")
    (listed,) = sink_messages(directory=tmp_path)
    assert listed["subject"] == ""
    assert sink_messages(directory=tmp_path / "missing") == []


def test_default_folder(settings, tmp_path):
    settings.SHEBAO_MAIL_SINK_DIR = str(tmp_path / "configured")
    assert sink_dir() == tmp_path / "configured"
    settings.SHEBAO_MAIL_SINK_DIR = ""
    assert sink_dir() == Path(settings.INSTANCE_DIR) / "mail-sink"
    assert sink_dir(tmp_path) == tmp_path


# --- the command ----------------------------------------------------------------------------


def send(port: int, subject: str = "演示邮件") -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "hr@example.com"
    msg["To"] = "张三 <zhangsan@example.com>"
    msg.set_content("您好")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(msg, to_addrs=["zhangsan@example.com", "bcc@example.com"])


def test_command_receives_and_stores(tmp_path):
    port = free_port()
    out = io.StringIO()
    command = Command(stdout=out)
    thread = threading.Thread(
        target=call_command, args=(command, "--port", str(port), "--dir", str(tmp_path)), daemon=True
    )
    thread.start()
    try:
        assert command.ready.wait(20), out.getvalue()
        assert command.address == ("127.0.0.1", port)
        send(port)
        (listed,) = sink_messages(directory=tmp_path)
        assert listed["subject"] == "演示邮件"
        raw = (tmp_path / listed["name"]).read_bytes()
        # The envelope is kept: a Bcc recipient shows up.
        assert b"X-Original-To: zhangsan@example.com, bcc@example.com" in raw
        assert b"Return-Path: <hr@example.com>" in raw
    finally:
        command.stop_event.set()
        thread.join(20)
    assert not thread.is_alive()
    output = out.getvalue()
    assert f"smtp://127.0.0.1:{port}" in output
    assert "收到邮件：演示邮件" in output
    assert output.rstrip().endswith("已停止")
    with pytest.raises(ConnectionRefusedError):
        send(port)


def test_command_refuses_a_remote_address(tmp_path):
    with pytest.raises(CommandError, match="--allow-remote"):
        call_command(Command(), "--host", "0.0.0.0", "--dir", str(tmp_path))


def test_command_stops_on_sigterm(tmp_path):
    port = free_port()
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from shebao.notify.management.commands.mail_sink import Command\n"
        f"call_command(Command(), '--port', '{port}', '--dir', {str(tmp_path)!r})\n"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "shebao.settings", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "按 Ctrl+C 停止" in line or time.monotonic() > deadline:
                break
        send(port, "退出前")
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "已停止" in rest
    assert [m["subject"] for m in sink_messages(directory=tmp_path)] == ["退出前"]
