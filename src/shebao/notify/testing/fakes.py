"""Local stand-ins for the six HTTP notification providers, for tests and demos.

``FakeProviders`` is one ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) that answers like

========================  ===========================================================  =============
kind                      request                                                      credentials
========================  ===========================================================  =============
``dingtalk``              ``POST /robot/send?access_token=…[&timestamp=…&sign=…]``     DINGTALK_*
``wecom``                 ``POST /cgi-bin/webhook/send?key=…``                         WECOM_KEY
``feishu``                ``POST /open-apis/bot/v2/hook/<token>`` (sign in the body)   FEISHU_*
``webhook``               ``POST /hook`` (signed) or ``/hook/open`` (unsigned)         WEBHOOK_SECRET
``sms_aliyun``            ``POST /?…`` with ``x-acs-action: SendSms`` (ACS3)           ALIYUN_*
``sms_tencent``           ``POST /`` with ``X-TC-Action: SendSms`` (TC3)               TENCENT_*
``dingtalk_work``         ``GET /gettoken``, ``POST /topapi/v2/user/getbymobile``,     DINGTALK_APP_*
                          ``POST /topapi/message/corpconversation/asyncsend_v2``
``wecom_app``             ``GET /cgi-bin/gettoken``, ``POST /cgi-bin/user/getuserid``,  WECOM_CORP_ID,
                          ``POST /cgi-bin/message/send``                               WECOM_APP_*
========================  ===========================================================  =============

Each request's signature is verified independently, from the raw request, the way the provider
does it (the code here deliberately does not reuse the transports' signing functions), stale
timestamps are refused where the provider refuses them, and the answers use the providers' real
success and error shapes and codes. Accepted messages are recorded per kind in ``received``
(parsed bodies; for Aliyun the query parameters, with ``TemplateParam`` decoded); every request,
accepted or not, is in ``requests``.

Faults: ``fail_next(kind, times, status=500)`` (HTTP errors, before anything is checked, like a
gateway), ``error_next(kind, code)`` (a provider error code after the signature passed),
``block(kind)``/``unblock(kind)`` (the provider's rate limit: DingTalk 410100, WeCom 45009, Feishu
11232, webhook HTTP 429, Aliyun isv.BUSINESS_LIMIT_CONTROL, Tencent RequestLimitExceeded), and
``clock_offset`` (seconds added to the server's clock, to test stale timestamps).

The two work-notice apps (``dingtalk_work``, ``wecom_app``) hand out access tokens (valid
``token_ttl`` seconds, 7200 like the real ones), look members up by mobile number in
``members[kind]`` (``WORK_MEMBERS`` to start with: ``add_member``/``remove_member``), and accept
a message only with a token they issued, for a member they know. ``expire_tokens(kind)`` makes
every token issued so far answer "expired" (42001); ``error_next`` and ``block`` apply to the
send (DingTalk's rate limit 90018, WeCom's 45009); ``received`` holds the accepted send bodies.

    with FakeProviders() as server:
        transport = DingTalk(server.config("dingtalk"), allow_private=True)
        transport.send(Message(subject="提醒", text="…", markdown="…"))
        assert len(server.received["dingtalk"]) == 1

or, in a conftest: ``from shebao.notify.testing.fakes import fake_providers  # noqa: F401``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import pytest

from shebao.notify.smssink import send_sms_params

__all__ = ["FakeProviders", "KINDS", "WORK_MEMBERS", "Recorded", "fake_providers"]

KINDS = ("dingtalk", "wecom", "feishu", "webhook", "sms_aliyun", "sms_tencent", "dingtalk_work", "wecom_app")

DINGTALK_TOKEN = "dingtalk-test-token"
DINGTALK_SECRET = "SECdingtalk0test0secret0123456789abcdef0123456789abcdef"
DINGTALK_OPEN_TOKEN = "dingtalk-open-token"  # a robot secured by keyword/IP instead of 加签
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
FEISHU_TOKEN = "feishu-test-hook"
FEISHU_SECRET = "feishu-test-secret"
FEISHU_OPEN_TOKEN = "feishu-open-hook"
WEBHOOK_SECRET = "webhook-test-secret"
ALIYUN_ACCESS_KEY_ID = "LTAI5tTestAccessKeyId"
ALIYUN_ACCESS_KEY_SECRET = "aliyun-test-access-key-secret"
ALIYUN_SIGN_NAME = "社保合规"
ALIYUN_TEMPLATE_CODE = "SMS_460000001"
ALIYUN_TEMPLATE_PARAMS = ("name", "deadline")
TENCENT_SECRET_ID = "AKIDtestSecretId0000000000000000"
TENCENT_SECRET_KEY = "tencent-test-secret-key"
TENCENT_SDK_APP_ID = "1400000001"
TENCENT_SIGN_NAME = "社保合规"
TENCENT_TEMPLATE_ID = "1000001"
TENCENT_TEMPLATE_PARAMS = ("name", "deadline")  # Tencent only knows how many (TemplateParamSet)
DINGTALK_APP_KEY = "dingworktestappkey"
DINGTALK_APP_SECRET = "dingtalk-work-test-app-secret"
DINGTALK_AGENT_ID = 2931000001
WECOM_CORP_ID = "ww0123456789abcdef"
WECOM_APP_SECRET = "wecom-app-test-secret"
WECOM_AGENT_ID = 1000002
WORK_MEMBERS = {"13912345678": "wangxiaoming", "13800138000": "zhangsan"}  # mobile → userid

_DINGTALK_ROBOTS = {DINGTALK_TOKEN: DINGTALK_SECRET, DINGTALK_OPEN_TOKEN: ""}
_FEISHU_BOTS = {FEISHU_TOKEN: FEISHU_SECRET, FEISHU_OPEN_TOKEN: ""}
_MAINLAND = re.compile(r"^1[3-9]\d{9}$")

_DINGTALK_MESSAGES = {
    300001: "token is not exist",
    310000: "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    400102: "机器人已停用",
    400105: "不支持的消息类型",
    410100: "发送速度太快而限流",
    430102: "含有不合适的文本",
    43004: "无效的HTTP HEADER Content-Type",
    40035: "缺少参数 json",
}
_WECOM_MESSAGES = {
    93000: (
        "invalid webhook url, hint: [1700000000_1_abcdef], from ip: 127.0.0.1, "
        "more info at https://open.work.weixin.qq.com/devtool/query?e=93000"
    ),
    45009: "api freq out of limit, hint: [1700000000_1_abcdef]",
    40008: "invalid message type, hint: [1700000000_1_abcdef]",
    40058: "markdown.content exceed max length 4096. invalid Request Parameter, hint: [1700000000_1_abcdef]",
    -1: "system busy",
}
_FEISHU_MESSAGES = {
    19001: "param invalid: incoming webhook access token invalid",
    19002: "params error, msg_type need",
    19021: "sign match fail or timestamp is not within one hour from current time",
    19022: "Ip Not Allowed",
    19024: "Key Words Not Found",
    11232: "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
    9499: "Bad Request",
}
# Gateway-level Aliyun errors come with an HTTP error status; business ones (isv.*) with 200.
_ALIYUN_GATEWAY = {
    "SignatureDoesNotMatch": (400, "Specified signature is not matched with our calculation."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidAction.NotFound": (400, "Specified api is not found, please check your url and method."),
    "MissingParameter": (
        400,
        "The input parameter that is mandatory for processing this request is not supplied.",
    ),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
}
_ALIYUN_MESSAGES = {
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.BUSINESS_LIMIT_CONTROL": "触发小时级流控Permits:5",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isv.BLACK_KEY_CONTROL_LIMIT": "黑名单管控",
    "isp.SYSTEM_ERROR": "系统出现错误，请重新调用",
}
_TENCENT_MESSAGES = {
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. Please check your signature is correct."
    ),
    "AuthFailure.SignatureExpire": (
        "Signature expired. Timestamp and server time cannot differ by more than 5 minutes."
    ),
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure that your SecretId is correct.",
    "AuthFailure.InvalidAuthorization": "Credential is invalid.",
    "RequestLimitExceeded": (
        "Your current request times equals to `3000` in a second, which exceeds the frequency limit."
    ),
    "InternalError.Timeout": "request timeout",
    "FailedOperation.SignatureIncorrectOrUnapproved": (
        "signature format is incorrect or signature is not approved"
    ),
    "FailedOperation.TemplateIncorrectOrUnapproved": (
        "template is not approved or request content does not match the approved template content"
    ),
    "InvalidParameterValue.IncorrectPhoneNumber": "invalid number",
    "InvalidParameterValue.SdkAppIdNotExist": "the SdkAppId does not exist",
    "LimitExceeded.PhoneNumberDailyLimit": (
        "the number of SMS messages sent from a single mobile number every day exceeds the upper limit"
    ),
}
_DINGTALK_WORK_PATHS = (
    "/gettoken",
    "/topapi/v2/user/getbymobile",
    "/topapi/message/corpconversation/asyncsend_v2",
)
_WECOM_APP_PATHS = ("/cgi-bin/gettoken", "/cgi-bin/user/getuserid", "/cgi-bin/message/send")
_TOKEN_PATHS = ("/gettoken", "/cgi-bin/gettoken")
_DINGTALK_WORK_MESSAGES = {
    40014: "不合法的access_token",
    42001: "access_token超时",
    40089: "不合法的corpid或corpsecret",
    40104: "无效手机号",
    60121: "找不到该用户",
    400002: "不合法的参数",
    90018: "当前应用调用该接口的QPS超过了系统限制",
    -1: "系统繁忙",
}
_WECOM_APP_MESSAGES = {
    40001: "invalid credential, hint: [1700000000_1_abcdef]",
    40013: "invalid corpid, hint: [1700000000_1_abcdef]",
    40014: "invalid access_token, hint: [1700000000_1_abcdef]",
    42001: "access_token expired, hint: [1700000000_1_abcdef]",
    40056: "invalid agentid, hint: [1700000000_1_abcdef]",
    40058: "invalid Request Parameter, hint: [1700000000_1_abcdef]",
    40008: "invalid message type, hint: [1700000000_1_abcdef]",
    45009: "api freq out of limit, hint: [1700000000_1_abcdef]",
    46004: "user no exist, hint: [1700000000_1_abcdef]",
    60020: "not allow to access from your ip, hint: [1700000000_1_abcdef], from ip: 127.0.0.1",
    81013: "user & party & tag all invalid, hint: [1700000000_1_abcdef]",
    -1: "system busy",
}
# Tencent reports these for the whole request (Response.Error); the rest per number.
_TENCENT_REQUEST_LEVEL = (
    "AuthFailure",
    "UnauthorizedOperation",
    "RequestLimitExceeded",
    "MissingParameter",
    "InvalidAction",
    "NoSuchVersion",
    "InvalidParameter.",
)


@dataclass
class Recorded:
    """One request as the fake saw it, and what it answered."""

    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    reply: Any = None
    accepted: bool = False


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    accepted: Any = None  # the record for ``received`` when the message was accepted


def _b64_hmac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode("ascii")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class FakeProviders:
    """The fake providers; a context manager (``with FakeProviders() as server``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self.clock_offset = 0.0
        self.reset()

    # lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeProviders:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                outer._handle(self)

            def do_GET(self) -> None:  # noqa: N802 - only the work apps' token endpoints answer GET
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests, faults and blocks (the server keeps running)."""
        with self._lock:
            self.received: dict[str, list[Any]] = {kind: [] for kind in KINDS}
            self.requests: list[Recorded] = []
            self._fails: dict[str, list[tuple[int, str | None]]] = {kind: [] for kind in KINDS}
            self._errors: dict[str, list[tuple[str, bool | None]]] = {kind: [] for kind in KINDS}
            self._blocked: set[str] = set()
            self._nonces: set[str] = set()
            self._tokens: dict[str, dict[str, float]] = {"dingtalk_work": {}, "wecom_app": {}}
            self.members: dict[str, dict[str, str]] = {
                "dingtalk_work": dict(WORK_MEMBERS),
                "wecom_app": dict(WORK_MEMBERS),
            }
            self.token_ttl = 7200

    # addresses and configurations ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeProviders is not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    def url(self, kind: str, *, signed: bool = True, token: str | None = None) -> str:
        """The webhook URL (robots, webhook) or API endpoint (SMS) a channel should use.
        ``signed=False`` gives the robot/receiver that has no signing secret; ``token``
        overrides the access token / key / hook token (to test an unknown one)."""
        base = self.base_url
        if kind == "dingtalk":
            token = token or (DINGTALK_TOKEN if signed else DINGTALK_OPEN_TOKEN)
            return f"{base}/robot/send?access_token={token}"
        if kind == "wecom":
            return f"{base}/cgi-bin/webhook/send?key={token or WECOM_KEY}"
        if kind == "feishu":
            return f"{base}/open-apis/bot/v2/hook/{token or (FEISHU_TOKEN if signed else FEISHU_OPEN_TOKEN)}"
        if kind == "webhook":
            return f"{base}/hook" if signed else f"{base}/hook/open"
        if kind in ("sms_aliyun", "sms_tencent", "dingtalk_work", "wecom_app"):
            return base
        raise KeyError(kind)

    def config(self, kind: str, **overrides: Any) -> dict[str, Any]:
        """A channel configuration that this server accepts (override a key to break it)."""
        configs: dict[str, dict[str, Any]] = {
            "dingtalk": {"url": self.url("dingtalk"), "secret": DINGTALK_SECRET},
            "wecom": {"url": self.url("wecom")},
            "feishu": {"url": self.url("feishu"), "secret": FEISHU_SECRET},
            "webhook": {"url": self.url("webhook"), "secret": WEBHOOK_SECRET},
            "sms_aliyun": {
                "access_key_id": ALIYUN_ACCESS_KEY_ID,
                "access_key_secret": ALIYUN_ACCESS_KEY_SECRET,
                "sign_name": ALIYUN_SIGN_NAME,
                "template_code": ALIYUN_TEMPLATE_CODE,
                "params": list(ALIYUN_TEMPLATE_PARAMS),
                "endpoint": self.url("sms_aliyun"),
            },
            "sms_tencent": {
                "secret_id": TENCENT_SECRET_ID,
                "secret_key": TENCENT_SECRET_KEY,
                "sdk_app_id": TENCENT_SDK_APP_ID,
                "sign_name": TENCENT_SIGN_NAME,
                "template_id": TENCENT_TEMPLATE_ID,
                "params": list(TENCENT_TEMPLATE_PARAMS),
                "endpoint": self.url("sms_tencent"),
            },
            "dingtalk_work": {
                "app_key": DINGTALK_APP_KEY,
                "app_secret": DINGTALK_APP_SECRET,
                "agent_id": DINGTALK_AGENT_ID,
                "endpoint": self.url("dingtalk_work"),
            },
            "wecom_app": {
                "corp_id": WECOM_CORP_ID,
                "secret": WECOM_APP_SECRET,
                "agent_id": WECOM_AGENT_ID,
                "endpoint": self.url("wecom_app"),
            },
        }
        return configs[kind] | overrides

    # faults -------------------------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, status: int = 500, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests for ``kind`` with HTTP ``status`` (a gateway error
        page, not the provider's JSON), optionally with a Retry-After header."""
        with self._lock:
            self._fails[kind].extend([(status, retry_after)] * times)

    def error_next(
        self, kind: str, code: str | int, times: int = 1, *, per_number: bool | None = None
    ) -> None:
        """Answer the next ``times`` correctly signed requests with the provider error ``code``
        (the webhook: an HTTP status). For Tencent, ``per_number`` puts the code in
        SendStatusSet rather than Response.Error (default: by the code's family)."""
        with self._lock:
            self._errors[kind].extend([(str(code), per_number)] * times)

    def block(self, kind: str) -> None:
        with self._lock:
            self._blocked.add(kind)

    def unblock(self, kind: str) -> None:
        with self._lock:
            self._blocked.discard(kind)

    def expire_tokens(self, kind: str) -> None:
        """Every access token the work app ``kind`` issued so far is expired from now on."""
        with self._lock:
            for token in self._tokens[kind]:
                self._tokens[kind][token] = 0.0

    def add_member(self, kind: str, mobile: str, userid: str) -> None:
        with self._lock:
            self.members[kind][mobile] = userid

    def remove_member(self, kind: str, mobile: str) -> None:
        with self._lock:
            self.members[kind].pop(mobile, None)

    def token_requests(self, kind: str) -> int:
        """How many access tokens ``kind`` was asked for."""
        path = "/gettoken" if kind == "dingtalk_work" else "/cgi-bin/gettoken"
        return sum(1 for r in self.requests if r.kind == kind and urlsplit(r.path).path == path)

    # plumbing -----------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self.clock_offset

    def _kind(self, path: str, headers: dict[str, str]) -> str | None:
        if path == "/robot/send":
            return "dingtalk"
        if path == "/cgi-bin/webhook/send":
            return "wecom"
        if path.startswith("/open-apis/bot/v2/hook/"):
            return "feishu"
        if path in ("/hook", "/hook/open"):
            return "webhook"
        if path == "/" and "x-acs-action" in headers:
            return "sms_aliyun"
        if path == "/" and "x-tc-action" in headers:
            return "sms_tencent"
        if path in _DINGTALK_WORK_PATHS:
            return "dingtalk_work"
        if path in _WECOM_APP_PATHS:
            return "wecom_app"
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = urlsplit(handler.path).path
        kind = self._kind(path, headers)
        record = Recorded(kind or "", handler.command, handler.path, headers, body)
        if kind is None:
            reply = _Reply(404 if handler.command == "POST" else 405, {"error": "not found"})
        elif (handler.command == "GET") != (path in _TOKEN_PATHS):
            reply = _Reply(405, {"error": "method not allowed"})
        else:
            with self._lock:
                fail = self._fails[kind].pop(0) if self._fails[kind] else None
            if fail is not None:
                status, after = fail
                reply = _Reply(status, f"<html><body><h1>{status}</h1>fake gateway error</body></html>")
                if after is not None:
                    reply.headers["Retry-After"] = after
            else:
                reply = getattr(self, f"_{kind}")(handler, headers, body)
        record.status, record.reply, record.accepted = reply.status, reply.body, reply.accepted is not None
        with self._lock:
            self.requests.append(record)
            if kind is not None and reply.accepted is not None:
                self.received[kind].append(reply.accepted)
        self._respond(handler, reply)

    def _respond(self, handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
        if isinstance(reply.body, str):
            data, ctype = reply.body.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, ctype = (
                json.dumps(reply.body, ensure_ascii=False).encode("utf-8"),
                "application/json;charset=UTF-8",
            )
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a transport test with a short timeout)

    def _injected(self, kind: str) -> tuple[str, bool | None] | None:
        with self._lock:
            if self._errors[kind]:
                return self._errors[kind].pop(0)
            if kind in self._blocked:
                return ("", None)  # "" = the provider's rate-limit answer
        return None

    # DingTalk -----------------------------------------------------------------------------------

    def _dingtalk(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        def err(code: int, msg: str | None = None) -> _Reply:
            return _Reply(200, {"errcode": code, "errmsg": msg or _DINGTALK_MESSAGES.get(code, "error")})

        query = parse_qs(urlsplit(handler.path).query)  # "+" decodes to " ", as on DingTalk's side
        token = (query.get("access_token") or [""])[0]
        if token not in _DINGTALK_ROBOTS:
            return err(300001)
        secret = _DINGTALK_ROBOTS[token]
        if secret:
            timestamp, sign = (query.get("timestamp") or [""])[0], (query.get("sign") or [""])[0]
            if not timestamp.isdigit() or abs(self._now() * 1000 - int(timestamp)) > 3600 * 1000:
                return err(310000, "invalid timestamp")
            expected = _b64_hmac(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode())
            if not _same(sign, expected):
                return err(310000)
        if "application/json" not in headers.get("content-type", ""):
            return err(43004)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return err(40035)
        if not isinstance(data, dict) or data.get("msgtype") not in (
            "text",
            "markdown",
            "link",
            "actionCard",
            "feedCard",
        ):
            return err(400105)
        injected = self._injected("dingtalk")
        if injected is not None:
            return err(int(injected[0] or 410100))
        return _Reply(200, {"errcode": 0, "errmsg": "ok"}, accepted=data)

    # WeCom --------------------------------------------------------------------------------------

    def _wecom(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        def err(code: int) -> _Reply:
            return _Reply(200, {"errcode": code, "errmsg": _WECOM_MESSAGES.get(code, "error")})

        key = (parse_qs(urlsplit(handler.path).query).get("key") or [""])[0]
        if key != WECOM_KEY:
            return err(93000)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _Reply(200, {"errcode": 40001, "errmsg": "invalid json"})
        msgtype = data.get("msgtype") if isinstance(data, dict) else None
        if msgtype not in ("text", "markdown", "markdown_v2", "image", "news", "file", "template_card"):
            return err(40008)
        content = (data.get(msgtype) or {}).get("content", "") if msgtype in ("text", "markdown") else ""
        if len(str(content).encode("utf-8")) > 4096:
            return err(40058)
        injected = self._injected("wecom")
        if injected is not None:
            return err(int(injected[0] or 45009))
        return _Reply(200, {"errcode": 0, "errmsg": "ok"}, accepted=data)

    # Feishu -------------------------------------------------------------------------------------

    def _feishu(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        def err(code: int, status: int = 200) -> _Reply:
            return _Reply(status, {"code": code, "data": {}, "msg": _FEISHU_MESSAGES.get(code, "error")})

        token = urlsplit(handler.path).path.rsplit("/", 1)[-1]
        if token not in _FEISHU_BOTS:
            return err(19001)
        if len(body) > 20 * 1024:
            return err(9499, 400)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return err(9499, 400)
        if not isinstance(data, dict):
            return err(9499, 400)
        secret = _FEISHU_BOTS[token]
        if secret:
            timestamp, sign = str(data.get("timestamp", "")), str(data.get("sign", ""))
            if not timestamp.isdigit() or abs(self._now() - int(timestamp)) > 3600:
                return err(19021)
            if not _same(sign, _b64_hmac(f"{timestamp}\n{secret}".encode(), b"")):
                return err(19021)
        msg_type = data.get("msg_type")
        if msg_type not in ("text", "post", "image", "share_chat", "interactive"):
            return err(19002)
        if (msg_type == "interactive" and not isinstance(data.get("card"), dict)) or (
            msg_type == "text" and not (data.get("content") or {}).get("text")
        ):
            return err(9499, 400)
        injected = self._injected("feishu")
        if injected is not None:
            return err(int(injected[0] or 11232))
        ok = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        return _Reply(200, ok, accepted=data)

    # generic webhook ----------------------------------------------------------------------------

    def _webhook(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        if urlsplit(handler.path).path == "/hook":
            timestamp = headers.get("x-shebao-timestamp", "")
            if not timestamp.isdigit() or abs(self._now() - int(timestamp)) > 300:
                return _Reply(401, {"error": "stale or missing timestamp"})
            digest = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
            if not _same(headers.get("x-shebao-signature", ""), "sha256=" + digest.hexdigest()):
                return _Reply(401, {"error": "invalid signature"})
        if not headers.get("x-shebao-event-id"):
            return _Reply(400, {"error": "missing X-Shebao-Event-Id"})
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _Reply(400, {"error": "invalid json"})
        injected = self._injected("webhook")
        if injected is not None:
            if not injected[0]:
                return _Reply(429, {"error": "too many requests"}, {"Retry-After": "60"})
            return _Reply(int(injected[0]), {"error": f"injected {injected[0]}"})
        request_id = f"wh-{next(self._serial)}"
        return _Reply(200, {"ok": True, "id": request_id}, {"X-Request-Id": request_id}, accepted=data)

    # Alibaba Cloud SMS (ACS3-HMAC-SHA256) -------------------------------------------------------

    def _sms_aliyun(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        request_id = str(uuid.uuid4()).upper()

        def err(code: str, message: str | None = None) -> _Reply:
            status, text = _ALIYUN_GATEWAY.get(code, (200, _ALIYUN_MESSAGES.get(code, "error")))
            if status == 200:
                return _Reply(200, {"Code": code, "Message": message or text, "RequestId": request_id})
            return _Reply(
                status,
                {
                    "RequestId": request_id,
                    "HostId": "dysmsapi.aliyuncs.com",
                    "Code": code,
                    "Message": message or text,
                    "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Dysmsapi",
                },
            )

        auth = headers.get("authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return err("IncompleteSignature")
        fields = dict(
            part.strip().split("=", 1) for part in auth[len("ACS3-HMAC-SHA256 ") :].split(",") if "=" in part
        )
        if fields.get("Credential") != ALIYUN_ACCESS_KEY_ID:
            return err("InvalidAccessKeyId.NotFound")
        signed = fields.get("SignedHeaders", "").split(";")
        required = {
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        }
        present_acs = {name for name in headers if name.startswith("x-acs-")}
        if not required | present_acs <= set(signed) or signed != sorted(signed):
            return err("IncompleteSignature")
        if headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            return err("SignatureDoesNotMatch")
        try:
            when = dt.datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return err("InvalidTimeStamp.Expired")
        if abs(self._now() - when.timestamp()) > 15 * 60:
            return err("InvalidTimeStamp.Expired")
        # Recompute the signature from the raw request: decode the query, re-encode RFC 3986.
        parts = urlsplit(handler.path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        encode = lambda s: quote(s, safe="-_.~")  # noqa: E731
        canonical_query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(pairs))
        canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
        canonical = "\n".join(
            [
                handler.command,
                parts.path or "/",
                canonical_query,
                canonical_headers,
                ";".join(signed),
                headers["x-acs-content-sha256"],
            ]
        )
        string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        expected = hmac.new(
            ALIYUN_ACCESS_KEY_SECRET.encode(), string_to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if not _same(fields.get("Signature", ""), expected):
            return err("SignatureDoesNotMatch")
        with self._lock:
            nonce = headers["x-acs-signature-nonce"]
            if nonce in self._nonces:
                return err("SignatureNonceUsed")
            self._nonces.add(nonce)
        if headers.get("x-acs-version") != "2017-05-25":
            return err("InvalidVersion")
        if headers.get("x-acs-action") != "SendSms":
            return err("InvalidAction.NotFound")
        params, _action = send_sms_params(handler.path, headers, body)  # as the demo's SMS sink reads them
        if not all(params.get(k) for k in ("PhoneNumbers", "SignName", "TemplateCode")):
            return err("MissingParameter")
        if params["SignName"] != ALIYUN_SIGN_NAME:
            return err("isv.SMS_SIGNATURE_ILLEGAL")
        if params["TemplateCode"] != ALIYUN_TEMPLATE_CODE:
            return err("isv.SMS_TEMPLATE_ILLEGAL")
        try:
            template_param = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return err("isv.INVALID_JSON_PARAM")
        if not isinstance(template_param, dict) or not all(
            isinstance(v, str) for v in template_param.values()
        ):
            return err("isv.INVALID_JSON_PARAM")
        if any(name not in template_param for name in ALIYUN_TEMPLATE_PARAMS):
            return err("isv.TEMPLATE_MISSING_PARAMETERS")
        if not all(_MAINLAND.match(n) for n in params["PhoneNumbers"].split(",")):
            return err("isv.MOBILE_NUMBER_ILLEGAL")
        injected = self._injected("sms_aliyun")
        if injected is not None:
            return err(injected[0] or "isv.BUSINESS_LIMIT_CONTROL")
        biz_id = f"{next(self._serial):06d}{int(self._now())}^0"
        record = params | {"TemplateParam": template_param}
        return _Reply(
            200, {"Message": "OK", "RequestId": request_id, "Code": "OK", "BizId": biz_id}, accepted=record
        )

    # Tencent Cloud SMS (TC3-HMAC-SHA256) --------------------------------------------------------

    def _sms_tencent(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        request_id = str(uuid.uuid4())

        def err(code: str) -> _Reply:
            error = {"Code": code, "Message": _TENCENT_MESSAGES.get(code, "error")}
            return _Reply(200, {"Response": {"Error": error, "RequestId": request_id}})

        auth = headers.get("authorization", "")
        if not auth.startswith("TC3-HMAC-SHA256 "):
            return err("AuthFailure.InvalidAuthorization")
        fields = dict(
            part.strip().split("=", 1) for part in auth[len("TC3-HMAC-SHA256 ") :].split(",") if "=" in part
        )
        credential = fields.get("Credential", "").split("/")
        if len(credential) != 4 or credential[3] != "tc3_request":
            return err("AuthFailure.InvalidAuthorization")
        secret_id, date, service, _ = credential
        if secret_id != TENCENT_SECRET_ID:
            return err("AuthFailure.SecretIdNotFound")
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit():
            return err("MissingParameter")
        if abs(self._now() - int(timestamp)) > 300:
            return err("AuthFailure.SignatureExpire")
        if date != dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%d") or service != "sms":
            return err("AuthFailure.SignatureFailure")
        signed = fields.get("SignedHeaders", "").split(";")
        if not {"content-type", "host"} <= set(signed):
            return err("AuthFailure.InvalidAuthorization")
        parts = urlsplit(handler.path)
        canonical = "\n".join(
            [
                handler.command,
                parts.path or "/",
                parts.query,
                "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed),
                ";".join(signed),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{service}/tc3_request"
        string_to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        )
        key = ("TC3" + TENCENT_SECRET_KEY).encode("utf-8")
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not _same(fields.get("Signature", ""), expected):
            return err("AuthFailure.SignatureFailure")
        if headers.get("x-tc-action") != "SendSms":
            return err("InvalidAction")
        if headers.get("x-tc-version") != "2021-01-11":
            return err("NoSuchVersion")
        if not headers.get("x-tc-region"):
            return err("MissingParameter")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return err("FailedOperation.FailResolvePacket")
        if not isinstance(data, dict) or not data.get("PhoneNumberSet") or not data.get("TemplateId"):
            return err("MissingParameter")
        if data.get("SmsSdkAppId") != TENCENT_SDK_APP_ID:
            return err("InvalidParameterValue.SdkAppIdNotExist")
        injected = self._injected("sms_tencent")
        per_number_code = ""
        if injected is not None:
            code, per_number = injected
            code = code or "RequestLimitExceeded"
            if per_number is None:
                per_number = not code.startswith(_TENCENT_REQUEST_LEVEL)
            if not per_number:
                return err(code)
            per_number_code = code
        statuses, sent = [], False
        for number in data["PhoneNumberSet"]:
            code = per_number_code
            if not code and data.get("SignName") != TENCENT_SIGN_NAME:
                code = "FailedOperation.SignatureIncorrectOrUnapproved"
            elif not code and (
                data.get("TemplateId") != TENCENT_TEMPLATE_ID
                or len(data.get("TemplateParamSet") or []) != len(TENCENT_TEMPLATE_PARAMS)
            ):
                code = "FailedOperation.TemplateIncorrectOrUnapproved"
            elif not code and not (str(number).startswith("+86") and _MAINLAND.match(str(number)[3:])):
                code = "InvalidParameterValue.IncorrectPhoneNumber"
            sent = sent or not code
            statuses.append(
                {
                    "SerialNo": f"2640:{next(self._serial):08d}" if not code else "",
                    "PhoneNumber": number,
                    "Fee": 0 if code else 1,
                    "SessionContext": data.get("SessionContext", ""),
                    "Code": code or "Ok",
                    "Message": _TENCENT_MESSAGES.get(code, "error") if code else "send success",
                    "IsoCode": "CN",
                }
            )
        reply = {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}
        return _Reply(200, reply, accepted=data if sent else None)

    # the work-notice apps: DingTalk work notices and WeCom app messages -------------------------

    def _issue_token(self, kind: str) -> dict[str, Any]:
        token = f"{kind}-token-{next(self._serial)}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._tokens[kind][token] = self._now() + self.token_ttl
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def _token_state(self, kind: str, handler: BaseHTTPRequestHandler) -> str:
        """ok / invalid / expired: the request's access_token as the app sees it."""
        token = (parse_qs(urlsplit(handler.path).query).get("access_token") or [""])[0]
        with self._lock:
            until = self._tokens[kind].get(token)
        if until is None:
            return "invalid"
        return "ok" if until > self._now() else "expired"

    @staticmethod
    def _json_body(body: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _dingtalk_work(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        request_id = uuid.uuid4().hex[:12]

        def err(code: int, sub: str = "") -> _Reply:
            if sub:  # 鉴权异常: the reason in sub_code
                return _Reply(
                    200,
                    {
                        "errcode": 88,
                        "sub_code": sub,
                        "sub_msg": "没有调用该接口的权限",
                        "errmsg": f"ding talk error[subcode={sub},submsg=没有调用该接口的权限]",
                        "request_id": request_id,
                    },
                )
            msg = _DINGTALK_WORK_MESSAGES.get(code, "error")
            return _Reply(200, {"errcode": code, "errmsg": msg, "request_id": request_id})

        parts = urlsplit(handler.path)
        if parts.path == "/gettoken":
            query = parse_qs(parts.query)
            key, secret = (query.get("appkey") or [""])[0], (query.get("appsecret") or [""])[0]
            if key != DINGTALK_APP_KEY or not _same(secret, DINGTALK_APP_SECRET):
                return err(40089)
            return _Reply(200, self._issue_token("dingtalk_work"))
        state = self._token_state("dingtalk_work", handler)
        if state != "ok":
            return err(40014 if state == "invalid" else 42001)
        data = self._json_body(body)
        if data is None:
            return err(400002)
        if parts.path == "/topapi/v2/user/getbymobile":
            mobile = str(data.get("mobile", ""))
            if not _MAINLAND.match(mobile):
                return err(40104)
            with self._lock:
                userid = self.members["dingtalk_work"].get(mobile)
            if userid is None:
                return err(60121)
            return _Reply(
                200, {"errcode": 0, "errmsg": "ok", "result": {"userid": userid}, "request_id": request_id}
            )
        # asyncsend_v2
        msg = data.get("msg") if isinstance(data.get("msg"), dict) else {}
        msgtype = msg.get("msgtype")
        content = msg.get(msgtype) if isinstance(msg.get(msgtype), dict) else {}
        with self._lock:
            known = set(self.members["dingtalk_work"].values())
        users = [u for u in str(data.get("userid_list", "")).split(",") if u]
        if data.get("agent_id") != DINGTALK_AGENT_ID or not users or not set(users) <= known:
            return err(400002)
        if msgtype == "action_card":
            single = content.get("single_title") and content.get("single_url")
            if not (
                content.get("title") and content.get("markdown") and (single or content.get("btn_json_list"))
            ):
                return err(400002)
        elif msgtype == "markdown":
            if not (content.get("title") and content.get("text")):
                return err(400002)
        elif msgtype not in ("text", "link", "oa", "image", "voice", "file"):
            return err(400002)
        injected = self._injected("dingtalk_work")
        if injected is not None:
            code = injected[0] or "90018"
            return err(88, code.split(":", 1)[1]) if code.startswith("88:") else err(int(code))
        task_id = 256271667526 + next(self._serial)
        return _Reply(200, {"errcode": 0, "task_id": task_id, "request_id": request_id}, accepted=data)

    def _wecom_app(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> _Reply:
        def err(code: int) -> _Reply:
            return _Reply(200, {"errcode": code, "errmsg": _WECOM_APP_MESSAGES.get(code, "error")})

        parts = urlsplit(handler.path)
        if parts.path == "/cgi-bin/gettoken":
            query = parse_qs(parts.query)
            if (query.get("corpid") or [""])[0] != WECOM_CORP_ID:
                return err(40013)
            if not _same((query.get("corpsecret") or [""])[0], WECOM_APP_SECRET):
                return err(40001)
            return _Reply(200, self._issue_token("wecom_app"))
        state = self._token_state("wecom_app", handler)
        if state != "ok":
            return err(40014 if state == "invalid" else 42001)
        data = self._json_body(body)
        if data is None:
            return err(40058)
        if parts.path == "/cgi-bin/user/getuserid":
            with self._lock:
                userid = self.members["wecom_app"].get(str(data.get("mobile", "")))
            if userid is None:
                return err(46004)
            return _Reply(200, {"errcode": 0, "errmsg": "ok", "userid": userid})
        # message/send
        if data.get("agentid") != WECOM_AGENT_ID:
            return err(40056)
        with self._lock:
            known = set(self.members["wecom_app"].values())
        if str(data.get("touser", "")) not in known:
            return err(81013)
        msgtype = data.get("msgtype")
        content = data.get(msgtype) if isinstance(data.get(msgtype), dict) else {}
        if msgtype == "textcard":
            if not (content.get("title") and content.get("description") and content.get("url")):
                return err(40058)
            if len(str(content["description"]).encode("utf-8")) > 512:
                return err(40058)
        elif msgtype == "text":
            if not content.get("content") or len(str(content["content"]).encode("utf-8")) > 2048:
                return err(40058)
        elif msgtype not in ("image", "voice", "video", "file", "news", "mpnews", "markdown"):
            return err(40008)
        injected = self._injected("wecom_app")
        if injected is not None:
            return err(int(injected[0] or 45009))
        msgid = f"msg-{next(self._serial)}-{uuid.uuid4().hex[:8]}"
        return _Reply(200, {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": msgid}, accepted=data)


@pytest.fixture
def fake_providers() -> Iterator[FakeProviders]:
    """A started ``FakeProviders`` for one test."""
    with FakeProviders() as server:
        yield server
