"""Who may call the API: bearer tokens only, scoped by token scope and by the user's role."""

from __future__ import annotations

import pytest
from django.test import Client

from shebao.accounts.models import ApiToken
from shebao.accounts.services import api_token_create, api_token_revoke
from shebao.api.tests.helpers import ApiClient
from shebao.core.context import Actor
from shebao.core.exceptions import PermissionDenied

NEW_EMPLOYEE = {
    "name": "张三",
    "id_number": "110105198505201238",
    "employee_no": "N0001",
    "entity": "BJ01",
    "hire_date": "2024-03-01",
}


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _assert_401(response):
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _has_chinese(response.json()["detail"])


# --- 401 ---------------------------------------------------------------------------------------


def test_missing_token(client, admin):
    response = ApiClient(client).get("/employees")
    _assert_401(response)
    assert "Authorization" in response.json()["detail"]


@pytest.mark.parametrize(
    "header", ["Token abc", "Bearer", "Bearer   ", "Basic YWRtaW46cHc=", "Bearer a b", "sb_x"]
)
def test_malformed_header(client, admin, header):
    _assert_401(client.get("/api/v1/employees", HTTP_AUTHORIZATION=header))


def test_unknown_token(client, admin, token_for):
    token_for(admin, "write")
    _assert_401(ApiClient(client, "sb_" + "x" * 43).get("/employees"))


def test_revoked_token(client, admin, token_for):
    secret = token_for(admin, "write")
    api = ApiClient(client, secret)
    assert api.get("/employees").status_code == 200
    api_token_revoke(actor=Actor(user=admin), token=ApiToken.objects.get(user=admin))
    _assert_401(api.get("/employees"))
    _assert_401(api.post("/employees", NEW_EMPLOYEE))


def test_token_of_deactivated_user(client, clerk, token_for):
    api = ApiClient(client, token_for(clerk))
    clerk.is_active = False
    clerk.save()
    _assert_401(api.get("/employees"))


def test_session_login_is_not_accepted(client, admin):
    client.force_login(admin)
    _assert_401(client.get("/api/v1/employees"))
    _assert_401(client.get("/api/v1/entities"))


def test_token_works_without_csrf_even_with_a_session(admin, token_for):
    # Bearer tokens are not ambient credentials: no CSRF token needed, session cookie irrelevant.
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = ApiClient(client, token_for(admin, "write")).post("/employees", NEW_EMPLOYEE)
    assert response.status_code == 201, response.content


def test_authentication_updates_last_used(client, admin, token_for):
    ApiClient(client, token_for(admin)).get("/entities")
    assert ApiToken.objects.get(user=admin).last_used_at is not None


# --- 403: token scope and role ---------------------------------------------------------------


def test_read_token_cannot_write(api_as, admin, make_employee):
    employee = make_employee()
    api = api_as(admin, "read")
    for response in (
        api.post("/employees", NEW_EMPLOYEE),
        api.patch(f"/employees/{employee.pk}", {"name": "改名"}),
        api.post(f"/employees/{employee.pk}/reveal", {"field": "id_number"}),
    ):
        assert response.status_code == 403
        assert "只读令牌" in response.json()["detail"]
    employee.refresh_from_db()
    assert employee.name != "改名"


def test_read_token_gets_403_before_body_validation(api_as, admin):
    response = api_as(admin, "read").post("/employees", {"hire_date": "not a date"})
    assert response.status_code == 403


def test_auditor_cannot_get_write_token(auditor, system):
    with pytest.raises(PermissionDenied):
        api_token_create(actor=system, user=auditor, name="w", scope="write")


def test_auditor_read_token_lists_everything_but_cannot_reveal(api_as, auditor, make_employee, org):
    bj, sz = make_employee(), make_employee(entity=org["sz"], department=org["store"])
    api = api_as(auditor)
    response = api.get("/employees")
    assert response.status_code == 200
    assert {e["id"] for e in response.json()["items"]} == {bj.pk, sz.pk}
    assert api.get(f"/employees/{sz.pk}").status_code == 200
    assert api.post(f"/employees/{sz.pk}/reveal", {"field": "id_number"}).status_code == 403


def test_employee_role_cannot_get_token(staff_employee, system):
    with pytest.raises(PermissionDenied):
        api_token_create(actor=system, user=staff_employee, name="r", scope="read")


def test_token_of_user_demoted_to_employee_role_is_refused(api_as, clerk, make_employee):
    employee = make_employee()
    api = api_as(clerk, "write")
    clerk.role = "employee"
    clerk.save()
    for response in (
        api.get("/employees"),
        api.get(f"/employees/{employee.pk}"),
        api.get("/entities"),
        api.post("/employees", NEW_EMPLOYEE),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == "该账号没有查看花名册的权限"


def test_write_token_of_user_demoted_to_auditor_cannot_write(api_as, clerk, make_employee):
    employee = make_employee()
    api = api_as(clerk, "write")
    clerk.role = "auditor"
    clerk.save()
    assert api.get(f"/employees/{employee.pk}").status_code == 200
    response = api.patch(f"/employees/{employee.pk}", {"name": "改名"})
    assert response.status_code == 403
    assert response.json()["detail"] == "该账号没有维护花名册的权限"


# --- scope: 404 outside it -------------------------------------------------------------------


def test_clerk_sees_bj01_only(api_as, clerk, make_employee, org):
    bj = make_employee()
    sz = make_employee(entity=org["sz"], department=org["store"])
    api = api_as(clerk, "write")
    body = api.get("/employees").json()
    assert [e["id"] for e in body["items"]] == [bj.pk]
    assert body["total"] == 1
    assert [e["code"] for e in api.get("/entities").json()] == ["BJ01"]
    assert api.get(f"/employees/{bj.pk}").status_code == 200
    for response in (
        api.get(f"/employees/{sz.pk}"),
        api.patch(f"/employees/{sz.pk}", {"name": "改名"}),
        api.post(f"/employees/{sz.pk}/reveal", {"field": "id_number"}),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "员工不存在或不在您的权限范围内"


def test_clerk_cannot_create_or_move_employees_into_another_entity(api_as, clerk, make_employee, org):
    api = api_as(clerk, "write")
    response = api.post("/employees", NEW_EMPLOYEE | {"entity": "SZ01"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "entity", "message": "参保主体“SZ01”不存在或不在您的权限范围内"}
    ]
    employee = make_employee()
    response = api.patch(f"/employees/{employee.pk}", {"entity": "SZ01", "department": org["store"].pk})
    assert response.status_code == 422
    assert set(e["field"] for e in response.json()["errors"]) == {"entity", "department"}


def test_nonexistent_employee_is_404(api_as, admin):
    response = api_as(admin).get("/employees/999999")
    assert response.status_code == 404


def test_manager_sees_department_subtree(api_as, manager, make_employee, org):
    rd = make_employee(department=org["rd"])
    web = make_employee(department=org["rd_web"])
    sales = make_employee(department=org["sales"])
    make_employee(entity=org["sz"], department=org["store"])
    api = api_as(manager)
    assert {e["id"] for e in api.get("/employees").json()["items"]} == {rd.pk, web.pk}
    assert api.get(f"/employees/{web.pk}").status_code == 200
    assert api.get(f"/employees/{sales.pk}").status_code == 404
    assert [e["code"] for e in api.get("/entities").json()] == ["BJ01"]


def test_manager_cannot_get_write_token(manager, system):
    with pytest.raises(PermissionDenied):
        api_token_create(actor=system, user=manager, name="w", scope="write")
