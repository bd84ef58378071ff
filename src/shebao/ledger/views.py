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
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from shebao.accounts.permissions import can_admin, can_edit_roster, can_view_roster
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.ledger import selectors, services
from shebao.ledger.connectors import manage
from shebao.ledger.forms import (
    ConnectorForm,
    DiscrepancyFilterForm,
    MappingForm,
    ReconcileForm,
    RetryForm,
    UploadForm,
)
from shebao.ledger.models import ChangeEvent, Connector, Discrepancy, SyncRun
from shebao.policy.terms import INSURANCE_LABELS, Insurance
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
    page = Paginator(selectors.sync_runs(user=request.user, entity=entity), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "ledger/run_list.html",
        {"active": ACTIVE, "page": page, "entity": entity, "entities": selectors.entities_for(request.user)},
    )


CONTEXT_LABELS = {
    "period": _lazy("费款所属期（文件中）"),
    "period_end": _lazy("费款所属期止"),
    "posting_period": _lazy("建账/账单年月"),
    "unit_no": _lazy("单位编号（文件中）"),
    "unit_name": _lazy("单位名称（文件中）"),
    "item": _lazy("征收品目"),
    "insurance": _lazy("险种"),
    "side": _lazy("单位/个人"),
    "sheet": _lazy("工作表"),
    "header_row": _lazy("表头行"),
    "tax_office": _lazy("税务机关"),
    "si_office": _lazy("社保经办机构"),
}
SIDE_LABELS = {"employer": _lazy("单位缴纳"), "employee": _lazy("个人缴纳")}


def _context_value(key: str, value) -> str:
    if key == "insurance":
        try:
            return INSURANCE_LABELS[Insurance(value)]
        except ValueError:
            return str(value)
    if key == "side":
        return str(SIDE_LABELS.get(value, value))
    return str(value)


def _profile_title(code: str) -> str:
    if not code:
        return ""
    from shebao.ledger import parsing

    try:
        return parsing.profile_get(code).title
    except parsing.ProfileError:
        return ""


def _run_context(request: HttpRequest, run: SyncRun) -> dict:
    event_counts = {
        ChangeEvent.Kind(k).label: n
        for k, n in ChangeEvent.objects.filter(run=run).order_by().values_list("kind").annotate(n=Count("id"))
    }
    retry_form = None
    if (
        run.source == SyncRun.Source.UPLOAD
        and run.status in (SyncRun.Status.FAILED, SyncRun.Status.PREVIEWED)
        and run.import_batch_id
        and can_edit_roster(request.user)
    ):
        options = run.context.get("options") or {}
        retry_form = RetryForm(
            initial={
                "profile": options.get("profile") or run.profile or "auto",
                "period": options.get("period", ""),
                "item": options.get("item", ""),
            }
        )
    labels = {k: str(v) for k, v in CONTEXT_LABELS.items()}
    context_items = [
        (labels.get(k, k), _context_value(k, v))
        for k, v in (run.context or {}).items()
        if k != "options" and v
    ]
    period_from, period_to = run.counts.get("period_from"), run.counts.get("period_to")
    return {
        "context_items": context_items,
        "period_span": (selectors.period_text(period_from), selectors.period_text(period_to))
        if period_from
        else None,
        "profile_title": _profile_title(run.profile),
        "retry_form": retry_form,
        "asks": {e.get("field") for e in run.errors if isinstance(e, dict) and e.get("field")},
        "error_codes": {e.get("code") for e in run.errors if isinstance(e, dict) and e.get("code")},
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
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    require(can_edit_roster(request.user))
    form = RetryForm(request.POST)
    new = submit_form(
        form,
        lambda: services.ledger_upload_retry(
            actor=Actor.from_request(request),
            run=run,
            options=services.IngestOptions(
                profile=form.cleaned_data["profile"],
                period=form.cleaned_data["period"].strip(),
                item=form.cleaned_data["item"].strip(),
            ),
        ),
    )
    if new is None:
        context = _run_context(request, run)
        context["retry_form"] = form
        return render(request, "ledger/run_detail.html", context, status=422)
    return redirect("ledger:run", pk=new.pk)


@login_required
def run_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Map the columns of a file no profile recognised, save the mapping as a new profile and
    preview the file with it."""
    run = _run_or_404(request, pk)
    require(can_edit_roster(request.user))
    layout = selectors.upload_columns(run=run)
    if layout is None:
        messages.error(request, _("无法读取上传的文件（可能已按保留策略删除），请重新上传"))
        return redirect("ledger:run", pk=run.pk)
    shape = request.POST.get("shape") or request.GET.get("shape") or "long"
    if shape not in ("long", "wide", "status_list"):
        shape = "long"
    form = MappingForm(
        request.POST if request.method == "POST" and "save" in request.POST else None,
        columns=layout["columns"],
        shape=shape,
        initial={"shape": shape, "title": run.file_name.rsplit(".", 1)[0][:120]},
    )
    if form.is_bound:

        def call():
            from shebao.ledger import parsing

            try:
                definition = parsing.mapping_profile(
                    [c["header"] for c in layout["columns"]],
                    form.mapping(),
                    code=form.cleaned_data["code"],
                    title=form.cleaned_data["title"],
                    shape=form.cleaned_data["shape"],
                )
            except parsing.ProfileError as exc:
                raise exceptions.ApplicationError(exc.message) from exc
            actor = Actor.from_request(request)
            profile = services.ledger_profile_save(
                actor=actor,
                code=form.cleaned_data["code"],
                title=form.cleaned_data["title"],
                definition=definition,
            )
            options = run.context.get("options") or {}
            return services.ledger_upload_retry(
                actor=actor,
                run=run,
                options=services.IngestOptions(
                    profile=profile.code, period=options.get("period", ""), item=options.get("item", "")
                ),
            )

        new = submit_form(form, call)
        if new is not None:
            return redirect("ledger:run", pk=new.pk)
    return render(
        request,
        "ledger/mapping.html",
        {"active": ACTIVE, "run": run, "form": form, "layout": layout, "shape": shape},
    )


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


# --- connectors ----------------------------------------------------------------------------------


def _connector_or_404(request: HttpRequest, pk: int) -> Connector:
    require(can_view_roster(request.user))
    connector = (
        Connector.objects.filter(entity__in=selectors.entities_for(request.user), pk=pk)
        .select_related("entity")
        .first()
    )
    if connector is None:
        raise Http404
    return connector


@login_required
def connector_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    connectors = list(
        Connector.objects.filter(entity__in=selectors.entities_for(request.user)).select_related(
            "entity", "entity__city"
        )
    )
    last = {}
    for run in SyncRun.objects.filter(connector__in=connectors).order_by("connector_id", "-started_at"):
        last.setdefault(run.connector_id, run)
    for c in connectors:
        c.last_sync = last.get(c.pk)
    return render(
        request,
        "ledger/connectors.html",
        {
            "active": ACTIVE,
            "connectors": connectors,
            "can_manage": can_admin(request.user),
            "can_sync": can_edit_roster(request.user),
        },
    )


def _connector_values(form: ConnectorForm) -> dict:
    data = dict(form.cleaned_data)
    data.pop("entity", None)
    data.pop("secret", None)
    return data


@login_required
def connector_create(request: HttpRequest, kind: str) -> HttpResponse:
    require(can_admin(request.user))
    if kind not in Connector.Kind.values:
        raise Http404
    form = ConnectorForm(request.POST or None, user=request.user, kind=kind)
    if request.method == "POST":
        connector = submit_form(
            form,
            lambda: manage.connector_create(
                actor=Actor.from_request(request),
                entity=form.cleaned_data["entity"],
                kind=kind,
                secret=form.cleaned_data.get("secret", ""),
                **_connector_values(form),
            ),
        )
        if connector is not None:
            messages.success(request, _("已新增数据连接器“%(name)s”") % {"name": connector.name})
            return redirect("ledger:connectors")
    return render(
        request,
        "ledger/connector_form.html",
        {"active": ACTIVE, "form": form, "kind_label": Connector.Kind(kind).label, "connector": None},
    )


@login_required
def connector_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connector = _connector_or_404(request, pk)
    require(can_admin(request.user))
    initial = {
        "entity": connector.entity,
        "name": connector.name,
        "folder": connector.folder,
        "base_url": connector.base_url,
        "client_id": connector.client_id,
        "interval_minutes": connector.interval_minutes,
        "enabled": connector.enabled,
    }
    form = ConnectorForm(
        request.POST or None, user=request.user, kind=connector.kind, editing=True, initial=initial
    )
    if request.method == "POST":
        secret = form.data.get("secret") or None
        done = submit_form(
            form,
            lambda: manage.connector_update(
                actor=Actor.from_request(request),
                connector=connector,
                secret=secret,
                **_connector_values(form),
            ),
        )
        if done is not None:
            messages.success(request, _("已保存"))
            return redirect("ledger:connectors")
    return render(
        request,
        "ledger/connector_form.html",
        {"active": ACTIVE, "form": form, "kind_label": connector.get_kind_display(), "connector": connector},
    )


@require_POST
@login_required
def connector_sync(request: HttpRequest, pk: int) -> HttpResponse:
    connector = _connector_or_404(request, pk)
    require(can_edit_roster(request.user))
    try:
        manage.connector_sync_request(
            actor=Actor.from_request(request), connector=connector, full=request.POST.get("full") == "1"
        )
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(
        request, _("已开始同步“%(name)s”，完成后可在同步记录中查看结果") % {"name": connector.name}
    )
    return redirect("ledger:connectors")
