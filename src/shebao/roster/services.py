from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from shebao.accounts.permissions import can_edit_employee, can_edit_roster, can_reveal, entity_scope_ids
from shebao.audit.services import audit_record, diff
from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.core.identity import (
    IdentityError,
    IdKind,
    mask_identity,
    mask_phone,
    normalize_phone,
    parse_identity,
)
from shebao.org.models import Department, Entity
from shebao.roster.models import (
    ID_PURPOSE,
    PHONE_PURPOSE,
    Employee,
    EmployeeStatus,
    EmploymentSpell,
    EmploymentType,
    HukouType,
)

# Fields of Employee that mirror the current spell.
SPELL_FIELDS = [
    "entity",
    "department",
    "employee_no",
    "employment_type",
    "hire_date",
    "leave_date",
    "declared_wage",
]
PERSON_FIELDS = ["name", "hukou_type", "email"]


def employee_status_for(
    *, hire_date: dt.date, leave_date: dt.date | None, today: dt.date | None = None
) -> str:
    today = today or timezone.localdate()
    if leave_date is not None and leave_date < today:
        return EmployeeStatus.LEFT
    if hire_date > today:
        return EmployeeStatus.PENDING
    return EmployeeStatus.ACTIVE


def _check_actor(actor: Actor, employee: Employee | None = None) -> None:
    # Actors without a user are the CLI and the worker, which run with the operator's trust.
    if actor.user is None:
        return
    if employee is None and not can_edit_roster(actor.user):
        raise PermissionDenied("没有维护花名册的权限")
    if employee is not None and not can_edit_employee(actor.user, employee):
        raise PermissionDenied("没有权限修改该员工")


def _check_target_entity(actor: Actor, values: dict[str, Any]) -> None:
    """An HR specialist may only place employees in the entities they are responsible for."""
    entity = values.get("entity")
    if actor.user is None or entity is None:
        return
    allowed = entity_scope_ids(actor.user)
    if allowed is not None and entity.id not in allowed:
        raise PermissionDenied(f"没有权限在参保主体“{entity.name}”下维护员工")


def _clean(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate and normalise employee fields; collect every field error before failing."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "name" in data or creating:
        name = " ".join(str(data.get("name") or "").split())
        if not name:
            errors["name"] = "姓名不能为空"
        elif len(name) > 60:
            errors["name"] = "姓名不能超过60个字符"
        out["name"] = name
    if "id_number" in data or creating:
        try:
            kind = data.get("id_kind") or None
            out["identity"] = parse_identity(data.get("id_number"), IdKind.from_value(kind) if kind else None)
        except IdentityError as exc:
            errors["id_number"] = exc.message
    if "phone" in data:
        phone = data.get("phone") or ""
        try:
            out["phone"] = normalize_phone(phone) if str(phone).strip() else ""
        except IdentityError as exc:
            errors["phone"] = exc.message
    if "email" in data:
        out["email"] = str(data.get("email") or "").strip()
    if "employee_no" in data or creating:
        no = str(data.get("employee_no") or "").strip().upper()
        if not no:
            errors["employee_no"] = "工号不能为空"
        out["employee_no"] = no
    if "entity" in data or creating:
        if not isinstance(data.get("entity"), Entity):
            errors["entity"] = "请选择参保主体"
        out["entity"] = data.get("entity")
    if "department" in data:
        out["department"] = data.get("department")
    for field, label in (("hire_date", "入职日期"), ("leave_date", "离职日期")):
        if field in data or (creating and field == "hire_date"):
            value = data.get(field)
            if value in (None, "") and field == "hire_date":
                errors[field] = "入职日期不能为空"
            elif value not in (None, "") and not isinstance(value, dt.date):
                errors[field] = f"{label}格式无效"
            out[field] = value or None
    if "employment_type" in data or creating:
        value = data.get("employment_type") or EmploymentType.FULL_TIME
        if value not in EmploymentType.values:
            errors["employment_type"] = f"未知用工类型“{value}”"
        out["employment_type"] = value
    if "hukou_type" in data:
        value = data.get("hukou_type") or ""
        if value and value not in HukouType.values:
            errors["hukou_type"] = f"未知户籍类型“{value}”"
        out["hukou_type"] = value
    if "declared_wage" in data:
        value = data.get("declared_wage")
        if value in (None, ""):
            out["declared_wage"] = None
        else:
            try:
                wage = Decimal(str(value)).quantize(Decimal("0.01"))
                if wage < 0:
                    raise InvalidOperation
                out["declared_wage"] = wage
            except (InvalidOperation, ValueError):
                errors["declared_wage"] = f"申报月工资应为非负金额，而不是“{value}”"
    if errors:
        first = next(iter(errors.values()))
        raise ApplicationError(
            first if len(errors) == 1 else f"{first}（共{len(errors)}处错误）", field_errors=errors
        )
    return out


def _check_relations(values: dict[str, Any], employee: Employee | None) -> None:
    entity = values.get("entity", employee.entity if employee else None)
    dept: Department | None = values.get("department", employee.department if employee else None)
    if dept is not None and entity is not None and dept.entity_id != entity.id:
        raise ApplicationError(
            f"部门“{dept.name}”不属于参保主体“{entity.name}”", field_errors={"department": "不属于该参保主体"}
        )
    hire = values.get("hire_date", employee.hire_date if employee else None)
    leave = values.get("leave_date", employee.leave_date if employee else None)
    if hire and leave and leave < hire:
        raise ApplicationError(
            f"离职日期 {leave} 早于入职日期 {hire}", field_errors={"leave_date": "早于入职日期"}
        )
    no = values.get("employee_no")
    if no and Employee.objects.filter(employee_no=no).exclude(pk=employee.pk if employee else None).exists():
        raise ApplicationError(f"工号“{no}”已被其他员工使用", field_errors={"employee_no": "已存在"})
    identity = values.get("identity")
    if identity is not None:
        bidx = crypto.blind_index(identity.number, purpose=ID_PURPOSE)
        other = (
            Employee.objects.filter(id_number_bidx=bidx).exclude(pk=employee.pk if employee else None).first()
        )
        if other:
            raise ApplicationError(
                f"该证件号码已登记在员工“{other.name}”（工号 {other.employee_no}）名下；再次入职请使用“再入职”",
                field_errors={"id_number": "证件号码已存在"},
            )


def _apply_identity(employee: Employee, values: dict[str, Any]) -> None:
    identity = values.get("identity")
    if identity is not None:
        employee.id_kind = identity.kind.value
        employee.id_number_enc = crypto.encrypt(identity.number, purpose=ID_PURPOSE)
        employee.id_number_bidx = crypto.blind_index(identity.number, purpose=ID_PURPOSE)
        employee.id_upgraded_from_15 = identity.upgraded_from_15
        employee.birth_date = identity.birth_date
        employee.gender = identity.gender or ""
    if "phone" in values:
        phone = values["phone"]
        employee.phone_enc = crypto.encrypt(phone, purpose=PHONE_PURPOSE) if phone else ""
        employee.phone_bidx = crypto.blind_index(phone, purpose=PHONE_PURPOSE) if phone else ""


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    """The values as they may appear in an audit row: identifiers masked, objects named."""
    view = {k: v for k, v in values.items() if k not in {"identity", "phone"}}
    if values.get("identity") is not None:
        ident = values["identity"]
        view["id_number"] = mask_identity(ident.number, ident.kind)
        view["id_kind"] = ident.kind.value
    if "phone" in values:
        view["phone"] = mask_phone(values["phone"]) if values["phone"] else ""
    return view


def _snapshot(employee: Employee) -> dict[str, Any]:
    snap = {f: getattr(employee, f) for f in PERSON_FIELDS + SPELL_FIELDS}
    snap["id_number"] = employee.id_number_masked
    snap["id_kind"] = employee.id_kind
    snap["phone"] = employee.phone_masked
    return snap


def _rules_follow(employee: Employee) -> None:
    """Re-evaluate the alert rules for this employee once the write commits (in the worker)."""
    from shebao.rules.tasks import findings_evaluate_on_commit

    findings_evaluate_on_commit(employee_ids=[employee.pk])


@transaction.atomic
def employee_create(*, actor: Actor, **data: Any) -> Employee:
    """Register a person and their first employment spell."""
    _check_actor(actor)
    values = _clean(data, creating=True)
    _check_target_entity(actor, values)
    _check_relations(values, None)
    employee = Employee(**{k: values[k] for k in PERSON_FIELDS + SPELL_FIELDS if k in values})
    _apply_identity(employee, values)
    employee.status = employee_status_for(hire_date=employee.hire_date, leave_date=employee.leave_date)
    employee.save()
    EmploymentSpell.objects.create(employee=employee, **{f: getattr(employee, f) for f in SPELL_FIELDS})
    audit_record(
        actor=actor,
        action="employee.create",
        obj=employee,
        changes={
            "new": _audit_view(values)
            | {
                "entity": employee.entity.name,
                "department": employee.department.name if employee.department else "",
            }
        },
    )
    _rules_follow(employee)
    return employee


@transaction.atomic
def employee_update(*, actor: Actor, employee: Employee, data: dict[str, Any]) -> Employee:
    """Change person fields and the current spell. Only the keys present in ``data`` change."""
    _check_actor(actor, employee)
    values = _clean(data, creating=False)
    _check_target_entity(actor, values)
    _check_relations(values, employee)
    before = _snapshot(employee)
    for field in PERSON_FIELDS + SPELL_FIELDS:
        if field in values:
            setattr(employee, field, values[field])
    _apply_identity(employee, values)
    employee.status = employee_status_for(hire_date=employee.hire_date, leave_date=employee.leave_date)
    employee.save()
    spell = employee.spells.order_by("-hire_date", "-id").first()
    if spell is not None:
        for field in SPELL_FIELDS:
            setattr(spell, field, getattr(employee, field))
        spell.save()
    changes = diff(before, _snapshot(employee))
    if changes:
        audit_record(actor=actor, action="employee.update", obj=employee, changes=changes)
        _rules_follow(employee)
    return employee


@transaction.atomic
def employee_rehire(
    *,
    actor: Actor,
    employee: Employee,
    entity: Entity | None,
    hire_date: dt.date | None,
    employee_no: str,
    department: Department | None = None,
    employment_type: str = EmploymentType.FULL_TIME,
    declared_wage: Decimal | None = None,
) -> EmploymentSpell:
    """Start a new spell for a person who has left: same identity, new employment."""
    _check_actor(actor, employee)
    values = _clean(
        {
            "entity": entity,
            "department": department,
            "employee_no": employee_no,
            "hire_date": hire_date,
            "employment_type": employment_type,
            "declared_wage": declared_wage,
        },
        creating=False,
    )
    if employee.leave_date is None or employee.leave_date >= hire_date:
        raise ApplicationError(
            f"员工“{employee.name}”尚未离职（或离职日期 {employee.leave_date or '未填写'} 不早于新的入职日期），不能再入职",
            field_errors={"hire_date": "应晚于上次离职日期"},
        )
    values["leave_date"] = None
    _check_target_entity(actor, values)
    _check_relations(values, employee)
    for field in SPELL_FIELDS:
        setattr(employee, field, values.get(field))
    employee.status = employee_status_for(hire_date=hire_date, leave_date=None)
    employee.save()
    spell = EmploymentSpell.objects.create(
        employee=employee, **{f: getattr(employee, f) for f in SPELL_FIELDS}
    )
    audit_record(
        actor=actor,
        action="employee.rehire",
        obj=employee,
        changes={"entity": entity.name, "hire_date": str(hire_date), "employee_no": employee.employee_no},
    )
    _rules_follow(employee)
    return spell


@transaction.atomic
def employee_reveal(*, actor: Actor, employee: Employee, field: str) -> str:
    """Return the full identity or phone number, after a permission check, and audit the reveal."""
    if actor.user is None or not can_reveal(actor.user, employee):
        raise PermissionDenied("没有查看完整个人信息的权限")
    if field == "id_number":
        value = crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)
    elif field == "phone":
        value = crypto.decrypt(employee.phone_enc, purpose=PHONE_PURPOSE) if employee.phone_enc else ""
    else:
        raise ApplicationError(f"不支持查看字段“{field}”")
    audit_record(actor=actor, action=f"employee.reveal_{field}", obj=employee, changes={"field": field})
    return value


def employee_refresh_statuses(*, today: dt.date | None = None) -> int:
    """Move employees whose hire or leave date has passed to their new status. Returns rows changed."""
    today = today or timezone.localdate()
    changed = (
        Employee.objects.filter(status=EmployeeStatus.PENDING, hire_date__lte=today)
        .exclude(leave_date__lt=today)
        .update(status=EmployeeStatus.ACTIVE)
    )
    changed += (
        Employee.objects.filter(leave_date__lt=today)
        .exclude(status=EmployeeStatus.LEFT)
        .update(status=EmployeeStatus.LEFT)
    )
    return changed


def employees_reencrypt(*, batch_size: int = 1000) -> int:
    """Re-encrypt every ciphertext not under the primary key (after `shebao keys rotate`)."""
    ring = crypto.keyring()
    done = 0
    last = 0
    while True:
        rows = list(Employee.objects.filter(pk__gt=last).order_by("pk")[:batch_size])
        if not rows:
            return done
        stale = []
        for e in rows:
            if ring.key_id_of(e.id_number_enc) != ring.primary or (
                e.phone_enc and ring.key_id_of(e.phone_enc) != ring.primary
            ):
                e.id_number_enc = ring.encrypt(
                    ring.decrypt(e.id_number_enc, purpose=ID_PURPOSE), purpose=ID_PURPOSE
                )
                if e.phone_enc:
                    e.phone_enc = ring.encrypt(
                        ring.decrypt(e.phone_enc, purpose=PHONE_PURPOSE), purpose=PHONE_PURPOSE
                    )
                stale.append(e)
        with transaction.atomic():
            Employee.objects.bulk_update(stale, ["id_number_enc", "phone_enc"])
        done += len(stale)
        last = rows[-1].pk
