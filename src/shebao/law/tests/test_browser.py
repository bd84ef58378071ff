"""The law library in a real browser: live search with HTMX, then an article and its statute."""

from __future__ import annotations

import re

import pytest

from shebao.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def loaded_library(transactional_db):
    from shebao.law.services import law_library_load

    law_library_load()  # a flush by an earlier transactional test empties it


def test_live_search_and_article(live_server, page, screenshot_dir, loaded_library, manager):
    page.goto(f"{live_server.url}/login/?next=/law/")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/law/$"))
    expect(page.get_by_test_id("statute-table")).to_contain_text("中华人民共和国社会保险法")
    expect(page.locator(".mainnav a.active")).to_have_text("法规库")

    # Typing searches after the debounce; the page address follows the query.
    page.get_by_role("searchbox").fill("滞纳金")
    results = page.get_by_test_id("law-results")
    expect(results).to_contain_text("《社会保险法》第八十六条")
    expect(results.locator("mark").first).to_have_text("滞纳金")
    expect(page).to_have_url(re.compile(r"q=%E6%BB%9E%E7%BA%B3%E9%87%91"))
    page.screenshot(path=str(screenshot_dir / "law-search.png"), full_page=True)

    page.get_by_role("searchbox").fill("滞纳金 不存在的词")
    expect(page.get_by_test_id("law-empty")).to_be_visible()

    page.get_by_role("searchbox").fill("SIL-86")
    expect(results).to_contain_text("编号匹配")
    results.get_by_role("link", name="《社会保险法》第八十六条").click()
    page.wait_for_url("**/law/SIL-86/")
    expect(page.get_by_test_id("law-text")).to_contain_text("按日加收万分之五的滞纳金")
    expect(page.get_by_test_id("law-citation")).to_have_text("《中华人民共和国社会保险法》第八十六条")
    expect(page.get_by_test_id("law-confidence").first).to_have_text("官方原文")
    page.screenshot(path=str(screenshot_dir / "law-article.png"), full_page=True)

    page.get_by_role("link", name="第九十二条 ›").click()
    page.wait_for_url("**/law/SIL-92/")
    page.get_by_role("link", name="本法规收录的全部条文").click()
    page.wait_for_url("**/law/statute/SIL/")
    expect(page.locator("article.law-article")).to_have_count(26)
