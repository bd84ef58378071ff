"""Reads of the rules room for the pages, the API and the CLI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_view_roster, employee_scope, entity_scope_ids
from shebao.core.money import fmt
from shebao.rules.kinds import KINDS
from shebao.rules.models import SEVERITY_RANK, AlertRule, Finding, FindingTransition

FS = Finding.Status
ACTIVE = (FS.OPEN, FS.ACKNOWLEDGED, FS.SNOOZED)


def findings_for(user) -> QuerySet[Finding]:
    """The findings a user may see: their entities' (HR specialist), their departments' employees
    (department manager), everything (HR admin, auditor)."""
    if not can_view_roster(user):
        return Finding.objects.none()
    qs = Finding.objects.all()
    if user.role in {Role.HR_ADMIN, Role.AUDITOR}:
        return qs
    if user.role == Role.DEPT_MANAGER:
        from shebao.roster.models import Employee

        return qs.filter(employee__in=Employee.objects.filter(employee_scope(user)).values("id"))
    ids = entity_scope_ids(user)
    return qs if ids is None else qs.filter(entity_id__in=ids)


@dataclass
class FindingFilters:
    status: str = "active"  # active / open / acknowledged / snoozed / resolved / all
    kind: str = ""
    rule: int | None = None
    severity: str = ""
    entity: int | None = None
    department: int | None = None
    employee: int | None = None
    assignee: int | None = None  # -1: unassigned
    q: str = ""
    sort: str = "deadline"  # deadline / severity / newest


def finding_list(user, filters: FindingFilters) -> QuerySet[Finding]:
    qs = findings_for(user).select_related("rule", "entity", "employee", "department", "assignee", "person")
    if filters.status == "active":
        qs = qs.filter(status__in=ACTIVE)
    elif filters.status in FS.values:
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.rule:
        qs = qs.filter(rule_id=filters.rule)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.entity:
        qs = qs.filter(entity_id=filters.entity)
    if filters.department:
        from shebao.org.models import Department

        dept = Department.objects.filter(pk=filters.department).first()
        if dept is not None:
            qs = qs.filter(department__path__startswith=dept.path)
    if filters.employee:
        qs = qs.filter(employee_id=filters.employee)
    if filters.assignee == -1:
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee:
        qs = qs.filter(assignee_id=filters.assignee)
    q = filters.q.strip()
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(employee__name__icontains=q) | Q(employee__employee_no=q))
    if filters.sort == "newest":
        return qs.order_by("-first_seen_at", "-id")
    if filters.sort == "severity":
        from django.db.models import Case, IntegerField, Value, When

        rank = Case(
            *[When(severity=s, then=Value(r)) for s, r in SEVERITY_RANK.items()],
            output_field=IntegerField(),
        )
        return qs.annotate(_rank=rank).order_by("-_rank", F("deadline").asc(nulls_last=True), "-id")
    # deadline first (nulls last), then severity
    return qs.order_by(F("deadline").asc(nulls_last=True), "-id")


def finding_counts(user) -> dict[str, Any]:
    """Active findings by severity and by kind (for the inbox header and the dashboard)."""
    qs = findings_for(user).filter(status__in=ACTIVE).order_by()
    by_severity = dict(qs.values_list("severity").annotate(n=Count("id")))
    by_kind = dict(qs.values_list("kind").annotate(n=Count("id")))
    today = timezone.localdate()
    overdue = qs.filter(deadline__lt=today).count()
    return {
        "total": sum(by_severity.values()),
        "by_severity": by_severity,
        "by_kind": by_kind,
        "overdue": overdue,
    }


def finding_get(user, pk: int) -> Finding | None:
    return (
        findings_for(user)
        .select_related("rule", "entity", "employee", "department", "assignee", "person")
        .filter(pk=pk)
        .first()
    )


def finding_transitions(finding: Finding) -> QuerySet[FindingTransition]:
    return finding.transitions.select_related("actor").order_by("id")


def days_left(finding: Finding, today: dt.date | None = None) -> int | None:
    if finding.deadline is None:
        return None
    return (finding.deadline - (today or timezone.localdate())).days


def display_title(finding: Finding, today: dt.date | None = None) -> str:
    """The title in the active language (rendered from the stored template arguments)."""
    kind = KINDS.get(finding.kind)
    details = finding.details or {}
    if kind is None or "args" not in details:
        return finding.title
    try:
        return kind.title(
            details.get("variant", "default"), kind.live(details["args"], today or timezone.localdate())
        )
    except (KeyError, IndexError, ValueError):
        return finding.title


def display_explanation(finding: Finding, today: dt.date | None = None) -> str:
    kind = KINDS.get(finding.kind)
    details = finding.details or {}
    if kind is None or "args" not in details:
        return details.get("explanation", "")
    try:
        return kind.explanation(
            details.get("variant", "default"), kind.live(details["args"], today or timezone.localdate())
        )
    except (KeyError, IndexError, ValueError):
        return details.get("explanation", "")


def display_next_step(finding: Finding, today: dt.date | None = None) -> str:
    kind = KINDS.get(finding.kind)
    details = finding.details or {}
    if kind is None or "args" not in details:
        return finding.next_step
    try:
        return kind.next_step(
            details.get("variant", "default"), kind.live(details["args"], today or timezone.localdate())
        )
    except (KeyError, IndexError, ValueError):
        return finding.next_step


def live_details(finding: Finding, today: dt.date | None = None) -> dict[str, Any]:
    """The details with the day counts filled in as of ``today`` (they are not stored)."""
    kind = KINDS.get(finding.kind)
    details = finding.details or {}
    return details if kind is None else kind.live(details, today or timezone.localdate())


def finding_data(finding: Finding, today: dt.date | None = None) -> dict[str, Any]:
    """A finding as the CLI and the API give it (the interface named in the issue)."""
    employee = finding.employee
    id_masked = None
    if employee is not None:
        id_masked = employee.id_number_masked
    elif finding.person is not None:
        id_masked = finding.person.id_number_masked or None
    return {
        "id": finding.pk,
        "key": f"{finding.rule_id}:{finding.key}",
        "rule": finding.kind,
        "rule_id": finding.rule_id,
        "rule_name": finding.rule.name,
        "employee_no": employee.employee_no if employee else None,
        "name": employee.name if employee else (finding.person.name if finding.person else None),
        "id_masked": id_masked,
        "entity": finding.entity.code if finding.entity else None,
        "severity": finding.severity,
        "status": finding.status,
        "title": display_title(finding, today),
        "deadline": finding.deadline.isoformat() if finding.deadline else None,
        "days_left": days_left(finding, today),
        "amount": fmt(finding.amount) if finding.amount is not None else None,
        "citations": list(finding.citations or []),
        "next_step": display_next_step(finding, today),
        "snoozed_until": finding.snoozed_until.isoformat() if finding.snoozed_until else None,
        "assignee": finding.assignee.username if finding.assignee else None,
        "resolved_reason": finding.resolved_reason or None,
        "first_seen_at": finding.first_seen_at.isoformat(),
        "updated_at": finding.updated_at.isoformat(),
        "details": live_details(finding, today),
    }


def rules_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.prefetch_related("entities", "departments").order_by("id")


def active_counts_by_rule(user) -> dict[int, int]:
    """Rule id → the active findings of that rule the user may see (their scope, not everyone's)."""
    qs = findings_for(user).filter(status__in=ACTIVE).order_by()
    return dict(qs.values_list("rule_id").annotate(n=Count("id")))


def rule_data(rule: AlertRule) -> dict[str, Any]:
    kind = KINDS.get(rule.kind)
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "kind_label": str(kind.label) if kind else rule.kind,
        "name": rule.name,
        "params": rule.params,
        "severity": rule.severity,
        "enabled": rule.enabled,
        "entities": [e.code for e in rule.entities.all()],
        "departments": [d.pk for d in rule.departments.all()],
        "employment_types": rule.employment_types,
        "routing": rule.routing,
        "auto_case": rule.auto_case,
        "is_default": rule.is_default,
        "citations": list(kind.citations) if kind else [],
        "last_evaluated_at": rule.last_evaluated_at.isoformat() if rule.last_evaluated_at else None,
    }


def kind_catalogue() -> list[dict[str, Any]]:
    """The rule kinds with their parameters' JSON schema and defaults (for the UI and the API)."""
    from django.utils.translation import gettext

    return [
        {
            "code": code,
            "label": gettext(k.label),
            "summary": gettext(k.summary),
            "severity": k.severity,
            "citations": list(k.citations),
            "params_schema": k.params.model_json_schema(),
            "defaults": k.default_params(),
        }
        for code, k in KINDS.items()
    ]
