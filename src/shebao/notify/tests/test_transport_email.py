"""The email transport against a real SMTP server (aiosmtpd on the loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from shebao.core.exceptions import ApplicationError
from shebao.notify.testing.smtp import SmtpServer, free_port
from shebao.notify.transports import transport_class
from shebao.notify.transports.base import Message, TransportError
from shebao.notify.transports.email import Email

SENDER = "社保合规助手 <hr@example.com>"
SUBJECT = "【社保合规】北京示例科技有限公司 2026年3月 有 3 名员工未参保"
TEXT = "张三 您好：\n\n以下员工入职已满 30 天仍未参保：李四、王五、赵六。\n请尽快办理增员。\n"
HTML = "<p>张三 您好：</p><p>以下员工入职已满 30 天仍未参保：<b>李四、王五、赵六</b>。</p>"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as srv:
        yield srv


def channel(server: SmtpServer, **extra: Any) -> Email:
    config = {"host": server.host, "port": server.port, "security": "none", "from": SENDER} | extra
    return Email(Email.validate(config))


def message(**extra: Any) -> Message:
    fields: dict[str, Any] = {
        "subject": SUBJECT,
        "text": TEXT,
        "to": ("张三 <zhangsan@example.com>",),
        "idempotency_key": "delivery-42-1",
    }
    return Message(**(fields | extra))


def fails(transport: Email, msg: Message | None = None) -> TransportError:
    with pytest.raises(TransportError) as info:
        transport.send(msg or message())
    return info.value


# --- what arrives ---------------------------------------------------------------------------


def test_chinese_subject_body_and_names_arrive_exactly(server):
    result = channel(server).send(message(html=HTML))

    (received,) = server.received
    msg = received.message
    assert msg["Subject"] == SUBJECT
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("社保合规助手", "hr@example.com")
    to = msg["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("张三", "zhangsan@example.com")
    assert received.mail_from == "hr@example.com"
    assert received.rcpt_tos == ["zhangsan@example.com"]
    # On the wire the headers are RFC 2047 encoded, not raw UTF-8.
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    # The wire has CRLF line ends; Python's parser keeps them in an 8bit body.
    body = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert body.rstrip("\n") == TEXT.rstrip("\n")
    assert result.status_code == 250
    assert result.provider_id == msg["Message-ID"]


def test_html_alternative(server):
    channel(server).send(message(html=HTML))

    msg = server.messages[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(preferencelist=("html",)).get_content().rstrip("\r\n") == HTML
    assert msg.get_body(preferencelist=("plain",)).get_content_type() == "text/plain"


def test_text_only_without_html(server):
    channel(server).send(message())

    msg = server.messages[0]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_body(preferencelist=("html",)) is None


def test_message_id_is_stable_per_delivery(server):
    transport = channel(server)
    first = transport.send(message(idempotency_key="delivery-42-1"))
    again = transport.send(message(idempotency_key="delivery-42-1"))
    other = transport.send(message(idempotency_key="delivery-43-1"))

    ids = [m["Message-ID"] for m in server.messages]
    assert ids == ["<delivery-42-1@shebao.local>"] * 2 + ["<delivery-43-1@shebao.local>"]
    assert first.provider_id == again.provider_id == "<delivery-42-1@shebao.local>"
    assert other.provider_id != first.provider_id
    assert server.messages[0]["X-Shebao-Delivery"] == "delivery-42-1"
    assert server.messages[0]["Auto-Submitted"] == "auto-generated"


def test_message_id_from_an_unusual_key_is_still_stable_and_valid(server):
    transport = channel(server)
    a = transport.send(message(idempotency_key="通知 7/张三 <x@y>"))
    b = transport.send(message(idempotency_key="通知 7/张三 <x@y>"))
    assert a.provider_id == b.provider_id
    assert server.messages[0]["Message-ID"] == a.provider_id
    assert a.provider_id.isascii() and " " not in a.provider_id and a.provider_id.count("@") == 1


def test_without_key_each_send_gets_its_own_message_id(server):
    transport = channel(server)
    a = transport.send(message(idempotency_key=""))
    b = transport.send(message(idempotency_key=""))
    assert a.provider_id != b.provider_id
    assert a.provider_id.endswith("@shebao.local>")


def test_fixed_recipients_when_the_message_has_none(server):
    transport = channel(server, to="hr-team@example.com，社保组 <shebao@example.com>")
    transport.send(message(to=()))

    assert server.received[0].rcpt_tos == ["hr-team@example.com", "shebao@example.com"]


def test_no_recipient_is_permanent_for_the_delivery_only(server):
    err = fails(channel(server), message(to=()))
    assert err.permanent and not err.channel_broken
    assert "没有收件人" in err.message
    assert server.messages == []


def test_invalid_recipient_is_permanent_for_the_delivery_only(server):
    err = fails(channel(server), message(to=("不是邮箱",)))
    assert err.permanent and not err.channel_broken
    assert "不是邮箱" in err.message


def test_multiline_subject_becomes_one_line(server):
    channel(server).send(message(subject="第一行\n第二行"))
    assert server.messages[0]["Subject"] == "第一行 第二行"


# --- login ----------------------------------------------------------------------------------


def test_auth_success():
    with SmtpServer(auth=("hr@example.com", "Auth-code-123")) as srv:
        channel(srv, username="hr@example.com", password="Auth-code-123").send(message())
        assert srv.received[0].login == "hr@example.com"


def test_wrong_password_breaks_the_channel():
    with SmtpServer(auth=("hr@example.com", "right")) as srv:
        err = fails(channel(srv, username="hr@example.com", password="wrong"))
        assert err.permanent and err.channel_broken
        assert err.status_code == 535
        assert err.message.startswith("邮件服务器拒绝登录（535）")
        assert srv.messages == []


def test_missing_login_breaks_the_channel():
    with SmtpServer(auth=("hr@example.com", "right")) as srv:
        err = fails(channel(srv))  # the server wants AUTH: 530 at MAIL FROM
        assert err.permanent and err.channel_broken
        assert err.status_code == 530
        assert "拒绝发件人" in err.message


# --- failures -------------------------------------------------------------------------------


def test_refused_connection_is_transient_and_recovers(server):
    transport = channel(server)
    server.refuse()
    err = fails(transport)
    assert not err.permanent and not err.channel_broken
    assert err.message.startswith(f"无法连接邮件服务器 {server.host}:{server.port}：")

    server.recover()
    assert transport.send(message()).status_code == 250
    assert len(server.messages) == 1


def test_451_is_transient(server):
    server.reject_next(451, "4.7.1 Try again later", at="data")
    err = fails(channel(server))
    assert not err.permanent
    assert err.status_code == 451
    assert "4.7.1 Try again later" in err.message
    channel(server).send(message())  # the next attempt goes through
    assert len(server.messages) == 1


def test_5xx_at_data_is_permanent_for_the_delivery_only(server):
    server.reject_next(554, "5.7.1 Message rejected as spam", at="data")
    err = fails(channel(server))
    assert err.permanent and not err.channel_broken
    assert err.status_code == 554


def test_550_recipient_is_permanent_for_the_delivery_only(server):
    server.reject_next(550, "5.1.1 User unknown", at="rcpt")
    err = fails(channel(server))
    assert err.permanent and not err.channel_broken
    assert err.status_code == 550
    assert "zhangsan@example.com" in err.message
    assert server.messages == []


def test_greylisted_recipient_is_transient(server):
    server.reject_next(450, "4.2.0 Greylisted", at="rcpt")
    err = fails(channel(server))
    assert not err.permanent
    assert err.status_code == 450


def test_partly_refused_recipients_are_reported_but_the_send_succeeds(server):
    server.reject_next(550, "5.1.1 User unknown", at="rcpt")
    result = channel(server).send(message(to=("gone@example.com", "here@example.com")))
    assert server.received[0].rcpt_tos == ["here@example.com"]
    assert "gone@example.com" in result.response and "550" in result.response


def test_ssl_against_a_plain_server_breaks_the_channel(server):
    err = fails(channel(server, security="ssl"))
    assert err.permanent and err.channel_broken
    assert "加密连接失败" in err.message


def test_starttls_not_offered_breaks_the_channel(server):
    err = fails(channel(server, security="starttls"))
    assert err.permanent and err.channel_broken
    assert "STARTTLS" in err.message


def test_silent_server_times_out_transiently():
    # Accepts TCP connections (the kernel's backlog) but never says hello.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        transport = Email(
            Email.validate(
                {"host": "127.0.0.1", "port": port, "security": "none", "from": SENDER, "timeout": 1}
            )
        )
        err = fails(transport)
    assert not err.permanent
    assert "1 秒内无响应" in err.message


def test_nothing_listening_is_transient():
    transport = Email(
        Email.validate({"host": "127.0.0.1", "port": free_port(), "security": "none", "from": SENDER})
    )
    err = fails(transport)
    assert not err.permanent
    assert "连接被拒绝" in err.message


# --- configuration --------------------------------------------------------------------------


def test_registered_under_its_kind():
    assert transport_class("email") is Email
    assert (Email.kind, Email.label, Email.personal, Email.format) == ("email", "邮件", True, "email")
    assert Email.secret_fields == ("password",)


def test_from_round_trips_by_alias_and_port_follows_security():
    config = Email.validate({"host": "smtp.exmail.qq.com", "from": SENDER, "security": "ssl"})
    assert config == {
        "host": "smtp.exmail.qq.com",
        "port": 465,
        "username": "",
        "password": "",
        "security": "ssl",
        "from": SENDER,
        "to": [],
        "timeout": 15,
    }
    assert Email.validate(config) == config  # stored and validated again: unchanged
    assert Email.validate({"host": "h.example.com", "from": SENDER})["port"] == 587
    assert Email.validate({"host": "h.example.com", "from": SENDER, "security": "none"})["port"] == 25
    assert Email.validate({"host": "h.example.com", "from": SENDER, "port": ""})["port"] == 587
    assert Email.validate({"host": "h.example.com", "from": SENDER, "port": 2525})["port"] == 2525
    assert Email(config).config.sender == SENDER


def errors(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ApplicationError) as info:
        Email.validate(config)
    assert info.value.message.startswith("通道配置有误：")
    return info.value.field_errors


def test_missing_host_and_from():
    assert errors({}) == {"host": "必填", "from": "必填"}
    assert errors({"host": " ", "from": SENDER}) == {"host": "必填"}


def test_bad_host():
    assert "smtp://" in errors({"host": "smtp://smtp.qq.com", "from": SENDER})["host"]
    assert "端口" in errors({"host": "smtp.qq.com:465", "from": SENDER})["host"]
    assert Email.validate({"host": "[::1]", "from": SENDER})["host"] == "::1"


def test_bad_security_and_port_and_timeout():
    found = errors({"host": "h.example.com", "from": SENDER, "security": "tls", "port": 70000, "timeout": 0})
    assert found["security"].startswith("可选值：")
    assert found["port"] == "端口应在 1–65535 之间"
    assert found["timeout"] == "超时应在 1–300 秒之间"
    assert errors({"host": "h.example.com", "from": SENDER, "port": "abc"})["port"] == "应为整数"


def test_bad_addresses():
    assert errors({"host": "h.example.com", "from": "hr"})["from"] == "邮箱地址无效：hr"
    assert "一个" in errors({"host": "h.example.com", "from": "a@example.com, b@example.com"})["from"]
    assert (
        "第 2 个收件人"
        in errors({"host": "h.example.com", "from": SENDER, "to": ["a@example.com", "b@"]})["to"]
    )
    # A non-ASCII local part would need SMTPUTF8, which is not used.
    assert "from" in errors({"host": "h.example.com", "from": "张三@example.com"})


def test_addresses_accepted():
    config = Email.validate(
        {
            "host": "h.example.com",
            "from": '"HR, 北京" <hr@example.com>',
            "to": ["a@example.com", "a@example.com", "社保 <b@例子.中国>"],
        }
    )
    assert config["from"] == '"HR, 北京" <hr@example.com>'
    assert config["to"] == ["a@example.com", "社保 <b@例子.中国>"]


def test_login_must_be_ascii():
    # smtplib encodes AUTH as ASCII: refuse at configuration rather than fail at every send.
    assert errors({"host": "h.example.com", "from": SENDER, "password": "授权码"}) == {
        "password": "只能包含英文字母、数字和符号"
    }


def test_unknown_keys_refused():
    assert errors({"host": "h.example.com", "from": SENDER, "use_tls": True}) == {"use_tls": "不支持的配置项"}
