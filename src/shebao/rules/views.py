"""Pages of the rules room: the findings inbox and a finding's page (HR staff handle findings), the
rules list and editor (HR admins). Thin: permissions from accounts.permissions, reads from the
rules selectors, writes through the rules services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from shebao.accounts.permissions import can_admin, can_edit_roster, can_view_roster
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.law.selectors import citation_refs
from shebao.notify.routing import routing_of
from shebao.policy.terms import CONFIDENCE_LABELS, INSURANCE_LABELS, Insurance
from shebao.roster.models import EmploymentType
from shebao.rules import selectors, services
from shebao.rules.forms import MODE_LABELS, RECIPIENT_LABELS, FindingActionForm, FindingFilterForm, RuleForm
from shebao.rules.kinds import KINDS, RuleKind
from shebao.rules.models import AlertRule, Finding, Severity
from shebao.web.decorators import login_required
from shebao.web.helpers import back_url, render_htmx, require, submit_form

ACTIVE = "rules"
STATUS_LABELS = dict(Finding.Status.choices)


# --- findings -------------------------------------------------------------------------------------


def _decorate(findings) -> list[Finding]:
    """The rows as the pages show them: the title in the active language and the days left."""
    rows = list(findings)
    for f in rows:
        f.shown_title = selectors.display_title(f)
        f.days_left = selectors.days_left(f)
        f.days_over = -f.days_left if f.days_left is not None and f.days_left < 0 else 0
    return rows


def _filters(form: FindingFilterForm) -> selectors.FindingFilters:
    values: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # an invalid filter (an entity out of scope, say) is dropped; the others apply
        values = form.cleaned_data
    assignee = values.get("assignee") or ""
    return selectors.FindingFilters(
        status=values.get("status") or "active",
        kind=values.get("kind") or "",
        rule=values["rule"].pk if values.get("rule") else None,
        severity=values.get("severity") or "",
        entity=values["entity"].pk if values.get("entity") else None,
        department=values["department"].pk if values.get("department") else None,
        assignee=int(assignee) if assignee.lstrip("-").isdigit() else None,
        q=values.get("q") or "",
        sort=values.get("sort") or "deadline",
    )


@login_required
def finding_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    form = FindingFilterForm(request.GET or None, user=request.user)
    filters = _filters(form)
    page = Paginator(selectors.finding_list(request.user, filters), 50).get_page(request.GET.get("page"))
    page.object_list = _decorate(page.object_list)
    can_handle = can_edit_roster(request.user)
    return render_htmx(
        request,
        "rules/_findings.html",
        "rules/findings.html",
        {
            "active": ACTIVE,
            "form": form,
            "page": page,
            "filters": filters,
            "counts": selectors.finding_counts(request.user),
            "can_handle": can_handle,
            "action_form": FindingActionForm() if can_handle else None,
            "here": request.get_full_path(),
        },
    )


@require_POST
@login_required
def finding_action(request: HttpRequest) -> HttpResponse:
    """Acknowledge, snooze, reopen or assign the selected findings (one or many)."""
    require(can_edit_roster(request.user))
    back = back_url(request, reverse("rules:findings"))
    form = FindingActionForm(request.POST)
    if not form.is_valid():
        # Translators: separates error messages in one line
        messages.error(request, _("；").join(e for errors in form.errors.values() for e in errors))
        return redirect(back)
    d = form.cleaned_data
    actor = Actor.from_request(request)
    try:
        if d["action"] == "assign":
            n = services.finding_assign(actor=actor, finding_ids=d["ids"], assignee=d["assignee"])
            if d["assignee"] is None:
                done = _("已取消 %(n)d 条预警的分派") % {"n": n}
            else:
                done = _("已将 %(n)d 条预警分派给%(user)s") % {"n": n, "user": d["assignee"].display_name}
        else:
            to_status = FindingActionForm.ACTIONS[d["action"]]
            findings = services.finding_transition(
                actor=actor,
                finding_ids=d["ids"],
                to_status=to_status,
                reason=d["reason"],
                snoozed_until=d["snoozed_until"],
            )
            done = _("已将 %(n)d 条预警改为“%(status)s”") % {
                "n": len(findings),
                "status": STATUS_LABELS[to_status],
            }
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, done)
    return redirect(back)


# Evidence keys shown as label: value (in this order); the rest have their own blocks.
FACTS = [
    ("employee_no", N_("工号")),
    ("hire_date", N_("入职日期")),
    ("leave_date", N_("离职日期")),
    ("deadline_rule", N_("期限规则")),
    ("insurance", N_("险种")),
    ("insurances", N_("涉及险种")),
    ("unit", N_("仍为其参保的单位")),
    ("last_covered_month", N_("最后缴费月份")),
    ("last_covered_unit", N_("最后缴费单位")),
    ("gap_from", N_("中断起始月份")),
    ("gap_days", N_("中断天数")),
    ("months_missed", N_("未缴月数")),
    ("gap_began_before_hire", N_("中断始于入职前")),
    ("registered", N_("已查到本单位参保")),
    ("checked", N_("查询范围")),
    ("data_through", N_("台账数据截至")),
    ("account_no", N_("个人编号")),
    ("ledger_id_masked", N_("台账中同名人员的证件号码")),
]
COSTS = [
    ("cost", N_("应缴费用估算（入职以来）")),
    ("backpay_estimate", N_("补缴费用估算")),
    ("cost_if_ours", N_("由本单位参保的费用估算")),
]
HANDLED = {
    *(k for k, _l in FACTS),
    *(k for k, _l in COSTS),
    "variant",
    "args",
    "explanation",
    "months_since_hire",
    "uncovered_records",
    "discrepancies",
    "reported_statuses",
    "waiting_period",
    "late_fee",
    "ledger_person",
}
CONFIDENCE_KEYS = {str(label): key.value for key, label in CONFIDENCE_LABELS.items()}
OFFICIAL = {"official_text"}


def _insurance(code: str) -> str:
    try:
        label = INSURANCE_LABELS[Insurance(code)]
    except ValueError:
        label = code  # the kinds store the (Chinese) label itself
    return _(label) if label else label  # the labels are in the catalogue (the policy room's)


def _fact(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if value is None or value == "":
        return _("无数据") if key == "data_through" else "—"
    if key == "insurance":
        return _insurance(value)
    if key == "insurances" and isinstance(value, list):
        # Translators: separates the items of a list (Chinese enumeration comma)
        return _("、").join(_insurance(v) for v in value)
    if isinstance(value, list):
        return _("、").join(str(v) for v in value)
    return str(value)


def _statements(items: list[dict]) -> list[dict]:
    out = []
    for s in items or []:
        key = CONFIDENCE_KEYS.get(s.get("confidence", ""), "unverified")
        label = s.get("confidence") or ""
        out.append(
            {
                **s,
                "confidence_key": key,
                "verified": key in OFFICIAL,
                "confidence_label": _(label) if label else "",
            }
        )
    return out


def finding_evidence(details: dict[str, Any]) -> dict[str, Any]:
    """A finding's details as the page shows them: facts, costs (estimates, with what is missing),
    months, records, discrepancies, statuses, waiting-period statements with their confidence."""
    details = details or {}
    costs = []
    for key, label in COSTS:
        if isinstance(details.get(key), dict):
            c = details[key]
            costs.append(
                {
                    "label": _(label),
                    "amount": c.get("amount"),
                    "missing": c.get("missing") or [],
                    "months": c.get("months") or [],
                }
            )
    fee = details.get("late_fee")
    if isinstance(fee, dict):
        costs.append(
            {
                "label": _("滞纳金（截至 %(d)s）") % {"d": fee.get("as_of") or "—"},
                "amount": fee.get("amount"),
                "missing": fee.get("notes") or [],
                "months": [],
            }
        )
    waiting = details.get("waiting_period")
    if isinstance(waiting, dict):
        waiting = {**waiting, "statements": _statements(waiting.get("statements", []))}
        waiting["unverified"] = any(not s["verified"] for s in waiting["statements"])
    others = [(k, v) for k, v in details.items() if k not in HANDLED and v not in (None, "", [], {})]
    return {
        "facts": [(_(label), _fact(k, details[k])) for k, label in FACTS if k in details],
        "costs": costs,
        "months_since_hire": details.get("months_since_hire") or [],
        "uncovered": details.get("uncovered_records") or [],
        "discrepancies": details.get("discrepancies") or [],
        "statuses": [
            {**s, "insurance_label": _insurance(s.get("insurance", ""))}
            for s in details.get("reported_statuses") or []
        ],
        "waiting": waiting,
        "others": others,
    }


def _finding_or_404(request: HttpRequest, pk: int) -> Finding:
    require(can_view_roster(request.user))
    finding = selectors.finding_get(request.user, pk)
    if finding is None:  # out of scope looks the same as missing
        raise Http404
    return finding


@login_required
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding_or_404(request, pk)
    can_handle = can_edit_roster(request.user)
    kind = KINDS.get(finding.kind)
    days = selectors.days_left(finding)
    transitions = list(selectors.finding_transitions(finding))
    for t in transitions:
        t.from_label = STATUS_LABELS.get(t.from_status, t.from_status) if t.from_status else ""
        t.to_label = STATUS_LABELS.get(t.to_status, t.to_status)
    return render(
        request,
        "rules/finding_detail.html",
        {
            "active": ACTIVE,
            "f": finding,
            "title": selectors.display_title(finding),
            "explanation": selectors.display_explanation(finding),
            "next_step": selectors.display_next_step(finding),
            "days_left": days,
            "days_over": -days if days is not None and days < 0 else 0,
            "kind_label": _(kind.label) if kind else finding.kind,
            "evidence": finding_evidence(selectors.live_details(finding)),
            "citations": citation_refs(list(finding.citations or [])),
            "transitions": transitions,
            "can_handle": can_handle,
            "action_form": FindingActionForm(initial={"assignee": finding.assignee}) if can_handle else None,
            "here": request.get_full_path(),
        },
    )


# --- rules ----------------------------------------------------------------------------------------


def _scope_summary(rule: AlertRule) -> list[str]:
    types = dict(EmploymentType.choices)
    parts = []
    entities = [e.name for e in rule.entities.all()]
    departments = [d.name for d in rule.departments.all()]
    if entities:
        parts.append(_("、").join(entities))
    if departments:
        parts.append(_("部门：") + _("、").join(departments))
    if rule.employment_types:
        parts.append(_("、").join(str(types.get(t, t)) for t in rule.employment_types))
    return parts


def _routing_names(rules) -> dict[str, dict[int, str]]:
    """The names of the users and channels the rules' routings name (two queries for the page)."""
    from shebao.accounts.models import User
    from shebao.notify.models import Channel

    users: set[int] = set()
    channels: set[int] = set()
    for rule in rules:
        r = routing_of(rule.routing)
        users.update(r.users)
        channels.update(r.channels)
    return {
        "users": {u.pk: u.display_name for u in User.objects.filter(pk__in=users)},
        "channels": dict(Channel.objects.filter(pk__in=channels).values_list("pk", "name")),
    }


def _routing_summary(stored, names) -> tuple[list[str], list[str]]:
    """Who hears (with the named users and channels) and, in a second line, how."""
    r = routing_of(stored)
    labels = []
    for code in r.recipients:
        label = str(RECIPIENT_LABELS.get(code, code))
        who = []
        if code == "users":
            who = [names["users"].get(pk, f"#{pk}") for pk in r.users]
        elif code == "group_robot":
            who = [names["channels"].get(pk, f"#{pk}") for pk in r.channels]
        labels.append(label + (_("（%(who)s）") % {"who": _("、").join(who)} if who else ""))
    severities = dict(Severity.choices)
    notes = [
        _("%(severity)s：%(mode)s") % {"severity": severities[sev], "mode": MODE_LABELS[r.mode(sev)]}
        for sev in ("critical", "warning", "info")
    ]
    if r.quiet:
        notes.append(
            _("免打扰 %(start)s–%(end)s")
            % {"start": r.quiet[0].strftime("%H:%M"), "end": r.quiet[1].strftime("%H:%M")}
        )
    if r.notify_resolved:
        notes.append(_("解除时通知"))
    return labels, notes


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    require(can_view_roster(request.user))
    rules = list(selectors.rules_list())
    # the active findings the user may see, per rule (HR specialists and managers see their scope)
    visible = selectors.active_counts_by_rule(request.user)
    names = _routing_names(rules)
    for rule in rules:
        kind = KINDS.get(rule.kind)
        rule.kind_label = _(kind.label) if kind else rule.kind
        rule.kind_summary = _(kind.summary) if kind else ""
        rule.scope = _scope_summary(rule)
        rule.visible_count = visible.get(rule.pk, 0)
        rule.recipient_labels, rule.routing_notes = _routing_summary(rule.routing, names)
    return render(
        request,
        "rules/rule_list.html",
        {
            "active": ACTIVE,
            "rules": rules,
            "can_manage": can_admin(request.user),
            "kinds": [(code, _(k.label), _(k.summary)) for code, k in KINDS.items()],
        },
    )


def _rule_or_404(request: HttpRequest, pk: int) -> AlertRule:
    rule = AlertRule.objects.filter(pk=pk).first()
    if rule is None:
        raise Http404
    return rule


def _kind_or_404(code: str) -> RuleKind:
    kind = KINDS.get(code or "")
    if kind is None:
        raise Http404
    return kind


def _evaluated(request: HttpRequest, rule: AlertRule) -> str:
    """Evaluate the rule now so the inbox shows its findings at once; a summary for the message."""
    if not rule.enabled:
        return _("规则已停用，其预警已全部解除")
    result = services.findings_evaluate(actor=Actor.from_request(request), rule_ids=[rule.pk])
    return _("已重新评估：当前 %(m)d 条，新增 %(o)d、更新 %(u)d、解除 %(r)d") % {
        "m": result.matches,
        "o": result.opened,
        "u": result.updated,
        "r": result.resolved,
    }


def _rule_page(request, form, kind, rule, status=200) -> HttpResponse:
    return render(
        request,
        "rules/rule_form.html",
        {
            "active": ACTIVE,
            "form": form,
            "rule": rule,
            "kind": kind,
            "kind_code": rule.kind if rule else next(c for c, k in KINDS.items() if k is kind),
            "kind_label": _(kind.label),
            "kind_summary": _(kind.summary),
            "citations": citation_refs(list(kind.citations)),
        },
        status=status,
    )


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    rule = _rule_or_404(request, pk)
    kind = _kind_or_404(rule.kind)
    form = RuleForm(
        request.POST if request.method == "POST" else None,
        kind=kind,
        initial=RuleForm.initial_for(rule, kind),
    )
    if request.method == "POST":
        saved = submit_form(
            form,
            lambda: services.rule_update(
                actor=Actor.from_request(request),
                rule=rule,
                enabled=form.cleaned_data["enabled"],
                routing=form.routing(rule.routing),
                **form.service_data(),
            ),
        )
        if saved is not None:
            messages.success(
                request, _("已保存“%(name)s”。") % {"name": saved.name} + _evaluated(request, saved)
            )
            return redirect("rules:list")
        return _rule_page(request, form, kind, rule, status=422)
    return _rule_page(request, form, kind, rule)


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    require(can_admin(request.user))
    code = request.POST.get("kind") or request.GET.get("kind") or ""
    if not code:
        return redirect(reverse("rules:list") + "#new-rule")
    kind = _kind_or_404(code)
    form = RuleForm(
        request.POST if request.method == "POST" else None,
        kind=kind,
        initial=RuleForm.initial_for(None, kind),
    )
    if request.method == "POST":
        created = submit_form(
            form,
            lambda: services.rule_create(
                actor=Actor.from_request(request),
                kind=code,
                enabled=form.cleaned_data["enabled"],
                routing=form.routing(None),
                **form.service_data(),
            ),
        )
        if created is not None:
            messages.success(
                request, _("已新增规则“%(name)s”。") % {"name": created.name} + _evaluated(request, created)
            )
            return redirect("rules:list")
        return _rule_page(request, form, kind, None, status=422)
    return _rule_page(request, form, kind, None)


@require_POST
@login_required
def rule_preview(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """What the settings in the form would give, before saving (HTMX partial)."""
    require(can_admin(request.user))
    rule = _rule_or_404(request, pk) if pk else None
    code = rule.kind if rule else request.POST.get("kind") or request.GET.get("kind") or ""
    kind = _kind_or_404(code)
    form = RuleForm(request.POST, kind=kind)
    outcome = submit_form(
        form,
        lambda: services.rule_preview(
            kind=code,
            params=form.params(),
            severity=form.cleaned_data["severity"],
            entities=form.cleaned_data["entities"],
            departments=form.cleaned_data["departments"],
            employment_types=form.cleaned_data["employment_types"],
            rule=rule,
        ),
    )
    disabled_active = 0
    if outcome is not None and rule is not None and not form.cleaned_data["enabled"]:
        disabled_active = rule.findings.filter(status__in=selectors.ACTIVE).count()
    return render(
        request,
        "rules/_preview.html",
        {
            "outcome": outcome,
            "form": form,
            "rule": rule,
            "enabled": getattr(form, "cleaned_data", {}).get("enabled", True),
            "disabled_active": disabled_active,
        },
    )


@require_POST
@login_required
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    rule = _rule_or_404(request, pk)
    try:
        rule = services.rule_update(actor=Actor.from_request(request), rule=rule, enabled=not rule.enabled)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("rules:list")
    if rule.enabled:
        done = _("已启用“%(name)s”。") % {"name": rule.name}
    else:
        done = _("已停用“%(name)s”。") % {"name": rule.name}
    messages.success(request, done + _evaluated(request, rule))
    return redirect("rules:list")


@require_POST
@login_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(can_admin(request.user))
    rule = _rule_or_404(request, pk)
    if rule.is_default:
        messages.error(request, _("默认规则不能删除，可以停用"))
        return redirect("rules:list")
    name = rule.name
    try:
        services.rule_delete(actor=Actor.from_request(request), rule=rule)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, _("已删除规则“%(name)s”及其预警") % {"name": name})
    return redirect("rules:list")


@require_POST
@login_required
def evaluate_all(request: HttpRequest) -> HttpResponse:
    require(can_admin(request.user))
    try:
        result = services.findings_evaluate(actor=Actor.from_request(request))
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("rules:list")
    messages.success(
        request,
        _("已评估 %(rules)d 条规则：当前 %(m)d 条预警，新增 %(o)d、更新 %(u)d、解除 %(r)d")
        % {
            "rules": len(result.rules),
            "m": result.matches,
            "o": result.opened,
            "u": result.updated,
            "r": result.resolved,
        },
    )
    return redirect(back_url(request, reverse("rules:list")))


# --- the employee page ----------------------------------------------------------------------------


def employee_findings(user, employee) -> list[Finding]:
    """An employee's findings for the roster page: active first, then by deadline."""
    rows = _decorate(
        selectors.finding_list(user, selectors.FindingFilters(employee=employee.pk, status="all"))[:100]
    )
    return sorted(rows, key=lambda f: not f.is_active)
