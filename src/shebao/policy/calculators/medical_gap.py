"""What a gap in 职工医保 contributions means for benefits: the national transfer rule plus city rules.

Only the employee-insurance rules apply here. The 2025 "3 + N months" waiting period of 国办发〔2024〕38号
is worded for 居民医保 (residents' insurance); applying it to employees would be wrong (si_rules.md §2.1).
Every statement carries its confidence; most are secondary sources, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from shebao.policy.terms import Confidence

from ._base import CalcError, Serialisable

__all__ = ["GapAssessment", "Statement", "medical_gap"]


@dataclass(frozen=True)
class Statement(Serialisable):
    text: str
    confidence: Confidence
    source: str
    citation: str | None = None

    def _extra(self) -> dict[str, str]:
        return {"confidence_label": self.confidence.label}


@dataclass(frozen=True)
class GapAssessment(Serialisable):
    gap_months: int
    within_three_months: bool
    waiting_period_max_months: int | None  # national ceiling: 0 (none) for ≤ 3 months, 6 for > 3 months
    national: tuple[Statement, ...]
    city_code: str | None
    city_rule_known: bool  # False: the city's own rule is 未收录
    city: tuple[Statement, ...]
    notes: tuple[str, ...]
    citations: tuple[str, ...]


_TRANSFER_SOURCE = (
    "《基本医疗保险关系转移接续暂行办法》（国家医保局办公室、财政部办公厅，2021年11月，文号未核实），"
    "据新华社报道的转载（gyxww.net、guanhai.com.cn、cqyy.net 内容一致）；原文未核实"
)
_WITHIN = (
    "中断缴费3个月（含）以内的，可按转入地规定补缴职工医保费",
    "缴费当月即可在转入地按规定享受待遇",
    "中断期间的待遇可追溯享受",
    "不设待遇享受等待期",
)
_BEYOND = "中断缴费3个月以上的，统筹地区可设置不超过6个月的待遇享受等待期；是否设置、设置多长由当地规定决定"
_BEYOND_DISPUTED = (
    "另有二手页面称后续通知将该等待期由不超过6个月降低为不超过3个月，出处文件未核实（可能仅为江苏口径）",
    "https://img.ccschy.com/news/27329.html（转述“江苏医保局转发国家医保局……通知”）",
)
_BOUNDARY = "居民医保“固定3个月＋每断保1年加1个月”的等待期（国办发〔2024〕38号）不适用于单位职工医保"

# GB/T 2260 two-digit prefix: municipalities are one pooling area each.
_CITY_RULES: dict[str, tuple[Statement, ...]] = {
    "31": (
        Statement(
            "未按照规定缴费的，职工不享受待遇；按规定补缴后方可继续享受；停止待遇期间的医疗费用基金不予支付"
            "（2025-03-01起施行）",
            Confidence.OFFICIAL,
            "《上海市医疗保障条例》第十五条（LawRefBook/Laws）",
            "SH-MSR-15",
        ),
        Statement(
            "以灵活就业人员身份首次参加或中断后重新参加职工医保的，设6个月待遇等待期；中断职工医保待遇后3个月内"
            "以灵活就业身份参保缴费的，不受等待期限制（仅适用于灵活就业身份；2025-09-10至2030-09-09有效）",
            Confidence.SECONDARY_OFFICIAL_URL,
            "沪医保规〔2025〕7号《上海市职工基本医疗保险办法实施细则》，据某政策引擎项目的种子数据与验收报告"
            "（称采自 ybj.sh.gov.cn 等官方域名），原文未核实",
        ),
    ),
    "50": (
        Statement(
            "首次以个人身份参加或参保后中断缴费超过3个月接续重庆职工医保的，待遇等待期为6个月；"
            "连续参保2年以上、切换参保关系且中断不超过3个月的，可补缴、不设等待期",
            Confidence.SECONDARY_NO_URL,
            "问答转载 https://xunlu.net/p/16208 ，无官方出处",
        ),
    ),
}


def medical_gap(*, gap_months: int, city_code: str | None = None) -> GapAssessment:
    """Assess an interruption of ``gap_months`` whole months in employee medical insurance."""
    if isinstance(gap_months, bool) or not isinstance(gap_months, int):
        raise CalcError("断缴月数必须是整数", field="gap_months")
    if gap_months < 0:
        raise CalcError("断缴月数不能为负数", field="gap_months")
    code = (city_code or "").strip() or None
    if code is not None and not (len(code) == 6 and code.isdigit()):
        raise CalcError(f"城市代码“{city_code}”无效：请使用6位行政区划代码（如 310000）", field="city_code")

    within = gap_months <= 3
    if gap_months == 0:
        national: tuple[Statement, ...] = ()
    elif within:
        national = tuple(Statement(t, Confidence.SECONDARY_NO_URL, _TRANSFER_SOURCE) for t in _WITHIN)
    else:
        national = (
            Statement(_BEYOND, Confidence.SECONDARY_NO_URL, _TRANSFER_SOURCE),
            Statement(_BEYOND_DISPUTED[0], Confidence.UNVERIFIED, _BEYOND_DISPUTED[1]),
        )

    rules = _CITY_RULES.get(code[:2], ()) if code else ()
    if code is None:
        city: tuple[Statement, ...] = ()
    elif rules:
        city = rules
    else:
        city = (
            Statement(
                "该城市职工医保断缴补缴与待遇等待期规则未收录（unknown）", Confidence.UNVERIFIED, "未收录"
            ),
        )

    notes = ["未中断缴费，不涉及补缴或等待期"] if gap_months == 0 else []
    notes += [
        "全国规则来自《基本医疗保险关系转移接续暂行办法》的新闻报道（二手来源），适用于跨统筹地区转移接续，"
        "原文未核实",
        _BOUNDARY,
    ]
    if not within:
        notes.append("是否设置等待期及其长度以参保地规定为准")
    return GapAssessment(
        gap_months=gap_months,
        within_three_months=within,
        waiting_period_max_months=0 if within else 6,
        national=national,
        city_code=code,
        city_rule_known=bool(rules),
        city=city,
        notes=tuple(notes),
        citations=tuple(s.citation for s in city if s.citation),
    )
