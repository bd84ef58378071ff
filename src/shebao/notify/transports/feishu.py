"""Feishu / Lark custom bot (飞书自定义机器人): a card (or plain text) POSTed to the webhook URL.

With 签名校验 the JSON body carries ``timestamp`` (seconds, as a string) and ``sign`` =
``base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` — the string is the *key* and
the message is empty, unlike DingTalk. Feishu rejects a timestamp more than an hour off (19021).
A request body is at most 20 KB; a bot sends at most 100 messages a minute, 5 a second (11232).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.webhook import check_url_syntax, cut_utf8, json_object, send_request

WHO = "飞书机器人"
MAX_TEXT = 16_000  # bytes of text; the card around it must stay under the 20 KB body limit
FREQ_LIMITED = 11232
BAD_REQUEST = 9499  # "Bad Request" (malformed or too large) — or, with a frequency message, a rate limit
HINTS = {
    19001: "Webhook 地址无效（机器人可能已被移除）",
    19002: "消息格式有误",
    19021: "签名校验失败（密钥错误，或服务器时间与标准时间相差超过 1 小时）",
    19022: "请求 IP 不在机器人的 IP 白名单内",
    19024: "消息不含机器人设置的自定义关键词",
}


def feishu_sign(secret: str, timestamp: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


_COLOURS = {"critical": "red", "warning": "orange", "info": "blue"}  # Feishu card header templates


class FeishuConfig(ChannelConfig):
    url: str
    secret: str = ""
    msg_type: Literal["text", "interactive"] = "interactive"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = check_url_syntax(value)
        if "/hook/" not in value:
            raise ValueError("飞书机器人 Webhook 地址应形如 https://open.feishu.cn/open-apis/bot/v2/hook/…")
        return value


class Feishu(Transport):
    kind: ClassVar[str] = "feishu"
    label: ClassVar[str] = "飞书群机器人"
    Config = FeishuConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "secret")
    format: ClassVar[str] = "markdown"
    max_text: ClassVar[int | None] = MAX_TEXT
    config: FeishuConfig

    def _body(self, message: Message) -> dict[str, Any]:
        if self.config.msg_type == "text":
            text = "\n".join(p for p in (message.subject, message.text, message.link) if p)
            return {"msg_type": "text", "content": {"text": cut_utf8(text, MAX_TEXT)}}
        elements: list[dict[str, Any]] = [
            {
                "tag": "div",
                "text": {"tag": "lark_md", "content": cut_utf8(message.markdown or message.text, MAX_TEXT)},
            }
        ]
        if message.link:
            elements.append(
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": "查看详情"},
                            "type": "primary",
                            "url": message.link,
                        }
                    ],
                }
            )
        card = {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": message.subject[:100]},
                "template": _COLOURS.get(message.severity, "blue"),
            },
            "elements": elements,
        }
        return {"msg_type": "interactive", "card": card}

    def send(self, message: Message) -> SendResult:
        body = self._body(message)
        if self.config.secret:
            timestamp = str(int(time.time()))
            body = {"timestamp": timestamp, "sign": feishu_sign(self.config.secret, timestamp)} | body
        resp = send_request(
            self,
            WHO,
            self.config.url,
            body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        data = json_object(WHO, resp)
        code = data.get("code", data.get("StatusCode"))  # "StatusCode": the older reply shape
        if not isinstance(code, int):
            raise TransportError(
                f"{WHO}返回的内容缺少 code（HTTP {resp.status}）：{resp.excerpt(200)}",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        if code == 0:
            return SendResult(status_code=resp.status, response=resp.excerpt())
        common: dict[str, Any] = {"status_code": resp.status, "code": str(code), "response": resp.excerpt()}
        msg = str(data.get("msg", data.get("StatusMessage", "")))[:200]
        if code == FREQ_LIMITED or (
            code == BAD_REQUEST and any(w in msg.lower() for w in ("frequen", "too many"))
        ):
            raise TransportError(f"{WHO}限流（code {code}）：1 分钟后重试", retry_after=60, **common)
        if resp.status >= 500:
            raise TransportError(f"{WHO}暂时不可用（code {code}：{msg}）", **common)
        if code == BAD_REQUEST:  # this message was refused (too large, malformed); the bot is fine
            raise TransportError(
                f"{WHO}拒绝了消息（code {code}：{msg}）", permanent=True, channel_broken=False, **common
            )
        hint = HINTS.get(code, "请检查机器人配置")
        raise TransportError(f"{WHO}拒绝了消息（code {code}：{msg}）：{hint}", permanent=True, **common)
