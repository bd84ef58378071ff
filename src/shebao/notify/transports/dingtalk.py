"""DingTalk custom group robot (钉钉自定义机器人): a markdown message POSTed to the webhook URL.

With 加签 the URL gets ``&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(secret,
f"{timestamp}\\n{secret}")))>``; DingTalk rejects a timestamp more than an hour off. A robot
sends at most 20 messages a minute and is then blocked for 10 minutes (errcode 410100).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import field_validator

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.webhook import check_url_syntax, cut_utf8, post_errcode

WHO = "钉钉机器人"
RATE_LIMITED = frozenset({410100, 130101})  # 130101: the older "send too fast" code
BLOCK_SECONDS = 600
CONTENT_REFUSED = frozenset({430101, 430102, 430103, 430104})  # unsafe link / text / image / content
HINTS = {
    300001: "access_token 无效",
    310000: "安全设置校验未通过（加签不匹配、时间戳无效、不含关键词或 IP 不在白名单）",
    400013: "群已被解散",
    400101: "access_token 不存在",
    400102: "机器人已停用",
    400105: "不支持的消息类型",
    400106: "机器人不存在",
    430101: "含有不安全的外链",
    430102: "含有不合适的文本",
    430103: "含有不合适的图片",
    430104: "含有不合适的内容",
}
_MOBILE = re.compile(r"^1\d{10}$")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """The base64 signature (not yet URL-encoded)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkConfig(ChannelConfig):
    url: str
    secret: str = ""
    at_mobiles: list[str] = []
    at_all: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = check_url_syntax(value)
        if not parse_qs(urlsplit(value).query).get("access_token"):
            raise ValueError("钉钉机器人 Webhook 地址应包含 access_token 参数")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and not value.startswith("SEC"):
            raise ValueError("加签密钥应以 SEC 开头（机器人安全设置 › 加签）")
        return value

    @field_validator("at_mobiles")
    @classmethod
    def _mobiles(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value:
            mobile = re.sub(r"[\s-]", "", raw).removeprefix("+86")
            if not _MOBILE.match(mobile):
                raise ValueError(f"手机号“{raw}”无效，应为 11 位手机号")
            out.append(mobile)
        return out


class DingTalk(Transport):
    kind: ClassVar[str] = "dingtalk"
    label: ClassVar[str] = "钉钉群机器人"
    Config = DingTalkConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "secret")
    format: ClassVar[str] = "markdown"
    max_text: ClassVar[int | None] = 20_000
    config: DingTalkConfig

    def send(self, message: Message) -> SendResult:
        text = message.markdown or message.text
        # DingTalk only @-mentions a member whose number also appears in the text.
        missing = [f"@{m}" for m in self.config.at_mobiles if f"@{m}" not in text]
        if missing:
            text = f"{text}\n\n{' '.join(missing)}"
        body = {
            "msgtype": "markdown",
            "markdown": {
                "title": message.subject[:100] or "通知",
                "text": cut_utf8(text, self.max_text or 0),
            },
            "at": {"atMobiles": self.config.at_mobiles, "isAtAll": self.config.at_all},
        }
        url = self.config.url
        if self.config.secret:
            timestamp = str(int(time.time() * 1000))
            sign = quote(dingtalk_sign(self.config.secret, timestamp), safe="")
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"
        resp, data, code = post_errcode(self, WHO, url, body)
        if code == 0:
            return SendResult(status_code=resp.status, response=resp.excerpt())
        common: dict[str, Any] = {"status_code": resp.status, "code": str(code), "response": resp.excerpt()}
        errmsg = str(data.get("errmsg", ""))[:200]
        if code in RATE_LIMITED:
            raise TransportError(
                f"{WHO}限流（errcode {code}）：10 分钟后重试", retry_after=BLOCK_SECONDS, **common
            )
        if code == -1 or resp.status >= 500:  # -1: 系统繁忙
            raise TransportError(f"{WHO}暂时不可用（errcode {code}：{errmsg}）", **common)
        hint = HINTS.get(code, "请检查机器人配置")
        raise TransportError(
            f"{WHO}拒绝了消息（errcode {code}：{errmsg}）：{hint}",
            permanent=True,
            channel_broken=code not in CONTENT_REFUSED,  # refused content says nothing about the robot
            **common,
        )
