"""Letter templates and letters: the wording is a sandboxed template (``notify.rendering``'s
engine: default tags and filters only, plain values in the context); issuing a letter renders it
from the case data to HTML and then to PDF once, stores the PDF in the blob store with its SHA-256
and never renders it again. Sending creates a signed, expiring link for the employee and puts
the message in the notifications outbox (SMS with the link, email, in-app).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from shebao.audit.services import audit_record
from shebao.cases import pdf
from shebao.cases.models import AckRequest, Case, CaseEvent, CaseStep, Letter, LetterTemplate
from shebao.cases.services.cases import (
    _can_admin,
    _can_handle,
    _can_see,
    active_step,
    case_event_happened,
    definition_of,
    event_add,
    label_of,
    rules_follow,
)
from shebao.core import blobs
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

DATA = Path(__file__).resolve().parent.parent / "data" / "letters"
LAW_REF = re.compile(r"law\.([A-Z]+(?:_[A-Z]+)?_\d+[A-Z]?)")
MAX_BODY = 30_000


def _fmt(day: dt.date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


# --- templates ----------------------------------------------------------------------------------


def shipped_letters() -> list[dict[str, Any]]:
    items = yaml.safe_load((DATA / "letters.yaml").read_text("utf-8"))
    for item in items:
        item["body"] = (DATA / item.pop("file")).read_text("utf-8")
    return items


def letter_templates_install(*, actor: Actor | None = None) -> list[LetterTemplate]:
    actor = actor or Actor.system(via="cli")
    out = []
    for item in shipped_letters():
        if LetterTemplate.objects.filter(code=item["code"]).exists():
            continue
        t = LetterTemplate.objects.create(
            code=item["code"],
            name=item["name"],
            kind=item.get("kind", "notice"),
            title=item["title"],
            body=item["body"],
            response_days=item.get("response_days", 7),
            is_builtin=True,
        )
        audit_record(actor=actor, action="letter_template.install", obj=t, changes={"code": t.code})
        out.append(t)
    return out


def letter_template_update(
    *,
    actor: Actor,
    template: LetterTemplate,
    title: str,
    body: str,
    name: str | None = None,
    response_days: int | None = None,
) -> LetterTemplate:
    """Save an edit (checked by rendering it on a sample case): the version grows; letters
    already issued keep their own PDF."""
    _can_admin(actor)
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise ApplicationError("请填写标题", field_errors={"title": "必填"})
    if not body:
        raise ApplicationError("正文不能为空", field_errors={"body": "必填"})
    if len(body) > MAX_BODY:
        raise ApplicationError(f"正文过长（最多 {MAX_BODY} 字）", field_errors={"body": "过长"})
    if response_days is not None and not 1 <= int(response_days) <= 90:
        raise ApplicationError("答复期限应为 1–90 天", field_errors={"response_days": "1–90 天"})
    _render_body(body, sample_context())  # a syntax error is caught before it is saved
    with transaction.atomic():
        t = LetterTemplate.objects.select_for_update().get(pk=template.pk)
        changed = {
            k: v
            for k, v in {
                "title": title[:200],
                "body": body,
                "name": (name or "").strip()[:100] or t.name,
                "response_days": int(response_days) if response_days is not None else t.response_days,
            }.items()
            if getattr(t, k) != v
        }
        if not changed:
            return t
        for k, v in changed.items():
            setattr(t, k, v)
        t.version += 1
        t.updated_by = actor.user
        t.save()
        audit_record(
            actor=actor,
            action="letter_template.update",
            obj=t,
            changes={"version": t.version, "fields": sorted(changed)},
        )
    return t


def letter_template_reset(*, actor: Actor, template: LetterTemplate) -> LetterTemplate:
    """Back to the shipped wording (as a new version)."""
    shipped = {i["code"]: i for i in shipped_letters()}.get(template.code)
    if shipped is None:
        raise ApplicationError("这是自建的模板，没有内置版本可恢复")
    return letter_template_update(
        actor=actor,
        template=template,
        title=shipped["title"],
        body=shipped["body"],
        name=shipped["name"],
        response_days=shipped.get("response_days", 7),
    )


# --- context ------------------------------------------------------------------------------------


def _articles(body: str, extra: list[str]) -> dict[str, dict[str, str]]:
    from shebao.law.models import Article

    wanted = {m.replace("_", "-") for m in LAW_REF.findall(body)}
    # SIL_IMPL_3 → SIL-IMPL-3
    wanted |= set(extra)
    out = {}
    for a in Article.objects.filter(citation_id__in=wanted).select_related("statute"):
        out[a.citation_id.replace("-", "_")] = {
            "id": a.citation_id,
            "title": f"《{a.statute.title}》{a.label}",
            "label": a.label,
            "text": a.text,
        }
    return out


def case_context(
    case: Case,
    *,
    template: LetterTemplate,
    issued: dt.date,
    number: str,
    actor: Actor,
    body: str | None = None,
) -> dict[str, Any]:
    """Plain values for a letter about ``case`` (no model instances reach the template). ``body``:
    the wording being previewed, when it is not the template's own (its ``law.X_N`` are loaded)."""
    e = case.employee
    f = case.finding
    entity = case.entity
    respond_by = issued + dt.timedelta(days=template.response_days)
    details = dict(f.details or {}) if f is not None else {}
    step = active_step(case)
    definition = definition_of(case)
    cited = sorted({c for s in definition.steps for c in s.citations} | set(f.citations or [] if f else []))
    steps = _steps_done(case)
    insurances = details.get("insurances")  # a list of codes (enrolled_elsewhere …)
    return {
        "company": {
            "name": entity.name,
            "uscc": entity.uscc,
            "city": getattr(entity.city, "name", str(entity.city)),
        },
        "employee": {
            "name": e.name,
            "employee_no": e.employee_no,
            "id_masked": e.id_number_masked,
            "department": e.department.name if e.department_id else "",
            "hire_date": _fmt(e.hire_date),
            "leave_date": _fmt(e.leave_date),
        },
        "case": {
            "number": case.number,
            "title": case.title,
            "opened": _fmt(timezone.localdate(case.opened_at)),
            "workflow": case.template.name,
            "step": step.name if step else "",
            "step_due": _fmt(step.due_date) if step else "",
            "steps": steps,
            "done": {row["code"]: row for row in steps},  # by step code (the latest visit)
        },
        "letter": {
            "number": number,
            "date": _fmt(issued),
            "respond_by": _fmt(respond_by),
            "response_days": template.response_days,
        },
        "finding": {
            "title": f.title if f else "",
            "kind": f.kind if f else "",
            "deadline": _fmt(f.deadline) if f else "",
            "deadline_passed": bool(f is not None and f.deadline is not None and f.deadline < issued),
            "amount": f"{f.amount:.2f}" if f is not None and f.amount is not None else "",
            "details": details,
            "citations": list(f.citations or []) if f is not None else [],
            "insurances": "、".join(_insurance_label(str(i)) for i in insurances)
            if isinstance(insurances, list)
            else "",
        },
        "gap": {
            "insurance": details.get("insurance", ""),
            "insurance_label": _insurance_label(details.get("insurance", "")),
            "last_month": details.get("last_covered_month", ""),
            "last_unit": details.get("last_covered_unit", ""),
            "from": details.get("gap_from", ""),
            "months": (details.get("backpay_estimate") or {}).get("months", []),
            "amount": (details.get("backpay_estimate") or {}).get("amount") or "",
            "missing": (details.get("backpay_estimate") or {}).get("missing") or [],
        },
        "backpay": _backpay_view((case.data or {}).get("backpay") or {}),
        "payment": (case.data or {}).get("payment") or {},
        "hr": {"name": label_of(actor), "email": getattr(actor.user, "email", "") or ""},
        "law": _articles(template.body if body is None else body, cited),
    }


def _insurance_label(code: str) -> str:
    from shebao.policy.terms import INSURANCE_LABELS, Insurance

    try:
        return INSURANCE_LABELS[Insurance(code)]
    except ValueError:
        return code or ""


def _steps_done(case: Case) -> list[dict[str, str]]:
    """The steps the case has completed, oldest first (what HR recorded: the choice and the note)."""
    return [
        {
            "code": r.code,
            "name": r.name,
            "choice": r.choice,
            "choice_label": r.choice_label,
            "note": r.note,
            "completed": _fmt(timezone.localdate(r.completed_at)) if r.completed_at else "",
        }
        for r in case.steps.filter(status=CaseStep.Status.DONE).order_by("id")
    ]


def _pct(rate: Any) -> str:
    """A rate of the calculator's result as a percentage: "0.098" → "9.8%" ("" when unreadable)."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(str(rate)) * 100
    except (InvalidOperation, ValueError, TypeError):
        return ""
    text = f"{value:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def _backpay_view(data: dict[str, Any]) -> dict[str, Any]:
    """The back-payment calculator's result (``BackpayResult.to_dict``) with what a letter needs
    and a template cannot compute: the employer's and the employee's totals over the months, the
    rates as percentages and the figures' sources (each once)."""
    import copy
    from decimal import Decimal, InvalidOperation

    if not data or not data.get("months"):
        return dict(data or {})
    out = copy.deepcopy(data)

    def dec(v: Any) -> Decimal:
        try:
            return Decimal(str(v)) if v not in (None, "") else Decimal(0)
        except InvalidOperation:
            return Decimal(0)

    sums = {"employer_total": Decimal(0), "employee_total": Decimal(0), "contributions_total": Decimal(0)}
    sources: dict[tuple[str, str], dict[str, str]] = {}
    for month in out["months"]:
        c = month.get("contribution") or {}
        sums["employer_total"] += dec(c.get("employer_total"))
        sums["employee_total"] += dec(c.get("employee_total"))
        sums["contributions_total"] += dec(c.get("total"))
        for line in c.get("lines") or []:
            for side in ("employer_rate", "employee_rate"):
                figure = line.get(side) or {}
                line[f"{side}_pct"] = _pct(figure.get("value")) if figure.get("value") is not None else ""
            for key, what in (
                ("employer_rate", "费率"),
                ("employee_rate", "费率"),
                ("base_min", "缴费基数上下限"),
                ("base_max", "缴费基数上下限"),
            ):
                figure = line.get(key) or {}
                source = (figure.get("source") or "").strip()
                if figure.get("value") is None or not source:
                    continue
                item = sources.setdefault(
                    (what, source),
                    {
                        "what": what,
                        "source": source,
                        "confidence_label": figure.get("confidence_label", ""),
                        "insurances": "",
                    },
                )
                label = line.get("label", "")
                if label and label not in item["insurances"].split("、"):
                    item["insurances"] = "、".join(x for x in (item["insurances"], label) if x)
    out.update({k: f"{v:.2f}" for k, v in sums.items()})
    out["sources"] = list(sources.values())
    out["city"] = (out["months"][0].get("contribution") or {}).get("city_name", "")
    out["due_day"] = out["months"][0].get("due_day", "")
    out["periods"] = "、".join(
        dict.fromkeys(m.get("period_label", "") for m in out["months"] if m.get("period_label"))
    )
    return out


def sample_context(body: str | None = None) -> dict[str, Any]:
    """Made-up values for checking and previewing a template when no case is at hand (with the
    statutes ``body`` quotes, when given)."""
    return {
        "company": {"name": "示例科技有限公司", "uscc": "91110000000000000X", "city": "北京"},
        "employee": {
            "name": "张三",
            "employee_no": "E0001",
            "id_masked": "1101**********1234",
            "department": "研发部",
            "hire_date": "2026年10月8日",
            "leave_date": "",
        },
        "case": {
            "number": "AJ202611-0001",
            "title": "示例案件",
            "opened": "2026年11月2日",
            "workflow": "医保中断处理",
            "step": "",
            "step_due": "",
            "steps": [],
            "done": {},
        },
        "letter": {
            "number": "HJ202611-0001",
            "date": "2026年11月2日",
            "respond_by": "2026年11月9日",
            "response_days": 7,
        },
        "finding": {
            "title": "张三 职工医保已中断 2 个月",
            "kind": "medical_interrupted",
            "deadline": "",
            "deadline_passed": False,
            "amount": "1234.56",
            "details": {},
            "citations": [],
            "insurances": "",
        },
        "gap": {
            "insurance": "medical",
            "insurance_label": "医疗保险",
            "last_month": "2026-08",
            "last_unit": "原单位",
            "from": "2026-09",
            "months": ["2026-09", "2026-10"],
            "amount": "1234.56",
            "missing": [],
        },
        "backpay": {},
        "payment": {},
        "hr": {"name": "HR 专员", "email": "hr@example.com"},
        "law": _articles(body, []) if body else {},
    }


def _render_body(body: str, context: dict[str, Any]) -> str:
    from shebao.notify.rendering import render_string

    return render_string(body, context, autoescape=True)


def _document(title: str, body_html: str) -> str:
    from django.utils.html import escape

    return f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title></head><body>{body_html}</body></html>'


def letter_preview(
    *,
    actor: Actor,
    template: LetterTemplate,
    case: Case | None = None,
    body: str | None = None,
    title: str | None = None,
    as_pdf: bool = False,
) -> str | bytes:
    """The template rendered on a case (or sample values) — HTML, or a PDF that is not kept."""
    _can_handle(actor)
    body = template.body if body is None else body
    title = template.title if title is None else title
    if case is not None:
        _can_see(actor, case)
        context = case_context(
            case, template=template, issued=timezone.localdate(), number="（预览）", actor=actor, body=body
        )
    else:
        context = sample_context(body)
    html = _document(title, _render_body(body, context))
    return pdf.render_pdf(html, footer="预览 · 未生效") if as_pdf else html


# --- issuing and sending ------------------------------------------------------------------------


def _letter_number(now: dt.datetime) -> str:
    prefix = f"HJ{timezone.localtime(now):%Y%m}-"
    last = Letter.objects.filter(number__startswith=prefix).aggregate(n=Max("number"))["n"]
    n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{n:04d}"


def letter_issue(
    *, actor: Actor, case: Case, template: LetterTemplate | str | None = None, now: dt.datetime | None = None
) -> Letter:
    """Render the letter for the case's current step (or the given template) to PDF, keep it.
    A letter is never rendered again: editing the template afterwards changes nothing here."""
    _can_handle(actor)
    _can_see(actor, case)
    if not case.is_open:
        raise ApplicationError("案件已结束，不能再生成函件")
    step = active_step(case)
    if template is None:
        code = definition_of(case).step(case.current_step).letter if step else None
        if not code:
            raise ApplicationError(
                "当前步骤不需要函件；如需另发，请选择函件模板", field_errors={"template": "请选择模板"}
            )
        template = code
    if isinstance(template, str):
        template = LetterTemplate.objects.filter(code=template).first() or _no_template(template)
    now = now or timezone.now()
    issued = timezone.localdate(now)
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()
        for attempt in range(5):  # another case's letter may take the number first: render again
            number = _letter_number(now)
            context = case_context(case, template=template, issued=issued, number=number, actor=actor)
            title = _render_body(template.title, context) or template.title
            html = _document(title, _render_body(template.body, context))
            data = pdf.render_pdf(html, footer=f"{number} · {case.number}")
            try:
                with transaction.atomic():
                    letter = Letter.objects.create(
                        case=case,
                        template=template,
                        template_code=template.code,
                        template_version=template.version,
                        number=number,
                        title=title[:200],
                        html=html,
                        sha256=blobs.sha256_of(data),
                        size=len(data),
                        step=step,
                        respond_by=issued + dt.timedelta(days=template.response_days),
                        issued_by=actor.user,
                        issued_at=now,
                    )
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        sha = blobs.blob_put(data)
        event_add(
            case,
            CaseEvent.Kind.LETTER_ISSUED,
            actor=actor,
            letter=letter,
            step=step,
            at=now,
            text=f"{letter.number} {letter.title}",
            data={
                "sha256": sha,
                "size": len(data),
                "template": template.code,
                "template_version": template.version,
            },
        )
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        audit_record(
            actor=actor, action="letter.issue", obj=letter, changes={"case": case.number, "sha256": sha}
        )
    return letter


def _no_template(code: str):
    raise ApplicationError(f"函件模板“{code}”不存在", field_errors={"template": "不存在"})


def letter_pdf(letter: Letter) -> bytes:
    """The stored PDF, exactly as issued (its hash checked on reading)."""
    return blobs.blob_read(letter.sha256)


def letter_send(
    *, actor: Actor, letter: Letter, valid_days: int = 14, now: dt.datetime | None = None
) -> AckRequest:
    """Send the letter to the employee: a new signed link (older pending links for this letter
    stop working), the message through the employee's channels, a timeline entry — and the
    step bound to ``letter_sent`` moves on."""
    from shebao.cases.services.acks import ack_short_link, request_create
    from shebao.notify.services import employee_message_enqueue

    _can_handle(actor)
    case = letter.case
    _can_see(actor, case)
    if not case.is_open:
        raise ApplicationError("案件已结束，不能发送函件")
    if letter.status in (Letter.Status.ACKNOWLEDGED, Letter.Status.DISAGREED):
        raise ApplicationError("员工已答复该函件，无需再次发送")
    if letter.status == Letter.Status.WITHDRAWN:
        raise ApplicationError("函件已撤回")
    if not 1 <= valid_days <= 60:
        raise ApplicationError("链接有效期应为 1–60 天", field_errors={"valid_days": "1–60 天"})
    now = now or timezone.now()
    with transaction.atomic():
        request = request_create(letter=letter, now=now, valid_days=valid_days)
        url = ack_short_link(request)
        rows = employee_message_enqueue(
            event="case_letter",
            employee=case.employee,
            key=f"ack{request.pk}",
            context={
                "company": case.entity.name,
                "employee_name": case.employee.name,
                "letter_title": letter.title,
                "letter_number": letter.number,
                "respond_by": _fmt(letter.respond_by),
                "link": url,
                "link_code": request.short,  # for SMS templates that hold the address themselves
                "expires": timezone.localtime(request.expires_at).strftime("%Y-%m-%d %H:%M"),
            },
            ref={"case": case.pk, "letter": letter.number},
            now=now,
        )
        channels = sorted({r.channel.kind for r in rows})
        if not channels:
            raise ApplicationError(
                f"无法送达：{case.employee.name} 没有手机号或邮箱，或系统未配置个人短信/邮件通道。"
                "可下载函件线下交付，并在步骤中上传签收件。",
                field_errors={"channels": "没有可用的通道"},
            )
        request.channels = channels
        request.save(update_fields=["channels"])
        first = letter.sent_at is None
        letter.sent_at = letter.sent_at or now
        letter.status = Letter.Status.SENT
        letter.save(update_fields=["sent_at", "status"])
        event_add(
            case,
            CaseEvent.Kind.LETTER_SENT,
            actor=actor,
            letter=letter,
            at=now,
            text=f"{letter.number} 已通过{'、'.join(_channel_label(c) for c in channels)}发送给员工",
            data={
                "channels": channels,
                "expires_at": request.expires_at.isoformat(),
                "request": request.pk,
                "resend": not first,
            },
        )
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        rules_follow(case)
        audit_record(
            actor=actor,
            action="letter.send",
            obj=letter,
            changes={"channels": channels, "request": request.pk},
        )
    case_event_happened(case=case, event="letter_sent", actor=actor, now=now)
    return request


def _channel_label(kind: str) -> str:
    return {
        "sms_aliyun": "短信",
        "sms_tencent": "短信",
        "email": "邮件",
        "inapp": "站内信",
        "dingtalk_work": "钉钉工作通知",
        "wecom_app": "企业微信应用消息",
    }.get(kind, kind)


def letter_withdraw(*, actor: Actor, letter: Letter, reason: str) -> Letter:
    _can_handle(actor)
    _can_see(actor, letter.case)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("请填写撤回原因", field_errors={"reason": "必填"})
    if letter.status in (Letter.Status.ACKNOWLEDGED, Letter.Status.DISAGREED):
        raise ApplicationError("员工已答复的函件不能撤回")
    with transaction.atomic():
        letter.status = Letter.Status.WITHDRAWN
        letter.save(update_fields=["status"])
        AckRequest.objects.filter(letter=letter, status=AckRequest.Status.PENDING).update(
            status=AckRequest.Status.REVOKED
        )
        event_add(
            letter.case,
            CaseEvent.Kind.NOTE,
            actor=actor,
            letter=letter,
            text=f"撤回函件 {letter.number}：{reason[:500]}",
        )
        rules_follow(letter.case)
        audit_record(actor=actor, action="letter.withdraw", obj=letter, changes={"reason": reason[:300]})
    return letter
