"""Policy library pages. Staff roles read; only HR admins verify or correct figures and edit an
employer's own rates. Data from the policy selectors, changes through the policy services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shebao.accounts.permissions import can_admin, can_view_roster, entity_scope_ids
from shebao.core.context import Actor
from shebao.org.selectors import entity_list
from shebao.policy import selectors, services
from shebao.policy.forms import INDUSTRY_CLASSES, CorrectForm, EntitySettingForm, VerifyForm
from shebao.policy.models import CONFIDENCE_CHOICES, City, EntityPolicySetting, PolicyFigure
from shebao.policy.terms import MISSING, Figure, Insurance
from shebao.web.decorators import login_required
from shebao.web.helpers import render_htmx, require, submit_form

CONFIDENCE_NAMES = dict(CONFIDENCE_CHOICES)


def _figure_or_404(pk: int) -> PolicyFigure:
    figure = selectors.figure_get(pk)
    if figure is None:
        raise Http404
    return figure


def _city_url(figure: PolicyFigure) -> str:
    return reverse("policy:city", args=[figure.period.city.code]) + f"#fig-{figure.pk}"


@require_GET
@login_required
def city_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    q = request.GET.get("q", "").strip()
    summaries = selectors.city_library_summary()
    with_data = {s.city.pk: s for s in summaries}
    results = [(city, with_data.get(city.pk)) for city in selectors.city_search(q)] if q else None
    context = {
        "active": "policy",
        "q": q,
        "summaries": summaries,
        "results": results,
        "national_rules": [(r, selectors.national_rule_label(r)) for r in selectors.national_rules()],
        "entities": entity_list(ids=entity_scope_ids(request.user)).order_by("code"),
    }
    return render_htmx(request, "policy/_search_results.html", "policy/city_list.html", context)


@require_GET
@login_required
def city_detail(request: HttpRequest, city_code: str) -> HttpResponse:
    require(can_view_roster(request.user))
    city = City.objects.filter(code=city_code).first()
    if city is None:
        raise Http404
    detail = selectors.city_policy_detail(city)
    return render(
        request,
        "policy/city_detail.html",
        {"active": "policy", "city": city, "can_edit": can_admin(request.user), **detail},
    )


def _cell(request: HttpRequest, figure: PolicyFigure) -> HttpResponse:
    return render(
        request, "policy/_figure_cell.html", {"figure": figure, "can_edit": can_admin(request.user)}
    )


@require_GET
@login_required
def figure_cell(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    figure = _figure_or_404(pk)
    if not request.htmx:
        return redirect(_city_url(figure))
    return _cell(request, figure)


def _edit_page(
    request: HttpRequest, figure: PolicyFigure, verify: VerifyForm, correct: CorrectForm
) -> HttpResponse:
    context = {
        "figure": figure,
        "verify_form": verify,
        "correct_form": correct,
        "label": services.figure_label(figure),
        "active": "policy",
    }
    template = "policy/_figure_form.html" if request.htmx else "policy/figure_edit.html"
    return render(request, template, context)


@require_GET
@login_required
def figure_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    figure = _figure_or_404(pk)
    return _edit_page(request, figure, VerifyForm(), CorrectForm(figure=figure))


def _done(request: HttpRequest, figure: PolicyFigure, message: str) -> HttpResponse:
    if request.htmx:
        return _cell(request, figure)
    messages.success(request, message)
    return redirect(_city_url(figure))


@require_POST
@login_required
def figure_verify(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    figure = _figure_or_404(pk)
    form = VerifyForm(request.POST)
    result = submit_form(
        form,
        lambda: services.policy_figure_verify(
            actor=Actor.from_request(request), figure=figure, **form.cleaned_data
        ),
    )
    if result is None:
        return _edit_page(request, figure, form, CorrectForm(figure=figure))
    return _done(
        request,
        selectors.figure_get(pk),
        _("已记录核验：%(label)s") % {"label": services.figure_label(figure)},
    )


@require_POST
@login_required
def figure_correct(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    figure = _figure_or_404(pk)
    form = CorrectForm(request.POST, figure=figure)
    result = submit_form(
        form,
        lambda: services.policy_figure_correct(
            actor=Actor.from_request(request), figure=figure, **form.service_data()
        ),
    )
    if result is None:
        return _edit_page(request, figure, VerifyForm(), form)
    return _done(
        request, selectors.figure_get(pk), _("已更正：%(label)s") % {"label": services.figure_label(figure)}
    )


@require_GET
@login_required
def figure_history(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_view_roster(request.user))
    figure = _figure_or_404(pk)
    return render(
        request,
        "policy/figure_history.html",
        {
            "active": "policy",
            "figure": figure,
            "label": services.figure_label(figure),
            "revisions": selectors.figure_history(figure),
            "can_edit": can_admin(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def entity_setting(request: HttpRequest, entity_id: int) -> HttpResponse:
    require(can_view_roster(request.user))
    entity = entity_list(ids=entity_scope_ids(request.user)).filter(pk=entity_id).first()
    if entity is None:  # out of scope looks the same as missing
        raise Http404
    can_edit = can_admin(request.user)
    if request.method == "POST":
        require(can_edit)
    setting = EntityPolicySetting.objects.filter(entity=entity).select_related("updated_by").first()
    form = None
    if can_edit:
        form = EntitySettingForm(request.POST or None, initial=EntitySettingForm.initial_for(setting))
        if request.method == "POST" and submit_form(
            form,
            lambda: services.entity_policy_setting_update(
                actor=Actor.from_request(request), entity=entity, **form.cleaned_data
            ),
        ):
            messages.success(request, _("已保存“%(name)s”的费率设置") % {"name": entity.name})
            return redirect("policy:entity", entity_id=entity.pk)
    today = _month(request.GET.get("month", "")) or timezone.localdate()
    overrides = selectors.entity_overrides(entity, today)
    try:
        period = selectors.policy_period_for(city=entity.city, month_first_day=today.replace(day=1))
        period_error = ""
    except LookupError as exc:
        period, period_error = None, str(exc)
    rows = []
    for label, insurance, attr, own in (
        (_("工伤保险单位费率"), Insurance.WORK_INJURY, "employer_rate", overrides.work_injury_rate),
        (
            _("公积金单位缴存比例"),
            Insurance.HOUSING_FUND,
            "employer_rate",
            overrides.housing_fund_employer_rate,
        ),
        (
            _("公积金个人缴存比例"),
            Insurance.HOUSING_FUND,
            "employee_rate",
            overrides.housing_fund_employee_rate,
        ),
    ):
        item = period.items.get(insurance) if period else None
        city_figure = getattr(item, attr) if item else MISSING
        rows.append(
            {
                "label": label,
                "city": _pct(city_figure),
                "city_confidence": CONFIDENCE_NAMES.get(city_figure.confidence.value, ""),
                "own": _pct(own),
                "used": _pct(own) or _pct(city_figure),
                "used_from": _("本单位设置") if own.known else (_("城市数据") if city_figure.known else ""),
            }
        )
    return render(
        request,
        "policy/entity_setting.html",
        {
            "active": "policy",
            "entity": entity,
            "setting": setting,
            "rows": rows,
            "warnings": selectors.entity_setting_warnings(setting),
            "period": period,
            "period_error": period_error,
            "form": form,
            "can_edit": can_edit,
            "industry_classes": INDUSTRY_CLASSES,
            "today": today,
            "not_yet": bool(setting and setting.effective_from and setting.effective_from > today),
        },
    )


def _month(text: str) -> dt.date | None:
    """The first day of a month given as 2025-08 (the <input type=month> format)."""
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        return None


def _pct(figure: Figure) -> str:
    if figure.value is None:
        return ""
    return f"{format((Decimal(figure.value) * 100).normalize(), 'f')}%"
