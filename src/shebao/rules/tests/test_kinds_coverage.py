"""The kinds judged straight from the roster and the ledger: registration after hire (社保 and
公积金), interruptions of coverage and the medical waiting-period risk — each at its boundaries.

The background colleague gives Beijing a data window of 2024-07 … 2025-06 for pension, medical and
公积金 (the ledger's horizon); nothing else is in the ledger unless a test puts it there.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.core.context import Actor
from shebao.roster.services import employee_rehire, employee_update
from shebao.rules.kinds import KINDS
from shebao.rules.models import Finding
from shebao.rules.selectors import live_details
from shebao.rules.tests.factories import Book, evaluate, found, months, only_rule

F = Finding.Status
REG, HFREG = "registration_overdue", "housing_fund_unregistered"
MED, INS, WAIT = "medical_interrupted", "insurance_interrupted", "waiting_period_risk"
SYSTEM = Actor.system(via="test")


@pytest.fixture
def book(org):
    return Book(org["bj"])


@pytest.fixture
def background(book, make_employee):
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    return colleague


def covered(
    book, employee, first="2024-07", last="2025-06", insurances=("pension", "medical", "housing_fund")
):
    """An employee paid by us every month of the window (so only what the test changes shows)."""
    p = book.person(employee)
    for ins in insurances:
        book.pay(p, ins, months(first, last))
    return p


# --- registration_overdue -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 6, 23), None),  # day 22: before the 7-day warning window
        (dt.date(2025, 6, 24), ("due_soon", "warning", 7)),  # day 23: the window opens
        (dt.date(2025, 7, 1), ("due_soon", "warning", 0)),  # day 30: the deadline itself
        (dt.date(2025, 7, 2), ("overdue", "critical", -1)),  # day 31: overdue
    ],
    ids=["day22", "day23-warn", "day30-deadline", "day31-overdue"],
)
def test_registration_day_30_vs_31_and_the_warning_window(book, background, make_employee, day, expected):
    new = make_employee(hire_date=dt.date(2025, 6, 1), declared_wage=Decimal("10000"))
    evaluate(day, REG)
    got = found(REG, employee=new)
    if expected is None:
        assert got == []
        return
    (f,) = got
    variant, severity, days_left = expected
    assert f.details["variant"] == variant
    assert f.severity == severity
    assert f.deadline == dt.date(2025, 7, 1)
    # day counts are not stored (they would change every day); shown as of the day asked
    assert "days_left" not in f.details["args"]
    args = KINDS[REG].live(f.details["args"], day)
    assert args["days_left"] == days_left
    assert args["days_since"] == (day - dt.date(2025, 6, 1)).days
    assert f.citations == ["SIL-58", "SIL-84"]
    assert f.key == f"e{new.pk}:spell{new.spells.get().pk}"


def test_registration_params_days_and_no_warning(book, background, make_employee):
    only_rule(REG, params={"days": 15, "warn_days": 0})
    new = make_employee(hire_date=dt.date(2025, 6, 1))
    evaluate(dt.date(2025, 6, 15), REG)
    assert found(REG) == []
    evaluate(dt.date(2025, 6, 16), REG)  # day 15: the deadline (no warning days: found only now)
    (f,) = found(REG, employee=new)
    assert f.deadline == dt.date(2025, 6, 16) and f.severity == "warning"
    evaluate(dt.date(2025, 6, 17), REG)
    f.refresh_from_db()
    assert f.severity == "critical" and "已超 1 天" in f.title


@pytest.mark.parametrize(
    ("what", "flagged"),
    [
        ("record_in_hire_month", False),
        ("record_next_month", False),
        ("unpaid_record", False),  # registered, only not paid: arrears is another kind
        ("our_status_active", False),
        ("refunded_record", True),
        ("record_by_other_unit", True),
        ("record_before_hire", True),
        ("other_unit_status", True),
        ("our_status_not_enrolled", True),
    ],
)
def test_what_counts_as_registered(book, background, make_employee, what, flagged):
    new = make_employee(hire_date=dt.date(2025, 5, 10), declared_wage=Decimal("10000"))
    p = book.person(new)
    if what == "record_in_hire_month":
        book.pay(p, "pension", months("2025-05"))
    elif what == "record_next_month":
        book.pay(p, "medical", months("2025-06"))
    elif what == "unpaid_record":
        book.pay(p, "pension", months("2025-05"), status="unpaid")
    elif what == "our_status_active":
        book.status(p, "pension", reported=dt.date(2025, 6, 1))
    elif what == "refunded_record":
        book.pay(p, "pension", months("2025-05"), status="refunded")
    elif what == "record_by_other_unit":
        book.pay(p, "pension", months("2025-05", "2025-06"), unit=book.other)
    elif what == "record_before_hire":
        book.pay(p, "pension", months("2025-04"))
    elif what == "other_unit_status":
        book.status(p, "pension", unit=book.other)
    elif what == "our_status_not_enrolled":
        book.status(p, "pension", state="not_enrolled", since=dt.date(2025, 5, 20))
    evaluate(dt.date(2025, 6, 20), REG)
    assert bool(found(REG, employee=new)) is flagged


def test_rehire_makes_a_new_spell_keyed_finding(book, background, make_employee, org):
    emp = make_employee(hire_date=dt.date(2024, 9, 2), declared_wage=Decimal("10000"))
    evaluate(dt.date(2024, 10, 20), REG)
    (first,) = found(REG, employee=emp)
    old_spell = emp.spells.get()
    assert first.key == f"e{emp.pk}:spell{old_spell.pk}"

    # registered late for the first spell, then left; the old months do not register the new spell
    book.pay(book.person(emp), "pension", months("2024-10", "2024-12"))
    employee_update(actor=SYSTEM, employee=emp, data={"leave_date": dt.date(2024, 12, 31)})
    spell = employee_rehire(
        actor=SYSTEM,
        employee=emp,
        entity=org["bj"],
        hire_date=dt.date(2025, 5, 6),
        employee_no=f"R{emp.pk:05d}",
        declared_wage=Decimal("10000"),
    )
    r = evaluate(dt.date(2025, 6, 10), REG)
    first.refresh_from_db()
    assert first.status == F.RESOLVED
    (second,) = found(REG, employee=emp)
    assert second.pk != first.pk and second.key == f"e{emp.pk}:spell{spell.pk}"
    assert second.details["hire_date"] == "2025-05-06" and second.deadline == dt.date(2025, 6, 5)
    assert (r.total("opened"), r.resolved) == (1, 1)


@pytest.mark.parametrize(
    ("etype", "flagged"), [("intern", False), ("retiree_rehire", False), ("part_time", True)]
)
def test_exempt_employment_types_are_not_flagged(book, background, make_employee, etype, flagged):
    emp = make_employee(hire_date=dt.date(2025, 5, 1), employment_type=etype)
    evaluate(dt.date(2025, 6, 20))
    assert bool(found(REG, employee=emp)) is flagged
    # part-time staff must be insured for work injury, but are not flagged for 公积金
    assert bool(found(HFREG, employee=emp)) is (flagged and etype != "part_time")


def test_entity_without_ledger_data_is_not_flagged(book, background, make_employee, org):
    sz = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2025, 5, 1))
    bj = make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(dt.date(2025, 6, 20))
    assert found(REG, employee=sz) == [] and found(HFREG, employee=sz) == []
    assert found(REG, employee=bj) and found(HFREG, employee=bj)


def test_housing_fund_only_where_the_entity_has_housing_fund_data(book, background, make_employee, org):
    sz_book = Book(org["sz"])
    old = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 1, 1))
    sz_book.pay(sz_book.person(old), "pension", months("2024-07", "2025-06"))
    sz = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2025, 5, 1))
    bj = make_employee(hire_date=dt.date(2025, 5, 1))
    book.pay(book.person(bj), "pension", months("2025-05", "2025-06"))  # 社保 registered, 公积金 not
    evaluate(dt.date(2025, 6, 20))
    assert found(REG, employee=sz) and found(HFREG, employee=sz) == []  # SZ holds no 公积金 data
    assert found(REG, employee=bj) == []
    (f,) = found(HFREG, employee=bj)
    assert f.citations == ["HFR-15"] and f.severity == "warning"
    assert "公积金" in f.title and f.details["data_through"] == "2025-06"


def test_registration_not_judged_before_the_data_reaches_the_hire_month(book, background, make_employee):
    """The ledger holds Beijing through 2025-06: a hire in July cannot be seen registered yet."""
    new = make_employee(hire_date=dt.date(2025, 7, 1))
    evaluate(dt.date(2025, 8, 15), REG)
    assert found(REG, employee=new) == []
    # the next import reaches July (a colleague's month): now the absence means something
    book.pay(background.ledger_people.get(), "pension", months("2025-07"))
    evaluate(dt.date(2025, 8, 15), REG)
    (f,) = found(REG, employee=new)
    assert f.details["data_through"] == "2025-07" and f.details["variant"] == "overdue"


def test_registration_prices_the_months_since_hire(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 5, 10), declared_wage=Decimal("10000"))
    nowage = make_employee(hire_date=dt.date(2025, 5, 10))
    evaluate(dt.date(2025, 6, 20), REG)
    (f,) = found(REG, employee=new)
    assert f.details["months_since_hire"] == ["2025-05", "2025-06"]
    cost = f.details["cost"]
    assert (cost["amount"] is None) == bool(cost["missing"])
    if cost["amount"] is not None:
        assert f.amount == Decimal(cost["amount"]) > 0
    (g,) = found(REG, employee=nowage)
    assert g.amount is None and g.details["cost"]["missing"] == ["申报工资未填写"]


def test_leaver_is_not_judged_after_leaving(book, background, make_employee):
    gone = make_employee(hire_date=dt.date(2025, 5, 1), leave_date=dt.date(2025, 6, 10))
    evaluate(dt.date(2025, 6, 10), REG)
    assert found(REG, employee=gone)  # the leaving day still counts
    evaluate(dt.date(2025, 6, 11), REG)
    assert found(REG, employee=gone) == []


# --- medical_interrupted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "days"),
    [(dt.date(2025, 6, 30), None), (dt.date(2025, 7, 1), 31)],
    ids=["30-days", "31-days"],
)
def test_medical_gap_of_30_vs_31_days_from_the_end_of_the_last_covered_month(
    book, background, make_employee, day, days
):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = covered(book, emp, insurances=("pension", "housing_fund"))
    book.pay(p, "medical", months("2024-07", "2025-05"))
    evaluate(day, MED)
    got = found(MED, employee=emp)
    if days is None:
        assert got == []
        return
    (f,) = got
    assert "gap_days" not in f.details and "days" not in f.details["args"]
    assert live_details(f, day)["gap_days"] == days == KINDS[MED].live(f.details["args"], day)["days"]
    assert f.details["last_covered_month"] == "2025-05" and f.details["gap_from"] == "2025-06"
    assert f.details["variant"] == "within" and f.deadline == dt.date(2025, 8, 31)
    assert f.details["gap_began_before_hire"] is False
    assert f.key == f"e{emp.pk}:medical"
    assert f"中断 {days} 天" in f.title and "2025-08-31 前补缴可免等待期" in f.title


def test_medical_days_param(book, background, make_employee):
    only_rule(MED, params={"days": 45})
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-04"))
    evaluate(dt.date(2025, 6, 14), MED)  # 45 days after 2025-04-30
    assert found(MED) == []
    evaluate(dt.date(2025, 6, 15), MED)  # 46 days
    (f,) = found(MED)
    assert live_details(f, dt.date(2025, 6, 15))["gap_days"] == 46


def test_arrears_unpaid_and_refunded_months_are_not_covered(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-03"))
    book.pay(p, "medical", months("2025-04"), status="refunded")
    book.pay(p, "medical", months("2025-05"), status="arrears")
    book.pay(p, "medical", months("2025-06"), status="unpaid")
    evaluate(dt.date(2025, 6, 20), MED)
    (f,) = found(MED, employee=emp)
    assert f.details["last_covered_month"] == "2025-03"
    assert (
        live_details(f, dt.date(2025, 6, 20))["gap_days"]
        == (dt.date(2025, 6, 20) - dt.date(2025, 3, 31)).days
    )
    assert [
        (r["period"], r["status"]) for r in sorted(f.details["uncovered_records"], key=lambda r: r["period"])
    ] == [
        ("2025-04", "退费"),
        ("2025-05", "欠缴"),
        ("2025-06", "未缴"),
    ]


def test_coverage_by_another_unit_counts(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-03"))
    book.pay(p, "medical", months("2025-04", "2025-06"), unit=book.other)
    evaluate(dt.date(2025, 6, 20), MED)
    assert found(MED) == []


def test_gap_that_began_before_hire(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 6, 10), declared_wage=Decimal("10000"))
    p = book.person(new)
    book.pay(p, "medical", months("2024-07", "2025-03"), unit=book.other)  # the previous employer
    evaluate(dt.date(2025, 6, 20), MED)
    (f,) = found(MED, employee=new)
    assert f.details["gap_began_before_hire"] is True
    assert f.details["last_covered_unit"] == "前雇主有限公司"
    assert f.details["months_missed"] == 3 and f.details["variant"] == "within"
    assert f.deadline == dt.date(2025, 6, 30)
    assert "前雇主有限公司" in f.title


@pytest.mark.parametrize(
    ("day", "variant", "months_missed"),
    [(dt.date(2025, 5, 31), "within", 3), (dt.date(2025, 6, 1), "beyond", 4)],
)
def test_within_three_months_deadline_vs_beyond(book, background, make_employee, day, variant, months_missed):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-02"))
    evaluate(day, MED)
    (f,) = found(MED, employee=emp)
    wp = f.details["waiting_period"]
    assert f.details["variant"] == variant and f.details["months_missed"] == months_missed
    assert wp["backpay_without_waiting_until"] == "2025-05-31"
    if variant == "within":
        assert f.deadline == dt.date(2025, 5, 31)
        assert wp["within_three_months"] is True and wp["waiting_period_max_months"] == 0
        assert "免等待期" in f.title
    else:
        assert f.deadline is None
        assert wp["within_three_months"] is False and wp["waiting_period_max_months"] == 6
        assert "已超过3个月" in f.title


def test_medical_never_covered_is_registration_not_interruption(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2025, 4, 1))
    evaluate(dt.date(2025, 6, 20))
    assert found(MED, employee=emp) == [] and found(REG, employee=emp)


def test_exempt_types_have_no_interruption(book, background, make_employee):
    intern = make_employee(hire_date=dt.date(2024, 7, 1), employment_type="intern")
    book.pay(book.person(intern), "medical", months("2024-07", "2025-01"))
    evaluate(dt.date(2025, 6, 20))
    assert found(MED, employee=intern) == [] and found(WAIT, employee=intern) == []


def test_no_finding_where_the_data_does_not_reach_the_threshold(book, background, make_employee):
    """Beijing's data ends with 2025-06: from 2025-07-31 on, the 30-day threshold month is July."""
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-04"))
    evaluate(dt.date(2025, 7, 30), MED)
    assert len(found(MED, employee=emp)) == 1
    r = evaluate(dt.date(2025, 7, 31), MED)
    assert found(MED, employee=emp) == [] and r.resolved == 1


def test_medical_citations_follow_the_city(book, background, make_employee, org, system):
    """Shanghai's 医疗保障条例 is cited for a Shanghai entity only."""
    from shebao.org.services import entity_create

    sh = entity_create(
        actor=system, code="SH01", name="上海示例有限公司", uscc="91310000MA1FL0000N", city="上海"
    )
    sh_book = Book(sh)
    colleague = make_employee(entity=sh, department=None, hire_date=dt.date(2020, 1, 1))
    sh_book.pay(sh_book.person(colleague), "medical", months("2024-07", "2025-06"))
    a = make_employee(entity=sh, department=None, hire_date=dt.date(2024, 7, 1))
    sh_book.pay(sh_book.person(a), "medical", months("2024-07", "2025-01"))
    b = make_employee(hire_date=dt.date(2024, 7, 1))
    book.pay(book.person(b), "medical", months("2024-07", "2025-01"))
    evaluate(dt.date(2025, 6, 20))
    for kind in (MED, WAIT):
        (fa,) = found(kind, employee=a)
        (fb,) = found(kind, employee=b)
        assert "SH-MSR-15" in fa.citations
        assert "SH-MSR-15" not in fb.citations
        assert fb.details["waiting_period"]["statements"]
    assert found(WAIT, employee=a)[0].details["waiting_period"]["city_rule_known"] is True
    assert found(WAIT, employee=b)[0].details["waiting_period"]["city_rule_known"] is False


# --- insurance_interrupted ------------------------------------------------------------------------


def test_insurance_interrupted_for_the_chosen_insurances(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(emp)
    book.pay(p, "medical", months("2024-07", "2025-06"))
    book.pay(p, "pension", months("2024-07", "2025-04"))
    book.pay(p, "housing_fund", months("2024-07", "2025-03"))
    evaluate(dt.date(2025, 6, 20), INS)  # default: pension, unemployment, work injury
    (f,) = found(INS, employee=emp)
    assert f.key == f"e{emp.pk}:pension" and f.details["insurance"] == "pension"
    assert f.details["last_covered_month"] == "2025-04"
    assert live_details(f, dt.date(2025, 6, 20))["gap_days"] == 51
    assert f.citations == ["SIL-58", "SIL-60"]
    assert "养老保险" in f.title

    rule = only_rule(INS, params={"insurances": ["housing_fund", "medical"], "days": 30})
    evaluate(dt.date(2025, 6, 20), INS)
    (g,) = found(INS, employee=emp, rule=rule)
    assert g.key == f"e{emp.pk}:housing_fund"
    assert g.citations == ["HFR-15", "HFR-20"]
    assert g.details["backpay_estimate"]["months"] == ["2025-04", "2025-05", "2025-06"]


def test_insurance_without_data_is_not_judged(book, background, make_employee):
    only_rule(INS, params={"insurances": ["unemployment", "work_injury"]})
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    book.pay(book.person(emp), "pension", months("2024-07", "2025-01"))
    evaluate(dt.date(2025, 6, 20), INS)
    assert found(INS) == []


def test_insurance_params_are_validated(db, org):
    from shebao.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="insurances"):
        only_rule(INS, params={"insurances": []})
    with pytest.raises(ApplicationError, match="insurances"):
        only_rule(INS, params={"insurances": ["dental"]})


# --- waiting_period_risk --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "flagged"), [("2025-03", False), ("2025-02", True)], ids=["3-months", "4-months"]
)
def test_waiting_period_risk_at_3_vs_4_months(book, background, make_employee, last, flagged):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", last))
    evaluate(dt.date(2025, 6, 20), WAIT)
    got = found(WAIT, employee=emp)
    assert bool(got) is flagged
    if flagged:
        (f,) = got
        assert f.details["months_missed"] == 4 and "已中断 4 个月" in f.title
        assert f.details["waiting_period"]["waiting_period_max_months"] == 6
        assert f.severity == "critical"


def test_waiting_period_months_param_and_horizon(book, background, make_employee):
    only_rule(WAIT, params={"months": 1})
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = covered(book, emp, insurances=("pension",))
    book.pay(p, "medical", months("2024-07", "2025-04"))
    evaluate(dt.date(2025, 6, 20), WAIT)  # last 2025-04: 2 months missed > 1
    assert len(found(WAIT)) == 1
    evaluate(dt.date(2025, 8, 1), WAIT)  # threshold 2025-07: the data (through 2025-06) does not reach it
    assert found(WAIT) == []


def test_registration_where_the_entity_has_status_reports_only(book, background, make_employee, org):
    """Shenzhen holds no monthly records, only a status report of 2025-06-01: a hire before it is
    judged by it, a hire after it is not judged yet."""
    sz_book = Book(org["sz"])
    old = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 1, 1))
    sz_book.status(sz_book.person(old), "pension", reported=dt.date(2025, 6, 1))
    before = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2025, 5, 2))
    after = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2025, 6, 2))
    evaluate(dt.date(2025, 7, 20), REG)
    assert found(REG, employee=before) and found(REG, employee=after) == []
