"""Fixtures for the evidence tests: a back-payment case walked to its end through the real
services (letter issued and sent by email to a local SMTP server, the employee's acknowledgement
with a file, HR's receipt, the payment), and its bundle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.cases.models import Case, Letter
from shebao.core.context import Actor
from shebao.notify.testing.smtp import SmtpServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # the employee's photo of the bank slip
PDF = b"%PDF-1.4\n%receipt\n"  # HR's payment receipt


@pytest.fixture
def hr(admin) -> Actor:
    return Actor(user=admin)


@pytest.fixture
def mailbox(db, system):
    """A for-people email channel on a real local SMTP server."""
    from shebao.notify.services import channel_create

    with SmtpServer() as server:
        channel_create(
            actor=system,
            kind="email",
            name="员工邮箱",
            config={"host": server.host, "port": server.port, "security": "none", "from": "hr@example.com"},
            for_people=True,
        )
        yield server


def answer(letter: Letter, decision: str, *, reason: str = "", files=None):
    """The employee opens the newest link, confirms with the last 4 of the ID number, answers."""
    from shebao.cases.services import ack_resolve, ack_submit, ack_token, ack_verify
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    request = letter.requests.order_by("-id").first()
    resolved = ack_resolve(ack_token(request))
    assert resolved.ok, resolved.state
    number = crypto.decrypt(letter.case.employee.id_number_enc, purpose=ID_PURPOSE)
    assert ack_verify(request=resolved.request, value=number[-4:], ip="10.0.0.8") == "id_last4"
    return ack_submit(
        request=resolved.request,
        decision=decision,
        reason=reason,
        shown_sha256=letter.sha256,
        files=files,
        ip="10.0.0.8",
        user_agent="Mozilla/5.0 (iPhone)",
    )


def close_backpay_case(hr: Actor, employee, capture) -> Case:
    """Calculate, approve, send the notice, the employee acknowledges (with a photo), HR uploads
    the receipt and records the payment: the case closes."""
    from shebao.cases.services import (
        case_advance,
        case_attach,
        case_backpay,
        case_open,
        letter_issue,
        letter_send,
    )

    today = timezone.localdate()
    case = case_open(actor=hr, employee=employee, template="backpay")
    case = case_backpay(
        actor=hr, case=case, start="2025-03", end="2025-04", base="9000", paid=today.isoformat(), due_day=15
    )
    case = case_advance(actor=hr, case=case, choice="done")
    case = case_advance(actor=hr, case=case, choice="approved")
    letter = letter_issue(actor=hr, case=case)
    with capture(execute=True):  # the message goes out (and its delivery attempt is recorded)
        letter_send(actor=hr, letter=letter)
    answer(letter, "acknowledged", files=[("银行 回单.png", PNG)])
    case_attach(actor=hr, case=case, filename="缴费回单.pdf", data=PDF)
    case.refresh_from_db()
    case = case_advance(
        actor=hr,
        case=case,
        choice="paid",
        note="已补缴 2 个月",
        data={"payment": {"amount": "1,234.50", "date": today.isoformat()}},
    )
    assert case.status == Case.Status.CLOSED
    return case


@pytest.fixture
def employee(make_employee):
    return make_employee(
        name="王小明", email="wang@example.com", hire_date=dt.date(2024, 1, 1), declared_wage=Decimal("9000")
    )


@pytest.fixture
def closed_case(hr, employee, mailbox, django_capture_on_commit_callbacks) -> Case:
    return close_backpay_case(hr, employee, django_capture_on_commit_callbacks)


@pytest.fixture
def bundle(closed_case, hr):
    from shebao.evidence.bundle import bundle_build

    return bundle_build(actor=hr, case=closed_case)


@pytest.fixture
def bundle_path(bundle, tmp_path):
    path = tmp_path / bundle.filename
    path.write_bytes(bundle.data)
    return path
