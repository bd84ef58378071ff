"""Write the synthetic organisation of ``shebao.demo.generator`` to the database, and demo accounts.

The roster is written with ``bulk_create`` in batches for speed, but with the same rules as
``shebao.roster.services``: every identity number goes through ``parse_identity`` (a generator
bug fails the whole run, which is one transaction), identity and phone numbers are stored only
as ciphertext plus blind index, and the status comes from ``employee_status_for``. The run is
recorded as one ``demo.seed`` audit event, which is also the marker that makes re-runs skip.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from shebao.accounts.models import Role, User
from shebao.accounts.services import user_create
from shebao.audit.models import AuditEvent
from shebao.audit.services import audit_record
from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.core.identity import IdentityError, IdKind, mask_identity, normalize_phone, parse_identity
from shebao.demo.generator import ENTITY_CODES, ORGANISATION_NAME, DemoOrganisation, PersonSpec, generate
from shebao.org.models import Department, Entity
from shebao.org.services import organisation_get_or_create, uscc_normalise
from shebao.policy.selectors import city_resolve
from shebao.roster.models import ID_PURPOSE, PHONE_PURPOSE, Employee, EmployeeStatus, EmploymentSpell
from shebao.roster.services import employee_status_for

SEED_ACTION = "demo.seed"
DEMO_PASSWORD = "Shebao-demo-2026"
BATCH_SIZE = 2000


@dataclass
class SeedResult:
    skipped: bool
    employees: int = 0
    spells: int = 0
    entities: int = 0
    departments: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    legacy15: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role_label: str
    scope: str


class GenerationError(RuntimeError):
    """The generator produced something the roster rules reject: a bug, never bad input."""


def demo_seeded() -> bool:
    """Whether this instance already holds the demo organisation."""
    return (
        AuditEvent.objects.filter(action=SEED_ACTION).exists()
        or Entity.objects.filter(code__in=ENTITY_CODES).exists()
    )


def _identity(person: PersonSpec):
    try:
        identity = parse_identity(person.id_number, person.id_kind)
    except IdentityError as exc:
        raise GenerationError(f"演示数据生成错误：证件号码无效（{exc.message}，{person.name}）") from exc
    legacy = len(person.id_number) == 15
    expected_birth = person.birth_date if identity.kind != IdKind.PASSPORT else None
    expected_gender = person.gender if identity.kind != IdKind.PASSPORT else None
    if (
        identity.upgraded_from_15 != legacy
        or identity.birth_date != expected_birth
        or identity.gender != expected_gender
        or identity.kind.value != person.id_kind
    ):
        raise GenerationError(
            f"演示数据生成错误：{mask_identity(identity.number, identity.kind)} 解析结果与生成参数不一致（{person.name}）"
        )
    return identity


def _write_structure(org: DemoOrganisation) -> tuple[dict[str, Entity], dict[tuple[str, ...], Department]]:
    organisation = organisation_get_or_create(name=ORGANISATION_NAME)
    entities = Entity.objects.bulk_create(
        [
            Entity(
                organisation=organisation,
                code=e.code,
                name=e.name,
                uscc=uscc_normalise(e.uscc),
                city=city_resolve(e.city),
                si_unit_no=e.si_unit_no,
                hf_unit_no=e.hf_unit_no,
            )
            for e in org.entities
        ]
    )
    by_code = {e.code: e for e in entities}
    depts: dict[tuple[str, ...], Department] = {}
    for depth in sorted({d.depth for d in org.departments}):
        level = [d for d in org.departments if d.depth == depth]
        rows = Department.objects.bulk_create(
            [
                Department(
                    entity=by_code[d.entity_code],
                    parent=depts[d.parent_key] if d.parent_key else None,
                    name=d.name,
                    code=d.code,
                    kind=d.kind,
                    depth=depth,
                )
                for d in level
            ]
        )
        for spec, row in zip(level, rows, strict=True):
            # The materialised path of shebao.org.services.department_set_path.
            row.path = f"{row.parent.path if row.parent else '/'}{row.pk}/"
            depts[spec.key] = row
        Department.objects.bulk_update(rows, ["path"])
    return by_code, depts


def _write_people(
    org: DemoOrganisation,
    entities: dict[str, Entity],
    depts: dict[tuple[str, ...], Department],
    progress: Callable[[int], None] | None,
) -> tuple[int, Counter, int]:
    today = org.as_of
    statuses: Counter = Counter()
    spells_written = legacy = 0
    for start in range(0, len(org.people), BATCH_SIZE):
        batch = org.people[start : start + BATCH_SIZE]
        employees = []
        for person in batch:
            identity = _identity(person)
            phone = normalize_phone(person.phone)
            cur = person.current
            status = employee_status_for(hire_date=cur.hire_date, leave_date=cur.leave_date, today=today)
            statuses[status] += 1
            legacy += identity.upgraded_from_15
            employees.append(
                Employee(
                    name=person.name,
                    id_kind=identity.kind.value,
                    id_number_enc=crypto.encrypt(identity.number, purpose=ID_PURPOSE),
                    id_number_bidx=crypto.blind_index(identity.number, purpose=ID_PURPOSE),
                    id_upgraded_from_15=identity.upgraded_from_15,
                    birth_date=identity.birth_date,
                    gender=identity.gender or "",
                    hukou_type=person.hukou_type,
                    phone_enc=crypto.encrypt(phone, purpose=PHONE_PURPOSE),
                    phone_bidx=crypto.blind_index(phone, purpose=PHONE_PURPOSE),
                    employee_no=cur.employee_no,
                    entity_id=entities[cur.entity_code].pk,
                    department_id=depts[cur.department_key].pk,
                    employment_type=cur.employment_type,
                    hire_date=cur.hire_date,
                    leave_date=cur.leave_date,
                    declared_wage=cur.declared_wage,
                    status=status,
                )
            )
        Employee.objects.bulk_create(employees)
        spells = [
            EmploymentSpell(
                employee_id=emp.pk,
                entity_id=entities[s.entity_code].pk,
                department_id=depts[s.department_key].pk,
                employee_no=s.employee_no,
                employment_type=s.employment_type,
                hire_date=s.hire_date,
                leave_date=s.leave_date,
                leave_reason=s.leave_reason,
                declared_wage=s.declared_wage,
            )
            for person, emp in zip(batch, employees, strict=True)
            for s in person.spells
        ]
        EmploymentSpell.objects.bulk_create(spells)
        spells_written += len(spells)
        if progress:
            progress(start + len(batch))
    return spells_written, statuses, legacy


def seed_demo(
    *,
    employees: int,
    seed: int = 2026,
    as_of: dt.date | None = None,
    actor: Actor | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Create the demo organisation unless it exists. All or nothing: one transaction."""
    started = time.monotonic()
    actor = actor or Actor.system(via="cli")
    if demo_seeded():
        return SeedResult(skipped=True)
    if Entity.objects.exists():
        raise ApplicationError("该实例已有参保主体：演示数据只能写入空实例（请使用新的 SHEBAO_INSTANCE_DIR）")
    as_of = as_of or timezone.localdate()
    org = generate(employees=employees, seed=seed, as_of=as_of)
    with transaction.atomic():
        entities, depts = _write_structure(org)
        spells, statuses, legacy = _write_people(org, entities, depts, progress)
        result = SeedResult(
            skipped=False,
            employees=len(org.people),
            spells=spells,
            entities=len(entities),
            departments=len(depts),
            statuses={s.value: statuses.get(s.value, 0) for s in EmployeeStatus},
            legacy15=legacy,
        )
        audit_record(
            actor=actor,
            action=SEED_ACTION,
            obj=None,
            changes={
                "seed": seed,
                "employees": result.employees,
                "as_of": as_of.isoformat(),
                "spells": spells,
                "entities": [e.code for e in org.entities],
                "departments": result.departments,
                "statuses": result.statuses,
                "legacy15_upgraded": legacy,
            },
        )
    result.seconds = time.monotonic() - started
    return result


# --- demo accounts -------------------------------------------------------------------------------


def demo_users_ensure(*, actor: Actor | None = None, password: str = DEMO_PASSWORD) -> list[DemoLogin]:
    """Create (or reset) the demo accounts; needs the demo organisation."""
    from axes.utils import reset as axes_reset

    actor = actor or Actor.system(via="cli")
    beijing = list(Entity.objects.filter(code__in=ENTITY_CODES, city__short_name="北京").order_by("code"))
    dept = (
        Department.objects.filter(entity__code="BJ01", parent=None, name="研发中心").first()
        or Department.objects.filter(entity__code__in=ENTITY_CODES).order_by("path").first()
    )
    if not beijing or dept is None:
        raise ApplicationError("尚无演示数据：请先运行 shebao seed --employees N")
    specs = [
        ("demo", Role.HR_ADMIN, "演示管理员", {}, "全部参保主体"),
        (
            "hr_bj",
            Role.HR_SPECIALIST,
            "北京HR专员",
            {"entities": beijing},
            "、".join(e.name for e in beijing),
        ),
        (
            "manager",
            Role.DEPT_MANAGER,
            "研发中心经理",
            {"department": dept},
            f"{dept.entity.name} › {dept.name}",
        ),
        ("auditor", Role.AUDITOR, "审计员", {}, "只读，含审计日志"),
    ]
    logins = []
    with transaction.atomic():
        for username, role, full_name, scope, scope_label in specs:
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(
                    actor=actor, username=username, password=password, role=role, full_name=full_name, **scope
                )
            else:
                user.role = role
                user.first_name = full_name
                user.is_active = True
                user.is_staff = role == Role.HR_ADMIN
                user.department = scope.get("department")
                user.set_password(password)
                user.save()
                user.entities.set(scope.get("entities", []))
                audit_record(
                    actor=actor,
                    action="user.update",
                    obj=user,
                    changes={
                        "role": role,
                        "password": "reset (demo)",
                        "entities": [e.code for e in scope.get("entities", [])],
                    },
                )
            axes_reset(username=username)
            logins.append(DemoLogin(username, Role(role).label, scope_label))
    return logins
