"""The calculators as the UI, CLI and API call them: text in, looked-up policy, result out.

Parsing and look-ups live here once, so the three interfaces give the same answers and the same
Chinese errors. The arithmetic itself is in ``shebao.policy.calculators`` (pure functions).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shebao.core.money import money
from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.policy import calculators as calc
from shebao.policy.calculators import CalcError
from shebao.policy.selectors import city_resolve, entity_overrides, policy_period_for
from shebao.policy.terms import EntityOverrides, Insurance, PolicyPeriod


def result_data(result) -> dict:
    """A calculator result as JSON-ready data, the same for the UI, the CLI and the API. Deadlines
    come as a list; they are wrapped with the union of their citations."""
    if isinstance(result, list):
        return {
            "deadlines": [d.to_dict() for d in result],
            "citations": sorted({c for d in result for c in d.citations}),
        }
    return result.to_dict()


def _city(value: str, field: str = "city"):
    from shebao.core.exceptions import ApplicationError

    try:
        return city_resolve(value)
    except ApplicationError as exc:
        raise CalcError(exc.message, field=field) from exc


def _amount(value, field: str, label: str) -> Decimal:
    if value is None or str(value).strip() == "":
        raise CalcError(f"请填写{label}", field=field)
    try:
        amount = money(str(value).strip())
    except (ValueError, TypeError) as exc:
        raise CalcError(f"{label}“{value}”不是有效的金额", field=field) from exc
    if amount <= 0:
        raise CalcError(f"{label}必须大于0", field=field)
    return amount


def _date(value, field: str, label: str, *, required: bool = True) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    if not text:
        if required:
            raise CalcError(f"请填写{label}", field=field)
        return None
    try:
        return dt.date.fromisoformat(text.replace("/", "-").replace(".", "-"))
    except ValueError as exc:
        raise CalcError(f"{label}“{text}”不是有效日期，请使用 2025-01-15 的格式", field=field) from exc


def _month(value, field: str, label: str) -> YearMonth:
    try:
        return YearMonth.parse(value if isinstance(value, YearMonth | int) else str(value or "").strip())
    except YearMonthError as exc:
        raise CalcError(f"{label}：{exc.message}", field=field) from exc


def _insurances(values) -> list[Insurance] | None:
    if not values:
        return None
    out = []
    for v in values:
        try:
            out.append(Insurance(v))
        except ValueError as exc:
            raise CalcError(
                f"未知险种“{v}”，可选：{'、'.join(i.value for i in Insurance)}", field="insurances"
            ) from exc
    return out


def _entity(code: str | None):
    if not code:
        return None
    from shebao.org.models import Entity

    entity = Entity.objects.select_related("city").filter(code=code.strip()).first()
    if entity is None:
        raise CalcError(f"未知参保主体“{code}”", field="entity")
    return entity


def _periods(city):
    def lookup(month: YearMonth) -> PolicyPeriod:
        return policy_period_for(city=city, month_first_day=month.first_day)

    return lookup


def run_contribution(*, city: str = "", month, base, entity: str | None = None, insurances=None):
    ent = _entity(entity)
    city_obj = ent.city if ent and not city else _city(city)
    ym = _month(month, "month", "费款所属期")
    amount = _amount(base, "base", "缴费基数")
    try:
        period = policy_period_for(city=city_obj, month_first_day=ym.first_day)
    except LookupError as exc:
        raise CalcError(str(exc.args[0]), field="month") from exc
    overrides = entity_overrides(ent, ym.first_day) if ent else None
    return calc.contribution(
        period, month=ym, base=amount, overrides=overrides, insurances=_insurances(insurances)
    )


def run_late_fee(*, amount, due, paid):
    return calc.late_fee(
        amount=_amount(amount, "amount", "欠缴金额"),
        due=_date(due, "due", "应缴日期"),
        paid=_date(paid, "paid", "缴纳日期"),
    )


def run_backpay(
    *, city: str = "", start, end, base, paid, due_day=None, entity: str | None = None, insurances=None
):
    ent = _entity(entity)
    city_obj = ent.city if ent and not city else _city(city)
    first, last = _month(start, "start", "起始月份"), _month(end, "end", "结束月份")
    day = None
    if due_day not in (None, ""):
        try:
            day = int(str(due_day).strip())
        except ValueError as exc:
            raise CalcError(f"应缴日“{due_day}”应为 1–31 的整数", field="due_day") from exc
        if not 1 <= day <= 31:
            raise CalcError(f"应缴日“{due_day}”应为 1–31 的整数", field="due_day")
    overrides: EntityOverrides | None = entity_overrides(ent, first.first_day) if ent else None
    return calc.backpay(
        _periods(city_obj),
        start=first,
        end=last,
        base=_amount(base, "base", "缴费基数"),
        paid=_date(paid, "paid", "缴纳日期"),
        due_day=day,
        overrides=overrides,
        insurances=_insurances(insurances),
    )


def run_compensation(*, hired, left, monthly_wage, city: str = ""):
    left_day = _date(left, "left", "离职日期")
    average = None
    if city:
        try:
            average = policy_period_for(city=_city(city), month_first_day=left_day).average_wage
        except LookupError:
            average = None  # the calculator says the cap could not be checked
    return calc.compensation(
        hired=_date(hired, "hired", "入职日期"),
        left=left_day,
        monthly_wage=_amount(monthly_wage, "monthly_wage", "月工资"),
        average_wage=average,
    )


def run_deadlines(*, hire=None, leave=None):
    return calc.deadlines(
        hire_date=_date(hire, "hire", "入职日期", required=False),
        leave_date=_date(leave, "leave", "离职日期", required=False),
    )


def run_medical_gap(*, gap_months, city: str = ""):
    try:
        months = int(str(gap_months).strip())
    except ValueError as exc:
        raise CalcError(f"中断月数“{gap_months}”应为非负整数", field="gap_months") from exc
    if months < 0:
        raise CalcError(f"中断月数“{gap_months}”应为非负整数", field="gap_months")
    return calc.medical_gap(gap_months=months, city_code=_city(city).code if city else None)
