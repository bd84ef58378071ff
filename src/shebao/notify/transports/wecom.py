"""WeCom group robot (企业微信群机器人): a markdown message POSTed to the webhook URL, whose
``key`` is the only credential. Content is at most 4096 UTF-8 bytes (errcode 40058 beyond); a
robot sends at most 20 messages a minute (errcode 45009 after that).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from pydantic import field_validator

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.webhook import check_url_syntax, cut_utf8, post_errcode

WHO = "企业微信机器人"
MAX_BYTES = 4096
FREQ_LIMITED = 45009
CONTENT_REFUSED = frozenset({40058, 44004})  # content too long / empty: this message, not the robot
HINTS = {
    93000: "Webhook 地址无效（key 错误或机器人已被移除）",
    93004: "机器人已被停用",
    40008: "不支持的消息类型",
    40058: "消息内容不符合要求",
    44004: "消息内容为空",
}


class WeComConfig(ChannelConfig):
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = check_url_syntax(value)
        if not parse_qs(urlsplit(value).query).get("key"):
            raise ValueError("企业微信机器人 Webhook 地址应包含 key 参数")
        return value


class WeCom(Transport):
    kind: ClassVar[str] = "wecom"
    label: ClassVar[str] = "企业微信群机器人"
    Config = WeComConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("url",)
    format: ClassVar[str] = "markdown"
    max_text: ClassVar[int | None] = MAX_BYTES
    config: WeComConfig

    def send(self, message: Message) -> SendResult:
        content = cut_utf8(message.markdown or message.text, MAX_BYTES)
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        resp, data, code = post_errcode(self, WHO, self.config.url, body)
        if code == 0:
            return SendResult(status_code=resp.status, response=resp.excerpt())
        common: dict[str, Any] = {"status_code": resp.status, "code": str(code), "response": resp.excerpt()}
        errmsg = str(data.get("errmsg", ""))[:200]
        if code == FREQ_LIMITED:
            raise TransportError(f"{WHO}限流（errcode {code}）：1 分钟后重试", retry_after=60, **common)
        if code == -1 or resp.status >= 500:  # -1: 系统繁忙
            raise TransportError(f"{WHO}暂时不可用（errcode {code}：{errmsg}）", **common)
        hint = HINTS.get(code, "请检查机器人配置")
        raise TransportError(
            f"{WHO}拒绝了消息（errcode {code}：{errmsg}）：{hint}",
            permanent=True,
            channel_broken=code not in CONTENT_REFUSED,
            **common,
        )
