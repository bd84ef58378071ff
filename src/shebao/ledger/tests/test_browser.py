"""The ledger in a real browser: upload an export through the wizard, confirm it, and read the
employee's coverage timeline (who paid which month, gaps at a glance)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from shebao.conftest import PASSWORD
from shebao.core import crypto
from shebao.ledger.tests import golden
from shebao.roster.models import ID_PURPOSE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def _log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(dashboard/?)?$"))


def test_upload_confirm_and_read_the_timeline(
    live_server, page, screenshot_dir, tmp_path, org, admin, make_employee
):
    emp = make_employee(name="林时间", hire_date=dt.date(2025, 10, 8), declared_wage="12000")
    number = crypto.decrypt(emp.id_number_enc, purpose=ID_PURPOSE)
    rows = [golden.GENERIC_LONG_HEADER]
    for month in ("2025-11", "2025-12", "2026-01", "2026-03"):  # 2026-02 missing: a gap
        for insurance, er, ee in (("基本养老保险", "1920", "960"), ("基本医疗保险", "1080", "240")):
            rows.append(["林时间", number, insurance, month, "12000", er, ee, "已实缴", ""])
    # the former employer still paid medical for 2025-10 and 2025-11
    for month in ("2025-10", "2025-11"):
        rows.append(
            ["林时间", number, "基本医疗保险", month, "9000", "810", "180", "已实缴", "原单位科技有限公司"]
        )
    path = tmp_path / "2026年缴费明细.csv"
    path.write_bytes(golden.csv_bytes(rows))

    _log_in(page, live_server, admin)
    page.goto(f"{live_server.url}/ledger/upload/")
    page.select_option("select[name=entity]", str(org["bj"].pk))
    page.set_input_files("input[name=file]", str(path))
    page.screenshot(path=str(screenshot_dir / "ledger-upload.png"), full_page=True)
    page.get_by_role("button", name="上传并预览").click()
    expect(page.get_by_test_id("run-status")).to_have_text("待确认")
    expect(page.get_by_test_id("run-profile")).to_have_text("generic_long")
    page.screenshot(path=str(screenshot_dir / "ledger-preview.png"), full_page=True)
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("run-status")).to_have_text(re.compile("成功|部分成功"), timeout=15000)
    assert number not in page.content()

    page.goto(f"{live_server.url}/employees/{emp.pk}/")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_be_visible()
    pension = page.locator('tr[data-insurance="pension"]')
    medical = page.locator('tr[data-insurance="medical"]')
    expect(pension.locator('td[data-month="2025-12"]')).to_have_attribute("data-class", "paid")
    expect(pension.locator('td[data-month="2026-02"]')).to_have_attribute("data-class", "gap")
    expect(medical.locator('td[data-month="2025-10"]')).to_have_attribute("data-class", "other")
    expect(medical.locator('td[data-month="2025-11"]')).to_have_attribute("data-class", "both")
    expect(pension.locator('td[data-month="2025-09"]')).to_have_attribute("data-class", "none")
    title = medical.locator('td[data-month="2025-10"]').get_attribute("title")
    assert "原单位科技有限公司" in title and "基数 9000.00" in title
    page.get_by_test_id("coverage").screenshot(path=str(screenshot_dir / "ledger-timeline.png"))
    page.screenshot(path=str(screenshot_dir / "employee-with-timeline.png"), full_page=True)

    page.goto(f"{live_server.url}/ledger/?month=2026-01")
    expect(page.get_by_test_id(f"entity-{org['bj'].code}")).to_contain_text("养老保险")
    page.screenshot(path=str(screenshot_dir / "ledger-overview.png"), full_page=True)
