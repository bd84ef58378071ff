"""The notifications room in a real browser: add a webhook channel pointing at a local fake
provider and send a test message (success, then the provider's error inline); edit a message
template with the live preview; read a failed delivery's attempts; read the inbox."""

from __future__ import annotations

import re

import pytest

from shebao.conftest import PASSWORD
from shebao.notify.models import Channel, Notification
from shebao.notify.testing.fakes import WEBHOOK_SECRET, FakeProviders
from shebao.rules.tests.test_views import scene  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def _log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(dashboard/?)?$"))


def _shot(page, path) -> None:
    """The whole page. The viewport is stretched to the page's height rather than using a full-page
    capture, which leaves sandboxed (out-of-process) iframes such as the HTML mail preview blank."""
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(150)  # let the iframes paint at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


@pytest.fixture
def fake():
    with FakeProviders() as server:
        yield server


def test_add_a_webhook_channel_and_send_a_test_message(live_server, page, screenshot_dir, admin, fake):
    _log_in(page, live_server, admin)
    page.get_by_test_id("nav-notify").locator("summary").click()
    page.get_by_test_id("nav-notify-channels").click()
    expect(page.get_by_test_id("channels")).to_contain_text("站内信")
    page.get_by_test_id("add-channel").click()
    page.get_by_test_id("kind-webhook").click()
    page.fill("input[name=name]", "OA 工单系统")
    page.fill("input[name=cfg_url]", fake.url("webhook"))
    page.fill("input[name=cfg_secret]", WEBHOOK_SECRET)
    page.fill("textarea[name=cfg_headers]", "X-Team: hr")
    _shot(page, screenshot_dir / "notify-channel-new.png")
    page.get_by_test_id("save").click()
    expect(page.locator(".msg-success")).to_contain_text("已添加通道“OA 工单系统”")
    channel = Channel.objects.get(name="OA 工单系统")
    assert WEBHOOK_SECRET not in page.content()
    expect(page.locator("input[name=cfg_secret]")).to_have_value("")
    expect(page.get_by_test_id("channel-config")).to_contain_text("已设置（留空则不修改）")

    # a test message through the fake provider: success inline, the status follows
    page.get_by_test_id("send-test").click()
    expect(page.get_by_test_id("test-ok")).to_contain_text("测试消息已发送成功")
    expect(page.get_by_test_id("channel-health")).to_contain_text("正常")
    assert len(fake.received["webhook"]) == 1
    assert fake.received["webhook"][0]["event"] == "test"
    _shot(page, screenshot_dir / "notify-channel-detail.png")

    # the provider fails: its error is shown, and the delivery log has the attempt
    fake.fail_next("webhook", status=503)
    page.get_by_test_id("send-test").click()
    expect(page.get_by_test_id("test-error")).to_contain_text("503")
    expect(page.get_by_test_id("channel-health")).to_contain_text("故障")
    _shot(page, screenshot_dir / "notify-channel-test-error.png")
    failed = Notification.objects.filter(channel=channel, status="failed").get()
    page.get_by_test_id("test-error").get_by_role("link", name="查看记录").click()
    expect(page).to_have_url(re.compile(rf"/notify/log/{failed.pk}/$"))
    expect(page.get_by_test_id("attempts")).to_contain_text("503")
    expect(page.get_by_test_id("status")).to_have_text("失败")
    _shot(page, screenshot_dir / "notify-log-detail.png")
    page.get_by_test_id("retry").click()
    expect(page.locator(".msg-success")).to_contain_text("已安排重发")

    page.goto(f"{live_server.url}/notify/channels/")
    expect(page.get_by_test_id("channels")).to_contain_text("OA 工单系统")
    _shot(page, screenshot_dir / "notify-channels.png")
    page.goto(f"{live_server.url}/notify/log/")
    expect(page.get_by_test_id("log")).to_contain_text("OA 工单系统")
    _shot(page, screenshot_dir / "notify-log.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/notify/channels/")
    _shot(page, screenshot_dir / "notify-channels-mobile.png")


def test_template_editor_previews_live(live_server, page, screenshot_dir, admin, scene):  # noqa: F811
    _log_in(page, live_server, admin)
    page.goto(f"{live_server.url}/notify/templates/")
    page.get_by_test_id("tpl-finding-email").click()
    preview = page.get_by_test_id("template-preview")
    expect(preview.get_by_test_id("preview-subject")).to_contain_text("【")
    expect(page.get_by_test_id("preview-sample")).to_contain_text("真实预警")
    page.fill("input[name=subject]", "请处理：{{ title }}（{{ entity }}）")
    expect(preview.get_by_test_id("preview-subject")).to_contain_text("请处理：")
    expect(preview.locator("iframe[sandbox]")).to_be_visible()
    expect(preview.frame_locator("iframe[sandbox]").locator("h2")).not_to_be_empty()  # the HTML mail drawn
    _shot(page, screenshot_dir / "notify-template-editor.png")
    page.fill("textarea[name=body]", "{% if title %}没有结束")
    expect(preview.get_by_test_id("preview-error")).to_contain_text("模板语法错误")
    page.fill("textarea[name=body]", "{{ title }}\n{{ next_step }}")
    expect(preview.get_by_test_id("preview-text")).to_be_visible()
    page.get_by_test_id("save").click()
    expect(page.locator(".msg-success")).to_contain_text("已保存模板")
    expect(page.get_by_test_id("tpl-source")).to_have_text("自定义模板")


def test_inbox(live_server, browser, screenshot_dir, clerk, scene):  # noqa: F811
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    try:
        _log_in(page, live_server, clerk)
        unread = Notification.objects.filter(user=clerk, channel__kind="inapp", read_at__isnull=True).count()
        assert unread >= 3
        expect(page.get_by_test_id("inbox-badge")).to_have_text(str(unread))
        page.get_by_test_id("nav-notify").locator("summary").click()
        page.get_by_test_id("nav-inbox").click()
        expect(page.locator("[data-testid=inbox] li.unread")).to_have_count(unread)
        _shot(page, screenshot_dir / "notify-inbox.png")
        page.locator("[data-testid=inbox] li.unread a.inbox-title").first.click()
        expect(page).to_have_url(re.compile(r"/rules/findings/\d+/$"))
        expect(page.get_by_test_id("inbox-badge")).to_have_text(str(unread - 1))
        page.goto(f"{live_server.url}/notify/inbox/")
        page.get_by_test_id("mark-all-read").click()
        expect(page.locator("[data-testid=inbox] li.unread")).to_have_count(0)
        expect(page.get_by_test_id("inbox-badge")).to_have_count(0)
        page.set_viewport_size({"width": 390, "height": 844})
        _shot(page, screenshot_dir / "notify-inbox-mobile.png")
    finally:
        context.close()


def test_rule_editor_routes_to_a_group_channel(live_server, page, screenshot_dir, admin, clerk, scene):  # noqa: F811
    from shebao.core.context import Actor
    from shebao.notify.services import channel_create
    from shebao.rules.models import AlertRule

    group = channel_create(
        actor=Actor.system(via="test"), kind="webhook", name="人事群", config={"url": "http://127.0.0.1:9/h"}
    )
    rule = AlertRule.objects.get(kind="registration_overdue", is_default=True)
    _log_in(page, live_server, admin)
    page.goto(f"{live_server.url}/rules/{rule.pk}/edit/")
    routing = page.get_by_test_id("rule-routing")
    routing.get_by_label("群机器人", exact=True).check()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("form-errors")).to_be_visible()
    expect(page.get_by_test_id("error-channels")).to_contain_text("请选择通道")
    routing.get_by_label("人事群（Webhook）").check()
    page.select_option("select[name=mode_info]", "off")
    page.fill("input[name=quiet_start]", "22:00")
    page.fill("input[name=quiet_end]", "08:00")
    routing.scroll_into_view_if_needed()
    routing.screenshot(path=str(screenshot_dir / "notify-rule-routing.png"))
    page.get_by_test_id("save").click()
    expect(page.locator(".msg-success")).to_contain_text("已保存")
    expect(page.get_by_test_id(f"rule-routing-{rule.pk}")).to_contain_text("群机器人（人事群）")
    expect(page.get_by_test_id(f"rule-routing-{rule.pk}")).to_contain_text("免打扰 22:00–08:00")
    rule.refresh_from_db()
    assert rule.routing["channels"] == [group.pk] and rule.routing["modes"]["info"] == "off"
    assert rule.routing["quiet_hours"] == {"start": "22:00", "end": "08:00"}
