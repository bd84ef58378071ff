"""Concurrency against a real database (SQLite file or PostgreSQL, whichever the suite runs on):
two workers processing the same transitions hand each one to a handler exactly once, and two
evaluations of one rule at once neither duplicate findings nor transitions."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from shebao.rules.models import Finding, FindingTransition
from shebao.rules.services import transition_claim, transitions_process
from shebao.rules.tests.factories import Book, evaluate, months

pytestmark = pytest.mark.django_db(transaction=True)
DAY = dt.date(2025, 6, 20)
REG = "registration_overdue"


@pytest.fixture(autouse=True)
def _no_evaluation_on_commit(monkeypatch):
    """Roster writes queue an evaluation (as of today) once they commit, which these committing
    tests would run at once: the tests evaluate themselves, on the days they choose."""
    monkeypatch.setattr("shebao.rules.tasks.findings_evaluate_on_commit", lambda **kw: None)


@pytest.fixture
def findings(org, make_employee):
    """Registration findings for 30 new hires: 30 unprocessed opening transitions."""
    book = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    book.pay(book.person(colleague), "pension", months("2024-07", "2025-06"))
    for _ in range(30):
        make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    assert FindingTransition.objects.filter(processed_at__isnull=True).count() == 30
    return list(FindingTransition.objects.order_by("id").values_list("id", flat=True))


def _in_threads(target, n: int = 2) -> list[BaseException]:
    """Run ``target(i)`` in n threads started together; each thread uses (and closes) its own
    database connection. Returns the exceptions raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors


def test_two_workers_handle_every_transition_exactly_once(findings):
    handled: list[tuple[int, int]] = []
    lock = threading.Lock()
    counts = [0, 0]

    def work(i: int) -> None:
        def handler(t: FindingTransition) -> None:
            assert t.finding.rule.kind == REG  # select_related: the handler reads the finding
            with lock:
                handled.append((i, t.pk))
            time.sleep(0.005)  # a notification takes a moment: the other worker catches up

        counts[i] = transitions_process(handler=handler)

    errors = _in_threads(work)
    assert errors == []
    ids = [pk for _, pk in handled]
    assert sorted(ids) == findings  # every transition once: none twice, none missed
    assert len(ids) == len(set(ids))
    assert sum(counts) == len(findings)
    assert not FindingTransition.objects.filter(processed_at__isnull=True).exists()
    assert transitions_process(handler=lambda t: pytest.fail("handled again")) == 0


def test_a_transition_is_claimed_once(findings):
    t = FindingTransition.objects.get(pk=findings[0])
    wins: list[bool] = []
    lock = threading.Lock()

    def claim(_i: int) -> None:
        ok = transition_claim(transition=t)
        with lock:
            wins.append(ok)

    assert _in_threads(claim, n=4) == []
    assert sorted(wins) == [False, False, False, True]


def test_two_evaluations_of_one_rule_at_once(findings, make_employee):
    make_employee(hire_date=dt.date(2025, 5, 2))
    make_employee(hire_date=dt.date(2025, 5, 3))
    results = []

    def run(_i: int) -> None:
        results.append(evaluate(DAY + dt.timedelta(days=1), REG))

    assert _in_threads(run) == []
    assert Finding.objects.filter(kind=REG).count() == 32
    assert sorted(r.total("opened") for r in results) == [0, 2]  # the second saw the first's
    # each finding: its opening transition, and one update was no transition at all
    assert FindingTransition.objects.count() == 32
    assert all(
        Finding.objects.filter(pk=f.pk, transitions__isnull=False).count() == 1 for f in Finding.objects.all()
    )
