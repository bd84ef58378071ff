from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.core.identity import make_legacy15_id, make_resident_id
from shebao.roster.models import Employee, EmploymentSpell
from shebao.roster.services import (
    employee_create,
    employee_refresh_statuses,
    employee_rehire,
    employee_reveal,
    employee_status_for,
    employee_update,
    employees_reencrypt,
)

ID = make_resident_id("440305", dt.date(1992, 6, 15), 123)


def base(org, **kw):
    data = {
        "name": "李  雷",
        "id_number": ID,
        "employee_no": "e001",
        "entity": org["bj"],
        "department": org["rd"],
        "hire_date": dt.date(2025, 1, 6),
        "employment_type": "full_time",
        "phone": "+86 138-0013-8000",
        "declared_wage": "12000",
    }
    return data | kw


def test_create_normalises_encrypts_and_audits(org, system):
    e = employee_create(actor=system, **base(org, id_number=" ".join(ID[:9]) + ID[9:].lower()))
    assert e.name == "李 雷" and e.employee_no == "E001"
    assert e.birth_date == dt.date(1992, 6, 15) and e.gender == "M"
    assert e.id_number_masked == ID[:6] + "********" + ID[-4:]
    assert e.phone_masked == "138****8000"
    assert ID not in e.id_number_enc and e.declared_wage == Decimal("12000.00")
    assert e.spells.count() == 1 and e.status == "active"
    event = AuditEvent.objects.get(action="employee.create")
    assert ID not in str(event.changes) and "13800138000" not in str(event.changes)
    assert event.changes["new"]["id_number"] == e.id_number_masked


def test_plaintext_never_reaches_the_database(org, system):
    legacy = make_legacy15_id("110105", dt.date(1975, 3, 9), 77)
    e1 = employee_create(actor=system, **base(org))
    e2 = employee_create(actor=system, **base(org, id_number=legacy, employee_no="E002", phone="13912345678"))
    assert e2.id_upgraded_from_15
    needles = [
        ID,
        legacy,
        "13800138000",
        "13912345678",
        crypto.decrypt(e2.id_number_enc, purpose="employee.id_number"),
    ]
    with connection.cursor() as cur:
        tables = connection.introspection.table_names(cur)
        for table in tables:
            cur.execute(f'SELECT * FROM "{table}"')
            blob = repr(cur.fetchall())
            for needle in needles:
                assert needle not in blob, f"plaintext found in {table}"
    assert e1.pk


@pytest.mark.parametrize(
    "override,field,message",
    [
        (
            {"id_number": ID[:-1] + ("0" if ID[-1] != "0" else "1")},
            "id_number",
            f"身份证号校验位错误：应为 {ID[-1]}",
        ),
        ({"name": "  "}, "name", "姓名不能为空"),
        ({"phone": "12345"}, "phone", "手机号码格式无效"),
        ({"declared_wage": "-5"}, "declared_wage", "申报月工资应为非负金额"),
        ({"employment_type": "robot"}, "employment_type", "未知用工类型"),
        ({"leave_date": dt.date(2024, 1, 1)}, "leave_date", "早于入职日期"),
        ({"hire_date": None}, "hire_date", "入职日期不能为空"),
    ],
)
def test_create_rejects_bad_input_precisely(org, system, override, field, message):
    with pytest.raises(ApplicationError) as info:
        employee_create(actor=system, **base(org, **override))
    assert message in info.value.field_errors[field]
    assert not Employee.objects.exists() and not AuditEvent.objects.filter(action="employee.create").exists()


def test_several_errors_are_reported_together(org, system):
    with pytest.raises(ApplicationError) as info:
        employee_create(actor=system, **base(org, name="", phone="1", employee_no=""))
    assert set(info.value.field_errors) == {"name", "phone", "employee_no"}
    assert "共3处错误" in info.value.message


def test_department_must_belong_to_entity(org, system):
    with pytest.raises(ApplicationError, match="不属于参保主体"):
        employee_create(actor=system, **base(org, entity=org["sz"]))


def test_duplicate_identity_and_number(org, system):
    employee_create(actor=system, **base(org))
    with pytest.raises(ApplicationError, match="该证件号码已登记在员工“李 雷”"):
        employee_create(actor=system, **base(org, employee_no="E999"))
    with pytest.raises(ApplicationError, match="工号“E001”已被其他员工使用"):
        employee_create(
            actor=system, **base(org, id_number=make_resident_id("110105", dt.date(1990, 1, 1), 1))
        )


def test_update_changes_only_given_fields_and_audits_masked(org, system):
    e = employee_create(actor=system, **base(org))
    new_id = make_resident_id("310104", dt.date(1988, 2, 29), 42)
    employee_update(actor=system, employee=e, data={"id_number": new_id, "department": org["sales"]})
    e.refresh_from_db()
    assert e.birth_date == dt.date(1988, 2, 29) and e.gender == "F" and e.department == org["sales"]
    assert e.phone_masked == "138****8000" and e.spells.get().department == org["sales"]
    event = AuditEvent.objects.get(action="employee.update")
    assert set(event.changes) == {"id_number", "department"}
    assert new_id not in str(event.changes) and ID not in str(event.changes)
    employee_update(actor=system, employee=e, data={"name": "李 雷"})  # no change → no audit row
    assert AuditEvent.objects.filter(action="employee.update").count() == 1


def test_leave_and_rehire_keep_one_identity(org, system):
    e = employee_create(actor=system, **base(org))
    employee_update(actor=system, employee=e, data={"leave_date": dt.date(2025, 3, 31)})
    assert e.status == "left"
    with pytest.raises(ApplicationError, match="不早于新的入职日期"):
        employee_rehire(
            actor=system, employee=e, entity=org["sz"], hire_date=dt.date(2025, 3, 1), employee_no="S1"
        )
    employee_rehire(
        actor=system,
        employee=e,
        entity=org["sz"],
        department=org["store"],
        hire_date=dt.date(2025, 9, 1),
        employee_no="s1",
    )
    e.refresh_from_db()
    assert Employee.objects.count() == 1 and e.spells.count() == 2
    assert (e.entity, e.employee_no, e.leave_date, e.status) == (org["sz"], "S1", None, "active")
    first = e.spells.order_by("hire_date").first()
    assert first.leave_date == dt.date(2025, 3, 31) and first.entity == org["bj"]


def test_rehire_of_active_employee_is_refused(org, system):
    e = employee_create(actor=system, **base(org))
    with pytest.raises(ApplicationError, match="尚未离职"):
        employee_rehire(
            actor=system, employee=e, entity=org["bj"], hire_date=dt.date(2026, 1, 1), employee_no="X"
        )


def test_reveal_requires_permission_and_is_audited(org, admin, clerk, manager, auditor, system):
    e = employee_create(actor=system, **base(org))
    assert employee_reveal(actor=Actor(user=admin, ip="10.0.0.1"), employee=e, field="id_number") == ID
    assert employee_reveal(actor=Actor(user=clerk), employee=e, field="phone") == "13800138000"
    for user in (manager, auditor, None):
        with pytest.raises(PermissionDenied):
            employee_reveal(actor=Actor(user=user), employee=e, field="id_number")
    events = AuditEvent.objects.filter(action__startswith="employee.reveal").order_by("id")
    assert [(ev.actor, ev.action, ev.ip) for ev in events] == [
        (admin, "employee.reveal_id_number", "10.0.0.1"),
        (clerk, "employee.reveal_phone", None),
    ]


def test_services_check_the_acting_user(org, clerk, manager, system):
    sz_emp = employee_create(actor=system, **base(org, entity=org["sz"], department=org["store"]))
    with pytest.raises(PermissionDenied):
        employee_update(actor=Actor(user=clerk), employee=sz_emp, data={"name": "改名"})
    bj_emp = employee_create(
        actor=Actor(user=clerk),
        **base(org, id_number=make_resident_id("110105", dt.date(1991, 1, 1), 9), employee_no="B1"),
    )
    with pytest.raises(PermissionDenied, match="没有权限在参保主体“深圳示例零售有限公司”下维护员工"):
        employee_update(
            actor=Actor(user=clerk), employee=bj_emp, data={"entity": org["sz"], "department": None}
        )
    with pytest.raises(PermissionDenied, match="深圳示例零售有限公司"):
        employee_create(
            actor=Actor(user=clerk),
            **base(
                org,
                entity=org["sz"],
                department=None,
                employee_no="B2",
                id_number=make_resident_id("110105", dt.date(1991, 1, 2), 9),
            ),
        )
    with pytest.raises(PermissionDenied):
        employee_create(
            actor=Actor(user=manager),
            **base(org, id_number=make_resident_id("110105", dt.date(1990, 1, 1), 5), employee_no="M1"),
        )


def test_status_derivation_and_daily_refresh(org, system):
    today = dt.date(2026, 11, 27)
    assert employee_status_for(hire_date=dt.date(2026, 12, 1), leave_date=None, today=today) == "pending"
    assert employee_status_for(hire_date=dt.date(2026, 1, 1), leave_date=today, today=today) == "active"
    assert (
        employee_status_for(hire_date=dt.date(2026, 1, 1), leave_date=dt.date(2026, 11, 26), today=today)
        == "left"
    )
    e = employee_create(actor=system, **base(org, hire_date=dt.date(2099, 1, 1)))
    assert e.status == "pending"
    assert employee_refresh_statuses(today=dt.date(2099, 1, 1)) == 1
    e.refresh_from_db()
    assert e.status == "active"
    Employee.objects.filter(pk=e.pk).update(leave_date=dt.date(2099, 2, 1))
    assert employee_refresh_statuses(today=dt.date(2099, 2, 2)) == 1
    e.refresh_from_db()
    assert e.status == "left"


def test_periodic_task_is_registered():
    from huey.contrib.djhuey import HUEY

    import shebao.roster.tasks  # noqa: F401

    due = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 11, 27, 0, 5))}
    assert "employee_refresh_statuses_task" in due
    assert "employee_refresh_statuses_task" not in {
        t.name for t in HUEY.read_periodic(dt.datetime(2026, 11, 27, 0, 6))
    }


def test_key_rotation_and_reencrypt(org, system, settings, tmp_path):
    settings.INSTANCE_DIR = tmp_path
    crypto.keyring.cache_clear()
    try:
        e = employee_create(actor=system, **base(org))
        old_kid = crypto.keyring().key_id_of(e.id_number_enc)
        crypto.rotate_file_keys(tmp_path)
        crypto.keyring.cache_clear()
        assert employees_reencrypt() == 1
        e.refresh_from_db()
        assert crypto.keyring().key_id_of(e.id_number_enc) != old_kid
        assert e.id_number_masked.endswith(ID[-4:]) and e.phone_masked == "138****8000"
        assert employees_reencrypt() == 0
        assert EmploymentSpell.objects.count() == 1
    finally:
        crypto.keyring.cache_clear()
