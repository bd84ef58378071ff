"""Messages from templates: HR-edited ones (``MessageTemplate``) or the shipped defaults.

Templates written by HR are rendered by a sandboxed engine: the default tags and filters only,
no template loaders (``include``/``extends`` find nothing), no libraries to ``load``, and a
context of plain strings, numbers, lists and dicts — never model instances, so a template can
reach no method or relation. (Oscar renders such strings with the full engine; we do not.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone, translation

from shebao.core.exceptions import ApplicationError

DEFAULTS = Path(__file__).resolve().parent / "messages"
EVENTS_FIXED = (
    "finding",
    "employee",
    "digest",
    "test",
    "channel_failing",
    "case_letter",
    "otp",
    "evidence_checkpoint",
    "evidence_broken",
)
# Messages to an employee about their case, worded from the context their sender gives
# (``services.employee_message_enqueue``), not from a finding.
EMPLOYEE_EVENTS = ("case_letter", "otp")
# Messages to staff about the system itself (``services.staff_message_enqueue``), with their
# severity: the evidence chain's daily checkpoint, and verification finding it broken.
STAFF_EVENTS = {"evidence_checkpoint": "info", "evidence_broken": "critical"}
MAX_TEMPLATE = 20_000
SMS_PARAM_MAX = 35  # Aliyun's cap on a notification template's variable (Tencent's is lower)

_ENGINES: dict[bool, Engine] = {}


def _engine(autoescape: bool) -> Engine:
    if autoescape not in _ENGINES:
        _ENGINES[autoescape] = Engine(
            dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=autoescape
        )
    return _ENGINES[autoescape]


def render_string(source: str, context: dict[str, Any], *, autoescape: bool = False) -> str:
    if len(source) > MAX_TEMPLATE:
        raise ApplicationError(f"模板过长（最多 {MAX_TEMPLATE} 字）", field_errors={"body": "模板过长"})
    try:
        template = _engine(autoescape).from_string(source)
        return template.render(Context(context, autoescape=autoescape)).strip()
    except TemplateSyntaxError as exc:
        raise ApplicationError(f"模板语法错误：{exc}", field_errors={"body": str(exc)}) from None
    except Exception as exc:  # a tag that needs a loader (include) or anything else the sandbox refuses
        raise ApplicationError(f"模板无法渲染：{exc}", field_errors={"body": str(exc)}) from None


@dataclass
class Parts:
    subject: str = ""
    body: str = ""
    html: str = ""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str = ""
    markdown: str = ""
    sms_params: list[tuple[str, str]] = field(default_factory=list)


def _default(event: str, fmt: str, language: str) -> Parts | None:
    lang = "en" if language.startswith("en") else "zh-hans"
    folder = DEFAULTS / lang / event
    if not (folder / f"{fmt}.body.txt").exists():
        return None
    read = lambda name: (folder / name).read_text("utf-8") if (folder / name).exists() else ""  # noqa: E731
    return Parts(read(f"{fmt}.subject.txt"), read(f"{fmt}.body.txt"), read(f"{fmt}.html.txt"))


def template_parts(event: str, fmt: str, language: str, *, fallback: str | None = None) -> tuple[Parts, str]:
    """The template for an event (a rule kind falls back to ``fallback``, e.g. "finding"):
    HR's own first, then the shipped default. Returns the parts and where they came from."""
    from shebao.notify.models import MessageTemplate

    events = [event] + ([fallback] if fallback and fallback != event else [])
    for ev in events:
        row = MessageTemplate.objects.filter(event=ev, format=fmt, language=language).first()
        if row is not None:
            return Parts(row.subject, row.body, row.html), f"custom:{ev}"
    for ev in events:
        parts = _default(ev, fmt, language)
        if parts is not None:
            return parts, f"default:{ev}"
    parts = _default("finding", fmt, language) or Parts("", "{{ title }}")
    return parts, "default:finding"


def default_parts(event: str, fmt: str, language: str) -> Parts:
    return _default(event, fmt, language) or _default("finding", fmt, language) or Parts("", "{{ title }}")


def sms_params(body: str, names: list[str], context: dict[str, Any]) -> list[tuple[str, str]]:
    """An SMS template is lines ``name: {{ expression }}``; the channel lists the parameter names
    its approved provider template takes, in order. Missing names are an error, not a blank."""
    exprs: dict[str, str] = {}
    for line in body.splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, expr = line.split(":", 1)
            exprs[name.strip()] = expr.strip()
    missing = [n for n in names if n not in exprs]
    if missing:
        raise ApplicationError(
            f"短信模板缺少参数：{'、'.join(missing)}（模板每行写“参数名: 取值”）",
            field_errors={"body": "缺少参数"},
        )
    return [(n, _sms_value(render_string(exprs[n], context))) for n in names]


def _sms_value(value: str) -> str:
    """Providers cap a parameter's length (Aliyun 35 characters): a too-long value is cut, not
    refused — except a link, which cut would open the wrong page (or none). A link longer than
    the approved template allows is refused by the provider, and the delivery log says so."""
    if value.startswith(("https://", "http://")):
        return value
    return value[:SMS_PARAM_MAX]


def render_message(
    *, event: str, fmt: str, language: str, context: dict[str, Any], fallback: str | None = None,
    sms_names: list[str] | None = None, parts: Parts | None = None,
) -> Rendered:  # fmt: skip
    """Render one message for a channel format (email, markdown, text, sms)."""
    if parts is None:
        parts, _src = template_parts(event, fmt, language, fallback=fallback)
    with translation.override(language):
        subject = render_string(parts.subject, context) if parts.subject else ""
        if fmt == "sms":
            params = sms_params(parts.body, sms_names or [], context)
            return Rendered(subject, "；".join(v for _, v in params), sms_params=params)
        body = render_string(parts.body, context)
        html = render_string(parts.html, context, autoescape=True) if fmt == "email" and parts.html else ""
    if fmt == "markdown":
        return Rendered(subject, body, markdown=body)
    return Rendered(subject, body, html=html)


# --- contexts ------------------------------------------------------------------------------------


def link(path: str) -> str:
    return f"{settings.SHEBAO_BASE_URL}{path}"


def _fmt_date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def finding_context(finding, *, language: str, today: dt.date | None = None) -> dict[str, Any]:
    """Plain values describing a finding, worded in ``language`` (no model instances)."""
    from django.urls import reverse

    from shebao.rules.kinds import KINDS
    from shebao.rules.models import Finding, Severity
    from shebao.rules.selectors import days_left, display_explanation, display_next_step, display_title

    today = today or timezone.localdate()
    with translation.override(language):
        kind = KINDS.get(finding.kind)
        employee = finding.employee
        return {
            "id": finding.pk,
            "title": display_title(finding, today),
            "explanation": display_explanation(finding, today),
            "next_step": display_next_step(finding, today),
            "severity": finding.severity,
            "severity_label": str(dict(Severity.choices).get(finding.severity, finding.severity)),
            "status": finding.status,
            "status_label": str(dict(Finding.Status.choices).get(finding.status, finding.status)),
            "kind": finding.kind,
            "kind_label": str(kind.label) if kind else finding.kind,
            "rule_name": finding.rule.name,
            "deadline": _fmt_date(finding.deadline),
            "days_left": days_left(finding, today),
            "amount": f"{finding.amount:.2f}" if finding.amount is not None else "",
            "entity": finding.entity.name if finding.entity_id else "",
            "department": finding.department.name if finding.department_id else "",
            "employee_name": employee.name
            if employee
            else (finding.person.name if finding.person_id else ""),
            "employee_no": employee.employee_no if employee else "",
            "citations": list(finding.citations or []),
            "resolved_reason": finding.resolved_reason,
            "link": link(reverse("rules:finding", args=[finding.pk])),
        }


def sample_context(language: str = "zh-hans") -> dict[str, Any]:
    """A made-up finding for previews when no real one exists."""
    return {
        "id": 0,
        "title": "张三 医保已中断 45 天（超过 30 天）",
        "explanation": "最后缴费月份为 2026-09，此后无任何单位缴纳职工医保。",
        "next_step": "联系员工确认原单位停保情况，并在 2026-12-31 前办理补缴。",
        "severity": "critical",
        "severity_label": "严重",
        "status": "open",
        "status_label": "待处理",
        "kind": "medical_interrupted",
        "kind_label": "医保中断",
        "rule_name": "医保中断超过30天",
        "deadline": "2026-12-31",
        "days_left": 34,
        "amount": "1234.56",
        "entity": "示例科技有限公司",
        "department": "门店运营部",
        "employee_name": "张三",
        "employee_no": "E0001",
        "citations": ["SIL-58"],
        "resolved_reason": "",
        "link": link("/rules/findings/"),
    }


def sample_employee_context(event: str, language: str = "zh-hans") -> dict[str, Any]:
    """Made-up values for previewing the templates of messages to an employee."""
    english = language.startswith("en")
    common = {
        "employee_name": "Zhang San" if english else "张三",
        "company": "Example Technology Co., Ltd." if english else "示例科技有限公司",
    }
    if event == "otp":
        return common | {"code": "246810", "minutes": 10}
    return common | {
        "letter_title": "Notice of interrupted medical insurance" if english else "医保中断告知函",
        "letter_number": "HJ202611-0001",
        "respond_by": "2026-12-08",
        "expires": "2026-12-15 18:00",
        "link": link("/a/s/Xy3kQ9mPb2Lw/"),
        "link_code": "Xy3kQ9mPb2Lw",
    }


def sample_staff_context(event: str, language: str = "zh-hans") -> dict[str, Any]:
    """Made-up values for previewing the templates of messages to staff about the evidence chain."""
    english = language.startswith("en")
    if event == "evidence_broken":
        message = "Entry 1203: content changed" if english else "第 1203 条：内容被改动（载荷哈希不符）"
        return {
            "checked_at": "2026-11-28 03:30",
            "entries": 15230,
            "checkpoints": 42,
            "problem_count": 1,
            "first_bad_seq": 1203,
            "problems": [{"code": "payload", "message": message, "seq": 1203}],
            "more": 0,
        }
    return {
        "date": "2026-11-28",
        "created_at": "2026-11-28 00:05:00",
        "head_seq": 15230,
        "head_hash": "9f2c4e7a1b3d5f60" * 4,
        "key_fingerprint": "3b7e:0c1d:9a2f:4e6b:8c0d:2e4f:6a8b:0c1d",
        "tsa_time": "2026-11-28 00:05:01",
        "tsa_url": "https://tsa.example.com/tsr",
        "tsa_error": "",
    }
