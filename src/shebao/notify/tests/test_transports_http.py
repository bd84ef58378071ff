"""The HTTP transports against the local fake providers (which verify signatures themselves)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shebao.core import http
from shebao.core.exceptions import ApplicationError
from shebao.notify.testing import fakes
from shebao.notify.testing.fakes import FakeProviders, fake_providers  # noqa: F401 - a fixture
from shebao.notify.transports import TRANSPORTS, Message, TransportError, transport_class
from shebao.notify.transports.dingtalk import DingTalk
from shebao.notify.transports.feishu import Feishu
from shebao.notify.transports.sms_aliyun import AliyunSms, acs3_query, acs3_signature, mainland_mobile
from shebao.notify.transports.sms_tencent import TencentSms
from shebao.notify.transports.webhook import Webhook, cut_utf8
from shebao.notify.transports.wecom import WeCom

SUBJECT = "社保缴费提醒：北京 2025 年 5 月"
TEXT = "请于 5 月 15 日前完成北京社保申报，逾期将产生滞纳金。"
MARKDOWN = "**请于 5 月 15 日前**完成北京社保申报，逾期将产生滞纳金。"
MESSAGE = Message(
    subject=SUBJECT,
    text=TEXT,
    markdown=MARKDOWN,
    to=("+86 138-0013-8000",),
    sms_params=(("deadline", "5月15日"), ("name", "张三")),
    idempotency_key="delivery-42",
    link="https://shebao.example.com/deadlines/42",
)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeProviders]:
    with FakeProviders() as server:
        yield server


@pytest.fixture
def server(_server: FakeProviders) -> FakeProviders:
    _server.reset()
    _server.clock_offset = 0.0
    return _server


def _fails(transport: Any, message: Message = MESSAGE) -> TransportError:
    with pytest.raises(TransportError) as e:
        transport.send(message)
    return e.value


def test_registry_paths_and_labels() -> None:
    for kind in ("dingtalk", "wecom", "feishu", "webhook", "sms_aliyun", "sms_tencent"):
        cls = transport_class(kind)
        assert cls.kind == kind and cls.label == TRANSPORTS[kind][0]


# --- DingTalk -------------------------------------------------------------------------------------


def test_dingtalk_signed_markdown(server: FakeProviders) -> None:
    t = DingTalk(server.config("dingtalk", at_mobiles=["+8613800138000"]), allow_private=True)
    result = t.send(MESSAGE)
    assert result.status_code == 200 and '"errcode":0' in result.response.replace(" ", "")
    [body] = server.received["dingtalk"]
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == SUBJECT
    assert body["markdown"]["text"].startswith(MARKDOWN) and "@13800138000" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}


def test_dingtalk_unsigned_robot(server: FakeProviders) -> None:
    DingTalk({"url": server.url("dingtalk", signed=False)}, allow_private=True).send(MESSAGE)
    assert len(server.received["dingtalk"]) == 1


def test_dingtalk_wrong_secret_and_token(server: FakeProviders) -> None:
    err = _fails(DingTalk(server.config("dingtalk", secret="SECwrong"), allow_private=True))
    assert err.permanent and err.channel_broken and err.code == "310000" and "加签" in err.message
    err = _fails(
        DingTalk(server.config("dingtalk", url=server.url("dingtalk", token="nope")), allow_private=True)
    )
    assert err.permanent and err.code == "300001"
    # An unsigned request to a robot that requires 加签 is refused like a wrong signature.
    err = _fails(DingTalk({"url": server.url("dingtalk")}, allow_private=True))
    assert err.code == "310000"
    assert server.received["dingtalk"] == []
    for e in (err,):
        assert fakes.DINGTALK_TOKEN not in e.message + e.response


def test_dingtalk_stale_timestamp(server: FakeProviders) -> None:
    server.clock_offset = 2 * 3600
    err = _fails(DingTalk(server.config("dingtalk"), allow_private=True))
    assert err.permanent and err.code == "310000" and "invalid timestamp" in err.response


def test_dingtalk_rate_limit_block(server: FakeProviders) -> None:
    t = DingTalk(server.config("dingtalk"), allow_private=True)
    server.block("dingtalk")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 600 and err.code == "410100"
    assert err.message == "钉钉机器人限流（errcode 410100）：10 分钟后重试"
    server.unblock("dingtalk")
    t.send(MESSAGE)
    assert len(server.received["dingtalk"]) == 1


def test_dingtalk_faults(server: FakeProviders) -> None:
    t = DingTalk(server.config("dingtalk"), allow_private=True)
    server.fail_next("dingtalk", 1, status=502)
    err = _fails(t)
    assert not err.permanent and err.status_code == 502 and "fake gateway error" in err.response
    server.fail_next("dingtalk", 1, status=200)  # an HTML page with 200: not JSON
    err = _fails(t)
    assert not err.permanent and err.code == "bad_response"
    server.error_next("dingtalk", 430102)  # content refused: this message, not the robot
    err = _fails(t)
    assert err.permanent and not err.channel_broken
    server.error_next("dingtalk", 130101)
    assert _fails(t).retry_after == 600
    t.send(MESSAGE)
    assert len(server.received["dingtalk"]) == 1


def test_dingtalk_config_validation() -> None:
    with pytest.raises(ApplicationError) as e:
        DingTalk.validate({"url": "https://oapi.dingtalk.com/robot/send", "secret": "abc"})
    assert "access_token" in e.value.field_errors["url"] and "SEC" in e.value.field_errors["secret"]
    with pytest.raises(ApplicationError):
        DingTalk.validate({"url": "ftp://oapi.dingtalk.com/robot/send?access_token=x"})
    with pytest.raises(ApplicationError):
        DingTalk.validate(
            {"url": "https://oapi.dingtalk.com/robot/send?access_token=x", "at_mobiles": ["123"]}
        )


# --- WeCom ----------------------------------------------------------------------------------------


def test_wecom_markdown(server: FakeProviders) -> None:
    WeCom(server.config("wecom"), allow_private=True).send(MESSAGE)
    assert server.received["wecom"] == [{"msgtype": "markdown", "markdown": {"content": MARKDOWN}}]


def test_wecom_cuts_at_4096_bytes(server: FakeProviders) -> None:
    long = Message(subject=SUBJECT, text="", markdown="a" + "社保" * 3000)  # 18,001 bytes
    WeCom(server.config("wecom"), allow_private=True).send(long)
    content = server.received["wecom"][0]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and content.endswith("…")
    assert content.startswith("a社保社保")


def test_cut_utf8_on_character_boundary() -> None:
    assert cut_utf8("社保", 6) == "社保"
    for limit in range(4, 12):
        cut = cut_utf8("ab社保缴费", limit)
        assert len(cut.encode("utf-8")) <= limit and cut.endswith("…")
    assert cut_utf8("x" * 4095 + "社", 4096) == "x" * 4093 + "…"


def test_wecom_errors(server: FakeProviders) -> None:
    err = _fails(WeCom({"url": server.url("wecom", token="wrong-key")}, allow_private=True))
    assert err.permanent and err.channel_broken and err.code == "93000"
    t = WeCom(server.config("wecom"), allow_private=True)
    server.block("wecom")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 60 and err.code == "45009"
    server.unblock("wecom")
    server.fail_next("wecom", 2, status=500)
    assert not _fails(t).permanent and _fails(t).status_code == 500
    t.send(MESSAGE)
    assert len(server.received["wecom"]) == 1


# --- Feishu ---------------------------------------------------------------------------------------


def test_feishu_signed_card(server: FakeProviders) -> None:
    Feishu(server.config("feishu"), allow_private=True).send(MESSAGE)
    [body] = server.received["feishu"]
    assert body["msg_type"] == "interactive" and body["timestamp"].isdigit()
    card = body["card"]
    assert card["header"]["title"]["content"] == SUBJECT
    assert card["elements"][0]["text"] == {"tag": "lark_md", "content": MARKDOWN}
    assert card["elements"][1]["actions"][0]["url"] == MESSAGE.link


def test_feishu_text(server: FakeProviders) -> None:
    Feishu({"url": server.url("feishu", signed=False), "msg_type": "text"}, allow_private=True).send(MESSAGE)
    text = server.received["feishu"][0]["content"]["text"]
    assert text.startswith(SUBJECT) and TEXT in text and MESSAGE.link in text


def test_feishu_errors(server: FakeProviders) -> None:
    err = _fails(Feishu(server.config("feishu", secret="wrong"), allow_private=True))
    assert err.permanent and err.channel_broken and err.code == "19021"
    server.clock_offset = -2 * 3600
    err = _fails(Feishu(server.config("feishu"), allow_private=True))
    assert err.code == "19021"
    server.clock_offset = 0
    t = Feishu(server.config("feishu"), allow_private=True)
    server.block("feishu")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 60 and err.code == "11232"
    server.unblock("feishu")
    server.error_next("feishu", 19024)
    assert _fails(t).channel_broken
    server.error_next("feishu", 9499)  # "Bad Request": this message
    err = _fails(t)
    assert err.permanent and not err.channel_broken
    server.fail_next("feishu", status=503)
    assert not _fails(t).permanent
    t.send(MESSAGE)
    assert len(server.received["feishu"]) == 1


# --- generic webhook ------------------------------------------------------------------------------


def test_webhook_signed(server: FakeProviders) -> None:
    t = Webhook(server.config("webhook", headers={"Authorization": "Bearer abc"}), allow_private=True)
    result = t.send(MESSAGE)
    assert result.provider_id.startswith("wh-") and result.status_code == 200
    assert server.received["webhook"] == [{"subject": SUBJECT, "text": TEXT, "link": MESSAGE.link}]
    request = server.requests[-1]
    assert request.headers["x-shebao-event-id"] == "delivery-42"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert "社保" in request.body.decode("utf-8")  # UTF-8, not \\u escapes


def test_webhook_payload_and_unsigned(server: FakeProviders) -> None:
    payload = {"event": "deadline", "城市": "北京", "items": [1, 2]}
    msg = Message(subject="s", text="t", payload=payload, idempotency_key="k")
    Webhook({"url": server.url("webhook", signed=False)}, allow_private=True).send(msg)
    assert server.received["webhook"] == [payload]
    assert "x-shebao-signature" not in server.requests[-1].headers


def test_webhook_errors(server: FakeProviders) -> None:
    err = _fails(Webhook(server.config("webhook", secret="wrong"), allow_private=True))
    assert err.permanent and err.channel_broken and err.status_code == 401
    t = Webhook(server.config("webhook"), allow_private=True)
    server.block("webhook")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 60 and err.status_code == 429
    server.unblock("webhook")
    server.fail_next("webhook", status=503, retry_after="7")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 7
    for status, permanent in ((408, False), (425, False), (404, True), (410, True), (302, True)):
        server.error_next("webhook", status)
        assert _fails(t).permanent is permanent
    server.error_next("webhook", 413)
    err = _fails(t)
    assert err.permanent and not err.channel_broken
    t.send(MESSAGE)
    assert len(server.received["webhook"]) == 1


def test_webhook_header_validation() -> None:
    for headers in ({"Host": "x"}, {"X-Shebao-Event-Id": "x"}, {"Bad Name": "x"}, {"X-A": "a\r\nX-B: b"}):
        with pytest.raises(ApplicationError):
            Webhook.validate({"url": "https://hooks.example.com/", "headers": headers})


# --- Alibaba Cloud SMS ----------------------------------------------------------------------------


def test_aliyun_send(server: FakeProviders) -> None:
    result = AliyunSms(server.config("sms_aliyun"), allow_private=True).send(MESSAGE)
    [params] = server.received["sms_aliyun"]
    assert result.provider_id.endswith("^0") and result.provider_id in result.response
    assert params["PhoneNumbers"] == "13800138000" and params["SignName"] == fakes.ALIYUN_SIGN_NAME
    assert params["TemplateParam"] == {"name": "张三", "deadline": "5月15日"}
    assert params["OutId"] == "delivery-42"


def test_aliyun_several_numbers_and_long_out_id(server: FakeProviders) -> None:
    msg = Message(
        subject="s",
        text="t",
        to=("13800138000", "008613900139000"),
        sms_params=MESSAGE.sms_params,
        idempotency_key="x" * 100,
    )
    AliyunSms(server.config("sms_aliyun"), allow_private=True).send(msg)
    params = server.received["sms_aliyun"][0]
    assert params["PhoneNumbers"] == "13800138000,13900139000" and len(params["OutId"]) == 64


def test_aliyun_credentials(server: FakeProviders) -> None:
    err = _fails(AliyunSms(server.config("sms_aliyun", access_key_secret="wrong"), allow_private=True))
    assert (
        err.permanent
        and err.channel_broken
        and err.code == "SignatureDoesNotMatch"
        and err.status_code == 400
    )
    assert "wrong" not in err.message
    err = _fails(AliyunSms(server.config("sms_aliyun", access_key_id="LTAIunknown"), allow_private=True))
    assert err.code == "InvalidAccessKeyId.NotFound" and err.channel_broken
    err = _fails(AliyunSms(server.config("sms_aliyun", template_code="SMS_1"), allow_private=True))
    assert err.code == "isv.SMS_TEMPLATE_ILLEGAL" and err.channel_broken
    server.clock_offset = 3600
    err = _fails(AliyunSms(server.config("sms_aliyun"), allow_private=True))
    assert err.code == "InvalidTimeStamp.Expired" and err.permanent
    assert server.received["sms_aliyun"] == []


def test_aliyun_error_mapping(server: FakeProviders) -> None:
    t = AliyunSms(server.config("sms_aliyun"), allow_private=True)
    server.block("sms_aliyun")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 3600 and err.code == "isv.BUSINESS_LIMIT_CONTROL"
    server.unblock("sms_aliyun")
    for code, permanent, broken in (
        ("isv.MOBILE_NUMBER_ILLEGAL", True, False),
        ("isv.BLACK_KEY_CONTROL_LIMIT", True, False),
        ("isv.AMOUNT_NOT_ENOUGH", True, True),
        ("isp.SYSTEM_ERROR", False, False),
        ("Throttling.User", False, False),
        ("ServiceUnavailable", False, False),
    ):
        server.error_next("sms_aliyun", code)
        err = _fails(t)
        assert (err.code, err.permanent, err.channel_broken) == (code, permanent, broken)
    server.fail_next("sms_aliyun", status=500)
    assert not _fails(t).permanent
    t.send(MESSAGE)
    assert len(server.received["sms_aliyun"]) == 1


def test_sms_refused_before_sending(server: FakeProviders) -> None:
    t = AliyunSms(server.config("sms_aliyun"), allow_private=True)
    err = _fails(t, Message(subject="s", text="t", to=("12345",), sms_params=MESSAGE.sms_params))
    assert err.permanent and not err.channel_broken and err.code == "invalid_mobile"
    err = _fails(t, Message(subject="s", text="t", to=("13800138000",), sms_params=(("name", "张三"),)))
    assert err.permanent and err.channel_broken and "deadline" in err.message
    assert server.requests == []


def test_acs3_signature_matches_alibabas_documented_example() -> None:
    """The example request and signature from Alibaba's "V3版本请求体&签名机制" page."""
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-acs-date": "2023-10-26T09:01:01Z",
        "x-acs-signature-nonce": "d410180a5abf7fe235dd9b74aca91fc0",
        "x-acs-version": "2014-05-26",
    }
    query = acs3_query(
        {"RegionId": "cn-shanghai", "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}
    )
    signature = acs3_signature(
        "YourAccessKeySecret",
        method="POST",
        path="/",
        query=query,
        headers=headers,
        signed=sorted(headers),
        payload_hash=headers["x-acs-content-sha256"],
    )
    assert signature == "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
    assert acs3_query({"b": "a b*~", "a": "社"}) == "a=%E7%A4%BE&b=a%20b%2A~"


def test_mainland_mobile() -> None:
    for raw in ("13800138000", "+8613800138000", "+86 138 0013 8000", "008613800138000", "86-138-0013-8000"):
        assert mainland_mobile(raw) == "13800138000"
    for raw in ("1380013800", "23800138000", "+1 415 555 0100", ""):
        assert mainland_mobile(raw) is None


# --- Tencent Cloud SMS ----------------------------------------------------------------------------


def test_tencent_send(server: FakeProviders) -> None:
    result = TencentSms(server.config("sms_tencent"), allow_private=True).send(MESSAGE)
    [body] = server.received["sms_tencent"]
    assert result.provider_id.startswith("2640:")
    assert body["PhoneNumberSet"] == ["+8613800138000"] and body["SessionContext"] == "delivery-42"
    assert body["TemplateParamSet"] == ["张三", "5月15日"]  # in the channel's order, not the message's
    assert body["SignName"] == fakes.TENCENT_SIGN_NAME and body["SmsSdkAppId"] == fakes.TENCENT_SDK_APP_ID


def test_tencent_credentials(server: FakeProviders) -> None:
    err = _fails(TencentSms(server.config("sms_tencent", secret_key="wrong"), allow_private=True))
    assert err.permanent and err.channel_broken and err.code == "AuthFailure.SignatureFailure"
    err = _fails(TencentSms(server.config("sms_tencent", secret_id="AKIDunknown"), allow_private=True))
    assert err.code == "AuthFailure.SecretIdNotFound"
    err = _fails(TencentSms(server.config("sms_tencent", template_id="999"), allow_private=True))
    assert err.code == "FailedOperation.TemplateIncorrectOrUnapproved" and err.channel_broken
    err = _fails(TencentSms(server.config("sms_tencent", sign_name="别的签名"), allow_private=True))
    assert err.code == "FailedOperation.SignatureIncorrectOrUnapproved" and err.channel_broken
    server.clock_offset = 600
    err = _fails(TencentSms(server.config("sms_tencent"), allow_private=True))
    assert err.code == "AuthFailure.SignatureExpire"
    assert server.received["sms_tencent"] == []


def test_tencent_error_mapping(server: FakeProviders) -> None:
    t = TencentSms(server.config("sms_tencent"), allow_private=True)
    server.block("sms_tencent")
    err = _fails(t)
    assert not err.permanent and err.code == "RequestLimitExceeded"
    server.unblock("sms_tencent")
    for code, permanent, broken in (
        ("InvalidParameterValue.IncorrectPhoneNumber", True, False),
        ("LimitExceeded.PhoneNumberDailyLimit", True, False),
        ("FailedOperation.InsufficientBalanceInSmsPackage", True, True),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", True, True),
        ("InternalError.Timeout", False, False),
    ):
        server.error_next("sms_tencent", code)
        err = _fails(t)
        assert (err.code, err.permanent, err.channel_broken) == (code, permanent, broken)
    server.error_next("sms_tencent", "LimitExceeded.AppDailyLimit")
    err = _fails(t)
    assert not err.permanent and err.retry_after and 60 < err.retry_after <= 86_460
    server.error_next("sms_tencent", "LimitExceeded.PhoneNumberThirtySecondLimit")
    assert _fails(t).retry_after == 60
    server.fail_next("sms_tencent", status=502)
    assert not _fails(t).permanent
    t.send(MESSAGE)
    assert len(server.received["sms_tencent"]) == 1


def test_tencent_partial_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Some numbers sent, some not: the delivery ends (a retry would send twice)."""
    from shebao.notify.transports import sms_tencent

    reply = {
        "Response": {
            "SendStatusSet": [
                {"SerialNo": "1", "PhoneNumber": "+8613800138000", "Code": "Ok", "Message": "send success"},
                {
                    "SerialNo": "",
                    "PhoneNumber": "+8613900139000",
                    "Code": "InternalError.Timeout",
                    "Message": "x",
                },
            ],
            "RequestId": "r",
        }
    }
    canned = http.Response(status=200, headers={}, body=json.dumps(reply).encode())
    monkeypatch.setattr(sms_tencent, "send_request", lambda *a, **k: canned)
    t = TencentSms(
        {"secret_id": "i", "secret_key": "k", "sdk_app_id": "1", "sign_name": "s", "template_id": "t"}
    )
    msg = Message(subject="s", text="t", to=("13800138000", "13900139000"))
    err = _fails(t, msg)
    assert err.permanent and not err.channel_broken and "139****9000" in err.message


def test_fixture_for_outbox_tests(request: pytest.FixtureRequest) -> None:
    """The way the outbox tests use it: a channel configured from the fake, exactly one message."""
    server: FakeProviders = request.getfixturevalue("fake_providers")  # imported above, as a conftest would
    transport = transport_class("dingtalk")(server.config("dingtalk"), allow_private=True)
    transport.send(MESSAGE)
    assert len(server.received["dingtalk"]) == 1 and len(server.requests) == 1


# --- SSRF: every transport refuses loopback unless allowed, without a request ---------------------


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "webhook", "sms_aliyun", "sms_tencent"])
def test_loopback_refused_without_allow_private(server: FakeProviders, kind: str) -> None:
    t = transport_class(kind)(server.config(kind))  # allow_private defaults to False
    err = _fails(t)
    assert err.permanent and err.channel_broken and err.code == "address_refused"
    assert "回环" in err.message
    assert server.requests == []
