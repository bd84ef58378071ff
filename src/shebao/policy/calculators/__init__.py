"""Pure calculators over policy figures (terms.py): no Django, no database, no floats.

Every result is a frozen dataclass with ``citations`` (law-library ids such as "SIL-86") and ``to_dict()``.
A figure that is not on record yields ``None`` and an incomplete result, never a guessed zero;
input a calculator cannot answer raises ``CalcError`` with a Chinese ``message`` and the ``field`` at fault.
"""

from __future__ import annotations

from ._base import ARTICLES, CalcError
from .arrears import DAILY_RATE, BackpayMonth, BackpayResult, LateFeeResult, backpay, late_fee
from .compensation import CompensationResult, compensation, tenure
from .contribution import ContributionLine, ContributionResult, MissingFigure, contribution
from .deadlines import DEADLINE_NOTE, Deadline, deadlines
from .medical_gap import GapAssessment, Statement, medical_gap

__all__ = [
    "ARTICLES",
    "DAILY_RATE",
    "DEADLINE_NOTE",
    "BackpayMonth",
    "BackpayResult",
    "CalcError",
    "CompensationResult",
    "ContributionLine",
    "ContributionResult",
    "Deadline",
    "GapAssessment",
    "LateFeeResult",
    "MissingFigure",
    "Statement",
    "backpay",
    "compensation",
    "contribution",
    "deadlines",
    "late_fee",
    "medical_gap",
    "tenure",
]
