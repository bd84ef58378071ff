"""Selectors build the calculators' value types from the rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.core.context import Actor
from shebao.policy import terms
from shebao.policy.models import PolicyFigure
from shebao.policy.selectors import (
    city_library_summary,
    entity_overrides,
    policy_period_for,
    policy_period_for_entity,
    policy_periods,
)
from shebao.policy.services import entity_policy_setting_update, policy_figure_verify
from shebao.policy.terms import Confidence, Insurance, Rounding

pytestmark = pytest.mark.django_db


def test_policy_period_for_builds_the_value_type():
    period = policy_period_for(city="北京", month_first_day=dt.date(2024, 7, 1))
    assert isinstance(period, terms.PolicyPeriod)
    assert (period.city_code, period.city_name, period.label) == ("110000", "北京市", "2024年度")
    assert period.effective_to == dt.date(2025, 6, 30)
    assert period.period_id is not None
    pension = period.items[Insurance.PENSION]
    assert pension.base_min == terms.Figure(
        Decimal("6821"),
        Confidence.SECONDARY_OFFICIAL_URL,
        "https://rsj.beijing.gov.cn/xxgk/2024zcwj/202407/t20240731_3763677.html",
        False,
    )
    assert str(pension.base_max.value) == "35283"
    assert pension.employer_rate.value == Decimal("0.16") and str(pension.employer_rate.value) == "0.16"
    assert pension.employer_rate.confidence == Confidence.SECONDARY_NO_URL
    assert pension.employer_fixed == terms.MISSING
    assert pension.rounding == Rounding.FEN and pension.merged_into is None
    assert period.items[Insurance.WORK_INJURY].employer_rate.value is None
    assert period.average_wage.value == Decimal("11761")
    assert not period.payment_due_day.known and not period.cutoff_day.known
    assert list(period.items) == [
        Insurance.PENSION,
        Insurance.MEDICAL,
        Insurance.MATERNITY,
        Insurance.UNEMPLOYMENT,
        Insurance.WORK_INJURY,
        Insurance.HOUSING_FUND,
    ]


@pytest.mark.parametrize(
    ("city", "day", "label"),
    [
        ("北京", dt.date(2025, 6, 1), "2024年度"),
        ("北京", dt.date(2025, 7, 1), "2025年度"),
        ("110000", dt.date(2026, 6, 1), "2025年度"),
        ("深圳市", dt.date(2024, 1, 1), "2024上半年（下限）"),
        ("深圳", dt.date(2030, 1, 1), "2025年度"),  # open-ended
        ("成都", dt.date(2025, 12, 1), "2025年度（四川按自然年）"),
    ],
)
def test_period_boundaries(city, day, label):
    assert policy_period_for(city=city, month_first_day=day).label == label


def test_lookup_error_outside_periods():
    with pytest.raises(LookupError) as exc:
        policy_period_for(city="北京", month_first_day=dt.date(2024, 6, 1))
    message = str(exc.value)
    assert "北京市没有覆盖2024年06月01日的政策期间" in message
    assert "2024年度（2024-07-01 至 2025-06-30）" in message
    with pytest.raises(LookupError):
        policy_period_for(city="北京", month_first_day=dt.date(2026, 7, 1))


def test_verified_flag_and_day_values(admin):
    figure = PolicyFigure.objects.get(
        period__city__short_name="北京", period__label="2025年度", insurance="pension", field="base_min"
    )
    policy_figure_verify(actor=Actor(user=admin), figure=figure, verified_against="京人社发〔2025〕11号")
    PolicyFigure.objects.filter(period=figure.period, field="cutoff_day").update(value=15)
    period = policy_period_for(city="北京", month_first_day=dt.date(2025, 8, 1))
    assert period.items[Insurance.PENSION].base_min.verified
    assert period.cutoff_day.value == 15 and isinstance(period.cutoff_day.value, int)


def test_policy_periods_oldest_first():
    assert [p.label for p in policy_periods("深圳")] == ["2024上半年（下限）", "2024年度", "2025年度"]


def test_entity_overrides(org, system):
    bj = org["bj"]
    assert entity_overrides(bj) == terms.EntityOverrides()
    entity_policy_setting_update(
        actor=system,
        entity=bj,
        industry_class="一类",
        work_injury_rate="0.002",
        housing_fund_employer_rate=Decimal("0.12"),
        housing_fund_employee_rate=Decimal("0.1"),
        effective_from=dt.date(2025, 1, 1),
        basis="工伤保险费率核定通知书",
    )
    overrides = entity_overrides(bj, dt.date(2025, 3, 1))
    assert overrides.work_injury_rate.value == Decimal("0.002")
    assert overrides.work_injury_rate.verified  # the HR admin recorded the notice it rests on
    assert "一类" in overrides.work_injury_rate.source
    assert overrides.housing_fund_employee_rate.value == Decimal("0.1")
    assert entity_overrides(bj, dt.date(2024, 12, 1)) == terms.EntityOverrides()  # not yet in force


def test_policy_period_for_entity_applies_overrides(org, system):
    entity_policy_setting_update(
        actor=system,
        entity=org["bj"],
        work_injury_rate="0.004",
        housing_fund_employer_rate="0.05",
        housing_fund_employee_rate="0.06",
    )
    period = policy_period_for_entity(org["bj"], dt.date(2025, 8, 1))
    assert period.items[Insurance.WORK_INJURY].employer_rate.value == Decimal("0.004")
    assert period.items[Insurance.WORK_INJURY].base_min.value == Decimal("7162")  # the city's
    assert period.items[Insurance.HOUSING_FUND].employer_rate.value == Decimal("0.05")
    assert period.items[Insurance.HOUSING_FUND].employee_rate.value == Decimal("0.06")
    # Shenzhen's period has no housing-fund rates: the employer's own become the item's.
    entity_policy_setting_update(actor=system, entity=org["sz"], housing_fund_employer_rate="0.05")
    sz = policy_period_for_entity(org["sz"], dt.date(2025, 8, 1))
    assert sz.items[Insurance.HOUSING_FUND].employer_rate.value == Decimal("0.05")
    assert sz.items[Insurance.HOUSING_FUND].employee_rate.value is None
    assert sz.items[Insurance.WORK_INJURY].employer_rate.value is None  # no override set


def test_city_library_summary():
    summaries = city_library_summary()
    names = [s.city.short_name for s in summaries]
    with_periods = [s for s in summaries if s.periods]
    assert names.index("杭州") > max(names.index(s.city.short_name) for s in with_periods)
    beijing = next(s for s in summaries if s.city.short_name == "北京")
    assert beijing.periods == 2
    assert beijing.by_confidence["secondary_with_official_url"] > 0
    assert beijing.by_confidence["secondary_no_official_url"] > 0
    assert beijing.figures == sum(beijing.by_confidence.values())
    assert beijing.missing > 0 and beijing.candidates == 4 and beijing.last_verified is None
    hangzhou = next(s for s in summaries if s.city.short_name == "杭州")
    assert (hangzhou.periods, hangzhou.figures, hangzhou.candidates) == (0, 0, 2)
