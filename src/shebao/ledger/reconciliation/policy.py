"""The policy figures one entity's reconciliation needs, read once and cached for the run.

Per month: the city's period (with the entity's own rates, as ``policy_period_for_entity``
gives it), the insurances it lists, the base bounds per insurance, the 增减员截止日; per
(period, insurance, base): the calculator's line, so a wage shared by many months or people is
computed once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from shebao.core.money import fmt
from shebao.core.yearmonth import YearMonth
from shebao.ledger.reconciliation.months import yyyymm_of
from shebao.org.models import Entity
from shebao.policy import terms
from shebao.policy.calculators import CalcError, contribution
from shebao.policy.calculators.contribution import ContributionLine
from shebao.policy.models import EntityPolicySetting
from shebao.policy.selectors import policy_period_for_entity, policy_periods
from shebao.policy.terms import CONFIDENCE_LABELS, Insurance

# The insurances reconciliation expects (the fixed-amount 医疗附加 is not a coverage question).
CORE_INSURANCES = (
    Insurance.PENSION,
    Insurance.MEDICAL,
    Insurance.MATERNITY,
    Insurance.UNEMPLOYMENT,
    Insurance.WORK_INJURY,
    Insurance.HOUSING_FUND,
)
_CORE = {i.value for i in CORE_INSURANCES}


def figure_info(figure: terms.Figure) -> dict[str, Any]:
    """A figure as the detail JSON shows it: value, confidence, source."""
    value = figure.value
    if isinstance(value, Decimal):
        value = format(value, "f")
    return {
        "value": value,
        "confidence": figure.confidence.value,
        "confidence_label": CONFIDENCE_LABELS[figure.confidence],
        "source": figure.source,
        "verified": figure.verified,
    }


@dataclass(frozen=True)
class Bounds:
    """An insurance's base bounds in one month, as floats for the scan and figures for the detail."""

    key: tuple[int, bool] | None  # (period pk, entity overrides applied); None: no period
    label: str  # 北京 2024年度
    lo: float | None
    hi: float | None
    base_min: terms.Figure
    base_max: terms.Figure


NO_PERIOD = Bounds(None, "", None, None, terms.MISSING, terms.MISSING)


class EntityPolicy:
    """Policy reads for one entity, cached for one reconciliation run."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        self.city_name = entity.city.name
        self.setting = EntityPolicySetting.objects.filter(entity=entity).first()
        # (effective_from, effective_to, pk) of the city's periods; the covering period of a month
        # is chosen as policy_period_for does (latest effective_from, then highest pk).
        self._spans = [(p.effective_from, p.effective_to, p.pk, p.label) for p in policy_periods(entity.city)]
        self._by_mi: dict[int, tuple[int, bool] | None] = {}
        self._terms: dict[tuple[int, bool], terms.PolicyPeriod] = {}
        self._bounds: dict[tuple[tuple[int, bool] | None, str], Bounds] = {}
        self._lines: dict[tuple, ContributionLine | str] = {}
        # (period key, insurance) → the period without that insurance's bounds (line(bounded=False))
        self._unbounded: dict[tuple[tuple[int, bool], Insurance], terms.PolicyPeriod] = {}
        self._overrides = bool(
            self.setting
            and any(
                v is not None
                for v in (
                    self.setting.work_injury_rate,
                    self.setting.housing_fund_employer_rate,
                    self.setting.housing_fund_employee_rate,
                )
            )
        )

    # --- periods -----------------------------------------------------------------------------

    def period_key(self, mi: int) -> tuple[int, bool] | None:
        try:
            return self._by_mi[mi]
        except KeyError:
            pass
        first = dt.date(mi // 12, mi % 12 + 1, 1)
        covering = [s for s in self._spans if s[0] <= first and (s[1] is None or first <= s[1])]
        key = None
        if covering:
            span = max(covering, key=lambda s: (s[0], s[2]))
            active = self._overrides and not (
                self.setting and self.setting.effective_from and first < self.setting.effective_from
            )
            key = (span[2], active)
            if key not in self._terms:
                self._terms[key] = policy_period_for_entity(self.entity, first)
        self._by_mi[mi] = key
        return key

    def period(self, mi: int) -> terms.PolicyPeriod | None:
        key = self.period_key(mi)
        return None if key is None else self._terms[key]

    def label(self, key: tuple[int, bool] | None) -> str:
        if key is None:
            return ""
        p = self._terms[key]
        return f"{p.city_name} {p.label}"

    def listed(self, insurance: str, mi: int) -> bool | None:
        """Does the month's city period list the insurance (maternity merged into medical does not
        count)? None when no period covers the month."""
        period = self.period(mi)
        if period is None:
            return None
        item = period.items.get(Insurance(insurance)) if insurance in _CORE else None
        return item is not None and item.merged_into is None

    def merged(self, insurance: str, mi: int) -> bool:
        period = self.period(mi)
        item = period.items.get(Insurance(insurance)) if period and insurance in _CORE else None
        return bool(item and item.merged_into)

    def bounds(self, insurance: str, mi: int) -> Bounds:
        key = self.period_key(mi)
        try:
            return self._bounds[(key, insurance)]
        except KeyError:
            pass
        if key is None or insurance not in _CORE:
            value = (
                NO_PERIOD
                if key is None
                else Bounds(key, self.label(key), None, None, terms.MISSING, terms.MISSING)
            )
        else:
            item = self._terms[key].items.get(Insurance(insurance))
            low = item.base_min if item else terms.MISSING
            high = item.base_max if item else terms.MISSING
            value = Bounds(
                key,
                self.label(key),
                None if low.value is None else float(low.value),
                None if high.value is None else float(high.value),
                low,
                high,
            )
        self._bounds[(key, insurance)] = value
        return value

    # --- 增减员截止日 ---------------------------------------------------------------------------

    def cutoff(self, mi: int) -> tuple[int | None, dict[str, Any]]:
        """D for a month: the entity's setting, else the city period's figure, else unknown."""
        if self.setting and self.setting.cutoff_day:
            return self.setting.cutoff_day, {
                "day": self.setting.cutoff_day,
                "source": "参保主体设置" + (f"（依据：{self.setting.basis}）" if self.setting.basis else ""),
                "origin": "entity_setting",
            }
        period = self.period(mi)
        if period is not None and period.cutoff_day.known:
            day = int(period.cutoff_day.value)
            return day, {"day": day, "origin": "city_policy", **figure_info(period.cutoff_day)}
        return None, {"day": None, "origin": "unknown", "source": "未设置"}

    # --- amounts -----------------------------------------------------------------------------

    def line(self, insurance: str, mi: int, base: Decimal, *, bounded: bool = True) -> ContributionLine | str:
        """The calculator's line for one month at ``base`` (clamped to the bounds unless
        ``bounded`` is False: what a recorded base outside them actually charges). A string
        says why there is none."""
        key = self.period_key(mi)
        if key is None:
            return f"{yyyymm_of(mi)} 无政策期间"
        cache_key = (key, insurance, base, bounded)
        try:
            return self._lines[cache_key]
        except KeyError:
            pass
        period = self._terms[key]
        ins = Insurance(insurance)
        if not bounded and ins in period.items:
            try:
                period = self._unbounded[(key, ins)]
            except KeyError:
                items = dict(period.items)
                items[ins] = replace(items[ins], base_min=terms.MISSING, base_max=terms.MISSING)
                period = self._unbounded[(key, ins)] = replace(period, items=items)
        try:
            result = contribution(period, month=YearMonth(mi // 12, mi % 12 + 1), base=base, insurances=[ins])
            value: ContributionLine | str = result.line(ins)
        except (CalcError, KeyError) as exc:
            value = getattr(exc, "message", None) or f"{ins.label}无法计算"
        self._lines[cache_key] = value
        return value


def line_missing(line: ContributionLine | str) -> list[str]:
    """What keeps a line from an amount: ["工伤保险 单位费率未收录"]."""
    if isinstance(line, str):
        return [line]
    out = []
    if line.employer_amount is None:
        out.append(f"{line.label} 单位费率未收录")
    if line.employee_amount is None:
        out.append(f"{line.label} 个人费率未收录")
    return out


def line_info(line: ContributionLine) -> dict[str, Any]:
    return {
        "base": fmt(line.base),
        "employer_rate": figure_info(line.employer_rate),
        "employee_rate": figure_info(line.employee_rate),
        "base_min": figure_info(line.base_min),
        "base_max": figure_info(line.base_max),
    }
