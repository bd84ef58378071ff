"""Calculator pages: one form per calculator, results swapped in with HTMX (GET, nothing stored)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from shebao.accounts.permissions import can_view_roster
from shebao.org.selectors import entity_list
from shebao.policy import calc
from shebao.policy.calculators import CalcError
from shebao.policy.terms import Insurance
from shebao.web.decorators import login_required

CALCULATORS = {
    "contribution": (_("月度缴费"), calc.run_contribution, ("city", "entity", "month", "base")),
    "late-fee": (_("滞纳金"), calc.run_late_fee, ("amount", "due", "paid")),
    "backpay": (_("补缴"), calc.run_backpay, ("city", "entity", "start", "end", "base", "paid", "due_day")),
    "compensation": (_("经济补偿"), calc.run_compensation, ("hired", "left", "monthly_wage", "city")),
    "deadlines": (_("法定时限"), calc.run_deadlines, ("hire", "leave")),
    "medical-gap": (_("医保中断"), calc.run_medical_gap, ("gap_months", "city")),
}


def _allowed(request: HttpRequest) -> None:
    if not can_view_roster(request.user):
        raise PermissionDenied


@require_GET
@login_required
def calculator(request: HttpRequest, kind: str = "contribution") -> HttpResponse:
    _allowed(request)
    if kind not in CALCULATORS:
        raise Http404
    title, run, fields = CALCULATORS[kind]
    values = {f: request.GET.get(f, "").strip() for f in fields}
    context = {
        "kind": kind,
        "title": title,
        "values": values,
        "tabs": [(k, v[0]) for k, v in CALCULATORS.items()],
        "entities": entity_list(),
        "insurances": list(Insurance),
        "active": "calc",
    }
    if request.GET.get("run"):
        kwargs = {f: v for f, v in values.items() if not (f == "entity" and not v)}
        if "insurance" in request.GET:
            kwargs["insurances"] = request.GET.getlist("insurance")
        try:
            result = run(**kwargs)
            context["result"] = calc.result_data(result)
            context["citations"] = list(context["result"]["citations"])
        except CalcError as exc:
            context["error"] = exc.message
            context["error_field"] = exc.field
    if request.htmx and not request.htmx.history_restore_request and request.GET.get("run"):
        return render(request, "policy/calc/_result.html", context)
    return render(request, "policy/calc/page.html", context)
