"""The import wizard in a real browser: upload a messy file, read the preview, download the
error workbook, switch to valid rows only, confirm, and find the employee in the roster."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from shebao.conftest import PASSWORD
from shebao.imports.tests.builders import new_id, xlsx_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_import_wizard(live_server, page, screenshot_dir, org, admin, make_employee):
    existing = make_employee(name="李老员工", department=org["rd"])
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    number = crypto.decrypt(existing.id_number_enc, purpose=ID_PURPOSE)
    good = new_id(1992)
    wrong = new_id(1993)
    wrong = wrong[:17] + ("1" if wrong[17] == "0" else "0")
    # Alias headers, a title row above them, a department to create and one bad check digit.
    headers = ["员工姓名", "身份证号码", "员工编号", "到岗日期", "用人单位", "部门", "手机号码", "备注"]
    rows = [
        ["林导入", good, "im001", dt.date(2025, 3, 1), "BJ01", "研发部/数据组", "13512345678", "新人"],
        ["李老员工", number, existing.employee_no, dt.date(2024, 3, 1), "BJ01", "销售部", None, "调岗"],
        ["错号码", wrong, "IM003", "2025/3/2", "BJ01", "研发部", None, None],
    ]
    data = xlsx_bytes(headers, rows, title="2025年3月入职名单")

    page.goto(f"{live_server.url}/login/?next=/imports/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/imports/")
    expect(page.get_by_test_id("empty")).to_contain_text("还没有导入记录")
    page.get_by_role("link", name="上传花名册").first.click()
    page.wait_for_url("**/imports/new/")

    page.set_input_files(
        "input[type=file]", files=[{"name": "三月入职.xlsx", "mimeType": XLSX, "buffer": data}]
    )
    expect(page.get_by_label("全部无误才导入")).to_be_checked()
    page.get_by_role("button", name="上传并预览").click()
    page.wait_for_url(re.compile(r"/imports/\d+/$"))

    expect(page.get_by_test_id("batch-status")).to_have_text("待确认导入")
    expect(page.get_by_test_id("count-create")).to_have_text("1")
    expect(page.get_by_test_id("count-update")).to_have_text("1")
    expect(page.get_by_test_id("count-rejected")).to_have_text("1")
    expect(page.get_by_test_id("new-departments")).to_contain_text("数据组")
    table = page.get_by_test_id("rejected-table")
    expect(table).to_contain_text("身份证号码")
    expect(table).to_contain_text("校验位")
    expect(table.locator("td").first).to_have_text("6")  # title, blank, header, two rows: Excel row 6
    expect(page.get_by_test_id("updates-table")).to_contain_text("销售部")
    expect(page.get_by_test_id("commit-blocked")).to_be_visible()
    expect(page.get_by_role("button", name="确认导入")).to_be_disabled()
    assert wrong not in page.content() and good not in page.content()
    page.screenshot(path=str(screenshot_dir / "import-preview.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_test_id("error-workbook").click()
    download = info.value
    assert download.suggested_filename == "三月入职-错误工作簿.xlsx"

    page.get_by_label("仅导入无误的行").check()
    page.get_by_role("button", name="切换导入方式").click()
    expect(page.get_by_test_id("commit-blocked")).to_have_count(0)
    expect(page.get_by_role("button", name="确认导入")).to_be_enabled()
    page.get_by_role("button", name="确认导入").click()

    expect(page.get_by_test_id("result")).to_contain_text("新增 1 名员工，更新 1 名员工", timeout=15000)
    expect(page.get_by_test_id("batch-status")).to_have_text("已导入")
    page.screenshot(path=str(screenshot_dir / "import-result.png"), full_page=True)

    page.get_by_role("link", name="打开花名册").click()
    page.wait_for_url("**/employees/")
    page.get_by_role("searchbox").fill("林导入")
    expect(page.get_by_test_id("result-count")).to_contain_text("共 1 名员工")
    page.get_by_role("link", name="林导入").click()
    expect(page.get_by_text("数据组").first).to_be_visible()
