"""Work notices: a DingTalk work notice (钉钉工作通知) or a WeCom app message (企业微信应用消息)
from the company's own app to one employee, found by their mobile number.

Against the fake providers (tokens, member lookup and send emulated from the providers' docs):
the access token is cached and renewed when the provider says it expired, the userid is looked
up once, a letter's link goes out as an action card / text card, a member not found fails that
delivery only, a rate limit pauses the channel, credentials and IP allow-lists break it; the
employee messages of a case use the channel ("work"), never for a one-time code; and the
channel editor creates both kinds."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.utils import timezone

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.notify import services
from shebao.notify.models import Channel, DeliveryAttempt, Notification
from shebao.notify.testing.fakes import (
    DINGTALK_AGENT_ID,
    DINGTALK_APP_SECRET,
    WECOM_AGENT_ID,
    WECOM_APP_SECRET,
    FakeProviders,
)
from shebao.notify.transports import Message, TransportError
from shebao.notify.transports.dingtalk_work import DingTalkWork
from shebao.notify.transports.wecom_app import WeComApp
from shebao.notify.transports.workapp import clear_caches

N = Notification.Status
SYSTEM = Actor.system(via="test")
MOBILE = "13912345678"  # a member of both fake directories (userid wangxiaoming)
STRANGER = "13700001111"  # nobody with this number
LINK = "http://127.0.0.1:8000/a/s/Xy3kQ9mPb2Lw/"
LETTER = {
    "letter_title": "医保中断告知函",
    "letter_number": "HJ202611-0007",
    "respond_by": "2026-12-08",
    "expires": "2026-12-15 18:00",
    "link": LINK,
}


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def _message(**kw) -> Message:
    data = {
        "subject": "医保中断告知函（HJ202611-0007）",
        "text": "示例公司人事部门向您发送了《医保中断告知函》。",
        "markdown": "### 医保中断告知函\n王小明，请在 2026-12-08 前答复。",
        "to": (MOBILE,),
        "link": LINK,
        "event": "case_letter",
        "idempotency_key": "ack1:c1:e1",
    }
    return Message(**(data | kw))


SEND = "/topapi/message/corpconversation/asyncsend_v2"


def _calls(server: FakeProviders, path: str) -> list:
    return [r for r in server.requests if urlsplit(r.path).path == path]


def _fails(transport, message: Message | None = None) -> TransportError:
    with pytest.raises(TransportError) as e:
        transport.send(message or _message())
    return e.value


# --- DingTalk work notices ------------------------------------------------------------------------


def test_dingtalk_sends_an_action_card_with_the_link_and_caches_token_and_userid(fake_providers):
    t = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)
    result = t.send(_message())
    [body] = fake_providers.received["dingtalk_work"]
    assert body["agent_id"] == DINGTALK_AGENT_ID and body["userid_list"] == "wangxiaoming"
    assert body["msg"] == {
        "msgtype": "action_card",
        "action_card": {
            "title": "医保中断告知函（HJ202611-0007）",
            "markdown": "### 医保中断告知函\n王小明，请在 2026-12-08 前答复。",
            "single_title": "查看并确认",
            "single_url": LINK,
        },
    }
    assert result.provider_id.isdigit() and result.status_code == 200  # the task_id
    # the secret went only to gettoken; the lookup and the send carry the token
    [token_call] = _calls(fake_providers, "/gettoken")
    assert token_call.method == "GET"
    assert parse_qs(urlsplit(token_call.path).query)["appsecret"] == [DINGTALK_APP_SECRET]
    [lookup] = _calls(fake_providers, "/topapi/v2/user/getbymobile")
    assert lookup.method == "POST" and lookup.reply["result"] == {"userid": "wangxiaoming"}

    t2 = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)  # another send, same app
    t2.send(_message(link="", idempotency_key="k2"))
    assert fake_providers.token_requests("dingtalk_work") == 1  # the token is reused
    assert len(_calls(fake_providers, "/topapi/v2/user/getbymobile")) == 1  # so is the userid
    second = fake_providers.received["dingtalk_work"][1]["msg"]
    assert second == {
        "msgtype": "markdown",
        "markdown": {
            "title": "医保中断告知函（HJ202611-0007）",
            "text": "### 医保中断告知函\n王小明，请在 2026-12-08 前答复。",
        },
    }


def test_dingtalk_renews_an_expired_token_once_and_retries(fake_providers):
    t = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)
    t.send(_message())
    fake_providers.expire_tokens("dingtalk_work")
    t.send(_message(idempotency_key="k2"))
    assert fake_providers.token_requests("dingtalk_work") == 2
    sends = _calls(fake_providers, SEND)
    assert [r.reply["errcode"] for r in sends] == [0, 42001, 0]
    assert len(fake_providers.received["dingtalk_work"]) == 2


def test_a_token_is_renewed_five_minutes_before_it_expires(fake_providers, monkeypatch):
    from shebao.notify.transports import workapp

    clock = [1000.0]
    monkeypatch.setattr(workapp, "_now", lambda: clock[0])
    t = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)
    t.send(_message())
    clock[0] += 7200 - 300 - 1  # the token (7200 s) has a little over 5 minutes left: reused
    t.send(_message(idempotency_key="k2"))
    assert fake_providers.token_requests("dingtalk_work") == 1
    clock[0] += 2  # under 5 minutes left: a new one
    t.send(_message(idempotency_key="k3"))
    assert fake_providers.token_requests("dingtalk_work") == 2
    tokens = {parse_qs(urlsplit(r.path).query)["access_token"][0] for r in _calls(fake_providers, SEND)}
    assert len(tokens) == 2


def test_a_changed_secret_does_not_use_the_old_token(fake_providers):
    DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True).send(_message())
    bad = DingTalkWork(fake_providers.config("dingtalk_work", app_secret="wrong"), allow_private=True)
    err = _fails(bad)
    assert err.permanent and err.channel_broken and err.code == "40089"
    assert "获取 access_token 失败" in err.message and "AppSecret" in err.message
    assert DINGTALK_APP_SECRET not in err.message and "wrong" not in err.message


def test_dingtalk_member_not_found_fails_only_that_delivery(fake_providers):
    t = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)
    err = _fails(t, _message(to=(STRANGER,)))
    assert err.permanent and not err.channel_broken and err.code == "60121"
    assert "137****1111" in err.message and STRANGER not in err.message
    assert fake_providers.received["dingtalk_work"] == []
    # found once they join (not-found is not remembered)
    fake_providers.add_member("dingtalk_work", STRANGER, "newhire")
    t.send(_message(to=(STRANGER,)))
    assert fake_providers.received["dingtalk_work"][0]["userid_list"] == "newhire"


def test_dingtalk_rate_limit_waits_and_auth_errors_break_the_channel(fake_providers):
    t = DingTalkWork(fake_providers.config("dingtalk_work"), allow_private=True)
    fake_providers.block("dingtalk_work")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 60 and err.code == "90018" and "限流" in err.message
    fake_providers.unblock("dingtalk_work")
    fake_providers.error_next("dingtalk_work", "88:60011")  # 鉴权异常, sub_code 60011
    err = _fails(t)
    assert err.permanent and err.channel_broken and err.code == "60011"
    assert "根据手机号获取成员基本信息" in err.message
    fake_providers.error_next("dingtalk_work", -1)
    err = _fails(t)
    assert not err.permanent and err.retry_after is None  # busy: the outbox's backoff
    err = _fails(t, _message(to=("12345",)))
    assert err.permanent and not err.channel_broken and err.code == "invalid_mobile"


# --- WeCom app messages ---------------------------------------------------------------------------


def test_wecom_sends_a_textcard_with_the_link(fake_providers):
    t = WeComApp(fake_providers.config("wecom_app"), allow_private=True)
    long_text = "请阅读函件并确认。" * 100  # over 512 bytes: cut on a character boundary
    result = t.send(_message(text=long_text))
    [body] = fake_providers.received["wecom_app"]
    assert body["touser"] == "wangxiaoming" and body["agentid"] == WECOM_AGENT_ID
    assert body["msgtype"] == "textcard" and body["enable_duplicate_check"] == 1
    card = body["textcard"]
    assert (
        card["title"] == "医保中断告知函（HJ202611-0007）"
        and card["url"] == LINK
        and card["btntxt"] == "查看"
    )
    assert len(card["description"].encode("utf-8")) <= 512 and card["description"].endswith("…")
    assert result.provider_id.startswith("msg-")
    [token_call] = _calls(fake_providers, "/cgi-bin/gettoken")
    assert parse_qs(urlsplit(token_call.path).query)["corpsecret"] == [WECOM_APP_SECRET]

    t.send(_message(link="", idempotency_key="k2"))
    text = fake_providers.received["wecom_app"][1]
    assert text["msgtype"] == "text"
    assert (
        text["text"]["content"]
        == "医保中断告知函（HJ202611-0007）\n示例公司人事部门向您发送了《医保中断告知函》。"
    )
    assert fake_providers.token_requests("wecom_app") == 1
    assert len(_calls(fake_providers, "/cgi-bin/user/getuserid")) == 1


def test_wecom_renews_the_token_and_maps_its_errors(fake_providers):
    t = WeComApp(fake_providers.config("wecom_app"), allow_private=True)
    t.send(_message())
    fake_providers.expire_tokens("wecom_app")
    t.send(_message(idempotency_key="k2"))
    assert fake_providers.token_requests("wecom_app") == 2
    assert [r.reply["errcode"] for r in _calls(fake_providers, "/cgi-bin/message/send")] == [0, 42001, 0]

    err = _fails(t, _message(to=(STRANGER,)))
    assert err.permanent and not err.channel_broken and err.code == "46004"
    fake_providers.block("wecom_app")
    err = _fails(t)
    assert not err.permanent and err.retry_after == 60 and err.code == "45009"
    fake_providers.unblock("wecom_app")
    fake_providers.error_next("wecom_app", 60020)
    err = _fails(t)
    assert err.permanent and err.channel_broken and "可信 IP" in err.message
    err = _fails(WeComApp(fake_providers.config("wecom_app", secret="nope"), allow_private=True))
    assert err.permanent and err.channel_broken and err.code == "40001" and "Secret" in err.message
    fake_providers.remove_member("wecom_app", MOBILE)  # left: the userid cached an hour still sends…
    fake_providers.members["wecom_app"]["19900000000"] = "someoneelse"
    err = _fails(t)  # …and WeCom refuses a member it no longer has, for that delivery only
    assert err.permanent and not err.channel_broken and err.code == "81013"


def test_configuration_is_checked(db):
    with pytest.raises(ApplicationError) as e:
        services.channel_create(
            actor=SYSTEM,
            kind="dingtalk_work",
            name="钉钉",
            config={"app_key": "k", "app_secret": "s", "agent_id": 0},
        )
    assert "agent_id" in e.value.field_errors
    with pytest.raises(ApplicationError) as e:
        services.channel_create(
            actor=SYSTEM,
            kind="wecom_app",
            name="企微",
            config={
                "corp_id": "ww1",
                "secret": "s",
                "agent_id": 1000002,
                "endpoint": "https://x.example/?a=1",
            },
        )
    assert "查询参数" in e.value.field_errors["endpoint"]
    with pytest.raises(ApplicationError) as e:
        services.channel_create(actor=SYSTEM, kind="wecom_app", name="企微", config={"agent_id": 1})
    assert {"corp_id", "secret"} <= set(e.value.field_errors)


def test_private_endpoints_need_the_setting(db, settings):
    settings.SHEBAO_ALLOW_PRIVATE_URLS = False
    config = {"app_key": "k", "app_secret": "s", "agent_id": 1, "endpoint": "http://10.1.2.3:8080"}
    with pytest.raises(ApplicationError) as e:
        services.channel_create(actor=SYSTEM, kind="dingtalk_work", name="钉钉", config=config)
    assert "endpoint" in e.value.field_errors
    t = DingTalkWork(config, allow_private=False)  # and every send checks again
    err = _fails(t)
    assert err.permanent and not Channel.objects.filter(kind="dingtalk_work").exists()


# --- through the outbox: a case's letter to the employee ------------------------------------------


@pytest.fixture
def worker(make_employee):
    return make_employee(name="王小明", phone=MOBILE, email="")


def _channel(server: FakeProviders, kind: str, **config) -> Channel:
    return services.channel_create(
        actor=SYSTEM, kind=kind, name=f"{kind}-通道", config=server.config(kind, **config), for_people=True
    )


def letter(employee, key="ack1", **kw):
    with transaction.atomic():
        return services.employee_message_enqueue(
            event="case_letter", employee=employee, key=key, context=dict(LETTER), **kw
        )


def test_a_letter_goes_as_a_dingtalk_work_notice(worker, fake_providers):
    channel = _channel(fake_providers, "dingtalk_work")
    assert channel.config.get("app_secret") is None and DINGTALK_APP_SECRET not in channel.secrets_enc
    assert services.channel_secrets(channel) == {"app_secret": DINGTALK_APP_SECRET}
    (n,) = letter(worker)
    assert n.channel_id == channel.pk and n.status == N.PENDING and n.dest_key == f"e{worker.pk}"
    assert n.address_masked == "139****5678" and MOBILE not in n.address_enc
    assert n.idempotency_key == f"ack1:c{channel.pk}:e{worker.pk}"
    assert services.notifications_flush_one(notification=n) == "sent"
    [body] = fake_providers.received["dingtalk_work"]
    card = body["msg"]["action_card"]
    assert body["msg"]["msgtype"] == "action_card" and card["single_url"] == LINK
    assert card["title"] == "医保中断告知函（HJ202611-0007）"
    assert "王小明" in card["markdown"] and "2026-12-08" in card["markdown"]
    n.refresh_from_db()
    channel.refresh_from_db()
    assert n.status == N.SENT and n.provider_id.isdigit() and channel.status == Channel.Status.OK


def test_a_letter_goes_as_a_wecom_textcard(worker, fake_providers):
    _channel(fake_providers, "wecom_app")
    (n,) = letter(worker)
    assert services.notifications_flush_one(notification=n) == "sent"
    [body] = fake_providers.received["wecom_app"]
    card = body["textcard"]
    assert card["url"] == LINK and card["title"] == "医保中断告知函（HJ202611-0007）"
    assert "医保中断告知函" in card["description"] and "2026-12-15 18:00" in card["description"]


def test_work_is_a_default_kind_after_sms_and_only_the_first_work_channel(worker, fake_providers, sms_sink):
    first = _channel(fake_providers, "dingtalk_work")
    _channel(fake_providers, "wecom_app")
    rows = letter(worker)
    assert [n.channel.kind for n in rows] == ["sms_aliyun", "dingtalk_work"]
    assert rows[1].channel_id == first.pk
    assert [n.channel.kind for n in letter(worker, key="ack2", kinds=("sms",))] == ["sms_aliyun"]
    nophone = services.employee_message_enqueue  # an employee without a mobile: no work notice
    from shebao.roster.models import Employee

    Employee.objects.filter(pk=worker.pk).update(phone_enc="")
    worker.refresh_from_db()
    with transaction.atomic():
        assert nophone(event="case_letter", employee=worker, key="ack3", context=dict(LETTER)) == []


def test_a_one_time_code_never_goes_as_a_work_notice(worker, fake_providers, sms_sink):
    _channel(fake_providers, "dingtalk_work")
    for kinds in (("sms", "work"), ("work",), services.EMPLOYEE_KINDS):
        with transaction.atomic():
            rows = services.employee_message_enqueue(
                event="otp",
                employee=worker,
                key=f"otp-{len(kinds)}",
                context={"code": "482913", "minutes": 10},
                kinds=kinds,
            )
        assert "dingtalk_work" not in {n.channel.kind for n in rows}
    assert not Notification.objects.filter(channel__kind="dingtalk_work").exists()


def test_member_not_found_leaves_the_channel_ok(worker, fake_providers, admin):
    channel = _channel(fake_providers, "dingtalk_work")
    fake_providers.remove_member("dingtalk_work", MOBILE)
    (n,) = letter(worker)
    assert services.notifications_flush_one(notification=n) == "failed"
    n.refresh_from_db()
    channel.refresh_from_db()
    assert n.status == N.FAILED and "找不到手机号为 139****5678 的成员" in n.last_error
    assert channel.status != Channel.Status.FAILING and channel.failing_since is None
    assert not Notification.objects.filter(event="channel_failing").exists()  # no alarm for admins
    [attempt] = DeliveryAttempt.objects.filter(notification=n)
    assert attempt.permanent and attempt.error_code == "60121"


def test_rate_limit_pauses_the_channel_and_a_later_try_sends(worker, fake_providers):
    channel = _channel(fake_providers, "wecom_app")
    fake_providers.block("wecom_app")
    (n,) = letter(worker)
    now = timezone.now()
    assert services.notifications_flush_one(notification=n, now=now) == "paused"
    n.refresh_from_db()
    channel.refresh_from_db()
    assert n.status == N.PENDING and n.next_attempt_at >= now + dt.timedelta(seconds=60)
    assert channel.paused_until == now + dt.timedelta(seconds=60)
    fake_providers.unblock("wecom_app")
    later = now + dt.timedelta(seconds=61)
    assert services.notifications_flush(now=later).sent == 1
    assert len(fake_providers.received["wecom_app"]) == 1


def test_broken_credentials_mark_the_channel_failing(worker, fake_providers, admin):
    channel = _channel(fake_providers, "wecom_app")
    fake_providers.error_next("wecom_app", 60020)
    (n,) = letter(worker)
    assert services.notifications_flush_one(notification=n) == "failed"
    channel.refresh_from_db()
    assert channel.status == Channel.Status.FAILING and "可信 IP" in channel.last_error
    assert Notification.objects.filter(event="channel_failing", user=admin).exists()


def test_a_test_message_goes_to_the_number_given(fake_providers, admin):
    channel = _channel(fake_providers, "dingtalk_work")
    outcome = services.channel_test(actor=Actor(user=admin, via="test"), channel=channel, to=MOBILE)
    assert outcome.ok, outcome.error
    [body] = fake_providers.received["dingtalk_work"]
    assert body["msg"]["msgtype"] == "markdown" and body["userid_list"] == "wangxiaoming"


def test_the_case_timeline_names_the_channels():
    from shebao.cases.services.letters import _channel_label

    assert _channel_label("dingtalk_work") == "钉钉工作通知"
    assert _channel_label("wecom_app") == "企业微信应用消息"


# --- the channel editor ---------------------------------------------------------------------------


def test_the_channel_editor_creates_both_kinds(login, admin, fake_providers):
    c = login(admin)
    body = c.get("/notify/channels/new/").content.decode()
    assert "钉钉工作通知" in body and "企业微信应用消息" in body
    form = c.get("/notify/channels/new/?kind=dingtalk_work").content.decode()
    assert 'name="cfg_app_key"' in form and 'name="cfg_agent_id"' in form and 'name="for_people"' in form
    assert re.search(r'<input type="password" name="cfg_app_secret"', form)
    response = c.post(
        "/notify/channels/new/",
        {
            "kind": "dingtalk_work",
            "name": "钉钉工作通知",
            "language": "zh-hans",
            "enabled": "on",
            "for_people": "on",
            "cfg_app_key": "dingworktestappkey",
            "cfg_app_secret": DINGTALK_APP_SECRET,
            "cfg_agent_id": str(DINGTALK_AGENT_ID),
            "cfg_endpoint": fake_providers.base_url,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dt_channel = Channel.objects.get(name="钉钉工作通知")
    assert dt_channel.kind == "dingtalk_work" and dt_channel.for_people and dt_channel.enabled
    assert dt_channel.config == {
        "app_key": "dingworktestappkey",
        "agent_id": DINGTALK_AGENT_ID,
        "endpoint": fake_providers.base_url,
    }
    page = c.get(response["Location"]).content.decode()
    assert DINGTALK_APP_SECRET not in page and "已设置（留空则不修改）" in page

    form = c.get("/notify/channels/new/?kind=wecom_app").content.decode()
    assert 'name="cfg_corp_id"' in form and re.search(r'<input type="password" name="cfg_secret"', form)
    data = {
        "kind": "wecom_app",
        "name": "企业微信",
        "language": "zh-hans",
        "enabled": "on",
        "for_people": "on",
        "cfg_corp_id": "ww0123456789abcdef",
        "cfg_secret": WECOM_APP_SECRET,
        "cfg_agent_id": "abc",
    }
    response = c.post("/notify/channels/new/", data)
    assert response.status_code == 422
    assert re.search(r'data-testid="error-cfg_agent_id"><li>应为整数</li>', response.content.decode())
    response = c.post("/notify/channels/new/", data | {"cfg_agent_id": str(WECOM_AGENT_ID)})
    assert response.status_code == 302
    wc = Channel.objects.get(name="企业微信")
    assert wc.config == {"corp_id": "ww0123456789abcdef", "agent_id": WECOM_AGENT_ID, "endpoint": ""}
    assert services.channel_secrets(wc) == {"secret": WECOM_APP_SECRET}
