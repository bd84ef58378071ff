"""insert_rows: plain rows in with executemany, the same values as the ORM would write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.audit.models import AuditEvent
from shebao.core.bulk import insert_rows
from shebao.roster.models import Employee, EmploymentSpell


@pytest.mark.django_db
def test_rows_read_back_as_the_orm_writes_them(org):
    before = timezone.now()
    n = insert_rows(
        Employee,
        [
            {
                "name": f"批量{i}",
                "id_kind": "resident_id",
                "id_number_enc": f"enc{i}",
                "id_number_bidx": f"bidx{i}",
                "employee_no": f"B{i}",
                "entity_id": org["bj"].pk,
                "department_id": org["rd"].pk if i else None,
                "employment_type": "full_time",
                "hire_date": dt.date(2024, 2, 29),
                "leave_date": dt.date(2025, 1, 31) if i else None,
                "declared_wage": Decimal("12345.6"),
                "status": "active",
            }
            for i in range(5)
        ],
        batch_size=2,
    )
    assert n == 5
    e0, e1 = Employee.objects.get(employee_no="B0"), Employee.objects.get(employee_no="B1")
    assert e1.hire_date == dt.date(2024, 2, 29) and e1.leave_date == dt.date(2025, 1, 31)
    assert e1.declared_wage == Decimal("12345.60") and e1.department == org["rd"]
    assert e0.department is None and e0.leave_date is None
    # defaults: False, "" for text, one timestamp for auto_now / auto_now_add
    assert e0.id_upgraded_from_15 is False and e0.phone_enc == "" and e0.gender == "" and e0.email == ""
    assert e0.created_at == e0.updated_at and before <= e0.created_at <= timezone.now()
    spell = {"employee_id": e1.pk, "entity_id": org["bj"].pk, "employee_no": "B1"}
    spell |= {"employment_type": "full_time", "hire_date": dt.date(2024, 3, 1)}
    insert_rows(EmploymentSpell, [spell])
    assert EmploymentSpell.objects.get(employee=e1).leave_reason == ""


@pytest.mark.django_db
def test_json_columns_go_through_the_field(org):
    insert_rows(AuditEvent, [{"action": "test.bulk", "changes": {"名称": "值", "n": [1, 2]}}])
    assert AuditEvent.objects.get(action="test.bulk").changes == {"名称": "值", "n": [1, 2]}


@pytest.mark.django_db
def test_unknown_or_missing_columns_raise(org):
    with pytest.raises(KeyError, match="no column"):
        insert_rows(
            EmploymentSpell,
            [
                {
                    "employee_id": 1,
                    "entity_id": 1,
                    "employee_no": "X",
                    "employment_type": "full_time",
                    "hire_date": "2024-01-01",
                    "nonsense": 1,
                }
            ],
        )
    with pytest.raises(KeyError, match="hire_date is required"):
        insert_rows(EmploymentSpell, [{"employee_id": 1, "employee_no": "X", "entity_id": org["bj"].pk}])
