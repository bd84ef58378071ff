from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from shebao.org.models import Department, Entity


def entity_list(*, ids: list[int] | None = None) -> QuerySet[Entity]:
    qs = Entity.objects.select_related("city")
    return qs.filter(id__in=ids) if ids is not None else qs


def entity_list_with_counts() -> QuerySet[Entity]:
    return entity_list().annotate(active_count=Count("employees", filter=Q(employees__status="active")))


def department_list(
    *, entity_ids: list[int] | None = None, under_path: str | None = None
) -> QuerySet[Department]:
    qs = Department.objects.select_related("entity")
    if entity_ids is not None:
        qs = qs.filter(entity_id__in=entity_ids)
    if under_path:
        qs = qs.filter(path__startswith=under_path)
    return qs


def department_label(department: Department) -> str:
    return "　" * department.depth + department.name
