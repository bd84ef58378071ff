from __future__ import annotations

from django.db import transaction
from stdnum.cn import uscc as uscc_lib
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from shebao.audit.services import audit_record
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.org.models import Department, Entity, Organisation
from shebao.policy.selectors import city_resolve


def organisation_get_or_create(*, name: str = "示例集团") -> Organisation:
    """The deployment's organisation; created on first use with the default alert rules."""
    org = Organisation.objects.order_by("id").first()
    if org is None:
        from shebao.cases.services import workflows_install
        from shebao.rules.services import rules_install_defaults

        org = Organisation.objects.create(name=name)
        rules_install_defaults()
        workflows_install()
    return org


def uscc_normalise(value: str) -> str:
    """Validate a 统一社会信用代码 (GB 32100-2015) and return it canonical, or say what is wrong."""
    raw = uscc_lib.compact(value or "")
    if not raw:
        raise ApplicationError("统一社会信用代码不能为空", field_errors={"uscc": "必填"})
    try:
        return uscc_lib.validate(raw)
    except InvalidLength:
        msg = f"统一社会信用代码应为18位，实际为{len(raw)}位"
    except InvalidFormat:
        msg = "统一社会信用代码含有无效字符（不允许使用 I、O、Z、S、V）"
    except InvalidChecksum:
        msg = f"统一社会信用代码校验位错误：应为 {uscc_lib.calc_check_digit(raw[:17])}"
    except InvalidComponent:
        msg = "统一社会信用代码的登记管理部门、机构类别或行政区划码无效"
    except ValidationError:
        msg = "统一社会信用代码无效"
    raise ApplicationError(msg, field_errors={"uscc": msg})


@transaction.atomic
def entity_create(
    *, actor: Actor, code: str, name: str, uscc: str, city: str, si_unit_no: str = "", hf_unit_no: str = ""
) -> Entity:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise ApplicationError("参保主体编码和名称不能为空")
    canonical = uscc_normalise(uscc)
    city_obj = city_resolve(city)
    if Entity.objects.filter(code=code).exists():
        raise ApplicationError(f"参保主体编码“{code}”已存在", field_errors={"code": "已存在"})
    if Entity.objects.filter(name=name).exists():
        raise ApplicationError(f"参保主体名称“{name}”已存在", field_errors={"name": "已存在"})
    if Entity.objects.filter(uscc=canonical).exists():
        raise ApplicationError(
            f"统一社会信用代码“{canonical}”已被其他参保主体使用", field_errors={"uscc": "已存在"}
        )
    entity = Entity.objects.create(
        organisation=organisation_get_or_create(),
        code=code,
        name=name,
        uscc=canonical,
        city=city_obj,
        si_unit_no=si_unit_no.strip(),
        hf_unit_no=hf_unit_no.strip(),
    )
    audit_record(
        actor=actor,
        action="entity.create",
        obj=entity,
        changes={"code": code, "name": name, "uscc": canonical, "city": city_obj.name},
    )
    return entity


@transaction.atomic
def department_create(
    *,
    actor: Actor,
    entity: Entity,
    name: str,
    parent: Department | None = None,
    code: str = "",
    kind: str = Department.Kind.DEPARTMENT,
) -> Department:
    name = name.strip()
    if not name:
        raise ApplicationError("部门名称不能为空")
    if parent is not None and parent.entity_id != entity.id:
        raise ApplicationError(f"上级部门“{parent.name}”不属于参保主体“{entity.name}”")
    if Department.objects.filter(entity=entity, parent=parent, name=name).exists():
        raise ApplicationError(f"“{parent.name if parent else entity.name}”下已有名为“{name}”的部门")
    dept = Department.objects.create(entity=entity, parent=parent, name=name, code=code, kind=kind)
    department_set_path(department=dept)
    audit_record(
        actor=actor, action="department.create", obj=dept, changes={"entity": entity.name, "name": name}
    )
    return dept


def department_set_path(*, department: Department) -> None:
    """Recompute the materialised path of a department (call after create or move)."""
    parent = department.parent
    department.path = f"{parent.path if parent else '/'}{department.id}/"
    department.depth = parent.depth + 1 if parent else 0
    Department.objects.filter(pk=department.pk).update(path=department.path, depth=department.depth)
