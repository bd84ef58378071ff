"""Reads for cases: the list (overdue first), the board by step, one case with its timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case as When_
from django.db.models import IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from shebao.accounts.permissions import employee_scope
from shebao.cases import workflow as wf
from shebao.cases.models import Case, CaseEvent, CaseStep, Letter, WorkflowTemplate
from shebao.roster.models import Employee


def cases_visible(user) -> QuerySet[Case]:
    """The cases of the employees the user may see."""
    if user is None:
        return Case.objects.all()
    return Case.objects.filter(employee__in=Employee.objects.filter(employee_scope(user)).values("id"))


@dataclass
class CaseFilters:
    status: str = "open"  # open | closed | cancelled | all
    template: str = ""
    step: str = ""
    assignee: str = ""  # user id, "me", "none"
    entity: int | None = None
    overdue: bool = False
    q: str = ""
    finding: int | None = None
    employee: int | None = None


def cases_list(user, filters: CaseFilters | None = None, *, today: dt.date | None = None) -> QuerySet[Case]:
    """Overdue first, then due soonest, then newest."""
    f = filters or CaseFilters()
    today = today or timezone.localdate()
    qs = cases_visible(user).select_related("employee", "entity", "template", "assignee", "finding")
    if f.status and f.status != "all":
        qs = qs.filter(status=f.status)
    if f.template:
        qs = qs.filter(template__code=f.template)
    if f.step:
        qs = qs.filter(current_step=f.step)
    if f.assignee == "me" and user is not None:
        qs = qs.filter(assignee=user)
    elif f.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif f.assignee.isdigit():
        qs = qs.filter(assignee_id=int(f.assignee))
    if f.entity:
        qs = qs.filter(entity_id=f.entity)
    if f.overdue:
        qs = qs.filter(status=Case.Status.OPEN, step_due__lt=today)
    if f.finding:
        qs = qs.filter(finding_id=f.finding)
    if f.employee:
        qs = qs.filter(employee_id=f.employee)
    if f.q:
        q = f.q.strip()
        qs = qs.filter(
            Q(number__icontains=q)
            | Q(title__icontains=q)
            | Q(employee__name__icontains=q)
            | Q(employee__employee_no=q)
        )
    return qs.annotate(
        _overdue=When_(
            When(status=Case.Status.OPEN, step_due__lt=today, then=Value(0)),
            When(status=Case.Status.OPEN, step_due__isnull=False, then=Value(1)),
            When(status=Case.Status.OPEN, then=Value(2)),
            default=Value(3),
            output_field=IntegerField(),
        )
    ).order_by("_overdue", "step_due", "-id")


def case_get(user, pk: int) -> Case | None:
    return (
        cases_visible(user)
        .select_related("employee", "entity", "template", "version", "assignee", "finding", "opened_by")
        .filter(pk=pk)
        .first()
    )


def case_by_number(user, number: str) -> Case | None:
    c = cases_visible(user).filter(number=number).first()
    return c


def case_timeline(case: Case) -> QuerySet[CaseEvent]:
    return case.events.select_related("actor", "letter", "attachment", "step").order_by("at", "id")


def case_definition(case: Case) -> wf.Definition:
    return wf.Definition.model_validate(case.version.definition)


@dataclass
class StepView:
    """A step of the case's workflow as the detail page shows it."""

    step: wf.Step
    state: str  # done | active | todo
    rows: list[CaseStep] = field(default_factory=list)


def case_steps(case: Case) -> list[StepView]:
    """The workflow's steps in order, each with the case's rows for it."""
    definition = case_definition(case)
    rows: dict[str, list[CaseStep]] = {}
    for r in case.steps.order_by("id"):
        rows.setdefault(r.code, []).append(r)
    out = []
    for s in definition.steps:
        mine = rows.get(s.code, [])
        if any(r.status == CaseStep.Status.ACTIVE for r in mine):
            state = "active"
        elif mine:
            state = "done"
        else:
            state = "todo"
        out.append(StepView(s, state, mine))
    return out


def current_choices(case: Case) -> list[wf.Choice]:
    if case.status != Case.Status.OPEN:
        return []
    return case_definition(case).step(case.current_step).choices


@dataclass
class Column:
    code: str
    name: str
    cases: list[Case]


def case_board(user, template: WorkflowTemplate, *, today: dt.date | None = None) -> list[Column]:
    """Open cases of one template in columns by current step (the current version's steps; a
    case on an older version whose step no longer exists goes in an extra column)."""
    today = today or timezone.localdate()
    definition = wf.Definition.model_validate(template.current.definition)
    cases = list(cases_list(user, CaseFilters(status="open", template=template.code), today=today))
    cols = {s.code: Column(s.code, s.name, []) for s in definition.steps if not s.is_final}
    other = Column("", "其他（旧版本步骤）", [])
    for c in cases:
        cols.get(c.current_step, other).cases.append(c)
    return list(cols.values()) + ([other] if other.cases else [])


def case_counts(user, *, today: dt.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    qs = cases_visible(user).filter(status=Case.Status.OPEN)
    return {
        "open": qs.count(),
        "overdue": qs.filter(step_due__lt=today).count(),
        "escalated": qs.exclude(escalated_at=None).count(),
        "mine": qs.filter(assignee=user).count() if user is not None else 0,
    }


def letters_of(case: Case) -> QuerySet[Letter]:
    return case.letters.prefetch_related("acknowledgements", "requests").order_by("id")


def overdue_info(case: Case, today: dt.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    if case.status != Case.Status.OPEN or case.step_due is None:
        return {"overdue": False, "days": None}
    days = (case.step_due - today).days
    return {"overdue": days < 0, "days": days}


def letter_deliveries(letter: Letter) -> dict[int, list[dict[str, Any]]]:
    """Per link sent for the letter: how each message to the employee went (the outbox rows
    ``letter_send`` wrote under the key ``ack<request>``: status, attempts, error)."""
    from django.db.models import Q as Q_

    from shebao.notify.models import Notification

    ids = list(letter.requests.values_list("id", flat=True))
    if not ids:
        return {}
    match = Q_()
    for pk in ids:
        match |= Q_(idempotency_key__startswith=f"ack{pk}:")
    out: dict[int, list[dict[str, Any]]] = {}
    for n in Notification.objects.filter(match).select_related("channel").order_by("id"):
        head = n.idempotency_key.split(":", 1)[0]
        if not head[3:].isdigit():
            continue
        out.setdefault(int(head[3:]), []).append(
            {
                "id": n.pk,
                "kind": n.channel.kind,
                "channel": n.channel.name,
                "address": n.address_masked,
                "status": n.status,
                "status_label": n.get_status_display(),
                "attempts": n.attempts,
                "error": n.last_error,
                "sent_at": n.sent_at,
            }
        )
    return out
