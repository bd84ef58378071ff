from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_unlinked_employee_sees_notice(login, staff_employee):
    response = login(staff_employee).get("/portal/")
    assert response.status_code == 200
    assert "你的账号尚未关联员工档案，请联系HR" in response.content.decode()
    assert response.context["active"] == "portal"


def test_linked_employee_sees_own_masked_record(login, staff_employee, make_employee):
    employee = make_employee(name="王小明")
    staff_employee.employee = employee
    staff_employee.save()
    body = login(staff_employee).get("/portal/").content.decode()
    assert "王小明" in body
    assert employee.id_number_masked in body
    assert "北京示例科技有限公司" in body
    assert "2024-03-01" in body
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    full = crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)
    assert full not in body


def test_employee_nav_has_only_portal(login, staff_employee):
    response = login(staff_employee).get("/portal/")
    assert [item["key"] for item in response.context["nav_items"]] == ["portal"]
    body = response.content.decode()
    assert "我的信息" in body
    assert "花名册" not in body
    assert "API 令牌" not in body


def test_hr_may_open_own_portal(login, clerk):
    response = login(clerk).get("/portal/")
    assert response.status_code == 200
    assert "你的账号尚未关联员工档案" in response.content.decode()
