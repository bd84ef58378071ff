from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from shebao.core.identity import make_legacy15_id

pytestmark = pytest.mark.django_db

PAGES = ["/", "/dashboard/counts/", "/portal/"]


@pytest.fixture
def people(org, make_employee):
    today = timezone.localdate()
    return {
        "bj_active": make_employee(),
        "bj_new": make_employee(hire_date=today),
        "bj_pending": make_employee(hire_date=today + dt.timedelta(days=10)),
        "bj_legacy": make_employee(id_number=make_legacy15_id("110105", dt.date(1970, 5, 6), 17)),
        "sz_active": make_employee(entity=org["sz"], department=org["store"]),
        "sz_active2": make_employee(entity=org["sz"], department=org["store"]),
        "sz_leaving": make_employee(entity=org["sz"], department=org["store"], leave_date=today),
    }


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_is_sent_to_login(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


def test_anonymous_htmx_poll_gets_full_page_redirect():
    response = Client().get(
        "/dashboard/counts/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/"


@pytest.mark.parametrize("who", ["admin", "clerk", "manager", "auditor"])
def test_staff_see_dashboard(request, login, people, who):
    response = login(request.getfixturevalue(who)).get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "工作台" in body and "即将上线" in body
    assert 'hx-trigger="every 30s"' in body
    assert 'hx-get="/dashboard/counts/"' in body
    assert "web/vendor/echarts.min.js" in body
    # no script or style from elsewhere (a CSRF token may contain the letters "cdn" by chance)
    assert not re.search(r'(src|href)="(https?:)?//', body)
    assert response.context["active"] == "dashboard"


def test_employee_role_is_redirected_to_portal(login, staff_employee):
    response = login(staff_employee).get("/")
    assert response.status_code == 302 and response.url == "/portal/"


def test_employee_role_cannot_poll_counts(login, staff_employee):
    assert login(staff_employee).get("/dashboard/counts/").status_code == 403


def test_admin_counts_cover_everything(login, admin, people):
    counts = login(admin).get("/dashboard/counts/").context["counts"]
    assert counts["active"] == 6  # 3 BJ (incl. legacy, today's hire) + 3 SZ (leaving today still active)
    assert counts["pending"] == 1
    assert counts["hired_this_month"] == 1
    assert counts["left_this_month"] == 1
    assert counts["legacy_ids"] == 1
    assert counts["entities"] == 2


def test_clerk_sees_only_beijing(login, clerk, people):
    client = login(clerk)
    counts = client.get("/dashboard/counts/").context["counts"]
    assert counts["active"] == 3
    assert counts["pending"] == 1
    assert counts["hired_this_month"] == 1
    assert counts["left_this_month"] == 0
    assert counts["legacy_ids"] == 1
    assert counts["entities"] == 1
    page = client.get("/")
    chart = page.context["chart"]
    assert [row["name"] for row in chart] == ["北京示例科技有限公司"]
    assert chart[0]["value"] == 3
    assert "深圳示例零售有限公司" not in page.content.decode()


def test_manager_sees_own_department_subtree(login, manager, org, make_employee):
    make_employee(department=org["rd_web"])
    make_employee(department=org["sales"])
    counts = login(manager).get("/dashboard/counts/").context["counts"]
    assert counts["active"] == 1
    assert counts["entities"] == 1


def test_counts_partial_is_a_fragment(login, admin, people):
    response = login(admin).get("/dashboard/counts/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    for label in ["在职", "待入职", "本月入职", "本月离职", "15位旧证件号", "参保主体数"]:
        assert label in body
    assert "attention" in body  # the legacy-ID card asks for attention


def test_chart_data_is_json_script(login, admin, people):
    body = login(admin).get("/").content.decode()
    start = body.index('<script id="headcount-data" type="application/json">') + len(
        '<script id="headcount-data" type="application/json">'
    )
    data = json.loads(body[start : body.index("</script>", start)])
    assert {row["name"]: row["value"] for row in data} == {
        "北京示例科技有限公司": 3,
        "深圳示例零售有限公司": 3,
    }
    assert data[0]["city"]


def test_empty_dashboard(login, admin):
    response = login(admin).get("/")
    assert response.status_code == 200
    assert "暂无在职员工" in response.content.decode()
    assert "echarts.min.js" not in response.content.decode()


def test_upcoming_rooms_listed(login, admin):
    body = login(admin).get("/").content.decode()
    for room in ["缴费台账", "预警", "待处理预警", "合规案件", "证据存档", "风险报告"]:
        assert room in body
