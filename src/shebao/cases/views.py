"""Pages of the cases room: the list (overdue first) and the board by step, a case's page (its
steps, the current step's choices, letters, proof files, back-payment figures, the timeline)
and the workflow template editor. Thin: permissions from accounts.permissions (staff see the
cases of the employees in their scope; HR handles them; HR admins edit the templates), reads
from the cases selectors, every write through the cases services."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_admin, can_edit_roster, can_view_roster
from shebao.cases import selectors, services
from shebao.cases import workflow as wf
from shebao.cases.forms import (
    EVENT_LABELS,
    ROLE_LABELS,
    AdvanceForm,
    AssignForm,
    AttachForm,
    BackpayForm,
    CaseFilterForm,
    NoteForm,
    OpenForm,
    ReasonForm,
    WorkflowEditor,
    WorkflowForm,
    action_label,
    deadline_from_label,
    keep_requires_order,
    requires_label,
)
from shebao.cases.models import (
    Acknowledgement,
    Attachment,
    Case,
    CaseEvent,
    LetterTemplate,
    WorkflowTemplate,
    WorkflowVersion,
)
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.law.selectors import citation_refs
from shebao.rules.kinds import KINDS
from shebao.web.decorators import login_required
from shebao.web.helpers import back_url, render_htmx, require, submit_form

ACTIVE = "cases"


def _due(day: dt.date | None, today: dt.date, *, open_: bool = True) -> dict[str, Any]:
    """What the due badge says: overdue by n days, due today, n days left."""
    if day is None or not open_:
        return {"date": day, "days": None, "overdue": False, "over": 0}
    days = (day - today).days
    return {"date": day, "days": days, "overdue": days < 0, "over": -days if days < 0 else 0}


def _step_names(cases) -> dict[tuple[int, str], str]:
    """(version id, step code) → step name, for the versions the rows use (one query)."""
    ids = {c.version_id for c in cases}
    names = {}
    for v in WorkflowVersion.objects.filter(pk__in=ids).only("id", "definition"):
        for s in v.definition.get("steps", []):
            names[(v.pk, s["code"])] = s["name"]
    return names


def _decorate(cases) -> list[Case]:
    rows = list(cases)
    today = timezone.localdate()
    names = _step_names(rows)
    for c in rows:
        c.step_name = names.get((c.version_id, c.current_step), c.current_step)
        c.due = _due(c.step_due, today, open_=c.is_open)
    return rows


# --- the list and the board -------------------------------------------------------------------


def _filters(form: CaseFilterForm) -> selectors.CaseFilters:
    values: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # an invalid filter (an entity out of scope, say) is dropped; the others apply
        values = form.cleaned_data
    template = values.get("template") or ""
    step = values.get("step") or ""
    if ":" in step:  # the step options carry their template
        step_template, step = step.split(":", 1)
        if template and template != step_template:
            step = ""
        else:
            template = step_template
    return selectors.CaseFilters(
        status=values.get("status") or "open",
        template=template,
        step=step,
        assignee=values.get("assignee") or "",
        entity=values["entity"].pk if values.get("entity") else None,
        overdue=bool(values.get("overdue")),
        q=values.get("q") or "",
    )


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    form = CaseFilterForm(request.GET or None, user=request.user)
    filters = _filters(form)
    page = Paginator(selectors.cases_list(request.user, filters), 50).get_page(request.GET.get("page"))
    page.object_list = _decorate(page.object_list)
    return render_htmx(
        request,
        "cases/_list.html",
        "cases/list.html",
        {
            "active": ACTIVE,
            "form": form,
            "page": page,
            "filters": filters,
            "counts": selectors.case_counts(request.user),
            "filtered": bool(
                request.GET.get("q")
                or request.GET.get("template")
                or request.GET.get("step")
                or request.GET.get("assignee")
                or request.GET.get("entity")
                or filters.overdue
                or filters.status != "open"
            ),
        },
    )


@login_required
def case_board(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    templates = list(WorkflowTemplate.objects.exclude(current=None).select_related("current").order_by("id"))
    if not templates:
        raise Http404
    code = request.GET.get("template") or ""
    template = next((t for t in templates if t.code == code), None)
    if template is None:
        template = next((t for t in templates if t.enabled), templates[0])
    columns = selectors.case_board(request.user, template)
    today = timezone.localdate()
    for col in columns:
        for c in col.cases:
            c.due = _due(c.step_due, today)
    counts = dict(
        selectors.cases_visible(request.user)
        .filter(status=Case.Status.OPEN)
        .values_list("template_id")
        .annotate(n=Count("id"))
    )
    for t in templates:
        t.open_count = counts.get(t.pk, 0)
    return render(
        request,
        "cases/board.html",
        {
            "active": ACTIVE,
            "templates": templates,
            "template": template,
            "columns": columns,
            "total": sum(len(c.cases) for c in columns),
        },
    )


# --- opening ----------------------------------------------------------------------------------


def _ids(values) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return sorted(set(out))


@login_required
def case_open(request: HttpRequest) -> HttpResponse:
    """POST finding_ids (the inbox's ``ids`` too) and an optional template code: one finding
    opens its case and goes there; several open in a batch and come back with a summary. GET
    ?finding=ID: pick the workflow for one finding."""
    from shebao.rules.selectors import display_title, findings_for

    require(can_edit_roster(request.user))
    if request.method != "POST":
        pk = _int(request.GET.get("finding"))
        finding = findings_for(request.user).filter(pk=pk).first() if pk else None
        if finding is None:
            raise Http404
        default = services.template_for_finding(finding)
        form = OpenForm(initial={"template": default.code if default else None})
        return _open_page(request, finding, form, default, display_title(finding))

    back = back_url(request, reverse("cases:list"))
    wanted = _ids(request.POST.getlist("finding_ids") + request.POST.getlist("ids"))
    if not wanted:
        messages.error(request, _("请先选择要立案的预警"))
        return redirect(back)
    findings = list(
        findings_for(request.user).filter(pk__in=wanted).select_related("employee").order_by("id")
    )
    if len(findings) != len(wanted):
        messages.error(request, _("找不到所选的预警，或不在您的管理范围内"))
        return redirect(back)
    actor = Actor.from_request(request)
    template = (request.POST.get("template") or "").strip() or None
    if len(findings) == 1 and not request.POST.get("batch"):
        finding = findings[0]
        try:
            case = services.case_open(
                actor=actor, finding=finding, template=template, note=request.POST.get("note", "")
            )
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(exc.message) from exc
        except exceptions.ApplicationError as exc:
            if "template" in exc.field_errors:  # no workflow fits the finding (or the one given is off)
                form = OpenForm(initial={"template": template, "note": request.POST.get("note", "")})
                return _open_page(
                    request, finding, form, None, display_title(finding), status=422, error=exc.message
                )
            messages.error(request, exc.message)
            return redirect(back)
        messages.success(
            request, _("已立案 %(number)s：%(title)s") % {"number": case.number, "title": case.title}
        )
        return redirect("cases:detail", case.pk)

    had = set(
        Case.objects.filter(finding__in=findings, status=Case.Status.OPEN).values_list(
            "finding_id", flat=True
        )
    )
    try:
        cases, problems = services.cases_open_batch(actor=actor, findings=findings, template=template)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    opened = [c for c in cases if c.finding_id not in had]
    existing = len(cases) - len(opened)
    summary = _("已立案 %(n)d 件") % {"n": len(opened)}
    if existing:
        summary += _("；%(n)d 条预警已有处理中的案件") % {"n": existing}
    if opened or existing:
        messages.success(request, summary)
    if problems:
        messages.error(
            request,
            _("%(n)d 条预警未能立案：") % {"n": len(problems)} + _("；").join(problems),
        )
    return redirect(back)


def _open_page(request, finding, form, default, title, status=200, error="") -> HttpResponse:
    kind = KINDS.get(finding.kind)
    existing = Case.objects.filter(finding=finding, status=Case.Status.OPEN).first()
    return render(
        request,
        "cases/open.html",
        {
            "active": ACTIVE,
            "finding": finding,
            "title": title,
            "kind_label": _(kind.label) if kind else finding.kind,
            "form": form,
            "default": default,
            "existing": existing,
            "error": error,
        },
        status=status,
    )


# --- a case's page ----------------------------------------------------------------------------


def _case(request: HttpRequest, pk: int) -> Case:
    require(can_view_roster(request.user))
    case = selectors.case_get(request.user, pk)
    if case is None:  # out of scope looks the same as missing
        raise Http404
    return case


EVENT_ICONS = {
    "opened": ("＋", "ev-open"),
    "step_started": ("→", "ev-step"),
    "step_done": ("✓", "ev-done"),
    "assigned": ("人", "ev-muted"),
    "note": ("注", "ev-muted"),
    "letter_issued": ("函", "ev-letter"),
    "letter_sent": ("发", "ev-letter"),
    "letter_opened": ("阅", "ev-employee"),
    "identity": ("证", "ev-employee"),
    "acknowledged": ("✓", "ev-employee"),
    "disagreed": ("！", "ev-bad"),
    "attachment": ("附", "ev-muted"),
    "escalated": ("↑", "ev-bad"),
    "data": ("算", "ev-muted"),
    "closed": ("■", "ev-done"),
    "cancelled": ("×", "ev-bad"),
}
METHODS = dict(Acknowledgement.Method.choices)
CHANNELS = {"sms_aliyun": "短信", "sms_tencent": "短信", "email": "邮件", "inapp": "站内信"}


def _timeline(case: Case) -> list[CaseEvent]:
    events = list(selectors.case_timeline(case))
    ack_ids = [e.data.get("acknowledgement") for e in events if e.data.get("acknowledgement")]
    acks = {a.pk: a for a in Acknowledgement.objects.filter(pk__in=ack_ids)}
    for e in events:
        e.icon, e.css = EVENT_ICONS.get(e.kind, ("·", "ev-muted"))
        e.label = e.get_kind_display()
        e.ack = acks.get(e.data.get("acknowledgement"))
        e.method_label = METHODS.get(e.data.get("method") or (e.ack.method if e.ack else ""), "")
        e.channel_labels = [_(CHANNELS.get(c, c)) for c in e.data.get("channels") or []]
        expires = e.data.get("expires_at")
        e.expires_at = parse_datetime(expires) if isinstance(expires, str) else None
        e.sha256 = (
            e.data.get("sha256")
            or (e.letter.sha256 if e.letter else "")
            or (e.attachment.sha256 if e.attachment else "")
        )
    return events


def _flow_choice(choice: wf.Choice, names: dict[str, str]) -> dict[str, Any]:
    return {
        "code": choice.code,
        "label": choice.label,
        "to": choice.to,
        "to_name": names.get(choice.to, choice.to),
        "requires": [(r, requires_label(r)) for r in choice.requires],
        "when": choice.when or "",
        "when_label": EVENT_LABELS.get(choice.when, "") if choice.when else "",
        "escalate": choice.escalate,
    }


def _backpay_view(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored calculator result with the rates' sources of its first month."""
    if not data:
        return None
    sources = []
    months = data.get("months") or []
    if months:
        for line in (months[0].get("contribution") or {}).get("lines") or []:
            sources.append(
                {
                    "label": line.get("label"),
                    "employer": line.get("employer_rate") or {},
                    "employee": line.get("employee_rate") or {},
                    "citations": line.get("citations") or [],
                }
            )
    return {**data, "sources": sources, "period": (months[0].get("contribution") or {}) if months else {}}


def _detail(request: HttpRequest, case: Case, *, status: int = 200, **bound) -> HttpResponse:
    user = request.user
    can_handle = can_edit_roster(user)
    today = timezone.localdate()
    definition = selectors.case_definition(case)
    names = {s.code: s.name for s in definition.steps}
    current = definition.step(case.current_step) if case.is_open else None
    steps = selectors.case_steps(case)
    for sv in steps:
        last = sv.rows[-1] if sv.rows else None
        sv.last = last
        for r in sv.rows:
            r.late = bool(r.completed_at and r.due_date and timezone.localdate(r.completed_at) > r.due_date)
        sv.due = _due(last.due_date, today, open_=sv.state == "active") if last else None
        sv.deadline_text = sv.step.deadline.describe() if sv.step.deadline else ""
        sv.role_label = ROLE_LABELS.get(sv.step.role, sv.step.role)
        sv.action_label = action_label(sv.step.action)
    choices = [_flow_choice(c, names) for c in selectors.current_choices(case)]
    manual = [c for c in choices if not c["when"]]
    auto = [c for c in choices if c["when"]]
    needs = {r for c in choices for r, _label in c["requires"]}
    row = services.active_step(case) if case.is_open else None
    letters = list(selectors.letters_of(case).select_related("issued_by"))
    letter_template = None
    if current is not None and current.letter:
        letter_template = LetterTemplate.objects.filter(code=current.letter).first()
    may_act = bool(
        can_handle and current is not None and not (current.role == "hr_admin" and user.role != Role.HR_ADMIN)
    )
    version_current = case.template.current_id == case.version_id
    context = {
        "active": ACTIVE,
        "case": case,
        "employee": case.employee,
        "can_handle": can_handle and case.is_open,
        "may_act": may_act,
        "due": _due(case.step_due, today, open_=case.is_open),
        "current": current,
        "current_row": row,
        "current_role": ROLE_LABELS.get(current.role, current.role) if current else "",
        "current_action": action_label(current.action) if current else "",
        "current_citations": citation_refs(list(current.citations)) if current else [],
        "manual": manual,
        "auto": auto,
        "needs": needs,
        "steps": steps,
        "letters": letters,
        "letter_template": letter_template,
        "letters_in_step": [x for x in letters if row is not None and x.step_id == row.pk],
        "attachments": list(case.attachments.select_related("uploaded_by").order_by("id")),
        "timeline": _timeline(case),
        "backpay": _backpay_view((case.data or {}).get("backpay")),
        "payment": (case.data or {}).get("payment"),
        "show_backpay_form": bool(
            can_handle
            and case.is_open
            and current is not None
            and (current.action == "calculate" or "backpay" in needs)
        ),
        "version_current": version_current,
        "template_version": case.template.current.number if case.template.current_id else None,
        "finding_title": None,
        "advance_form": bound.get("advance_form") or AdvanceForm(),
        "assign_form": bound.get("assign_form") or AssignForm(initial={"assignee": case.assignee}),
        "note_form": bound.get("note_form") or NoteForm(),
        "attach_form": bound.get("attach_form") or AttachForm(),
        "escalate_form": bound.get("escalate_form") or ReasonForm(prefix="escalate"),
        "cancel_form": bound.get("cancel_form") or ReasonForm(prefix="cancel"),
        "backpay_form": bound.get("backpay_form") or BackpayForm(initial=_backpay_initial(case)),
        "open_panel": bound.get("open_panel", ""),
    }
    if case.finding_id:
        from shebao.rules.selectors import display_title

        context["finding_title"] = display_title(case.finding)
    return render(request, "cases/detail.html", context, status=status)


def _backpay_initial(case: Case) -> dict[str, Any]:
    stored = ((case.data or {}).get("backpay") or {}).get("input") or {}
    if stored:
        return {k: stored.get(k, "") for k in ("start", "end", "base", "paid", "due_day")}
    initial: dict[str, Any] = {"paid": timezone.localdate().isoformat()}
    finding = case.finding
    details = (finding.details or {}) if finding is not None else {}
    months = [m for m in details.get("months_since_hire") or [] if isinstance(m, str)]
    if months:
        initial.update(start=months[0], end=months[-1])
    if case.employee.declared_wage:
        initial["base"] = str(case.employee.declared_wage)
    return initial


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _case(request, pk))


def _handler(request: HttpRequest, pk: int) -> tuple[Case, Actor]:
    case = _case(request, pk)
    require(can_edit_roster(request.user))
    return case, Actor.from_request(request)


def _done(request: HttpRequest, case: Case, text: str, anchor: str = "") -> HttpResponse:
    messages.success(request, text)
    return redirect(reverse("cases:detail", args=[case.pk]) + (f"#{anchor}" if anchor else ""))


@require_POST
@login_required
def case_advance(request: HttpRequest, pk: int) -> HttpResponse:
    case, actor = _handler(request, pk)
    form = AdvanceForm(request.POST, request.FILES)
    step_name = selectors.case_definition(case).step(case.current_step).name if case.is_open else ""

    def advance() -> Case:
        upload = form.cleaned_data.get("file")
        if upload:
            before = case.current_step
            services.case_attach(
                actor=actor,
                case=case,
                filename=upload.name,
                data=upload.read(),
                description=_("“%(step)s”的证明材料") % {"step": step_name},
            )
            case.refresh_from_db()
            if case.current_step != before or not case.is_open:
                return case  # the upload itself moved the step on
        payment = form.payment()
        return services.case_advance(
            actor=actor,
            case=case,
            choice=form.cleaned_data["choice"],
            note=form.cleaned_data["note"],
            data={"payment": payment} if payment else None,
        )

    moved = submit_form(form, advance)
    if moved is None:
        return _detail(request, case, status=422, advance_form=form)
    if moved.status == Case.Status.CLOSED:
        text = _("已完成“%(step)s”，案件已结案") % {"step": step_name}
    else:
        nxt = selectors.case_definition(moved).step(moved.current_step).name
        text = _("已完成“%(step)s”，进入“%(next)s”") % {"step": step_name, "next": nxt}
    return _done(request, moved, text)


@require_POST
@login_required
def case_assign(request: HttpRequest, pk: int) -> HttpResponse:
    case, actor = _handler(request, pk)
    form = AssignForm(request.POST)
    done = submit_form(
        form, lambda: services.case_assign(actor=actor, case=case, assignee=form.cleaned_data["assignee"])
    )
    if done is None:
        return _detail(request, case, status=422, assign_form=form)
    who = done.assignee.display_name if done.assignee else _("（未指派）")
    return _done(request, done, _("负责人已改为 %(who)s") % {"who": who})


@require_POST
@login_required
def case_note(request: HttpRequest, pk: int) -> HttpResponse:
    case, actor = _handler(request, pk)
    form = NoteForm(request.POST)
    done = submit_form(
        form, lambda: services.case_note(actor=actor, case=case, text=form.cleaned_data["text"])
    )
    if done is None:
        return _detail(request, case, status=422, note_form=form)
    return _done(request, case, _("已添加备注"), "timeline")


@require_POST
@login_required
def case_attach(request: HttpRequest, pk: int) -> HttpResponse:
    case, actor = _handler(request, pk)
    form = AttachForm(request.POST, request.FILES)

    def attach() -> Attachment:
        upload = form.cleaned_data["file"]
        return services.case_attach(
            actor=actor,
            case=case,
            filename=upload.name,
            data=upload.read(),
            description=form.cleaned_data["description"],
        )

    done = submit_form(form, attach)
    if done is None:
        return _detail(request, case, status=422, attach_form=form)
    return _done(request, case, _("已上传“%(name)s”") % {"name": done.filename}, "attachments")


def _with_reason(request: HttpRequest, pk: int, panel: str, act, done_text: str) -> HttpResponse:
    """Escalate or cancel: a reason (form prefix ``panel``) and the service that takes it."""
    case, actor = _handler(request, pk)
    form = ReasonForm(request.POST, prefix=panel)
    done = submit_form(form, lambda: act(actor=actor, case=case, reason=form.cleaned_data["reason"]))
    if done is None:
        return _detail(request, case, status=422, open_panel=panel, **{f"{panel}_form": form})
    return _done(request, done, done_text)


@require_POST
@login_required
def case_escalate(request: HttpRequest, pk: int) -> HttpResponse:
    return _with_reason(request, pk, "escalate", services.case_escalate, _("案件已升级"))


@require_POST
@login_required
def case_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _with_reason(request, pk, "cancel", services.case_cancel, _("案件已撤销"))


@require_POST
@login_required
def case_backpay(request: HttpRequest, pk: int) -> HttpResponse:
    case, actor = _handler(request, pk)
    form = BackpayForm(request.POST)
    done = submit_form(
        form,
        lambda: services.case_backpay(
            actor=actor,
            case=case,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            base=form.cleaned_data["base"],
            paid=form.cleaned_data["paid"] or None,
            insurances=form.cleaned_data["insurances"] or None,
            due_day=form.cleaned_data["due_day"] or None,
        ),
    )
    if done is None:
        return _detail(request, case, status=422, backpay_form=form)
    total = ((done.data or {}).get("backpay") or {}).get("grand_total", "")
    return _done(request, done, _("已核算补缴金额：合计 ¥%(total)s") % {"total": total}, "backpay")


@login_required
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    att = Attachment.objects.filter(pk=pk).first()
    if att is None or selectors.case_get(request.user, att.case_id) is None:
        raise Http404
    data = services.attachment_bytes(att)
    response = HttpResponse(data, content_type=att.content_type or "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, att.filename)
    response["Content-Length"] = str(len(data))
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- workflow templates -----------------------------------------------------------------------


def flow_of(definition: wf.Definition) -> list[dict[str, Any]]:
    """A definition as the preview draws it: the steps in order, each with where its choices lead."""
    names = {s.code: s.name for s in definition.steps}
    order = {s.code: n for n, s in enumerate(definition.steps, start=1)}
    letters = dict(LetterTemplate.objects.values_list("code", "name"))
    out = []
    for n, s in enumerate(definition.steps, start=1):
        choices = []
        for c in s.choices:
            item = _flow_choice(c, names)
            item["to_n"] = order.get(c.to)
            item["back"] = order.get(c.to, 0) <= n
            choices.append(item)
        out.append(
            {
                "n": n,
                "code": s.code,
                "name": s.name,
                "role": ROLE_LABELS.get(s.role, s.role),
                "role_code": s.role,
                "action": action_label(s.action),
                "deadline": (
                    f"{deadline_from_label(s.deadline.from_)} + {s.deadline.days} " + _("天")
                    if s.deadline
                    else ""
                ),
                "warn_days": s.warn_days if s.deadline else None,
                "letter": letters.get(s.letter, s.letter) if s.letter else "",
                "citations": citation_refs(list(s.citations)),
                "instructions": s.instructions,
                "choices": choices,
                "start": s.code == definition.start,
                "final": s.is_final,
            }
        )
    return out


@login_required
def workflow_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    visible = selectors.cases_visible(request.user)
    open_counts = dict(
        visible.filter(status=Case.Status.OPEN).values_list("template_id").annotate(n=Count("id"))
    )
    templates = list(WorkflowTemplate.objects.select_related("current", "current__created_by").order_by("id"))
    for t in templates:
        steps = t.current.definition.get("steps", []) if t.current else []
        t.steps_count = len([s for s in steps if s.get("action") != "close"])
        t.kind_labels = [_(KINDS[k].label) if k in KINDS else k for k in t.finding_kinds or []]
        t.open_count = open_counts.get(t.pk, 0)
    return render(
        request,
        "cases/workflows.html",
        {"active": ACTIVE, "templates": templates, "can_edit": can_admin(request.user)},
    )


_PLACE = re.compile(r"步骤 › 第(\d+)项")
_NAMED = re.compile(r"步骤“([^”]+)”")


def _place_errors(editor: WorkflowEditor, message: str) -> None:
    """Put the service's problems next to the steps they name (by position or by name)."""
    text = message.split("：", 1)[1] if message.startswith("流程定义无效：") else message
    by_name = {s.name: s for s in editor.steps if s.name}
    for problem in text.split("；"):
        m = _PLACE.search(problem)
        if m and 0 < int(m.group(1)) <= len(editor.steps):
            editor.steps[int(m.group(1)) - 1].errors.append(problem)
            continue
        for name in _NAMED.findall(problem):
            if name in by_name:
                by_name[name].errors.append(problem)


def _workflow_page(request, template, form, editor, *, status=200, errors=None, shown=None) -> HttpResponse:
    versions = list(
        template.versions.select_related("created_by")
        .annotate(n_cases=Count("cases"), n_open=Count("cases", filter=Q(cases__status=Case.Status.OPEN)))
        .order_by("-number")
    )
    shown = shown or template.current
    flow = flow_of(wf.Definition.model_validate(shown.definition)) if shown else []
    return render(
        request,
        "cases/workflow_edit.html",
        {
            "active": ACTIVE,
            "template": template,
            "form": form,
            "editor": editor,
            "options": WorkflowEditor.options(),
            "errors": errors or [],
            "versions": versions,
            "shown": shown,
            "flow": flow,
            "can_edit": can_admin(request.user),
            "open_cases": sum(v.n_open for v in versions),
        },
        status=status,
    )


def _workflow_initial(template: WorkflowTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "description": template.description,
        "finding_kinds": template.finding_kinds,
        "enabled": template.enabled,
    }


@login_required
def workflow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    template = WorkflowTemplate.objects.select_related("current").filter(pk=pk).first()
    if template is None:
        raise Http404
    if request.method != "POST":
        shown = None
        if request.GET.get("version"):
            shown = template.versions.filter(number=_int(request.GET["version"])).first()
            if shown is None:
                raise Http404
        editor = WorkflowEditor.from_definition(template.current.definition if template.current else {})
        form = WorkflowForm(initial=_workflow_initial(template)) if can_admin(request.user) else None
        return _workflow_page(request, template, form, editor, shown=shown)

    require(can_admin(request.user))
    form = WorkflowForm(request.POST)
    editor = WorkflowEditor.from_post(request.POST)
    op = request.POST.get("op") or "save"
    if op != "save":
        form.is_valid()
        editor.apply(op)
        return _workflow_page(request, template, form, editor, errors=editor.errors)
    definition = editor.definition()
    if not form.is_valid() or definition is None:
        return _workflow_page(request, template, form, editor, status=422, errors=editor.errors)
    d = form.cleaned_data
    before = template.current_id
    if editor.mode == "form":
        definition = keep_requires_order(
            definition, template.current.definition if template.current else None
        )
    try:
        saved = services.workflow_update(
            actor=Actor.from_request(request),
            template=template,
            definition=definition,
            name=d["name"],
            description=d["description"],
            finding_kinds=d["finding_kinds"],
            enabled=d["enabled"],
            note=d["note"],
        )
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        for name, error in exc.field_errors.items():
            if name in form.fields:
                form.add_error(name, error)
        _place_errors(editor, exc.message)
        return _workflow_page(request, template, form, editor, status=422, errors=[exc.message])
    if saved.current_id != before:
        running = (
            Case.objects.filter(template=saved, status=Case.Status.OPEN)
            .exclude(version=saved.current)
            .count()
        )
        text = _("已保存“%(name)s”，生成新版本 v%(n)d。") % {"name": saved.name, "n": saved.current.number}
        if running:
            text += _("%(k)d 件处理中的案件沿用立案时的版本。") % {"k": running}
    else:
        text = _("已保存“%(name)s”（流程步骤未变，版本不变）。") % {"name": saved.name}
    messages.success(request, text)
    return redirect("cases:workflow", saved.pk)


@require_POST
@login_required
def workflow_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The edited definition drawn as a flow, or what is wrong with it (HTMX; nothing saved)."""
    require(can_admin(request.user))
    if not WorkflowTemplate.objects.filter(pk=pk).exists():
        raise Http404
    editor = WorkflowEditor.from_post(request.POST)
    definition = editor.definition()
    flow, errors = None, list(editor.errors)
    if definition is not None:
        try:
            flow = flow_of(services.definition_clean(definition))
        except exceptions.ApplicationError as exc:
            errors = [exc.message]
    return render(request, "cases/_flow.html", {"flow": flow, "errors": errors, "preview": True})


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
