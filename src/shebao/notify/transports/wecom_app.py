"""WeCom app message (企业微信应用消息): a message from the company's self-built app (自建应用)
to one member, found by their mobile number.

1. ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…`` → ``access_token`` (7200 s, see ``workapp``);
2. ``POST /cgi-bin/user/getuserid?access_token=…`` ``{"mobile": "139…"}`` → ``userid``
   (46004: no such member — that member's problem, not the channel's). WeCom answers only for
   members within the app's visible range, and only from the app's trusted IPs (可信IP);
3. ``POST /cgi-bin/message/send?access_token=…`` with ``touser``, ``agentid`` and a
   ``textcard`` (title ≤ 128 bytes, description ≤ 512 bytes, url, btntxt ≤ 4 characters) when
   the message has a link, else ``text`` (content ≤ 2048 bytes) → ``msgid``. A member outside
   the app's range comes back in ``invaliduser`` with errcode 0 (or 81013 when nobody is left).

Relied on: WeCom's "发送应用消息" (developer.work.weixin.qq.com/document/path/90236: the body,
the textcard limits, ``invaliduser``, ``enable_duplicate_check`` — used here, so a retry of one
delivery within 30 minutes is not shown twice — and the per-member limit of 30 messages a
minute) and the global error codes (全局错误码, as mirrored in copies of WeCom's page): 40001
invalid secret, 40013 invalid CorpID, 40014 / 42001 invalid / expired token, 45009 API
frequency limit, 46004 member not found, -1 busy. Not confirmed from an official page, as we
remember them: 45033 concurrency limit, 48002 API forbidden, 60011 no permission for the
member, 60020 IP not trusted (可信IP), 81013 / 82001 no valid recipient left.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shebao.core import http
from shebao.notify.transports.base import Message, SendResult, TransportError
from shebao.notify.transports.sms_aliyun import mask
from shebao.notify.transports.webhook import cut_utf8
from shebao.notify.transports.workapp import WorkApp, WorkAppConfig

BUTTON = "查看"
TITLE_BYTES, DESCRIPTION_BYTES, TEXT_BYTES = 128, 512, 2048
DUPLICATE_WINDOW = 1800


class WeComAppConfig(WorkAppConfig):
    corp_id: str
    secret: str


class WeComApp(WorkApp):
    kind: ClassVar[str] = "wecom_app"
    label: ClassVar[str] = "企业微信应用消息"
    who: ClassVar[str] = "企业微信应用消息"
    default_endpoint: ClassVar[str] = "https://qyapi.weixin.qq.com"
    Config = WeComAppConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)
    format: ClassVar[str] = "text"
    max_text: ClassVar[int | None] = TEXT_BYTES
    config: WeComAppConfig

    MEMBER_NOT_FOUND: ClassVar[frozenset[int]] = frozenset({46004})
    RATE_LIMITED: ClassVar[dict[int, float]] = {45009: 60.0, 45033: 60.0}
    RECIPIENT: ClassVar[frozenset[int]] = frozenset({81013, 82001})
    HINTS: ClassVar[dict[int, str]] = {
        40001: "应用 Secret 不正确",
        40013: "企业 ID（CorpID）不正确",
        48002: "应用没有调用该接口的权限",
        60011: "应用没有读取该成员的权限：请把成员加入应用的可见范围",
        60020: "服务器 IP 不在应用的可信 IP 中：请在应用的“企业可信IP”里添加本服务器的出口 IP",
        81013: "成员不在应用的可见范围内",
        82001: "成员不在应用的可见范围内",
    }

    def app_id(self) -> str:
        return self.config.corp_id

    def app_secret(self) -> str:
        return self.config.secret

    def token_url(self) -> str:
        return self.url("/cgi-bin/gettoken", corpid=self.config.corp_id, corpsecret=self.config.secret)

    def userid_request(self, mobile: str, token: str) -> tuple[str, dict[str, Any]]:
        return self.url("/cgi-bin/user/getuserid", access_token=token), {"mobile": mobile}

    def userid_of(self, data: dict[str, Any]) -> str:
        return str(data.get("userid") or "")

    def send_request(self, userid: str, message: Message, token: str) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "touser": userid,
            "agentid": self.config.agent_id,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_WINDOW,
        }
        if message.link:
            body["msgtype"] = "textcard"
            body["textcard"] = {
                "title": cut_utf8(message.subject or "通知", TITLE_BYTES),
                "description": cut_utf8(message.text, DESCRIPTION_BYTES),
                "url": message.link,
                "btntxt": BUTTON,
            }
        else:
            content = f"{message.subject}\n{message.text}" if message.subject else message.text
            body["msgtype"] = "text"
            body["text"] = {"content": cut_utf8(content, TEXT_BYTES)}
        return self.url("/cgi-bin/message/send", access_token=token), body

    def sent(self, resp: http.Response, data: dict[str, Any], mobile: str) -> SendResult:
        if str(data.get("invaliduser") or "").strip():
            raise TransportError(
                f"{self.who}：{mask(mobile)} 对应的成员不在应用的可见范围内，消息未送达"
                "（请在企业微信管理后台把成员加入应用的可见范围）",
                permanent=True,
                channel_broken=False,
                status_code=resp.status,
                code="invaliduser",
                response=resp.excerpt(),
            )
        return SendResult(
            provider_id=str(data.get("msgid", "")), status_code=resp.status, response=resp.excerpt()
        )
