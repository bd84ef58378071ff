"""Request and response schemas of /api/v1/.

Inputs check types and shapes only (with Chinese messages, see ``shebao.api.errors``);
business rules (ID check digits, duplicate numbers, leave before hire…) stay in the
roster services so the web UI, importers and the API give the same answers.
Outputs never carry a full identity or phone number: only the masks.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from shebao.core.identity import IdKind
from shebao.org.models import Department, Entity
from shebao.roster.models import Employee, EmployeeStatus, EmploymentType, HukouType

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _iso_date(value: Any) -> Any:
    """Dates travel as "YYYY-MM-DD" strings only (pydantic alone would also take Unix timestamps)."""
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE_RE.fullmatch(value.strip()):
        raise PydanticCustomError("shebao", "日期格式无效：应为 YYYY-MM-DD，例如 2024-03-01")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("shebao", "日期无效：“{value}”不存在", {"value": value.strip()}) from None


def _email(value: str | None) -> str | None:
    if value:
        value = value.strip()
        try:
            validate_email(value)
        except DjangoValidationError:
            raise PydanticCustomError("shebao", "邮箱格式无效") from None
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Email = Annotated[str, AfterValidator(_email), Field(max_length=254)]
Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2, ge=0)]


# --- output ----------------------------------------------------------------------------------
# Views build plain dicts with the functions below and the schemas are plain pydantic models:
# ninja's Schema reads every value through a Django-aware getter, which on a 200-row page costs
# more than the queries do. The schemas still document and check the shape.


class Out(BaseModel):
    pass


class EntityRef(Out):
    code: str
    name: str


class DepartmentRef(Out):
    id: int
    name: str


class SpellOut(Out):
    """One period of employment (a re-hired person has several)."""

    employee_no: str
    entity: EntityRef
    department: DepartmentRef | None
    employment_type: str
    hire_date: dt.date
    leave_date: dt.date | None
    leave_reason: str
    declared_wage: str | None = Field(description='申报月工资，两位小数的字符串，如 "8000.00"')


class EmployeeOut(Out):
    id: int
    employee_no: str = Field(description="工号")
    name: str = Field(description="姓名")
    id_kind: str = Field(description="证件类型")
    id_number_masked: str = Field(description="证件号码（掩码）；完整号码只能通过 reveal 接口查看并留痕")
    gender: Literal["M", "F"] | None
    birth_date: dt.date | None
    hukou_type: str | None
    phone_masked: str | None = Field(description="手机号码（掩码）")
    email: str | None
    entity: EntityRef
    department: DepartmentRef | None
    employment_type: str
    hire_date: dt.date
    leave_date: dt.date | None
    declared_wage: str | None = Field(description='申报月工资，两位小数的字符串，如 "8000.00"')
    status: str


class EmployeeDetailOut(EmployeeOut):
    spells: list[SpellOut]


class EmployeePage(Out):
    items: list[EmployeeOut]
    total: int = Field(description="符合条件的员工总数")
    page: int
    page_size: int


class EntityOut(Out):
    code: str
    name: str
    uscc: str = Field(description="统一社会信用代码")
    city: str = Field(description="参保城市")
    city_code: str = Field(description="参保城市行政区划代码")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _entity_ref(entity: Entity) -> dict[str, Any]:
    return {"code": entity.code, "name": entity.name}


def _department_ref(department: Department | None) -> dict[str, Any] | None:
    return None if department is None else {"id": department.pk, "name": department.name}


def employee_data(employee: Employee, *, with_spells: bool = False) -> dict[str, Any]:
    """``EmployeeOut`` (``EmployeeDetailOut`` with spells) as a dict. Only masks, never full numbers."""
    data = {
        "id": employee.pk,
        "employee_no": employee.employee_no,
        "name": employee.name,
        "id_kind": employee.id_kind,
        "id_number_masked": employee.id_number_masked,
        "gender": employee.gender or None,
        "birth_date": employee.birth_date,
        "hukou_type": employee.hukou_type or None,
        "phone_masked": employee.phone_masked or None,
        "email": employee.email or None,
        "entity": _entity_ref(employee.entity),
        "department": _department_ref(employee.department),
        "employment_type": employee.employment_type,
        "hire_date": employee.hire_date,
        "leave_date": employee.leave_date,
        "declared_wage": _money(employee.declared_wage),
        "status": employee.status,
    }
    if with_spells:
        data["spells"] = [
            {
                "employee_no": spell.employee_no,
                "entity": _entity_ref(spell.entity),
                "department": _department_ref(spell.department),
                "employment_type": spell.employment_type,
                "hire_date": spell.hire_date,
                "leave_date": spell.leave_date,
                "leave_reason": spell.leave_reason,
                "declared_wage": _money(spell.declared_wage),
            }
            for spell in employee.spells.all()
        ]
    return data


def entity_data(entity: Entity) -> dict[str, Any]:
    return {
        "code": entity.code,
        "name": entity.name,
        "uscc": entity.uscc,
        "city": entity.city.name,
        "city_code": entity.city.code,
    }


class RevealOut(Out):
    field: Literal["id_number", "phone"]
    value: str | None = Field(description="完整号码；未登记手机号码时为 null")


class ErrorItem(Out):
    field: str
    message: str


class ErrorOut(Out):
    detail: str
    errors: list[ErrorItem] | None = None
    code: str | None = Field(None, description="业务规则错误的稳定代码（如 will_reject），供程序判断")


# --- input -----------------------------------------------------------------------------------


class EmployeeQuery(Schema):
    q: str = Field("", max_length=100, description="工号、姓名，或完整的证件号码/手机号码")
    entity: str | None = Field(None, max_length=32, description="参保主体编码，如 BJ01")
    department: int | None = Field(None, description="部门 ID（含下级部门）")
    status: EmployeeStatus | None = None
    employment_type: EmploymentType | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class _EmployeeFields(Schema):
    model_config = ConfigDict(extra="forbid")


class EmployeeCreateIn(_EmployeeFields):
    name: str = Field(description="姓名")
    id_kind: IdKind | None = Field(None, description="证件类型；不填时按号码自动识别")
    id_number: str = Field(description="证件号码")
    phone: str | None = None
    email: Email | None = None
    employee_no: str = Field(max_length=32, description="工号")
    entity: str = Field(max_length=32, description="参保主体编码，如 BJ01")
    department: int | None = Field(None, description="部门 ID")
    employment_type: EmploymentType = EmploymentType.FULL_TIME
    hire_date: IsoDate = Field(description="入职日期 YYYY-MM-DD")
    leave_date: IsoDate | None = None
    declared_wage: Money | None = Field(None, description="申报月工资")
    hukou_type: HukouType | None = None


class EmployeeUpdateIn(_EmployeeFields):
    """Only the fields sent change; null clears an optional field."""

    name: str | None = None
    id_kind: IdKind | None = None
    id_number: str | None = None
    phone: str | None = None
    email: Email | None = None
    employee_no: str | None = Field(None, max_length=32)
    entity: str | None = Field(None, max_length=32, description="参保主体编码")
    department: int | None = None
    employment_type: EmploymentType | None = None
    hire_date: IsoDate | None = None
    leave_date: IsoDate | None = None
    declared_wage: Money | None = None
    hukou_type: HukouType | None = None


# Fields a PATCH may not set to null (they cannot be empty).
REQUIRED_ON_UPDATE = ("name", "id_number", "employee_no", "entity", "employment_type", "hire_date")


class RevealIn(_EmployeeFields):
    field: Literal["id_number", "phone"] = Field(description="要查看的完整字段")
