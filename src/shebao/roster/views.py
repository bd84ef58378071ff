"""Roster pages. Thin: permissions from shebao.accounts.permissions, data from the roster selectors
and services; the views only translate between HTTP and those calls."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from shebao.accounts.permissions import can_edit_employee, can_edit_roster, can_reveal, can_view_roster
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.core.identity import IdentityError, normalize_phone, parse_identity
from shebao.roster import selectors, services
from shebao.roster.forms import EmployeeFilterForm, EmployeeForm, RehireForm
from shebao.roster.models import Employee
from shebao.rules.views import employee_findings
from shebao.web.decorators import login_required
from shebao.web.helpers import render_htmx, require, submit_form

REVEALABLE = ("id_number", "phone")


def _employee_or_404(request: HttpRequest, pk: int) -> Employee:
    require(can_view_roster(request.user))
    employee = selectors.employee_get(user=request.user, pk=pk)
    if employee is None:  # out of scope looks the same as missing
        raise Http404
    return employee


def _is_personal_number(q: str) -> bool:
    """A full ID or phone number: such searches are kept out of the browser history."""
    for parse in (parse_identity, normalize_phone):
        try:
            parse(q)
            return True
        except IdentityError:
            pass
    return False


@login_required
def employee_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    form = EmployeeFilterForm(request.GET or None, user=request.user)
    values: dict = {}
    if form.is_bound:
        form.is_valid()  # an invalid filter (say, an entity out of scope) is dropped; the others still apply
        values = form.cleaned_data
    filters = selectors.EmployeeFilters(
        q=values.get("q") or "",
        entity_id=values["entity"].pk if values.get("entity") else None,
        department_id=values["department"].pk if values.get("department") else None,
        status=values.get("status") or "",
        employment_type=values.get("employment_type") or "",
    )
    ids = selectors.employee_list(user=request.user, filters=filters).values_list("pk", flat=True)
    page = Paginator(ids, settings.SHEBAO_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.employee_rows(list(page.object_list))
    context = {
        "form": form,
        "page": page,
        "filtered": any(request.GET.get(k) for k in form.fields),
        "can_create": can_edit_roster(request.user),
        "active": "roster",
    }
    response = render_htmx(request, "roster/_results.html", "roster/employee_list.html", context)
    if request.htmx and filters.q and _is_personal_number(filters.q):
        response["HX-Push-Url"] = "false"  # a full ID number stays out of the browser history
    return response


@login_required
def employee_detail(request: HttpRequest, pk: int) -> HttpResponse:
    employee = _employee_or_404(request, pk)
    return render(
        request,
        "roster/employee_detail.html",
        {
            "employee": employee,
            "spells": sorted(employee.spells.all(), key=lambda s: (s.hire_date, s.pk), reverse=True),
            "can_edit": can_edit_employee(request.user, employee),
            "can_reveal": can_reveal(request.user, employee),
            "findings": employee_findings(request.user, employee),
            "active": "roster",
        },
    )


@never_cache
@login_required
@require_POST
def employee_reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    employee = _employee_or_404(request, pk)
    if field not in REVEALABLE:
        raise Http404
    try:
        value = services.employee_reveal(actor=Actor.from_request(request), employee=employee, field=field)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    return render(request, "roster/_revealed.html", {"field": field, "value": value})


@login_required
def employee_create(request: HttpRequest) -> HttpResponse:
    require(can_edit_roster(request.user))
    form = EmployeeForm(request.POST or None, user=request.user)
    employee = submit_form(
        form,
        lambda: services.employee_create(actor=Actor.from_request(request), **form.service_data()),
    )
    if employee:
        messages.success(request, _("已新增员工“%(name)s”") % {"name": employee.name})
        return redirect("roster:detail", pk=employee.pk)
    return render(request, "roster/employee_form.html", {"form": form, "employee": None, "active": "roster"})


@login_required
def employee_edit(request: HttpRequest, pk: int) -> HttpResponse:
    employee = _employee_or_404(request, pk)
    require(can_edit_employee(request.user, employee))
    form = EmployeeForm(
        request.POST or None, user=request.user, editing=True, initial=EmployeeForm.initial_for(employee)
    )
    if submit_form(
        form,
        lambda: services.employee_update(
            actor=Actor.from_request(request), employee=employee, data=form.service_data()
        ),
    ):
        messages.success(request, _("已保存员工“%(name)s”的信息") % {"name": employee.name})
        return redirect("roster:detail", pk=employee.pk)
    return render(
        request, "roster/employee_form.html", {"form": form, "employee": employee, "active": "roster"}
    )


@login_required
def employee_rehire(request: HttpRequest, pk: int) -> HttpResponse:
    employee = _employee_or_404(request, pk)
    require(can_edit_employee(request.user, employee))
    form = RehireForm(
        request.POST or None,
        user=request.user,
        initial={
            "entity": employee.entity_id,
            "department": employee.department_id,
            "employment_type": employee.employment_type,
        },
    )
    if submit_form(
        form,
        lambda: services.employee_rehire(
            actor=Actor.from_request(request), employee=employee, **form.cleaned_data
        ),
    ):
        messages.success(request, _("已为“%(name)s”办理再入职") % {"name": employee.name})
        return redirect("roster:detail", pk=employee.pk)
    return render(
        request, "roster/employee_rehire.html", {"form": form, "employee": employee, "active": "roster"}
    )
