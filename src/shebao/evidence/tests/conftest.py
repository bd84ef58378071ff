"""Fixtures for the evidence tests: a back-payment case walked to its end through the real
services (letter issued and sent by email to a local SMTP server, the employee's acknowledgement
with a file, HR's receipt, the payment), and its bundle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.cases.models import Case
from shebao.cases.testing import walk
from shebao.cases.testing.walk import answer
from shebao.core.context import Actor

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # the employee's photo of the bank slip
PDF = b"%PDF-1.4\n%receipt\n"  # HR's payment receipt

# the shared fixtures of a case walk
hr, mailbox, email_channel = walk.hr, walk.mailbox, walk.email_channel


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
