"""The kinds that read reconciliation's open discrepancies: enrolled elsewhere, leavers not stopped,
bases out of range or not matching the wage, arrears with their late fee, people nobody employs.

Every test reconciles first (as the sync does) with TODAY = 2025-06-30: Beijing's 2024年度 policy
period covers 2024-07 … 2025-06, the background colleague gives the ledger that data window, and
the entity's 增减员截止日 is the 15th unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import Discrepancy, LedgerPerson
from shebao.policy.calculators.arrears import late_fee
from shebao.policy.models import PolicyFigure
from shebao.policy.selectors import policy_period_for_entity
from shebao.policy.terms import Insurance
from shebao.rules.models import Finding
from shebao.rules.tests.factories import Book, cutoff, evaluate, found, months, only_rule, reconcile

F = Finding.Status
K = Discrepancy.Kind
TODAY = dt.date(2025, 6, 30)
ELSEWHERE, LEAVER, RANGE, MISMATCH = (
    "enrolled_elsewhere",
    "leaver_not_stopped",
    "base_out_of_range",
    "base_mismatch",
)
ARREARS, UNKNOWN = "arrears", "unknown_enrollee"


@pytest.fixture
def bj(org):
    return org["bj"]


@pytest.fixture
def book(bj):
    cutoff(bj, 15)
    return Book(bj)


@pytest.fixture
def background(book, make_employee):
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    return colleague


def pay_all(book, person, first, last, insurances=("pension", "medical", "housing_fund"), **kw):
    for ins in insurances:
        book.pay(person, ins, months(first, last), **kw)


def run(day: dt.date = TODAY, kind: str | None = None, **kw):
    reconcile(TODAY)
    return evaluate(day, kind, **kw)


# --- enrolled_elsewhere ---------------------------------------------------------------------------


def test_enrolled_elsewhere_from_another_units_records(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 3, 3), declared_wage=Decimal("10000"))
    p = book.person(new)
    book.pay(p, "pension", months("2025-03", "2025-05"), unit=book.other)  # the old employer never stopped
    book.pay(p, "pension", months("2025-06"))
    pay_all(book, p, "2025-03", "2025-06", insurances=("medical", "housing_fund"))
    run(kind=ELSEWHERE)
    (f,) = found(ELSEWHERE, employee=new)
    assert f.key == f"e{new.pk}:unit{book.other.pk}"
    assert f.deadline == dt.date(2025, 4, 2)  # 30 days after the hire
    assert f.details["insurances"] == ["pension"] and f.details["unit"] == "前雇主有限公司"
    assert [d["from"] for d in f.details["discrepancies"]] == ["2025-03"]
    assert "前雇主有限公司仍为其参保" in f.title and "养老保险" in f.title
    assert f.citations[:2] == ["SIL-58", "LCL-50"]
    assert f.severity == "critical"


def test_enrolled_elsewhere_is_about_current_employees_only(book, background, make_employee):
    gone = make_employee(
        hire_date=dt.date(2025, 1, 2), leave_date=dt.date(2025, 5, 31), declared_wage=Decimal("10000")
    )
    book.pay(book.person(gone), "pension", months("2025-01", "2025-05"), unit=book.other)
    reconcile(TODAY)
    assert Discrepancy.objects.filter(employee=gone, kind=K.OTHER_UNIT).exists()
    evaluate(TODAY, ELSEWHERE)
    assert found(ELSEWHERE, employee=gone) == []


@pytest.mark.parametrize(
    ("reported", "lookback", "flagged"),
    [
        (dt.date(2025, 6, 10), 30, True),  # after the hire
        (dt.date(2025, 5, 10), 30, True),  # 24 days before the hire: within the look-back
        (dt.date(2025, 5, 10), 20, False),  # … outside a 20-day look-back
        (dt.date(2025, 4, 1), 30, False),  # long before the hire: the person may have moved on since
    ],
)
def test_enrolled_elsewhere_from_an_active_status_of_another_unit(
    book, background, make_employee, reported, lookback, flagged
):
    rule = only_rule(ELSEWHERE, params={"status_lookback_days": lookback})
    new = make_employee(hire_date=dt.date(2025, 6, 3), declared_wage=Decimal("10000"))
    p = book.person(new)
    book.status(p, "medical", unit=book.other, reported=reported, since=dt.date(2023, 1, 1))
    run(kind=ELSEWHERE)
    got = found(ELSEWHERE, employee=new, rule=rule)
    assert bool(got) is flagged
    if flagged:
        (f,) = got
        assert f.key == f"e{new.pk}:unit{book.other.pk}"
        assert f.details["insurances"] == ["medical"]
        assert any(s["reported_at"] == reported.isoformat() for s in f.details["reported_statuses"]) or (
            f.details["discrepancies"] and f.details["discrepancies"][0]["kind"] == K.OTHER_UNIT
        )
        assert f.deadline == dt.date(2025, 7, 3)


def test_an_active_status_elsewhere_is_out_of_date_once_we_cover_the_insurance(
    book, background, make_employee
):
    new = make_employee(hire_date=dt.date(2025, 6, 3), declared_wage=Decimal("10000"))
    p = book.person(new)
    book.status(p, "medical", unit=book.other, reported=dt.date(2025, 6, 10))
    book.pay(p, "medical", months("2025-06"))  # we enrolled them for June: the report is stale
    run(kind=ELSEWHERE)
    assert found(ELSEWHERE, employee=new) == []


def test_enrolled_elsewhere_resolves_when_the_other_unit_stops(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 6, 3), declared_wage=Decimal("10000"))
    p = book.person(new)
    st = book.status(p, "medical", unit=book.other, reported=dt.date(2025, 6, 10))
    run(kind=ELSEWHERE)
    (f,) = found(ELSEWHERE, employee=new)
    st.state = "terminated"
    st.save()
    r = run(kind=ELSEWHERE)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED
    assert f.resolved_reason == "其他单位已停保，或已由本单位参保"


# --- leaver_not_stopped ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leave", "paid_through", "flagged"),
    [
        (dt.date(2025, 3, 15), "2025-03", False),  # leaving on the cut-off: March may be paid or not
        (dt.date(2025, 3, 15), "2025-04", True),
        (dt.date(2025, 3, 16), "2025-03", False),  # after the cut-off: March must be paid
        (dt.date(2025, 3, 16), "2025-04", True),
        (dt.date(2025, 3, 31), "2025-03", False),  # the last day of the month
        (dt.date(2025, 3, 31), "2025-04", True),
    ],
    ids=[
        "on-cutoff-ok",
        "on-cutoff-april",
        "after-cutoff-ok",
        "after-cutoff-april",
        "month-end-ok",
        "month-end-april",
    ],
)
def test_leaver_not_stopped_around_the_cutoff(book, background, make_employee, leave, paid_through, flagged):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), leave_date=leave, declared_wage=Decimal("10000"))
    p = book.person(emp)
    pay_all(book, p, "2024-07", paid_through, employer="1600.00", employee="800.00")
    run(kind=LEAVER)
    got = found(LEAVER, employee=emp)
    assert bool(got) is flagged
    if flagged:
        (f,) = got
        assert f.key == f"e{emp.pk}:left{leave.isoformat()}"
        assert f.deadline == leave + dt.timedelta(days=15)
        assert f.amount == Decimal("7200.00")  # April, three insurances × 2400
        assert f.details["leave_date"] == leave.isoformat()
        assert f"已于 {leave.isoformat()} 离职" in f.title
        assert f.citations == ["LCL-50"] or f.citations[0] == "LCL-50"


@pytest.mark.parametrize(("day", "flagged"), [(dt.date(2025, 4, 20), False), (dt.date(2025, 4, 21), True)])
def test_leaver_grace_days(book, background, make_employee, day, flagged):
    rule = only_rule(LEAVER, params={"days": 20})
    emp = make_employee(hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 3, 31))
    pay_all(book, book.person(emp), "2024-07", "2025-04")
    run(day, LEAVER)
    assert bool(found(LEAVER, employee=emp, rule=rule)) is flagged


def test_leaver_still_reported_active_with_us(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 2, 20))
    p = book.person(emp)
    pay_all(book, p, "2024-07", "2025-02")
    book.status(p, "pension", reported=dt.date(2025, 3, 2))
    run(kind=LEAVER)
    (f,) = found(LEAVER, employee=emp)
    assert f.amount is None and f.key == f"e{emp.pk}:left2025-02-20"


def test_leaver_resolves_once_the_months_are_refunded(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 3, 31))
    p = book.person(emp)
    pay_all(book, p, "2024-07", "2025-05")
    run(kind=LEAVER)
    (f,) = found(LEAVER, employee=emp)
    from shebao.ledger.models import ContributionRecord

    ContributionRecord.objects.filter(person=p, period__gte=202504).update(status="refunded")
    r = run(kind=LEAVER)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED and "已停保" in f.resolved_reason


# --- bases ----------------------------------------------------------------------------------------


def _bounds(entity, insurance: str, month: str):
    period = policy_period_for_entity(entity, YearMonth.parse(month).first_day)
    item = period.items[Insurance(insurance)]
    return item.base_min.value, item.base_max.value


def test_base_out_of_range_below_and_above(book, background, make_employee, bj):
    low, high = _bounds(bj, "pension", "2024-08")
    poor = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=low - 1000)
    rich = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=high + 5000)
    for emp, base in ((poor, low - 1000), (rich, high + 5000)):
        p = book.person(emp)
        book.pay(p, "pension", months("2024-07", "2025-06"), base=str(base))
        book.pay(p, "medical", months("2024-07", "2025-06"), base=str(low))
        book.pay(p, "housing_fund", months("2024-07", "2025-06"), base=str(low))
    run(kind=RANGE)
    (a,) = found(RANGE, employee=poor)
    (b,) = found(RANGE, employee=rich)
    below = Discrepancy.objects.get(employee=poor, kind=K.BASE_BELOW_MIN)
    assert a.amount == below.amount and a.amount > 0
    assert a.key == f"e{poor.pk}:base_range" and "SIL-60" in a.citations
    assert b.details["discrepancies"][0]["kind"] == K.BASE_ABOVE_MAX

    rule = only_rule(RANGE, params={"below_min": False})
    evaluate(TODAY, RANGE)
    assert [f.employee_id for f in found(RANGE, rule=rule)] == [rich.pk]
    rule = only_rule(RANGE, params={"below_min": False, "above_max": False})
    evaluate(TODAY, RANGE)
    assert found(RANGE, rule=rule) == []


@pytest.mark.parametrize(
    ("params", "flagged"),
    [
        ({}, True),  # 1 yuan
        ({"tolerance_yuan": "99"}, True),
        ({"tolerance_yuan": "100"}, False),  # exactly 100 apart: within
        ({"tolerance_percent": "0.5"}, True),  # 50 yuan
        ({"tolerance_percent": "1"}, False),  # 100 yuan
    ],
)
def test_base_mismatch_tolerances(book, background, make_employee, params, flagged):
    rule = only_rule(MISMATCH, params=params)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, "pension", months("2024-07", "2025-06"), base="10100")
    book.pay(p, "medical", months("2024-07", "2025-06"))
    book.pay(p, "housing_fund", months("2024-07", "2025-06"))
    run(kind=MISMATCH)
    got = found(MISMATCH, employee=emp, rule=rule)
    assert bool(got) is flagged
    if flagged:
        (f,) = got
        assert f.details["args"]["max_diff"] == "100.00" and "最大相差 100.00 元" in f.title
        assert f.amount and f.amount > 0


def test_base_mismatch_params_are_validated(org):
    from shebao.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="tolerance_yuan"):
        only_rule(MISMATCH, params={"tolerance_yuan": "0.5"})


# --- arrears --------------------------------------------------------------------------------------


def _arrears_employee(book, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, "pension", months("2024-07", "2025-02"))
    book.pay(
        p, "pension", months("2025-03", "2025-04"), status="arrears", employer="1600.00", employee="800.00"
    )
    book.pay(p, "pension", months("2025-05", "2025-06"))
    book.pay(p, "medical", months("2024-07", "2025-05"))
    book.pay(p, "medical", months("2025-06"), status="unpaid", employer="500.00", employee="100.00")
    book.pay(p, "housing_fund", months("2024-07", "2025-06"))
    return emp


def test_arrears_when_the_city_due_day_is_not_on_record(book, background, make_employee, bj):
    assert policy_period_for_entity(bj, dt.date(2025, 3, 1)).payment_due_day.value is None
    emp = _arrears_employee(book, make_employee)
    run(kind=ARREARS)
    (f,) = found(ARREARS, employee=emp)
    assert f.details["args"]["months"] == 3  # 2025-03, 2025-04, 2025-06
    assert f.details["args"]["owed"] == "5400.00"
    assert f.details["late_fee"]["amount"] is None
    assert f.details["late_fee"]["notes"] == ["北京市的缴费截止日未收录，滞纳金无法计算"] or any(
        "缴费截止日未收录" in n for n in f.details["late_fee"]["notes"]
    )
    assert f.amount == Decimal("5400.00")  # the fee is unknown, not zero
    assert "未知 元" not in f.title and "滞纳金" in f.title
    assert f.citations[:2] == ["SIL-63", "SIL-86"]


def test_arrears_late_fee_from_the_city_due_day(book, background, make_employee, bj):
    PolicyFigure.objects.filter(
        period__city=bj.city, period__label="2024年度", field="payment_due_day"
    ).update(value=25)
    assert policy_period_for_entity(bj, dt.date(2025, 3, 1)).payment_due_day.value == 25
    emp = _arrears_employee(book, make_employee)
    day = dt.date(2025, 6, 30)
    run(day, ARREARS)
    (f,) = found(ARREARS, employee=emp)
    expected = sum(
        (
            late_fee(amount=Decimal("2400.00"), due=dt.date(2025, 3, 25), paid=day).fee,
            late_fee(amount=Decimal("2400.00"), due=dt.date(2025, 4, 25), paid=day).fee,
            late_fee(amount=Decimal("600.00"), due=dt.date(2025, 6, 25), paid=day).fee,
        ),
        Decimal("0"),
    )
    # 2400 × 0.0005 × 97 days + 2400 × 0.0005 × 66 days + 600 × 0.0005 × 5 days
    assert expected == Decimal("116.40") + Decimal("79.20") + Decimal("1.50")
    assert f.details["late_fee"]["amount"] == f"{expected:.2f}"
    assert f.amount == Decimal("5400.00") + expected
    assert f"滞纳金已达 {expected:.2f} 元" in f.title
    # before a month's due day there is no fee for that month yet
    r = evaluate(dt.date(2025, 6, 25), ARREARS)
    f.refresh_from_db()
    assert r.updated == 1
    assert Decimal(f.details["late_fee"]["amount"]) == (
        late_fee(amount=Decimal("2400.00"), due=dt.date(2025, 3, 25), paid=dt.date(2025, 6, 25)).fee
        + late_fee(amount=Decimal("2400.00"), due=dt.date(2025, 4, 25), paid=dt.date(2025, 6, 25)).fee
    )


def test_arrears_record_without_an_amount(book, background, make_employee, bj):
    PolicyFigure.objects.filter(
        period__city=bj.city, period__label="2024年度", field="payment_due_day"
    ).update(value=25)
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    pay_all(book, p, "2024-07", "2025-05")
    book.pay(p, "pension", months("2025-06"), status="unpaid", employer=None, employee=None)
    pay_all(book, p, "2025-06", "2025-06", insurances=("medical", "housing_fund"))
    run(kind=ARREARS)
    (f,) = found(ARREARS, employee=emp)
    assert f.amount is None  # neither the arrears nor the fee is known
    assert f.details["late_fee"]["amount"] is None
    assert "未知 元" not in f.title


def test_arrears_min_months(book, background, make_employee):
    rule = only_rule(ARREARS, params={"min_months": 4})
    emp = _arrears_employee(book, make_employee)
    run(kind=ARREARS)
    assert found(ARREARS, employee=emp, rule=rule) == []
    rule = only_rule(ARREARS, params={"min_months": 3})
    evaluate(TODAY, ARREARS)
    assert found(ARREARS, employee=emp, rule=rule)


# --- unknown_enrollee -----------------------------------------------------------------------------


def test_unknown_enrollee_paid_by_us(book, background, make_employee, bj):
    stranger = book.person(name="王某")
    book.pay(stranger, "pension", months("2025-01", "2025-03"), employer="1600.00", employee="800.00")
    run(kind=UNKNOWN)
    (f,) = found(UNKNOWN)
    assert (f.employee_id, f.person_id, f.entity_id) == (None, stranger.pk, bj.pk)
    assert f.key == f"p{stranger.pk}:entity{bj.pk}"
    assert f.amount == Decimal("7200.00")
    assert f.title == "王某不在花名册中，但本单位为其缴纳养老保险（2025-01至2025-03）"

    emp = make_employee(hire_date=dt.date(2025, 1, 1), declared_wage=Decimal("10000"))
    LedgerPerson.objects.filter(pk=stranger.pk).update(employee=emp)
    r = run(kind=UNKNOWN)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED


def test_unknown_enrollee_only_when_paid_or_enrolled_by_us(book, background, make_employee):
    """A candidate's 权益记录 uploaded before they join shows another employer's months in our data:
    we pay nothing for them, so there is nothing to stop."""
    candidate = book.person(name="李某")
    book.pay(candidate, "pension", months("2025-01", "2025-03"), unit=book.other)
    reconcile(TODAY)
    assert Discrepancy.objects.filter(kind=K.UNKNOWN_PERSON, person=candidate).exists()
    evaluate(TODAY, UNKNOWN)
    assert found(UNKNOWN) == []
    # …but reported ACTIVE with our unit, they are ours to stop
    book.status(candidate, "pension", reported=dt.date(2025, 6, 1))
    evaluate(TODAY, UNKNOWN)
    (f,) = found(UNKNOWN)
    assert f.person_id == candidate.pk
