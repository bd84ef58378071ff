"""/api/v1/employees — the roster, scoped to what the token's user may see."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.errors import HttpError

from shebao.accounts.models import User
from shebao.accounts.permissions import entity_scope_ids
from shebao.api.auth import actor_for, read_auth, write_auth
from shebao.api.schemas import (
    REQUIRED_ON_UPDATE,
    EmployeeCreateIn,
    EmployeeDetailOut,
    EmployeePage,
    EmployeeQuery,
    EmployeeUpdateIn,
    ErrorOut,
    RevealIn,
    RevealOut,
    employee_data,
)
from shebao.core.exceptions import ApplicationError
from shebao.org.models import Department, Entity
from shebao.org.selectors import department_list, entity_list
from shebao.roster.models import Employee
from shebao.roster.selectors import EmployeeFilters, employee_get, employee_list, employee_slice
from shebao.roster.services import employee_create, employee_reveal, employee_update

router = Router(tags=["员工"])

NOT_FOUND = "员工不存在或不在您的权限范围内"
LABELS = {
    "name": "姓名",
    "id_number": "证件号码",
    "employee_no": "工号",
    "entity": "参保主体",
    "employment_type": "用工类型",
    "hire_date": "入职日期",
}
ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}


def _fail(errors: dict[str, str]) -> ApplicationError:
    first = next(iter(errors.values()))
    return ApplicationError(
        first if len(errors) == 1 else f"{first}（共{len(errors)}处错误）", field_errors=errors
    )


def _entity_in_scope(user: User, code: str) -> Entity | None:
    return entity_list(ids=entity_scope_ids(user)).filter(code=code.strip()).first()


def _department_in_scope(user: User, pk: int) -> Department | None:
    return department_list(entity_ids=entity_scope_ids(user)).filter(pk=pk).first()


def _resolve_relations(user: User, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Replace entity codes and department ids in ``data`` by objects the user may use; return errors."""
    errors = []
    if data.get("entity") is not None:
        code = data["entity"]
        data["entity"] = _entity_in_scope(user, code)
        if data["entity"] is None:
            errors.append(("entity", f"参保主体“{code.strip()}”不存在或不在您的权限范围内"))
    if data.get("department") is not None:
        pk = data["department"]
        data["department"] = _department_in_scope(user, pk)
        if data["department"] is None:
            errors.append(("department", f"部门（ID {pk}）不存在或不在您的权限范围内"))
    return errors


def _detail(user: User, employee: Employee) -> dict[str, Any]:
    """The saved employee re-read with its spells (and its relations as now stored)."""
    return employee_data(employee_get(user=user, pk=employee.pk) or employee, with_spells=True)


def _get_or_404(user: User, pk: int) -> Employee:
    employee = employee_get(user=user, pk=pk)
    if employee is None:
        raise HttpError(404, NOT_FOUND)
    return employee


@router.get("/employees", response={200: EmployeePage, **ERRORS_READ}, auth=read_auth, summary="员工列表")
def list_employees(request: HttpRequest, filters: Query[EmployeeQuery]):
    """按工号排序、分页返回调用者权限范围内的员工。`total` 为符合条件的总数。"""
    user = request.auth.user
    errors: dict[str, str] = {}
    entity_id = department_id = None
    if filters.entity:
        entity = _entity_in_scope(user, filters.entity)
        if entity is None:
            errors["entity"] = f"参保主体“{filters.entity.strip()}”不存在或不在您的权限范围内"
        else:
            entity_id = entity.pk
    if filters.department is not None:
        if _department_in_scope(user, filters.department) is None:
            errors["department"] = f"部门（ID {filters.department}）不存在或不在您的权限范围内"
        department_id = filters.department
    if errors:
        raise _fail(errors)
    qs = employee_list(
        user=user,
        filters=EmployeeFilters(
            q=filters.q,
            entity_id=entity_id,
            department_id=department_id,
            status=filters.status or "",
            employment_type=filters.employment_type or "",
        ),
    )
    start = (filters.page - 1) * filters.page_size
    return {
        "items": [employee_data(e) for e in employee_slice(qs, start, start + filters.page_size)],
        "total": qs.count(),
        "page": filters.page,
        "page_size": filters.page_size,
    }


@router.get(
    "/employees/{employee_id}",
    response={200: EmployeeDetailOut, **ERRORS_ONE},
    auth=read_auth,
    summary="员工详情",
)
def get_employee(request: HttpRequest, employee_id: int):
    """员工详情，含全部任职期间（spells）。证件号码和手机号码只返回掩码。"""
    return employee_data(_get_or_404(request.auth.user, employee_id), with_spells=True)


@router.post(
    "/employees", response={201: EmployeeDetailOut, **ERRORS_READ}, auth=write_auth, summary="新增员工"
)
def create_employee(request: HttpRequest, payload: EmployeeCreateIn):
    """登记员工及其第一段任职期间。需要读写令牌。参保主体用编码，部门用 ID。"""
    user = request.auth.user
    data = payload.model_dump(exclude_unset=True)
    errors = _resolve_relations(user, data)
    if errors:
        raise _fail(dict(errors))
    employee = employee_create(actor=actor_for(request), **data)
    return Status(201, _detail(user, employee))


@router.patch(
    "/employees/{employee_id}",
    response={200: EmployeeDetailOut, **ERRORS_ONE},
    auth=write_auth,
    summary="修改员工",
)
def update_employee(request: HttpRequest, employee_id: int, payload: EmployeeUpdateIn):
    """部分修改：只修改请求中出现的字段；可选字段传 null 表示清空。需要读写令牌。"""
    user = request.auth.user
    employee = _get_or_404(user, employee_id)
    data = payload.model_dump(exclude_unset=True)
    errors = [(f, f"{LABELS[f]}不能为空") for f in REQUIRED_ON_UPDATE if f in data and data[f] is None]
    if "id_kind" in data and "id_number" not in data:
        errors.append(("id_number", "修改证件类型时须同时提供证件号码"))
    errors += _resolve_relations(user, data)
    if errors:
        raise _fail(dict(errors))
    employee_update(actor=actor_for(request), employee=employee, data=data)
    return _detail(user, employee)


@router.post(
    "/employees/{employee_id}/reveal",
    response={200: RevealOut, **ERRORS_ONE},
    auth=write_auth,
    summary="查看完整证件号码或手机号码",
)
def reveal_employee(request: HttpRequest, employee_id: int, payload: RevealIn, response: HttpResponse):
    """返回完整的证件号码或手机号码；每次调用都记入审计日志。需要读写令牌。"""
    employee = _get_or_404(request.auth.user, employee_id)
    value = employee_reveal(actor=actor_for(request), employee=employee, field=payload.field)
    response["Cache-Control"] = "no-store"
    return {"field": payload.field, "value": value or None}
