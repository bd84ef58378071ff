"""Roster pages: who may and who may not, search, filters, paging, masking, reveal, create/edit."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.identity import make_legacy15_id, make_resident_id
from shebao.roster.models import ID_PURPOSE, Employee

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def _id_ending_in_x() -> str:
    return next(
        n
        for seq in range(1, 1000)
        if (n := make_resident_id("110105", dt.date(1985, 6, 15), seq)).endswith("X")
    )


def _full_id(employee: Employee) -> str:
    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)


@pytest.fixture
def people(org, make_employee):
    """One employee in each corner of the organisation."""
    return {
        "rd": make_employee(
            name="张研发", department=org["rd"], id_number=_id_ending_in_x(), phone="13812345678"
        ),
        "web": make_employee(name="李前端", department=org["rd_web"]),
        "sales": make_employee(name="王销售", department=org["sales"], employment_type="part_time"),
        "sz": make_employee(name="赵门店", entity=org["sz"], department=org["store"]),
    }


def _urls(employee: Employee) -> dict[str, str]:
    return {
        "list": reverse("roster:list"),
        "detail": reverse("roster:detail", args=[employee.pk]),
        "create": reverse("roster:create"),
        "edit": reverse("roster:edit", args=[employee.pk]),
    }


def _reveal_url(employee: Employee, field: str = "id_number") -> str:
    return reverse("roster:reveal", args=[employee.pk, field])


def _names(response) -> set[str]:
    html = response.content.decode()
    return {name for name in ("张研发", "李前端", "王销售", "赵门店") if name in html}


# --- who may and who may not --------------------------------------------------------------------


def test_urls():
    assert reverse("roster:list") == "/employees/"
    assert reverse("roster:detail", args=[7]) == "/employees/7/"
    assert reverse("roster:create") == "/employees/new/"
    assert reverse("roster:edit", args=[7]) == "/employees/7/edit/"
    assert reverse("roster:reveal", args=[7, "phone"]) == "/employees/7/reveal/phone/"


def test_anonymous_is_sent_to_login(client, people):
    emp = people["rd"]
    for url in _urls(emp).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")
    response = client.post(_reveal_url(emp))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_anonymous_htmx_request_redirects_the_whole_page(client, people):
    response = client.post(
        _reveal_url(people["rd"]), HTTP_HX_CURRENT_URL="http://testserver/employees/1/", **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/employees/1/"


def test_employee_role_is_forbidden_everywhere(client, people, staff_employee):
    client.force_login(staff_employee)
    emp = people["rd"]
    for url in _urls(emp).values():
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("roster:create"), {"name": "x"}).status_code == 403
    assert client.post(_urls(emp)["edit"], {"name": "x"}).status_code == 403
    assert client.post(_reveal_url(emp)).status_code == 403
    assert Employee.objects.count() == 4
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_admin_sees_everyone(client, people, admin):
    client.force_login(admin)
    response = client.get(reverse("roster:list"))
    assert response.status_code == 200
    assert _names(response) == {"张研发", "李前端", "王销售", "赵门店"}
    assert "新增员工" in response.content.decode()
    for emp in people.values():
        assert client.get(_urls(emp)["detail"]).status_code == 200


def test_clerk_sees_beijing_only(client, people, clerk):
    client.force_login(clerk)
    response = client.get(reverse("roster:list"))
    assert _names(response) == {"张研发", "李前端", "王销售"}
    assert client.get(_urls(people["sales"])["detail"]).status_code == 200
    for key in ("detail", "edit"):
        assert client.get(_urls(people["sz"])[key]).status_code == 404
    assert client.post(_reveal_url(people["sz"])).status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_clerk_filter_choices_are_limited_to_scope(client, people, clerk, org):
    client.force_login(clerk)
    html = client.get(reverse("roster:list")).content.decode()
    assert org["bj"].name in html and org["sz"].name not in html
    assert "福田门店" not in html and "销售部" in html
    # Asking for an entity out of scope does not widen the scope.
    response = client.get(reverse("roster:list"), {"entity": org["sz"].pk})
    assert "赵门店" not in response.content.decode()


def test_manager_sees_only_his_subtree(client, people, manager, org):
    client.force_login(manager)
    response = client.get(reverse("roster:list"))
    assert _names(response) == {"张研发", "李前端"}
    html = response.content.decode()
    assert "新增员工" not in html
    assert "前端组" in html and "销售部" not in html  # department filter: the subtree only
    assert client.get(_urls(people["web"])["detail"]).status_code == 200
    assert client.get(_urls(people["sales"])["detail"]).status_code == 404
    assert client.get(_urls(people["sz"])["detail"]).status_code == 404


def test_manager_cannot_edit_create_or_reveal(client, people, manager):
    client.force_login(manager)
    emp = people["rd"]
    detail = client.get(_urls(emp)["detail"]).content.decode()
    assert "查看完整号码" not in detail and _urls(emp)["edit"] not in detail
    assert client.get(_urls(emp)["edit"]).status_code == 403
    assert client.post(_urls(emp)["edit"], {"name": "改名"}).status_code == 403
    assert client.get(reverse("roster:create")).status_code == 403
    assert client.post(_reveal_url(emp)).status_code == 403
    assert client.post(_reveal_url(emp, "phone")).status_code == 403
    emp.refresh_from_db()
    assert emp.name == "张研发"
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_auditor_can_list_but_not_edit_or_reveal(client, people, auditor):
    client.force_login(auditor)
    emp = people["sz"]
    response = client.get(reverse("roster:list"))
    assert response.status_code == 200 and len(_names(response)) == 4
    assert "新增员工" not in response.content.decode()
    detail = client.get(_urls(emp)["detail"])
    assert detail.status_code == 200
    assert "查看完整号码" not in detail.content.decode()
    assert client.get(_urls(emp)["edit"]).status_code == 403
    assert client.get(reverse("roster:create")).status_code == 403
    assert client.post(reverse("roster:create"), {"name": "x"}).status_code == 403
    assert client.post(_reveal_url(emp)).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_nav_highlights_roster(client, people, clerk):
    client.force_login(clerk)
    html = client.get(reverse("roster:list")).content.decode()
    assert f'<a href="{reverse("roster:list")}" class="active">' in html
    assert "<title>花名册 · " in html


# --- search ---------------------------------------------------------------------------------------


def _search(client, q: str) -> set[str]:
    # The results partial: the full page also echoes the query back into the search box.
    return _names(client.get(reverse("roster:list"), {"q": q}, **HTMX))


def test_search_by_full_id_number_in_any_spelling(client, people, clerk):
    client.force_login(clerk)
    number = _full_id(people["rd"])
    assert number.endswith("X")
    spellings = [
        number,
        f"{number[:6]} {number[6:14]} {number[14:]}",
        _full_width(number),
        number.lower(),
        f" {number[:9]}-{number[9:]}\u3000",
    ]
    for q in spellings:
        assert _search(client, q) == {"张研发"}, q


def test_partial_id_number_finds_nothing(client, people, clerk):
    client.force_login(clerk)
    assert _search(client, _full_id(people["rd"])[:10]) == set()


def test_search_by_name_employee_no_and_phone(client, people, clerk):
    client.force_login(clerk)
    assert _search(client, "研发") == {"张研发"}
    assert _search(client, "李前端") == {"李前端"}
    assert _search(client, people["sales"].employee_no) == {"王销售"}
    assert _search(client, people["sales"].employee_no.lower()) == {"王销售"}
    assert _search(client, "138 1234 5678") == {"张研发"}
    assert _search(client, "+86 138-1234-5678") == {"张研发"}


def test_search_does_not_reach_out_of_scope(client, people, clerk):
    client.force_login(clerk)
    assert _search(client, _full_id(people["sz"])) == set()
    assert _search(client, "赵门店") == set()


# --- filters and paging ---------------------------------------------------------------------------


def test_filters(client, people, admin, org, make_employee):
    make_employee(name="钱待入", department=org["sales"], hire_date=dt.date.today() + dt.timedelta(days=30))
    make_employee(
        name="孙已离", department=org["sales"], hire_date=dt.date(2020, 1, 1), leave_date=dt.date(2021, 1, 1)
    )
    client.force_login(admin)
    url = reverse("roster:list")

    def names(**params):
        html = client.get(url, params).content.decode()
        return {n for n in ("张研发", "李前端", "王销售", "赵门店", "钱待入", "孙已离") if n in html}

    assert names(entity=org["sz"].pk) == {"赵门店"}
    assert names(department=org["rd"].pk) == {"张研发", "李前端"}  # the department and its children
    assert names(department=org["rd_web"].pk) == {"李前端"}
    assert names(status="pending") == {"钱待入"}
    assert names(status="left") == {"孙已离"}
    assert names(status="active", department=org["sales"].pk) == {"王销售"}
    assert names(employment_type="part_time") == {"王销售"}
    assert names(employment_type="part_time", entity=org["sz"].pk) == set()
    assert names(status="bogus") == {"张研发", "李前端", "王销售", "赵门店", "钱待入", "孙已离"}


def test_status_tags(client, people, admin, org, make_employee):
    make_employee(name="钱待入", hire_date=dt.date.today() + dt.timedelta(days=30))
    make_employee(name="孙已离", hire_date=dt.date(2020, 1, 1), leave_date=dt.date(2021, 1, 1))
    client.force_login(admin)
    html = client.get(reverse("roster:list")).content.decode()
    assert '<span class="tag active">在职</span>' in html
    assert '<span class="tag pending">待入职</span>' in html
    assert '<span class="tag left">离职</span>' in html
    assert "2021-01-01" in html


def test_empty_state(client, people, clerk):
    client.force_login(clerk)
    html = client.get(reverse("roster:list"), {"q": "不存在的人"}).content.decode()
    assert "没有符合条件的员工" in html
    assert "清除筛选条件" in html
    assert "<table" not in html


def test_pagination(client, admin, make_employee, settings):
    settings.SHEBAO_PAGE_SIZE = 5
    for i in range(12):
        make_employee(employee_no=f"P{i:03d}", name=f"分页{i:02d}")
    client.force_login(admin)
    url = reverse("roster:list")
    first = client.get(url).content.decode()
    assert "共 12 名员工" in first and "第 1 / 3 页" in first
    assert "P000" in first and "P004" in first and "P005" not in first
    second = client.get(url, {"page": 2}).content.decode()
    assert "P005" in second and "P009" in second and "P004" not in second
    assert "第 2 / 3 页" in second
    assert "?page=3" in second and "?page=1" in second
    last = client.get(url, {"page": 99}).content.decode()  # out of range → last page
    assert "P011" in last and "第 3 / 3 页" in last
    assert "P000" in client.get(url, {"page": "abc"}).content.decode()


def test_pager_links_keep_the_filters(client, admin, make_employee, settings, org):
    settings.SHEBAO_PAGE_SIZE = 2
    for i in range(5):
        make_employee(employee_no=f"Q{i:03d}", department=org["sales"])
    client.force_login(admin)
    html = client.get(
        reverse("roster:list"), {"department": org["sales"].pk, "status": "active"}
    ).content.decode()
    assert f"?department={org['sales'].pk}&amp;status=active&amp;page=2" in html


def test_list_query_count_does_not_grow_with_the_page(
    client, admin, make_employee, django_assert_max_num_queries
):
    for _ in range(30):
        make_employee()
    client.force_login(admin)
    # session read + user + count + page + filter choices (entities, departments) + the top bar's
    # unread-notification count + session save (SESSION_SAVE_EVERY_REQUEST: savepoint, update,
    # release); nothing per row.
    with django_assert_max_num_queries(11):
        response = client.get(reverse("roster:list"))
    assert response.content.decode().count("<tr>") == 31


# --- masking and reveal ---------------------------------------------------------------------------


def test_list_and_detail_show_masked_numbers_only(client, people, admin):
    client.force_login(admin)
    emp = people["rd"]
    number = _full_id(emp)
    listing = client.get(reverse("roster:list")).content.decode()
    assert emp.id_number_masked in listing
    assert number[:6] + "********" + number[-4:] == emp.id_number_masked
    detail = client.get(_urls(emp)["detail"]).content.decode()
    assert emp.id_number_masked in detail and "138****5678" in detail
    for html in (listing, detail):
        assert number not in html and number.lower() not in html
        assert "13812345678" not in html
        for other in people.values():
            assert _full_id(other) not in html


def test_detail_shows_person_employment_and_spells(client, people, clerk, org):
    client.force_login(clerk)
    emp = people["rd"]
    html = client.get(_urls(emp)["detail"]).content.decode()
    for text in (
        "张研发",
        "居民身份证",
        "1985-06-15",
        "男" if emp.gender == "M" else "女",
        "138****5678",
        org["bj"].name,
        "研发部",
        "全日制",
        "2024-03-01",
        "任职期间",
        "查看完整号码",
        "编辑",
    ):
        assert text in html, text
    assert "由15位旧号升位" not in html
    assert 'data-testid="spells"' in html
    assert reverse("roster:edit", args=[emp.pk]) in html


def test_detail_flags_upgraded_15_digit_id(client, admin, make_employee):
    emp = make_employee(id_number=make_legacy15_id("110105", dt.date(1968, 3, 4), 17))
    client.force_login(admin)
    html = client.get(reverse("roster:detail", args=[emp.pk])).content.decode()
    assert "由15位旧号升位" in html and "1968-03-04" in html


def test_reveal_returns_the_full_number_and_writes_one_audit_row(client, people, clerk):
    client.force_login(clerk)
    emp = people["rd"]
    response = client.post(_reveal_url(emp), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<span class="secret mono" data-testid="revealed-id_number">{_full_id(emp)}</span>' in html
    assert "已记录查看日志" in html and "<html" not in html
    assert "no-store" in response["Cache-Control"]
    events = AuditEvent.objects.filter(action="employee.reveal_id_number")
    assert events.count() == 1
    event = events.get()
    assert event.actor == clerk and event.object_id == str(emp.pk) and event.via == "web"
    assert _full_id(emp) not in str(event.changes)
    assert AuditEvent.objects.filter(action__startswith="employee.reveal").count() == 1


def test_reveal_phone(client, people, admin):
    client.force_login(admin)
    response = client.post(_reveal_url(people["rd"], "phone"), **HTMX)
    assert 'data-testid="revealed-phone">13812345678</span>' in response.content.decode()
    assert AuditEvent.objects.filter(action="employee.reveal_phone").count() == 1


def test_reveal_by_get_is_not_allowed(client, people, clerk):
    client.force_login(clerk)
    assert client.get(_reveal_url(people["rd"])).status_code == 405
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_reveal_unknown_field_is_404(client, people, clerk):
    client.force_login(clerk)
    assert client.post(_reveal_url(people["rd"], "id_number_enc")).status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


# --- HTMX ------------------------------------------------------------------------------------------


def test_htmx_request_returns_only_the_results(client, people, clerk):
    client.force_login(clerk)
    response = client.get(reverse("roster:list"), {"q": "张研发"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="employee-table"' in html and "张研发" in html and "李前端" not in html
    assert "<html" not in html and "roster-filters" not in html and "topbar" not in html
    assert "HX-Request" in response["Vary"]


def test_full_page_wraps_the_results_and_wires_htmx(client, people, clerk):
    client.force_login(clerk)
    html = client.get(reverse("roster:list")).content.decode()
    assert "<html" in html and 'id="results"' in html and 'data-testid="employee-table"' in html
    assert 'hx-get="/employees/"' in html and 'hx-target="#results"' in html and 'hx-push-url="true"' in html
    assert "delay:300ms" in html


def test_htmx_history_restore_gets_the_full_page(client, people, clerk):
    client.force_login(clerk)
    html = client.get(reverse("roster:list"), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX).content.decode()
    assert "<html" in html and 'id="results"' in html


def test_personal_number_searches_stay_out_of_browser_history(client, people, clerk):
    client.force_login(clerk)
    by_id = client.get(reverse("roster:list"), {"q": _full_id(people["rd"])}, **HTMX)
    assert by_id["HX-Push-Url"] == "false"
    by_phone = client.get(reverse("roster:list"), {"q": "13812345678"}, **HTMX)
    assert by_phone["HX-Push-Url"] == "false"
    by_name = client.get(reverse("roster:list"), {"q": "张研发"}, **HTMX)
    assert "HX-Push-Url" not in by_name


# --- create ----------------------------------------------------------------------------------------


def _form_data(org, **overrides) -> dict:
    data = {
        "name": "周新人",
        "id_kind": "",
        "id_number": make_resident_id("110105", dt.date(1995, 5, 20), 123),
        "entity": org["bj"].pk,
        "department": org["rd"].pk,
        "employee_no": "N0001",
        "hire_date": "2025-02-01",
        "leave_date": "",
        "employment_type": "full_time",
        "hukou_type": "nonlocal_urban",
        "phone": "13900001111",
        "email": "zhou@example.com",
        "declared_wage": "12000",
    }
    data.update(overrides)
    return data


def test_create_form_renders(client, clerk, org):
    client.force_login(clerk)
    html = client.get(reverse("roster:create")).content.decode()
    assert "新增员工" in html and "自动识别" in html and "居民身份证" in html
    assert "留空表示不修改" not in html
    assert "深圳示例零售有限公司" not in html  # entity choices limited to the clerk's scope
    assert f'<option value="{org["bj"].pk}" selected>' in html  # the clerk's only entity is preselected


def test_create_form_for_admin_groups_departments_by_entity(client, admin, org):
    client.force_login(admin)
    html = client.get(reverse("roster:create")).content.decode()
    assert f'<optgroup label="{org["sz"].name}">' in html and "福田门店" in html
    assert "　前端组" in html  # indented under 研发部
    assert f'<option value="{org["bj"].pk}" selected>' not in html


def test_create(client, clerk, org):
    client.force_login(clerk)
    response = client.post(reverse("roster:create"), _form_data(org))
    emp = Employee.objects.get(employee_no="N0001")
    assert response.status_code == 302 and response.url == reverse("roster:detail", args=[emp.pk])
    assert emp.name == "周新人" and emp.department == org["rd"] and str(emp.declared_wage) == "12000.00"
    assert emp.phone_masked == "139****1111" and emp.hukou_type == "nonlocal_urban"
    assert AuditEvent.objects.filter(action="employee.create", actor=clerk).count() == 1
    page = client.get(response.url).content.decode()
    assert "已新增员工“周新人”" in page


def test_create_with_bad_id_shows_the_specific_message_and_creates_nothing(client, clerk, org):
    client.force_login(clerk)
    good = make_resident_id("110105", dt.date(1995, 5, 20), 123)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    response = client.post(reverse("roster:create"), _form_data(org, id_number=bad))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"身份证号校验位错误：应为 {good[17]}" in html
    assert 'data-testid="error-id_number"' in html
    assert 'value="周新人"' in html and 'value="N0001"' in html  # the user's input is kept
    assert Employee.objects.count() == 0
    assert not AuditEvent.objects.filter(action="employee.create").exists()


def test_create_with_nothing_filled_in_lists_every_missing_field(client, clerk, org):
    client.force_login(clerk)
    response = client.post(reverse("roster:create"), {"employment_type": "full_time"})
    html = response.content.decode()
    for message in ("姓名不能为空", "证件号码为空", "工号不能为空", "请选择参保主体", "入职日期不能为空"):
        assert message in html, message
    assert "（共5处错误）" in html
    assert Employee.objects.count() == 0


def test_create_with_an_unreadable_date(client, clerk, org):
    client.force_login(clerk)
    response = client.post(reverse("roster:create"), _form_data(org, hire_date="2025-13-45"))
    assert response.status_code == 200
    assert 'data-testid="error-hire_date"' in response.content.decode()
    assert Employee.objects.count() == 0


def test_create_duplicate_id_names_the_existing_employee(client, clerk, org, people):
    client.force_login(clerk)
    response = client.post(reverse("roster:create"), _form_data(org, id_number=_full_id(people["web"])))
    html = response.content.decode()
    assert "该证件号码已登记在员工“李前端”" in html
    assert Employee.objects.count() == 4


def test_create_rejects_entity_out_of_scope(client, clerk, org):
    client.force_login(clerk)
    response = client.post(reverse("roster:create"), _form_data(org, entity=org["sz"].pk, department=""))
    assert response.status_code == 200
    assert 'data-testid="error-entity"' in response.content.decode()
    assert Employee.objects.count() == 0


def test_create_department_of_another_entity(client, admin, org):
    client.force_login(admin)
    response = client.post(reverse("roster:create"), _form_data(org, department=org["store"].pk))
    html = response.content.decode()
    assert "部门“福田门店”不属于参保主体“北京示例科技有限公司”" in html
    assert Employee.objects.count() == 0


# --- edit ------------------------------------------------------------------------------------------


def test_edit_form_never_contains_the_stored_numbers(client, people, clerk):
    client.force_login(clerk)
    emp = people["rd"]
    html = client.get(reverse("roster:edit", args=[emp.pk])).content.decode()
    assert 'value="张研发"' in html and "留空表示不修改" in html
    assert _full_id(emp) not in html and "13812345678" not in html
    for name in ("id_number", "phone"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert "value=" not in tag, tag


def _edit_data(emp: Employee, **overrides) -> dict:
    data = {
        "name": emp.name,
        "id_kind": "",
        "id_number": "",
        "entity": emp.entity_id,
        "department": emp.department_id or "",
        "employee_no": emp.employee_no,
        "hire_date": emp.hire_date.isoformat(),
        "leave_date": "",
        "employment_type": emp.employment_type,
        "hukou_type": emp.hukou_type,
        "phone": "",
        "email": emp.email,
        "declared_wage": "",
    }
    data.update(overrides)
    return data


def test_edit_keeps_id_and_phone_when_left_blank(client, people, clerk, org):
    client.force_login(clerk)
    emp = people["rd"]
    before_id, before_bidx, before_phone = _full_id(emp), emp.id_number_bidx, emp.phone_masked
    response = client.post(
        reverse("roster:edit", args=[emp.pk]), _edit_data(emp, name="张研发改", department=org["rd_web"].pk)
    )
    assert response.status_code == 302 and response.url == reverse("roster:detail", args=[emp.pk])
    emp.refresh_from_db()
    assert emp.name == "张研发改" and emp.department == org["rd_web"]
    assert (
        _full_id(emp) == before_id and emp.id_number_bidx == before_bidx and emp.phone_masked == before_phone
    )
    event = AuditEvent.objects.get(action="employee.update")
    assert set(event.changes) == {"name", "department"}
    assert "已保存员工“张研发改”的信息" in client.get(response.url).content.decode()


def test_edit_changes_id_and_phone_when_filled(client, people, clerk):
    client.force_login(clerk)
    emp = people["web"]
    new_id = make_resident_id("310104", dt.date(1992, 2, 29), 456)
    response = client.post(
        reverse("roster:edit", args=[emp.pk]),
        _edit_data(emp, id_number=_full_width(new_id), phone="137-0000-2222"),
    )
    assert response.status_code == 302
    emp.refresh_from_db()
    assert _full_id(emp) == new_id and emp.birth_date == dt.date(1992, 2, 29)
    assert emp.phone_masked == "137****2222"


def test_edit_error_keeps_input_and_changes_nothing(client, people, clerk):
    client.force_login(clerk)
    emp = people["rd"]
    response = client.post(
        reverse("roster:edit", args=[emp.pk]),
        _edit_data(emp, name="新名字", hire_date="2024-03-01", leave_date="2023-01-01"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "离职日期 2023-01-01 早于入职日期 2024-03-01" in html and "早于入职日期" in html
    assert 'value="新名字"' in html
    emp.refresh_from_db()
    assert emp.name == "张研发" and emp.leave_date is None


def test_edit_bad_phone(client, people, clerk):
    client.force_login(clerk)
    emp = people["rd"]
    response = client.post(reverse("roster:edit", args=[emp.pk]), _edit_data(emp, phone="12345"))
    html = response.content.decode()
    assert "手机号码格式无效：“12345”" in html and 'data-testid="error-phone"' in html
    emp.refresh_from_db()
    assert emp.phone_masked == "138****5678"


def test_rehire_page_for_leavers(login, admin, clerk, manager, make_employee, org):
    import datetime as dt

    from shebao.audit.models import AuditEvent

    e = make_employee(leave_date=dt.date(2025, 1, 31))
    assert login(admin).get(f"/employees/{e.pk}/").content.decode().count("/rehire/") == 1
    assert login(manager).get(f"/employees/{e.pk}/rehire/").status_code == 403
    c = login(clerk)
    bad = c.post(
        f"/employees/{e.pk}/rehire/", {"entity": org["bj"].pk, "employee_no": "", "hire_date": "2025-01-15"}
    )
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "工号不能为空" in html
    early = c.post(
        f"/employees/{e.pk}/rehire/", {"entity": org["bj"].pk, "employee_no": "R1", "hire_date": "2025-01-15"}
    )
    assert "不早于新的入职日期" in early.content.decode()
    ok = c.post(
        f"/employees/{e.pk}/rehire/",
        {
            "entity": org["bj"].pk,
            "department": org["sales"].pk,
            "employee_no": "r1",
            "hire_date": "2025-06-01",
            "employment_type": "part_time",
            "declared_wage": "5000",
        },
    )
    assert ok.status_code == 302
    e.refresh_from_db()
    assert (e.employee_no, e.status, e.department, e.spells.count()) == ("R1", "active", org["sales"], 2)
    assert AuditEvent.objects.filter(action="employee.rehire", object_id=str(e.pk)).count() == 1
    assert "/rehire/" not in login(admin).get(f"/employees/{e.pk}/").content.decode()
    sz = make_employee(entity=org["sz"], department=org["store"], leave_date=dt.date(2025, 1, 31))
    assert c.get(f"/employees/{sz.pk}/rehire/").status_code == 404


def test_department_filter_lists_stores_once_an_entity_is_chosen(login, admin, org):
    c = login(admin)
    plain = c.get("/employees/").content.decode()
    assert "福田门店" not in plain and "研发部" in plain
    chosen = c.get(f"/employees/?entity={org['sz'].pk}", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="department-filter" hx-swap-oob="true"' in chosen
    assert "福田门店" in chosen and "研发部" not in chosen
    assert (
        f'<option value="{org["store"].pk}" selected>'
        in c.get(f"/employees/?entity={org['sz'].pk}&department={org['store'].pk}").content.decode()
    )
