"""The life of a finding: opened, updated in place, resolved by itself (with the kind's reason),
reopened when the problem comes back, snoozes expiring, the manual transitions and who may make
them; the preview against what evaluation then does; disabled rules; scope filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.ledger.models import ContributionRecord
from shebao.roster.services import employee_update
from shebao.rules.models import AlertRule, Finding, FindingTransition
from shebao.rules.selectors import display_title
from shebao.rules.services import finding_assign, finding_transition, rule_preview, rule_update
from shebao.rules.tests.factories import (
    Book,
    cutoff,
    evaluate,
    found,
    make_rule,
    months,
    only_rule,
    reconcile,
)

F = Finding.Status
REG, MED, LEAVER = "registration_overdue", "medical_interrupted", "leaver_not_stopped"
SYSTEM = Actor.system(via="test")
TODAY = dt.date.today()
DAY = dt.date(2025, 6, 20)


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


def steps(finding) -> list[tuple[str, str]]:
    return list(finding.transitions.order_by("id").values_list("from_status", "to_status"))


def transition(finding, to, **kw):
    return finding_transition(actor=SYSTEM, finding_ids=[finding.pk], to_status=to, **kw)


# --- automatic transitions ------------------------------------------------------------------------


def test_auto_resolve_with_the_kinds_reason_and_reopen_when_it_comes_back(book, background, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    p = book.person(emp)
    book.pay(p, "pension", months("2024-07", "2025-06"))
    book.pay(p, "medical", months("2024-07", "2025-03"))
    evaluate(DAY, MED)
    (f,) = found(MED)
    first_seen = f.first_seen_at

    book.pay(p, "medical", months("2025-04", "2025-06"))
    r = evaluate(DAY, MED)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED and f.resolved_at is not None
    assert f.resolved_reason == "已查到最近月份的医保缴费记录"
    assert f.transitions.last().reason == "已查到最近月份的医保缴费记录"
    assert f.transitions.last().actor_label == "系统（规则评估）"

    r = evaluate(DAY, MED)  # still fine: nothing to do, nothing written
    assert (r.opened, r.resolved) == (0, 0) and f.transitions.count() == 2

    ContributionRecord.objects.filter(person=p, insurance="medical", period__gte=202504).delete()
    r = evaluate(DAY, MED)
    f.refresh_from_db()
    assert (r.total("reopened"), r.total("opened")) == (1, 0)
    assert f.status == F.OPEN and f.resolved_at is None and f.resolved_reason == ""
    assert f.first_seen_at == first_seen  # the same finding, not a new one
    assert Finding.objects.filter(kind=MED).count() == 1
    assert steps(f) == [("", "open"), ("open", "resolved"), ("resolved", "open")]
    assert f.transitions.last().reason == "问题再次出现"


def test_changed_evidence_updates_in_place_and_keeps_the_manual_status(book, background, make_employee, org):
    emp = make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    (f,) = found(REG)
    transition(f, "acknowledged", reason="已在办理")
    # one day later: only the day counts differ, and they are not stored: nothing is rewritten
    r = evaluate(DAY + dt.timedelta(days=1), REG)
    assert (r.updated, r.total("unchanged")) == (0, 1)
    f.refresh_from_db()
    assert "入职已 51 天" in display_title(f, DAY + dt.timedelta(days=1))
    # a real change (the employee moves to another department) updates the finding in place
    from shebao.roster.models import EmploymentSpell

    EmploymentSpell.objects.filter(employee=emp).update(department=org["sales"])
    r = evaluate(DAY + dt.timedelta(days=1), REG)
    f.refresh_from_db()
    assert r.updated == 1 and f.status == F.ACKNOWLEDGED and f.department == org["sales"]
    assert steps(f) == [("", "open"), ("open", "acknowledged")]
    assert emp.pk == f.employee_id


def test_snooze_expiry_reopens_and_a_cleared_snoozed_finding_resolves(book, background, make_employee):
    a = make_employee(hire_date=dt.date(2025, 5, 1))
    b = make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    fa, fb = found(REG, employee=a)[0], found(REG, employee=b)[0]
    until = TODAY + dt.timedelta(days=10)
    finding_transition(actor=SYSTEM, finding_ids=[fa.pk, fb.pk], to_status="snoozed", snoozed_until=until)

    evaluate(until - dt.timedelta(days=1), REG)
    fa.refresh_from_db()
    assert fa.status == F.SNOOZED and fa.snoozed_until == until

    book.pay(book.person(b), "pension", months("2025-05"))
    r = evaluate(until, REG)
    fa.refresh_from_db()
    fb.refresh_from_db()
    assert (r.total("reopened"), r.resolved) == (1, 1)
    assert fa.status == F.OPEN and fa.snoozed_until is None
    assert fa.transitions.last().reason == f"暂缓至 {until.isoformat()} 已到期，问题仍在"
    assert fb.status == F.RESOLVED and fb.snoozed_until is None
    assert steps(fb) == [("", "open"), ("open", "snoozed"), ("snoozed", "resolved")]


# --- manual transitions ---------------------------------------------------------------------------


def test_manual_transition_rules(book, background, make_employee):
    make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    (f,) = found(REG)
    with pytest.raises(ApplicationError, match="自动解除"):
        transition(f, "resolved")
    with pytest.raises(ApplicationError, match="无效"):
        transition(f, "closed")
    with pytest.raises(ApplicationError, match="不能改为"):
        transition(f, "open")  # already open
    with pytest.raises(ApplicationError, match="暂缓到哪一天"):
        transition(f, "snoozed")
    with pytest.raises(ApplicationError, match="晚于今天"):
        transition(f, "snoozed", snoozed_until=TODAY)
    with pytest.raises(ApplicationError, match="最多暂缓一年"):
        transition(f, "snoozed", snoozed_until=TODAY + dt.timedelta(days=367))
    with pytest.raises(ApplicationError, match="请选择"):
        finding_transition(actor=SYSTEM, finding_ids=[], to_status="acknowledged")
    with pytest.raises(ApplicationError, match="找不到预警"):
        finding_transition(actor=SYSTEM, finding_ids=[f.pk + 999], to_status="acknowledged")
    f.refresh_from_db()
    assert f.status == F.OPEN and f.transitions.count() == 1  # nothing written by the refusals

    transition(f, "acknowledged", reason="  已通知员工  ")
    transition(f, "snoozed", snoozed_until=TODAY + dt.timedelta(days=7))
    transition(f, "acknowledged")
    f.refresh_from_db()
    assert f.snoozed_until is None  # leaving the snooze clears its date
    transition(f, "open", reason="重新处理")
    f.refresh_from_db()
    assert f.status == F.OPEN
    assert steps(f) == [
        ("", "open"),
        ("open", "acknowledged"),
        ("acknowledged", "snoozed"),
        ("snoozed", "acknowledged"),
        ("acknowledged", "open"),
    ]
    assert f.transitions.all()[1].reason == "已通知员工"
    assert f.transitions.all()[1].actor_label == "系统（test）"

    # a resolved finding cannot be acknowledged, snoozed or reopened by hand
    book.pay(book.person(f.employee), "pension", months("2025-05"))
    evaluate(DAY, REG)
    f.refresh_from_db()
    for to in ("acknowledged", "open"):
        with pytest.raises(ApplicationError, match="已解除"):
            transition(f, to)


def test_who_may_handle_findings(book, background, make_employee, org, clerk, auditor, admin):
    bj = make_employee(hire_date=dt.date(2025, 5, 1))
    sz_book = Book(org["sz"])
    old = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 1, 1))
    sz_book.pay(sz_book.person(old), "pension", months("2024-07", "2025-06"))
    sz = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    (fbj,), (fsz,) = found(REG, employee=bj), found(REG, employee=sz)

    with pytest.raises(PermissionDenied):
        finding_transition(actor=Actor(user=auditor), finding_ids=[fbj.pk], to_status="acknowledged")
    with pytest.raises(ApplicationError, match="找不到预警"):  # a Beijing clerk does not see Shenzhen
        finding_transition(actor=Actor(user=clerk), finding_ids=[fbj.pk, fsz.pk], to_status="acknowledged")
    fbj.refresh_from_db()
    assert fbj.status == F.OPEN
    finding_transition(actor=Actor(user=clerk), finding_ids=[fbj.pk], to_status="acknowledged")
    t = FindingTransition.objects.filter(finding=fbj).last()
    assert (t.actor, t.actor_label) == (clerk, "clerk")

    with pytest.raises(ApplicationError, match="无权查看"):  # a Beijing clerk cannot own a Shenzhen finding
        finding_assign(actor=Actor(user=admin), finding_ids=[fbj.pk, fsz.pk], assignee=clerk)
    assert finding_assign(actor=Actor(user=admin), finding_ids=[fbj.pk], assignee=clerk) == 1
    assert finding_assign(actor=Actor(user=admin), finding_ids=[fsz.pk], assignee=admin) == 1
    fbj.refresh_from_db()
    fsz.refresh_from_db()
    assert fbj.assignee == clerk and fsz.assignee == admin
    assert fsz.transitions.count() == 1  # assigning is not a transition
    with pytest.raises(ApplicationError, match="不能负责预警"):
        finding_assign(actor=Actor(user=admin), finding_ids=[fbj.pk], assignee=auditor)


# --- preview, disabling ---------------------------------------------------------------------------


def test_preview_counts_equal_what_evaluation_then_does(book, background, make_employee):
    day = TODAY + dt.timedelta(days=1)
    rule = AlertRule.objects.get(kind=REG, is_default=True)
    _same, back, cleared, renamed, snoozed = (make_employee(hire_date=dt.date(2025, 5, 1)) for _ in range(5))
    pb = book.person(back)
    book.pay(pb, "pension", months("2025-05"))
    evaluate(day, REG)
    assert len(found(REG)) == 4  # `back` is registered: its finding…
    ContributionRecord.objects.filter(person=pb).delete()
    evaluate(day, REG)
    book.pay(pb, "pension", months("2025-05"))
    evaluate(day, REG)
    assert found(REG, employee=back, status=F.RESOLVED)  # …exists, resolved
    ContributionRecord.objects.filter(person=pb).delete()  # and comes back: reopen

    book.pay(book.person(cleared), "pension", months("2025-05"))  # resolve
    employee_update(actor=SYSTEM, employee=renamed, data={"name": "改名员工"})  # update
    (fs,) = found(REG, employee=snoozed)
    transition(fs, "snoozed", snoozed_until=day)  # expires on the evaluation day: reopen
    new = make_employee(hire_date=dt.date(2025, 5, 1))  # open

    p = rule_preview(kind=REG, params=rule.params, rule=rule, as_of=day)
    assert FindingTransition.objects.filter(finding__employee=new).count() == 0  # nothing written
    r = evaluate(day, REG)
    (outcome,) = [o for o in r.rules if o.rule_id == rule.pk]
    got = {
        k: getattr(outcome, k) for k in ("matches", "opened", "reopened", "updated", "resolved", "unchanged")
    }
    assert got == {"matches": 5, "opened": 1, "reopened": 2, "updated": 1, "resolved": 1, "unchanged": 1}
    assert {k: getattr(p, k) for k in got} == got


def test_preview_of_new_settings_against_the_rules_findings(book, background, make_employee, org):
    rule = AlertRule.objects.get(kind=REG, is_default=True)
    make_employee(hire_date=dt.date(2025, 5, 1), department=org["rd"])
    make_employee(hire_date=dt.date(2025, 5, 1), department=org["sales"])
    evaluate(DAY, REG)
    p = rule_preview(kind=REG, params=rule.params, rule=rule, departments=[org["sales"]], as_of=DAY)
    assert (p.matches, p.unchanged, p.resolved, p.opened) == (1, 1, 1, 0)
    p = rule_preview(kind=REG, params={"days": 30}, as_of=DAY)  # a new rule: everything opens
    assert (p.matches, p.opened, p.resolved, p.unchanged) == (2, 2, 0, 0)
    p = rule_preview(kind=REG, params={"days": 60}, as_of=DAY)  # day 50 of 60: not yet in the warning window
    assert (p.matches, p.opened) == (0, 0)
    with pytest.raises(ApplicationError):
        rule_preview(kind=REG, params={"days": 0}, as_of=DAY)


def test_disabling_a_rule_resolves_its_findings_and_enabling_reopens_them(book, background, make_employee):
    make_employee(hire_date=dt.date(2025, 5, 1))
    rule = AlertRule.objects.get(kind=REG, is_default=True)
    evaluate(DAY, REG)
    (f,) = found(REG)
    rule_update(actor=SYSTEM, rule=rule, enabled=False)
    f.refresh_from_db()
    assert f.status == F.RESOLVED and f.resolved_reason == "规则已停用"
    r = evaluate(DAY, REG)
    assert r.rules == []  # a disabled rule is not evaluated
    rule_update(actor=SYSTEM, rule=rule, enabled=True)
    evaluate(DAY, REG)
    f.refresh_from_db()
    assert f.status == F.OPEN
    assert steps(f) == [("", "open"), ("open", "resolved"), ("resolved", "open")]


def test_rule_severity_caps_the_kinds(book, background, make_employee):
    """A kind may lower its severity (the warning before the deadline) but never raise the rule's."""
    rule = only_rule(REG, severity="info")
    make_employee(hire_date=dt.date(2025, 5, 1))
    evaluate(DAY, REG)
    (f,) = found(REG, rule=rule)
    assert f.severity == "info"


# --- scope ----------------------------------------------------------------------------------------


@pytest.fixture
def staff(book, background, make_employee, org):
    sz_book = Book(org["sz"])
    old = make_employee(entity=org["sz"], department=org["store"], hire_date=dt.date(2020, 1, 1))
    sz_book.pay(sz_book.person(old), "pension", months("2024-07", "2025-06"))
    hire = dt.date(2025, 5, 1)
    return {
        "rd": make_employee(hire_date=hire, department=org["rd"]),
        "web": make_employee(hire_date=hire, department=org["rd_web"]),
        "sales": make_employee(hire_date=hire, department=org["sales"]),
        "parttime": make_employee(hire_date=hire, department=org["sales"], employment_type="part_time"),
        "store": make_employee(entity=org["sz"], department=org["store"], hire_date=hire),
    }


def _names(rule, staff) -> set[str]:
    ids = {f.employee_id for f in found(REG, rule=rule)}
    return {k for k, e in staff.items() if e.pk in ids}


def test_scope_entities(staff, org):
    rule = only_rule(REG, entities=[org["sz"]])
    evaluate(DAY, REG)
    assert _names(rule, staff) == {"store"}


def test_scope_department_subtree(staff, org):
    rule = only_rule(REG, departments=[org["rd"]])
    evaluate(DAY, REG)
    assert _names(rule, staff) == {"rd", "web"}
    rule_update(actor=SYSTEM, rule=rule, departments=[org["rd_web"], org["sales"]])
    r = evaluate(DAY, REG)
    assert _names(rule, staff) == {"web", "sales", "parttime"}
    assert r.resolved == 1  # `rd` left the scope


def test_scope_employment_types(staff, org):
    rule = only_rule(REG, employment_types=["part_time"])
    evaluate(DAY, REG)
    assert _names(rule, staff) == {"parttime"}


def test_scope_departments_must_be_in_the_scoped_entities(org):
    with pytest.raises(ApplicationError, match="不属于所选的参保主体"):
        make_rule(REG, entities=[org["sz"]], departments=[org["rd"]])


def test_scope_applies_to_the_reconciled_kinds(book, background, make_employee, org):
    cutoff(org["bj"], 15)
    a = make_employee(
        hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 3, 31), department=org["rd_web"]
    )
    b = make_employee(hire_date=dt.date(2024, 7, 1), leave_date=dt.date(2025, 3, 31), department=org["sales"])
    for emp in (a, b):
        book.pay(book.person(emp), "pension", months("2024-07", "2025-05"))
    reconcile(dt.date(2025, 6, 30))
    rule = only_rule(LEAVER, departments=[org["rd"]])
    evaluate(dt.date(2025, 6, 30), LEAVER)
    assert [f.employee_id for f in found(LEAVER, rule=rule)] == [a.pk]
    rule = only_rule(LEAVER, employment_types=["intern"])
    evaluate(dt.date(2025, 6, 30), LEAVER)
    assert found(LEAVER, rule=rule) == []
