"""Plain value types for city policy figures: what calculators take, independent of the ORM.

A figure is a value (or None: not found — never a guessed zero) with its confidence and source.
Selectors build these from the database; calculators read nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal


class Insurance(enum.StrEnum):
    PENSION = "pension"
    MEDICAL = "medical"
    MATERNITY = "maternity"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"
    HOUSING_FUND = "housing_fund"
    MEDICAL_SUPPLEMENT = "medical_supplement"  # e.g. Beijing's fixed monthly 大额医疗互助

    @property
    def label(self) -> str:
        return INSURANCE_LABELS[self]


INSURANCE_LABELS = {
    Insurance.PENSION: "养老保险",
    Insurance.MEDICAL: "医疗保险",
    Insurance.MATERNITY: "生育保险",
    Insurance.UNEMPLOYMENT: "失业保险",
    Insurance.WORK_INJURY: "工伤保险",
    Insurance.HOUSING_FUND: "住房公积金",
    Insurance.MEDICAL_SUPPLEMENT: "医疗附加（固定金额）",
}


class Confidence(enum.StrEnum):
    OFFICIAL = "official_text"  # 官方原文
    SECONDARY_OFFICIAL_URL = "secondary_with_official_url"  # 有官方出处的二手数据
    SECONDARY_NO_URL = "secondary_no_official_url"  # 无出处
    DISPUTED = "disputed"  # 存在争议
    UNVERIFIED = "unverified"  # 未核实

    @property
    def label(self) -> str:
        return CONFIDENCE_LABELS[self]


CONFIDENCE_LABELS = {
    Confidence.OFFICIAL: "官方原文",
    Confidence.SECONDARY_OFFICIAL_URL: "有官方出处的二手数据",
    Confidence.SECONDARY_NO_URL: "无出处",
    Confidence.DISPUTED: "存在争议",
    Confidence.UNVERIFIED: "未核实",
}


class Rounding(enum.StrEnum):
    FEN = "fen"  # half-up to 0.01
    YUAN = "yuan"  # half-up to 1
    UP_YUAN = "up_yuan"  # always up to the next yuan
    UP_JIAO = "up_jiao"  # always up to the next 0.1

    @property
    def label(self) -> str:
        return {"fen": "四舍五入到分", "yuan": "四舍五入到元", "up_yuan": "见角进元", "up_jiao": "见分进角"}[
            self.value
        ]


@dataclass(frozen=True)
class Figure:
    value: Decimal | int | None
    confidence: Confidence = Confidence.UNVERIFIED
    source: str = ""  # human-readable: document number, publisher, URL
    verified: bool = False  # an HR admin checked it against the official notice

    @property
    def known(self) -> bool:
        return self.value is not None


MISSING = Figure(None)


@dataclass(frozen=True)
class InsuranceTerms:
    insurance: Insurance
    base_min: Figure = MISSING
    base_max: Figure = MISSING
    employer_rate: Figure = MISSING  # a fraction: 0.16 = 16 %
    employee_rate: Figure = MISSING
    employer_fixed: Figure = MISSING  # fixed monthly amounts in yuan
    employee_fixed: Figure = MISSING
    rounding: Rounding = Rounding.FEN
    merged_into: Insurance | None = None  # maternity merged into medical in some cities
    note: str = ""


@dataclass(frozen=True)
class PolicyPeriod:
    city_code: str
    city_name: str
    label: str
    effective_from: dt.date
    effective_to: dt.date | None  # None: open-ended
    items: dict[Insurance, InsuranceTerms] = field(default_factory=dict)
    average_wage: Figure = MISSING  # previous year's local monthly average wage (economic compensation cap)
    payment_due_day: Figure = MISSING  # day of month by which the month's contribution is due
    cutoff_day: Figure = MISSING  # 增员/减员 cut-off day deciding the first and last covered month
    period_id: int | None = None

    def covers(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@dataclass(frozen=True)
class EntityOverrides:
    """An employer's own rates: work injury by industry class, housing fund chosen within 5–12 %."""

    work_injury_rate: Figure = MISSING
    housing_fund_employer_rate: Figure = MISSING
    housing_fund_employee_rate: Figure = MISSING
