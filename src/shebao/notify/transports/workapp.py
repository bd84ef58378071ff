"""What the two "work notice" transports share (钉钉工作通知, 企业微信应用消息): a message sent by
the company's own app to one member, found by their mobile number.

Both providers work alike: an app credential buys an ``access_token`` (valid 7200 seconds, the
same token returned while it is valid), the member's ``userid`` is looked up by mobile number,
and the message is POSTed with the token in the query string; every answer carries ``errcode``
(0: ok). So both keep, in this process:

- the token until 5 minutes before it expires (keyed by endpoint, app and a hash of the secret:
  a changed secret never uses the old token); an "invalid/expired token" answer drops it, and
  the call is made once more with a fresh one;
- each mobile's ``userid`` for an hour (members rarely change; a member not found is not
  remembered, so a new hire is found as soon as they join).

A member not found is that delivery's failure (permanent, the channel is fine); credentials,
permissions and IP allow-lists break the channel; rate limits wait.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import field_validator

from shebao.core import http
from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.sms_aliyun import mainland_mobile, mask
from shebao.notify.transports.webhook import check_url_syntax, json_object, send_request, status_error

TOKEN_MARGIN = 300.0  # a token is renewed 5 minutes before it expires
USERID_TTL = 3600.0

_lock = threading.Lock()
_tokens: dict[tuple[str, ...], tuple[str, float]] = {}  # key → (token, renew at, monotonic)
_userids: dict[tuple[str, ...], tuple[str, float]] = {}  # key → (userid, forget at, monotonic)


def clear_caches() -> None:
    """Forget every cached token and userid (tests; a channel's new settings use new keys)."""
    with _lock:
        _tokens.clear()
        _userids.clear()


def _now() -> float:
    return time.monotonic()


class WorkAppConfig(ChannelConfig):
    """Shared by both: the API host can be overridden (a proxy, the test fake)."""

    agent_id: int
    endpoint: str = ""

    @field_validator("agent_id")
    @classmethod
    def _agent(cls, value: int) -> int:
        if value < 1:
            raise ValueError("AgentId 应为应用详情页显示的正整数")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not value:
            return value
        value = check_url_syntax(value)
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ValueError("接入地址不能包含查询参数")
        return value.rstrip("/")


@dataclass
class ApiError:
    """A non-zero errcode: the code, its message, and the response (for the log)."""

    code: int
    errmsg: str
    resp: http.Response
    data: dict[str, Any]


class WorkApp(Transport):
    """The flow; subclasses give the provider's paths, bodies and error codes."""

    who: ClassVar[str]
    default_endpoint: ClassVar[str]
    personal: ClassVar[bool] = True
    TOKEN_INVALID: ClassVar[frozenset[int]] = frozenset({40014, 42001})
    MEMBER_NOT_FOUND: ClassVar[frozenset[int]] = frozenset()
    RATE_LIMITED: ClassVar[dict[int, float]] = {}  # errcode → seconds to wait
    BUSY: ClassVar[frozenset[int]] = frozenset({-1})
    RECIPIENT: ClassVar[frozenset[int]] = frozenset()  # this member / this message, not the channel
    HINTS: ClassVar[dict[int, str]] = {}

    # --- provider specifics -----------------------------------------------------------------------

    def app_id(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def app_secret(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def token_url(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def userid_request(self, mobile: str, token: str) -> tuple[str, dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError

    def userid_of(self, data: dict[str, Any]) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def send_request(self, userid: str, message: Message, token: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover - interface

    def sent(self, resp: http.Response, data: dict[str, Any], mobile: str) -> SendResult:
        raise NotImplementedError  # pragma: no cover - interface

    def errcode(self, data: dict[str, Any]) -> int | None:
        """The answer's error code (None: there is none)."""
        code = data.get("errcode")
        return code if isinstance(code, int) else None

    # --- the flow ---------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return (self.config.endpoint or self.default_endpoint).rstrip("/")

    def url(self, path: str, **query: str) -> str:
        return f"{self.base}{path}?{urlencode(query)}"

    def _key(self) -> tuple[str, ...]:
        secret_hash = hashlib.sha256(self.app_secret().encode("utf-8")).hexdigest()
        return (self.kind, self.base, self.app_id(), secret_hash)

    def send(self, message: Message) -> SendResult:
        mobile = self._mobile(message)
        userid = self._userid(mobile)
        resp, data = self._with_token(lambda token: self.send_request(userid, message, token), mobile)
        return self.sent(resp, data, mobile)

    def _mobile(self, message: Message) -> str:
        numbers = [mainland_mobile(raw) for raw in message.to]
        if len(numbers) != 1 or not numbers[0]:
            shown = "、".join(mask(raw) for raw in message.to) or "（无）"
            raise TransportError(
                f"{self.who}：接收人手机号无效：{shown}（应为一个 11 位中国大陆手机号）",
                permanent=True,
                channel_broken=False,
                code="invalid_mobile",
            )
        return numbers[0]  # type: ignore[return-value]

    def token(self, *, fresh: bool = False) -> str:
        key = self._key()
        with _lock:
            cached = _tokens.get(key)
            if fresh:
                _tokens.pop(key, None)
            elif cached and cached[1] > _now():
                return cached[0]
        resp = send_request(self, self.who, self.token_url(), body=b"", headers={}, method="GET")
        data = self._answer(resp)
        if isinstance(data, ApiError):
            raise self._error(data, stage="token")
        token = str(data.get("access_token") or "")
        if not token:
            raise TransportError(
                f"{self.who}返回的凭证缺少 access_token（HTTP {resp.status}）",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        try:
            expires_in = float(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200.0
        with _lock:
            # renewed 5 minutes early (a token living less than that: at half its life)
            _tokens[key] = (token, _now() + max(expires_in - TOKEN_MARGIN, expires_in / 2))
        return token

    def _userid(self, mobile: str) -> str:
        key = (*self._key()[:3], mobile)
        with _lock:
            cached = _userids.get(key)
            if cached and cached[1] > _now():
                return cached[0]
        resp, data = self._with_token(lambda token: self.userid_request(mobile, token), mobile)
        userid = self.userid_of(data)
        if not userid:
            raise TransportError(
                f"{self.who}：查询手机号 {mask(mobile)} 的成员时返回的内容缺少 userid",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        with _lock:
            _userids[key] = (userid, _now() + USERID_TTL)
        return userid

    def _with_token(self, build, mobile: str) -> tuple[http.Response, dict[str, Any]]:
        """POST the request ``build(token)`` gives; an invalid or expired token is renewed and
        the request made once more."""
        for attempt in (1, 2):
            url, body = build(self.token(fresh=attempt == 2))
            resp = send_request(
                self,
                self.who,
                url,
                body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            data = self._answer(resp)
            if not isinstance(data, ApiError):
                return resp, data
            if data.code in self.TOKEN_INVALID and attempt == 1:
                continue
            raise self._error(data, stage="api", mobile=mobile, retried=attempt == 2)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, resp: http.Response) -> dict[str, Any] | ApiError:
        data = json_object(self.who, resp)
        code = self.errcode(data)
        if code is None and resp.status >= 300:
            raise status_error(self.who, resp)
        if not isinstance(code, int):
            raise TransportError(
                f"{self.who}返回的内容缺少 errcode（HTTP {resp.status}）：{resp.excerpt(200)}",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        if code == 0:
            return data
        return ApiError(code, str(data.get("errmsg", ""))[:200], resp, data)

    def _error(self, err: ApiError, *, stage: str, mobile: str = "", retried: bool = False) -> TransportError:
        common: dict[str, Any] = {
            "status_code": err.resp.status,
            "code": str(err.code),
            "response": err.resp.excerpt(),
        }
        detail = f"errcode {err.code}：{err.errmsg}"
        hint = self.HINTS.get(err.code, "")
        if err.code in self.RATE_LIMITED:
            wait = self.RATE_LIMITED[err.code]
            return TransportError(
                f"{self.who}限流（{detail}）：约 {max(1, round(wait / 60))} 分钟后重试",
                retry_after=wait,
                **common,
            )
        if err.code in self.BUSY or err.resp.status >= 500:
            return TransportError(f"{self.who}暂时不可用（{detail}）", **common)
        if err.code in self.TOKEN_INVALID and retried:  # a token just issued refused: try later
            return TransportError(
                f"{self.who}：新取得的 access_token 仍被拒绝（{detail}），稍后重试", **common
            )
        if err.code in self.MEMBER_NOT_FOUND:
            return TransportError(
                f"{self.who}：通讯录中找不到手机号为 {mask(mobile)} 的成员（{detail}）："
                "请确认员工已加入企业、手机号与通讯录一致，且在应用的可见范围内",
                permanent=True,
                channel_broken=False,
                **common,
            )
        if err.code in self.RECIPIENT:
            return TransportError(
                f"{self.who}拒绝了给 {mask(mobile)} 的消息（{detail}）" + (f"：{hint}" if hint else ""),
                permanent=True,
                channel_broken=False,
                **common,
            )
        what = "获取 access_token 失败" if stage == "token" else "拒绝了请求"
        return TransportError(
            f"{self.who}{what}（{detail}）：{hint or '请检查应用的凭证、权限和可信 IP 设置'}",
            permanent=True,
            **common,
        )
