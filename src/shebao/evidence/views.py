"""Pages of the evidence archive: the chain's status (last verification, head, signing key,
checkpoints, settings, the entries), one entry with its hashes recomputed, the evidence of a case
and of an employee (HTMX sections on their pages) and the bundle downloads. Thin: permissions and
reads from ``evidence.selectors``, writes through ``evidence.services`` and ``bundle_build``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.evidence import keys, selectors, services
from shebao.evidence.forms import EntryFilterForm, SettingsForm
from shebao.evidence.models import VerifyRun
from shebao.web.decorators import login_required
from shebao.web.helpers import render_htmx, require, submit_form

ACTIVE = "evidence"
CHAIN = "evidence:chain"
VIA_LABELS = {
    "web": gettext_lazy("在网页上手动校验"),
    "api": gettext_lazy("通过 API 校验"),
    "cli": gettext_lazy("命令行校验"),
    "worker": gettext_lazy("每日自动校验"),
}


def _partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


# --- the chain ----------------------------------------------------------------------------------


def _entry_filters(form: EntryFilterForm) -> selectors.EntryFilters:
    form.is_valid()  # an invalid value is dropped; the others apply
    data = form.cleaned_data
    if "seq_to" in form.errors:  # a range the wrong way round filters nothing
        data = {**data, "seq_from": None}
    return selectors.EntryFilters(
        kind=data.get("kind") or "", seq_from=data.get("seq_from"), seq_to=data.get("seq_to")
    )


def _chain(
    request: HttpRequest, *, status: int = 200, settings_form: SettingsForm | None = None
) -> HttpResponse:
    user = request.user
    form = EntryFilterForm(request.GET)
    filters = _entry_filters(form)
    entries = selectors.entry_list(user, filters).order_by("-seq")
    page = Paginator(entries, settings.SHEBAO_PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "active": ACTIVE,
        "filter_form": form,
        "filtered": bool(filters.kind or filters.seq_from or filters.seq_to),
        "page": page,
        "rows": selectors.entry_rows(page.object_list),
    }
    if _partial(request) and status == 200:
        response = render(request, "evidence/_entries.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    chain = selectors.chain_status()
    can_manage = selectors.can_manage_evidence(user)
    if can_manage and settings_form is None:
        settings_form = SettingsForm(
            initial={"channel": chain.settings.channel_id, "tsa_url": chain.settings.tsa_url}
        )
    context.update(
        {
            "chain": chain,
            "run": chain.last_run,
            "via_label": VIA_LABELS.get(chain.last_run.via, chain.last_run.via) if chain.last_run else "",
            "can_verify": selectors.can_verify_chain(user),
            "can_manage": can_manage,
            "settings_form": settings_form,
        }
    )
    response = render(request, "evidence/chain.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@login_required
def chain(request: HttpRequest) -> HttpResponse:
    require(selectors.can_view_evidence(request.user))
    return _chain(request)


@require_POST
@login_required
def chain_verify(request: HttpRequest) -> HttpResponse:
    require(selectors.can_verify_chain(request.user))
    # Fast enough to run in the request (a million entries in well under 30 s); the periodic
    # task runs the same check every night.
    run = services.chain_verify(via="web")
    if run.result == VerifyRun.Result.OK:
        messages.success(
            request,
            _("校验通过：%(n)s 条记录完整，用时 %(ms)s 毫秒") % {"n": run.entries, "ms": run.duration_ms},
        )
    else:
        messages.error(
            request,
            _("校验发现 %(count)s 处问题，首个问题在第 %(seq)s 条")
            % {"count": len(run.problems), "seq": run.first_bad_seq or "—"},
        )
    return redirect(CHAIN)


@require_POST
@login_required
def checkpoint_create(request: HttpRequest) -> HttpResponse:
    require(selectors.can_manage_evidence(request.user))
    try:
        cp = services.checkpoint_create(actor=Actor.from_request(request))
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(CHAIN)
    messages.success(
        request,
        _("已生成校验点：链头第 %(seq)s 条，哈希 %(hash)s…") % {"seq": cp.seq, "hash": cp.head_hash[:16]},
    )
    return redirect(CHAIN)


@require_POST
@login_required
def settings_update(request: HttpRequest) -> HttpResponse:
    require(selectors.can_manage_evidence(request.user))
    form = SettingsForm(request.POST)
    done = submit_form(
        form,
        lambda: services.settings_update(
            actor=Actor.from_request(request),
            channel=form.cleaned_data["channel"],
            tsa_url=form.cleaned_data["tsa_url"],
        ),
    )
    if done is None:
        return _chain(request, status=422, settings_form=form)
    messages.success(request, _("证据链设置已保存"))
    return redirect(reverse(CHAIN) + "#settings")


@require_GET
@login_required
def public_key(request: HttpRequest) -> HttpResponse:
    require(selectors.can_view_evidence(request.user))
    key = keys.signing_key(create=False)
    if key is None:
        raise Http404(_("签名密钥尚未生成"))
    response = HttpResponse(keys.public_pem(key), content_type="application/x-pem-file")
    response["Content-Disposition"] = content_disposition_header(True, "shebao-evidence-public-key.pem")
    return response


@require_GET
@login_required
def entry_detail(request: HttpRequest, seq: int) -> HttpResponse:
    require(selectors.can_view_evidence(request.user))
    entry = selectors.entry_get(request.user, seq)
    if entry is None:
        raise Http404(_("记录不存在或不在您的权限范围内"))
    visible = selectors.entries_visible(request.user)
    check = selectors.entry_check(entry)
    case = employee = None
    if entry.case_id:
        from shebao.cases.selectors import case_get

        case = case_get(request.user, entry.case_id)
    if entry.employee_id:
        from shebao.roster.selectors import employee_get

        employee = employee_get(user=request.user, pk=entry.employee_id)
    context = {
        "active": ACTIVE,
        "entry": entry,
        "row": selectors.entry_rows([entry])[0],
        "check": check,
        "payload": selectors.payload_pretty(entry),
        "case": case,
        "employee": employee,
        # Links only to neighbours the user may open (their hashes are shown either way).
        "prev_link": check.prev_entry and visible.filter(seq=check.prev_entry.seq).exists(),
        "next_link": check.next_entry and visible.filter(seq=check.next_entry.seq).exists(),
    }
    return render(request, "evidence/entry.html", context)


# --- a case's and an employee's evidence --------------------------------------------------------


def _refused(request: HttpRequest) -> HttpResponse:
    """The section on the case or employee page loads for everyone who sees that page; those who
    may not see evidence get nothing to swap in (a direct visit gets the 403)."""
    if _partial(request):
        return HttpResponse(status=204)
    raise PermissionDenied(_("只有HR和审计员可以查看证据"))


def _case_or_404(request: HttpRequest, pk: int):
    from shebao.cases.selectors import case_get

    case = case_get(request.user, pk)
    if case is None:
        raise Http404(_("案件不存在或不在您的权限范围内"))
    return case


def _employee_or_404(request: HttpRequest, pk: int):
    from shebao.roster.selectors import employee_get

    employee = employee_get(user=request.user, pk=pk)
    if employee is None:
        raise Http404(_("员工不存在或不在您的权限范围内"))
    return employee


@require_GET
@login_required
def case_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    if not selectors.can_view_evidence(request.user):
        return _refused(request)
    case = _case_or_404(request, pk)
    context = {
        "active": "cases",
        "case": case,
        "employee": case.employee,
        "rows": selectors.entry_rows(selectors.case_entries(case)),
        "stream": selectors.stream_check(case.employee_id),
        "bundle_url": reverse("evidence:case_bundle", args=[case.pk]),
    }
    return render_htmx(request, "evidence/_case.html", "evidence/case.html", context)


@require_GET
@login_required
def employee_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    if not selectors.can_view_evidence(request.user):
        return _refused(request)
    employee = _employee_or_404(request, pk)
    context = {
        "active": "roster",
        "employee": employee,
        "rows": selectors.entry_rows(selectors.employee_entries(employee)),
        "stream": selectors.stream_check(employee.pk),
        "bundle_url": reverse("evidence:employee_bundle", args=[employee.pk]),
    }
    return render_htmx(request, "evidence/_employee.html", "evidence/employee.html", context)


def _bundle_response(request: HttpRequest, build, back: str) -> HttpResponse:
    try:
        bundle = build(actor=Actor.from_request(request))
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    return bundle.http_response()


@require_GET
@login_required
def case_bundle(request: HttpRequest, pk: int) -> HttpResponse:
    """The case's evidence bundle (ZIP); ``bundle_build`` records the export."""
    require(selectors.can_view_evidence(request.user))
    case = _case_or_404(request, pk)
    from shebao.evidence.bundle import bundle_build

    return _bundle_response(
        request,
        lambda actor: bundle_build(actor=actor, case=case),
        reverse("cases:detail", args=[case.pk]) + "#evidence",
    )


@require_GET
@login_required
def employee_bundle(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything on record about the employee, every case included (ZIP)."""
    require(selectors.can_view_evidence(request.user))
    employee = _employee_or_404(request, pk)
    from shebao.evidence.bundle import bundle_build

    return _bundle_response(
        request,
        lambda actor: bundle_build(actor=actor, employee=employee),
        reverse("roster:detail", args=[employee.pk]) + "#evidence",
    )
