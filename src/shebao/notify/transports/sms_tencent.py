"""Tencent Cloud SMS (腾讯云短信): SendSms, API version 2021-01-11, signed with TC3-HMAC-SHA256.

As Tencent documents it (签名方法 v3): a JSON POST to ``/``, and

    CanonicalRequest = POST \\n / \\n <query> \\n content-type:<ct>\\nhost:<host>\\n \\n
                       content-type;host \\n hex(SHA256(payload))
    StringToSign     = TC3-HMAC-SHA256 \\n <timestamp> \\n <date>/sms/tc3_request \\n
                       hex(SHA256(CanonicalRequest))
    key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), "sms"), "tc3_request")
    Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request,
                   SignedHeaders=content-type;host, Signature=hex(HMAC-SHA256(key, StringToSign))

``date`` is the UTC date of X-TC-Timestamp, which must be within five minutes of Tencent's clock.
Failures come as ``Response.Error`` (the whole request) or per number in ``SendStatusSet``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import field_validator

from shebao.core import http
from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError
from shebao.notify.transports.sms_aliyun import (
    clean_event_templates,
    event_template,
    mask,
    recipients,
    seconds_until_beijing_midnight,
    template_values,
)
from shebao.notify.transports.webhook import check_url_syntax, json_object, send_request

WHO = "腾讯云短信"
SERVICE, ACTION, VERSION, ALGORITHM = "sms", "SendSms", "2021-01-11", "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"

# This number (or this message) cannot be sent now; the channel is fine.
RECIPIENT = frozenset(
    {
        "InvalidParameterValue.IncorrectPhoneNumber",
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.ContainSensitiveWord",
        "InvalidParameterValue.ContentLengthLimit",
        "InvalidParameterValue.TemplateParameterLengthLimit",
        "LimitExceeded.PhoneNumberDailyLimit",
        "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.PhoneNumberCountLimit",
        "LimitExceeded.DeliveryFrequencyLimit",
    }
)
# The application's own daily quota: nothing goes out today, everything can tomorrow.
APP_DAILY = frozenset(
    {
        "LimitExceeded.DailyLimit",
        "LimitExceeded.AppDailyLimit",
        "LimitExceeded.AppGlobalDailyLimit",
        "LimitExceeded.AppMainlandChinaDailyLimit",
        "LimitExceeded.AppCountryOrRegionDailyLimit",
    }
)
SHORT_WAIT = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 60.0,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
}
HINTS = {
    "AuthFailure.SecretIdNotFound": "SecretId 不存在",
    "AuthFailure.SignatureFailure": "SecretKey 错误",
    "AuthFailure.SignatureExpire": "服务器时间与腾讯云相差超过 5 分钟，请校准服务器时间",
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审核通过或参数与模板不符",
    "FailedOperation.SignatureIncorrectOrUnapproved": "短信签名未审核通过或格式错误",
    "FailedOperation.InsufficientBalanceInSmsPackage": "套餐包余量不足",
    "InvalidParameterValue.SdkAppIdNotExist": "SdkAppId 不存在",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误",
}


def tc3_authorization(
    secret_id: str, secret_key: str, *, host: str, timestamp: int, payload: bytes, query: str = ""
) -> str:
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            query,
            f"content-type:{CONTENT_TYPE}\nhost:{host.lower()}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = (
        f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    )

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
    )


class TencentSmsConfig(ChannelConfig):
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    params: list[str] = []
    templates: dict[str, str] = {}  # event → "TEMPLATE_ID name,…" (see clean_event_templates)
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        return clean_event_templates(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = check_url_syntax(value)
        if urlsplit(value).path.strip("/") or urlsplit(value).query:
            raise ValueError("接入地址只能是主机名，如 https://sms.tencentcloudapi.com")
        return value


class TencentSms(Transport):
    kind: ClassVar[str] = "sms_tencent"
    label: ClassVar[str] = "腾讯云短信"
    Config = TencentSmsConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret_key",)
    personal: ClassVar[bool] = True
    format: ClassVar[str] = "sms"
    config: TencentSmsConfig

    def sms_template(self, event: str) -> tuple[str, list[str]]:
        return event_template(
            event, code=self.config.template_id, params=self.config.params, templates=self.config.templates
        )

    def send(self, message: Message) -> SendResult:
        numbers = recipients(WHO, message)
        template_id, names = self.sms_template(message.event)
        values = template_values(WHO, names, message.sms_params)
        body = {
            "PhoneNumberSet": [f"+86{n}" for n in numbers],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": [v for _n, v in values],
            "SessionContext": message.idempotency_key[:500],  # echoed back; under 512 bytes
        }
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = self.config.endpoint.rstrip("/") + "/"
        host = http.host_header(url)
        timestamp = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.config.region,
            "Authorization": tc3_authorization(
                self.config.secret_id, self.config.secret_key, host=host, timestamp=timestamp, payload=payload
            ),
        }
        resp = send_request(self, WHO, url, body=payload, headers=headers)
        data = json_object(WHO, resp).get("Response")
        if not isinstance(data, dict):
            raise TransportError(
                f"{WHO}返回的内容缺少 Response（HTTP {resp.status}）：{resp.excerpt(200)}",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        error = data.get("Error")
        if isinstance(error, dict):
            raise _error(str(error.get("Code", "")), str(error.get("Message", ""))[:200], resp)
        statuses = [s for s in data.get("SendStatusSet") or [] if isinstance(s, dict)]
        failed = [s for s in statuses if s.get("Code") != "Ok"]
        if not statuses:
            raise TransportError(
                f"{WHO}返回的内容缺少 SendStatusSet：{resp.excerpt(200)}",
                status_code=resp.status,
                code="bad_response",
                response=resp.excerpt(),
            )
        if not failed:
            serials = ",".join(str(s.get("SerialNo", "")) for s in statuses)
            return SendResult(provider_id=serials[:200], status_code=resp.status, response=resp.excerpt())
        first = failed[0]
        exc = _error(str(first.get("Code", "")), str(first.get("Message", ""))[:200], resp)
        if len(failed) < len(statuses):
            # Some numbers got the message: a retry would send it to them twice, so this delivery
            # ends here; whether the channel is broken depends on why the others failed.
            shown = "、".join(mask(str(s.get("PhoneNumber", "")).removeprefix("+86")) for s in failed)
            exc = TransportError(
                f"{WHO}：{len(statuses) - len(failed)} 个号码已发送，{len(failed)} 个失败（{shown}）：{exc.message}",
                permanent=True,
                channel_broken=exc.channel_broken and exc.permanent,
                status_code=resp.status,
                code=exc.code,
                response=resp.excerpt(),
            )
        raise exc


def _error(code: str, detail: str, resp: http.Response) -> TransportError:
    common: dict[str, Any] = {"status_code": resp.status, "code": code, "response": resp.excerpt()}
    text = f"{WHO}发送失败（{code}：{detail}）"
    if code in HINTS:
        text += f"：{HINTS[code]}"
    if code in SHORT_WAIT:
        return TransportError(text, retry_after=SHORT_WAIT[code], **common)
    if code in APP_DAILY:
        return TransportError(
            text + "：已达应用日发送上限，次日重试", retry_after=seconds_until_beijing_midnight(), **common
        )
    if code.startswith(("InternalError", "RequestLimitExceeded")) or resp.status >= 500:
        return TransportError(text, **common)
    if code in RECIPIENT:
        return TransportError(text, permanent=True, channel_broken=False, **common)
    # AuthFailure.*, UnauthorizedOperation.*, template / signature / SdkAppId / balance problems.
    return TransportError(text, permanent=True, **common)
