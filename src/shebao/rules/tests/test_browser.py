"""The rules room in a real browser: filter the inbox and acknowledge the selection; read a
finding's evidence; change a rule's threshold, preview what it does, save, and see the inbox follow."""

from __future__ import annotations

import re

import pytest

from shebao.conftest import PASSWORD
from shebao.rules.models import AlertRule, Finding
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
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page shot
    page.screenshot(path=str(path), full_page=True)


def test_inbox_filter_and_batch_acknowledge(live_server, page, screenshot_dir, scene, clerk):  # noqa: F811
    _log_in(page, live_server, clerk)
    page.get_by_role("link", name="预警", exact=True).click()
    rows = page.locator("table[data-testid=findings] tbody tr")
    expect(rows.first).to_be_visible()
    total = Finding.objects.filter(entity__code="BJ01").exclude(status="resolved").count()
    expect(rows).to_have_count(total)
    _shot(page, screenshot_dir / "rules-inbox.png")

    # filter without a reload (HTMX), the URL follows
    page.select_option("select[name=severity]", "warning")
    expect(page).to_have_url(re.compile(r"severity=warning"))
    warnings = (
        Finding.objects.filter(entity__code="BJ01", severity="warning").exclude(status="resolved").count()
    )
    expect(rows).to_have_count(warnings)
    expect(page.locator("table[data-testid=findings] .sev-critical")).to_have_count(0)

    # select all on the page and acknowledge
    page.locator("input[data-select-all]").check()
    expect(page.locator("[data-selected-count]")).to_have_text(str(warnings))
    page.fill("input[name=reason]", "已联系员工，本周办理")
    page.get_by_test_id("action-acknowledge").click()
    expect(page.locator(".msg-success")).to_contain_text(f"已将 {warnings} 条预警改为“已确认”")
    expect(page).to_have_url(re.compile(r"severity=warning"))  # back to the same filter
    expect(page.locator("table[data-testid=findings] .tag.st-acknowledged")).to_have_count(warnings)
    assert (
        Finding.objects.filter(entity__code="BJ01", severity="warning", status="acknowledged").count()
        == warnings
    )
    _shot(page, screenshot_dir / "rules-inbox-acknowledged.png")

    # a finding's page: the evidence of a medical gap, its statements labelled
    gap = Finding.objects.get(kind="medical_interrupted", employee=scene["gap"])
    page.goto(f"{live_server.url}/rules/findings/{gap.pk}/")
    expect(page.get_by_test_id("finding-title")).to_contain_text("孙中断的医保")
    expect(page.get_by_test_id("finding-evidence")).to_contain_text("最后缴费月份")
    expect(page.get_by_test_id("finding-citations").locator("a").first).to_be_visible()
    _shot(page, screenshot_dir / "rules-detail.png")

    late = Finding.objects.get(kind="registration_overdue", employee=scene["late"])
    page.goto(f"{live_server.url}/rules/findings/{late.pk}/")
    page.get_by_test_id("action-acknowledge").click()
    expect(page.get_by_test_id("finding-status")).to_have_text("已确认")
    expect(page.get_by_test_id("transitions")).to_contain_text("clerk")
    _shot(page, screenshot_dir / "rules-detail-registration.png")

    page.goto(f"{live_server.url}/employees/{scene['late'].pk}/")
    expect(page.get_by_test_id("employee-findings")).to_contain_text("仍未查到本单位的社保登记")
    page.get_by_test_id("employee-findings").screenshot(path=str(screenshot_dir / "rules-employee.png"))


def test_edit_a_rule_preview_and_save(live_server, page, screenshot_dir, scene, admin):  # noqa: F811
    rule = AlertRule.objects.get(kind="registration_overdue", is_default=True)
    _log_in(page, live_server, admin)
    page.goto(f"{live_server.url}/rules/")
    expect(page.get_by_test_id(f"rule-count-{rule.pk}")).to_have_text("3")
    _shot(page, screenshot_dir / "rules-list.png")
    page.get_by_test_id(f"edit-{rule.pk}").click()

    page.fill("input[name=param_days]", "0")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("preview-error")).to_contain_text("不能小于 1")

    page.fill("input[name=param_days]", "60")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("preview-result")).to_contain_text(
        "按此设置将有 0 条预警：新增 0、解除 3、不变 0"
    )
    _shot(page, screenshot_dir / "rules-edit.png")
    assert AlertRule.objects.get(pk=rule.pk).params["days"] == 30  # a preview saves nothing

    page.get_by_test_id("save").click()
    expect(page.locator(".msg-success")).to_contain_text("解除 3")
    expect(page.get_by_test_id(f"rule-count-{rule.pk}")).to_have_text("0")
    page.get_by_test_id(f"rule-count-{rule.pk}").click()
    expect(page.get_by_test_id("no-findings")).to_be_visible()

    # and back: the findings reopen
    page.goto(f"{live_server.url}/rules/{rule.pk}/edit/")
    page.fill("input[name=param_days]", "400")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("error-param_days")).to_have_text("不能大于 365")
    _shot(page, screenshot_dir / "rules-edit-error.png")
    page.fill("input[name=param_days]", "30")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id(f"rule-count-{rule.pk}")).to_have_text("3")
