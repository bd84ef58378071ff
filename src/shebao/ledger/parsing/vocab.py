"""The words government files use for insurances, sides, payment states and enrolment states.

Every lookup takes the cell text through ``norm_value`` first, tries an exact dictionary (the
profile's own entries before these defaults), then ordered keywords: the first keyword found
wins, so the specific ones come first (``含生育`` before ``生育``, ``大额`` before ``医疗``,
``补充公积金`` before ``公积金``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shebao.ledger.facts import ContributionStatus, EnrollmentState, Insurance, PaymentType
from shebao.ledger.parsing.text import norm_value
from shebao.policy.terms import INSURANCE_LABELS

__all__ = [
    "EMPLOYEE",
    "EMPLOYER",
    "IGNORE",
    "classify_insurance",
    "classify_role",
    "classify_side",
    "lookup_payment_type",
    "lookup_state",
    "lookup_status",
]

EMPLOYER = "employer"
EMPLOYEE = "employee"
IGNORE = "ignore"  # a known item Shebao does not keep (职业年金, 公务员医疗补助 …)

P, M, MAT, U, W, H, MS = (
    Insurance.PENSION,
    Insurance.MEDICAL,
    Insurance.MATERNITY,
    Insurance.UNEMPLOYMENT,
    Insurance.WORK_INJURY,
    Insurance.HOUSING_FUND,
    Insurance.MEDICAL_SUPPLEMENT,
)

# Ordered: the first keyword contained in the text decides.
INSURANCE_KEYWORDS: tuple[tuple[str, Insurance | str], ...] = (
    ("补充公积金", IGNORE),
    ("职业年金", IGNORE),
    ("企业年金", IGNORE),
    ("公务员医疗补助", IGNORE),
    ("公务员补助", IGNORE),
    ("家属统筹", IGNORE),
    ("地方补充养老", IGNORE),
    ("补充养老", IGNORE),
    ("离休人员医疗", IGNORE),
    ("离休", IGNORE),
    ("残保金", IGNORE),
    ("残障金", IGNORE),
    ("残疾人就业保障金", IGNORE),
    ("补充工伤", IGNORE),
    ("城乡居民", IGNORE),
    ("大额", MS),
    ("大病", MS),
    ("重大疾病", MS),
    ("重疾", MS),
    ("补充医疗", MS),
    ("医疗互助", MS),
    ("含生育", M),
    ("医疗及生育", M),
    ("医疗和生育", M),
    ("生育", MAT),
    ("工伤", W),
    ("失业", U),
    ("养老", P),
    ("医疗", M),
    ("医保", M),
    ("住房公积", H),
    ("公积金", H),
)
# 险种代码 (GB/T 31594 表 A.28 / AAE140), as 医保 and 人社 lists carry them.
INSURANCE_CODES: dict[str, Insurance | str] = {
    "110": P,
    "120": P,
    "210": U,
    "310": M,
    "320": IGNORE,
    "330": MS,
    "340": IGNORE,
    "390": IGNORE,
    "410": W,
    "510": MAT,
}
_INSURANCE_EXACT: dict[str, Insurance | str] = {
    **{norm_value(label): ins for ins, label in INSURANCE_LABELS.items()},
    **{ins.value.upper(): ins for ins in Insurance},
    **INSURANCE_CODES,
}
EMPLOYER_ONLY = frozenset({W, MAT})

# Words that contain 单位/企业 without naming the employer's side.
_SIDE_NOISE = ("企业职工", "城镇企业", "事业单位", "单位及个人", "单位和个人")


def classify_insurance(
    text: object,
    *,
    exact: Mapping[str, Insurance | str] | None = None,
    keywords: Sequence[tuple[str, Insurance | str]] = (),
) -> tuple[Insurance | str | None, str]:
    """(Insurance, IGNORE or None, the keyword that decided) for a 险种 / 征收品目 / group text."""
    key = norm_value(text)
    if not key:
        return None, ""
    for table in (exact or {}, _INSURANCE_EXACT):
        if key in table:
            return table[key], key
    for keyword, insurance in (*keywords, *INSURANCE_KEYWORDS):
        if keyword in key:
            return insurance, keyword
    return None, ""


def classify_side(text: object) -> str | None:
    """EMPLOYER for 单位/企业/公司, EMPLOYEE for 个人, None when neither or both."""
    key = norm_value(text)
    if not key:
        return None
    both = "单位及个人" in key or "单位和个人" in key
    for noise in _SIDE_NOISE:
        key = key.replace(noise, "")
    employer = "单位" in key or "企业" in key or "公司" in key
    employee = "个人" in key
    if both or employer == employee:
        return None
    return EMPLOYER if employer else EMPLOYEE


# A column under an insurance group that is not one of its amounts.
_ROLE_EXCLUDE = (
    "合计",
    "小计",
    "总计",
    "差额",
    "编号",
    "所属",
    "起做",
    "起缴",
    "停缴",
    "支付方式",
    "附加",
    "利息",
    "本金",
    "减免",
    "缴费工资",
    "工资",
    "人数",
    "时间",
    "日期",
    "状态",
    "账号",
    "备注",
    "年月",
)
_DUE_WORDS = ("应缴", "应补", "缴费额", "缴纳", "汇缴", "缴存额", "缴费", "金额", "应收", "缴存")
_PAID_WORDS = ("实缴", "已缴", "到账", "入账金额")


def classify_role(leaf: str, parent: str) -> tuple[str, str | None] | None:
    """What an insurance group's column holds: ("base" | "rate" | "late_fee" | "paid" | "due",
    side or None); None when it is none of them (合计, 减免, 利息 …). Texts are normalised."""
    text = f"{parent}/{leaf}"
    if any(word in text for word in _ROLE_EXCLUDE):
        return None
    side = classify_side(leaf) or classify_side(parent)
    if "基数" in text:
        return "base", side
    if "费率" in text or "比例" in text:
        return "rate", side
    if "滞纳金" in text:
        return "late_fee", None
    if any(word in text for word in _PAID_WORDS):
        return "paid", side
    if side is not None or any(word in text for word in _DUE_WORDS):
        return "due", side
    return None


# --- value dictionaries --------------------------------------------------------------------------

_STATUS_EXACT: dict[str, ContributionStatus] = {
    **dict.fromkeys(
        (
            "已实缴",
            "实缴",
            "正常",
            "已到账",
            "到账",
            "已入账",
            "入账",
            "已缴费",
            "已缴",
            "足额到账",
            "已足额到账",
        ),
        ContributionStatus.PAID,
    ),
    **dict.fromkeys(
        ("未入账", "未到账", "未缴", "未缴费", "未实缴", "待缴", "待缴费", "未足额到账"),
        ContributionStatus.UNPAID,
    ),
    **dict.fromkeys(("欠缴", "欠费", "已欠缴"), ContributionStatus.ARREARS),
    **dict.fromkeys(("已退收", "退收", "退费", "已退费", "已退款"), ContributionStatus.REFUNDED),
    **dict.fromkeys(("已补缴", "补缴"), ContributionStatus.BACKPAID),
    **dict.fromkeys(("已申报", "申报", "已申报未缴费"), ContributionStatus.DECLARED),
    **{s.value.upper(): s for s in ContributionStatus},
}
_STATUS_KEYWORDS: tuple[tuple[str, ContributionStatus], ...] = (
    ("未", ContributionStatus.UNPAID),
    ("欠", ContributionStatus.ARREARS),
    ("退", ContributionStatus.REFUNDED),
    ("补缴", ContributionStatus.BACKPAID),
    ("实缴", ContributionStatus.PAID),
    ("到账", ContributionStatus.PAID),
    ("入账", ContributionStatus.PAID),
)

_PAYMENT_EXACT: dict[str, PaymentType] = {
    **dict.fromkeys(
        ("正常应缴", "正常缴费", "汇缴", "正常", "正常应缴记录", "定额缴费", "预缴", "正常申报", "当期"),
        PaymentType.NORMAL,
    ),
    **dict.fromkeys(
        (
            "补缴",
            "补收",
            "补欠缴",
            "补收记录",
            "补费记录",
            "一次性补收记录",
            "特殊补收记录",
            "补缴记录",
            "补报",
        ),
        PaymentType.BACKPAY,
    ),
    **dict.fromkeys(("补差", "补基数", "调整", "补比例", "调整补收记录", "差额补缴"), PaymentType.ADJUST),
    **dict.fromkeys(("退收", "退费", "退收记录"), PaymentType.REFUND),
    **{p.value.upper(): p for p in PaymentType},
}
_PAYMENT_KEYWORDS: tuple[tuple[str, PaymentType], ...] = (
    ("退", PaymentType.REFUND),
    ("补差", PaymentType.ADJUST),
    ("补基数", PaymentType.ADJUST),
    ("补比例", PaymentType.ADJUST),
    ("调整", PaymentType.ADJUST),
    ("补", PaymentType.BACKPAY),
    ("正常", PaymentType.NORMAL),
    ("汇缴", PaymentType.NORMAL),
)

_STATE_EXACT: dict[str, EnrollmentState] = {
    **dict.fromkeys(
        ("参保缴费", "正常参保", "正常", "1", "正常缴费", "正常缴存", "缴存", "参保", "在保", "缴费"),
        EnrollmentState.ACTIVE,
    ),
    **dict.fromkeys(
        ("暂停缴费", "暂停缴费(中断)", "暂停参保", "封存", "中断", "中断缴费", "2", "暂停", "停保"),
        EnrollmentState.SUSPENDED,
    ),
    **dict.fromkeys(
        ("终止缴费", "终止参保", "终止", "3", "4", "销户", "注销", "退休", "死亡"), EnrollmentState.TERMINATED
    ),
    **dict.fromkeys(("未参保", "0", "未参加"), EnrollmentState.NOT_ENROLLED),
    **{s.value.upper(): s for s in EnrollmentState},
}
_STATE_KEYWORDS: tuple[tuple[str, EnrollmentState], ...] = (
    ("未参保", EnrollmentState.NOT_ENROLLED),
    ("暂停", EnrollmentState.SUSPENDED),
    ("中断", EnrollmentState.SUSPENDED),
    ("封存", EnrollmentState.SUSPENDED),
    ("终止", EnrollmentState.TERMINATED),
    ("销户", EnrollmentState.TERMINATED),
    ("参保缴费", EnrollmentState.ACTIVE),
    ("正常", EnrollmentState.ACTIVE),
)


def _lookup(
    text: object,
    extra: Mapping[str, Any] | None,
    exact: Mapping[str, Any],
    keywords: Sequence[tuple[str, Any]],
) -> Any:
    key = norm_value(text)
    if not key:
        return None
    if extra and key in extra:
        return extra[key]
    if key in exact:
        return exact[key]
    # "1-参保缴费", "101-本市职工": a code and its name
    code, sep, name = key.partition("-")
    if sep and name and name in exact:
        return exact[name]
    for keyword, value in keywords:
        if keyword in key:
            return value
    return None


def lookup_status(
    text: object, extra: Mapping[str, ContributionStatus] | None = None
) -> ContributionStatus | None:
    return _lookup(text, extra, _STATUS_EXACT, _STATUS_KEYWORDS)


def lookup_payment_type(text: object, extra: Mapping[str, PaymentType] | None = None) -> PaymentType | None:
    return _lookup(text, extra, _PAYMENT_EXACT, _PAYMENT_KEYWORDS)


def lookup_state(text: object, extra: Mapping[str, EnrollmentState] | None = None) -> EnrollmentState | None:
    return _lookup(text, extra, _STATE_EXACT, _STATE_KEYWORDS)
