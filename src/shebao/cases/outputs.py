"""What the API and the CLI give out about cases, letters, acknowledgements and workflows (the
same JSON from both), and how they find the finding a case is opened from.

Plain dicts, built from the selectors; personal numbers only as masks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from shebao.cases import selectors
from shebao.cases import workflow as wf
from shebao.cases.models import (
    Acknowledgement,
    AckRequest,
    Attachment,
    Case,
    CaseEvent,
    CaseStep,
    Letter,
    WorkflowTemplate,
)
from shebao.core.exceptions import ApplicationError

_KEY = re.compile(r"^(?:(?P<rule>[a-z0-9_]+):)?(?P<key>[ep]\d+:.+)$")


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def _who(user) -> str | None:
    return user.username if user is not None else None


# --- finding references -------------------------------------------------------------------------


def finding_by_ref(user, ref: str | int, rule: str | int | None = None):
    """The finding named by ``ref``: its id (``123``), its key as the API and the CLI print it
    (``7:e123:medical``: rule id, then the key), or the bare key (``e123:medical``), optionally
    with ``rule`` (a rule id or a kind code) when the bare key is used by several rules. Only
    findings ``user`` may see (None: everything). Raises ApplicationError on field ``finding``."""
    from shebao.rules.kinds import KINDS
    from shebao.rules.models import Finding
    from shebao.rules.selectors import findings_for

    qs = (findings_for(user) if user is not None else Finding.objects.all()).select_related(
        "rule", "employee"
    )
    text = str(ref).strip()
    not_found = ApplicationError(
        f"预警“{text}”不存在或不在您的权限范围内", field_errors={"finding": "预警不存在或不在您的权限范围内"}
    )
    if not text:
        raise ApplicationError("请指定预警（ID 或键，如 e123:medical）", field_errors={"finding": "必填"})
    if text.isdigit():
        finding = qs.filter(pk=int(text)).first()
        if finding is None:
            raise not_found
        return finding
    m = _KEY.match(text)
    if m is None:
        raise ApplicationError(
            f"预警“{text}”的格式无效：应为预警 ID（如 123）或键（如 e123:medical、7:e123:medical）",
            field_errors={"finding": "格式无效"},
        )
    qs = qs.filter(key=m["key"])
    for part, where in (
        (m["rule"], "finding"),
        (str(rule).strip() if rule not in (None, "") else None, "rule"),
    ):
        if part is None:
            continue
        if part.isdigit():
            qs = qs.filter(rule_id=int(part))
        elif part in KINDS:
            qs = qs.filter(kind=part)
        else:
            raise ApplicationError(
                f"规则“{part}”应为规则 ID 或规则类型编码", field_errors={where: "未知的规则"}
            )
    found = list(qs.order_by("rule_id")[:10])
    if not found:
        raise not_found
    if len(found) > 1:
        options = "、".join(f"{f.pk}（{f.rule_id}:{f.key} {f.rule.name}）" for f in found)
        raise ApplicationError(
            f"键“{m['key']}”对应多条预警，请用预警 ID 或“规则 ID:键”指定：{options}",
            field_errors={"finding": "对应多条预警"},
        )
    return found[0]


# --- cases --------------------------------------------------------------------------------------


def with_step_names(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Annotate each case with the name of its latest step row (the active one while open)."""
    latest = CaseStep.objects.filter(case=OuterRef("pk")).order_by("-id").values("name")[:1]
    return qs.annotate(step_name=Subquery(latest)).select_related("version")


def case_data(case: Case, today: dt.date | None = None) -> dict[str, Any]:
    """One case as a list row."""
    today = today or timezone.localdate()
    info = selectors.overdue_info(case, today)
    days = info["days"]
    employee = case.employee
    finding = case.finding if case.finding_id else None
    step_name = getattr(case, "step_name", None)
    if step_name is None:
        step = case.steps.order_by("-id").first()
        step_name = step.name if step else ""
    return {
        "id": case.pk,
        "number": case.number,
        "title": case.title,
        "status": case.status,
        "status_label": str(case.get_status_display()),
        "template": case.template.code,
        "template_name": case.template.name,
        "version": case.version.number,
        "employee_no": employee.employee_no,
        "name": employee.name,
        "id_masked": employee.id_number_masked,
        "entity": case.entity.code,
        "step": case.current_step,
        "step_name": step_name,
        "due": _iso(case.step_due) if case.is_open else None,
        "days_left": days,
        "overdue": info["overdue"],
        "overdue_days": -days if info["overdue"] else 0,
        "assignee": _who(case.assignee),
        "escalated": case.escalated_at is not None,
        "escalated_at": _iso(case.escalated_at),
        "finding_id": case.finding_id,
        "finding_key": f"{finding.rule_id}:{finding.key}" if finding is not None else None,
        "outcome": case.outcome,
        "opened_at": _iso(case.opened_at),
        "closed_at": _iso(case.closed_at),
        "updated_at": _iso(case.updated_at),
    }


def _choice_data(choice: wf.Choice, definition: wf.Definition) -> dict[str, Any]:
    try:
        to_name = definition.step(choice.to).name
    except KeyError:
        to_name = choice.to
    return {
        "code": choice.code,
        "label": choice.label,
        "to": choice.to,
        "to_name": to_name,
        "requires": [{"code": r, "label": wf.REQUIRES[r]} for r in choice.requires],
        "when": choice.when,
        "escalate": choice.escalate,
    }


def _visit_data(row: CaseStep) -> dict[str, Any]:
    return {
        "id": row.pk,
        "status": row.status,
        "started_at": _iso(row.started_at),
        "due": _iso(row.due_date),
        "basis": row.due_basis,
        "warn_from": _iso(row.warn_from),
        "completed_at": _iso(row.completed_at),
        "completed_by": _who(row.completed_by),
        "choice": row.choice or None,
        "choice_label": row.choice_label or None,
        "note": row.note,
    }


def attachment_data(att: Attachment) -> dict[str, Any]:
    return {
        "id": att.pk,
        "filename": att.filename,
        "content_type": att.content_type,
        "size": att.size,
        "sha256": att.sha256,
        "description": att.description,
        "by_employee": att.by_employee,
        "uploaded_by": _who(att.uploaded_by),
        "uploaded_at": _iso(att.uploaded_at),
        "step_id": att.step_id,
    }


def request_data(req: AckRequest) -> dict[str, Any]:
    return {
        "id": req.pk,
        "status": req.status,
        "channels": list(req.channels or []),
        "created_at": _iso(req.created_at),
        "expires_at": _iso(req.expires_at),
        "opened_at": _iso(req.opened_at),
        "verified_at": _iso(req.verified_at),
        "verified_method": req.verified_method or None,
        "completed_at": _iso(req.completed_at),
    }


def letter_data(letter: Letter) -> dict[str, Any]:
    return {
        "id": letter.pk,
        "case_id": letter.case_id,
        "number": letter.number,
        "title": letter.title,
        "status": letter.status,
        "status_label": str(letter.get_status_display()),
        "template": letter.template_code,
        "template_version": letter.template_version,
        "sha256": letter.sha256,
        "size": letter.size,
        "step_id": letter.step_id,
        "issued_at": _iso(letter.issued_at),
        "issued_by": _who(letter.issued_by),
        "sent_at": _iso(letter.sent_at),
        "respond_by": _iso(letter.respond_by),
        "answered_at": _iso(letter.answered_at),
        "pdf": f"/api/v1/letters/{letter.pk}/pdf",
        "requests": [request_data(r) for r in sorted(letter.requests.all(), key=lambda r: r.pk)],
        "acknowledgements": len(letter.acknowledgements.all()),
    }


def ack_data(ack: Acknowledgement, letter: Letter | None = None) -> dict[str, Any]:
    letter = letter or ack.letter
    return {
        "id": ack.pk,
        "letter_id": ack.letter_id,
        "letter_number": letter.number,
        "decision": ack.decision,
        "decision_label": str(ack.get_decision_display()),
        "reason": ack.reason,
        "at": _iso(ack.at),
        "ip": ack.ip,
        "user_agent": ack.user_agent,
        "document_sha256": ack.document_sha256,
        "document_matches": ack.document_sha256 == letter.sha256,
        "method": ack.method,
        "method_label": str(ack.get_method_display()),
        "attachments": [attachment_data(a) for a in ack.attachments.all()],
    }


def event_data(event: CaseEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "kind_label": str(event.get_kind_display()),
        "at": _iso(event.at),
        "actor": _who(event.actor) or event.actor_label,
        "actor_label": event.actor_label,
        "text": event.text,
        "data": event.data or {},
        "step_id": event.step_id,
        "letter_id": event.letter_id,
        "attachment_id": event.attachment_id,
    }


def current_step_data(case: Case, today: dt.date | None = None) -> dict[str, Any] | None:
    """The step the case waits on, with the choices that move it on and what each requires."""
    if not case.is_open:
        return None
    definition = selectors.case_definition(case)
    step = definition.step(case.current_step)
    row = case.steps.filter(status=CaseStep.Status.ACTIVE).order_by("-id").first()
    info = selectors.overdue_info(case, today)
    return {
        "code": step.code,
        "name": step.name,
        "role": step.role,
        "action": step.action,
        "action_label": wf.ACTIONS.get(step.action, step.action),
        "instructions": step.instructions,
        "letter": step.letter,
        "citations": list(step.citations),
        "started_at": _iso(row.started_at) if row else None,
        "due": _iso(row.due_date) if row else None,
        "basis": row.due_basis if row else "",
        "warn_from": _iso(row.warn_from) if row else None,
        "days_left": info["days"],
        "overdue": info["overdue"],
        "choices": [_choice_data(c, definition) for c in step.choices],
    }


def case_detail(case: Case, today: dt.date | None = None) -> dict[str, Any]:
    """A case with its workflow's steps (each with the case's visits), the current step's
    choices, the letters and the attachments (metadata)."""
    today = today or timezone.localdate()
    finding = case.finding if case.finding_id else None
    steps = []
    for view in selectors.case_steps(case):
        s = view.step
        steps.append(
            {
                "code": s.code,
                "name": s.name,
                "role": s.role,
                "action": s.action,
                "action_label": wf.ACTIONS.get(s.action, s.action),
                "deadline": s.deadline.describe() if s.deadline else None,
                "warn_days": s.warn_days,
                "citations": list(s.citations),
                "state": view.state,
                "visits": [_visit_data(r) for r in view.rows],
            }
        )
    return {
        **case_data(case, today),
        "workflow": {
            "code": case.template.code,
            "name": case.version.name,
            "version": case.version.number,
            "current_version": case.template.current.number if case.template.current_id else None,
        },
        "finding": (
            {
                "id": finding.pk,
                "key": f"{finding.rule_id}:{finding.key}",
                "kind": finding.kind,
                "title": finding.title,
                "status": finding.status,
            }
            if finding is not None
            else None
        ),
        "data": case.data or {},
        "current": current_step_data(case, today),
        "steps": steps,
        "letters": [letter_data(x) for x in selectors.letters_of(case)],
        "attachments": [
            attachment_data(a) for a in case.attachments.select_related("uploaded_by").order_by("id")
        ],
    }


def timeline_data(case: Case) -> list[dict[str, Any]]:
    return [event_data(e) for e in selectors.case_timeline(case)]


# --- workflows ----------------------------------------------------------------------------------


def workflow_data(template: WorkflowTemplate, *, with_definition: bool = False) -> dict[str, Any]:
    version = template.current
    definition = version.definition if version else {}
    data: dict[str, Any] = {
        "code": template.code,
        "name": template.name,
        "description": template.description,
        "finding_kinds": list(template.finding_kinds or []),
        "enabled": template.enabled,
        "is_builtin": template.is_builtin,
        "version": version.number if version else None,
        "version_created_at": _iso(version.created_at) if version else None,
        "steps": len(definition.get("steps", [])),
        "open_cases": template.cases.filter(status=Case.Status.OPEN).count(),
    }
    if with_definition:
        data["definition"] = definition
        data["versions"] = [
            {
                "number": v.number,
                "name": v.name,
                "note": v.note,
                "created_at": _iso(v.created_at),
                "created_by": _who(v.created_by),
            }
            for v in template.versions.select_related("created_by").order_by("number")
        ]
    return data


__all__ = [
    "ack_data",
    "attachment_data",
    "case_data",
    "case_detail",
    "current_step_data",
    "event_data",
    "finding_by_ref",
    "letter_data",
    "request_data",
    "timeline_data",
    "with_step_names",
    "workflow_data",
]
