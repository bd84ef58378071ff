"""Alibaba Cloud SMS (阿里云短信服务): SendSms, API version 2017-05-25, signed with the V3 scheme.

ACS3-HMAC-SHA256, as Alibaba documents it ("V3版本请求体&签名机制"): the parameters go in the
query string (SendSms takes them "in": "query"), the body is empty, and

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n
                       SignedHeaders \\n HashedRequestPayload
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(SHA256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<…>,Signature=<…>

with RFC 3986 percent-encoding (space %20, * %2A, ~ kept), the query sorted by name, the signed
headers (host and every x-acs-* header) lower-cased, trimmed and sorted, each line ending in \\n,
and x-acs-content-sha256 = hex(SHA256(body)). x-acs-date must be within 15 minutes of Alibaba's
clock and x-acs-signature-nonce fresh per request.

The few helpers both SMS transports need (mainland numbers, template values) live here too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pydantic import field_validator

from shebao.core import http
from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.webhook import check_url_syntax, json_object, send_request

WHO = "阿里云短信"
ACTION, VERSION, ALGORITHM = "SendSms", "2017-05-25", "ACS3-HMAC-SHA256"
BEIJING = dt.timezone(dt.timedelta(hours=8))
_MOBILE = re.compile(r"^1[3-9]\d{9}$")

# The channel is misconfigured (credentials, signature, template, account): tell the admins.
BROKEN = frozenset(
    {
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SIGN_STATE_ILLEGAL",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.MONTH_LIMIT_CONTROL",
        "isp.RAM_PERMISSION_DENY",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "SignatureDoesNotMatch",
        "InvalidTimeStamp.Expired",  # our clock is off: every send fails until it is fixed
    }
)
# This recipient or this message cannot be sent; the channel is fine.
RECIPIENT = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_CONTENT_ILLEGAL",
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        "isv.PARAM_LENGTH_LIMIT",
    }
)
TRANSIENT = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "ServiceUnavailable", "SignatureNonceUsed"}
)
HINTS = {
    "isv.SMS_TEMPLATE_ILLEGAL": "模板不存在或未审核通过，请检查模板 CODE",
    "isv.SMS_SIGNATURE_ILLEGAL": "签名不存在或未审核通过，请检查短信签名",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值，请检查模板参数列表",
    "InvalidAccessKeyId.NotFound": "AccessKey ID 不存在",
    "SignatureDoesNotMatch": "AccessKey Secret 错误",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isv.ACCOUNT_NOT_EXISTS": "账户不存在",
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号码格式错误",
    "isv.BLACK_KEY_CONTROL_LIMIT": "号码或内容命中黑名单",
    "InvalidTimeStamp.Expired": "服务器时间与阿里云相差过大，请校准服务器时间",
}


# --- shared by the SMS transports ----------------------------------------------------------------


def mainland_mobile(raw: str) -> str | None:
    """The 11-digit mainland mobile number in ``raw`` (13800138000, +86 138-0013-8000,
    008613800138000), or None."""
    digits = re.sub(r"[\s()-]", "", raw)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if _MOBILE.match(digits) else None


def mask(mobile: str) -> str:
    """138****8000: enough to recognise a number in a log, not to harvest it."""
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 8 else "****"


def recipients(who: str, message: Message) -> list[str]:
    """The message's numbers as 11 digits; an invalid one fails the delivery (not the channel)."""
    numbers, bad = [], []
    for raw in message.to:
        mobile = mainland_mobile(raw)
        (numbers if mobile else bad).append(mobile or raw)
    if bad or not numbers:
        shown = "、".join(mask(b) for b in bad) or "（无）"
        raise TransportError(
            f"{who}：手机号无效：{shown}（应为 11 位中国大陆手机号，可带 +86）",
            permanent=True,
            channel_broken=False,
            code="invalid_mobile",
        )
    return numbers


def template_values(who: str, names: list[str], params: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The template parameters in the channel's order (all of them given when no order is
    configured). A missing one is the channel's template set-up, so it breaks the channel."""
    given = dict(params)
    if not names:
        return list(params)
    missing = [n for n in names if n not in given]
    if missing:
        raise TransportError(
            f"{who}：模板参数缺少值：{'、'.join(missing)}（请检查通道的模板参数列表）",
            permanent=True,
            code="missing_params",
        )
    return [(n, given[n]) for n in names]


# Events a channel may send with an approved template of their own (config ``templates``): a
# one-time code must go through a verification-code template (验证码模板), a letter's link through
# a notification template that carries it; the rest use the channel's main template.
SMS_EVENTS = ("finding", "digest", "test", "case_letter", "otp")
_TEMPLATE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,24}$")


def _template_spec(event: str, spec: str) -> tuple[str, list[str]]:
    parts = str(spec).strip().split(None, 1)
    code = parts[0] if parts else ""
    names = [n for n in re.split(r"[,，\s]+", parts[1] if len(parts) > 1 else "") if n]
    if not _TEMPLATE_CODE.match(code):
        raise ValueError(f"“{event}”的模板编号“{code}”无效（应写成“模板编号 参数1,参数2”）")
    if not names:
        raise ValueError(f"“{event}”缺少模板参数名（应写成“模板编号 参数1,参数2”，如 SMS_123456 code）")
    bad = [n for n in names if not _PARAM_NAME.match(n)]
    if bad:
        raise ValueError(f"“{event}”的参数名无效：{'、'.join(bad)}（字母开头，只含字母、数字和下划线）")
    if len(set(names)) != len(names):
        raise ValueError(f"“{event}”的参数名重复")
    return code, names


def clean_event_templates(value: dict[str, str]) -> dict[str, str]:
    """Per event, the approved template and its parameter names in order, written
    ``{"otp": "SMS_123456 code", "case_letter": "SMS_234567 name,title,deadline,link"}``
    (Tencent: the template ID). Normalised to ``"CODE a,b"``."""
    out: dict[str, str] = {}
    for event, spec in value.items():
        event = str(event).strip()
        if event not in SMS_EVENTS:
            raise ValueError(f"消息类型“{event}”无效（可选：{'、'.join(SMS_EVENTS)}）")
        code, names = _template_spec(event, spec)
        out[event] = f"{code} {','.join(names)}"
    return out


def event_template(
    event: str, *, code: str, params: list[str], templates: dict[str, str]
) -> tuple[str, list[str]]:
    """The template ``event`` is sent with: its own where the channel lists one, else the main."""
    spec = templates.get(event)
    if spec:
        return _template_spec(event, spec)
    return code, list(params)


def seconds_until_beijing_midnight(now: dt.datetime | None = None) -> float:
    """Daily SMS quotas reset at midnight China time."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(BEIJING)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds() + 60


# --- ACS3 ----------------------------------------------------------------------------------------


def acs3_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def acs3_query(params: dict[str, str]) -> str:
    return "&".join(f"{acs3_encode(k)}={acs3_encode(v)}" for k, v in sorted(params.items()))


def acs3_signature(
    secret: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    canonical = "\n".join([method, path or "/", query, canonical_headers, ";".join(signed), payload_hash])
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def acs3_headers(
    access_key_id: str, secret: str, *, url: str, query: str, body: bytes, action: str, version: str
) -> dict[str, str]:
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": http.host_header(url),
        "x-acs-action": action,
        "x-acs-content-sha256": payload_hash,
        "x-acs-date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-version": version,
    }
    signed = sorted(headers)
    signature = acs3_signature(
        secret,
        method="POST",
        path=urlsplit(url).path or "/",
        query=query,
        headers=headers,
        signed=signed,
        payload_hash=payload_hash,
    )
    auth = f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={signature}"
    return headers | {"authorization": auth}


# --- the transport -------------------------------------------------------------------------------


class AliyunSmsConfig(ChannelConfig):
    access_key_id: str
    access_key_secret: str
    sign_name: str
    template_code: str
    params: list[str] = []
    templates: dict[str, str] = {}  # event → "SMS_CODE name,…" (see clean_event_templates)
    endpoint: str = "https://dysmsapi.aliyuncs.com"
    region: str = "cn-hangzhou"  # informational: dysmsapi.aliyuncs.com serves every mainland region

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        return clean_event_templates(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = check_url_syntax(value)
        if urlsplit(value).query:
            raise ValueError("接入地址不能包含查询参数")
        return value


class AliyunSms(Transport):
    kind: ClassVar[str] = "sms_aliyun"
    label: ClassVar[str] = "阿里云短信"
    Config = AliyunSmsConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("access_key_secret",)
    personal: ClassVar[bool] = True
    format: ClassVar[str] = "sms"
    config: AliyunSmsConfig

    def sms_template(self, event: str) -> tuple[str, list[str]]:
        return event_template(
            event, code=self.config.template_code, params=self.config.params, templates=self.config.templates
        )

    def send(self, message: Message) -> SendResult:
        numbers = recipients(WHO, message)
        template_code, names = self.sms_template(message.event)
        values = template_values(WHO, names, message.sms_params)
        out_id = message.idempotency_key
        if len(out_id) > 64:  # OutId is at most 64 characters
            out_id = hashlib.sha256(out_id.encode("utf-8")).hexdigest()
        params = {
            "PhoneNumbers": ",".join(numbers),
            "SignName": self.config.sign_name,
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(values), ensure_ascii=False),
        } | ({"OutId": out_id} if out_id else {})
        query = acs3_query(params)
        url = self.config.endpoint.rstrip("/") + "/"
        headers = acs3_headers(
            self.config.access_key_id,
            self.config.access_key_secret,
            url=url,
            query=query,
            body=b"",
            action=ACTION,
            version=VERSION,
        )
        resp = send_request(self, WHO, f"{url}?{query}", body=b"", headers=headers)
        data = json_object(WHO, resp)
        code = str(data.get("Code", ""))
        if code == "OK":
            return SendResult(
                provider_id=str(data.get("BizId", "")), status_code=resp.status, response=resp.excerpt()
            )
        if not code:
            raise TransportError(
                f"{WHO}返回的内容缺少 Code（HTTP {resp.status}）：{resp.excerpt(200)}",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        raise _error(code, str(data.get("Message", ""))[:200], resp)


def _error(code: str, detail: str, resp: http.Response) -> TransportError:
    common: dict[str, Any] = {"status_code": resp.status, "code": code, "response": resp.excerpt()}
    text = f"{WHO}发送失败（{code}：{detail}）"
    hint = HINTS.get(code)
    if hint:
        text += f"：{hint}"
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        # 同一号码的频率控制: "触发分钟级流控" / "小时级" / "天级"; wait accordingly.
        wait = 60.0 if "分钟" in detail else seconds_until_beijing_midnight() if "天" in detail else 3600.0
        return TransportError(text + f"：约 {round(wait / 60)} 分钟后重试", retry_after=wait, **common)
    if code == "isv.DAY_LIMIT_CONTROL":  # the account's own daily cap, set in the console
        return TransportError(
            text + "：已达日发送上限，次日重试", retry_after=seconds_until_beijing_midnight(), **common
        )
    if code in BROKEN:
        return TransportError(text, permanent=True, **common)
    if code in RECIPIENT:
        return TransportError(text, permanent=True, channel_broken=False, **common)
    if code in TRANSIENT or code.startswith(("Throttling", "isp.", "InternalError")) or resp.status >= 500:
        return TransportError(text, **common)
    return TransportError(text + "：请检查短信通道配置", permanent=True, **common)
