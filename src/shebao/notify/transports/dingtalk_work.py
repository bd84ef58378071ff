"""DingTalk work notice (钉钉工作通知): a message from the company's internal app (企业内部应用)
to one member, found by their mobile number.

1. ``GET /gettoken?appkey=…&appsecret=…`` → ``access_token`` (7200 s, see ``workapp``);
2. ``POST /topapi/v2/user/getbymobile?access_token=…`` ``{"mobile": "139…"}`` →
   ``result.userid``; needs the app permission 根据手机号获取成员基本信息
   (qyapi_get_member_by_mobile, under 通讯录个人信息读权限). 60121 (user not found) and 40104
   (the number is not in the organisation) are that member's problem, not the channel's;
3. ``POST /topapi/message/corpconversation/asyncsend_v2?access_token=…`` with ``agent_id``,
   ``userid_list`` and ``msg`` — an ``action_card`` (title, markdown, single_title, single_url)
   when the message has a link, else ``markdown`` (title, text) → ``task_id``.

Relied on: DingTalk's "发送工作通知" (open.dingtalk.com/document/orgapp/asynchronous-sending-of-
enterprise-session-messages: asyncsend_v2 on oapi.dingtalk.com, the message types and their
snake_case fields), "根据手机号查询用户" (help.dingtalk.io/open/development/query-users-by-phone-
number: body ``mobile``, permission qyapi_get_member_by_mobile, errcodes 400002 / 40104 /
60121 / -1) and the global error codes (as mirrored in third-party copies of that page): 88 is
鉴权异常 with the real reason in ``sub_code`` (60011: the app lacks the permission) — so it is
read through ``sub_code`` here, not taken as a rate limit. From DingTalk's 调用频率限制 notes
as quoted in answers we found: 90002 (every app calling one API too fast: refused for 5
minutes), 90019 (a third-party app's per-API QPS), 90020 (the month's API quota is used up: the
admins must buy more, so the channel is broken until then). Not confirmed from an official
page, as we remember them: 40014 / 42001 invalid / expired token, 90005 / 90006 / 90018 the
company's / the internal app's QPS and QPM limits, and DingTalk showing a work notice with the
same content to the same member once a day (so a retry does not show twice).
"""

from __future__ import annotations

from typing import Any, ClassVar

from shebao.core import http
from shebao.notify.transports.base import Message, SendResult
from shebao.notify.transports.webhook import cut_utf8
from shebao.notify.transports.workapp import WorkApp, WorkAppConfig

BUTTON = "查看并确认"
MAX_MARKDOWN = 5000  # bytes of markdown sent (DingTalk truncates long work notices itself)


class DingTalkWorkConfig(WorkAppConfig):
    app_key: str
    app_secret: str


class DingTalkWork(WorkApp):
    kind: ClassVar[str] = "dingtalk_work"
    label: ClassVar[str] = "钉钉工作通知"
    who: ClassVar[str] = "钉钉工作通知"
    default_endpoint: ClassVar[str] = "https://oapi.dingtalk.com"
    Config = DingTalkWorkConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("app_secret",)
    format: ClassVar[str] = "markdown"
    max_text: ClassVar[int | None] = MAX_MARKDOWN
    config: DingTalkWorkConfig

    MEMBER_NOT_FOUND: ClassVar[frozenset[int]] = frozenset({60121, 40104})
    RATE_LIMITED: ClassVar[dict[int, float]] = {
        90002: 300.0,
        90005: 60.0,
        90006: 60.0,
        90018: 60.0,
        90019: 60.0,
    }
    HINTS: ClassVar[dict[int, str]] = {
        40089: "AppKey 或 AppSecret 不正确",
        40095: "AppKey 或 AppSecret 不正确",
        60011: "应用没有调用该接口的权限：请在开发者后台为应用开通“根据手机号获取成员基本信息”（通讯录个人信息读）权限",
        60020: "服务器 IP 不在应用的可信 IP 白名单中",
        90020: "企业本月的接口调用量已用完：请在钉钉开发者后台查看用量，或升级后再试",
        400002: "请求参数不合法",
    }

    def app_id(self) -> str:
        return self.config.app_key

    def app_secret(self) -> str:
        return self.config.app_secret

    def token_url(self) -> str:
        return self.url("/gettoken", appkey=self.config.app_key, appsecret=self.config.app_secret)

    def errcode(self, data: dict[str, Any]) -> int | None:
        code = super().errcode(data)
        sub = str(data.get("sub_code") or "")
        if code == 88 and sub.lstrip("-").isdigit():  # 鉴权异常: the reason is the sub_code
            return int(sub)
        return code

    def userid_request(self, mobile: str, token: str) -> tuple[str, dict[str, Any]]:
        return self.url("/topapi/v2/user/getbymobile", access_token=token), {"mobile": mobile}

    def userid_of(self, data: dict[str, Any]) -> str:
        result = data.get("result")
        return str(result.get("userid") or "") if isinstance(result, dict) else ""

    def send_request(self, userid: str, message: Message, token: str) -> tuple[str, dict[str, Any]]:
        title = (message.subject or "通知")[:100]
        text = cut_utf8(message.markdown or message.text, MAX_MARKDOWN)
        if message.link:
            msg = {
                "msgtype": "action_card",
                "action_card": {
                    "title": title,
                    "markdown": text,
                    "single_title": BUTTON,
                    "single_url": message.link,
                },
            }
        else:
            msg = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        body = {"agent_id": self.config.agent_id, "userid_list": userid, "msg": msg}
        return self.url("/topapi/message/corpconversation/asyncsend_v2", access_token=token), body

    def sent(self, resp: http.Response, data: dict[str, Any], mobile: str) -> SendResult:
        return SendResult(
            provider_id=str(data.get("task_id", "")), status_code=resp.status, response=resp.excerpt()
        )
