"""The engine: default rules installed, findings opened with a stable key, updated in place,
resolved when the condition clears (with the kind's reason), reopened, snoozes expiring."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.core.context import Actor
from shebao.rules.kinds import KINDS
from shebao.rules.models import AlertRule, Finding, FindingTransition
from shebao.rules.services import finding_transition, findings_evaluate
from shebao.rules.tests.factories import Book, months

F = Finding.Status
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


def evaluate(day: dt.date, kind: str | None = None, **kw):
    return findings_evaluate(actor=SYSTEM, as_of=day, kinds=[kind] if kind else None, **kw)


def test_every_kind_has_a_default_rule(org):
    assert set(AlertRule.objects.filter(is_default=True).values_list("kind", flat=True)) == set(KINDS)


def test_registration_lifecycle(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 6, 1), declared_wage=Decimal("8000"))
    # day 30 after hire: deadline day, a warning (7 days ahead by default)
    r = evaluate(dt.date(2025, 7, 1), "registration_overdue")
    f = Finding.objects.get(kind="registration_overdue", employee=new)
    assert r.opened == 1
    assert f.severity == "warning"
    assert f.deadline == dt.date(2025, 7, 1)
    assert f.key == f"e{new.pk}:spell{new.spells.get().pk}"
    assert "1 天后" not in f.title and "0 天后到期" in f.title
    # day 31: overdue, the same finding updated (not duplicated)
    r = evaluate(dt.date(2025, 7, 2), "registration_overdue")
    f.refresh_from_db()
    assert (r.opened, r.updated) == (0, 1)
    assert f.severity == "critical" and "已超 1 天" in f.title
    assert Finding.objects.filter(kind="registration_overdue").count() == 1
    # registered: resolves with the kind's reason
    book.pay(book.person(new), "pension", months("2025-06"))
    r = evaluate(dt.date(2025, 7, 3), "registration_overdue")
    f.refresh_from_db()
    assert r.resolved == 1
    assert f.status == F.RESOLVED and "已查到" in f.resolved_reason
    steps = list(f.transitions.values_list("from_status", "to_status"))
    assert steps == [("", "open"), ("open", "resolved")]


def test_reopen_and_snooze_expiry(book, background, make_employee):
    new = make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(dt.date(2025, 6, 15), "registration_overdue")
    f = Finding.objects.get(kind="registration_overdue", employee=new)
    finding_transition(
        actor=SYSTEM,
        finding_ids=[f.pk],
        to_status="snoozed",
        snoozed_until=dt.date.today() + dt.timedelta(days=3),
    )
    f.refresh_from_db()
    assert f.status == F.SNOOZED
    # still snoozed before the date
    evaluate(dt.date.today() + dt.timedelta(days=2), "registration_overdue")
    f.refresh_from_db()
    assert f.status == F.SNOOZED
    # at the date: back to open
    evaluate(dt.date.today() + dt.timedelta(days=3), "registration_overdue")
    f.refresh_from_db()
    assert f.status == F.OPEN
    assert f.transitions.last().reason.startswith("暂缓至")


def test_manual_resolve_is_refused(book, background, make_employee):
    from shebao.core.exceptions import ApplicationError

    make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(dt.date(2025, 6, 15), "registration_overdue")
    f = Finding.objects.get(kind="registration_overdue")
    with pytest.raises(ApplicationError, match="自动解除"):
        finding_transition(actor=SYSTEM, finding_ids=[f.pk], to_status="resolved")


def test_incremental_touches_only_the_named_employees(book, background, make_employee):
    a = make_employee(hire_date=dt.date(2025, 5, 1))
    b = make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(dt.date(2025, 6, 15), "registration_overdue")
    assert Finding.objects.filter(status=F.OPEN, kind="registration_overdue").count() == 2
    book.pay(book.person(a), "pension", months("2025-05"))
    book.pay(book.person(b), "pension", months("2025-05"))
    r = evaluate(dt.date(2025, 6, 15), "registration_overdue", employee_ids=[a.pk])
    assert r.resolved == 1
    assert Finding.objects.get(employee=b, kind="registration_overdue").status == F.OPEN
    assert FindingTransition.objects.filter(finding__employee=b).count() == 1
