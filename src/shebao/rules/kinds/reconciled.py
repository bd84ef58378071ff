"""Kinds that read reconciliation's open discrepancies (one indexed query per kind), grouped into
one finding per employee (or unknown person) and entity, with the discrepancies as evidence.

Reconciliation runs before the rules: after every sync for the people it touched, in full on
demand; so these kinds see the ledger as last reconciled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Exists, Max, OuterRef, Q, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast
from django.utils.translation import get_language
from django.utils.translation import gettext_noop as N_
from pydantic import Field

from shebao.core.money import fmt, q2
from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import ContributionRecord, Discrepancy, EnrollmentStatus
from shebao.policy.calculators.arrears import late_fee
from shebao.policy.selectors import policy_period_for_entity
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import EmploymentSpell
from shebao.rules.context import Context, Scope, month_ints, ym_int, ym_of, ym_text
from shebao.rules.kinds.base import Match, Params, RuleKind
from shebao.rules.kinds.money import months_cost
from shebao.rules.models import Severity

K = Discrepancy.Kind
ZERO = Decimal("0")
_FIELDS = (
    "id",
    "kind",
    "entity_id",
    "employee_id",
    "person_id",
    "insurance",
    "period_from",
    "period_to",
    "months",
    "unit_id",
    "unit__name",
    "amount",
    "explanation",
    "employee__name",
    "employee__employee_no",
    "employee__department_id",
    "person__name",
)


def _label(insurance: str) -> str:
    try:
        return _LABELS[insurance]
    except KeyError:
        pass
    try:
        label = INSURANCE_LABELS[Insurance(insurance)]
    except ValueError:
        label = insurance or "—"
    _LABELS[insurance] = label
    return label


_LABELS: dict[str | None, str] = {}


def _kind_label(kind: str) -> str:
    """The discrepancy kind's label as text in the active language (the stored JSON holds text; a
    lazy label would be rendered by the encoder's fallback, once per row)."""
    key = (kind, get_language())
    label = _KIND_LABELS.get(key)
    if label is None:
        label = _KIND_LABELS[key] = str(K(kind).label)
    return label


_KIND_LABELS: dict[tuple[str, str | None], str] = {}


def _citations_of(text: str | None) -> list[str] | None:
    """A discrepancy's citations from their JSON text: a handful of distinct lists among thousands of
    rows, each decoded once (the lists are shared: read, never changed)."""
    if text is None:
        return None
    value = _CITATIONS.get(text)
    if value is None:
        value = json.loads(text)
        if len(_CITATIONS) < 10_000:
            _CITATIONS[text] = value
    return value


_CITATIONS: dict[str, Any] = {}


def open_discrepancies(
    ctx: Context, scope: Scope, kinds: list[str], extra: Q | None = None, *, detail: tuple[str, ...] = ()
) -> list[dict]:
    """The open discrepancies of ``kinds`` in scope (limited to the evaluation's people when
    incremental). Only the named top-level keys of their detail JSON are read (``r["detail"]``):
    the whole detail — figures, sources, segments — is large, and decoding it for thousands of rows
    was most of a kind's time."""
    present = ctx.discrepancy_kinds()
    if present is not None and not present.intersection(kinds):
        return []
    qs = Discrepancy.objects.filter(
        scope.employee_q("employee", "entity_id"), status=Discrepancy.Status.OPEN, kind__in=kinds
    )
    if extra is not None:
        qs = qs.filter(extra)
    qs = ctx.limit(qs, employee_field="employee_id", person_field="person_id")
    parts = {f"_d_{k}": KeyTransform(k, "detail") for k in detail}
    # the citations as JSON text, decoded once per distinct list (see _citations_of)
    parts["_citations"] = Cast("citations", TextField())
    rows = list(qs.order_by("period_from", "id").values(*_FIELDS, **parts))
    for r in rows:
        r["detail"] = {k: v for k in detail if (v := r.pop(f"_d_{k}")) is not None}
        r["citations"] = _citations_of(r.pop("_citations"))
    return rows


def _group(rows: list[dict]) -> dict[tuple[int, int | None, int | None], list[dict]]:
    groups: dict[tuple[int, int | None, int | None], list[dict]] = defaultdict(list)
    for r in rows:
        who = (r["employee_id"], None) if r["employee_id"] else (None, r["person_id"])
        groups[(r["entity_id"], *who)].append(r)
    return groups


def _evidence(r: dict) -> dict[str, Any]:
    return {
        "discrepancy": r["id"],
        "kind": r["kind"],
        "kind_label": _kind_label(r["kind"]),
        "insurance": r["insurance"],
        "insurance_label": _label(r["insurance"]),
        "from": ym_text(r["period_from"]),
        "to": ym_text(r["period_to"]),
        "months": r["months"],
        "unit": r["unit__name"] or "",
        "amount": fmt(r["amount"]) if r["amount"] is not None else None,
        "explanation": r["explanation"],
    }


def _sum(rows: list[dict]) -> Decimal | None:
    amounts = [r["amount"] for r in rows]
    if not amounts or any(a is None for a in amounts):
        known = [a for a in amounts if a is not None]
        return sum(known, ZERO) if known else None
    return sum(amounts, ZERO)


def _span(rows: list[dict]) -> str:
    first = min(r["period_from"] for r in rows if r["period_from"])
    last = max((r["period_to"] or r["period_from"]) for r in rows if r["period_from"])
    return ym_text(first) if first == last else f"{ym_text(first)}至{ym_text(last)}"


def _insurances(rows: list[dict]) -> str:
    return "、".join(dict.fromkeys(_label(r["insurance"]) for r in rows))


def _citations(rows: list[dict], own: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*own, *(c for r in rows for c in r["citations"] or [])]))


def _base_match(key: tuple, rows: list[dict], subject: str) -> Match:
    entity_id, employee_id, person_id = key
    first = rows[0]
    name = first["employee__name"] or first["person__name"] or ""
    return Match(
        subject=subject,
        entity_id=entity_id,
        employee_id=employee_id,
        person_id=None if employee_id else person_id,
        department_id=first["employee__department_id"],
        args={"name": name, "span": _span(rows), "insurances": _insurances(rows), "count": len(rows)},
        details={
            "employee_no": first["employee__employee_no"] or "",
            "discrepancies": [_evidence(r) for r in rows],
        },
    )


# --- enrolled elsewhere ---------------------------------------------------------------------------


class EnrolledElsewhereParams(Params):
    status_lookback_days: int = Field(
        30, ge=0, le=365, description=N_("入职前多少天内查询到的参保状态也算作入职时的状态")
    )


class EnrolledElsewhere(RuleKind):
    code = "enrolled_elsewhere"
    label = N_("原单位未停保")
    summary = N_("员工在本单位任职期间，其他单位仍为其参保缴费或参保状态仍为“参保缴费”，本单位无法为其增员")
    default_name = N_("入职后原单位仍未停保")
    severity = Severity.CRITICAL
    citations = ("SIL-58", "LCL-50")
    params = EnrolledElsewhereParams
    titles = {"default": N_("{name}入职后，{unit}仍为其参保（{insurances}，{span}），本单位无法增员")}
    explanations = {
        "default": N_(
            "{name}自 {hire_date} 起在本单位任职，但{unit}仍在为其缴纳或保留{insurances}（{span}）。"
            "同一险种只能由一个单位参保，原单位应在解除劳动关系后十五日内办理社会保险关系转移手续，"
            "否则本单位无法在入职三十日内为其办理参保登记。"
        )
    }
    next_steps = {
        "default": N_(
            "书面告知员工联系原单位办理减员（停保）并提供停保证明或转移凭证，保留告知与回执；原单位停保后立即为其增员。"
        )
    }
    resolved_reason = N_("其他单位已停保，或已由本单位参保")

    def evaluate(self, ctx: Context, params: EnrolledElsewhereParams, scope: Scope) -> list[Match]:
        current = EmploymentSpell.objects.filter(
            Q(leave_date__isnull=True) | Q(leave_date__gte=ctx.as_of),
            employee_id=OuterRef("employee_id"),
            entity_id=OuterRef("entity_id"),
            hire_date__lte=ctx.as_of,
        )
        rows = open_discrepancies(ctx, scope, [K.OTHER_UNIT], Q(Exists(current)), detail=("enrollment",))
        # A row that rests on a status report alone (no months) is out of date once our unit covers
        # the insurance in the report's month or later — the same test ``_statuses`` applies.
        reported_only = [r for r in rows if not r["months"] and (r["detail"] or {}).get("enrollment")]
        if reported_only:
            ours = _our_last({r["employee_id"] for r in reported_only})
            rows = [
                r
                for r in rows
                if r["months"]
                or not (r["detail"] or {}).get("enrollment")
                or ours.get((r["employee_id"], r["entity_id"], r["insurance"]), 0)
                < int(r["detail"]["enrollment"]["reported_on"][:7].replace("-", ""))
            ]
        # "Still holds": an overlap that ended before the latest two months of the entity's data
        # for the insurance is history (it stays on the reconciliation page), not a blocked enrolment.
        rows = [r for r in rows if _still_running(ctx, r)]
        by_unit: dict[tuple[int, int, int | None], list[dict]] = defaultdict(list)
        for r in rows:
            by_unit[(r["entity_id"], r["employee_id"], r["unit_id"])].append(r)
        statuses = self._statuses(ctx, params, scope)
        spells = {
            (s.employee_id, s.entity_id): s
            for s in ctx.current_spells(Scope()).filter(employee_id__in={k[1] for k in (*by_unit, *statuses)})
        }
        out = []
        for key in sorted(set(by_unit) | set(statuses), key=lambda k: (k[0], k[1], k[2] or 0)):
            entity_id, employee_id, unit_id = key
            spell = spells.get((employee_id, entity_id))
            if spell is None:
                continue
            found = by_unit.get(key, [])
            reported = statuses.get(key, [])
            m = (
                _base_match((entity_id, employee_id, None), found, f"unit{unit_id}")
                if found
                else Match(
                    subject=f"unit{unit_id}",
                    entity_id=entity_id,
                    employee_id=employee_id,
                    department_id=spell.department_id,
                    args={"name": reported[0]["name"], "count": 0},
                    details={"employee_no": spell.employee_no, "discrepancies": []},
                )
            )
            insurances = list(
                dict.fromkeys([r["insurance"] for r in found] + [s["insurance"] for s in reported])
            )
            unit = (found[0]["unit__name"] if found else reported[0]["unit"]) or "其他单位"
            months = sorted({m_ for r in found for m_ in _months_of(r)})
            span = m.args.get("span") or ("状态查询 " + max(s["reported_at"] for s in reported))
            deadline = spell.hire_date + dt.timedelta(days=30)
            amount, missing = months_cost(ctx, entity_id, tuple(insurances), spell.declared_wage, months)
            if not months:  # a status report alone: no months to cost
                amount, missing = None, ["仅有参保状态查询结果，没有缴费月份"]
            m.args.update(
                unit=unit,
                insurances="、".join(_label(i) for i in insurances),
                span=span,
                hire_date=spell.hire_date.isoformat(),
            )
            m.details.update(
                unit=unit,
                insurances=insurances,
                hire_date=spell.hire_date.isoformat(),
                reported_statuses=reported,
                cost_if_ours={"amount": fmt(amount) if amount is not None else None, "missing": missing},
            )
            m.deadline = deadline
            m.amount = amount
            m.citations = _citations(found, self.citations)
            out.append(m)
        return out

    def _statuses(
        self, ctx: Context, params: EnrolledElsewhereParams, scope: Scope
    ) -> dict[tuple, list[dict]]:
        """Units not ours reported ACTIVE for a current employee (at most ``status_lookback_days``
        before the hire), where our unit has no covering record for that insurance since."""
        if ctx.incremental:
            rows = ctx.current_spell_rows() or []
            units = ctx.active_status_units()
            if not any(
                emp == e and unit_entity != ent for emp, ent, _h, _k in rows for e, unit_entity in units
            ):
                return {}  # incremental: no ACTIVE report by a unit not ours
        active_elsewhere = EnrollmentStatus.objects.filter(
            Q(unit__entity_id__isnull=True) | ~Q(unit__entity_id=OuterRef("entity_id")),
            person__employee_id=OuterRef("employee_id"),
            state=EnrollmentStatus.State.ACTIVE,
        )
        spells = list(
            ctx.current_spells(scope)
            .filter(Exists(active_elsewhere))
            .values_list("employee_id", "entity_id", "hire_date", "employee__name")
        )
        if not spells:
            return {}
        by_emp = defaultdict(list)
        for emp, ent, hire, name in spells:
            by_emp[emp].append((ent, hire, name))
        out: dict[tuple, list[dict]] = defaultdict(list)
        rows = (
            EnrollmentStatus.objects.filter(
                person__employee_id__in=list(by_emp), state=EnrollmentStatus.State.ACTIVE
            )
            .order_by()
            .values_list(
                "person__employee_id",
                "insurance",
                "unit_id",
                "unit__entity_id",
                "unit__name",
                "unit__unit_no",
                "since",
                "reported_at",
            )
        )
        ours = _our_last(set(by_emp))
        for emp, ins, unit_id, unit_entity, unit_name, unit_no, since, reported_at in rows:
            for ent, hire, name in by_emp[emp]:
                if unit_entity == ent:
                    continue
                reported = reported_at.date()
                if reported < hire - dt.timedelta(days=params.status_lookback_days):
                    continue
                if ours.get((emp, ent, ins), 0) >= reported.year * 100 + reported.month:
                    continue  # we cover the insurance since the report: the report is out of date
                out[(ent, emp, unit_id)].append(
                    {
                        "insurance": ins,
                        "unit": unit_name or unit_no,
                        "since": since.isoformat() if since else None,
                        "reported_at": reported.isoformat(),
                        "name": name,
                    }
                )
        return out


def _our_last(employee_ids: set[int]) -> dict[tuple[int, int, str], int]:
    """(employee, our entity, insurance) → the last month our unit covers (yyyymm)."""
    ours: dict[tuple[int, int, str], int] = {}
    for emp, ent, ins, period in (
        ContributionRecord.objects.filter(
            person__employee_id__in=list(employee_ids), unit__entity__isnull=False
        )
        .exclude(status__in=("refunded", "unpaid", "arrears"))
        .order_by()
        .values("person__employee_id", "unit__entity_id", "insurance")
        .annotate(last=Max("period"))
        .values_list("person__employee_id", "unit__entity_id", "insurance", "last")
    ):
        ours[(emp, ent, ins)] = period
    return ours


def _still_running(ctx: Context, r: dict) -> bool:
    """A discrepancy resting on a status report, or whose last month is within the latest two
    months the entity's data holds for the insurance."""
    if not r["period_to"]:
        return True
    horizon = ctx.horizon(r["entity_id"], r["insurance"])
    return horizon is None or r["period_to"] >= ym_int(ym_of(horizon) - 1)


def _months_of(r: dict) -> list[int]:
    if not r["period_from"] or not r["period_to"]:
        return []
    return month_ints(r["period_from"], r["period_to"])


# --- leavers --------------------------------------------------------------------------------------


class LeaverParams(Params):
    days: int = Field(0, ge=0, le=365, description=N_("离职后宽限多少天"))


class LeaverNotStopped(RuleKind):
    code = "leaver_not_stopped"
    label = N_("离职未减员")
    summary = N_("员工离职（按增减员截止日）后，本单位仍为其参保缴费或参保状态仍为“参保缴费”")
    default_name = N_("离职后仍在本单位参保")
    severity = Severity.CRITICAL
    citations = ("LCL-50",)
    params = LeaverParams
    titles = {"default": N_("{name}已于 {leave_date} 离职，本单位仍为其缴纳{insurances}（{span}）")}
    explanations = {
        "default": N_(
            "{name}于 {leave_date} 离职，但台账显示本单位在离职后仍为其参保缴费（{insurances}，{span}）。"
            "离职后多缴的费用通常难以追回；用人单位应在解除或者终止劳动合同后十五日内为劳动者办理档案和社会保险关系转移手续（期限 {deadline}）。"
        )
    }
    next_steps = {
        "default": N_(
            "立即办理减员（停保），申请退回多缴的费用；在 {deadline} 前办理社会保险关系转移手续并告知员工。"
        )
    }
    resolved_reason = N_("本单位已停保（离职后不再有缴费记录）")

    def evaluate(self, ctx: Context, params: LeaverParams, scope: Scope) -> list[Match]:
        rows = open_discrepancies(ctx, scope, [K.AFTER_LEAVING], detail=("spell",))
        out = []
        for key, group in _group(rows).items():
            leave = _leave_date(group)
            if leave is None or ctx.as_of <= leave + dt.timedelta(days=params.days):
                continue
            m = _base_match(key, group, f"left{leave.isoformat()}")
            deadline = leave + dt.timedelta(days=15)
            m.args.update(leave_date=leave.isoformat(), deadline=deadline.isoformat())
            m.details["leave_date"] = leave.isoformat()
            m.deadline = deadline
            m.amount = _sum(group)
            m.citations = _citations(group, self.citations)
            out.append(m)
        return out


def _leave_date(rows: list[dict]) -> dt.date | None:
    dates = [
        r["detail"].get("spell", {}).get("leave_date")
        for r in rows
        if isinstance(r["detail"], dict) and r["detail"].get("spell")
    ]
    dates = [d for d in dates if d]
    return dt.date.fromisoformat(max(dates)) if dates else None


# --- bases ----------------------------------------------------------------------------------------


class BaseRangeParams(Params):
    below_min: bool = Field(True, description=N_("低于下限"))
    above_max: bool = Field(True, description=N_("高于上限"))


class BaseOutOfRange(RuleKind):
    code = "base_out_of_range"
    label = N_("缴费基数超出上下限")
    summary = N_("本单位申报的缴费基数低于当地下限或高于上限（按政策库中有来源的上下限）")
    default_name = N_("缴费基数低于下限或高于上限")
    severity = Severity.WARNING
    citations = ("SIL-60",)
    params = BaseRangeParams
    titles = {"default": N_("{name}的缴费基数超出当地上下限（{insurances}，{span}）")}
    explanations = {
        "default": N_(
            "{name}在 {span} 的{insurances}缴费基数超出当地缴费基数上下限，共 {count} 段。低于下限会被要求补缴差额并可能加收滞纳金；"
            "高于上限的部分多缴。上下限及其来源见下方证据。"
        )
    }
    next_steps = {
        "default": N_("核对{name}的缴费基数，在下次基数申报或调整时更正；低于下限的月份评估补缴差额。")
    }
    resolved_reason = N_("缴费基数已在上下限之内")

    def evaluate(self, ctx: Context, params: BaseRangeParams, scope: Scope) -> list[Match]:
        kinds = [
            k for k, on in ((K.BASE_BELOW_MIN, params.below_min), (K.BASE_ABOVE_MAX, params.above_max)) if on
        ]
        if not kinds:
            return []
        out = []
        for key, group in _group(open_discrepancies(ctx, scope, kinds)).items():
            m = _base_match(key, group, "base_range")
            m.amount = _sum(group)
            m.citations = _citations(group, self.citations)
            out.append(m)
        return out


class BaseMismatchParams(Params):
    tolerance_yuan: Decimal = Field(Decimal("1"), ge=1, le=100000, description=N_("允许相差的金额（元）"))
    tolerance_percent: Decimal = Field(Decimal("0"), ge=0, le=100, description=N_("允许相差的比例（%）"))


class BaseMismatch(RuleKind):
    code = "base_mismatch"
    label = N_("缴费基数与申报工资不符")
    summary = N_("本单位申报的缴费基数与花名册中的申报工资（按上下限调整后）相差超过容差")
    default_name = N_("缴费基数与申报工资不符")
    severity = Severity.WARNING
    citations = ("SIL-60", "SIL-86")
    params = BaseMismatchParams
    titles = {"default": N_("{name}的缴费基数与申报工资不符（{insurances}，{span}，最大相差 {max_diff} 元）")}
    explanations = {
        "default": N_(
            "{name}在 {span} 的{insurances}缴费基数与花名册申报工资（按当地上下限调整后）相差超过 {tolerance}，最大相差 {max_diff} 元。"
            "用人单位应按职工工资总额申报缴费基数；少报基数会被要求补缴差额和滞纳金。"
        )
    }
    next_steps = {
        "default": N_(
            "核对{name}的工资与申报基数：工资有误的更正花名册，基数有误的在下次申报时更正并评估补缴。"
        )
    }
    resolved_reason = N_("缴费基数与申报工资已一致（在容差之内）")

    def evaluate(self, ctx: Context, params: BaseMismatchParams, scope: Scope) -> list[Match]:
        rows = []
        for r in open_discrepancies(ctx, scope, [K.BASE_MISMATCH], detail=("segments",)):
            diff = _max_difference(r, params)
            if diff is not None:
                r["_diff"] = diff
                rows.append(r)
        out = []
        tolerance = f"{fmt(params.tolerance_yuan)} 元"
        if params.tolerance_percent:
            tolerance += f"且超过 {fmt(params.tolerance_percent)}%"
        for key, group in _group(rows).items():
            m = _base_match(key, group, "base_mismatch")
            m.args.update(max_diff=fmt(max(r["_diff"] for r in group)), tolerance=tolerance)
            m.amount = _sum(group)
            m.citations = _citations(group, self.citations)
            out.append(m)
        return out


def _max_difference(r: dict, params: BaseMismatchParams) -> Decimal | None:
    """The largest base difference beyond the tolerance in the discrepancy's segments, or None."""
    best = None
    for seg in (r["detail"] or {}).get("segments", []):
        try:
            recorded, expected = Decimal(str(seg["recorded_base"])), Decimal(str(seg["expected_base"]))
        except (KeyError, ArithmeticError, ValueError):
            continue
        diff = abs(recorded - expected)
        limit = max(params.tolerance_yuan, expected * params.tolerance_percent / 100)
        if diff > limit and (best is None or diff > best):
            best = diff
    return best


# --- arrears --------------------------------------------------------------------------------------


class ArrearsParams(Params):
    min_months: int = Field(1, ge=1, le=120, description=N_("欠缴至少多少个月"))


class Arrears(RuleKind):
    code = "arrears"
    label = N_("欠缴")
    summary = N_("本单位已申报或已出账但未缴纳的月份：欠缴金额及截至今日的滞纳金（每日万分之五）")
    default_name = N_("社保欠缴")
    severity = Severity.CRITICAL
    citations = ("SIL-63", "SIL-86")
    params = ArrearsParams
    # Variants by what is known: a fee the city's due day is not on record for (or a month recorded
    # without an amount) is not "未知 元" but said to be unknown.
    titles = {
        "default": N_(
            "{name}有 {months} 个月欠缴（{insurances}，{span}），欠缴 {owed} 元，滞纳金已达 {fee} 元"
        ),
        "fee_unknown": N_(
            "{name}有 {months} 个月欠缴（{insurances}，{span}），欠缴 {owed} 元，滞纳金无法计算"
        ),
        "owed_unknown": N_(
            "{name}有 {months} 个月欠缴（{insurances}，{span}），记录中没有欠缴金额，滞纳金无法计算"
        ),
    }
    explanations = {
        "default": N_(
            "台账显示{name}在 {span} 的{insurances}已申报但未缴纳，共 {months} 个月、{owed} 元。"
            "逾期缴纳的，自欠缴之日起按日加收万分之五的滞纳金（截至 {as_of} 约 {fee} 元）；逾期仍不缴纳的，处欠缴数额一倍以上三倍以下的罚款。"
        ),
        "fee_unknown": N_(
            "台账显示{name}在 {span} 的{insurances}已申报但未缴纳，共 {months} 个月、{owed} 元。"
            "逾期缴纳的，自欠缴之日起按日加收万分之五的滞纳金（无法计算的原因见下方证据）；逾期仍不缴纳的，处欠缴数额一倍以上三倍以下的罚款。"
        ),
        "owed_unknown": N_(
            "台账显示{name}在 {span} 的{insurances}已申报但未缴纳，共 {months} 个月，记录中没有金额。"
            "逾期缴纳的，自欠缴之日起按日加收万分之五的滞纳金；逾期仍不缴纳的，处欠缴数额一倍以上三倍以下的罚款。"
        ),
    }
    next_steps = {
        "default": N_("尽快足额缴纳欠缴的费用（滞纳金按日增加）；核实欠缴原因（扣款失败、账户余额不足等）。")
    }
    resolved_reason = N_("欠缴的月份已缴纳")

    def evaluate(self, ctx: Context, params: ArrearsParams, scope: Scope) -> list[Match]:
        out = []
        for key, group in _group(open_discrepancies(ctx, scope, [K.UNPAID], detail=("records",))).items():
            months = {(r["insurance"], p) for r in group for p in _months_of(r)}
            if len({p for _, p in months}) < params.min_months:
                continue
            m = _base_match(key, group, "arrears")
            owed = _sum(group)
            fee, notes = _late_fees(ctx, key[0], group)
            m.variant = "owed_unknown" if owed is None else ("fee_unknown" if fee is None else "default")
            m.args.update(
                months=len({p for _, p in months}),
                owed=fmt(owed) if owed is not None else "未知",
                fee=fmt(fee) if fee is not None else "未知",
                as_of=ctx.as_of.isoformat(),
            )
            m.details["late_fee"] = {
                "amount": fmt(fee) if fee is not None else None,
                "as_of": ctx.as_of.isoformat(),
                "notes": notes,
            }
            m.amount = None if owed is None else q2(owed + (fee or ZERO))
            m.citations = _citations(group, self.citations)
            out.append(m)
        return out


def _due_day(ctx: Context, entity, month: YearMonth):
    """The city's 缴费截止日 for the month (cached for the evaluation), or None when not on record."""
    key = ("due_day", entity.pk, month)
    if key not in ctx.cache:
        try:
            ctx.cache[key] = policy_period_for_entity(entity, month.first_day).payment_due_day.value
        except LookupError:
            ctx.cache[key] = None
    return ctx.cache[key]


def _late_fees(ctx: Context, entity_id: int, rows: list[dict]) -> tuple[Decimal | None, list[str]]:
    """万分之五 a day on each month's unpaid amount from the month's due date (the city's 缴费截止日)."""
    entity = ctx.entity(entity_id)
    total = ZERO
    notes: list[str] = []
    for r in rows:
        for rec in (r["detail"] or {}).get("records", []):
            try:
                month = YearMonth.parse(rec["period"])
                amount = Decimal(rec["employer"] or "0") + Decimal(rec["employee"] or "0")
            except (KeyError, ValueError, ArithmeticError):
                continue
            day = _due_day(ctx, entity, month)
            if day is None:
                note = f"{entity.city.name}的缴费截止日未收录，滞纳金无法计算"
                if note not in notes:
                    notes.append(note)
                return None, notes
            due = month.on_day(int(day))
            if due >= ctx.as_of:
                continue  # not yet due: no fee for this month so far
            if amount <= 0:
                # The record states no amount: the fee cannot be computed (late_fee refuses 0).
                notes.append(f"{month} 的记录没有金额，滞纳金无法计算")
                return None, notes
            total += late_fee(amount=amount, due=due, paid=ctx.as_of).fee
    return q2(total), notes


# --- unknown people -------------------------------------------------------------------------------


class UnknownEnrolleeParams(Params):
    pass


class UnknownEnrollee(RuleKind):
    code = "unknown_enrollee"
    label = N_("花名册外参保人员")
    summary = N_("本单位为其参保缴费、但花名册中没有的人员（为不在职的人缴费是实打实的损失）")
    default_name = N_("本单位为花名册外人员缴费")
    severity = Severity.WARNING
    citations = ()
    subject_type = "person"
    params = UnknownEnrolleeParams
    titles = {"default": N_("{name}不在花名册中，但本单位为其缴纳{insurances}（{span}）")}
    explanations = {
        "default": N_(
            "台账显示本单位在 {span} 为{name}缴纳{insurances}，但花名册中找不到此人（按证件号码匹配）。"
            "可能是花名册漏录、证件号码录错，或为已离职/非本单位人员缴费。"
        )
    }
    next_steps = {
        "default": N_(
            "核实此人身份：在职的补录花名册；证件号码录错的更正；不是本单位员工的立即减员并申请退费。"
        )
    }
    resolved_reason = N_("已在花名册中找到此人，或本单位已不再为其缴费")

    def evaluate(self, ctx: Context, params: UnknownEnrolleeParams, scope: Scope) -> list[Match]:
        out = []
        # Reconciliation lists everyone with records in the entity's data; only those our own unit
        # pays for (or reports enrolled) are this kind's: a candidate's 权益记录 uploaded before
        # they join shows only another employer's months.
        ours = Q(Exists(
            ContributionRecord.objects.filter(
                person_id=OuterRef("person_id"), unit__entity_id=OuterRef("entity_id")
            ).exclude(status=ContributionRecord.Status.REFUNDED)
        )) | Q(Exists(
            EnrollmentStatus.objects.filter(
                person_id=OuterRef("person_id"),
                unit__entity_id=OuterRef("entity_id"),
                state=EnrollmentStatus.State.ACTIVE,
            )
        ))  # fmt: skip
        for key, group in _group(
            open_discrepancies(
                ctx, scope, [K.UNKNOWN_PERSON], ours, detail=("name", "first", "last", "insurances")
            )
        ).items():
            entity_id, _emp, person_id = key
            detail = group[0]["detail"] or {}
            m = _base_match(key, group, f"entity{entity_id}")
            first, last = detail.get("first"), detail.get("last")
            span = first if first == last else f"{first}至{last}"
            m.args.update(
                name=detail.get("name") or group[0]["person__name"] or "",
                span=span or "—",
                insurances="、".join(_label(i) for i in detail.get("insurances", [])) or "社保",
            )
            m.amount = _sum(group)
            out.append(m)
        return out


__all__ = [
    "Arrears",
    "BaseMismatch",
    "BaseOutOfRange",
    "EnrolledElsewhere",
    "LeaverNotStopped",
    "UnknownEnrollee",
]
