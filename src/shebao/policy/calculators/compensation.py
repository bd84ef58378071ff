"""Economic compensation (经济补偿) under 劳动合同法第四十七条."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from shebao.core.money import fmt, q2
from shebao.policy.terms import Figure

from ._base import NUMBER, CalcError, Serialisable, figure_decimal, plain_date, positive

__all__ = ["CompensationResult", "compensation", "tenure"]

_CAP_MULTIPLE = 3
_CAP_YEARS = Decimal(12)
_LCL_IN_FORCE = dt.date(2008, 1, 1)


@dataclass(frozen=True)
class CompensationResult(Serialisable):
    hired: dt.date
    left: dt.date
    tenure_years: int
    tenure_months: int  # remainder after full years
    tenure_days: int  # remainder after full months
    months: Decimal = field(metadata=NUMBER)  # compensation months: "6.5"
    monthly_wage: Decimal = Decimal(0)
    average_wage: Figure | None = None
    cap_wage: Decimal | None = None  # 3 × average wage, when known
    wage_used: Decimal = Decimal(0)
    capped: bool = False
    cap_checked: bool = False
    amount: Decimal = Decimal(0)
    notes: tuple[str, ...] = ()
    citations: tuple[str, ...] = ("LCL-47",)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def tenure(hired: dt.date, left: dt.date) -> tuple[int, int, int]:
    """(years, months, days) worked from ``hired`` through ``left``, both days included.

    The last day counts as worked, so 2024-01-01 → 2024-06-30 is exactly six months (满六个月),
    the way a fixed-term contract "2024年1月1日至2024年6月30日" is read.
    """
    end = left + dt.timedelta(days=1)
    months = (end.year - hired.year) * 12 + end.month - hired.month
    if _add_months(hired, months) > end:
        months -= 1
    days = (end - _add_months(hired, months)).days
    years, rest = divmod(months, 12)
    return years, rest, days


def compensation(
    *,
    hired: dt.date,
    left: dt.date,
    monthly_wage: Decimal | int | str,
    average_wage: Figure | None = None,
) -> CompensationResult:
    """One month's wage per full year; ≥ 6 months left over → one more month, < 6 months → half.

    Above 3 × the local average wage, the wage is capped at 3 × average and the years at 12.
    Without the average wage the cap cannot be checked; the result says so instead of assuming none.
    """
    hired, left = plain_date(hired, "hired"), plain_date(left, "left")
    if left < hired:
        raise CalcError(f"离职日期早于入职日期：{left.isoformat()} 早于 {hired.isoformat()}", field="left")
    wage = positive(monthly_wage, field="monthly_wage", message="月工资必须大于0")
    years, rest_months, rest_days = tenure(hired, left)
    months = Decimal(years)
    if rest_months >= 6:
        months += 1
    elif rest_months or rest_days:
        months += Decimal("0.5")

    notes = [
        "工作年限按入职日至离职日（含当日）计算",
        "月工资指劳动合同解除或者终止前十二个月的平均工资（劳动合同法第四十七条第三款）",
    ]
    avg = None if average_wage is None else figure_decimal(average_wage)
    cap_wage, wage_used, capped = None, wage, False
    if avg is None:
        notes.append(
            "未收录本地区上年度职工月平均工资，无法核对三倍封顶：若月工资高于其三倍，"
            "应按三倍计算且年限最高十二年，实际补偿会低于本结果"
        )
    else:
        if avg <= 0:
            raise CalcError("本地区上年度职工月平均工资必须大于0", field="average_wage")
        cap_wage = avg * _CAP_MULTIPLE
        if wage > cap_wage:
            wage_used, capped = cap_wage, True
            months = min(months, _CAP_YEARS)
            notes.append(
                f"月工资 {fmt(wage)} 高于本地区上年度职工月平均工资三倍 {fmt(cap_wage)}，"
                "按三倍计算，年限最高十二年"
            )
    if hired < _LCL_IN_FORCE:
        notes.append(
            "入职早于2008-01-01：劳动合同法施行前的工作年限按当时规定计算（劳动合同法第九十七条，"
            "条文未收录），本结果统一按第四十七条计算，仅供参考"
        )
    return CompensationResult(
        hired=hired,
        left=left,
        tenure_years=years,
        tenure_months=rest_months,
        tenure_days=rest_days,
        months=months,
        monthly_wage=wage,
        average_wage=average_wage,
        cap_wage=cap_wage,
        wage_used=wage_used,
        capped=capped,
        cap_checked=avg is not None,
        amount=q2(wage_used * months),
        notes=tuple(notes),
    )
