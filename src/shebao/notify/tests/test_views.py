"""The notifications room's pages: channels (added from the transport's schema, secrets never
shown back, SSRF refused, test messages), message templates (save, live preview, reset), the
delivery log with every attempt, the in-app inbox and its badge, preferences — and who may see
and do what."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from shebao.core.context import Actor
from shebao.notify import services
from shebao.notify.models import Channel, DeliveryAttempt, MessageTemplate, Notification, Preference
from shebao.notify.tests.recorder import Recorder
from shebao.notify.transports import TRANSPORTS, TransportError
from shebao.rules.tests.test_views import scene  # noqa: F401 (the fixture)

N = Notification.Status
SYSTEM = Actor.system(via="test")
SECRET = "whsec-Very-Secret-42"


def _body(response) -> str:
    return response.content.decode()


@pytest.fixture
def recorder(monkeypatch):
    monkeypatch.setitem(TRANSPORTS, "webhook", ("记录器", "shebao.notify.tests.recorder.Recorder"))
    Recorder.sent.clear()
    Recorder.failures.clear()
    yield Recorder
    Recorder.sent.clear()
    Recorder.failures.clear()


def _webhook_form(**over) -> dict:
    return {
        "kind": "webhook",
        "name": "OA 工单",
        "enabled": "on",
        "language": "zh-hans",
        "rate_limit": "",
        "cfg_url": "http://127.0.0.1:9/hook",
        "cfg_secret": SECRET,
        "cfg_headers": "Authorization: Bearer abc\nX-Team: hr",
        **over,
    }


def _notification(channel, *, status=N.FAILED, **kw) -> Notification:
    now = timezone.now()
    data = {
        "event": Notification.Event.TEST,
        "channel": channel,
        "idempotency_key": f"k{Notification.objects.count() + 1}:{channel.pk}",
        "status": status,
        "due_at": now,
        "next_attempt_at": now,
        "created_at": now,
        "subject": "社保预警测试",
        "body": "正文第一行",
        "rendered": True,
        **kw,
    }
    return Notification.objects.create(**data)


# --- permissions ----------------------------------------------------------------------------------


URLS_ADMIN = [
    "/notify/channels/",
    "/notify/channels/new/",
    "/notify/templates/",
    "/notify/templates/finding/email/zh-hans/",
]


def test_anonymous_is_sent_to_login(client, org):
    for url in [*URLS_ADMIN, "/notify/log/", "/notify/inbox/", "/notify/preferences/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_only_hr_admins_manage_channels_and_templates(login, admin, clerk, manager, auditor, staff_employee):
    for user in (clerk, manager, auditor, staff_employee):
        c = login(user)
        for url in URLS_ADMIN:
            assert c.get(url).status_code == 403, (user.username, url)
        assert c.post("/notify/channels/new/", _webhook_form()).status_code == 403
    assert not Channel.objects.filter(kind="webhook").exists()
    for url in URLS_ADMIN:
        assert login(admin).get(url).status_code == 200, url


def test_the_log_is_for_admins_and_auditors(login, admin, clerk, manager, auditor, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    n = _notification(channel)
    for user in (clerk, manager):
        assert login(user).get("/notify/log/").status_code == 403
        assert login(user).get(f"/notify/log/{n.pk}/").status_code == 403
    c = login(auditor)
    assert c.get("/notify/log/").status_code == 200
    body = _body(c.get(f"/notify/log/{n.pk}/"))
    assert "社保预警测试" in body and 'data-testid="retry"' not in body  # reads, changes nothing
    assert c.post(f"/notify/log/{n.pk}/retry/").status_code == 403
    assert Notification.objects.get(pk=n.pk).status == N.FAILED


def test_nav_shows_the_inbox_to_everyone_and_the_admin_pages_by_role(login, admin, auditor, staff_employee):
    body = _body(login(admin).get("/notify/inbox/"))
    assert 'data-testid="nav-inbox"' in body
    assert 'href="/notify/channels/"' in body and 'href="/notify/templates/"' in body
    assert 'href="/notify/log/"' in body
    body = _body(login(auditor).get("/notify/inbox/"))
    assert 'href="/notify/log/"' in body and 'href="/notify/channels/"' not in body
    body = _body(login(staff_employee).get("/notify/inbox/"))
    assert 'data-testid="nav-inbox"' in body and 'href="/notify/preferences/"' in body
    assert 'href="/notify/log/"' not in body


# --- channels -------------------------------------------------------------------------------------


def test_channel_list_shows_the_builtin_inapp_channel(login, admin):
    services.inapp_channel()
    body = _body(login(admin).get("/notify/channels/"))
    assert "站内信" in body and "内置" in body and "添加通道" in body


def test_choose_a_kind_then_get_a_form_from_its_schema(login, admin):
    c = login(admin)
    body = _body(c.get("/notify/channels/new/"))
    for label in ("邮件", "阿里云短信", "钉钉群机器人", "企业微信群机器人", "飞书群机器人", "Webhook"):
        assert label in body
    assert "?kind=inapp" not in body
    assert c.get("/notify/channels/new/?kind=inapp").status_code == 404
    body = _body(c.get("/notify/channels/new/?kind=email"))
    assert 'name="cfg_host"' in body and 'name="cfg_from"' in body
    assert re.search(r'<input type="password" name="cfg_password"', body)  # a secret
    assert re.search(r'<select name="cfg_security"', body) and "STARTTLS（587）" in body  # a Literal
    assert re.search(r'<textarea name="cfg_to"', body)  # a list
    assert 'name="for_people"' in body  # personal kinds only
    body = _body(c.get("/notify/channels/new/?kind=dingtalk"))
    assert re.search(r'<input type="checkbox" name="cfg_at_all"', body)  # a boolean
    assert re.search(r'<input type="password" name="cfg_url"', body)  # the URL carries the token
    assert 'name="for_people"' not in body
    body = _body(c.get("/notify/channels/new/?kind=wecom"))
    assert 'name="rate_limit" value="20"' in body  # the provider's limit by default


def test_create_a_webhook_channel_without_echoing_the_secret(login, admin, settings):
    settings.SHEBAO_ALLOW_PRIVATE_URLS = True
    c = login(admin)
    response = c.post("/notify/channels/new/", _webhook_form())
    channel = Channel.objects.get(name="OA 工单")
    assert response.status_code == 302 and response["Location"] == f"/notify/channels/{channel.pk}/"
    assert channel.config == {
        "url": "http://127.0.0.1:9/hook",
        "headers": {"Authorization": "Bearer abc", "X-Team": "hr"},
    }
    assert SECRET not in channel.secrets_enc and services.channel_secrets(channel) == {"secret": SECRET}
    body = _body(c.get(response["Location"]))
    assert SECRET not in body
    assert "已设置（留空则不修改）" in body and 'value="http://127.0.0.1:9/hook"' in body
    assert "未测试" in body
    assert SECRET not in _body(c.get("/notify/channels/"))


def test_edit_keeps_the_secret_when_left_blank(login, admin):
    channel = services.channel_create(
        actor=SYSTEM, kind="webhook", name="OA", config={"url": "http://127.0.0.1:9/hook", "secret": SECRET}
    )
    c = login(admin)
    response = c.post(
        f"/notify/channels/{channel.pk}/", _webhook_form(name="OA 2", cfg_secret="", rate_limit="30")
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "OA 2" and channel.rate_limit == 30
    assert services.channel_secrets(channel) == {"secret": SECRET}
    c.post(f"/notify/channels/{channel.pk}/", _webhook_form(name="OA 2", cfg_secret="new-secret"))
    channel.refresh_from_db()
    assert services.channel_secrets(channel) == {"secret": "new-secret"}


def test_validation_errors_are_chinese_and_on_the_field(login, admin):
    c = login(admin)
    response = c.post("/notify/channels/new/", _webhook_form(cfg_url="", name=""))
    assert response.status_code == 422
    body = _body(response)
    assert re.search(r'data-testid="error-name"><li>请填写名称</li>', body)
    response = c.post("/notify/channels/new/", _webhook_form(cfg_url="ftp://x"))
    body = _body(response)
    assert re.search(r'data-testid="error-cfg_url"><li>[^<]*(http|地址)[^<]*</li>', body), body
    response = c.post("/notify/channels/new/", _webhook_form(cfg_headers="no colon here"))
    assert "应写成“名称: 值”" in _body(response)
    response = c.post(
        "/notify/channels/new/?kind=dingtalk",
        {
            "kind": "dingtalk",
            "name": "钉钉",
            "language": "zh-hans",
            "cfg_url": "https://oapi.dingtalk.com/robot/send",
        },
    )
    assert re.search(r'data-testid="error-cfg_url"><li>[^<]*access_token', _body(response))
    response = c.post(
        "/notify/channels/new/",
        {
            "kind": "email",
            "name": "邮箱",
            "language": "zh-hans",
            "cfg_host": "smtp.example.com",
            "cfg_port": "abc",
        },
    )
    body = _body(response)
    assert re.search(r'data-testid="error-cfg_from"><li>必填</li>', body)
    assert re.search(r'data-testid="error-cfg_port"><li>应为整数</li>', body)
    assert not Channel.objects.exclude(kind="inapp").exists()


def test_private_addresses_are_refused_unless_allowed(login, admin, settings):
    settings.SHEBAO_ALLOW_PRIVATE_URLS = False
    c = login(admin)
    response = c.post("/notify/channels/new/", _webhook_form(cfg_url="http://10.0.0.1/x"))
    assert response.status_code == 422
    body = _body(response)
    assert 'data-testid="error-cfg_url"' in body
    error = re.search(r'data-testid="error-cfg_url"><li>([^<]*)</li>', body).group(1)
    assert re.search(r"[\u4e00-\u9fff]", error), error  # said in Chinese
    assert not Channel.objects.filter(kind="webhook").exists()


def test_send_a_test_message_inline(login, admin, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    c = login(admin)
    body = _body(c.post(f"/notify/channels/{channel.pk}/test/", {}, HTTP_HX_REQUEST="true"))
    assert 'data-testid="test-ok"' in body and "测试消息已发送成功" in body
    assert 'hx-swap-oob="true"' in body and "正常" in body  # the status follows
    assert len(recorder.sent) == 1
    recorder.failures.append(TransportError("签名不匹配（errcode 310000）", permanent=True, code="310000"))
    body = _body(c.post(f"/notify/channels/{channel.pk}/test/", {}, HTTP_HX_REQUEST="true"))
    assert 'data-testid="test-error"' in body and "签名不匹配（errcode 310000）" in body
    channel.refresh_from_db()
    assert channel.status == Channel.Status.FAILING
    body = _body(c.get("/notify/channels/"))
    assert "故障" in body and "签名不匹配" in body
    # without HTMX: back to the page with a message
    response = c.post(f"/notify/channels/{channel.pk}/test/", {}, follow=True)
    assert "测试消息已发送" in _body(response)


def test_personal_channels_ask_for_a_test_address(login, admin, monkeypatch):
    monkeypatch.setitem(
        TRANSPORTS, "email", ("记录器（个人）", "shebao.notify.tests.recorder.PersonalRecorder")
    )
    channel = services.channel_create(actor=SYSTEM, kind="email", name="邮箱", config={}, for_people=True)
    c = login(admin)
    assert 'name="to"' in _body(c.get(f"/notify/channels/{channel.pk}/"))
    body = _body(c.post(f"/notify/channels/{channel.pk}/test/", {"to": ""}, HTTP_HX_REQUEST="true"))
    assert "请填写测试消息的接收地址" in body  # the admin has no email on file
    body = _body(
        c.post(f"/notify/channels/{channel.pk}/test/", {"to": "hr@example.com"}, HTTP_HX_REQUEST="true")
    )
    assert 'data-testid="test-ok"' in body
    assert Recorder.sent[-1].to == ("hr@example.com",)


def test_toggle_and_delete_refused_while_pending(login, admin, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    c = login(admin)
    c.post(f"/notify/channels/{channel.pk}/toggle/")
    channel.refresh_from_db()
    assert not channel.enabled
    n = _notification(channel, status=N.PENDING)
    response = c.post(f"/notify/channels/{channel.pk}/delete/", follow=True)
    assert "待发送的通知" in _body(response) and Channel.objects.filter(pk=channel.pk).exists()
    Notification.objects.filter(pk=n.pk).update(status=N.CANCELLED)
    response = c.post(f"/notify/channels/{channel.pk}/delete/", follow=True)
    assert "已删除通道“群”" in _body(response) and not Channel.objects.filter(pk=channel.pk).exists()


def test_the_inapp_channel_is_not_editable(login, admin):
    inapp = services.inapp_channel()
    c = login(admin)
    body = _body(c.get(f"/notify/channels/{inapp.pk}/"))
    assert (
        "内置通道" in body and 'data-testid="channel-form"' not in body and 'data-testid="delete"' not in body
    )
    c.post(f"/notify/channels/{inapp.pk}/", {"name": "改名"})
    c.post(f"/notify/channels/{inapp.pk}/delete/")
    inapp.refresh_from_db()
    assert inapp.name == "站内信"


def test_channel_detail_lists_its_recent_notifications(login, admin, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    n = _notification(channel, subject="最近一条")
    body = _body(login(admin).get(f"/notify/channels/{channel.pk}/"))
    assert "最近一条" in body and f"/notify/log/{n.pk}/" in body


# --- templates ------------------------------------------------------------------------------------


def test_templates_overview_marks_custom_and_default(login, admin):
    MessageTemplate.objects.create(event="finding", format="email", language="zh-hans", subject="S", body="B")
    body = _body(login(admin).get("/notify/templates/"))
    cell = re.search(r'data-testid="tpl-finding-email">(.*?)</a>', body).group(1)
    assert "自定义" in cell
    cell = re.search(r'data-testid="tpl-finding-sms">(.*?)</a>', body).group(1)
    assert "默认" in cell
    assert "医保中断" in body  # the rule kinds are listed too


def test_template_editor_save_preview_reset(login, admin):
    c = login(admin)
    url = "/notify/templates/finding/email/zh-hans/"
    body = _body(c.get(url))
    assert "系统默认模板" in body and "{{ title }}" in body  # the default, prefilled
    assert 'name="html"' in body and "可用变量" in body and "next_step" in body
    # live preview of a draft
    draft = {
        "subject": "【{{ severity_label }}】新标题",
        "body": "{{ title }} / {{ entity }}",
        "html": "<p>{{ title }}</p>",
    }
    body = _body(c.post(url + "preview/", draft, HTTP_HX_REQUEST="true"))
    assert 'data-testid="preview-result"' in body and "新标题" in body
    assert re.search(r'<iframe class="mail-frame" sandbox=""[^>]*srcdoc="&lt;p&gt;', body)
    # save
    response = c.post(url, draft)
    assert response.status_code == 302
    row = MessageTemplate.objects.get(event="finding", format="email", language="zh-hans")
    assert row.subject == draft["subject"] and row.updated_by == admin
    body = _body(c.get(url))
    assert "自定义模板" in body and "新标题" in body and 'data-testid="reset"' in body
    # a rule kind without its own template uses the general one
    assert "沿用“预警（通用）”的自定义模板" in _body(
        c.get("/notify/templates/medical_interrupted/email/zh-hans/")
    )
    # reset
    response = c.post(url + "reset/", follow=True)
    assert "已恢复为默认模板" in _body(response)
    assert not MessageTemplate.objects.exists()


def test_a_broken_template_shows_the_syntax_error(login, admin):
    c = login(admin)
    url = "/notify/templates/finding/text/zh-hans/"
    broken = {"subject": "{{ title }}", "body": "{% if title %}没有结束"}
    body = _body(c.post(url + "preview/", broken, HTTP_HX_REQUEST="true"))
    assert 'data-testid="preview-error"' in body and "模板语法错误" in body and "endif" in body
    response = c.post(url, broken)
    assert response.status_code == 422 and "模板语法错误" in _body(response)
    assert not MessageTemplate.objects.exists()
    body = _body(c.post(url, {"subject": "x", "body": ""}))
    assert "正文模板不能为空" in body


def test_sms_templates_are_parameter_lines(login, admin):
    c = login(admin)
    url = "/notify/templates/finding/sms/zh-hans/"
    body = _body(c.get(url))
    assert 'name="subject"' not in body and "参数名: 取值" in body
    body = _body(c.post(url + "preview/", {"body": "name: {{ employee_name }}"}, HTTP_HX_REQUEST="true"))
    assert "短信模板缺少参数" in body
    good = {"body": "name: {{ employee_name }}\ntitle: {{ kind_label }}\ndeadline: {{ deadline }}"}
    body = _body(c.post(url + "preview/", good, HTTP_HX_REQUEST="true"))
    assert 'data-testid="preview-result"' in body and ">name<" in body


def test_unknown_template_keys_are_404(login, admin):
    c = login(admin)
    assert c.get("/notify/templates/nope/email/zh-hans/").status_code == 404
    assert c.get("/notify/templates/finding/fax/zh-hans/").status_code == 404
    assert c.get("/notify/templates/finding/email/fr/").status_code == 404


# --- the log --------------------------------------------------------------------------------------


def test_log_lists_filters_and_paginates(login, admin, recorder, settings):
    a = services.channel_create(actor=SYSTEM, kind="webhook", name="甲群", config={})
    b = services.channel_create(actor=SYSTEM, kind="webhook", name="乙群", config={})
    failed = _notification(a, subject="失败的那条", last_error="HTTP 500")
    sent = _notification(b, status=N.SENT, subject="成功的那条")
    _notification(services.inapp_channel(), status=N.SENT, subject="站内信不在这里", user=admin)
    c = login(admin)
    body = _body(c.get("/notify/log/"))
    assert "失败的那条" in body and "成功的那条" in body and "站内信不在这里" not in body
    body = _body(c.get("/notify/log/?status=failed"))
    assert "失败的那条" in body and "成功的那条" not in body
    body = _body(c.get(f"/notify/log/?channel={b.pk}"))
    assert f'data-notification="{sent.pk}"' in body and f'data-notification="{failed.pk}"' not in body
    body = _body(c.get("/notify/log/?q=成功"))
    assert "成功的那条" in body and "失败的那条" not in body
    body = _body(c.get("/notify/log/?status=failed", HTTP_HX_REQUEST="true"))
    assert body.lstrip().startswith('<div id="log-results">')
    settings.SHEBAO_PAGE_SIZE = 1
    body = _body(c.get("/notify/log/"))
    assert "第 1 / 2 页" in body


def test_log_detail_shows_every_attempt_and_the_message(login, admin, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    n = _notification(channel, body="第一行\n第二行", last_error="HTTP 503", attempts=2)
    t0 = timezone.now() - dt.timedelta(minutes=3)
    DeliveryAttempt.objects.create(
        notification=n, number=1, started_at=t0, duration_ms=120, status_code=503, error_code="http_503",
        error="服务暂时不可用", response='{"error": "busy"}', retry_at=t0 + dt.timedelta(minutes=1),
    )  # fmt: skip
    DeliveryAttempt.objects.create(
        notification=n, number=2, started_at=t0 + dt.timedelta(minutes=1), duration_ms=80, status_code=400,
        error_code="bad", error="请求无效", permanent=True,
    )  # fmt: skip
    c = login(admin)
    body = _body(c.get(f"/notify/log/{n.pk}/"))
    assert 'data-attempt="1"' in body and 'data-attempt="2"' in body
    assert "服务暂时不可用" in body and "http_503" in body and "120 ms" in body and "503" in body
    assert "{&quot;error&quot;: &quot;busy&quot;}" in body
    assert "失败，将重试" in body and "失败，不再重试" in body
    assert "第一行\n第二行" in body
    # retry a failed one
    response = c.post(f"/notify/log/{n.pk}/retry/", follow=True)
    assert "已安排重发" in _body(response)
    n.refresh_from_db()
    assert n.status in (N.PENDING, N.SENT)
    # cancel a pending one
    p = _notification(channel, status=N.PENDING)
    response = c.post(f"/notify/log/{p.pk}/cancel/", follow=True)
    assert "已取消发送" in _body(response)
    assert Notification.objects.get(pk=p.pk).status == N.CANCELLED
    response = c.post(f"/notify/log/{p.pk}/cancel/", follow=True)
    assert "只有待发送的通知可以取消" in _body(response)


def test_log_detail_links_digests_and_their_items(login, admin, recorder):
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    digest = _notification(channel, status=N.SENT, event=Notification.Event.DIGEST, subject="3 条社保预警")
    items = [_notification(channel, status=N.MERGED, digest=digest, subject=f"条目{i}") for i in range(3)]
    c = login(admin)
    body = _body(c.get(f"/notify/log/{digest.pk}/"))
    assert "并入这条摘要的 3 条通知" in body
    for item in items:
        assert f'href="/notify/log/{item.pk}/"' in body
    body = _body(c.get(f"/notify/log/{items[0].pk}/"))
    assert f'href="/notify/log/{digest.pk}/" data-testid="digest-link"' in body


def test_inapp_notifications_have_no_log_page(login, admin):
    n = _notification(services.inapp_channel(), status=N.SENT, user=admin)
    assert login(admin).get(f"/notify/log/{n.pk}/").status_code == 404


# --- the inbox ------------------------------------------------------------------------------------


def _inbox(user, n=3) -> list[Notification]:
    inapp = services.inapp_channel()
    return [
        _notification(
            inapp,
            status=N.SENT,
            user=user,
            subject=f"通道“群{i}”发送失败",
            body=f"错误 {i}",
            event=Notification.Event.CHANNEL_FAILING,
            severity="critical",
            extra={"channel_id": 99},
        )  # fmt: skip
        for i in range(n)
    ]


def test_inbox_lists_marks_read_and_the_nav_counts(login, clerk, admin):
    items = _inbox(clerk)
    _inbox(admin, 1)
    c = login(clerk)
    body = _body(c.get("/notify/inbox/"))
    assert re.search(r'data-testid="inbox-badge">3<', body)
    for n in items:
        assert f'data-item="{n.pk}"' in body
    assert body.count('class="unread"') == 3 and "群0" in body and "错误 0" in body
    assert "群" in body and 'data-testid="mark-all-read"' in body
    assert f'data-item="{Notification.objects.filter(user=admin).get().pk}"' not in body  # only one's own
    # one read
    c.post("/notify/inbox/read/", {"ids": [items[0].pk]})
    assert Notification.objects.get(pk=items[0].pk).read_at is not None
    body = _body(c.get("/notify/inbox/"))
    assert re.search(r'data-testid="inbox-badge">2<', body) and body.count('class="unread"') == 2
    assert f'data-item="{items[0].pk}"' not in _body(c.get("/notify/inbox/?unread=1"))
    # opening an item marks it read and goes to its link
    response = c.get(f"/notify/inbox/{items[1].pk}/")
    assert response.status_code == 302 and response["Location"] == "/notify/channels/99/"
    assert Notification.objects.get(pk=items[1].pk).read_at is not None
    # someone else's item
    other = Notification.objects.get(user=admin)
    assert c.get(f"/notify/inbox/{other.pk}/").status_code == 404
    c.post("/notify/inbox/read/", {"ids": [other.pk]})
    assert Notification.objects.get(pk=other.pk).read_at is None
    # all
    response = c.post("/notify/inbox/read/", {"all": "1"}, follow=True)
    body = _body(response)
    assert "已将 1 条通知标为已读" in body and 'data-testid="inbox-badge"' not in body


def test_inbox_links_findings_and_paginates(login, clerk, scene, settings):  # noqa: F811
    # the default rules told the Beijing HR specialist in-app when they found the problems
    rows = Notification.objects.filter(user=clerk, channel__kind="inapp", event="finding")
    assert rows.count() >= 3
    n = rows.order_by("-id").first()
    c = login(clerk)
    body = _body(c.get("/notify/inbox/"))
    assert f'href="/notify/inbox/{n.pk}/"' in body and n.finding.title[:6] in body
    response = c.get(f"/notify/inbox/{n.pk}/")
    assert response["Location"] == f"/rules/findings/{n.finding_id}/"
    settings.SHEBAO_PAGE_SIZE = 2
    body = _body(c.get("/notify/inbox/"))
    assert body.count("data-item=") == 2 and "第 1 / " in body


def test_every_signed_in_user_has_an_inbox(login, staff_employee):
    body = _body(login(staff_employee).get("/notify/inbox/"))
    assert "还没有通知" in body


# --- preferences ----------------------------------------------------------------------------------


def test_preferences_save_and_validate(login, clerk):
    c = login(clerk)
    body = _body(c.get("/notify/preferences/"))
    assert re.search(r'<input type="checkbox" name="inapp"[^>]*disabled', body)
    assert re.search(r'<input type="checkbox" name="email"[^>]*checked', body)  # the default
    response = c.post("/notify/preferences/", {"sms": "on", "phone": ""})
    assert response.status_code == 422
    assert re.search(r'data-testid="error-phone"><li>选择短信接收，请填写手机号</li>', _body(response))
    response = c.post("/notify/preferences/", {"sms": "on", "phone": "12345"})
    assert "手机号“12345”无效" in _body(response)
    response = c.post("/notify/preferences/", {"sms": "on", "phone": "13812345678"})
    assert response.status_code == 302
    pref = Preference.objects.get(user=clerk)
    assert pref.channels == ["inapp", "sms"] and pref.phone_masked == "138****5678"
    body = _body(c.get("/notify/preferences/"))
    assert "138****5678" in body and "13812345678" not in body
    # blank keeps the number; the box clears it
    c.post("/notify/preferences/", {"sms": "on", "phone": ""})
    assert Preference.objects.get(user=clerk).phone_masked == "138****5678"
    response = c.post("/notify/preferences/", {"clear_phone": "on"})
    assert response.status_code == 302 and Preference.objects.get(user=clerk).phone_masked == ""
    # email needs an address on the account
    clerk.email = ""
    clerk.save()
    response = c.post("/notify/preferences/", {"email": "on"})
    assert "请先在账号中填写邮箱" in _body(response)


# --- the demo's mail sink -------------------------------------------------------------------------


def test_mail_sink_only_in_demo_or_debug(login, admin, clerk, settings, tmp_path):
    from email.message import EmailMessage

    from shebao.notify.mailsink import sink_store

    settings.SHEBAO_MAIL_SINK_DIR = tmp_path
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "演示邮件", "hr@example.com", "a@example.com"
    msg.set_content("纯文本正文")
    msg.add_alternative("<p>HTML <b>正文</b></p>", subtype="html")
    path = sink_store(tmp_path, msg.as_bytes())
    settings.DEBUG = False
    settings.SHEBAO_DEMO = False
    assert login(admin).get("/notify/mail-sink/").status_code == 404
    settings.SHEBAO_DEMO = True
    assert login(clerk).get("/notify/mail-sink/").status_code == 403
    c = login(admin)
    body = _body(c.get("/notify/mail-sink/"))
    assert "演示邮件" in body and path.name in body
    body = _body(c.get(f"/notify/mail-sink/{path.name}/"))
    assert "纯文本正文" in body and 'sandbox=""' in body and 'srcdoc="&lt;p&gt;HTML' in body
    assert c.get("/notify/mail-sink/nope.eml/").status_code == 404
    assert 'href="/notify/mail-sink/"' in _body(c.get("/notify/channels/"))


def test_pages_render_in_english(login, admin, recorder, settings):
    settings.SHEBAO_DEMO = True
    channel = services.channel_create(actor=SYSTEM, kind="webhook", name="群", config={})
    n = _notification(channel)
    _inbox(admin, 1)
    c = login(admin)
    c.cookies["django_language"] = "en"
    for url in (
        "/notify/channels/",
        "/notify/channels/new/",
        "/notify/channels/new/?kind=email",
        f"/notify/channels/{channel.pk}/",
        "/notify/templates/",
        "/notify/templates/digest/email/en/",
        "/notify/templates/finding/sms/en/",
        "/notify/log/",
        f"/notify/log/{n.pk}/",
        "/notify/inbox/",
        "/notify/preferences/",
        "/notify/mail-sink/",
    ):
        response = c.get(url)
        assert response.status_code == 200, url
    body = _body(
        c.post("/notify/templates/digest/email/en/preview/", {"subject": "{{ count }}", "body": "x"})
    )
    assert 'data-testid="preview-result"' in body
