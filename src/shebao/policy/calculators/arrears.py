"""Arrears: the SIL-86 late fee, and a month-by-month back-payment with fees and fine ranges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from shebao.core.money import ZERO, q2
from shebao.core.yearmonth import YearMonth
from shebao.policy.terms import EntityOverrides, Insurance, PolicyPeriod

from ._base import RATE, CalcError, Serialisable, plain_date, positive
from .contribution import ContributionResult, MissingFigure, contribution

__all__ = ["DAILY_RATE", "BackpayMonth", "BackpayResult", "LateFeeResult", "backpay", "late_fee"]

DAILY_RATE = Decimal("0.0005")  # 社会保险法第八十六条：按日加收万分之五
_PERSON_FINE = (Decimal("500.00"), Decimal("3000.00"))  # 社会保险法第八十四条，直接责任人员
_NO_PASS_ON = "滞纳金由用人单位承担，不得要求职工承担（实施《社会保险法》若干规定第二十条）"


@dataclass(frozen=True)
class LateFeeResult(Serialisable):
    amount: Decimal
    due: dt.date
    paid: dt.date
    days: int
    daily_rate: Decimal = field(metadata=RATE)
    fee: Decimal = ZERO
    notes: tuple[str, ...] = ()
    citations: tuple[str, ...] = ("SIL-86",)


def _fee(amount: Decimal, days: int) -> Decimal:
    return q2(amount * DAILY_RATE * days)


def late_fee(*, amount: Decimal | int | str, due: dt.date, paid: dt.date) -> LateFeeResult:
    """万分之五 per day on ``amount`` for (paid − due) days; paid on the due date is 0 days, fee 0.00."""
    principal = positive(amount, field="amount", message="欠缴金额必须大于0")
    due, paid = plain_date(due, "due"), plain_date(paid, "paid")
    if paid < due:
        raise CalcError(f"缴纳日期早于应缴日期：{paid.isoformat()} 早于 {due.isoformat()}", field="paid")
    days = (paid - due).days
    return LateFeeResult(
        amount=principal,
        due=due,
        paid=paid,
        days=days,
        daily_rate=DAILY_RATE,
        fee=_fee(principal, days),
        notes=("自欠缴之日起按日加收万分之五；天数 = 缴纳日期 − 应缴日期", _NO_PASS_ON),
    )


@dataclass(frozen=True)
class BackpayMonth(Serialisable):
    month: YearMonth
    period_label: str
    period_id: int | None
    due: dt.date
    due_day: int
    due_day_source: str  # "argument" / "period"
    principal: Decimal  # social-insurance employer + employee of complete lines: the late-fee base
    housing_fund: Decimal  # complete housing-fund line; not subject to SIL-86
    days_late: int
    late_fee: Decimal
    not_due: bool  # due date after the payment date: 尚未到期
    complete: bool
    notes: tuple[str, ...]
    contribution: ContributionResult
    citations: tuple[str, ...] = ("SIL-86",)


@dataclass(frozen=True)
class BackpayResult(Serialisable):
    start: YearMonth
    end: YearMonth
    paid: dt.date
    declared_base: Decimal
    months: tuple[BackpayMonth, ...]
    principal: Decimal
    housing_fund: Decimal
    late_fees: Decimal
    grand_total: Decimal  # principal + housing_fund + late_fees
    overdue_principal: Decimal  # principal of months already past due: the "欠缴数额"
    fine_range: tuple[Decimal, Decimal]  # SIL-86: 1–3 × overdue principal
    registration_fine_range: tuple[Decimal, Decimal]  # SIL-84: 1–3 × contributions due
    responsible_person_fine_range: tuple[Decimal, Decimal]  # SIL-84: 500–3000 per person
    complete: bool
    missing: tuple[MissingFigure, ...]
    notes: tuple[str, ...]
    citations: tuple[str, ...]


def _due_day(period: PolicyPeriod, due_day: int | None) -> tuple[int, str]:
    if due_day is not None:
        if isinstance(due_day, bool) or not isinstance(due_day, int) or not 1 <= due_day <= 31:
            raise CalcError("应缴日必须是 1 到 31 之间的整数（每月几号）", field="due_day")
        return due_day, "argument"
    value = period.payment_due_day.value
    if value is not None:
        if value != int(value) or not 1 <= value <= 31:
            raise CalcError(
                f"{period.city_name}{period.label}的缴费截止日“{value}”无效，请核对政策数据", field="period"
            )
        return int(value), "period"
    raise CalcError("该城市的缴费截止日未收录，请指定应缴日（每月几号）", field="due_day")


def _month(
    period: PolicyPeriod,
    month: YearMonth,
    base: Decimal,
    paid: dt.date,
    due_day: int | None,
    overrides: EntityOverrides | None,
    insurances: tuple[Insurance, ...] | None,
) -> BackpayMonth:
    day, source = _due_day(period, due_day)
    c = contribution(period, month=month, base=base, overrides=overrides, insurances=insurances)
    complete = [line for line in c.lines if line.complete]
    principal = sum(
        (line.total or ZERO for line in complete if line.insurance is not Insurance.HOUSING_FUND), ZERO
    )
    housing = sum((line.total or ZERO for line in complete if line.insurance is Insurance.HOUSING_FUND), ZERO)
    due = month.on_day(day)  # the month's own due date, clamped (31 → 28 Feb)
    not_due = due > paid
    days = 0 if not_due else (paid - due).days
    notes = ["尚未到期"] if not_due else []
    if not c.complete:
        notes.append("部分险种费率未收录，本月本金只含数据完整的险种")
    return BackpayMonth(
        month=month,
        period_label=period.label,
        period_id=period.period_id,
        due=due,
        due_day=day,
        due_day_source=source,
        principal=principal,
        housing_fund=housing,
        days_late=days,
        late_fee=_fee(principal, days),
        not_due=not_due,
        complete=c.complete,
        notes=tuple(notes),
        contribution=c,
    )


def backpay(
    periods: Callable[[YearMonth], PolicyPeriod],
    *,
    start: YearMonth,
    end: YearMonth,
    base: Decimal | int | str,
    paid: dt.date,
    due_day: int | None = None,
    overrides: EntityOverrides | None = None,
    insurances: Iterable[Insurance] | None = None,
) -> BackpayResult:
    """Contributions owed for start..end (inclusive) paid on ``paid``, with SIL-86 late fees per month.

    ``periods(month)`` returns the policy period covering the month or raises LookupError/KeyError.
    ``due_day`` (day of month) wins over the period's payment_due_day.
    """
    if start > end:
        raise CalcError(f"起始月份 {start} 晚于结束月份 {end}", field="start")
    declared = positive(base, field="base", message="缴费基数必须大于0")
    paid = plain_date(paid, "paid")
    wanted = None if insurances is None else tuple(insurances)
    months: list[BackpayMonth] = []
    for month in YearMonth.range(start, end):
        try:
            period = periods(month)
        except LookupError:  # KeyError is a LookupError
            raise CalcError(f"{month} 不在任何已收录的政策期间内", field="start") from None
        months.append(_month(period, month, declared, paid, due_day, overrides, wanted))

    principal = sum((m.principal for m in months), ZERO)
    housing = sum((m.housing_fund for m in months), ZERO)
    fees = sum((m.late_fee for m in months), ZERO)
    overdue = sum((m.principal for m in months if m.days_late > 0), ZERO)
    complete = all(m.complete for m in months)
    notes = [
        "罚款为法定幅度，具体数额由行政部门裁量；第八十六条罚款仅在责令限期缴纳后逾期仍不缴纳时适用",
        "第八十四条罚款仅适用于未办理社会保险登记且逾期不改正的情形，另对直接负责的主管人员和其他直接责任人员处500元以上3000元以下罚款",
        _NO_PASS_ON,
    ]
    citations = ["SIL-86", "SIL-84", "SIL-63", "SIL-IMPL-20"]
    if any(line.insurance is Insurance.HOUSING_FUND for m in months for line in m.contribution.lines):
        notes.append(
            "住房公积金不适用社会保险法第八十六条的滞纳金和罚款：逾期不缴的由公积金中心责令限期缴存，"
            "逾期仍不缴存的可申请人民法院强制执行（住房公积金管理条例第三十八条）"
        )
        citations.append("HFR-38")
    if not complete:
        notes.append("部分险种费率未收录：本金、滞纳金和罚款区间只按数据完整的险种计算，实际金额可能更高")
    return BackpayResult(
        start=start,
        end=end,
        paid=paid,
        declared_base=declared,
        months=tuple(months),
        principal=principal,
        housing_fund=housing,
        late_fees=fees,
        grand_total=principal + housing + fees,
        overdue_principal=overdue,
        fine_range=(overdue, q2(overdue * 3)),
        registration_fine_range=(principal, q2(principal * 3)),
        responsible_person_fine_range=_PERSON_FINE,
        complete=complete,
        missing=tuple(dict.fromkeys(m for bm in months for m in bm.contribution.missing)),
        notes=tuple(notes),
        citations=tuple(citations),
    )
