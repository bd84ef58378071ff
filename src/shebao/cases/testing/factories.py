"""Findings and cases for the cases tests (and the end-to-end browser test)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from shebao.core.yearmonth import YearMonth


def medical_finding(org, make_employee, **employee):
    """A real ``medical_interrupted`` finding as of today: an employee hired over a year ago whose
    medical insurance stopped three months ago while pension and housing fund went on (a
    colleague paid in full shows the data is complete). Dates are relative to today, so the
    re-evaluations that cases trigger see the same problem."""
    from shebao.rules.models import Finding
    from shebao.rules.tests.factories import Book, evaluate, months

    today = timezone.localdate()
    this = YearMonth.of(today)
    first, last, medical_last = (this - 12), (this - 1), (this - 4)
    book = Book(org["bj"])
    colleague = make_employee(hire_date=first.first_day, declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months(str(first), str(last)))
    emp = make_employee(**({"hire_date": first.first_day, "declared_wage": Decimal("10000")} | employee))
    p = book.person(emp)
    for ins in ("pension", "housing_fund"):
        book.pay(p, ins, months(str(first), str(last)))
    book.pay(p, "medical", months(str(first), str(medical_last)))
    evaluate(today, "medical_interrupted")
    return Finding.objects.get(kind="medical_interrupted", employee=emp)


def gap_start() -> str:
    """The first month without medical insurance in ``medical_finding``."""
    return str(YearMonth.of(timezone.localdate()) - 3)


__all__ = ["gap_start", "medical_finding"]
