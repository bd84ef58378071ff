"""One month's contributions for one employee: base clamped to the city's bounds, times each rate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shebao.core.money import ZERO, fmt, q2, round_by
from shebao.core.yearmonth import YearMonth
from shebao.policy.terms import (
    MISSING,
    Confidence,
    EntityOverrides,
    Figure,
    Insurance,
    InsuranceTerms,
    PolicyPeriod,
    Rounding,
)

from ._base import RATE, CalcError, Serialisable, figure_decimal, pct, positive

__all__ = ["ContributionLine", "ContributionResult", "MissingFigure", "contribution", "period_span"]

_SHORT = {
    Insurance.PENSION: "养老",
    Insurance.MEDICAL: "医疗",
    Insurance.MATERNITY: "生育",
    Insurance.UNEMPLOYMENT: "失业",
    Insurance.WORK_INJURY: "工伤",
    Insurance.HOUSING_FUND: "公积金",
    Insurance.MEDICAL_SUPPLEMENT: "医疗附加",
}
_LINE_CITATIONS = {
    Insurance.PENSION: ("SIL-12",),
    Insurance.MEDICAL: ("SIL-23",),
    Insurance.MATERNITY: ("SIL-53",),
    Insurance.UNEMPLOYMENT: ("SIL-44",),
    Insurance.WORK_INJURY: ("SIL-33", "SIL-35"),
    Insurance.HOUSING_FUND: ("HFR-18",),
    Insurance.MEDICAL_SUPPLEMENT: (),
}
# The statute itself says employees pay nothing here, so a missing employee rate is a known zero.
_STATUTORY_NO_EMPLOYEE_SHARE = {
    Insurance.WORK_INJURY: Figure(
        Decimal(0), Confidence.OFFICIAL, "社会保险法第三十三条：职工不缴纳工伤保险费"
    ),
    Insurance.MATERNITY: Figure(
        Decimal(0), Confidence.OFFICIAL, "社会保险法第五十三条：职工不缴纳生育保险费"
    ),
}
# Charged as a fixed monthly amount, not base × rate (e.g. Beijing's 大额医疗互助).
_FIXED_ONLY = {Insurance.MEDICAL_SUPPLEMENT}
_HF_MIN_RATE = Decimal("0.05")  # 住房公积金管理条例第十八条
_HF_COMMON_MAX_RATE = Decimal("0.12")  # 建金〔2005〕5号, original not verified: warn, never reject
_FIELD_LABELS = {
    "employer_rate": "单位费率",
    "employee_rate": "个人费率",
    "employer_fixed": "单位固定金额",
    "employee_fixed": "个人固定金额",
}


@dataclass(frozen=True)
class MissingFigure(Serialisable):
    insurance: Insurance
    field: str  # employer_rate / employee_rate / employer_fixed / employee_fixed
    label: str  # "养老保险 单位费率"


@dataclass(frozen=True)
class ContributionLine(Serialisable):
    insurance: Insurance
    label: str
    declared_base: Decimal
    base: Decimal  # declared base clamped to [base_min, base_max] where known
    clamped: str | None  # "min" / "max" / None
    missing_bounds: tuple[str, ...]  # "base_min" / "base_max" not on record, so not checked
    base_min: Figure
    base_max: Figure
    employer_rate: Figure = field(metadata=RATE)
    employee_rate: Figure = field(metadata=RATE)
    employer_fixed: Figure = MISSING
    employee_fixed: Figure = MISSING
    rounding: Rounding = Rounding.FEN
    employer_amount: Decimal | None = None  # None: a figure is missing, never a guessed 0
    employee_amount: Decimal | None = None
    complete: bool = False
    overridden: tuple[str, ...] = ()  # figures taken from the entity's overrides
    merged: tuple[Insurance, ...] = ()  # insurances collected within this line (生育并入医疗)
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    citations: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal | None:
        if self.employer_amount is None or self.employee_amount is None:
            return None
        return self.employer_amount + self.employee_amount

    def _extra(self) -> dict[str, Any]:
        return {
            "total": None if self.total is None else fmt(self.total),
            "rounding_label": self.rounding.label,
        }


@dataclass(frozen=True)
class ContributionResult(Serialisable):
    city_code: str
    city_name: str
    period_label: str
    period_id: int | None
    effective_from: dt.date
    effective_to: dt.date | None
    month: YearMonth
    declared_base: Decimal
    lines: tuple[ContributionLine, ...]
    employer_total: Decimal  # over complete lines only
    employee_total: Decimal
    total: Decimal
    complete: bool
    missing: tuple[MissingFigure, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    citations: tuple[str, ...]

    def line(self, insurance: Insurance) -> ContributionLine:
        for line in self.lines:
            if line.insurance is insurance:
                return line
        raise KeyError(insurance)


def period_span(period: PolicyPeriod) -> str:
    if period.effective_to is None:
        return f"{period.effective_from.isoformat()} 起"
    return f"{period.effective_from.isoformat()} 至 {period.effective_to.isoformat()}"


def _check_rate(figure: Figure, *, what: str, field: str) -> Decimal | None:
    rate = figure_decimal(figure)
    if rate is not None and not Decimal(0) <= rate < 1:
        # 16 instead of 0.16 is the usual slip; say so rather than charging 1600 %.
        raise CalcError(f"{what}“{rate}”无效：费率应为 0 到 1 之间的小数（0.16 表示 16%）", field=field)
    return rate


def _overridden_rates(
    insurance: Insurance, terms: InsuranceTerms, overrides: EntityOverrides | None
) -> tuple[Figure, Figure, tuple[str, ...], list[str], list[str]]:
    employer, employee = terms.employer_rate, terms.employee_rate
    used: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []
    if overrides is None:
        return employer, employee, (), notes, warnings
    if insurance is Insurance.WORK_INJURY and overrides.work_injury_rate.known:
        _check_rate(overrides.work_injury_rate, what="工伤保险单位费率", field="work_injury_rate")
        employer = overrides.work_injury_rate
        used.append("employer_rate")
        notes.append("工伤单位费率使用本单位核定的行业费率")
    if insurance is Insurance.HOUSING_FUND:
        for side, figure, name in (
            ("单位", overrides.housing_fund_employer_rate, "employer_rate"),
            ("个人", overrides.housing_fund_employee_rate, "employee_rate"),
        ):
            if not figure.known:
                continue
            field_name = f"housing_fund_{name}"
            rate = _check_rate(figure, what=f"住房公积金{side}缴存比例", field=field_name)
            assert rate is not None
            if rate < _HF_MIN_RATE:
                raise CalcError(
                    f"住房公积金{side}缴存比例 {pct(rate)} 低于法定下限 5%（住房公积金管理条例第十八条）",
                    field=field_name,
                    citations=("HFR-18",),
                )
            if rate > _HF_COMMON_MAX_RATE:
                warnings.append(
                    f"住房公积金{side}缴存比例 {pct(rate)} 高于常见上限 12%（该上限的文件原文未核实，请向当地公积金中心确认）"
                )
            if name == "employer_rate":
                employer = figure
            else:
                employee = figure
            used.append(name)
        if used:
            notes.append("住房公积金缴存比例使用本单位选定的比例")
    return employer, employee, tuple(used), notes, warnings


def _side_amount(
    insurance: Insurance, base: Decimal, rate: Decimal | None, fixed: Figure, rounding: Rounding
) -> Decimal | None:
    fixed_value = figure_decimal(fixed)
    if rate is None:
        # Only a fixed-amount item may do without a rate; anywhere else the amount is unknown.
        return q2(fixed_value) if insurance in _FIXED_ONLY and fixed_value is not None else None
    return q2(round_by(base * rate, rounding) + (fixed_value or 0))


def _line(
    insurance: Insurance,
    terms: InsuranceTerms,
    declared: Decimal,
    overrides: EntityOverrides | None,
    merged: tuple[Insurance, ...],
) -> ContributionLine:
    label = insurance.label
    employer_fig, employee_fig, overridden, notes, warnings = _overridden_rates(insurance, terms, overrides)
    if not employee_fig.known and insurance in _STATUTORY_NO_EMPLOYEE_SHARE:
        employee_fig = _STATUTORY_NO_EMPLOYEE_SHARE[insurance]
    employer_rate = _check_rate(employer_fig, what=f"{label}单位费率", field="period")
    employee_rate = _check_rate(employee_fig, what=f"{label}个人费率", field="period")
    if insurance in _STATUTORY_NO_EMPLOYEE_SHARE and employee_rate:
        warnings.append(
            f"{label}个人费率应为 0（{_STATUTORY_NO_EMPLOYEE_SHARE[insurance].source}），请核对政策数据"
        )

    base, clamped, missing_bounds = declared, None, ()
    if insurance not in _FIXED_ONLY:
        low, high = figure_decimal(terms.base_min), figure_decimal(terms.base_max)
        if low is not None and high is not None and low > high:
            raise CalcError(f"{label}缴费基数下限 {low} 高于上限 {high}，请核对政策数据", field="period")
        missing_bounds = tuple(n for n, v in (("base_min", low), ("base_max", high)) if v is None)
        if low is not None and declared < low:
            base, clamped = low, "min"
        elif high is not None and declared > high:
            base, clamped = high, "max"
        for name in missing_bounds:
            which = "下限" if name == "base_min" else "上限"
            notes.append(f"缴费基数{which}未收录，未按{which}调整申报基数")

    employer = _side_amount(insurance, base, employer_rate, terms.employer_fixed, terms.rounding)
    employee = _side_amount(insurance, base, employee_rate, terms.employee_fixed, terms.rounding)
    what = "固定金额" if insurance in _FIXED_ONLY else "费率"
    if employer is None:
        notes.append(f"缺少单位{what}（未收录）")
    if employee is None:
        notes.append(f"缺少个人{what}（未收录）")
    notes.extend(f"{_SHORT[m]}并入{_SHORT[insurance]}" for m in merged)
    if terms.note:
        notes.append(terms.note)
    return ContributionLine(
        insurance=insurance,
        label=label,
        declared_base=declared,
        base=base,
        clamped=clamped,
        missing_bounds=missing_bounds,
        base_min=terms.base_min,
        base_max=terms.base_max,
        employer_rate=employer_fig,
        employee_rate=employee_fig,
        employer_fixed=terms.employer_fixed,
        employee_fixed=terms.employee_fixed,
        rounding=terms.rounding,
        employer_amount=employer,
        employee_amount=employee,
        complete=employer is not None and employee is not None,
        overridden=overridden,
        merged=merged,
        notes=tuple(notes),
        warnings=tuple(warnings),
        citations=_LINE_CITATIONS[insurance],
    )


def _missing(line: ContributionLine) -> list[MissingFigure]:
    out = []
    for side in ("employer", "employee"):
        if getattr(line, f"{side}_amount") is None:
            name = f"{side}_fixed" if line.insurance in _FIXED_ONLY else f"{side}_rate"
            out.append(MissingFigure(line.insurance, name, f"{line.label} {_FIELD_LABELS[name]}"))
    return out


def contribution(
    period: PolicyPeriod,
    *,
    month: YearMonth,
    base: Decimal | int | str,
    overrides: EntityOverrides | None = None,
    insurances: Iterable[Insurance] | None = None,
) -> ContributionResult:
    """Employer and employee contributions for ``month`` at the declared ``base``, line by line.

    Lines whose rate is not on record are returned with ``None`` amounts and ``complete=False``;
    totals add up complete lines only, and ``missing`` lists what would complete them.
    """
    if not period.covers(month.first_day):
        raise CalcError(f"{month} 不在所选政策期间（{period_span(period)}）内", field="month")
    declared = positive(base, field="base", message="缴费基数必须大于0")

    wanted = list(period.items) if insurances is None else [Insurance(i) for i in insurances]
    order = list(Insurance)
    wanted = sorted(dict.fromkeys(wanted), key=order.index)
    merged_into = {i: t.merged_into for i, t in period.items.items() if t.merged_into is not None}
    notes: list[str] = []
    lines: list[ContributionLine] = []
    for insurance in wanted:
        if insurance in merged_into:
            target = merged_into[insurance]
            if target not in wanted:
                notes.append(f"{insurance.label}已并入{target.label}，不单独计算")
            continue
        terms = period.items.get(insurance)
        if terms is None:
            terms = InsuranceTerms(insurance, note=f"该政策期间未收录{insurance.label}")
        merged = tuple(m for m, t in merged_into.items() if t is insurance)
        lines.append(_line(insurance, terms, declared, overrides, merged))
    if not lines:
        raise CalcError(
            "；".join(notes) or "该政策期间未收录任何险种的基数和费率，无法计算", field="insurances"
        )

    complete_lines = [line for line in lines if line.complete]
    employer_total = sum((line.employer_amount or ZERO for line in complete_lines), ZERO)
    employee_total = sum((line.employee_amount or ZERO for line in complete_lines), ZERO)
    missing = tuple(m for line in lines for m in _missing(line))
    if missing:
        notes.append("部分险种的费率未收录，合计只包含数据完整的险种")
    citations = tuple(dict.fromkeys(c for line in lines for c in line.citations))
    return ContributionResult(
        city_code=period.city_code,
        city_name=period.city_name,
        period_label=period.label,
        period_id=period.period_id,
        effective_from=period.effective_from,
        effective_to=period.effective_to,
        month=month,
        declared_base=declared,
        lines=tuple(lines),
        employer_total=employer_total,
        employee_total=employee_total,
        total=employer_total + employee_total,
        complete=not missing,
        missing=missing,
        warnings=tuple(w for line in lines for w in line.warnings),
        notes=tuple(notes),
        citations=citations,
    )
