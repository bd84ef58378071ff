"""Every shipped workflow template walked end to end through the services: open (from a real
finding where one exists), letters issued to PDF and sent by email to a real SMTP server, the
employee's answer through the acknowledgement services, proof files, back-pay figures and payment —
until the case is closed, with the timeline recording every step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shebao.cases.models import Case, CaseEvent, Letter
from shebao.cases.services import (
    case_advance,
    case_attach,
    case_backpay,
    case_open,
    letter_issue,
    letter_send,
)
from shebao.cases.testing.factories import gap_start, medical_finding
from shebao.cases.testing.walk import answer
from shebao.core.exceptions import ApplicationError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%proof\n"


def _kinds(case: Case) -> list[str]:
    return list(case.events.order_by("at", "id").values_list("kind", flat=True))


def _mail_link(server) -> str:
    import re

    text = server.messages[-1].get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/a/s/\S+/", text).group(0)


@pytest.mark.django_db(transaction=True)
def test_medical_interruption_from_finding_to_closed(org, hr, make_employee, mailbox):
    finding = medical_finding(org, make_employee, email="wang@example.com")
    case = case_open(actor=hr, finding=finding)
    assert case.template.code == "medical_interruption" and case.finding == finding
    finding.refresh_from_db()
    assert finding.status == "acknowledged"
    assert case_open(actor=hr, finding=finding) == case  # one open case per finding

    letter = letter_issue(actor=hr, case=case)
    assert letter.template_code == "medical_notice" and letter.status == Letter.Status.ISSUED
    assert gap_start() in letter.html  # the first month without medical insurance
    request = letter_send(actor=hr, letter=letter)
    case.refresh_from_db()
    assert case.current_step == "await_ack"  # moved by itself when the letter went out
    assert request.channels == ["email"]
    assert len(mailbox.messages) == 1 and _mail_link(mailbox).endswith(f"/a/s/{request.short}/")

    ack = answer(letter, "acknowledged")
    assert (ack.document_sha256, ack.method, ack.ip) == (letter.sha256, "id_last4", "10.0.0.8")
    case.refresh_from_db()
    assert case.current_step == "backpay"
    with pytest.raises(ApplicationError, match="请先上传证明材料"):
        case_advance(actor=hr, case=case, choice="paid", note="已补缴")
    case_attach(actor=hr, case=case, filename="缴费凭证.pdf", data=PDF)
    case = case_advance(actor=hr, case=case, choice="paid", note="员工 11 月已补缴 2 个月")
    assert case.status == Case.Status.CLOSED
    assert _kinds(case) == [
        "opened",
        "step_started",  # notice
        "letter_issued",
        "letter_sent",
        "step_done",
        "step_started",  # await_ack
        "identity",
        "acknowledged",
        "step_done",
        "step_started",  # backpay
        "attachment",
        "step_done",
        "closed",
    ]
    step_done = case.events.filter(kind=CaseEvent.Kind.STEP_DONE).first()
    assert step_done.data["auto"] == "letter_sent" and step_done.actor_label == "admin"


@pytest.mark.django_db(transaction=True)
def test_onboarding_blocked_then_proof_from_the_employee(org, hr, make_employee, mailbox):
    emp = make_employee(hire_date=dt.date(2026, 11, 2), email="new@example.com")
    case = case_open(actor=hr, employee=emp, template="onboarding")
    case = case_advance(actor=hr, case=case, choice="blocked", note="员工仍在原单位参保")
    assert case.current_step == "notify"
    with pytest.raises(ApplicationError, match="请先把函件发送给员工"):
        case_advance(actor=hr, case=case, choice="sent")
    letter = letter_issue(actor=hr, case=case)
    letter_send(actor=hr, letter=letter)
    case.refresh_from_db()
    assert case.current_step == "await_ack"
    # The employee disagrees and sends a photo of the 停保证明 with the answer.
    answer(letter, "disagreed", reason="原单位已于10月停保，附停保证明", files=[("停保证明.png", PNG)])
    case.refresh_from_db()
    assert case.current_step == "review"
    assert case.attachments.get().by_employee
    case = case_advance(actor=hr, case=case, choice="resolved", note="已核实停保证明")
    assert case.current_step == "proof"
    case_attach(actor=hr, case=case, filename="停保证明-原件扫描.pdf", data=PDF)
    case = case_advance(actor=hr, case=case, choice="received")
    case = case_advance(actor=hr, case=case, choice="done", note="2026-11-20 已增员")
    assert case.status == Case.Status.CLOSED and case.outcome == "已办理登记"
    assert "disagreed" in _kinds(case)


@pytest.mark.django_db(transaction=True)
def test_offboarding_with_letter_and_statutory_steps(org, hr, make_employee, mailbox):
    from shebao.rules.tests.factories import cutoff

    cutoff(org["bj"], 25)
    emp = make_employee(hire_date=dt.date(2023, 1, 1), email="leaver@example.com")
    emp.leave_date = dt.date(2026, 11, 20)
    emp.save(update_fields=["leave_date"])
    case = case_open(actor=hr, employee=emp, template="offboarding")
    assert case.step_due == dt.date(2026, 11, 25)
    case = case_advance(actor=hr, case=case, choice="done", note="11-21 已减员，停保月份 2026-12")
    letter = letter_issue(actor=hr, case=case)
    assert letter.template_code == "leaving_notice"
    letter_send(actor=hr, letter=letter)
    case.refresh_from_db()
    assert case.current_step == "transfer" and case.step_due == dt.date(2026, 12, 5)
    case = case_advance(actor=hr, case=case, choice="done", note="已出具转移凭证")
    assert case.step_due == dt.date(2026, 12, 5)  # SIL-50: leave + 15 days
    case = case_advance(actor=hr, case=case, choice="not_applicable", note="已有新单位")
    assert case.step_due == dt.date(2026, 12, 20)  # HFR-15: leave + 30 days
    answer(letter, "acknowledged")  # an answer after the step moved on is still recorded
    case = case_advance(actor=hr, case=case, choice="done", note="公积金已封存")
    assert case.status == Case.Status.CLOSED
    letter.refresh_from_db()
    assert letter.status == Letter.Status.ACKNOWLEDGED


@pytest.mark.django_db(transaction=True)
def test_backpay_calculated_approved_notified_paid(org, hr, make_employee, mailbox):
    emp = make_employee(hire_date=dt.date(2024, 1, 1), email="bp@example.com", declared_wage=Decimal("9000"))
    case = case_open(actor=hr, employee=emp, template="backpay")
    with pytest.raises(ApplicationError, match="请先核算补缴金额"):
        case_advance(actor=hr, case=case, choice="done")
    case = case_backpay(
        actor=hr, case=case, start="2025-03", end="2025-04", base="9000", paid="2026-11-20", due_day=15
    )
    assert case.data["backpay"]["months"] and case.data["backpay"]["input"]["base"] == "9000"
    case = case_advance(actor=hr, case=case, choice="done")
    assert case.current_step == "approve"
    case = case_advance(actor=hr, case=case, choice="approved")
    letter = letter_issue(actor=hr, case=case)
    assert letter.template_code == "backpay_notice"
    letter_send(actor=hr, letter=letter)
    case.refresh_from_db()
    assert case.current_step == "pay"
    with pytest.raises(ApplicationError, match="请记录实际缴纳的金额和日期"):
        case_advance(actor=hr, case=case, choice="paid")
    case_attach(actor=hr, case=case, filename="回单.pdf", data=PDF)
    for bad in ("NaN", "Infinity", "一千"):
        with pytest.raises(ApplicationError, match="缴纳金额应为数字"):
            case_advance(
                actor=hr, case=case, choice="paid", data={"payment": {"amount": bad, "date": "2026-11-20"}}
            )
    with pytest.raises(ApplicationError, match="缴纳日期不能晚于今天"):
        case_advance(
            actor=hr, case=case, choice="paid", data={"payment": {"amount": "100", "date": "2999-01-01"}}
        )
    case = case_advance(
        actor=hr, case=case, choice="paid", data={"payment": {"amount": "1,234.50", "date": "2026-11-20"}}
    )
    assert case.status == Case.Status.CLOSED
    assert case.data["payment"] == {"amount": "1234.50", "date": "2026-11-20", "reference": ""}


@pytest.mark.django_db(transaction=True)
def test_letter_without_any_channel_is_refused_with_a_way_out(org, hr, make_employee):
    case = case_open(actor=hr, employee=make_employee(), template="medical_interruption")
    letter = letter_issue(actor=hr, case=case)
    with pytest.raises(ApplicationError, match="可下载函件线下交付"):
        letter_send(actor=hr, letter=letter)
    letter.refresh_from_db()
    assert letter.status == Letter.Status.ISSUED and not letter.requests.exists()


@pytest.mark.django_db(transaction=True)
def test_case_findings_follow_the_case_without_waiting_for_the_daily_evaluation(org, hr, make_employee):
    from django.utils import timezone

    from shebao.rules.models import Finding

    today = timezone.localdate()
    emp = make_employee(hire_date=today - dt.timedelta(days=40))  # SIL-58's 30 days have passed
    case = case_open(actor=hr, employee=emp, template="onboarding")
    (finding,) = Finding.objects.filter(kind="case_step_overdue", employee=emp)
    assert finding.status == "open" and finding.severity == "critical"
    assert finding.details["case_id"] == case.pk
    case_advance(actor=hr, case=case, choice="ok")  # on to 办理登记: also past hire + 30
    case = Case.objects.get(pk=case.pk)
    case_advance(actor=hr, case=case, choice="done", note="已增员")
    assert set(
        Finding.objects.filter(kind="case_step_overdue", employee=emp).values_list("status", flat=True)
    ) == {"resolved"}
