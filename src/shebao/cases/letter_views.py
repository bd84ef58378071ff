"""Pages for notice letters: issue a letter from a case, a letter's page (the document exactly as
issued, the links sent to the employee, the employee's answers), the stored PDF, send and
withdraw; the letter templates with their editor and a live preview (HTML, or a PDF that is not
kept). Thin: permissions from accounts.permissions (staff see the letters of the cases in their
scope; HR issues and sends them; HR admins edit the templates), reads from the cases selectors,
every write through the cases services."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from shebao.accounts.permissions import can_admin, can_edit_roster, can_view_roster
from shebao.cases import pdf, selectors, services
from shebao.cases.models import AckRequest, Case, Letter, LetterTemplate
from shebao.cases.services.letters import MAX_BODY, shipped_letters
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.web.decorators import login_required
from shebao.web.helpers import ServiceErrorsMixin, back_url, require, submit_form

ACTIVE = "cases"
CHANNEL_LABELS = {"sms_aliyun": "短信", "sms_tencent": "短信", "email": "邮件", "inapp": "站内信"}
SCREEN_CSS = "body { max-width: 170mm; margin: 18px auto; padding: 0 18px; background: #fff; }"


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """Back to a page after a POST (an HTMX form gets a full-page redirect)."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _case_or_404(request: HttpRequest, pk: int) -> Case:
    require(can_view_roster(request.user))
    case = selectors.case_get(request.user, pk)
    if case is None:  # out of scope looks the same as missing
        raise Http404
    return case


def _letter_or_404(request: HttpRequest, pk: int) -> Letter:
    """A letter of a case the user may see (the same scope as the case's page)."""
    require(can_view_roster(request.user))
    letter = (
        Letter.objects.select_related("case", "case__employee", "case__entity", "issued_by", "template")
        .filter(pk=pk, case__in=selectors.cases_visible(request.user))
        .first()
    )
    if letter is None:
        raise Http404
    return letter


def screen_document(html: str) -> str:
    """A letter's HTML as the PDF shows it, for an inline (sandboxed) frame: the print stylesheet
    with the CJK font, on a page-wide sheet."""
    family = pdf.cjk_font()
    fonts = ", ".join(
        f'"{f}"' for f in ([family] if family else []) + ["Noto Serif CJK SC", "Noto Sans CJK SC"]
    )
    css = pdf.PRINT_CSS % {"font": f"{fonts}, serif", "footer": ""} + SCREEN_CSS
    style = f"<style>{css}</style>"
    if "</head>" in html:
        return html.replace("</head>", style + "</head>", 1)
    return f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{style}</head><body>{html}</body></html>'


def _service_call(request: HttpRequest, call) -> Any:
    """Run a service; a refusal becomes a message on the page we go back to (None returned)."""
    try:
        return call()
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return None


# --- letters ------------------------------------------------------------------------------------


@require_POST
@login_required
def letter_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue the letter of the case's current step (or the template posted as ``template``)."""
    require(can_edit_roster(request.user))
    case = _case_or_404(request, pk)
    back = back_url(request, reverse("cases:detail", args=[case.pk]))
    code = (request.POST.get("template") or "").strip() or None
    letter = _service_call(
        request, lambda: services.letter_issue(actor=Actor.from_request(request), case=case, template=code)
    )
    if letter is not None:
        messages.success(
            request,
            _(
                "已生成函件 %(number)s《%(title)s》，内容已固定为 PDF（SHA-256 %(sha)s…）。请核对后发送给员工。"
            )
            % {"number": letter.number, "title": letter.title, "sha": letter.sha256[:12]},
        )
    return _go(request, back)


def _requests(letter: Letter) -> list[AckRequest]:
    from shebao.cases.selectors import letter_deliveries

    now = timezone.now()
    rows = list(letter.requests.order_by("-created_at", "-id"))
    deliveries = letter_deliveries(letter)
    for r in rows:
        r.deliveries = deliveries.get(r.pk, [])
        r.channel_labels = "、".join(dict.fromkeys(CHANNEL_LABELS.get(c, c) for c in r.channels or [])) or "—"
        r.expired = r.status == AckRequest.Status.PENDING and r.expires_at <= now
        r.method_label = {"sms_otp": _("短信验证码"), "id_last4": _("身份证号后4位")}.get(
            r.verified_method, ""
        )
    return rows


@login_required
def letter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter_or_404(request, pk)
    case = letter.case
    acks = list(letter.acknowledgements.prefetch_related("attachments").order_by("-at", "-id"))
    for a in acks:
        a.sha_matches = a.document_sha256 == letter.sha256
    can_handle = can_edit_roster(request.user) and case.is_open
    answered = letter.status in (Letter.Status.ACKNOWLEDGED, Letter.Status.DISAGREED)
    template = letter.template
    return render(
        request,
        "cases/letters/detail.html",
        {
            "active": ACTIVE,
            "letter": letter,
            "case": case,
            "employee": case.employee,
            "template": template,
            "template_changed": template is not None and template.version != letter.template_version,
            "document": screen_document(letter.html),
            "requests": _requests(letter),
            "acks": acks,
            "can_send": can_handle and not answered and letter.status != Letter.Status.WITHDRAWN,
            "can_withdraw": can_handle and not answered and letter.status != Letter.Status.WITHDRAWN,
            "can_see_log": can_admin(request.user),
        },
    )


@login_required
def letter_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The PDF exactly as issued (its SHA-256 checked on reading; never rendered again)."""
    letter = _letter_or_404(request, pk)
    try:
        data = services.letter_pdf(letter)
    except exceptions.ApplicationError as exc:  # missing, or altered on disk
        messages.error(request, exc.message)
        return redirect("cases:letter", letter.pk)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(letter.number)}.pdf"
    response["Content-Length"] = str(len(data))
    response["ETag"] = f'"{letter.sha256}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class SendForm(ServiceErrorsMixin, forms.Form):
    valid_days = forms.IntegerField(
        label=gettext_lazy("链接有效期（天）"),
        min_value=1,
        max_value=60,
        initial=14,
        required=False,
        error_messages={
            "invalid": gettext_lazy("链接有效期应为 1–60 的整数"),
            "min_value": gettext_lazy("链接有效期应为 1–60 天"),
            "max_value": gettext_lazy("链接有效期应为 1–60 天"),
        },
    )


@require_POST
@login_required
def letter_send(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_edit_roster(request.user))
    letter = _letter_or_404(request, pk)
    back = back_url(request, reverse("cases:letter", args=[letter.pk]))
    form = SendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "；".join(e for errors in form.errors.values() for e in errors))
        return _go(request, back)
    days = form.cleaned_data["valid_days"] or 14
    sent = _service_call(
        request,
        lambda: services.letter_send(actor=Actor.from_request(request), letter=letter, valid_days=days),
    )
    if sent is not None:
        channels = "、".join(dict.fromkeys(CHANNEL_LABELS.get(c, c) for c in sent.channels or []))
        messages.success(
            request,
            _("已通过%(channels)s把 %(number)s 发送给%(name)s，确认链接有效期至 %(expires)s")
            % {
                "channels": channels,
                "number": letter.number,
                "name": letter.case.employee.name,
                "expires": timezone.localtime(sent.expires_at).strftime("%Y-%m-%d %H:%M"),
            },
        )
    return _go(request, back)


@require_POST
@login_required
def letter_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_edit_roster(request.user))
    letter = _letter_or_404(request, pk)
    back = back_url(request, reverse("cases:letter", args=[letter.pk]))
    done = _service_call(
        request,
        lambda: services.letter_withdraw(
            actor=Actor.from_request(request), letter=letter, reason=request.POST.get("reason", "")
        ),
    )
    if done is not None:
        messages.success(
            request, _("已撤回函件 %(number)s，员工收到的链接已失效") % {"number": letter.number}
        )
    return _go(request, back)


# --- letter templates ---------------------------------------------------------------------------


def _template_or_404(pk: int) -> LetterTemplate:
    template = LetterTemplate.objects.select_related("updated_by").filter(pk=pk).first()
    if template is None:
        raise Http404
    return template


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    templates = list(LetterTemplate.objects.select_related("updated_by").order_by("id"))
    issued = dict(
        Letter.objects.values_list("template_code").annotate(n=Count("id")).values_list("template_code", "n")
    )
    for t in templates:
        t.issued_count = issued.get(t.code, 0)
    return render(
        request,
        "cases/letters/template_list.html",
        {"active": ACTIVE, "tab": "letters", "templates": templates, "can_manage": can_admin(request.user)},
    )


class TemplateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    title = forms.CharField(
        label=gettext_lazy("标题"),
        max_length=200,
        help_text=gettext_lazy("函件的标题（列表和短信中显示）；正文的大标题在正文中写"),
    )
    response_days = forms.IntegerField(
        label=gettext_lazy("答复期限（天）"),
        min_value=1,
        max_value=90,
        help_text=gettext_lazy("生成函件之日起多少天内答复：正文中的 {{ letter.respond_by }}"),
        error_messages={
            "min_value": gettext_lazy("答复期限应为 1–90 天"),
            "max_value": gettext_lazy("答复期限应为 1–90 天"),
        },
    )
    body = forms.CharField(
        label=gettext_lazy("正文模板"),
        max_length=MAX_BODY,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "class": "mono body-editor"}),
    )

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if read_only:
            for field in self.fields.values():
                field.disabled = True


def _preview_cases(user, template: LetterTemplate) -> tuple[list[Case], int | None]:
    """Open cases to preview on (HR's own scope), and the first whose workflow sends this letter."""
    cases = list(
        selectors.cases_list(user, selectors.CaseFilters(status="open")).select_related("version")[:200]
    )
    suggested = None
    for c in cases:
        steps = (c.version.definition or {}).get("steps") or []
        if any(s.get("letter") == template.code for s in steps):
            suggested = c.pk
            break
    return cases, suggested


def _template_page(request, template: LetterTemplate, form: TemplateForm, status: int = 200) -> HttpResponse:
    can_manage = can_admin(request.user)
    can_preview = can_edit_roster(request.user)
    cases, suggested = _preview_cases(request.user, template) if can_preview else ([], None)
    shipped = {i["code"] for i in shipped_letters()}
    return render(
        request,
        "cases/letters/template_edit.html",
        {
            "active": ACTIVE,
            "tab": "letters",
            "template": template,
            "form": form,
            "can_manage": can_manage,
            "can_preview": can_preview,
            "can_reset": can_manage and template.code in shipped,
            "preview_cases": cases,
            "suggested_case": suggested,
            "issued_count": Letter.objects.filter(template_code=template.code).count(),
            "context_keys": CONTEXT_KEYS,
        },
        status=status,
    )


@login_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    template = _template_or_404(pk)
    initial = {
        "name": template.name,
        "title": template.title,
        "response_days": template.response_days,
        "body": template.body,
    }
    if request.method != "POST":
        return _template_page(
            request, template, TemplateForm(initial=initial, read_only=not can_admin(request.user))
        )
    require(can_admin(request.user))
    actor = Actor.from_request(request)
    if request.POST.get("action") == "reset":
        saved = _service_call(request, lambda: services.letter_template_reset(actor=actor, template=template))
        if saved is not None:
            if saved.version != template.version:
                messages.success(request, _("已恢复内置的措辞（版本 %(v)d）") % {"v": saved.version})
            else:
                messages.info(request, _("模板与内置的措辞相同，未作改动"))
        return redirect("cases:letter_template", template.pk)
    form = TemplateForm(request.POST, initial=initial)
    saved = submit_form(
        form,
        lambda: services.letter_template_update(
            actor=actor,
            template=template,
            title=form.cleaned_data["title"],
            body=form.cleaned_data["body"],
            name=form.cleaned_data["name"],
            response_days=form.cleaned_data["response_days"],
        ),
    )
    if saved is None:
        return _template_page(request, template, form, status=422)
    if saved.version != template.version:
        messages.success(
            request,
            _("已保存“%(name)s”（版本 %(v)d）。已生成的函件保持原样，新生成的函件使用新措辞。")
            % {"name": saved.name, "v": saved.version},
        )
    else:
        messages.info(request, _("没有改动"))
    return redirect("cases:letter_template", template.pk)


@login_required
def template_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The posted wording (or the saved one) rendered on a case or on sample values: an HTML
    partial for the editor, or with ``?format=pdf`` a PDF that is not stored."""
    require(can_edit_roster(request.user))
    template = _template_or_404(pk)
    data = request.POST if request.method == "POST" else request.GET
    as_pdf = request.GET.get("format") == "pdf"
    body = data.get("body")
    title = data.get("title")
    case = None
    case_id = (data.get("case") or "").strip()
    error = ""
    if case_id:
        case = (
            selectors.case_get(request.user, int(case_id))
            if case_id.isdigit() and len(case_id) < 12
            else None
        )
        if case is None:
            error = _("所选案件不存在或无权查看")
    out: str | bytes | None = None
    if not error:
        try:
            out = services.letter_preview(
                actor=Actor.from_request(request),
                template=template,
                case=case,
                body=body,
                title=title,
                as_pdf=as_pdf,
            )
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(exc.message) from exc
        except exceptions.ApplicationError as exc:
            error = exc.message
    if as_pdf and isinstance(out, bytes):
        response = HttpResponse(out, content_type="application/pdf")
        response["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(f'预览-{template.code}.pdf')}"
        response["Cache-Control"] = "no-store"
        return response
    return render(
        request,
        "cases/letters/_preview.html",
        {
            "template": template,
            "error": error,
            "document": screen_document(out) if isinstance(out, str) else "",
            "case": case,
            "as_pdf": as_pdf,
        },
        # HTMX swaps only 2xx answers: the editor shows the error in place
        status=422 if error and not getattr(request, "htmx", False) else 200,
    )


# The values a letter template can use (services.letters.case_context), for the editor's help box.
CONTEXT_KEYS: list[tuple[str, str]] = [
    ("company.name / company.uscc / company.city", gettext_lazy("参保主体名称、统一社会信用代码、参保城市")),
    (
        "employee.name / employee_no / department / id_masked / hire_date / leave_date",
        gettext_lazy("员工姓名、工号、部门、证件号码（遮盖）、入职和离职日期"),
    ),
    ("letter.number / date / respond_by / response_days", gettext_lazy("函号、日期、答复期限")),
    (
        "case.number / title / workflow / step / step_due",
        gettext_lazy("案件编号、标题、流程、当前步骤及期限"),
    ),
    (
        "case.done.<步骤代码>.note / completed",
        gettext_lazy("已完成步骤记录的说明和日期（如 case.done.stop.note）"),
    ),
    (
        "finding.title / kind / deadline / amount / insurances / details / citations",
        gettext_lazy("预警的标题、类型、期限、金额、涉及险种、证据和依据条文编号"),
    ),
    (
        "gap.insurance_label / last_month / last_unit / from / months / amount",
        gettext_lazy("中断险种、最后缴费月份和单位、中断起始月份、未缴月份、补缴估算金额"),
    ),
    (
        "backpay.months / employer_total / employee_total / late_fees / sources",
        gettext_lazy("补缴计算结果：逐月明细、单位和个人合计、滞纳金、数据来源"),
    ),
    ("payment.amount / payment.date", gettext_lazy("已记录的实际缴纳金额和日期")),
    ("hr.name / hr.email", gettext_lazy("经办人")),
    (
        "law.SIL_58.title / law.SIL_58.text",
        gettext_lazy("法规库条文原文（编号中的“-”写作“_”，如 SIL-58 → law.SIL_58）"),
    ),
]
