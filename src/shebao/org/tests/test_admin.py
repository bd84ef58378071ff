from __future__ import annotations

import pytest

from shebao.audit.models import AuditEvent
from shebao.conftest import PASSWORD
from shebao.org.admin import EntityAdminForm
from shebao.org.models import Department, Entity
from shebao.policy.models import City

pytestmark = pytest.mark.django_db

GOOD_USCC = "91310000MA1FL0A30J"


@pytest.fixture
def superuser(org, system):
    from shebao.accounts.services import user_create

    return user_create(actor=system, username="root", password=PASSWORD, role="hr_admin", is_superuser=True)


def _entity_data(**kw):
    data = {
        "code": "SH01",
        "name": "上海示例有限公司",
        "uscc": GOOD_USCC,
        "city": City.objects.get(short_name="上海").pk,
        "si_unit_no": "",
        "hf_unit_no": "",
        "is_active": "on",
    }
    data.update(kw)
    return data


def test_good_uscc_is_valid(org):
    from stdnum.cn import uscc

    assert uscc.is_valid(GOOD_USCC)
    form = EntityAdminForm(data=_entity_data(uscc=GOOD_USCC.lower()))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["uscc"] == GOOD_USCC


def test_entity_form_rejects_bad_check_digit(org):
    bad = GOOD_USCC[:-1] + ("0" if GOOD_USCC[-1] != "0" else "1")
    form = EntityAdminForm(data=_entity_data(uscc=bad))
    assert not form.is_valid()
    assert form.errors["uscc"] == [f"统一社会信用代码校验位错误：应为 {GOOD_USCC[-1]}"]


def test_entity_form_rejects_wrong_length(org):
    form = EntityAdminForm(data=_entity_data(uscc="91310000MA1FL0A3"))
    assert form.errors["uscc"] == ["统一社会信用代码应为18位，实际为16位"]


def test_entity_form_rejects_duplicate_uscc(org):
    form = EntityAdminForm(data=_entity_data(uscc=org["bj"].uscc.lower()))
    assert not form.is_valid()
    assert "uscc" in form.errors


def test_admin_add_entity_with_bad_uscc_shows_message(login, superuser):
    bad = GOOD_USCC[:-1] + ("0" if GOOD_USCC[-1] != "0" else "1")
    response = login(superuser).post("/admin/org/entity/add/", _entity_data(uscc=bad))
    assert response.status_code == 200
    assert f"统一社会信用代码校验位错误：应为 {GOOD_USCC[-1]}" in response.content.decode()
    assert not Entity.objects.filter(code="SH01").exists()


def test_admin_add_entity_is_saved_and_audited(login, superuser):
    response = login(superuser).post("/admin/org/entity/add/", _entity_data(uscc=f" {GOOD_USCC.lower()} "))
    assert response.status_code == 302
    entity = Entity.objects.get(code="SH01")
    assert entity.uscc == GOOD_USCC
    assert entity.organisation_id == Entity.objects.get(code="BJ01").organisation_id
    event = AuditEvent.objects.get(action="entity.create", object_id=str(entity.pk))
    assert event.actor == superuser and event.changes["uscc"] == GOOD_USCC


def test_entity_admin_list_and_search(login, superuser):
    client = login(superuser)
    body = client.get("/admin/org/entity/").content.decode()
    assert "BJ01" in body and "SZ01" in body and "91110000802100433B" in body
    body = client.get("/admin/org/entity/", {"q": "深圳"}).content.decode()
    assert "SZ01" in body and "BJ01" not in body


def test_admin_add_department_computes_path(login, superuser, org):
    response = login(superuser).post(
        "/admin/org/department/add/",
        {
            "entity": org["bj"].pk,
            "parent": org["rd"].pk,
            "name": "后端组",
            "code": "",
            "kind": "department",
        },
    )
    assert response.status_code == 302
    dept = Department.objects.get(name="后端组")
    assert dept.path == f"{org['rd'].path}{dept.pk}/"
    assert dept.depth == 1
    assert AuditEvent.objects.filter(action="department.create", object_id=str(dept.pk)).exists()


def test_admin_department_parent_must_be_same_entity(login, superuser, org):
    response = login(superuser).post(
        "/admin/org/department/add/",
        {
            "entity": org["sz"].pk,
            "parent": org["rd"].pk,
            "name": "后端组",
            "kind": "department",
        },
    )
    assert response.status_code == 200
    assert "不属于参保主体" in response.content.decode()


def test_admin_department_duplicate_top_level_name(login, superuser, org):
    response = login(superuser).post(
        "/admin/org/department/add/",
        {
            "entity": org["bj"].pk,
            "parent": "",
            "name": "销售部",
            "kind": "department",
        },
    )
    assert response.status_code == 200
    assert "下已有名为“销售部”的部门" in response.content.decode()


def test_admin_move_department_updates_subtree(login, superuser, org):
    rd, web, sales = org["rd"], org["rd_web"], org["sales"]
    response = login(superuser).post(
        f"/admin/org/department/{rd.pk}/change/",
        {
            "parent": sales.pk,
            "name": rd.name,
            "code": "",
            "kind": "department",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    rd.refresh_from_db()
    web.refresh_from_db()
    assert rd.path == f"/{sales.pk}/{rd.pk}/" and rd.depth == 1
    assert web.path == f"/{sales.pk}/{rd.pk}/{web.pk}/" and web.depth == 2
    event = AuditEvent.objects.get(action="department.update", object_id=str(rd.pk))
    assert event.changes["parent"] == [None, "销售部"]


def test_admin_department_cannot_move_under_itself(login, superuser, org):
    rd, web = org["rd"], org["rd_web"]
    response = login(superuser).post(
        f"/admin/org/department/{rd.pk}/change/",
        {
            "parent": web.pk,
            "name": rd.name,
            "code": "",
            "kind": "department",
        },
    )
    assert response.status_code == 200
    assert "上级部门不能是本部门或其下级部门" in response.content.decode()
    rd.refresh_from_db()
    assert rd.parent_id is None


def test_department_admin_list(login, superuser):
    body = login(superuser).get("/admin/org/department/").content.decode()
    assert "研发部" in body and "前端组" in body and "福田门店" in body
