"""Generic webhook: POST the message as JSON to a URL the customer runs, optionally signed.

The receiver verifies ``X-Shebao-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``
with ``X-Shebao-Timestamp`` (reject stale timestamps to stop replays) and de-duplicates on
``X-Shebao-Event-Id`` (the same on every retry of one delivery).

This module also holds the few helpers every HTTP transport shares (one request through the SSRF
guard, JSON parsing, Retry-After, cutting UTF-8 text), since it is the plain-HTTP transport.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import re
import time
from typing import Any, ClassVar

from pydantic import field_validator

from shebao.core import http
from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError

TIMEOUT = 10.0
TRANSIENT_STATUSES = frozenset({408, 425, 429})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection"}


# --- shared by the HTTP transports ---------------------------------------------------------------


def cut_utf8(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary, with an
    ellipsis when cut (providers count bytes, and a cut mid-character is invalid UTF-8)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(ellipsis.encode("utf-8")))
    return data[:room].decode("utf-8", errors="ignore") + ellipsis


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def check_url_syntax(value: str) -> str:
    """Pydantic validator body: a well-formed http(s) URL (addresses are checked when the
    channel is saved, with ``core.http.check_url``, and again on every send)."""
    try:
        http.parse_url(value)
    except http.HttpError as exc:
        raise ValueError(exc.message) from None
    return value.strip()


def send_request(
    transport: Transport, who: str, url: str, *, body: bytes, headers: dict[str, str], method: str = "POST"
) -> http.Response:
    """One request through the SSRF guard; network failures become ``TransportError`` (the
    message names the host only: webhook URLs carry their access token)."""
    try:
        return http.request(
            method, url, headers=headers, body=body, timeout=TIMEOUT, allow_private=transport.allow_private
        )
    except http.HttpError as exc:
        raise TransportError(f"{who}：{exc.message}", permanent=not exc.transient, code=exc.code) from exc


def status_error(who: str, resp: http.Response) -> TransportError:
    """The error for a non-2xx answer that carried no provider error code we understood."""
    detail = f"HTTP {resp.status}：{resp.excerpt(200)}"
    common: dict[str, Any] = {"status_code": resp.status, "code": f"http_{resp.status}"}
    if resp.status >= 500 or resp.status in TRANSIENT_STATUSES:
        return TransportError(
            f"{who}暂时不可用（{detail}）",
            retry_after=retry_after(resp.headers.get("retry-after")),
            response=resp.excerpt(),
            **common,
        )
    if 300 <= resp.status < 400:
        return TransportError(
            f"{who}要求跳转（{detail}），不跟随跳转，请直接配置最终地址",
            permanent=True,
            response=resp.excerpt(),
            **common,
        )
    # 413: this message is too big, the channel itself is fine; other 4xx mean a wrong URL or
    # credentials, which the admins must fix.
    return TransportError(
        f"{who}拒绝了请求（{detail}）",
        permanent=True,
        channel_broken=resp.status != 413,
        response=resp.excerpt(),
        **common,
    )


def json_object(who: str, resp: http.Response) -> dict[str, Any]:
    """The body as a JSON object; an HTML error page or other garbage is transient (usually a
    proxy or gateway in front of the provider having a bad moment)."""
    try:
        data = resp.json()
    except http.HttpError:
        data = None
    if not isinstance(data, dict):
        if resp.status >= 300:
            raise status_error(who, resp)
        raise TransportError(
            f"{who}返回的内容无法识别（HTTP {resp.status}）：{resp.excerpt(200)}",
            status_code=resp.status,
            code="bad_response",
            response=resp.excerpt(),
        )
    return data


# --- the generic webhook -------------------------------------------------------------------------


class WebhookConfig(ChannelConfig):
    url: str
    secret: str = ""
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url_syntax(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"请求头名称“{name}”无效")
            if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-shebao-"):
                raise ValueError(f"请求头“{name}”由系统设置，不能自定义")
            if "\r" in val or "\n" in val:  # header injection
                raise ValueError(f"请求头“{name}”的值不能包含换行")
        return value


def post_errcode(
    transport: Transport, who: str, url: str, body: dict[str, Any]
) -> tuple[http.Response, dict[str, Any], int]:
    """POST a robot's JSON message and read its ``errcode`` (DingTalk and WeCom answer alike)."""
    resp = send_request(
        transport,
        who,
        url,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    data = json_object(who, resp)
    code = data.get("errcode")
    if not isinstance(code, int):
        raise TransportError(
            f"{who}返回的内容缺少 errcode（HTTP {resp.status}）：{resp.excerpt(200)}",
            status_code=resp.status,
            code="bad_response",
            response=resp.excerpt(),
        )
    return resp, data, code


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Webhook(Transport):
    kind: ClassVar[str] = "webhook"
    label: ClassVar[str] = "Webhook"
    Config = WebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)
    format: ClassVar[str] = "json"
    config: WebhookConfig

    def send(self, message: Message) -> SendResult:
        payload = message.payload or {"subject": message.subject, "text": message.text}
        if not message.payload and message.link:
            payload["link"] = message.link
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = dict(self.config.headers) | {
            "Content-Type": "application/json; charset=utf-8",
            "X-Shebao-Event-Id": message.idempotency_key,
            "X-Shebao-Timestamp": timestamp,
        }
        if self.config.secret:
            headers["X-Shebao-Signature"] = webhook_signature(self.config.secret, timestamp, body)
        resp = send_request(self, "Webhook", self.config.url, body=body, headers=headers)
        if not 200 <= resp.status < 300:
            raise status_error("Webhook 接收方", resp)
        return SendResult(
            provider_id=resp.headers.get("x-request-id", "")[:100],
            status_code=resp.status,
            response=resp.excerpt(),
        )
