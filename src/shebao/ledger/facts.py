"""What a government export, an agency bill or a connector says, in one shape, before it is stored.

Parsers (shebao.ledger.parsing) and connectors (shebao.ledger.connectors) produce these plain
values; ``shebao.ledger.services.ledger_facts_apply`` is the only thing that writes them into the
ledger. Nothing here touches the database.

Amounts are ``Decimal`` or ``None``: ``None`` means *the source did not say*, never zero, so a
file that states only the employee part of a month does not erase the employer part another
file stated.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal

from shebao.core.yearmonth import YearMonth
from shebao.policy.terms import Insurance

__all__ = [
    "ContributionFact",
    "ContributionStatus",
    "EnrollmentFact",
    "EnrollmentState",
    "Evidence",
    "Insurance",
    "PaymentType",
    "PersonRef",
    "SourceRow",
]


class Evidence(enum.StrEnum):
    """How strong the source is about money having moved (export_formats.md §0.2)."""

    ASSESSED = "assessed"  # 申报明细 / 应缴: the month was declared, nothing says it was paid
    AGENCY_BILLED = "agency_billed"  # an agency billed us for it
    PAID = "paid"  # 缴费记录, 到账/入账 column, 实缴 amounts
    CERTIFICATE = "certificate"  # an official record / certificate (verified through its channel)

    @property
    def rank(self) -> int:
        return _EVIDENCE_RANK[self]


_EVIDENCE_RANK = {Evidence.ASSESSED: 1, Evidence.AGENCY_BILLED: 2, Evidence.PAID: 3, Evidence.CERTIFICATE: 4}


class ContributionStatus(enum.StrEnum):
    DECLARED = "declared"  # 已申报（未见到账）: assessed only
    PAID = "paid"  # 已实缴
    UNPAID = "unpaid"  # 未缴 (e.g. 入账 = 未入账)
    ARREARS = "arrears"  # 欠缴
    BACKPAID = "backpaid"  # 补缴
    REFUNDED = "refunded"  # 退费 / 已退收


class PaymentType(enum.StrEnum):
    NORMAL = "normal"  # 正常应缴 / 汇缴
    BACKPAY = "backpay"  # 补缴 / 补收 / 补欠缴
    ADJUST = "adjust"  # 补差 / 补基数 / 调整
    REFUND = "refund"  # 退收 / 退费


class EnrollmentState(enum.StrEnum):
    ACTIVE = "active"  # 参保缴费 / 正常参保 / 正常 (缴存)
    SUSPENDED = "suspended"  # 暂停缴费（中断）/ 封存
    TERMINATED = "terminated"  # 终止缴费 / 终止参保 / 销户
    NOT_ENROLLED = "not_enrolled"  # 未参保


@dataclass(slots=True)
class PersonRef:
    """Who a row is about. ``id_number`` is the canonical number (core.identity) or "" when the
    source has none (Hangzhou 公积金, CIIC 工号 files): then ``account_no`` + ``name`` identify
    the person and the match is flagged, never made silently by name alone."""

    name: str
    id_number: str = ""
    id_kind: str = ""  # core.identity.IdKind value when known
    account_no: str = ""  # 人员编号 / 个人社保号 / 个人账号 / 个人客户号


@dataclass(slots=True)
class ContributionFact:
    """One person × insurance × 费款所属期 × paying unit, as far as the source states it."""

    person: PersonRef
    insurance: Insurance
    period: YearMonth  # 费款所属期: the month the contribution covers
    row: int = 0  # the source row (Excel row number / record index) for traceability
    posting_period: YearMonth | None = None  # 建账年月 / 帐单年月 / 汇补缴年月 when it differs
    unit_no: str = ""  # paying unit's number; "" = the entity the data is ingested for
    unit_name: str = ""
    base: Decimal | None = None
    employer_due: Decimal | None = None
    employee_due: Decimal | None = None
    employer_paid: Decimal | None = None
    employee_paid: Decimal | None = None
    late_fee: Decimal | None = None
    status: ContributionStatus | None = None  # only when the source states one
    payment_type: PaymentType | None = None
    evidence: Evidence = Evidence.ASSESSED


@dataclass(slots=True)
class EnrollmentFact:
    """One person × insurance × unit: the enrolment status as last reported."""

    person: PersonRef
    insurance: Insurance
    state: EnrollmentState
    row: int = 0
    unit_no: str = ""
    unit_name: str = ""
    since: dt.date | None = None  # 本次参保日期 / 状态变更日期
    reported_at: dt.datetime | None = None  # when the source produced it; None = at ingestion


@dataclass(slots=True)
class SourceRow:
    """A row of the source as read, for traceability, with the facts it produced.

    ``cells`` maps the (resolved) column label to the cell text with identity numbers already
    masked; ``skipped`` says why a row yields no facts (合计, 小计, a section label …) and
    ``errors`` lists what is wrong with it ([{"column", "code", "message"}], Chinese)."""

    row: int
    cells: dict[str, str] = field(default_factory=dict)
    contributions: list[ContributionFact] = field(default_factory=list)
    enrollments: list[EnrollmentFact] = field(default_factory=list)
    skipped: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)
