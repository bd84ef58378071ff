from __future__ import annotations

import pytest

from shebao.conftest import PASSWORD
from shebao.core import crypto
from shebao.roster.models import ID_PURPOSE, PHONE_PURPOSE

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(org, system):
    from shebao.accounts.services import user_create

    return user_create(actor=system, username="root", password=PASSWORD, role="hr_admin", is_superuser=True)


def test_employee_admin_is_read_only_and_masked(login, superuser, make_employee):
    employee = make_employee(name="李四")
    full_id = crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)
    full_phone = crypto.decrypt(employee.phone_enc, purpose=PHONE_PURPOSE)
    client = login(superuser)
    for url in ["/admin/roster/employee/", f"/admin/roster/employee/{employee.pk}/change/"]:
        response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert "李四" in body and employee.id_number_masked in body
        assert full_id not in body and full_phone not in body
        assert employee.id_number_enc not in body and employee.id_number_bidx not in body
    detail = client.get(f"/admin/roster/employee/{employee.pk}/change/").content.decode()
    assert employee.phone_masked in detail
    assert "任职期间" in detail  # the spell inline
    assert client.get("/admin/roster/employee/add/").status_code == 403
    assert client.get(f"/admin/roster/employee/{employee.pk}/delete/").status_code == 403


def test_employee_admin_refuses_lookups_on_ciphertext(login, superuser, make_employee):
    employee = make_employee()
    response = login(superuser).get("/admin/roster/employee/", {"id_number_bidx": employee.id_number_bidx})
    # Django's admin answers a disallowed lookup by redirecting with ?e=1 (or 400 in newer versions).
    assert response.status_code in (302, 400)


def test_admin_index_lists_our_models(login, superuser):
    body = login(superuser).get("/admin/").content.decode()
    for name in ["参保主体", "部门", "用户", "API 令牌", "审计事件", "员工"]:
        assert name in body
