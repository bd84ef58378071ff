"""Roster import wizard and history. Thin: permissions from shebao.accounts.permissions, data
from the import selectors and services; the views only translate between HTTP and those calls.

upload → (column mapping) → preview → confirm → progress → result. The batch page shows
whatever step the batch's status says; while the engine works it polls a partial every second.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from shebao.accounts.permissions import can_edit_roster, can_view_audit, entity_scope_ids
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.imports import fields as F
from shebao.imports import selectors, services
from shebao.imports.forms import MappingForm, ModeForm, UploadForm
from shebao.imports.models import ImportBatch, ImportRow
from shebao.imports.readers import ImportFileError
from shebao.org.selectors import entity_list
from shebao.web.decorators import login_required

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RUNNING = (ImportBatch.Status.UPLOADED, ImportBatch.Status.PARSING, ImportBatch.Status.COMMITTING)
ROWS_PER_PAGE = 50
# The wizard's words for the two modes (the model's choice labels say the same less plainly).
MODE_LABELS = dict(UploadForm.base_fields["mode"].choices)
DIFF_LABELS = {key: spec.label for key, spec in F.FIELDS.items()} | {"spell": "任职期间"}


def attachment(content: bytes, filename: str, fallback: str) -> HttpResponse:
    """An .xlsx download with its Chinese name (RFC 6266 filename*, ASCII fallback)."""
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    )
    response["Cache-Control"] = "no-store"
    return response


def _require_importer(request: HttpRequest) -> None:
    if not can_edit_roster(request.user):
        raise PermissionDenied


def _batch_or_404(request: HttpRequest, pk: int) -> ImportBatch:
    _require_importer(request)
    batch = selectors.import_batch_get(user=request.user, batch_id=pk)
    if batch is None:  # out of scope looks the same as missing
        raise Http404
    return batch


class _Rows:
    """Staged rows of one action, sliced lazily for Paginator."""

    def __init__(self, batch: ImportBatch, action: str):
        self.batch, self.action = batch, action

    def count(self) -> int:
        return selectors.import_batch_row_count(batch=self.batch, action=self.action)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, s: slice):
        start = s.start or 0
        return selectors.import_batch_rows(
            batch=self.batch, action=self.action, offset=start, limit=(s.stop or start) - start
        )


def _page(request: HttpRequest, batch: ImportBatch, action: str, param: str):
    return Paginator(_Rows(batch, action), ROWS_PER_PAGE).get_page(request.GET.get(param))


def _labelled(summary: dict) -> dict:
    summary["mode_label"] = str(MODE_LABELS.get(summary["mode"], summary["mode_label"]))
    return summary


def _diff_lines(diff: dict) -> list[dict]:
    return [{"label": DIFF_LABELS.get(k, k), "old": v[0], "new": v[1]} for k, v in diff.items()]


def _panel_context(request: HttpRequest, batch: ImportBatch, **extra) -> dict:
    summary = _labelled(selectors.import_batch_summary(batch=batch))
    context = {"batch": batch, "s": summary, "running": batch.status in RUNNING, "active": "imports"}
    status = batch.status
    if status == ImportBatch.Status.NEEDS_MAPPING:
        form = extra.pop("mapping_form", None) or MappingForm(
            headers=list(summary["mapping"]),
            mapping=summary["mapping"],
            targets=selectors.import_mapping_fields(),
        )
        samples = selectors.import_batch_column_samples(batch=batch)
        context["mapping_form"] = form
        context["columns"] = [
            {
                "header": h,
                "field": f,
                "samples": samples.get(h, []),
                "unknown": summary["mapping"].get(h) is None,
            }
            for h, f in form.columns()
        ]
    elif status in (ImportBatch.Status.PREVIEWED, ImportBatch.Status.REJECTED, ImportBatch.Status.COMMITTED):
        rejected = _page(request, batch, ImportRow.Action.REJECT, "page")
        context["rejected"] = rejected
        if status == ImportBatch.Status.PREVIEWED:
            updates = _page(request, batch, ImportRow.Action.UPDATE, "upage")
            for row in updates.object_list:
                row["diff_lines"] = _diff_lines(row["diff"])
            context["updates"] = updates
            context["mode_form"] = ModeForm(initial={"mode": batch.mode})
        if status == ImportBatch.Status.COMMITTED:
            touched = [
                r
                for action in (ImportRow.Action.CREATE, ImportRow.Action.UPDATE)
                for r in selectors.import_batch_rows(batch=batch, action=action, limit=20)
                if r["employee_id"]
            ]
            context["touched"] = touched[:20]
            context["can_audit"] = can_view_audit(request.user)
    if status in (ImportBatch.Status.REJECTED, ImportBatch.Status.FAILED) and not batch.rejected_count:
        context["batch_errors"] = selectors.import_batch_errors(batch=batch, limit=20)
    context.update(extra)
    return context


# --- pages -----------------------------------------------------------------------------------


@require_GET
@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    return render(
        request,
        "imports/batch_list.html",
        {
            "batches": [_labelled(b) for b in selectors.import_batch_list(user=request.user, limit=100)],
            "active": "imports",
        },
    )


@require_GET
@login_required
def template_download(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    names = list(
        entity_list(ids=entity_scope_ids(request.user)).order_by("code").values_list("name", flat=True)
    )
    content = selectors.import_template_workbook(entity_names=names or None)
    return attachment(content, _("花名册导入模板.xlsx"), "roster-template.xlsx")


@login_required
def batch_create(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = services.import_batch_create(
                actor=Actor.from_request(request),
                data=upload.read(),
                filename=upload.name,
                default_entity=form.cleaned_data["default_entity"],
                mode=form.cleaned_data["mode"],
            )
        except exceptions.PermissionDenied as exc:
            form.add_error("default_entity", exc.message)
        except exceptions.ApplicationError as exc:
            form.add_service_errors(exc.field_errors, exc.message)
        except ImportFileError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("imports:detail", pk=batch.pk)
    return render(request, "imports/batch_new.html", {"form": form, "active": "imports"})


@never_cache
@require_GET
@login_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    # The pagers of the row tables swap #batch-tables out of this same page (hx-select).
    return render(request, "imports/batch_detail.html", _panel_context(request, batch))


@never_cache
@require_GET
@login_required
def batch_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled progress bar; once the engine is done the page reloads to show the next step."""
    batch = _batch_or_404(request, pk)
    if batch.status not in RUNNING:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "imports/_progress.html", _panel_context(request, batch))


@require_POST
@login_required
def batch_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    summary = selectors.import_batch_summary(batch=batch)
    form = MappingForm(
        request.POST,
        headers=list(summary["mapping"]),
        mapping=summary["mapping"],
        targets=selectors.import_mapping_fields(),
    )
    if form.is_valid():
        try:
            services.import_batch_set_mapping(
                actor=Actor.from_request(request),
                batch=batch,
                mapping=form.mapping(),
                remember=form.cleaned_data["remember"],
            )
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(exc.message) from exc
        except exceptions.ApplicationError as exc:
            form.add_service_errors(exc.field_errors, exc.message)
        else:
            messages.success(request, _("已确认列映射，正在重新解析文件"))
            return redirect("imports:detail", pk=batch.pk)
    batch.refresh_from_db()
    return render(request, "imports/batch_detail.html", _panel_context(request, batch, mapping_form=form))


@require_POST
@login_required
def batch_mode(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    form = ModeForm(request.POST)
    if form.is_valid():
        try:
            services.import_batch_set_mode(
                actor=Actor.from_request(request), batch=batch, mode=form.cleaned_data["mode"]
            )
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(exc.message) from exc
        except exceptions.ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("imports:detail", pk=batch.pk)


@require_POST
@login_required
def batch_commit(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    try:
        services.import_batch_commit_enqueue(actor=Actor.from_request(request), batch=batch)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("imports:detail", pk=batch.pk)


@never_cache
@require_GET
@login_required
def batch_errors(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    if not batch.rejected_count:
        raise Http404
    try:
        content = services.import_batch_error_report(actor=Actor.from_request(request), batch=batch)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    stem = batch.file_name.rsplit(".", 1)[0]
    return attachment(
        content, _("%(name)s-错误工作簿.xlsx") % {"name": stem}, f"import-{batch.pk}-errors.xlsx"
    )
