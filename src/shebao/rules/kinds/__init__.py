"""The rule kinds. Their codes are part of the interface (API, CLI, stored rules)."""

from __future__ import annotations

from shebao.rules.kinds.base import Match, Params, RuleKind
from shebao.rules.kinds.cases import BackpayDueSoon, CaseStepOverdue, NoticeUnacknowledged
from shebao.rules.kinds.coverage import (
    HousingFundUnregistered,
    InsuranceInterrupted,
    MedicalInterrupted,
    RegistrationOverdue,
    WaitingPeriodRisk,
)
from shebao.rules.kinds.identity import InvalidIdentity
from shebao.rules.kinds.reconciled import (
    Arrears,
    BaseMismatch,
    BaseOutOfRange,
    EnrolledElsewhere,
    LeaverNotStopped,
    UnknownEnrollee,
)

KINDS: dict[str, RuleKind] = {
    k.code: k()
    for k in (
        RegistrationOverdue,
        MedicalInterrupted,
        InsuranceInterrupted,
        EnrolledElsewhere,
        LeaverNotStopped,
        HousingFundUnregistered,
        BaseOutOfRange,
        BaseMismatch,
        Arrears,
        UnknownEnrollee,
        WaitingPeriodRisk,
        InvalidIdentity,
        NoticeUnacknowledged,
        BackpayDueSoon,
        CaseStepOverdue,
    )
}


def kind_get(code: str) -> RuleKind:
    from shebao.core.exceptions import ApplicationError

    try:
        return KINDS[code]
    except KeyError:
        raise ApplicationError(
            f"未知的规则类型“{code}”（可选：{'、'.join(KINDS)}）", field_errors={"kind": "未知的规则类型"}
        ) from None


__all__ = ["KINDS", "Match", "Params", "RuleKind", "kind_get"]
