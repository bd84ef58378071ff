"""Reconciliation against ledger rows made through the ORM: every discrepancy kind and its
boundary, amounts from the policy library's own figures, recomputation in place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.core.yearmonth import YearMonth
from shebao.law.selectors import citation_ids
from shebao.ledger.models import (
    ContributionRecord,
    Discrepancy,
    EnrollmentStatus,
    LedgerPerson,
    LedgerUnit,
    SyncRun,
)
from shebao.ledger.reconcile import BASE_TOLERANCE, discrepancies_recompute, discrepancy_rows
from shebao.ledger.reconciliation.rows import ALL_CITATIONS
from shebao.policy.calculators import contribution
from shebao.policy.models import EntityPolicySetting, FigureField, PolicyFigure, PolicyPeriod
from shebao.policy.selectors import policy_period_for_entity
from shebao.policy.terms import Insurance

K = Discrepancy.Kind
TODAY = dt.date(2025, 6, 30)  # Beijing's 2024年度 period covers 2024-07 … 2025-06
PENSION, MEDICAL, HF, INJURY = "pension", "medical", "housing_fund", "work_injury"


def months(first: str, last: str | None = None) -> list[int]:
    a, b = YearMonth.parse(first), YearMonth.parse(last or first)
    return [int(m.compact) for m in YearMonth.range(a, b)]


class Book:
    """A tiny ledger factory: our unit, another employer's unit, people and monthly records."""

    def __init__(self, entity):
        self.entity = entity
        self.run = SyncRun.objects.create(entity=entity, source="cli", status="succeeded")
        self.ours = LedgerUnit.objects.create(
            key=f"no:{entity.code}", unit_no=entity.code, name=entity.name, entity=entity
        )
        self.other = LedgerUnit.objects.create(key=f"name:前雇主{entity.code}", name="前雇主有限公司")
        self._n = 0

    def person(self, employee=None, *, name: str = "") -> LedgerPerson:
        self._n += 1
        if employee is None:
            return LedgerPerson.objects.create(
                key=f"acct:{self.entity.code}:{self._n}", name=name or "陌生人"
            )
        return LedgerPerson.objects.create(
            key=employee.id_number_bidx,
            id_number_bidx=employee.id_number_bidx,
            name=employee.name,
            employee=employee,
            match=LedgerPerson.Match.ID_NUMBER,
        )

    def pay(
        self,
        person,
        insurance: str,
        periods: list[int],
        *,
        unit=None,
        base="10000",
        status="paid",
        employer="100.00",
        employee="50.00",
    ) -> None:
        ContributionRecord.objects.bulk_create(
            ContributionRecord(
                person=person,
                insurance=insurance,
                period=p,
                unit=unit or self.ours,
                entity=self.entity,
                base=None if base is None else Decimal(base),
                employer_due=None if employer is None else Decimal(employer),
                employee_due=None if employee is None else Decimal(employee),
                status=status,
                evidence=ContributionRecord.Evidence.PAID,
                first_run=self.run,
                last_run=self.run,
            )
            for p in periods
        )

    def pay_all(self, person, periods: list[int], **kw) -> None:
        for ins in (PENSION, MEDICAL, HF):
            self.pay(person, ins, periods, **kw)

    def enrol(self, person, insurance: str, *, unit, reported: dt.date, state="active") -> None:
        EnrollmentStatus.objects.create(
            person=person,
            insurance=insurance,
            unit=unit,
            entity=self.entity,
            state=state,
            reported_at=timezone.make_aware(dt.datetime.combine(reported, dt.time(9))),
            run=self.run,
        )


@pytest.fixture
def bj(org):
    return org["bj"]


@pytest.fixture
def book(bj):
    return Book(bj)


@pytest.fixture
def cutoff(bj):
    def set_day(day: int | None):
        EntityPolicySetting.objects.update_or_create(entity=bj, defaults={"cutoff_day": day})

    return set_day


@pytest.fixture
def background(book, make_employee):
    """A colleague paid every month for pension, medical and 公积金: the ledger's data window is
    2024-07 … 2025-06 for each."""
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in (PENSION, MEDICAL, HF):
        book.pay(p, ins, months("2024-07", "2025-06"))
    return colleague


def run(**kw):
    kw.setdefault("today", TODAY)
    return discrepancies_recompute(**kw)


def rows(employee=None, kind=None, insurance=None, status=Discrepancy.Status.OPEN):
    qs = Discrepancy.objects.all()
    if employee is not None:
        qs = qs.filter(employee=employee)
    if kind:
        qs = qs.filter(kind=kind)
    if insurance:
        qs = qs.filter(insurance=insurance)
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("kind", "insurance", "period_from"))


def line(entity, insurance: str, month: str, base, *, bounded=True):
    ym = YearMonth.parse(month)
    period = policy_period_for_entity(entity, ym.first_day)
    if not bounded:
        from dataclasses import replace

        from shebao.policy import terms

        items = dict(period.items)
        items[Insurance(insurance)] = replace(
            items[Insurance(insurance)], base_min=terms.MISSING, base_max=terms.MISSING
        )
        period = replace(period, items=items)
    return contribution(period, month=ym, base=Decimal(base), insurances=[Insurance(insurance)]).line(
        Insurance(insurance)
    )


# --- not_enrolled and the cut-off day ---------------------------------------------------------


@pytest.mark.parametrize(("day", "missing"), [(15, [202409]), (16, [])], ids=["hire-on-D", "hire-D+1"])
def test_hire_on_the_cutoff_day_makes_the_hire_month_expected(
    book, background, make_employee, cutoff, day, missing
):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 9, day), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-10", "2025-06"))
    run()
    got = rows(emp, K.NOT_ENROLLED, PENSION)
    assert [r.period_from for r in got] == missing
    if missing:
        assert got[0].months == 1 and got[0].period_to == 202409
        assert "增减员截止日 15 日" in got[0].explanation
        assert "入职日期 2024-09-15" in got[0].explanation


def test_hire_month_after_the_cutoff_may_be_paid_or_not(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 9, 20), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-09", "2025-06"))  # optional month paid: fine
    run()
    assert rows(emp, K.NOT_ENROLLED, PENSION) == []
    assert rows(emp, K.AFTER_LEAVING) == []


def test_unknown_cutoff_day_treats_hire_and_leave_months_as_optional(book, background, make_employee):
    emp = make_employee(
        hire_date=dt.date(2024, 9, 2), leave_date=dt.date(2025, 4, 28), declared_wage=Decimal("10000")
    )
    book.pay_all(book.person(emp), months("2024-10", "2025-03"))
    result = run()
    assert rows(emp) == []
    assert any("增减员截止日未设置：入职、离职当月按“可缴可不缴”处理" in n for n in result.notes)


def test_unknown_cutoff_day_still_expects_the_month_after_hire(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 9, 2), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-11", "2025-06"))
    run()
    (row,) = rows(emp, K.NOT_ENROLLED, PENSION)
    assert (row.period_from, row.period_to) == (202410, 202410)
    assert "增减员截止日未设置" in row.explanation


def test_cutoff_day_from_the_city_period_figure_when_the_entity_has_none(book, background, make_employee, bj):
    period = PolicyPeriod.objects.get(city=bj.city, effective_from=dt.date(2024, 7, 1))
    PolicyFigure.objects.update_or_create(
        period=period, insurance="", field=FigureField.CUTOFF_DAY, defaults={"value": Decimal(20)}
    )
    emp = make_employee(hire_date=dt.date(2024, 9, 18), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-10", "2025-06"))
    run()
    (row,) = rows(emp, K.NOT_ENROLLED, PENSION)
    assert row.period_from == 202409
    assert row.detail["spell"]["cutoff_at_hire"]["origin"] == "city_policy"


@pytest.mark.parametrize(
    ("day", "kind", "period"),
    [(15, None, None), (16, K.NOT_ENROLLED, 202503)],
    ids=["leave-on-D", "leave-D+1"],
)
def test_leave_on_the_cutoff_day_makes_the_leave_month_optional(
    book, background, make_employee, cutoff, day, kind, period
):
    cutoff(15)
    emp = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 3, day), declared_wage=Decimal("10000")
    )
    book.pay_all(book.person(emp), months("2024-07", "2025-02"))
    run()
    got = rows(emp, insurance=PENSION)
    if kind is None:
        assert got == []
    else:
        assert [(r.kind, r.period_from, r.months) for r in got] == [(kind, period, 1)]


def test_not_enrolled_groups_consecutive_months_and_prices_them(book, background, make_employee, cutoff, bj):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("12000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2024-12") + months("2025-04", "2025-06"))
    book.pay(p, MEDICAL, months("2024-07", "2025-06"))
    book.pay(p, HF, months("2024-07", "2025-06"), base="12000")
    run()
    (row,) = rows(emp, K.NOT_ENROLLED)
    assert (row.insurance, row.period_from, row.period_to, row.months) == (PENSION, 202501, 202503, 3)
    expected = line(bj, PENSION, "2025-01", "12000")
    assert row.amount == expected.total * 3
    assert row.detail["expected"]["employer"] == str(expected.employer_amount * 3)
    assert row.detail["figures"][0]["employer_rate"]["confidence"]
    assert row.person_id == p.pk and row.unit_id is None
    assert row.explanation.startswith(
        "2025-01 至 2025-03 共3个月未由本单位缴纳养老保险（入职日期 2024-07-01，增减员截止日 15 日）"
    )
    assert {"SIL-58", "SIL-60"} <= set(row.citations)
    assert set(row.citations) <= set(citation_ids())


def test_not_enrolled_amount_is_none_when_a_rate_is_not_on_record(book, background, make_employee, cutoff):
    cutoff(15)
    colleague_p = LedgerPerson.objects.get(employee=background)
    book.pay(colleague_p, INJURY, months("2024-07", "2025-06"))  # the ledger has 工伤 data now
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("12000"))
    p = book.person(emp)
    for ins in (PENSION, MEDICAL, HF):
        book.pay(p, ins, months("2024-07", "2025-06"))
    run()
    (row,) = rows(emp, K.NOT_ENROLLED)
    assert row.insurance == INJURY and row.months == 12
    assert row.amount is None  # Beijing's work-injury employer rate is 未收录 in the library
    assert "工伤保险 单位费率未收录" in row.detail["missing"]
    assert "应缴金额无法测算" in row.explanation


def test_employee_absent_from_the_ledger_is_not_enrolled(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2025, 1, 1), declared_wage=Decimal("9000"))
    run()
    got = rows(emp, K.NOT_ENROLLED)
    assert {r.insurance for r in got} == {PENSION, MEDICAL, HF}
    assert all((r.period_from, r.period_to, r.person_id) == (202501, 202506, None) for r in got)


def test_months_outside_the_data_window_are_not_judged(book, make_employee, cutoff):
    cutoff(15)
    colleague = make_employee(hire_date=dt.date(2020, 1, 1))
    cp = book.person(colleague)
    book.pay(cp, PENSION, months("2024-10", "2025-06"))
    book.pay(cp, HF, months("2024-10", "2025-03"))  # the 公积金 file reaches only March
    emp = make_employee(hire_date=dt.date(2024, 1, 1), declared_wage=Decimal("10000"))
    result = run()
    got = {r.insurance: (r.period_from, r.period_to) for r in rows(emp, K.NOT_ENROLLED)}
    assert got == {PENSION: (202410, 202506), HF: (202410, 202503)}
    assert any("此前的月份不作判断" in n and "2024-10" in n for n in result.notes)


def test_insurances_without_ledger_data_are_not_expected(book, make_employee, cutoff):
    cutoff(15)
    colleague = make_employee(hire_date=dt.date(2020, 1, 1))
    book.pay(book.person(colleague), HF, months("2024-07", "2025-06"))  # a 公积金-only file
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), HF, months("2024-07", "2025-06"))
    result = run()
    assert rows(emp) == []
    assert any("台账中没有养老保险" in n for n in result.notes)


def test_interns_and_retiree_rehires_are_not_expected(book, background, make_employee, cutoff):
    cutoff(15)
    intern = make_employee(hire_date=dt.date(2024, 7, 1), employment_type="intern")
    retiree = make_employee(hire_date=dt.date(2024, 7, 1), employment_type="retiree_rehire")
    book.pay(book.person(retiree), MEDICAL, months("2024-07", "2025-06"))  # covering them is fine too
    run()
    assert rows(intern) == [] and rows(retiree) == []


# --- other_unit --------------------------------------------------------------------------------


def test_previous_employer_still_paying_is_other_unit(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 10, 8), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2024-12"), unit=book.other, employer="1600.00", employee="800.00")
    book.pay(p, PENSION, months("2024-10", "2025-06"))
    run()
    (row,) = rows(emp, K.OTHER_UNIT)
    assert (row.insurance, row.unit_id, row.period_from, row.period_to, row.months) == (
        PENSION,
        book.other.pk,
        202410,
        202412,
        3,
    )
    assert row.amount == Decimal("7200.00")  # 3 × (1600 + 800) as recorded
    assert row.detail["recorded"]["employer"] == "4800.00"
    assert "前雇主有限公司" in row.explanation and "LCL-50" in row.citations
    assert rows(emp, K.NOT_ENROLLED, PENSION) == []


def test_other_unit_in_an_optional_hire_month_is_fine(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 10, 20), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2024-10"), unit=book.other)
    book.pay_all(p, months("2024-11", "2025-06"))
    run()
    assert rows(emp) == []


def test_other_unit_not_paying_but_still_reported_active(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 10, 8), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, MEDICAL, months("2024-10", "2025-06"))
    book.enrol(p, MEDICAL, unit=book.other, reported=dt.date(2025, 2, 10))
    book.enrol(p, PENSION, unit=book.other, reported=dt.date(2024, 9, 1))  # before hire: fine
    run()
    (row,) = rows(emp, K.OTHER_UNIT)
    assert (row.insurance, row.unit_id, row.months, row.period_from) == (MEDICAL, book.other.pk, 0, 202410)
    assert row.detail["enrollment"]["reported_on"] == "2025-02-10"


# --- after_leaving -----------------------------------------------------------------------------


def test_leaver_still_paid_by_us_is_after_leaving(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 2, 10), declared_wage=Decimal("10000")
    )
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2025-05"), employer="1600.00", employee="800.00")
    book.enrol(p, PENSION, unit=book.ours, reported=dt.date(2025, 5, 20))
    run()
    (row,) = rows(emp, insurance=PENSION)
    assert (row.kind, row.unit_id, row.period_from, row.period_to, row.months) == (
        K.AFTER_LEAVING,
        book.ours.pk,
        202503,
        202505,
        3,
    )
    assert row.amount == Decimal("7200.00")
    assert row.citations == ["LCL-50"]
    assert row.detail["enrollment"]["reported_on"] == "2025-05-20"
    assert row.explanation.startswith(
        "离职（2025-02-10，增减员截止日 15 日）后，2025-03 至 2025-05 共3个月仍由本单位缴纳养老保险"
    )


def test_months_after_the_current_month_are_not_judged(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 4, 30), declared_wage=Decimal("10000")
    )
    p = book.person(emp)
    book.pay_all(p, months("2024-07", "2025-08"))  # 2025-07 and 2025-08 are after TODAY's month
    run()
    ((kind, period_from, period_to),) = {(r.kind, r.period_from, r.period_to) for r in rows(emp)}
    assert (kind, period_from, period_to) == (K.AFTER_LEAVING, 202505, 202506)


def test_leaver_reported_active_after_the_month_boundary(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 2, 20), declared_wage=Decimal("10000")
    )
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2025-02"))
    book.enrol(p, MEDICAL, unit=book.ours, reported=dt.date(2025, 2, 25))  # still in the leave month: fine
    book.enrol(p, PENSION, unit=book.ours, reported=dt.date(2025, 3, 2))
    run()
    (row,) = rows(emp, K.AFTER_LEAVING)
    assert (row.insurance, row.period_from, row.months) == (PENSION, 202503, 0)
    assert "仍为“参保缴费”" in row.explanation


def test_rehire_gap_paid_by_us_is_after_leaving_and_the_new_spell_is_expected(
    book, background, make_employee, cutoff, system, bj
):
    from shebao.roster.services import employee_rehire

    cutoff(15)
    emp = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2024, 10, 20), declared_wage=Decimal("10000")
    )
    employee_rehire(
        actor=system,
        employee=emp,
        entity=bj,
        hire_date=dt.date(2025, 2, 3),
        employee_no=f"R{emp.pk:05d}",
        declared_wage=Decimal("10000"),
    )
    p = book.person(emp)
    book.pay_all(p, months("2024-07", "2024-12"))  # 2024-11 and 2024-12 fall between the spells
    book.pay(p, MEDICAL, months("2025-02", "2025-06"))
    book.pay(p, HF, months("2025-02", "2025-06"))
    run()
    got = [(r.kind, r.insurance, r.period_from, r.period_to) for r in rows(emp)]
    assert (K.AFTER_LEAVING, PENSION, 202411, 202412) in got
    assert (K.NOT_ENROLLED, PENSION, 202502, 202506) in got
    assert all(r[0] != K.NOT_ENROLLED or r[1] == PENSION for r in got)


def test_a_refunded_month_is_not_covered(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2025-05"))
    book.pay(p, PENSION, months("2025-06"), status="refunded")
    book.pay(p, MEDICAL, months("2024-07", "2025-06"))
    book.pay(p, HF, months("2024-07", "2025-06"))
    run()
    (row,) = rows(emp)
    assert (row.kind, row.insurance, row.period_from) == (K.NOT_ENROLLED, PENSION, 202506)


# --- unpaid ------------------------------------------------------------------------------------


def test_arrears_and_unpaid_records_by_us(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2024-12"))
    book.pay(
        p, PENSION, months("2025-01", "2025-02"), status="arrears", employer="1600.00", employee="800.00"
    )
    book.pay(p, PENSION, months("2025-03", "2025-06"))
    book.pay(p, MEDICAL, months("2024-07", "2025-05"))
    book.pay(p, MEDICAL, months("2025-06"), status="unpaid", employer=None, employee=None)
    run()
    got = rows(emp, K.UNPAID)
    assert [(r.insurance, r.period_from, r.period_to, r.amount) for r in got] == [
        (MEDICAL, 202506, 202506, None),
        (PENSION, 202501, 202502, Decimal("4800.00")),
    ]
    assert "SIL-86" in got[1].citations
    assert "欠缴" in got[1].explanation
    assert rows(emp, K.NOT_ENROLLED, PENSION) == []  # an arrears month is enrolled, just not paid


# --- bases -------------------------------------------------------------------------------------


def _bounds(entity, insurance: str, month: str):
    period = policy_period_for_entity(entity, YearMonth.parse(month).first_day)
    item = period.items[Insurance(insurance)]
    return item.base_min.value, item.base_max.value


def test_base_below_min_and_above_max_use_the_library_figures(book, background, make_employee, cutoff, bj):
    cutoff(15)
    low, high = _bounds(bj, PENSION, "2024-08")
    assert low is not None and high is not None  # 北京 2024年度 has sourced bounds
    below, above = low - 1000, high + 5000
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=below)
    rich = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=above)
    p, q = book.person(emp), book.person(rich)
    book.pay(p, PENSION, months("2024-07", "2025-06"), base=str(below))
    book.pay(q, PENSION, months("2024-07", "2025-06"), base=str(above))
    for person in (p, q):
        book.pay(person, MEDICAL, months("2024-07", "2025-06"), base=str(low))
        book.pay(person, HF, months("2024-07", "2025-06"), base="1000")  # 公积金 base_min 未收录
    result = run()

    (row,) = rows(emp, K.BASE_BELOW_MIN)
    assert (row.insurance, row.period_from, row.period_to, row.months) == (PENSION, 202407, 202506, 12)
    per_month = (
        line(bj, PENSION, "2024-08", low).total - line(bj, PENSION, "2024-08", below, bounded=False).total
    )
    assert row.amount == per_month * 12
    assert row.detail["segments"][0]["expected_base"] == f"{low:.2f}"
    assert f"下限 {low:.2f}" in row.explanation or f"下限 {low}" in row.explanation

    (row,) = rows(rich, K.BASE_ABOVE_MAX)
    per_month = (
        line(bj, PENSION, "2024-08", above, bounded=False).total - line(bj, PENSION, "2024-08", high).total
    )
    assert row.amount == per_month * 12
    assert row.citations == ["SIL-60"]

    # A missing bound is no discrepancy, but the run says it was not checked.
    assert rows(emp, insurance=HF) == [] or all(r.kind == K.BASE_MISMATCH for r in rows(emp, insurance=HF))
    assert not rows(kind=K.BASE_BELOW_MIN, insurance=HF)
    assert any("住房公积金缴费基数下限未收录" in n for n in result.notes)


@pytest.mark.parametrize(
    ("base", "flagged"),
    [("10000.99", False), ("10001.00", False), ("10001.50", True), ("9998.00", True)],
)
def test_base_mismatch_uses_a_tolerance(book, background, make_employee, cutoff, base, flagged):
    assert BASE_TOLERANCE == Decimal("1")
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2025-06"), base=base)
    book.pay(p, MEDICAL, months("2024-07", "2025-06"))
    book.pay(p, HF, months("2024-07", "2025-06"))
    run()
    got = rows(emp, K.BASE_MISMATCH)
    assert bool(got) is flagged
    if flagged:
        (row,) = got
        assert (row.insurance, row.months) == (PENSION, 12)
        assert row.detail["direction"] == ("high" if Decimal(base) > 10000 else "low")
        assert row.amount and row.amount > 0


def test_base_mismatch_compares_with_the_wage_clamped_to_the_bounds(
    book, background, make_employee, cutoff, bj
):
    cutoff(15)
    low, _ = _bounds(bj, PENSION, "2024-08")
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("3000"))  # below the floor
    p = book.person(emp)
    book.pay(p, PENSION, months("2024-07", "2025-06"), base=str(low))
    book.pay(p, MEDICAL, months("2024-07", "2025-06"), base=str(low))
    book.pay(p, HF, months("2024-07", "2025-06"), base="3000")
    run()
    assert rows(emp, K.BASE_MISMATCH) == []


# --- unknown_person ----------------------------------------------------------------------------


def test_person_nobody_employs_is_listed(book, background, make_employee):
    stranger = book.person(name="王某")
    book.pay(stranger, PENSION, months("2025-01", "2025-03"), employer="1600.00", employee="800.00")
    run()
    (row,) = rows(kind=K.UNKNOWN_PERSON)
    assert (row.person_id, row.employee_id, row.months, row.period_from) == (stranger.pk, None, 3, 202501)
    assert row.amount == Decimal("7200.00")
    assert "王某" in row.explanation and "花名册中没有此人" in row.explanation

    # Matched to a new employee later: the row resolves.
    emp = make_employee(hire_date=dt.date(2025, 1, 1), declared_wage=Decimal("10000"))
    LedgerPerson.objects.filter(pk=stranger.pk).update(employee=emp)
    result = run(person_ids=[stranger.pk])
    assert result.resolved >= 1
    row.refresh_from_db()
    assert row.status == Discrepancy.Status.RESOLVED


# --- recomputation -----------------------------------------------------------------------------


def test_recompute_twice_creates_no_duplicates(book, background, make_employee, cutoff):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-07", "2024-12"))
    first = run()
    before = list(Discrepancy.objects.values_list("id", "fingerprint").order_by("id"))
    second = run()
    assert list(Discrepancy.objects.values_list("id", "fingerprint").order_by("id")) == before
    assert first.opened == len(before) > 0
    assert (second.opened, second.updated, second.resolved, second.unchanged) == (0, 0, 0, len(before))
    assert second.counts == first.counts


def test_rows_stored_before_digests_are_rewritten_once_with_the_same_content(
    book, background, make_employee, cutoff
):
    """Rows from before the content digest (digest "") are updated once — by executemany, JSON,
    amounts and all — and unchanged after; what they hold is exactly what a fresh store writes."""
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    book.pay(book.person(emp), PENSION, months("2024-07", "2024-12"))
    run()
    fields = ("fingerprint", "kind", "amount", "detail", "citations", "explanation", "months", "digest")
    fresh = sorted(Discrepancy.objects.values_list(*fields))
    assert fresh and all(len(r[-1]) == 64 for r in fresh)
    Discrepancy.objects.update(digest="", detail={}, amount=None)  # as an old row would differ
    again = run()
    assert again.updated == len(fresh) and again.opened == 0
    assert sorted(Discrepancy.objects.values_list(*fields)) == fresh
    assert run().unchanged == len(fresh)


def test_rows_resolve_when_the_data_changes_and_reopen_when_it_comes_back(
    book, background, make_employee, cutoff
):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    for ins in (MEDICAL, HF):
        book.pay(p, ins, months("2024-07", "2025-06"))
    book.pay(p, PENSION, months("2024-07", "2025-02"))
    run()
    (row,) = rows(emp)
    assert (row.kind, row.period_from, row.months) == (K.NOT_ENROLLED, 202503, 4)

    book.pay(p, PENSION, months("2025-03", "2025-06"))
    result = run(employee_ids=[emp.pk])
    assert result.resolved == 1
    row.refresh_from_db()
    assert row.status == Discrepancy.Status.RESOLVED and row.resolved_at is not None

    ContributionRecord.objects.filter(person=p, insurance=PENSION, period__gte=202503).delete()
    result = run()
    assert result.reopened == 1
    row.refresh_from_db()
    assert row.status == Discrepancy.Status.OPEN and row.resolved_at is None
    assert Discrepancy.objects.filter(employee=emp).count() == 1


def test_incremental_recompute_touches_only_the_given_people(book, background, make_employee, cutoff):
    cutoff(15)
    a = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    b = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    pa, pb = book.person(a), book.person(b)
    for p in (pa, pb):
        book.pay(p, PENSION, months("2024-07", "2024-12"))
    run()
    assert len(rows(a)) == len(rows(b)) == 3  # pension from 2025-01, medical, 公积金

    for p in (pa, pb):
        for ins in (PENSION, MEDICAL, HF):
            book.pay(p, ins, [m for m in months("2024-07", "2025-06") if ins != PENSION or m > 202412])
    result = run(person_ids=[pa.pk])
    assert result.incremental and result.employees == 1
    assert result.resolved == 3
    assert rows(a) == []
    assert len(rows(b)) == 3  # not recomputed yet
    run(employee_ids=[b.pk])
    assert rows(b) == []


def test_incremental_for_one_employee_runs_a_bounded_number_of_queries(
    book, background, make_employee, cutoff, django_assert_max_num_queries
):
    cutoff(15)
    people = []
    for _ in range(20):
        emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
        p = book.person(emp)
        book.pay(p, PENSION, months("2024-07", "2025-03"))
        people.append(emp)
    run()
    with django_assert_max_num_queries(45):
        run(employee_ids=[people[3].pk])


def test_full_recompute_of_one_entity_leaves_the_others_alone(book, background, make_employee, cutoff, org):
    cutoff(15)
    sz_book = Book(org["sz"])
    sz_colleague = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 7, 1))
    sz_book.pay(sz_book.person(sz_colleague), PENSION, months("2024-07", "2025-06"))
    sz_emp = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2024, 7, 1))
    sz_book.pay(sz_book.person(sz_emp), PENSION, months("2024-07", "2024-09"))
    run(entity=org["sz"])
    sz_rows = rows(sz_emp)
    assert sz_rows
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    result = run(entity=book.entity)
    assert result.entities == 1
    assert rows(emp) and rows(sz_emp) == sz_rows


def test_discrepancy_rows_read(book, background, make_employee, cutoff, bj):
    cutoff(15)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    run()
    assert {d.kind for d in discrepancy_rows(entity=bj, employee=emp)} == {K.NOT_ENROLLED}
    assert list(discrepancy_rows(entity=bj, kinds=[K.UNPAID])) == []
    assert discrepancy_rows(employee=emp.pk, status=None).count() == 3


def test_every_citation_used_exists_in_the_law_library(db):
    assert set(ALL_CITATIONS) <= set(citation_ids())
