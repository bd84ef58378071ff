"""Email over SMTP: one message per delivery, built and sent with Django's mail classes.

Django encodes Chinese subjects and display names (RFC 2047) and bodies; this module adds what a
notification needs on top: a Message-ID derived from the delivery's idempotency key (a resend
after a lost reply carries the same ID, so mail clients and the recipient can recognise it) and
a translation of every SMTP failure into "retry later" or "fix the channel".
"""

from __future__ import annotations

import contextlib
import email.policy
import hashlib
import ipaddress
import re
import smtplib
import socket
import ssl
import uuid
from email.header import Header
from typing import Any, ClassVar, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from pydantic import ConfigDict, Field, field_validator, model_validator

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError

DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}
MESSAGE_ID_DOMAIN = "shebao.local"
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LIST_SEPARATORS = re.compile(r"[\n;；,，]+")


def check_address(value: str) -> str:
    """One address, bare or with a display name (``社保合规助手 <hr@example.com>``); returns it
    stripped. ValueError with a Chinese message otherwise."""
    value = value.strip()
    if not value:
        raise ValueError("邮箱地址为空")
    if "\r" in value or "\n" in value:
        raise ValueError(f"邮箱地址不能包含换行：{value!r}")
    try:
        header = email.policy.default.header_factory("to", value)
        addresses = header.addresses
    except Exception:  # the stdlib parser raises HeaderParseError, IndexError… on odd input
        raise ValueError(f"邮箱地址无效：{value}") from None
    if len(addresses) != 1:
        raise ValueError(f"只能填写一个邮箱地址：{value}")
    addr_spec = addresses[0].addr_spec
    try:
        # Django's validator: ASCII local part (SMTPUTF8 is not used) and a domain with a dot.
        validate_email(addr_spec)
    except DjangoValidationError:
        raise ValueError(f"邮箱地址无效：{value}") from None
    if header.defects:
        raise ValueError(f"邮箱地址格式有误：{value}（带名称时请写成：名称 <name@example.com>）")
    try:
        sanitize_address(value, "utf-8")  # what Django will do with it when sending
    except ValueError:
        raise ValueError(f"邮箱地址无效：{value}") from None
    return value


class EmailConfig(ChannelConfig):
    """An SMTP account. ``from`` is a Python keyword, hence the ``sender`` attribute with an alias;
    the configuration dumps (and is stored) under ``from``."""

    model_config = ConfigDict(validate_by_alias=True, validate_by_name=True, serialize_by_alias=True)

    host: str
    port: int | None = None  # None: the usual port of the chosen security
    username: str = ""
    password: str = Field(default="", repr=False)  # kept out of logs and tracebacks
    security: Literal["ssl", "starttls", "none"] = "starttls"
    sender: str = Field(alias="from")
    to: list[str] = Field(default_factory=list)  # fixed recipients (a group mailbox)
    timeout: int = 15

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value:
            raise ValueError("必填")
        if "://" in value or "/" in value or any(c.isspace() for c in value):
            raise ValueError("应为主机名或 IP 地址，如 smtp.exmail.qq.com（不含 smtp:// 和路径）")
        if ":" in value:
            try:
                ipaddress.IPv6Address(value.strip("[]"))
            except ValueError:
                raise ValueError("主机名中不要写端口，端口请填在“端口”中") from None
            return value.strip("[]")
        return value

    @field_validator("port", mode="before")
    @classmethod
    def _port_blank(cls, value: Any) -> Any:
        return None if value == "" else value  # a form's empty field means "the usual port"

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("端口应在 1–65535 之间")
        return value

    @field_validator("username", "password")
    @classmethod
    def _ascii(cls, value: str) -> str:
        if not value.isascii():  # smtplib sends AUTH PLAIN/LOGIN as ASCII
            raise ValueError("只能包含英文字母、数字和符号")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if not 1 <= value <= 300:
            raise ValueError("超时应在 1–300 秒之间")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not value:
            raise ValueError("必填")
        return check_address(value)

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: Any) -> Any:
        if isinstance(value, str):  # a form's textarea: one per line or separated by commas
            value = [part for part in _LIST_SEPARATORS.split(value) if part.strip()]
        if not isinstance(value, list | tuple):
            return value  # pydantic reports the type error
        checked: list[str] = []
        for i, item in enumerate(value, 1):
            if not isinstance(item, str):
                raise ValueError(f"第 {i} 个收件人应为文本")
            try:
                address = check_address(item)
            except ValueError as exc:
                raise ValueError(f"第 {i} 个收件人：{exc}") from None
            if address not in checked:
                checked.append(address)
        return checked

    @model_validator(mode="after")
    def _default_port(self) -> EmailConfig:
        if self.port is None:
            self.port = DEFAULT_PORTS[self.security]
        return self


class Email(Transport):
    kind: ClassVar[str] = "email"
    label: ClassVar[str] = "邮件"
    Config: ClassVar[type[ChannelConfig]] = EmailConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    personal: ClassVar[bool] = True
    format: ClassVar[str] = "email"

    config: EmailConfig

    def send(self, message: Message) -> SendResult:
        cfg = self.config
        recipients = list(message.to) or list(cfg.to)
        if not recipients:
            raise TransportError(
                "没有收件人：该用户未填写邮箱，且邮件通道未设置固定收件人",
                permanent=True,
                channel_broken=False,
            )
        invalid = []
        for address in recipients:
            try:
                check_address(address)
            except ValueError:
                invalid.append(address)
        if invalid:
            raise TransportError(
                f"收件人邮箱地址无效：{'、'.join(invalid)}", permanent=True, channel_broken=False
            )

        token = delivery_token(message.idempotency_key)
        message_id = f"<{token}@{MESSAGE_ID_DOMAIN}>"
        mail = EmailMultiAlternatives(
            subject=" ".join(message.subject.split()),  # a header: no line breaks
            body=message.text,
            from_email=cfg.sender,
            to=recipients,
            headers={
                "Message-ID": message_id,
                "X-Shebao-Delivery": " ".join((message.idempotency_key or token).split()),
                # Automated mail: ask servers and clients not to answer with out-of-office replies.
                "Auto-Submitted": "auto-generated",
                "X-Auto-Response-Suppress": "All",
            },
        )
        if message.html:
            mail.attach_alternative(message.html, "text/html")
        try:
            encoding = mail.encoding or "utf-8"
            from_addr = sanitize_address(cfg.sender, encoding)
            to_addrs = [sanitize_address(a, encoding) for a in mail.recipients()]
            mime = mail.message()
            if not mail.subject.isascii():
                # Django folds a long encoded subject after an empty first line ("Subject: \r\n =?utf-8?…"),
                # which decodes with a leading space; a Header that knows its name folds cleanly.
                mime.replace_header("Subject", Header(mail.subject, encoding, header_name="Subject"))
            data = mime.as_bytes(linesep="\r\n")
        except ValueError as exc:  # BadHeaderError is a ValueError too
            raise TransportError(f"邮件内容无法编码：{exc}", permanent=True, channel_broken=False) from None

        backend = EmailBackend(
            host=cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password,
            use_tls=cfg.security == "starttls",
            use_ssl=cfg.security == "ssl",
            timeout=cfg.timeout,
            fail_silently=False,
        )
        try:
            backend.open()
            assert backend.connection is not None
            # The connection's sendmail rather than backend.send_messages: it returns the recipients
            # the server refused while accepting the others, which send_messages throws away.
            refused: dict[str, tuple[int, bytes]] = backend.connection.sendmail(from_addr, to_addrs, data)
        except Exception as exc:  # every failure is translated below
            raise self._error(exc) from exc
        finally:
            # The message is accepted once DATA got its 250: a failing QUIT must not turn that into
            # a failure (the outbox would send it again).
            with contextlib.suppress(OSError):
                backend.close()

        response = f"250 {cfg.host}:{cfg.port} 已接收，收件人 {len(to_addrs) - len(refused)} 个"
        if refused:
            response += "；被拒绝的收件人：" + "；".join(
                f"{addr}（{code} {_text(text)}）" for addr, (code, text) in refused.items()
            )
        return SendResult(provider_id=message_id, status_code=250, response=response)

    def _error(self, exc: BaseException) -> TransportError:
        """What a failure means: transient (the outbox retries), permanent for this delivery, or
        permanent because the channel itself is misconfigured (the admins are told)."""
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            code, text = exc.smtp_code, _text(exc.smtp_error)
            if 400 <= code < 500:  # 454: temporary authentication failure
                return TransportError(
                    f"邮件服务器暂时无法验证登录（{code}）：{text}", status_code=code, response=text
                )
            return TransportError(
                f"邮件服务器拒绝登录（{code}）：请检查用户名和密码"
                f"（QQ、163、企业微信等邮箱需使用授权码或客户端专用密码，而非网页登录密码）。服务器回复：{text}",
                permanent=True,
                status_code=code,
                code="auth",
                response=text,
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            code, text = exc.smtp_code, _text(exc.smtp_error)
            if 400 <= code < 500:
                return TransportError(
                    f"邮件服务器暂时拒绝发件人（{code}）：{text}", status_code=code, response=text
                )
            return TransportError(
                f"邮件服务器拒绝发件人 {exc.sender!s}（{code}）：发件人通常须与登录账号一致，"
                f"或服务器要求先登录。服务器回复：{text}",
                permanent=True,
                status_code=code,
                code="sender",
                response=text,
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):  # every recipient was refused
            items = list(exc.recipients.items())
            detail = "；".join(f"{addr}（{code} {_text(text)}）" for addr, (code, text) in items)
            first = items[0][1][0] if items else None
            # All 4xx (greylisting, a full mailbox for now): worth another try later.
            transient = bool(items) and all(400 <= code < 500 for _addr, (code, _text_) in items)
            return TransportError(
                ("收件人暂时被拒绝：" if transient else "收件人被拒绝：") + detail,
                permanent=not transient,
                channel_broken=False,
                status_code=first,
                code="recipients",
                response=detail,
            )
        if isinstance(exc, smtplib.SMTPConnectError):  # the greeting was not 220 (busy, 421)
            text = _text(exc.smtp_error)
            return TransportError(
                f"无法连接邮件服务器 {where}：服务器拒绝服务（{exc.smtp_code} {text}）",
                status_code=exc.smtp_code,
                response=text,
            )
        if isinstance(exc, smtplib.SMTPResponseException):  # DATA, HELO and the rest
            code, text = exc.smtp_code, _text(exc.smtp_error)
            if 400 <= code < 500:
                return TransportError(
                    f"邮件服务器暂时无法接收（{code}）：{text}", status_code=code, response=text
                )
            return TransportError(
                f"邮件服务器拒绝了这封邮件（{code}）：{text}",
                permanent=True,
                channel_broken=False,
                status_code=code,
                response=text,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):  # no STARTTLS or no AUTH offered
            missing = str(exc).rstrip(".")
            return TransportError(
                f"邮件服务器 {where} 不支持所需的功能：{missing}。请检查加密方式"
                f"（SSL 通常用 465 端口，STARTTLS 用 587，不加密用 25）和是否需要登录",
                permanent=True,
                code="unsupported",
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):  # smtplib wraps a read timeout
                return TransportError(f"无法连接邮件服务器 {where}：{cfg.timeout} 秒内无响应")
            return TransportError(f"无法连接邮件服务器 {where}：服务器断开了连接（{exc}）")
        if isinstance(exc, ssl.SSLError):  # also certificate errors
            return TransportError(
                f"与邮件服务器 {where} 建立加密连接失败：{exc}。请检查加密方式与端口"
                f"（SSL 通常用 465，STARTTLS 用 587）以及服务器证书",
                permanent=True,
                code="tls",
            )
        if isinstance(exc, smtplib.SMTPException):
            return TransportError(f"发送邮件失败：{exc}")
        if isinstance(exc, socket.gaierror):
            return TransportError(f"无法连接邮件服务器 {where}：无法解析主机名（{exc}）")
        if isinstance(exc, ConnectionRefusedError):
            return TransportError(f"无法连接邮件服务器 {where}：连接被拒绝")
        if isinstance(exc, TimeoutError | socket.timeout):
            return TransportError(f"无法连接邮件服务器 {where}：{cfg.timeout} 秒内无响应")
        if isinstance(exc, OSError):
            return TransportError(f"无法连接邮件服务器 {where}：{exc}")
        if isinstance(exc, ValueError):  # an address Django could not encode
            return TransportError(f"邮件内容无法编码：{exc}", permanent=True, channel_broken=False)
        return TransportError(f"发送邮件失败：{type(exc).__name__}: {exc}")


def delivery_token(key: str) -> str:
    """The left part of the Message-ID: the idempotency key when it is a safe token, else a hash
    of it (still stable per delivery), or a random one when there is no key."""
    if not key:
        return uuid.uuid4().hex
    if _SAFE_TOKEN.fullmatch(key):
        return key
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.split())[:300]
