"""The case rule kinds: ``case_step_overdue`` (a step in its warning days, due today, overdue),
``notice_unacknowledged`` (a sent letter past its answer date, with grace days) and
``backpay_due_soon`` (the back-payment steps) — each at its boundaries, and resolved when the
step completes, the letter is answered, signed offline or withdrawn, or the case ends."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from shebao.cases.models import AckRequest, Case, CaseStep, Letter
from shebao.cases.services import (
    ack_submit,
    ack_verify,
    case_advance,
    case_attach,
    case_cancel,
    case_event_happened,
    case_open,
    case_record,
    letter_withdraw,
)
from shebao.cases.services.acks import request_create
from shebao.core.context import Actor
from shebao.core.identity import make_resident_id
from shebao.rules.models import AlertRule, Finding
from shebao.rules.tests.factories import evaluate, found, only_rule

F = Finding.Status
STEP = "case_step_overdue"
NOTICE = "notice_unacknowledged"
BACKPAY = "backpay_due_soon"
OPENED = dt.date(2026, 3, 2)
PDF = b"%PDF-1.4\n% signed receipt\n%%EOF\n"


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def hr(system):
    return Actor.system(via="test")


@pytest.fixture
def person(make_employee):
    return make_employee(
        name="李四",
        id_number=make_resident_id("110105", dt.date(1991, 5, 6), 77),
        hire_date=dt.date(2025, 1, 6),
    )


def open_medical(hr, employee, day: dt.date = OPENED) -> Case:
    return case_open(actor=hr, employee=employee, template="medical_interruption", now=at(day))


def send_letter(case: Case, *, sent: dt.date, respond_by: dt.date) -> Letter:
    """A letter of the case's current step, sent on ``sent`` (the notification outbox is not
    what these tests are about): the workflow takes its ``letter_sent`` choice."""
    step = case.steps.get(status=CaseStep.Status.ACTIVE)
    n = Letter.objects.count() + 1
    letter = Letter.objects.create(
        case=case,
        template_code="medical_notice",
        template_version=1,
        number=f"HJ202603-{n:04d}",
        title="医保中断告知函",
        html="<p>告知函</p>",
        sha256=hashlib.sha256(f"letter{n}".encode()).hexdigest(),
        size=100,
        step=step,
        status=Letter.Status.SENT,
        respond_by=respond_by,
        issued_at=at(sent, 9),
        sent_at=at(sent),
    )
    case_event_happened(case=case, event="letter_sent", actor=Actor.system(via="test"), now=at(sent))
    return letter


def one(kind: str, **filters) -> Finding:
    (f,) = found(kind, **filters)
    return f


# --- case_step_overdue ----------------------------------------------------------------------------


def test_step_warns_from_warn_from_is_due_on_its_last_day_and_overdue_the_day_after(hr, person):
    case = open_medical(hr, person)
    step = case.steps.get()
    # 发出医保中断告知函: opened + 3 days, warned 1 day before
    assert (step.due_date, step.warn_from) == (dt.date(2026, 3, 5), dt.date(2026, 3, 4))

    evaluate(dt.date(2026, 3, 3), STEP)
    assert found(STEP) == []

    evaluate(dt.date(2026, 3, 4), STEP)
    f = one(STEP)
    assert f.key == f"e{person.pk}:step{step.pk}" and f.employee_id == person.pk
    assert f.entity_id == case.entity_id and f.department_id == person.department_id
    assert f.severity == "warning" and f.deadline == dt.date(2026, 3, 5)
    assert f.details["variant"] == "due_soon"
    assert f.details["case_id"] == case.pk and f.details["case_number"] == case.number
    assert f.details["step"] == "发出医保中断告知函" and f.details["due"] == "2026-03-05"
    assert f.details["basis"] == step.due_basis and "立案日期 + 3 天" in step.due_basis
    assert "将于 2026-03-05 到期" in f.title and "还剩 1 天" in f.title
    assert f.citations == ["SIL-23", "SIL-58"]  # the step's own articles

    evaluate(dt.date(2026, 3, 5), STEP)  # the last day: still only due soon
    f.refresh_from_db()
    assert f.severity == "warning" and f.details["variant"] == "due_soon"

    evaluate(dt.date(2026, 3, 6), STEP)  # the day after: overdue
    f.refresh_from_db()
    assert f.status == F.OPEN and f.severity == "critical" and f.details["variant"] == "overdue"
    assert "已逾期 1 天" in f.title

    # The letter goes out: the step is done, the finding resolves; the step now waiting for the
    # employee's answer is notice_unacknowledged's, not this kind's (even when past its due date).
    send_letter(case, sent=dt.date(2026, 3, 6), respond_by=dt.date(2026, 3, 13))
    r = evaluate(dt.date(2026, 3, 20), STEP)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED and f.resolved_reason == "案件步骤已完成，或案件已结束"
    assert found(STEP) == []
    assert case.steps.get(status=CaseStep.Status.ACTIVE).due_date < dt.date(2026, 3, 20)


def test_step_finding_resolves_when_the_case_is_cancelled(hr, person):
    case = open_medical(hr, person)
    evaluate(dt.date(2026, 3, 10), STEP)
    f = one(STEP)
    assert f.severity == "critical"
    case_cancel(actor=hr, case=case, reason="员工已自行补缴")
    evaluate(dt.date(2026, 3, 10), STEP)
    f.refresh_from_db()
    assert f.status == F.RESOLVED


def test_steps_without_a_deadline_and_closed_cases_are_not_judged(hr, person, make_employee):
    other = make_employee()
    case = open_medical(hr, other)
    CaseStep.objects.filter(case=case).update(due_date=None, warn_from=None)
    evaluate(dt.date(2026, 12, 1), STEP)
    assert found(STEP) == []


def test_scope_and_incremental_evaluation(hr, person, org, make_employee):
    shenzhen = make_employee(entity=org["sz"], department=org["store"])
    bj_case = open_medical(hr, person)
    sz_case = open_medical(hr, shenzhen)
    evaluate(dt.date(2026, 3, 10), STEP)
    assert {f.details["case_id"] for f in found(STEP)} == {bj_case.pk, sz_case.pk}

    # An incremental evaluation for someone else leaves both findings alone…
    bystander = make_employee()
    r = evaluate(dt.date(2026, 3, 10), STEP, employee_ids=[bystander.pk])
    assert (r.opened, r.resolved) == (0, 0)
    # …and one for the Beijing employee sees their case end.
    case_cancel(actor=hr, case=bj_case, reason="已由员工自行处理")
    r = evaluate(dt.date(2026, 3, 10), STEP, employee_ids=[person.pk])
    assert r.resolved == 1 and {f.details["case_id"] for f in found(STEP)} == {sz_case.pk}

    # A rule limited to 深圳 sees only the Shenzhen case.
    rule = only_rule(STEP, entities=[org["sz"]])
    evaluate(dt.date(2026, 3, 10), STEP)
    assert [f.details["case_id"] for f in found(STEP, rule=rule)] == [sz_case.pk]


# --- notice_unacknowledged ------------------------------------------------------------------------


def test_notice_is_unacknowledged_from_the_day_after_its_answer_date(hr, person):
    case = open_medical(hr, person)
    letter = send_letter(case, sent=dt.date(2026, 3, 3), respond_by=dt.date(2026, 3, 10))
    assert Case.objects.get(pk=case.pk).current_step == "await_ack"

    evaluate(dt.date(2026, 3, 10), NOTICE)  # the answer date itself: still in time
    assert found(NOTICE) == []

    evaluate(dt.date(2026, 3, 11), NOTICE)
    f = one(NOTICE)
    assert f.key == f"e{person.pk}:letter{letter.pk}"
    assert f.severity == "warning" and f.deadline == dt.date(2026, 3, 10)
    assert f.details["variant"] == "unopened"
    assert {
        k: f.details[k] for k in ("case_id", "case_number", "letter_id", "letter_number", "respond_by")
    } == {
        "case_id": case.pk,
        "case_number": case.number,
        "letter_id": letter.pk,
        "letter_number": letter.number,
        "respond_by": "2026-03-10",
    }
    assert f.details["sent_at"] == at(dt.date(2026, 3, 3)).isoformat()
    assert f.details["step"] == "等待员工确认"
    assert f"未确认告知函 {letter.number}" in f.title and "已过 1 天" in f.title and "尚未打开链接" in f.title
    assert "电话联系李四" in f.next_step and "线下签收" in f.next_step
    # the await_ack step (due 2026-03-10) is this kind's, not case_step_overdue's
    evaluate(dt.date(2026, 3, 11), STEP)
    assert found(STEP) == []


def test_grace_days_and_the_opened_variant(hr, person):
    only_rule(NOTICE, params={"grace_days": 2})
    case = open_medical(hr, person)
    letter = send_letter(case, sent=dt.date(2026, 3, 3), respond_by=dt.date(2026, 3, 10))
    evaluate(dt.date(2026, 3, 12), NOTICE)
    assert found(NOTICE) == []
    request = request_create(letter=letter, now=at(dt.date(2026, 3, 3)))
    AckRequest.objects.filter(pk=request.pk).update(opened_at=at(dt.date(2026, 3, 4), 20), channels=["email"])
    evaluate(dt.date(2026, 3, 13), NOTICE)
    f = one(NOTICE)
    assert f.details["variant"] == "opened" and f.details["grace_days"] == 2
    assert f.details["opened_at"] == at(dt.date(2026, 3, 4), 20).isoformat()
    assert f.details["channels"] == ["email"]
    assert "已打开告知函" in f.title and "已过 3 天" in f.title


def test_notice_resolves_when_the_employee_acknowledges(hr, person):
    case = open_medical(hr, person)
    letter = send_letter(case, sent=dt.date(2026, 3, 3), respond_by=dt.date(2026, 3, 10))
    evaluate(dt.date(2026, 3, 12), NOTICE)
    f = one(NOTICE)

    request = request_create(letter=letter, now=timezone.now())
    ack_verify(request=request, value=person_last4(person))
    ack_submit(request=request, decision="acknowledged", shown_sha256=letter.sha256, ip="10.0.0.8")
    assert Letter.objects.get(pk=letter.pk).status == Letter.Status.ACKNOWLEDGED
    r = evaluate(dt.date(2026, 3, 12), NOTICE)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED
    assert f.resolved_reason == "员工已答复告知函或已线下签收，或函件已撤回、案件已结束"


def person_last4(employee) -> str:
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)[-4:]


def test_notice_resolves_when_signed_offline(hr, person):
    case = open_medical(hr, person)
    letter = send_letter(case, sent=dt.date(2026, 3, 3), respond_by=dt.date(2026, 3, 10))
    evaluate(dt.date(2026, 3, 12), NOTICE)
    f = one(NOTICE)
    case_attach(actor=hr, case=case, filename="签收件.pdf", data=PDF)
    case_advance(actor=hr, case=case, choice="offline", note="3月12日当面签收")
    assert Letter.objects.get(pk=letter.pk).status == Letter.Status.SENT  # still unanswered online…
    evaluate(dt.date(2026, 3, 12), NOTICE)
    f.refresh_from_db()
    assert f.status == F.RESOLVED  # …but the workflow's acknowledgement step is done


@pytest.mark.parametrize("how", ["withdraw", "cancel"])
def test_notice_resolves_when_withdrawn_or_the_case_ends(hr, person, how):
    case = open_medical(hr, person)
    letter = send_letter(case, sent=dt.date(2026, 3, 3), respond_by=dt.date(2026, 3, 10))
    evaluate(dt.date(2026, 3, 12), NOTICE)
    f = one(NOTICE)
    if how == "withdraw":
        letter_withdraw(actor=hr, letter=letter, reason="地址有误，重新出具")
    else:
        case_cancel(actor=hr, case=case, reason="误立案")
    evaluate(dt.date(2026, 3, 12), NOTICE)
    f.refresh_from_db()
    assert f.status == F.RESOLVED


# --- backpay_due_soon -----------------------------------------------------------------------------


def _to_payment(hr, employee, day: dt.date) -> Case:
    case = case_open(actor=hr, employee=employee, template="backpay", now=at(OPENED))
    case_record(actor=hr, case=case, key="backpay", value={"grand_total": "1234.50", "principal": "1200.00"})
    case_advance(actor=hr, case=case, choice="done", now=at(OPENED))
    case_advance(actor=hr, case=case, choice="approved", now=at(OPENED))
    case_advance(actor=hr, case=case, choice="skip", note="仅单位部分", now=at(day))
    case.refresh_from_db()
    assert case.current_step == "pay"
    return case


def test_backpay_payment_step_at_its_boundaries_then_paid(hr, person):
    case = _to_payment(hr, person, dt.date(2026, 3, 10))
    pay = case.steps.get(status=CaseStep.Status.ACTIVE)
    assert pay.due_date == dt.date(2026, 4, 9)

    evaluate(dt.date(2026, 4, 1), BACKPAY)  # 8 days before: not yet
    assert found(BACKPAY) == []

    evaluate(dt.date(2026, 4, 2), BACKPAY)  # 7 days before (days_before=7)
    f = one(BACKPAY)
    assert f.key == f"e{person.pk}:step{pay.pk}"
    assert f.severity == "warning" and f.deadline == dt.date(2026, 4, 9)
    assert str(f.amount) == "1234.50" and f.details["amount"] == "1234.50"
    assert (
        f.details["case_id"] == case.pk
        and f.details["step"] == "记录缴纳"
        and f.details["due"] == "2026-04-09"
    )
    assert f.citations == ["SIL-86"]
    assert "将于 2026-04-09 到期" in f.title and "还剩 7 天" in f.title

    evaluate(dt.date(2026, 4, 9), BACKPAY)  # the last day
    f.refresh_from_db()
    assert f.severity == "warning" and f.details["variant"] == "due_soon"

    evaluate(dt.date(2026, 4, 10), BACKPAY)
    f.refresh_from_db()
    assert f.severity == "critical" and f.details["variant"] == "overdue" and "逾期 1 天" in f.title
    # the back-payment case's steps are this kind's only
    evaluate(dt.date(2026, 4, 10), STEP)
    assert found(STEP) == []

    case_attach(actor=hr, case=case, filename="缴费凭证.pdf", data=PDF)
    case_advance(
        actor=hr,
        case=case,
        choice="paid",
        note="已缴",
        data={"payment": {"amount": "1234.50", "date": "2026-04-10"}},
    )
    r = evaluate(dt.date(2026, 4, 10), BACKPAY)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED and f.resolved_reason == "补缴步骤已完成，或案件已结束"


def test_backpay_earlier_steps_and_days_before(hr, person):
    case = case_open(actor=hr, employee=person, template="backpay", now=at(OPENED))
    calc = case.steps.get()
    assert calc.due_date == dt.date(2026, 3, 7)
    only_rule(BACKPAY, params={"days_before": 0})
    evaluate(dt.date(2026, 3, 6), BACKPAY)
    assert found(BACKPAY) == []
    evaluate(dt.date(2026, 3, 7), BACKPAY)
    f = one(BACKPAY)
    assert f.amount is None and f.details["amount"] is None and f.details["step"] == "核算补缴金额"


# --- defaults -------------------------------------------------------------------------------------


def test_default_rules_installed_for_the_case_kinds(org):
    for kind, severity in ((NOTICE, "warning"), (BACKPAY, "critical"), (STEP, "critical")):
        rule = AlertRule.objects.get(kind=kind, is_default=True)
        assert rule.enabled and rule.severity == severity
        assert rule.routing["recipients"] == ["case_assignee", "entity_hr"]


def test_an_overdue_step_notifies_the_case_assignee_and_the_entitys_hr(hr, person, admin, clerk):
    from shebao.notify.models import Notification

    case = case_open(
        actor=hr, employee=person, template="medical_interruption", assignee=admin, now=at(OPENED)
    )
    evaluate(dt.date(2026, 3, 4), STEP)
    f = one(STEP)
    assert f.details["case_id"] == case.pk
    users = set(Notification.objects.filter(finding=f).values_list("user_id", flat=True))
    assert users == {admin.pk, clerk.pk}  # the owner (an HR admin) and 北京's HR specialist
