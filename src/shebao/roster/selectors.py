from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from shebao.accounts.models import User
from shebao.accounts.permissions import employee_scope
from shebao.core import crypto
from shebao.core.identity import IdentityError, normalize_phone, normalize_text, parse_identity
from shebao.roster.models import ID_PURPOSE, PHONE_PURPOSE, Employee, EmployeeStatus


@dataclass(frozen=True)
class EmployeeFilters:
    q: str = ""
    entity_id: int | None = None
    department_id: int | None = None
    status: str = ""
    employment_type: str = ""


def _search(q: str) -> Q:
    """Full ID number or phone → blind-index match; otherwise employee number or name."""
    text = q.strip()
    compact = normalize_text(text)
    try:
        identity = parse_identity(compact)
        return Q(id_number_bidx=crypto.blind_index(identity.number, purpose=ID_PURPOSE))
    except IdentityError:
        pass
    if compact.isdigit() or compact.startswith("+"):
        try:
            phone = normalize_phone(compact)
            return Q(phone_bidx=crypto.blind_index(phone, purpose=PHONE_PURPOSE)) | Q(employee_no=compact)
        except IdentityError:
            pass
    return Q(employee_no=compact) | Q(name__contains=" ".join(text.split()))


def employee_list(*, user: User, filters: EmployeeFilters = EmployeeFilters()) -> QuerySet[Employee]:
    qs = Employee.objects.filter(employee_scope(user)).select_related("entity", "department")
    if filters.q.strip():
        qs = qs.filter(_search(filters.q))
    if filters.entity_id:
        qs = qs.filter(entity_id=filters.entity_id)
    if filters.department_id:
        from shebao.org.models import Department

        dept = Department.objects.filter(pk=filters.department_id).first()
        qs = qs.filter(department__path__startswith=dept.path) if dept else qs.none()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.employment_type:
        qs = qs.filter(employment_type=filters.employment_type)
    return qs.order_by("employee_no")


def employee_rows(ids: list[int]) -> list[Employee]:
    """The employees with these ids, in this order. Pages are cut on ids first and the rows fetched
    after (a deferred join), so a deep OFFSET skips index entries, not joined rows."""
    found = Employee.objects.select_related("entity", "department").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def employee_slice(qs: QuerySet[Employee], start: int, stop: int) -> list[Employee]:
    return employee_rows(list(qs.values_list("pk", flat=True)[start:stop]))


def employee_get(*, user: User, pk: int) -> Employee | None:
    return (
        Employee.objects.filter(employee_scope(user), pk=pk)
        .select_related("entity", "entity__city", "department")
        .prefetch_related("spells", "spells__entity", "spells__department")
        .first()
    )


def roster_counts(*, user: User, today: dt.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    month_start = today.replace(day=1)
    qs = Employee.objects.filter(employee_scope(user))
    return qs.aggregate(
        active=Count("id", filter=Q(status=EmployeeStatus.ACTIVE)),
        pending=Count("id", filter=Q(status=EmployeeStatus.PENDING)),
        left=Count("id", filter=Q(status=EmployeeStatus.LEFT)),
        hired_this_month=Count("id", filter=Q(hire_date__gte=month_start, hire_date__lte=today)),
        left_this_month=Count("id", filter=Q(leave_date__gte=month_start, leave_date__lte=today)),
        legacy_ids=Count("id", filter=Q(id_upgraded_from_15=True, status=EmployeeStatus.ACTIVE)),
    )


def headcount_by_entity(*, user: User) -> list[dict]:
    return list(
        Employee.objects.filter(employee_scope(user), status=EmployeeStatus.ACTIVE)
        .values("entity__name", "entity__city__name")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
