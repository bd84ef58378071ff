"""Pages of the contribution ledger. Thin: permissions from accounts.permissions, reads from the
ledger selectors, writes through the ledger services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shebao.accounts.permissions import can_edit_roster, can_view_roster
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.ledger import selectors, services
from shebao.ledger.forms import DiscrepancyFilterForm, ReconcileForm, UploadForm
from shebao.ledger.models import ChangeEvent, Discrepancy, SyncRun
from shebao.roster.selectors import employee_get
from shebao.web.decorators import login_required
from shebao.web.helpers import render_htmx, require, submit_form

ACTIVE = "ledger"


def _run_or_404(request: HttpRequest, pk: int) -> SyncRun:
    require(can_view_roster(request.user))
    run = selectors.sync_run_get(user=request.user, run_id=pk)
    if run is None:
        raise Http404
    return run


def _count_list(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    return [(k.value, k.label, counts[k.value]) for k in Discrepancy.Kind if counts.get(k.value)]


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    month = None
    if request.GET.get("month"):
        try:
            month = YearMonth.parse(request.GET["month"])
        except YearMonthError as exc:
            messages.error(request, exc.message)
    data = selectors.entity_overview(user=request.user, month=month)
    return render(
        request,
        "ledger/overview.html",
        {
            "active": ACTIVE,
            "month": data["month"],
            "prev_month": data["month"] - 1,
            "next_month": data["month"] + 1,
            "entities": data["entities"],
            "counts": _count_list(selectors.discrepancy_counts(user=request.user)),
            "runs": selectors.sync_run_list(user=request.user, limit=8),
            "can_edit": can_edit_roster(request.user),
        },
    )


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    require(can_edit_roster(request.user))
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST":

        def call():
            f = form.cleaned_data["file"]
            return services.ledger_upload_create(
                actor=Actor.from_request(request),
                entity=form.cleaned_data["entity"],
                data=f.read(),
                filename=f.name,
                options=services.IngestOptions(
                    profile=form.cleaned_data["profile"],
                    period=form.cleaned_data["period"].strip(),
                    item=form.cleaned_data["item"].strip(),
                ),
            )

        run = submit_form(form, call)
        if run is not None:
            return redirect("ledger:run", pk=run.pk)
    return render(request, "ledger/upload.html", {"active": ACTIVE, "form": form})


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    entity = selectors.entity_for(request.user, request.GET["entity"]) if request.GET.get("entity") else None
    runs = selectors.sync_run_list(user=request.user, entity=entity, limit=500)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "ledger/run_list.html",
        {"active": ACTIVE, "page": page, "entity": entity, "entities": selectors.entities_for(request.user)},
    )


def _run_context(request: HttpRequest, run: SyncRun) -> dict:
    event_counts = {
        ChangeEvent.Kind(k).label: n
        for k, n in ChangeEvent.objects.filter(run=run).order_by().values_list("kind").annotate(n=Count("id"))
    }
    return {
        "active": ACTIVE,
        "run": run,
        "d": selectors.sync_run_data(run),
        "error_rows": selectors.sync_run_rows(run=run, problems_only=True, limit=50),
        "sample_rows": selectors.sync_run_rows(run=run, limit=8)
        if run.status != SyncRun.Status.PREVIEWED
        else [],
        "event_counts": event_counts,
        "can_edit": can_edit_roster(request.user),
        "running": run.status == SyncRun.Status.RUNNING,
    }


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    return render(request, "ledger/run_detail.html", _run_context(request, run))


@login_required
def run_status(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    return render_htmx(
        request, "ledger/_run_panel.html", "ledger/run_detail.html", _run_context(request, run)
    )


@require_POST
@login_required
def run_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    require(can_edit_roster(request.user))
    try:
        services.ledger_upload_confirm(actor=Actor.from_request(request), run=run)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("ledger:run", pk=run.pk)


@require_POST
@login_required
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    require(can_edit_roster(request.user))
    try:
        services.ledger_run_cancel(actor=Actor.from_request(request), run=run)
        messages.success(request, _("已取消，上传的文件已删除"))
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("ledger:run", pk=run.pk)


@login_required
def discrepancy_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    form = DiscrepancyFilterForm(request.GET or None, user=request.user)
    values: dict = {}
    if form.is_bound:
        form.is_valid()
        values = form.cleaned_data
    status = values.get("status") or "open"
    qs = selectors.discrepancy_list(
        user=request.user,
        entity=values.get("entity"),
        kinds=[values["kind"]] if values.get("kind") else None,
        status=None if status == "all" else status,
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_htmx(
        request,
        "ledger/_discrepancies.html",
        "ledger/discrepancies.html",
        {
            "active": ACTIVE,
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "counts": _count_list(
                selectors.discrepancy_counts(user=request.user, entity=values.get("entity"))
            ),
            "reconcile_form": ReconcileForm(user=request.user, initial={"entity": values.get("entity")}),
            "can_edit": can_edit_roster(request.user),
        },
    )


@require_POST
@login_required
def reconcile(request: HttpRequest) -> HttpResponse:
    require(can_edit_roster(request.user))
    form = ReconcileForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, _("参保主体无效"))
        return redirect("ledger:discrepancies")
    entity = form.cleaned_data.get("entity")
    try:
        result = services.ledger_reconcile(actor=Actor.from_request(request), entity=entity)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("ledger:discrepancies")
    summary = getattr(result, "summary", None)
    messages.success(request, summary() if callable(summary) else _("核对完成"))
    suffix = f"?entity={entity.pk}" if entity else ""
    return redirect(reverse("ledger:discrepancies") + suffix)


@login_required
def unknown_people(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    entity = selectors.entity_for(request.user, request.GET["entity"]) if request.GET.get("entity") else None
    rows = selectors.unknown_people(user=request.user, entity=entity)
    return render(
        request,
        "ledger/unknown_people.html",
        {"active": ACTIVE, "rows": rows, "entity": entity, "entities": selectors.entities_for(request.user)},
    )


@login_required
def coverage(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    employee = employee_get(user=request.user, pk=pk)
    if employee is None:
        raise Http404
    try:
        months = max(12, min(int(request.GET.get("months", 36)), 120))
    except ValueError:
        months = 36
    timeline = selectors.employee_timeline(employee=employee, months=months)
    return render_htmx(
        request,
        "ledger/_timeline.html",
        "ledger/coverage.html",
        {"active": "roster", "employee": employee, "t": timeline, "months": months},
    )
