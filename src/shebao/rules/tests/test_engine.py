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
from shebao.rules.tests.factories import Book, make_rule, months

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


# --- rules reading alike share their reads within one evaluation, never their results -------------

GAP_DAY = dt.date(2025, 7, 15)  # medical threshold 2025-06 (30 days), waiting period 2025-04 (3 months)


def _stored(rule_ids) -> dict:
    """What the rules' findings hold: everything stored but the timestamps."""
    return {
        (f.rule_id, f.key): (
            f.status,
            f.digest,
            f.title,
            f.next_step,
            f.severity,
            f.details,
            f.citations,
            f.amount,
            f.deadline,
        )
        for f in Finding.objects.filter(rule_id__in=rule_ids)
    }


def _gap_people(book, make_employee, **kw):
    """Employees with interruptions of different lengths (the ledger's horizon is 2025-06)."""
    people = {}
    for name, medical_last, pension_last in (
        ("long", "2025-02", "2025-06"),  # medical: 30 days and waiting period
        ("short", "2025-05", "2025-06"),  # medical: 30 days only
        ("pension", "2025-06", "2025-04"),  # pension only
        ("both", "2025-03", "2025-03"),
        ("fine", "2025-06", "2025-06"),
    ):
        emp = make_employee(hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("9000"), **kw)
        emp.ledger_person = p = book.person(emp)
        book.pay(p, "medical", months("2024-07", medical_last))
        book.pay(p, "pension", months("2024-07", pension_last))
        people[name] = emp
    book.pay(people["long"].ledger_person, "medical", months("2025-03"), status="arrears")
    return people


def test_gap_rules_evaluated_together_find_what_each_finds_alone(book, background, make_employee):

    people = _gap_people(book, make_employee)
    also_medical = make_rule("insurance_interrupted", params={"insurances": ["medical", "pension"]})
    rules = [
        AlertRule.objects.get(kind=k, is_default=True).pk
        for k in ("medical_interrupted", "insurance_interrupted", "waiting_period_risk")
    ] + [also_medical.pk]
    for rule_id in rules:  # each alone: an evaluation (a Context) of its own
        findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, rule_ids=[rule_id])
    alone = _stored(rules)
    by_rule = {r: sorted(k for rid, k in alone if rid == r) for r in rules}
    e = {n: f"e{emp.pk}" for n, emp in people.items()}
    assert by_rule[rules[0]] == sorted(f"{e[n]}:medical" for n in ("long", "short", "both"))
    assert by_rule[rules[2]] == sorted(f"{e[n]}:medical" for n in ("long", "both"))
    assert by_rule[rules[1]] == sorted(f"{e[n]}:pension" for n in ("pension", "both"))
    assert by_rule[rules[3]] == sorted(by_rule[rules[0]] + by_rule[rules[1]])
    long_ = alone[(rules[2], f"{e['long']}:medical")][5]
    assert long_["uncovered_records"] == [{"period": "2025-03", "status": "欠缴", "unit": book.ours.name}]

    # together (one Context, the reads shared): nothing to change, everything stored the same
    r = findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, rule_ids=rules)
    assert (r.opened, r.updated, r.resolved) == (0, 0, 0)
    assert r.matches == len(alone)
    r = findings_evaluate(actor=SYSTEM, as_of=GAP_DAY)  # with every other default rule too
    assert sum(o.matches for o in r.rules if o.rule_id in rules) == len(alone)
    assert sum(o.updated + o.resolved + o.opened for o in r.rules if o.rule_id in rules) == 0
    r = findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, employee_ids=[people["long"].pk, people["pension"].pk])
    assert (r.opened, r.updated, r.resolved) == (0, 0, 0)
    assert _stored(rules) == alone

    # a later evaluation reads afresh (the shared reads live as long as one evaluation)
    book.pay(people["long"].ledger_person, "medical", months("2025-04", "2025-06"))
    findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, rule_ids=rules)
    resolved = {k for (rid, k), v in _stored(rules).items() if v[0] == F.RESOLVED}
    assert resolved == {f"{e['long']}:medical"}
    assert {rid for (rid, k), v in _stored(rules).items() if v[0] == F.RESOLVED} == set(rules) - {rules[1]}


def test_a_scoped_gap_rule_does_not_reuse_an_unscoped_rules_reads(org, book, background, make_employee):
    bj = _gap_people(book, make_employee, department=org["sales"])
    sz_book = Book(org["sz"])
    colleague = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 1, 1))
    p = sz_book.person(colleague)
    for ins in ("pension", "medical"):
        sz_book.pay(p, ins, months("2024-07", "2025-06"))
    sz = _gap_people(sz_book, make_employee, entity=org["sz"], department=org["store"])
    # outside some scopes, with the entities of the unscoped rules all in them
    rd = make_employee(hire_date=dt.date(2024, 7, 1), department=org["rd"])
    dispatched = make_employee(
        hire_date=dt.date(2024, 7, 1), entity=org["sz"], department=org["store"], employment_type="dispatched"
    )
    for b, emp in ((book, rd), (sz_book, dispatched)):
        b.pay(b.person(emp), "medical", months("2024-07", "2025-01"))
    scoped = [
        make_rule("medical_interrupted", departments=[org["sales"], org["store"]]),
        make_rule(
            "insurance_interrupted", params={"insurances": ["medical"]}, employment_types=["full_time"]
        ),
        make_rule("waiting_period_risk", entities=[org["sz"]]),
        make_rule("medical_interrupted", employment_types=["part_time"]),  # no part-timer at all
    ]
    unscoped = [
        AlertRule.objects.get(kind=k, is_default=True).pk
        for k in ("medical_interrupted", "waiting_period_risk", "insurance_interrupted")
    ]
    rules = unscoped + [s.pk for s in scoped]
    findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, rule_ids=rules)  # together, unscoped rules first
    together = _stored(rules)

    def keys(rule_id):
        return sorted(k for rid, k in together if rid == rule_id)

    people = {**{f"bj-{n}": e for n, e in bj.items()}, **{f"sz-{n}": e for n, e in sz.items()}}
    e = {n: f"e{emp.pk}:medical" for n, emp in people.items()}
    thirty = sorted(e[f"{c}-{n}"] for c in ("bj", "sz") for n in ("long", "short", "both"))
    extra = [f"e{rd.pk}:medical", f"e{dispatched.pk}:medical"]
    assert keys(unscoped[0]) == sorted(thirty + extra)
    assert keys(unscoped[1]) == sorted(
        [e[f"{c}-{n}"] for c in ("bj", "sz") for n in ("long", "both")] + extra
    )
    assert keys(scoped[0].pk) == sorted(thirty + [f"e{dispatched.pk}:medical"])
    assert keys(scoped[1].pk) == sorted(thirty + [f"e{rd.pk}:medical"])
    assert keys(scoped[2].pk) == sorted(
        [e[f"sz-{n}"] for n in ("long", "both")] + [f"e{dispatched.pk}:medical"]
    )
    assert keys(scoped[3].pk) == []

    Finding.objects.all().delete()
    for rule_id in reversed(rules):  # alone, scoped rules first
        findings_evaluate(actor=SYSTEM, as_of=GAP_DAY, rule_ids=[rule_id])
    alone = _stored(rules)
    assert {k: v[1:] for k, v in alone.items()} == {k: v[1:] for k, v in together.items()}


def test_registration_rules_evaluated_together_find_what_each_finds_alone(book, background, make_employee):
    day = dt.date(2025, 7, 10)
    hires = {
        "none": ("2025-05-01", "full_time", ()),
        "social": ("2025-05-01", "full_time", ("pension",)),
        "part_time": ("2025-05-01", "part_time", ()),
        "both": ("2025-05-01", "full_time", ("pension", "housing_fund")),
        "due_soon": ("2025-06-10", "full_time", ()),
        "recent": ("2025-06-20", "full_time", ()),  # only in the 15-day rule's window
    }
    people = {}
    for name, (hired, kind, paid) in hires.items():
        emp = make_employee(hire_date=dt.date.fromisoformat(hired), employment_type=kind)
        p = book.person(emp)
        for ins in paid:
            book.pay(p, ins, months(hired[:7]))
        people[name] = emp
    people["reported"] = make_employee(hire_date=dt.date(2025, 5, 1))  # a 公积金 status report only
    book.status(book.person(people["reported"]), "housing_fund")
    rules = [
        AlertRule.objects.get(kind=k, is_default=True).pk
        for k in ("registration_overdue", "housing_fund_unregistered")
    ] + [make_rule("registration_overdue", params={"days": 15, "warn_days": 0}).pk]
    for rule_id in rules:
        findings_evaluate(actor=SYSTEM, as_of=day, rule_ids=[rule_id])
    alone = _stored(rules)
    spell = {n: f"e{emp.pk}:spell{emp.spells.get().pk}" for n, emp in people.items()}
    assert sorted(k for rid, k in alone if rid == rules[0]) == sorted(
        spell[n] for n in ("none", "part_time", "due_soon", "reported")
    )
    assert sorted(k for rid, k in alone if rid == rules[1]) == sorted(
        spell[n] for n in ("none", "social", "due_soon")
    )
    assert sorted(k for rid, k in alone if rid == rules[2]) == sorted(
        spell[n] for n in ("none", "part_time", "due_soon", "recent", "reported")
    )
    r = findings_evaluate(actor=SYSTEM, as_of=day, rule_ids=rules)
    assert (r.opened, r.updated, r.resolved) == (0, 0, 0)
    assert _stored(rules) == alone
    Finding.objects.all().delete()
    findings_evaluate(actor=SYSTEM, as_of=day, rule_ids=rules)
    assert {k: v[1:] for k, v in _stored(rules).items()} == {k: v[1:] for k, v in alone.items()}
