"""The dashboard, audit log and token pages in a real browser (HTMX and ECharts really run)."""

from __future__ import annotations

import re

import pytest

from shebao.accounts.models import ApiToken
from shebao.conftest import PASSWORD

# live_server needs committed data; the shared conftest reloads the city table after flushes.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def _login(page, live_server, user, password=PASSWORD):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_login_error_and_dashboard(live_server, page, screenshot_dir, org, clerk, make_employee):
    for _ in range(3):
        make_employee()
    make_employee(entity=org["sz"], department=org["store"])  # outside the clerk's scope

    page.goto(f"{live_server.url}/login/")
    page.screenshot(path=str(screenshot_dir / "login.png"), full_page=True)
    _login(page, live_server, clerk, password="wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    page.screenshot(path=str(screenshot_dir / "login-error.png"), full_page=True)

    _login(page, live_server, clerk)
    page.wait_for_url(re.compile(r"/$"))
    counts = page.locator("#dashboard-counts")
    expect(counts).to_contain_text("在职")
    expect(counts.locator(".stat").first.locator(".value")).to_have_text("3")
    # ECharts drew the chart (a canvas inside the container), from the vendored file.
    expect(page.locator("#headcount-chart canvas")).to_have_count(1)
    expect(page.get_by_text("即将上线")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "dashboard.png"), full_page=True)

    # The counts partial refreshes in place.
    make_employee()
    with page.expect_response(lambda r: r.url.endswith("/dashboard/counts/")):
        page.evaluate("htmx.trigger('#dashboard-counts', 'every 30s')")
    expect(counts.locator(".stat").first.locator(".value")).to_have_text("4")


def test_audit_filter_with_htmx(live_server, page, screenshot_dir, org, auditor):
    _login(page, live_server, auditor)
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("link", name="审计日志").click()
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("新增参保主体")
    expect(table).to_contain_text("新增部门")
    page.screenshot(path=str(screenshot_dir / "audit.png"), full_page=True)
    page.get_by_label("操作", exact=True).select_option("department.create")
    expect(table).not_to_contain_text("新增参保主体")
    expect(table).to_contain_text("新增部门")
    assert "action=department.create" in page.url


def test_create_token_shows_secret_once(live_server, page, screenshot_dir, org, clerk):
    _login(page, live_server, clerk)
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("link", name="API 令牌").click()
    page.get_by_label("名称").fill("工资系统同步")
    page.get_by_label("权限范围").select_option("write")
    page.get_by_role("button", name="创建令牌").click()
    expect(page.get_by_text("请立即复制，此令牌只显示一次")).to_be_visible()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("sb_")
    page.screenshot(path=str(screenshot_dir / "tokens-created.png"), full_page=True)
    token = ApiToken.objects.get()
    assert token.token_hash != secret

    page.goto(f"{live_server.url}/account/tokens/")
    assert secret not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="吊销").click()
    expect(page.get_by_text("已吊销令牌“工资系统同步”")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "tokens-revoked.png"), full_page=True)


def test_locked_out_page(live_server, page, screenshot_dir, org, clerk):
    for _ in range(5):
        _login(page, live_server, clerk, password="wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("已被锁定 15 分钟")
    page.screenshot(path=str(screenshot_dir / "locked-out.png"), full_page=True)
