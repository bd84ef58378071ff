"""A calculator page in a real browser: HTMX form, result with confidence badges and citations."""

from __future__ import annotations

import pytest

from shebao.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def test_contribution_calculator(live_server, page, screenshot_dir, admin):
    page.goto(f"{live_server.url}/login/?next=/calc/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/calc/")
    page.fill("#f-city", "北京")
    page.fill("#f-month", "2025-03")
    page.fill("#f-base", "5000")
    page.get_by_role("button", name="计算").click()
    result = page.get_by_test_id("calc-result")
    expect(result).to_contain_text("2024年度")
    expect(result).to_contain_text("按下限")
    expect(result).to_contain_text("未收录")
    assert "month=2025-03" in page.url
    page.screenshot(path=str(screenshot_dir / "calc-contribution.png"), full_page=True)
    link = result.locator("a[href*='/law/SIL-12/']").first
    link.click()
    page.wait_for_url("**/law/SIL-12/")
    expect(page.locator("body")).to_contain_text("第十二条")
