"""The roster in a real browser: log in, find an employee by ID number, reveal the number."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from shebao.audit.models import AuditEvent
from shebao.conftest import PASSWORD
from shebao.core.identity import make_resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def _log_in(page, live_server, user, next_url: str = "") -> None:
    page.goto(f"{live_server.url}/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_search_open_and_reveal(live_server, page, screenshot_dir, org, clerk, make_employee):
    number = make_resident_id("110105", dt.date(1988, 8, 8), 321)
    target = make_employee(
        name="陈晓明",
        id_number=number,
        department=org["rd_web"],
        phone="13600001234",
        hukou_type="nonlocal_rural",
        email="chen@example.com",
        declared_wage="15800",
    )
    for name, dept in (("刘芳", "rd"), ("黄磊", "sales"), ("吴婷", "sales")):
        make_employee(name=name, department=org[dept])
    make_employee(name="郑强", department=org["sales"], hire_date=dt.date.today() + dt.timedelta(days=14))
    make_employee(name="赵门店", entity=org["sz"], department=org["store"])  # out of the clerk's scope

    _log_in(page, live_server, clerk)
    page.wait_for_url(re.compile(r"/(dashboard/?)?$"))

    page.goto(f"{live_server.url}/employees/")
    table = page.get_by_test_id("employee-table")
    expect(table).to_contain_text("刘芳")
    expect(table).not_to_contain_text("赵门店")

    # Typing the full number (with spaces, as read off a card) filters after the debounce.
    page.get_by_role("searchbox").fill(f"{number[:6]} {number[6:14]} {number[14:]}")
    expect(page.get_by_test_id("result-count")).to_contain_text("共 1 名员工")
    expect(table).to_contain_text("陈晓明")
    expect(table).to_contain_text(target.id_number_masked)
    assert number not in page.content()
    assert "q=" not in page.url  # a search by ID number is kept out of the browser history
    page.screenshot(path=str(screenshot_dir / "list.png"), full_page=True)

    page.get_by_role("link", name="陈晓明").click()
    page.wait_for_url(f"**/employees/{target.pk}/")
    expect(page.get_by_test_id("masked-id_number")).to_have_text(target.id_number_masked)
    page.get_by_test_id("reveal-id_number").click()
    expect(page.get_by_test_id("revealed-id_number")).to_have_text(number)
    expect(page.get_by_text("已记录查看日志")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "detail-revealed.png"), full_page=True)

    events = AuditEvent.objects.filter(action="employee.reveal_id_number", object_id=str(target.pk))
    assert events.count() == 1
    assert events.get().actor_id == clerk.pk


def test_list_empty_state_and_pages(live_server, page, screenshot_dir, org, admin, make_employee, settings):
    settings.SHEBAO_PAGE_SIZE = 3
    for i in range(7):
        make_employee(name=f"员工{i}", department=org["sales" if i % 2 else "rd"])
    _log_in(page, live_server, admin, next_url="/employees/")
    page.wait_for_url("**/employees/")

    expect(page.get_by_text("第 1 / 3 页")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "list-pages.png"), full_page=True)
    page.get_by_role("link", name="下一页").click()
    expect(page.get_by_text("第 2 / 3 页")).to_be_visible()
    assert "page=2" in page.url

    page.get_by_label("部门").select_option(label="销售部")
    expect(page.get_by_test_id("result-count")).to_contain_text("共 3 名员工")
    assert "department=" in page.url and "page=" not in page.url

    page.get_by_role("searchbox").fill("查无此人")
    expect(page.get_by_test_id("empty")).to_contain_text("没有符合条件的员工")
    page.screenshot(path=str(screenshot_dir / "list-empty.png"), full_page=True)


def test_create_shows_the_service_message_then_saves(live_server, page, screenshot_dir, org, clerk):
    from shebao.roster.models import Employee

    good = make_resident_id("440305", dt.date(1999, 12, 31), 88)
    bad = good[:17] + ("1" if good[17] == "0" else "0")
    _log_in(page, live_server, clerk, next_url="/employees/")
    page.wait_for_url("**/employees/")
    expect(page.get_by_test_id("empty")).to_contain_text("没有符合条件的员工")
    page.get_by_role("link", name="新增员工").first.click()
    page.wait_for_url("**/employees/new/")

    page.get_by_label("姓名").fill("林新")
    page.get_by_label("证件号码").fill(bad)
    page.get_by_label("参保主体").select_option(label=org["bj"].name)
    page.get_by_label("部门").select_option(label="　前端组")
    page.get_by_label("工号").fill("b0099")
    page.get_by_label("入职日期").fill("2025-07-01")
    page.get_by_label("手机").fill("+86 135 0000 9999")
    page.get_by_role("button", name="保存").click()

    expect(page.get_by_test_id("error-id_number")).to_contain_text(f"身份证号校验位错误：应为 {good[17]}")
    expect(page.get_by_label("姓名")).to_have_value("林新")
    page.screenshot(path=str(screenshot_dir / "create-errors.png"), full_page=True)
    assert not Employee.objects.exists()

    page.get_by_label("证件号码").fill(good)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已新增员工“林新”")).to_be_visible()
    employee = Employee.objects.get()
    assert employee.employee_no == "B0099" and employee.department == org["rd_web"]
    page.get_by_role("link", name="编辑").click()
    expect(page.get_by_label("证件号码")).to_have_value("")
    expect(page.get_by_text("留空表示不修改").first).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "edit.png"), full_page=True)
