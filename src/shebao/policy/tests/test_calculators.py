"""Calculator worked examples (figures from shared/reference/city_policies.yaml) and properties."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shebao.core.yearmonth import YearMonth
from shebao.policy.calculators import (
    ARTICLES,
    CalcError,
    backpay,
    compensation,
    contribution,
    deadlines,
    late_fee,
    medical_gap,
    tenure,
)
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

I = Insurance  # noqa: E741
BASES = Confidence.SECONDARY_OFFICIAL_URL
RATES = Confidence.SECONDARY_NO_URL


def fig(value, confidence=RATES, source="city_policies.yaml"):
    return Figure(None if value is None else D(str(value)), confidence, source)


def terms(insurance, lo, hi, er, ee, **kw):
    return InsuranceTerms(insurance, fig(lo, BASES), fig(hi, BASES), fig(er), fig(ee), **kw)


def beijing(label="2024年度", lo=6821, hi=35283, start=dt.date(2024, 7, 1), end=dt.date(2025, 6, 30), **kw):
    return PolicyPeriod(
        "110000",
        "北京市",
        label,
        start,
        end,
        items={
            I.PENSION: terms(I.PENSION, lo, hi, "0.16", "0.08"),
            I.MEDICAL: terms(I.MEDICAL, lo, hi, "0.098", "0.02"),
            I.MATERNITY: terms(I.MATERNITY, lo, hi, "0.008", "0"),
            I.UNEMPLOYMENT: terms(I.UNEMPLOYMENT, lo, hi, "0.005", "0.005"),
            I.WORK_INJURY: terms(I.WORK_INJURY, lo, hi, None, "0"),  # industry-tiered: never a city constant
            I.HOUSING_FUND: terms(I.HOUSING_FUND, None, hi, "0.12", "0.12"),
        },
        average_wage=fig(11761, BASES),
        **kw,
    )


BJ_2024 = beijing()
BJ_2025 = beijing("2025年度", 7162, 35811, dt.date(2025, 7, 1), dt.date(2026, 6, 30))
SH_2024 = PolicyPeriod(
    "310000",
    "上海市",
    "2024年度",
    dt.date(2024, 7, 1),
    dt.date(2025, 6, 30),
    items={
        I.PENSION: terms(I.PENSION, 7384, 36921, "0.16", "0.08"),
        I.MEDICAL: terms(I.MEDICAL, 7384, 36921, "0.09", "0.02"),
        I.MATERNITY: InsuranceTerms(I.MATERNITY, merged_into=I.MEDICAL),
        I.UNEMPLOYMENT: terms(I.UNEMPLOYMENT, 7384, 36921, "0.005", "0.005"),
        I.WORK_INJURY: terms(I.WORK_INJURY, 7384, 36921, None, "0"),
    },
)
SZ_2024 = PolicyPeriod(
    "440300",
    "深圳市",
    "2024年度",
    dt.date(2024, 7, 1),
    dt.date(2025, 6, 30),
    items={
        I.PENSION: terms(I.PENSION, 4492, 27501, None, "0.08"),
        I.MEDICAL: terms(I.MEDICAL, None, None, None, None),
        I.UNEMPLOYMENT: terms(I.UNEMPLOYMENT, None, None, None, None),
    },
)
MAR_2025 = YearMonth(2025, 3)
WI = EntityOverrides(work_injury_rate=Figure(D("0.004"), Confidence.OFFICIAL, "工伤费率核定通知"))


# --- contribution -------------------------------------------------------------------------------


def test_beijing_base_below_minimum_is_raised_to_6821():
    r = contribution(BJ_2024, month=MAR_2025, base=D(5000), overrides=WI)
    pension = r.line(I.PENSION)
    assert (pension.base, pension.clamped) == (D(6821), "min")
    assert (pension.employer_amount, pension.employee_amount) == (D("1091.36"), D("545.68"))
    medical = r.line(I.MEDICAL)
    assert (medical.employer_amount, medical.employee_amount) == (D("668.46"), D("136.42"))
    assert r.line(I.MATERNITY).employer_amount == D("54.57")
    unemployment = r.line(I.UNEMPLOYMENT)
    assert unemployment.employer_amount == unemployment.employee_amount == D("34.11")  # 34.105, half-up
    injury = r.line(I.WORK_INJURY)
    assert injury.employer_amount == D("27.28") and injury.overridden == ("employer_rate",)
    housing = r.line(I.HOUSING_FUND)  # no recorded floor: the declared base stands, and the line says so
    assert (housing.base, housing.clamped, housing.missing_bounds) == (D(5000), None, ("base_min",))
    assert housing.employer_amount == D("600.00")
    assert r.complete and r.missing == ()
    assert r.employer_total == D("1091.36") + D("668.46") + D("54.57") + D("34.11") + D("27.28") + D("600.00")
    assert r.employee_total == D("545.68") + D("136.42") + D("0.00") + D("34.11") + D("0.00") + D("600.00")
    assert r.total == r.employer_total + r.employee_total
    assert r.citations == ("SIL-12", "SIL-23", "SIL-53", "SIL-44", "SIL-33", "SIL-35", "HFR-18")


def test_beijing_base_above_maximum_is_capped_at_35283():
    r = contribution(BJ_2024, month=MAR_2025, base="50000", insurances=[I.PENSION, I.HOUSING_FUND])
    pension = r.line(I.PENSION)
    assert (pension.base, pension.clamped) == (D(35283), "max")
    assert (pension.employer_amount, pension.employee_amount) == (D("5645.28"), D("2822.64"))
    assert r.line(I.HOUSING_FUND).employer_amount == D("4233.96")
    assert [line.insurance for line in r.lines] == [I.PENSION, I.HOUSING_FUND]
    assert r.citations == ("SIL-12", "HFR-18")


def test_work_injury_without_an_entity_rate_is_unknown_not_zero():
    r = contribution(BJ_2024, month=MAR_2025, base=D(10000))
    injury = r.line(I.WORK_INJURY)
    assert injury.employer_amount is None and injury.employee_amount == D("0.00")
    assert not injury.complete and "缺少单位费率（未收录）" in injury.notes
    assert not r.complete
    assert [(m.insurance, m.field) for m in r.missing] == [(I.WORK_INJURY, "employer_rate")]
    # totals cover the complete lines only
    assert r.employer_total == sum((line.employer_amount for line in r.lines if line.complete), D(0))


def test_shanghai_maternity_is_merged_into_medical():
    r = contribution(SH_2024, month=MAR_2025, base=D(10000))
    assert I.MATERNITY not in [line.insurance for line in r.lines]
    medical = r.line(I.MEDICAL)
    assert medical.merged == (I.MATERNITY,) and "生育并入医疗" in medical.notes
    assert (medical.employer_amount, medical.employee_amount) == (D("900.00"), D("200.00"))
    with pytest.raises(CalcError, match="生育保险已并入医疗保险"):
        contribution(SH_2024, month=MAR_2025, base=D(10000), insurances=[I.MATERNITY])


def test_shenzhen_missing_rates_give_none_and_incomplete_lines():
    r = contribution(SZ_2024, month=MAR_2025, base=D(3000))
    pension = r.line(I.PENSION)
    assert pension.base == D(4492) and pension.employee_amount == D("359.36")
    assert pension.employer_amount is None and not pension.complete
    medical = r.line(I.MEDICAL)
    assert medical.employer_amount is None and medical.employee_amount is None
    assert medical.missing_bounds == ("base_min", "base_max") and medical.base == D(3000)
    assert "缺少单位费率（未收录）" in medical.notes and "缺少个人费率（未收录）" in medical.notes
    assert not r.complete and r.total == D("0.00")
    assert len(r.missing) == 5  # pension employer, medical ×2, unemployment ×2
    data = r.to_dict()
    assert data["lines"][0]["employer_amount"] is None
    assert data["lines"][0]["employee_amount"] == "359.36"
    assert data["lines"][0]["total"] is None
    assert data["missing"][0] == {
        "insurance": "pension",
        "field": "employer_rate",
        "label": "养老保险 单位费率",
    }


def test_to_dict_is_json_ready():
    data = contribution(BJ_2024, month=MAR_2025, base=D(5000), overrides=WI).to_dict()
    json.dumps(data, ensure_ascii=False)
    assert data["month"] == "2025-03" and data["effective_from"] == "2024-07-01"
    pension = data["lines"][0]
    assert pension["employer_rate"] == {
        "value": "0.16",
        "confidence": "secondary_no_official_url",
        "confidence_label": "无出处",
        "source": "city_policies.yaml",
        "verified": False,
    }
    assert pension["base_min"]["value"] == "6821.00"
    assert pension["employer_fixed"]["value"] is None
    assert pension["employer_amount"] == "1091.36" and pension["base"] == "6821.00"
    assert pension["rounding"] == "fen" and pension["rounding_label"] == "四舍五入到分"
    assert data["lines"][4]["employer_rate"]["confidence"] == "official_text"  # the entity's own rate


def test_month_outside_the_period():
    with pytest.raises(CalcError) as e:
        contribution(BJ_2025, month=MAR_2025, base=D(8000))
    assert e.value.message == "2025-03 不在所选政策期间（2025-07-01 至 2026-06-30）内"
    assert e.value.field == "month"


@pytest.mark.parametrize("base", [D(0), D(-1), "0"])
def test_base_must_be_positive(base):
    with pytest.raises(CalcError, match="缴费基数必须大于0") as e:
        contribution(BJ_2024, month=MAR_2025, base=base)
    assert e.value.field == "base"


def test_float_base_is_refused():
    with pytest.raises(TypeError):
        contribution(BJ_2024, month=MAR_2025, base=5000.0)  # type: ignore[arg-type]


def test_housing_fund_override_bounds():
    low = EntityOverrides(housing_fund_employer_rate=Figure(D("0.04")))
    with pytest.raises(CalcError, match="低于法定下限 5%") as e:
        contribution(BJ_2024, month=MAR_2025, base=D(10000), overrides=low)
    assert e.value.citations == ("HFR-18",) and e.value.field == "housing_fund_employer_rate"

    chosen = EntityOverrides(
        housing_fund_employer_rate=Figure(D("0.15")), housing_fund_employee_rate=Figure(D("0.07"))
    )
    r = contribution(BJ_2024, month=MAR_2025, base=D(10000), overrides=chosen, insurances=[I.HOUSING_FUND])
    housing = r.line(I.HOUSING_FUND)
    assert (housing.employer_amount, housing.employee_amount) == (D("1500.00"), D("700.00"))
    assert housing.overridden == ("employer_rate", "employee_rate")
    assert any("高于常见上限 12%" in w for w in r.warnings)


def test_rate_written_as_percent_is_rejected():
    with pytest.raises(CalcError, match="0.16 表示 16%"):
        contribution(
            BJ_2024, month=MAR_2025, base=D(10000), overrides=EntityOverrides(work_injury_rate=Figure(D(4)))
        )


@pytest.mark.parametrize(
    ("rounding", "employer", "employee"),
    [
        (Rounding.FEN, "668.46", "136.42"),
        (Rounding.YUAN, "668.00", "136.00"),
        (Rounding.UP_YUAN, "669.00", "137.00"),
        (Rounding.UP_JIAO, "668.50", "136.50"),
    ],
)
def test_rounding_modes(rounding, employer, employee):
    period = PolicyPeriod(
        "110000",
        "北京市",
        "测试",
        dt.date(2024, 7, 1),
        None,
        items={I.MEDICAL: terms(I.MEDICAL, 6821, 35283, "0.098", "0.02", rounding=rounding)},
    )
    line = contribution(period, month=MAR_2025, base=D(6821)).line(I.MEDICAL)
    assert (line.employer_amount, line.employee_amount) == (D(employer), D(employee))


def test_fixed_monthly_amounts():
    period = PolicyPeriod(
        "110000",
        "北京市",
        "测试",
        dt.date(2024, 7, 1),
        None,
        items={
            I.MEDICAL: InsuranceTerms(
                I.MEDICAL, employer_rate=fig("0.098"), employee_rate=fig("0.02"), employee_fixed=fig(3)
            ),
            I.MEDICAL_SUPPLEMENT: InsuranceTerms(I.MEDICAL_SUPPLEMENT, employee_fixed=fig(3)),
        },
    )
    r = contribution(period, month=MAR_2025, base=D(10000))
    assert r.line(I.MEDICAL).employee_amount == D("203.00")
    supplement = r.line(I.MEDICAL_SUPPLEMENT)
    assert supplement.employee_amount == D("3.00") and supplement.employer_amount is None
    assert [m.field for m in r.missing] == ["employer_fixed"]


def test_an_insurance_not_in_the_period_is_reported_missing():
    r = contribution(SH_2024, month=MAR_2025, base=D(10000), insurances=[I.HOUSING_FUND])
    housing = r.line(I.HOUSING_FUND)
    assert housing.employer_amount is None and "该政策期间未收录住房公积金" in housing.notes


bases = st.decimals(min_value=1, max_value=100000, places=2)


@given(bases, st.sampled_from([BJ_2024, SH_2024, SZ_2024]))
def test_amounts_are_never_negative(base, period):
    r = contribution(period, month=MAR_2025, base=base, overrides=WI)
    for line in r.lines:
        assert all(a is None or a >= 0 for a in (line.employer_amount, line.employee_amount))
    assert r.total >= 0


@given(bases, bases, st.sampled_from(list(Rounding)))
def test_amounts_are_monotone_in_base(a, b, rounding):
    lo, hi = sorted((a, b))
    items = {i: InsuranceTerms(**{**t.__dict__, "rounding": rounding}) for i, t in BJ_2024.items.items()}
    period = PolicyPeriod("110000", "北京市", "测试", BJ_2024.effective_from, None, items=items)
    r_lo = contribution(period, month=MAR_2025, base=lo, overrides=WI)
    r_hi = contribution(period, month=MAR_2025, base=hi, overrides=WI)
    for x, y in zip(r_lo.lines, r_hi.lines, strict=True):
        assert x.employer_amount <= y.employer_amount and x.employee_amount <= y.employee_amount
    assert r_lo.total <= r_hi.total


@given(bases)
def test_clamping_is_idempotent(base):
    r = contribution(BJ_2024, month=MAR_2025, base=base, overrides=WI)
    for line in r.lines:
        again = contribution(
            BJ_2024, month=MAR_2025, base=line.base, overrides=WI, insurances=[line.insurance]
        )
        assert again.lines[0].base == line.base and again.lines[0].clamped is None
        assert (again.lines[0].employer_amount, again.lines[0].employee_amount) == (
            line.employer_amount,
            line.employee_amount,
        )


# --- late fee -----------------------------------------------------------------------------------


def test_late_fee_worked_example():
    r = late_fee(amount=D(1000), due=dt.date(2025, 1, 15), paid=dt.date(2025, 4, 25))
    assert (r.days, r.fee) == (100, D("50.00"))
    assert r.citations == ("SIL-86",)
    assert r.to_dict()["fee"] == "50.00" and r.to_dict()["daily_rate"] == "0.0005"


def test_late_fee_paid_on_due_date_is_zero_days():
    r = late_fee(amount=D(1000), due=dt.date(2025, 1, 15), paid=dt.date(2025, 1, 15))
    assert (r.days, r.fee) == (0, D("0.00"))


def test_late_fee_rejections():
    with pytest.raises(CalcError, match="欠缴金额必须大于0"):
        late_fee(amount=D(0), due=dt.date(2025, 1, 15), paid=dt.date(2025, 4, 25))
    with pytest.raises(CalcError, match="缴纳日期早于应缴日期") as e:
        late_fee(amount=D(1000), due=dt.date(2025, 1, 15), paid=dt.date(2025, 1, 14))
    assert e.value.field == "paid"


money_amounts = st.decimals(min_value=D("0.01"), max_value=10**7, places=2)


@given(money_amounts, st.integers(0, 3650), st.integers(0, 3650))
def test_late_fee_is_linear_in_days(amount, d1, d2):
    due = dt.date(2000, 1, 1)

    def fee(days):
        return late_fee(amount=amount, due=due, paid=due + dt.timedelta(days=days)).fee

    assert abs(fee(d1 + d2) - fee(d1) - fee(d2)) <= D("0.01")


@given(money_amounts, money_amounts, st.integers(0, 3650))
def test_late_fee_is_linear_in_amount(a1, a2, days):
    due, paid = dt.date(2000, 1, 1), dt.date(2000, 1, 1) + dt.timedelta(days=days)

    def fee(amount):
        return late_fee(amount=amount, due=due, paid=paid).fee

    assert abs(fee(a1 + a2) - fee(a1) - fee(a2)) <= D("0.01")


# --- backpay ------------------------------------------------------------------------------------


def beijing_periods(month: YearMonth) -> PolicyPeriod:
    for period in (BJ_2024, BJ_2025):
        if period.covers(month.first_day):
            return period
    raise LookupError(month)


def test_backpay_across_two_policy_years():
    r = backpay(
        beijing_periods,
        start=YearMonth(2025, 6),
        end=YearMonth(2025, 9),
        base=D(10000),
        paid=dt.date(2025, 9, 10),
        due_day=15,
        insurances=[I.PENSION],
    )
    june, july, _, september = r.months
    assert june.period_label == "2024年度" and july.period_label == "2025年度"
    assert june.principal == D("2400.00")  # 1600 + 800
    assert june.due == dt.date(2025, 6, 15) and june.days_late == 87
    assert june.late_fee == D("104.40")  # 2400 × 0.0005 × 87
    assert june.late_fee == late_fee(amount=june.principal, due=june.due, paid=r.paid).fee
    assert september.not_due and september.late_fee == D("0.00") and "尚未到期" in september.notes
    assert r.principal == D("9600.00")
    assert r.late_fees == sum((m.late_fee for m in r.months), D(0))
    assert r.grand_total == r.principal + r.late_fees
    assert r.overdue_principal == D("7200.00")
    assert r.fine_range == (D("7200.00"), D("21600.00"))
    assert r.registration_fine_range == (D("9600.00"), D("28800.00"))
    assert r.citations[:3] == ("SIL-86", "SIL-84", "SIL-63")
    json.dumps(r.to_dict(), ensure_ascii=False)


def test_backpay_uses_the_period_due_day_and_clamps_it():
    period = beijing(payment_due_day=Figure(31, Confidence.SECONDARY_NO_URL, "测试"))
    feb = YearMonth(2025, 2)
    r = backpay(lambda m: period, start=feb, end=feb, base=D(8000), paid=dt.date(2025, 3, 1))
    (month,) = r.months
    assert month.due == dt.date(2025, 2, 28) and month.due_day_source == "period" and month.days_late == 1
    assert r.to_dict()["months"][0]["due_day"] == 31
    r = backpay(lambda m: period, start=feb, end=feb, base=D(8000), paid=dt.date(2025, 3, 1), due_day=10)
    assert r.months[0].due == dt.date(2025, 2, 10) and r.months[0].due_day_source == "argument"


def test_backpay_keeps_housing_fund_out_of_the_late_fee():
    r = backpay(
        beijing_periods,
        start=YearMonth(2025, 3),
        end=YearMonth(2025, 3),
        base=D(10000),
        paid=dt.date(2025, 4, 15),
        due_day=15,
        insurances=[I.PENSION, I.HOUSING_FUND],
    )
    (march,) = r.months
    assert (march.principal, march.housing_fund) == (D("2400.00"), D("2400.00"))
    assert march.late_fee == D("37.20")  # 2400 × 0.0005 × 31: the pension only
    assert r.grand_total == D("4837.20") and "HFR-38" in r.citations


def test_backpay_with_missing_rates_is_marked_incomplete():
    r = backpay(
        beijing_periods, start=MAR_2025, end=MAR_2025, base=D(10000), paid=dt.date(2025, 4, 15), due_day=15
    )
    assert not r.complete and [(m.insurance, m.field) for m in r.missing] == [
        (I.WORK_INJURY, "employer_rate")
    ]
    assert any("实际金额可能更高" in n for n in r.notes)


def test_backpay_errors():
    kw = {"base": D(8000), "paid": dt.date(2025, 4, 1)}
    with pytest.raises(CalcError, match="该城市的缴费截止日未收录，请指定应缴日（每月几号）"):
        backpay(beijing_periods, start=MAR_2025, end=MAR_2025, **kw)
    with pytest.raises(CalcError) as e:
        backpay(beijing_periods, start=YearMonth(2023, 1), end=MAR_2025, due_day=15, **kw)
    assert e.value.message == "2023-01 不在任何已收录的政策期间内"
    with pytest.raises(CalcError, match="起始月份 2025-03 晚于结束月份 2025-02"):
        backpay(beijing_periods, start=MAR_2025, end=YearMonth(2025, 2), due_day=15, **kw)
    with pytest.raises(CalcError, match="应缴日必须是 1 到 31"):
        backpay(beijing_periods, start=MAR_2025, end=MAR_2025, due_day=32, **kw)

    def by_dict(month):
        return {MAR_2025: BJ_2024}[month]  # KeyError for anything else

    with pytest.raises(CalcError, match="2025-04 不在任何已收录的政策期间内"):
        backpay(by_dict, start=MAR_2025, end=YearMonth(2025, 4), due_day=15, **kw)


# --- compensation -------------------------------------------------------------------------------


def test_compensation_six_years_and_a_half():
    r = compensation(hired=dt.date(2019, 3, 1), left=dt.date(2025, 9, 10), monthly_wage=D(10000))
    assert (r.tenure_years, r.tenure_months) == (6, 6)
    assert r.months == D(7) and r.amount == D("70000.00")
    assert not r.cap_checked and any("无法核对三倍封顶" in n for n in r.notes)
    assert r.citations == ("LCL-47",)


def test_compensation_under_six_months_is_half_a_month():
    r = compensation(hired=dt.date(2024, 1, 1), left=dt.date(2024, 4, 30), monthly_wage=D(8000))
    assert r.months == D("0.5") and r.amount == D("4000.00")
    assert r.to_dict()["months"] == "0.5"


def test_compensation_counts_the_last_day():
    # 2024-01-01 … 2024-06-30 is six full months (满六个月) → one month, not half.
    assert tenure(dt.date(2024, 1, 1), dt.date(2024, 6, 30)) == (0, 6, 0)
    r = compensation(hired=dt.date(2024, 1, 1), left=dt.date(2024, 6, 30), monthly_wage=D(8000))
    assert r.months == D(1)
    assert compensation(hired=dt.date(2024, 1, 1), left=dt.date(2024, 12, 31), monthly_wage=D(1)).months == D(
        1
    )
    assert compensation(hired=dt.date(2024, 3, 5), left=dt.date(2024, 3, 5), monthly_wage=D(1)).months == D(
        "0.5"
    )


def test_compensation_high_earner_is_capped():
    avg = Figure(11761, Confidence.SECONDARY_OFFICIAL_URL, "北京2024年度")
    r = compensation(
        hired=dt.date(2010, 1, 1), left=dt.date(2024, 12, 31), monthly_wage=D(50000), average_wage=avg
    )
    assert r.tenure_years == 15 and r.capped and r.cap_checked
    assert r.months == D(12) and r.wage_used == D(35283)
    assert r.amount == D("423396.00")  # 12 × 3 × 11761
    assert r.to_dict()["average_wage"]["value"] == "11761.00"


def test_compensation_at_exactly_three_times_is_not_capped():
    avg = Figure(D(10000))
    r = compensation(
        hired=dt.date(2010, 1, 1), left=dt.date(2024, 12, 31), monthly_wage=D(30000), average_wage=avg
    )
    assert not r.capped and r.cap_checked and r.months == D(15)


def test_compensation_errors_and_notes():
    with pytest.raises(CalcError, match="离职日期早于入职日期"):
        compensation(hired=dt.date(2024, 1, 2), left=dt.date(2024, 1, 1), monthly_wage=D(1))
    with pytest.raises(CalcError, match="月工资必须大于0"):
        compensation(hired=dt.date(2024, 1, 1), left=dt.date(2024, 2, 1), monthly_wage=D(0))
    r = compensation(hired=dt.date(2005, 1, 1), left=dt.date(2024, 1, 1), monthly_wage=D(1))
    assert any("劳动合同法第九十七条" in n for n in r.notes)
    # an unknown average-wage figure is treated like no figure at all
    assert not compensation(
        hired=dt.date(2024, 1, 1), left=dt.date(2024, 2, 1), monthly_wage=D(1), average_wage=MISSING
    ).cap_checked


days_2000s = st.dates(dt.date(2000, 1, 1), dt.date(2040, 12, 31))


tenure_days = st.integers(0, 15 * 366)


# Offsets from the hire date, not assume(): filtering two of three random dates wastes most draws.
@given(days_2000s, tenure_days, tenure_days, st.booleans())
def test_compensation_months_are_monotone_in_tenure(hired, a, b, high_earner):
    left1, left2 = (hired + dt.timedelta(days=n) for n in sorted((a, b)))
    avg = Figure(D(10000)) if high_earner else None
    wage = D(50000)
    r1 = compensation(hired=hired, left=left1, monthly_wage=wage, average_wage=avg)
    r2 = compensation(hired=hired, left=left2, monthly_wage=wage, average_wage=avg)
    assert r1.months <= r2.months and r1.amount <= r2.amount


# --- deadlines ----------------------------------------------------------------------------------


def test_deadlines_from_hire_and_leave():
    result = deadlines(hire_date=dt.date(2025, 3, 1), leave_date=dt.date(2025, 6, 30))
    by_code = {d.code: d for d in result}
    assert (
        by_code["si_registration"].due == dt.date(2025, 3, 31)
        and by_code["si_registration"].citation == "SIL-58"
    )
    assert (
        by_code["hf_registration"].due == dt.date(2025, 3, 31)
        and by_code["hf_registration"].citation == "HFR-15"
    )
    assert by_code["separation_certificate"].due == dt.date(2025, 6, 30)
    assert by_code["si_transfer"].due == dt.date(2025, 7, 15) and by_code["si_transfer"].citation == "LCL-50"
    assert (
        by_code["unemployment_list"].due == dt.date(2025, 7, 15)
        and by_code["unemployment_list"].citation == "SIL-50"
    )
    assert by_code["hf_change"].due == dt.date(2025, 7, 30) and by_code["hf_change"].citation == "HFR-15"
    assert [d.due for d in result] == sorted(d.due for d in result)
    assert result[0].to_dict()["citations"] == ["SIL-58"]


def test_deadlines_need_a_date_in_order():
    assert {d.code for d in deadlines(hire_date=dt.date(2025, 3, 1))} == {
        "si_registration",
        "hf_registration",
    }
    with pytest.raises(CalcError, match="请提供入职日期或离职日期"):
        deadlines()
    with pytest.raises(CalcError, match="离职日期早于入职日期"):
        deadlines(hire_date=dt.date(2025, 3, 1), leave_date=dt.date(2025, 2, 1))


# --- medical gap --------------------------------------------------------------------------------


def test_medical_gap_within_three_months():
    r = medical_gap(gap_months=3)
    assert r.within_three_months and r.waiting_period_max_months == 0
    texts = " ".join(s.text for s in r.national)
    assert "补缴" in texts and "缴费当月" in texts and "追溯" in texts and "不设待遇享受等待期" in texts
    assert all(s.confidence is Confidence.SECONDARY_NO_URL for s in r.national)
    assert not r.city_rule_known and r.city == ()
    assert any("不适用于单位职工医保" in n for n in r.notes)  # no 3+N for employees
    json.dumps(r.to_dict(), ensure_ascii=False)


def test_medical_gap_beyond_three_months_and_cities():
    r = medical_gap(gap_months=4, city_code="110000")
    assert not r.within_three_months and r.waiting_period_max_months == 6
    assert "不超过6个月" in r.national[0].text
    assert not r.city_rule_known and "未收录" in r.city[0].text

    shanghai = medical_gap(gap_months=4, city_code="310000")
    assert shanghai.city_rule_known and shanghai.citations == ("SH-MSR-15",)
    assert shanghai.city[0].confidence is Confidence.OFFICIAL
    assert "6个月待遇等待期" in shanghai.city[1].text

    chongqing = medical_gap(gap_months=4, city_code="500000")
    assert chongqing.city[0].confidence is Confidence.SECONDARY_NO_URL
    assert chongqing.to_dict()["city"][0]["confidence_label"] == "无出处"


def test_medical_gap_rejects_bad_input():
    with pytest.raises(CalcError, match="不能为负数"):
        medical_gap(gap_months=-1)
    with pytest.raises(CalcError, match="6位行政区划代码"):
        medical_gap(gap_months=1, city_code="上海")


# --- citations ----------------------------------------------------------------------------------

LAW_FILE = Path("/work/shared/reference/law_articles.md")
_PREFIXES = {
    "中华人民共和国社会保险法": "SIL",
    "中华人民共和国劳动合同法": "LCL",
    "住房公积金管理条例": "HFR",
    "上海市医疗保障条例": "SH-MSR",
    "实施〈中华人民共和国社会保险法〉若干规定": "SIL-IMPL",
}
_DIGITS = dict(zip("一二三四五六七八九", range(1, 10), strict=True))


def _chinese_number(text: str) -> int:
    if "百" in text:
        hundreds, text = text.split("百")
        return _DIGITS[hundreds] * 100 + (_chinese_number(text.lstrip("零")) if text else 0)
    if "十" in text:
        tens, ones = text.split("十")
        return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
    return _DIGITS[text]


def _law_ids() -> set[str]:
    ids, prefix = set(), None
    for line in LAW_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            title = re.search(r"《(.+?)》", line)
            prefix = _PREFIXES.get(title.group(1)) if title else None
        m = re.match(r"> (?:\*\*)?第([一二三四五六七八九十百零]+)条", line)
        if prefix and m:
            ids.add(f"{prefix}-{_chinese_number(m.group(1))}")
    return ids


@pytest.mark.skipif(not LAW_FILE.exists(), reason="shared reference not mounted")
def test_every_cited_article_is_in_the_law_file():
    ids = _law_ids()
    assert set(ARTICLES) <= ids, set(ARTICLES) - ids


def test_results_cite_only_known_articles():
    cited = set()
    cited |= set(contribution(BJ_2024, month=MAR_2025, base=D(8000), overrides=WI).citations)
    arrears = backpay(
        beijing_periods, start=MAR_2025, end=MAR_2025, base=D(8000), paid=dt.date(2025, 5, 1), due_day=15
    )
    cited |= set(arrears.citations)
    cited |= set(late_fee(amount=D(1), due=dt.date(2025, 1, 1), paid=dt.date(2025, 1, 2)).citations)
    cited |= set(
        compensation(hired=dt.date(2024, 1, 1), left=dt.date(2025, 1, 1), monthly_wage=D(1)).citations
    )
    cited |= {d.citation for d in deadlines(hire_date=dt.date(2025, 1, 1), leave_date=dt.date(2025, 2, 1))}
    cited |= set(medical_gap(gap_months=1, city_code="310000").citations)
    assert cited <= set(ARTICLES)
