"""Workflow templates and cases: install, edit (new version), open, advance, assign, note,
attach, escalate, cancel — and the events (letter sent, employee answered, proof uploaded) that
let the workflow take a step by itself.

Every write checks who acts, runs in one transaction, appends to the case timeline and writes
the audit row.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_admin, can_edit_roster, can_see_employee, can_view_roster
from shebao.audit.services import audit_record
from shebao.cases import workflow as wf
from shebao.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseStep,
    Letter,
    LetterTemplate,
    WorkflowTemplate,
    WorkflowVersion,
)
from shebao.core import blobs
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied

DATA = Path(__file__).resolve().parent.parent / "data"
MAX_ATTACHMENT = 10 * 1024 * 1024
ATTACHMENT_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/heic": ".heic",
    "image/webp": ".webp",
}


def _today() -> dt.date:
    return timezone.localdate()


def label_of(actor: Actor) -> str:
    if actor.user is not None:
        return actor.user.get_full_name() or actor.user.username
    return {"portal": "员工（确认页面）", "worker": "系统", "cli": "系统（命令行）"}.get(
        actor.via, f"系统（{actor.via}）"
    )


def _can_handle(actor: Actor) -> None:
    if actor.user is not None and not can_edit_roster(actor.user):
        raise PermissionDenied("只有 HR 可以处理案件")


def _can_admin(actor: Actor) -> None:
    if actor.user is not None and not can_admin(actor.user):
        raise PermissionDenied("只有 HR 管理员可以修改流程模板和函件模板")


def _can_see(actor: Actor, case: Case) -> None:
    if actor.user is not None and not (
        can_view_roster(actor.user) and can_see_employee(actor.user, case.employee)
    ):
        raise PermissionDenied("无权查看该案件")


def rules_follow(case: Case) -> None:
    """Re-evaluate the alert rules for the case's employee once the write commits: the case kinds
    (notice_unacknowledged, backpay_due_soon, case_step_overdue) open and resolve with the case."""
    from shebao.rules.tasks import findings_evaluate_on_commit

    findings_evaluate_on_commit(employee_ids=[case.employee_id])


def event_add(
    case: Case,
    kind: str,
    *,
    actor: Actor,
    text: str = "",
    data: dict[str, Any] | None = None,
    step: CaseStep | None = None,
    letter: Letter | None = None,
    attachment: Attachment | None = None,
    at: dt.datetime | None = None,
) -> CaseEvent:
    """Append one row to the case's timeline and its entry in the evidence ledger (call inside
    the service's transaction: both commit with the change)."""
    from shebao.evidence.recorders import case_event_record

    with transaction.atomic():
        event = CaseEvent.objects.create(
            case=case,
            kind=kind,
            at=at or timezone.now(),
            actor=actor.user,
            actor_label=label_of(actor)[:150],
            text=text,
            data=data or {},
            step=step,
            letter=letter,
            attachment=attachment,
        )
        case_event_record(event)
    return event


# --- templates ----------------------------------------------------------------------------------


def _check_citations(definition: wf.Definition) -> None:
    from shebao.law.models import Article

    cited = {c for s in definition.steps for c in s.citations}
    if not cited:
        return
    known = set(Article.objects.filter(citation_id__in=cited).values_list("citation_id", flat=True))
    missing = sorted(cited - known)
    if missing:
        raise ApplicationError(
            f"流程定义无效：法规库中没有条文 {'、'.join(missing)}", field_errors={"definition": "条文不存在"}
        )


def _check_letters(definition: wf.Definition) -> None:
    codes = set(definition.letters)
    known = set(LetterTemplate.objects.filter(code__in=codes).values_list("code", flat=True))
    missing = sorted(codes - known)
    if missing:
        raise ApplicationError(
            f"流程定义无效：函件模板 {'、'.join(missing)} 不存在",
            field_errors={"definition": "函件模板不存在"},
        )


def definition_clean(raw: Any) -> wf.Definition:
    """Parse and check a definition against the law library and the letter templates."""
    definition = wf.definition_parse(raw)
    _check_citations(definition)
    _check_letters(definition)
    return definition


def _version_add(
    template: WorkflowTemplate, definition: wf.Definition, *, name: str, note: str, user
) -> WorkflowVersion:
    number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkflowVersion.objects.create(
        template=template,
        number=number,
        name=name,
        definition=definition.model_dump(mode="json", by_alias=True, exclude_defaults=False),
        note=note[:300],
        created_by=user,
    )
    template.current = version
    template.save(update_fields=["current", "updated_at"])
    return version


def shipped_workflows() -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / "workflows.yaml").read_text("utf-8"))


def workflows_install(*, actor: Actor | None = None) -> list[WorkflowTemplate]:
    """Install the shipped letter and workflow templates that are missing (idempotent; never
    overwrites what HR edited)."""
    from shebao.cases.services.letters import letter_templates_install

    actor = actor or Actor.system(via="cli")
    out = []
    with transaction.atomic():
        letter_templates_install(actor=actor)
        for item in shipped_workflows():
            if WorkflowTemplate.objects.filter(code=item["code"]).exists():
                continue
            definition = definition_clean({"start": item["start"], "steps": item["steps"]})
            template = WorkflowTemplate.objects.create(
                code=item["code"],
                name=item["name"],
                description=item.get("description", ""),
                finding_kinds=item.get("finding_kinds", []),
                is_builtin=True,
            )
            _version_add(template, definition, name=item["name"], note="系统内置", user=None)
            audit_record(
                actor=actor, action="workflow.install", obj=template, changes={"code": template.code}
            )
            out.append(template)
    return out


def workflow_update(
    *,
    actor: Actor,
    template: WorkflowTemplate,
    definition: Any,
    name: str | None = None,
    description: str | None = None,
    finding_kinds: Iterable[str] | None = None,
    enabled: bool | None = None,
    note: str = "",
) -> WorkflowTemplate:
    """Save an edit: a changed definition becomes a new version; running cases keep theirs."""
    _can_admin(actor)
    parsed = definition_clean(definition)
    with transaction.atomic():
        template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
        changes: dict[str, Any] = {}
        if name is not None and name.strip() and name.strip() != template.name:
            changes["name"] = [template.name, name.strip()[:100]]
            template.name = name.strip()[:100]
        if description is not None and description != template.description:
            changes["description"] = True
            template.description = description
        if finding_kinds is not None:
            from shebao.rules.kinds import KINDS

            kinds = [k for k in dict.fromkeys(finding_kinds) if k]
            unknown = [k for k in kinds if k not in KINDS]
            if unknown:
                raise ApplicationError(
                    f"未知的预警类型：{'、'.join(unknown)}", field_errors={"finding_kinds": "未知的预警类型"}
                )
            if kinds != template.finding_kinds:
                changes["finding_kinds"] = [template.finding_kinds, kinds]
                template.finding_kinds = kinds
        if enabled is not None and enabled != template.enabled:
            changes["enabled"] = [template.enabled, enabled]
            template.enabled = enabled
        template.save()
        new_def = parsed.model_dump(mode="json", by_alias=True)
        current = template.current
        if (
            current is None
            or wf.definition_parse(current.definition).model_dump(mode="json", by_alias=True) != new_def
            or ("name" in changes)
        ):
            version = _version_add(template, parsed, name=template.name, note=note, user=actor.user)
            changes["version"] = version.number
        audit_record(actor=actor, action="workflow.update", obj=template, changes=changes)
    return template


def template_for_finding(finding) -> WorkflowTemplate | None:
    for t in WorkflowTemplate.objects.filter(enabled=True).exclude(current=None).order_by("id"):
        if finding.kind in (t.finding_kinds or []):
            return t
    return None


# --- deadlines ----------------------------------------------------------------------------------


def cutoff_after(entity, day: dt.date) -> tuple[dt.date | None, str]:
    """The first 增减员截止日 on or after ``day`` for the entity: its own setting, else the
    city's figure; (None, why) when neither is known."""
    from shebao.policy.models import EntityPolicySetting
    from shebao.policy.selectors import policy_period_for

    setting = EntityPolicySetting.objects.filter(entity=entity).first()
    cut = setting.cutoff_day if setting and setting.cutoff_day else None
    source = "参保主体设置" if cut else ""
    if cut is None:
        try:
            figure = policy_period_for(city=entity.city, month_first_day=day.replace(day=1)).cutoff_day
            if figure.known:
                cut, source = int(figure.value), f"{entity.city.name}政策"
        except (LookupError, AttributeError):
            pass
    if cut is None:
        return None, "增减员截止日未设置（参保主体设置或城市政策）"
    y, m = day.year, day.month
    for _ in range(2):
        last = calendar.monthrange(y, m)[1]
        candidate = dt.date(y, m, min(cut, last))
        if candidate >= day:
            return candidate, f"增减员截止日 每月{cut}日（{source}）"
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return None, ""


def _bases(case: Case, now: dt.datetime) -> dict[str, dt.date | None]:
    last_letter = case.letters.exclude(sent_at=None).order_by("-sent_at").first() if case.pk else None
    leave = case.employee.leave_date
    return {
        "hire": case.employee.hire_date,
        "leave": leave,
        "opened": timezone.localdate(case.opened_at),
        "step": timezone.localdate(now),
        "letter": timezone.localdate(last_letter.sent_at) if last_letter else None,
        "finding": case.finding.deadline if case.finding_id and case.finding else None,
        "cutoff": None,  # computed on demand
    }


def step_due(case: Case, step: wf.Step, now: dt.datetime) -> tuple[dt.date | None, str]:
    if step.deadline is None:
        return None, ""
    bases = _bases(case, now)
    basis = step.deadline.describe()
    if step.deadline.from_ == "cutoff":
        if case.employee.leave_date is None:
            return None, "员工尚无离职日期"
        cut, why = cutoff_after(case.entity, case.employee.leave_date)
        if cut is None:
            return None, why
        return cut + dt.timedelta(days=step.deadline.days), why
    due = wf.due_date(step.deadline, bases)
    if due is None:
        return None, f"{wf.DEADLINE_FROM[step.deadline.from_]}未知，无法计算期限"
    if step.citations:
        basis += "（" + "、".join(step.citations) + "）"
    return due, basis


def _start_step(case: Case, step: wf.Step, actor: Actor, now: dt.datetime) -> CaseStep:
    due, basis = step_due(case, step, now)
    row = CaseStep.objects.create(
        case=case,
        code=step.code,
        name=step.name,
        action=step.action,
        role=step.role,
        started_at=now,
        due_date=due,
        due_basis=basis[:200],
        warn_from=due - dt.timedelta(days=step.warn_days) if due else None,
        status=CaseStep.Status.DONE if step.is_final else CaseStep.Status.ACTIVE,
        completed_at=now if step.is_final else None,
    )
    case.current_step = step.code
    case.step_due = None if step.is_final else due
    if not step.is_final:
        event_add(
            case,
            CaseEvent.Kind.STEP_STARTED,
            actor=actor,
            text=step.name,
            step=row,
            at=now,
            data={"due": due.isoformat() if due else None, "basis": basis},
        )
    return row


def definition_of(case: Case) -> wf.Definition:
    return wf.Definition.model_validate(case.version.definition)


def active_step(case: Case) -> CaseStep | None:
    return case.steps.filter(status=CaseStep.Status.ACTIVE).order_by("-id").first()


# --- opening ------------------------------------------------------------------------------------


def numbered_create(model, next_number, **fields):
    """Create a row whose ``number`` is the next in sequence; two writers racing for the same
    number (the unique constraint refuses the second) retry with the following one."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                return model.objects.create(number=next_number(), **fields)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _number(now: dt.datetime) -> str:
    prefix = f"AJ{timezone.localtime(now):%Y%m}-"
    last = (
        Case.objects.filter(number__startswith=prefix)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{n:04d}"


def case_open(
    *,
    actor: Actor,
    finding=None,
    employee=None,
    template: WorkflowTemplate | str | None = None,
    assignee=None,
    title: str = "",
    note: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """Open a case from a finding (or for an employee). A finding that already has an open
    case gives that case back (opening twice changes nothing)."""
    from shebao.evidence.recorders import status_check_record
    from shebao.rules.models import Finding

    _can_handle(actor)
    now = now or timezone.now()
    if finding is None and employee is None:
        raise ApplicationError("请指定预警或员工", field_errors={"finding": "必填"})
    if finding is not None:
        if finding.employee_id is None:
            raise ApplicationError(
                "该预警没有对应的在册员工（名册外人员），无法立案；请先在名册中补录或匹配该人员",
                field_errors={"finding": "没有对应员工"},
            )
        existing = Case.objects.filter(finding=finding, status=Case.Status.OPEN).first()
        if existing is not None:
            return existing
        employee = finding.employee
    if actor.user is not None and not can_see_employee(actor.user, employee):
        raise PermissionDenied("无权处理该员工的案件")
    if isinstance(template, str):
        template = WorkflowTemplate.objects.filter(code=template).first() or _no_template(template)
    if template is None and finding is not None:
        template = template_for_finding(finding)
    if template is None:
        raise ApplicationError(
            "没有适用于该预警的流程模板，请选择一个流程", field_errors={"template": "请选择流程"}
        )
    if not template.enabled or template.current is None:
        raise ApplicationError(f"流程“{template.name}”已停用", field_errors={"template": "已停用"})
    if assignee is not None and not (
        assignee.is_active and assignee.role in (Role.HR_ADMIN, Role.HR_SPECIALIST)
    ):
        raise ApplicationError("负责人必须是在职的 HR 用户", field_errors={"assignee": "不是 HR 用户"})
    if assignee is None and actor.user is not None and actor.user.role in (Role.HR_ADMIN, Role.HR_SPECIALIST):
        assignee = actor.user
    definition = wf.Definition.model_validate(template.current.definition)
    title = (title or "").strip()[:300] or (
        f"{template.name}：{employee.name}" + (f"（{finding.title}）" if finding is not None else "")
    )[:300]
    try:
        with transaction.atomic():
            case = numbered_create(
                Case,
                lambda: _number(now),
                template=template,
                version=template.current,
                finding=finding,
                employee=employee,
                entity=employee.entity,
                title=title,
                assignee=assignee,
                opened_by=actor.user,
                opened_at=now,
                updated_at=now,
            )
            event_add(
                case,
                CaseEvent.Kind.OPENED,
                actor=actor,
                at=now,
                text=note.strip()[:2000],
                data={
                    "template": template.code,
                    "version": template.current.number,
                    "finding": finding.key if finding is not None else None,
                    "finding_title": finding.title if finding is not None else None,
                },
            )
            status_check_record(case=case, finding=finding, actor=actor)
            _start_step(case, definition.step(definition.start), actor, now)
            case.save()
            if finding is not None and finding.status == Finding.Status.OPEN and actor.user is not None:
                from shebao.rules.services import finding_transition

                finding_transition(
                    actor=actor,
                    finding_ids=[finding.pk],
                    to_status="acknowledged",
                    reason=f"已立案 {case.number}",
                )
            rules_follow(case)
            audit_record(
                actor=actor,
                action="case.open",
                obj=case,
                changes={"template": template.code, "finding": finding.pk if finding else None},
            )
    except IntegrityError:
        existing = Case.objects.filter(finding=finding, status=Case.Status.OPEN).first()
        if existing is None:
            raise
        return existing
    return case


def _no_template(code: str):
    raise ApplicationError(f"流程模板“{code}”不存在", field_errors={"template": "不存在"})


def cases_open_batch(
    *, actor: Actor, findings: Iterable, template: WorkflowTemplate | str | None = None
) -> tuple[list[Case], list[str]]:
    """Open a case for each finding; returns the cases and, per finding that could not get
    one, why (the others still open)."""
    cases, problems = [], []
    for f in findings:
        try:
            cases.append(case_open(actor=actor, finding=f, template=template))
        except PermissionDenied:
            raise
        except ApplicationError as exc:
            problems.append(f"{f.title}：{exc.message}")
    return cases, problems


# --- moving on ----------------------------------------------------------------------------------


def _requirements(
    case: Case, step_row: CaseStep, choice: wf.Choice, note: str, data: dict[str, Any]
) -> list[str]:
    missing = []
    for req in choice.requires:
        if req == "note" and not note:
            missing.append("请填写说明")
        elif req == "letter" and not case.letters.filter(step=step_row).exists():
            missing.append("请先生成函件")
        elif req == "sent" and not case.letters.filter(step=step_row).exclude(sent_at=None).exists():
            missing.append("请先把函件发送给员工")
        elif req == "answer" and not case.letters.filter(step=step_row, answered_at__isnull=False).exists():
            missing.append("员工尚未答复")
        elif req == "proof" and not case.attachments.filter(uploaded_at__gte=step_row.started_at).exists():
            missing.append("请先上传证明材料")
        elif req == "backpay" and not (case.data or {}).get("backpay"):
            missing.append("请先核算补缴金额")
        elif req == "payment" and not ((data or {}).get("payment") or (case.data or {}).get("payment")):
            missing.append("请记录实际缴纳的金额和日期")
    return missing


def _may_act(actor: Actor, step: wf.Step) -> None:
    if actor.user is None:
        return
    if step.role == "hr_admin" and actor.user.role != Role.HR_ADMIN:
        raise PermissionDenied(f"步骤“{step.name}”需由 HR 管理员处理")


def case_advance(
    *,
    actor: Actor,
    case: Case,
    choice: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
    _event: str | None = None,
) -> Case:
    """Take a choice of the current step: complete it and start the next (closing the case at
    a close step). ``data`` is what the step records (``payment``: amount and date)."""
    _can_handle(actor)
    now = now or timezone.now()
    note = (note or "").strip()[:4000]
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("employee", "entity", "version", "finding")
            .get(pk=case.pk)
        )
        _can_see(actor, case)
        if case.status != Case.Status.OPEN:
            raise ApplicationError(f"案件{case.get_status_display()}，不能再处理")
        definition = definition_of(case)
        step = definition.step(case.current_step)
        row = active_step(case)
        picked = step.choice(choice)
        if picked is None:
            options = "、".join(f"{c.code}（{c.label}）" for c in step.choices)
            raise ApplicationError(
                f"步骤“{step.name}”没有选择“{choice}”（可选：{options}）",
                field_errors={"choice": "无效的选择"},
            )
        if _event is None:
            _may_act(actor, step)
        if data and data.get("payment"):
            case.data = {**(case.data or {}), "payment": _payment(data["payment"])}
        missing = _requirements(case, row, picked, note, data or {})
        if missing:
            raise ApplicationError(
                f"不能“{picked.label}”：" + "；".join(missing), field_errors={"choice": missing[0]}
            )
        row.status = CaseStep.Status.DONE
        row.completed_at = now
        row.completed_by = actor.user
        row.choice, row.choice_label, row.note = picked.code, picked.label, note
        row.save()
        event_add(
            case,
            CaseEvent.Kind.STEP_DONE,
            actor=actor,
            at=now,
            step=row,
            text=note,
            data={"step": step.code, "choice": picked.code, "label": picked.label, "auto": _event}
            | ({"payment": case.data["payment"]} if data and data.get("payment") else {}),
        )
        if picked.escalate and case.escalated_at is None:
            case.escalated_at = now
            event_add(
                case, CaseEvent.Kind.ESCALATED, actor=actor, at=now, text=note or picked.label, step=row
            )
        target = definition.step(picked.to)
        _start_step(case, target, actor, now)
        if target.is_final:
            case.status = Case.Status.CLOSED
            case.closed_at = now
            case.outcome = picked.label[:300]
            event_add(case, CaseEvent.Kind.CLOSED, actor=actor, at=now, text=picked.label)
        case.updated_at = now
        case.save()
        rules_follow(case)
        audit_record(
            actor=actor,
            action="case.advance",
            obj=case,
            changes={"step": step.code, "choice": picked.code, "to": target.code, "auto": _event},
        )
    return case


def _payment(raw: dict[str, Any]) -> dict[str, str]:
    from shebao.core.money import fmt, money, q2

    try:
        amount = money(str(raw.get("amount", "")))
    except (TypeError, ValueError):
        raise ApplicationError("缴纳金额应为数字", field_errors={"amount": "应为数字"}) from None
    if amount <= 0:
        raise ApplicationError("缴纳金额必须大于 0", field_errors={"amount": "必须大于 0"})
    day = raw.get("date")
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day.strip())
        except ValueError:
            raise ApplicationError(
                "缴纳日期格式应为 YYYY-MM-DD", field_errors={"date": "日期格式错误"}
            ) from None
    if not isinstance(day, dt.date):
        raise ApplicationError("请填写缴纳日期", field_errors={"date": "必填"})
    if day > _today():
        raise ApplicationError("缴纳日期不能晚于今天", field_errors={"date": "不能晚于今天"})
    return {
        "amount": fmt(q2(amount)),
        "date": day.isoformat(),
        "reference": str(raw.get("reference", ""))[:100],
    }


def case_event_happened(*, case: Case, event: str, actor: Actor, now: dt.datetime | None = None) -> bool:
    """The system takes the current step's choice bound to ``event`` (letter_sent, acknowledged,
    disagreed, proof_uploaded), if it has one. Returns whether the case moved."""
    if event not in wf.EVENTS:
        raise ValueError(event)
    case = Case.objects.select_related("version").get(pk=case.pk)
    if case.status != Case.Status.OPEN:
        return False
    step = definition_of(case).step(case.current_step)
    picked = step.choice_on(event)
    if picked is None:
        return False
    try:
        case_advance(actor=actor, case=case, choice=picked.code, now=now, _event=event)
    except ApplicationError:
        return False  # a requirement is missing: HR moves it by hand
    return True


def case_assign(*, actor: Actor, case: Case, assignee) -> Case:
    _can_handle(actor)
    _can_see(actor, case)
    if assignee is not None and not (
        assignee.is_active and assignee.role in (Role.HR_ADMIN, Role.HR_SPECIALIST)
    ):
        raise ApplicationError("负责人必须是在职的 HR 用户", field_errors={"assignee": "不是 HR 用户"})
    with transaction.atomic():
        before = case.assignee
        case.assignee = assignee
        case.updated_at = timezone.now()
        case.save(update_fields=["assignee", "updated_at"])
        event_add(
            case,
            CaseEvent.Kind.ASSIGNED,
            actor=actor,
            text=(assignee.get_full_name() or assignee.username) if assignee else "（无）",
            data={"from": before.pk if before else None, "to": assignee.pk if assignee else None},
        )
        audit_record(
            actor=actor,
            action="case.assign",
            obj=case,
            changes={"assignee": assignee.pk if assignee else None},
        )
    return case


def case_note(*, actor: Actor, case: Case, text: str) -> CaseEvent:
    _can_handle(actor)
    _can_see(actor, case)
    text = (text or "").strip()
    if not text:
        raise ApplicationError("备注不能为空", field_errors={"text": "必填"})
    with transaction.atomic():
        event = event_add(case, CaseEvent.Kind.NOTE, actor=actor, text=text[:4000])
        Case.objects.filter(pk=case.pk).update(updated_at=event.at)
        audit_record(actor=actor, action="case.note", obj=case)
    return event


def case_escalate(*, actor: Actor, case: Case, reason: str) -> Case:
    _can_handle(actor)
    _can_see(actor, case)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("请填写升级原因", field_errors={"reason": "必填"})
    if not case.is_open:
        raise ApplicationError("案件已结束，不能升级")
    with transaction.atomic():
        now = timezone.now()
        case.escalated_at = case.escalated_at or now
        case.updated_at = now
        case.save(update_fields=["escalated_at", "updated_at"])
        event_add(case, CaseEvent.Kind.ESCALATED, actor=actor, text=reason[:2000], at=now)
        audit_record(actor=actor, action="case.escalate", obj=case, changes={"reason": reason[:300]})
    return case


def case_cancel(*, actor: Actor, case: Case, reason: str) -> Case:
    _can_handle(actor)
    _can_see(actor, case)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("请填写撤销原因", field_errors={"reason": "必填"})
    if not case.is_open:
        raise ApplicationError("案件已结束，不能撤销")
    with transaction.atomic():
        now = timezone.now()
        case.steps.filter(status=CaseStep.Status.ACTIVE).update(
            status=CaseStep.Status.CANCELLED, completed_at=now
        )
        case.status, case.closed_at, case.outcome, case.updated_at = (
            Case.Status.CANCELLED,
            now,
            reason[:300],
            now,
        )
        case.step_due = None
        case.save()
        from shebao.cases.models import AckRequest

        AckRequest.objects.filter(letter__case=case, status=AckRequest.Status.PENDING).update(
            status=AckRequest.Status.REVOKED
        )
        event_add(case, CaseEvent.Kind.CANCELLED, actor=actor, text=reason[:2000], at=now)
        rules_follow(case)
        audit_record(actor=actor, action="case.cancel", obj=case, changes={"reason": reason[:300]})
    return case


def case_record(*, actor: Actor, case: Case, key: str, value: dict[str, Any], text: str = "") -> Case:
    """Keep figures a step produced (``backpay``: the calculator's result) in ``case.data``."""
    _can_handle(actor)
    _can_see(actor, case)
    if key not in ("backpay", "payment"):
        raise ApplicationError(f"不能记录“{key}”")
    if not case.is_open:
        raise ApplicationError("案件已结束")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        case.data = {**(case.data or {}), key: value if key != "payment" else _payment(value)}
        case.updated_at = timezone.now()
        case.save(update_fields=["data", "updated_at"])
        event_add(case, CaseEvent.Kind.DATA, actor=actor, text=text[:2000], data={key: case.data[key]})
        audit_record(actor=actor, action=f"case.record.{key}", obj=case)
    return case


def case_backpay(
    *,
    actor: Actor,
    case: Case,
    start: str,
    end: str,
    base,
    paid: str | None = None,
    insurances=None,
    due_day=None,
) -> Case:
    """Run the back-payment calculator for the case's employee and entity and keep the result
    (with its sources) on the case."""
    from shebao.policy.calc import result_data, run_backpay
    from shebao.policy.calculators._base import CalcError

    try:
        result = run_backpay(
            start=start,
            end=end,
            base=base,
            paid=paid or _today().isoformat(),
            entity=case.entity.code,
            insurances=insurances,
            due_day=due_day,
        )
    except CalcError as exc:
        raise ApplicationError(
            str(exc), field_errors={getattr(exc, "field", None) or "base": str(exc)}
        ) from None
    data = result_data(result)
    data["input"] = {"start": start, "end": end, "base": str(base), "paid": paid or _today().isoformat()}
    if due_day not in (None, ""):
        data["input"]["due_day"] = str(due_day)
    return case_record(actor=actor, case=case, key="backpay", value=data, text=f"核算补缴 {start}–{end}")


# --- attachments --------------------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "image/heic"
    return None


def attachment_store(
    *,
    case: Case,
    filename: str,
    data: bytes,
    description: str = "",
    by_employee: bool = False,
    user=None,
    acknowledgement=None,
    now: dt.datetime | None = None,
) -> Attachment:
    """Check a proof file (photo or PDF, ≤ 10 MB, by its content not its name) and keep it."""
    name = (Path(filename or "").name or "附件")[:200]
    if not data:
        raise ApplicationError(f"文件“{name}”是空的", field_errors={"file": "空文件"})
    if len(data) > MAX_ATTACHMENT:
        raise ApplicationError(
            f"文件“{name}”超过 {MAX_ATTACHMENT // (1024 * 1024)} MB", field_errors={"file": "文件过大"}
        )
    kind = _sniff(data)
    if kind is None:
        raise ApplicationError(
            f"文件“{name}”不是照片（JPG/PNG/HEIC/WebP）或 PDF", field_errors={"file": "只接受照片或 PDF"}
        )
    sha = blobs.blob_put(data)
    row = case.steps.filter(status=CaseStep.Status.ACTIVE).order_by("-id").first()
    return Attachment.objects.create(
        case=case,
        acknowledgement=acknowledgement,
        step=row,
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=sha,
        description=(description or "").strip()[:300],
        by_employee=by_employee,
        uploaded_by=user,
        uploaded_at=now or timezone.now(),
    )


def case_attach(*, actor: Actor, case: Case, filename: str, data: bytes, description: str = "") -> Attachment:
    _can_handle(actor)
    _can_see(actor, case)
    with transaction.atomic():
        att = attachment_store(
            case=case, filename=filename, data=data, description=description, user=actor.user
        )
        event_add(
            case,
            CaseEvent.Kind.ATTACHMENT,
            actor=actor,
            attachment=att,
            text=att.filename,
            data={"sha256": att.sha256, "size": att.size, "description": att.description},
        )
        Case.objects.filter(pk=case.pk).update(updated_at=att.uploaded_at)
        audit_record(
            actor=actor, action="case.attach", obj=case, changes={"file": att.filename, "sha256": att.sha256}
        )
    case_event_happened(case=case, event="proof_uploaded", actor=actor)
    return att


def attachment_bytes(att: Attachment) -> bytes:
    return blobs.blob_read(att.sha256)


# --- automatic opening --------------------------------------------------------------------------


def cases_auto_open(*, limit: int = 200) -> list[Case]:
    """Open a case for each new finding of a rule that says so (``AlertRule.auto_case``): the
    openings not yet processed are claimed one by one (``processed_at``), so two workers never
    open the same one; a finding that cannot get a case (no employee, no workflow) is logged on
    the finding's rule and skipped."""
    import logging

    from shebao.rules.models import FindingTransition
    from shebao.rules.services import transition_claim

    log = logging.getLogger(__name__)
    actor = Actor.system(via="worker")
    pending = (
        FindingTransition.objects.filter(processed_at__isnull=True, to_status="open")
        .exclude(finding__rule__auto_case="")
        .select_related("finding", "finding__rule", "finding__employee")
        .order_by("id")[:limit]
    )
    opened = []
    for t in pending:
        if not transition_claim(transition=t):
            continue
        finding, code = t.finding, t.finding.rule.auto_case
        if finding.status != "open" or finding.employee_id is None:
            continue
        try:
            opened.append(case_open(actor=actor, finding=finding, template=None if code == "auto" else code))
        except ApplicationError as exc:
            log.warning("cases: no automatic case for finding %s: %s", finding.pk, exc.message)
    return opened
