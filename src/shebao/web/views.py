"""Dashboard and employee self-service pages. Reads go through selectors, permissions through
shebao.accounts.permissions; nothing here writes."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from shebao.accounts.permissions import can_view_roster, entity_scope_ids
from shebao.org.selectors import entity_list
from shebao.roster.selectors import headcount_by_entity, roster_counts
from shebao.web.context_processors import UPCOMING
from shebao.web.decorators import login_required

# One line on what each upcoming room will do (keys as in context_processors.UPCOMING).
UPCOMING_NOTES = {
    "imports": gettext_lazy("从 Excel 批量导入花名册"),
    "ledger": gettext_lazy("按月核对社保与公积金缴费"),
    "cases": gettext_lazy("跟踪问题整改与处理进度"),
    "evidence": gettext_lazy("集中保存合同、回执等证明材料"),
    "reports": gettext_lazy("生成合规风险报告"),
}


def _counts(user) -> dict[str, int]:
    from shebao.rules.selectors import finding_counts

    counts = roster_counts(user=user)
    counts["entities"] = entity_list(ids=entity_scope_ids(user)).filter(is_active=True).count()
    findings = finding_counts(user)
    counts["findings"] = findings["total"]
    counts["findings_critical"] = findings["by_severity"].get("critical", 0)
    counts["findings_overdue"] = findings["overdue"]
    from shebao.cases.selectors import case_counts

    cases = case_counts(user)
    counts["cases"] = cases["open"]
    counts["cases_overdue"] = cases["overdue"]
    counts["cases_mine"] = cases["mine"]
    return counts


@require_GET
@login_required
def dashboard(request):
    user = request.user
    if not can_view_roster(user):
        return redirect("web:portal")
    chart = [
        {"name": row["entity__name"], "city": row["entity__city__name"], "value": row["n"]}
        for row in headcount_by_entity(user=user)
    ]
    scope_ids = entity_scope_ids(user)
    scope_entities = None if scope_ids is None else [e.name for e in entity_list(ids=scope_ids)]
    upcoming = [
        {"key": key, "label": _(label), "note": UPCOMING_NOTES.get(key, "")} for key, label in UPCOMING
    ]
    return render(
        request,
        "web/dashboard.html",
        {
            "active": "dashboard",
            "counts": _counts(user),
            "chart": chart,
            "chart_height": max(200, 44 * len(chart) + 40),
            "scope_entities": scope_entities,
            "upcoming": upcoming,
        },
    )


@require_GET
@login_required
def dashboard_counts(request):
    if not can_view_roster(request.user):
        raise Forbidden(_("没有查看花名册的权限"))
    return render(request, "web/_dashboard_counts.html", {"counts": _counts(request.user)})


@require_GET
@login_required
def portal(request):
    # Everyone may see their own record; the relation is the user's own, so no scope check.
    employee = request.user.employee
    return render(request, "web/portal.html", {"active": "portal", "employee": employee})
