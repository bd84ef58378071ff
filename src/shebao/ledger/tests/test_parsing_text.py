"""Cell converters and vocabularies of the import profiles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shebao.core.yearmonth import YearMonth
from shebao.ledger.parsing.layout import _layout
from shebao.ledger.parsing.source import Sheet
from shebao.ledger.parsing.text import norm_header, to_date, to_decimal, to_period, to_rate
from shebao.ledger.parsing.vocab import (
    EMPLOYEE,
    EMPLOYER,
    IGNORE,
    classify_insurance,
    classify_role,
    classify_side,
    lookup_payment_type,
    lookup_state,
    lookup_status,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("失业保险费", "失业保险"),
        ("应缴费额(元)", "应缴费额"),
        ("应缴费额（元）", "应缴费额"),
        ("缴存基数（元）", "缴存基数"),
        (" 基本养老保险（单位） ", "基本养老保险(单位)"),
        ("基本医疗保险（含生育）(单位缴纳)", "基本医疗保险(含生育)(单位缴纳)"),
        ("*姓 名", "姓名"),
        ("费款所属期：", "费款所属期"),
        ("应补(退)费额(元)", "应补(退)费额"),
        ("【合计】", "(合计)"),
        (None, ""),
        (202602.0, "202602"),
    ],
)
def test_header_normalisation(raw: object, expected: str) -> None:
    assert norm_header(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("１２３", Decimal("123")),
        (" 12 ", Decimal("12")),
        ("——", None),
        ("-", None),
        ("", None),
        (None, None),
        (1920.0, Decimal("1920")),
        (0.1 + 0.2, Decimal("0.3")),
        (7, Decimal("7")),
        ("16%", Decimal("0.16")),
        ("¥1,000元", Decimal("1000")),
        ("-12.5", Decimal("-12.5")),
    ],
)
def test_numbers(raw: object, expected: Decimal | None) -> None:
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["五千", "NaN", "Infinity", "1.2.3", float("nan")])
def test_bad_numbers(raw: object) -> None:
    with pytest.raises(ValueError, match="无法识别的数字"):
        to_decimal(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("16%", "0.16"),
        ("16.0000%", "0.16"),
        ("0.16", "0.16"),
        ("0.05", "0.05"),
        ("100.0000%", "1"),
        ("8", "0.08"),
    ],
)
def test_rates(raw: str, expected: str) -> None:
    assert to_rate(raw) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "start", "end"),
    [
        ("2026-02", "2026-02", None),
        ("2026-02-01", "2026-02", None),
        ("2026-02-28", "2026-02", None),
        (202602, "2026-02", None),
        (202602.0, "2026-02", None),
        ("2026.03", "2026-03", None),
        ("2026年2月", "2026-02", None),
        ("2026 年 2 月", "2026-02", None),
        ("20260201", "2026-02", None),
        ("202602-202602", "2026-02", None),
        ("202601-202603", "2026-01", "2026-03"),
        ("2026-02至2026-04", "2026-02", "2026-04"),
        ("２０２６－０２", "2026-02", None),
        (dt.date(2026, 2, 1), "2026-02", None),
        (dt.datetime(2026, 2, 1, 0, 0), "2026-02", None),
        ("——", None, None),
    ],
)
def test_periods(raw: object, start: str | None, end: str | None) -> None:
    got = to_period(raw)
    if start is None:
        assert got is None
    else:
        assert got == (YearMonth.parse(start), YearMonth.parse(end) if end else None)


@pytest.mark.parametrize("raw", ["2026-13", "二月", "2026-02-45", "1", True])
def test_bad_periods(raw: object) -> None:
    with pytest.raises(ValueError):
        to_period(raw)


@given(st.integers(min_value=1990, max_value=2100), st.integers(min_value=1, max_value=12))
def test_period_spellings_agree(year: int, month: int) -> None:
    ym = YearMonth(year, month)
    for spelling in (f"{year}-{month:02d}", f"{year}{month:02d}", f"{year}.{month}", f"{year}年{month}月",
                     f"{year}-{month:02d}-01", year * 100 + month, f"{year}{month:02d}-{year}{month:02d}"):  # fmt: skip
        assert to_period(spelling) == (ym, None), spelling


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_thousand_separators_round_trip(value: Decimal) -> None:
    assert to_decimal(f"{value:,}") == value


def test_dates() -> None:
    assert to_date("2020-03-01") == dt.date(2020, 3, 1)
    assert to_date("20251231") == dt.date(2025, 12, 31)
    assert to_date("202001") == dt.date(2020, 1, 1)
    assert to_date("2026年2月3日") == dt.date(2026, 2, 3)
    assert to_date(dt.datetime(2026, 2, 3, 8, 0)) == dt.date(2026, 2, 3)
    assert to_date("——") is None
    with pytest.raises(ValueError, match="无法识别的日期"):
        to_date("2026-02-30")


@pytest.mark.parametrize(
    ("text", "insurance"),
    [
        ("企业职工基本养老保险(费)", "pension"),
        ("职工基本养老保险(单位缴纳)", "pension"),
        ("机关事业单位养老保险", "pension"),
        ("职工基本医疗保险(含生育)", "medical"),
        ("基本医疗保险（含生育）", "medical"),
        ("职工基本医疗保险费（生育）", "maternity"),
        ("职工大额医疗互助保险", "medical_supplement"),
        ("地方补充医疗（单位）", "medical_supplement"),
        ("失业保险费", "unemployment"),
        ("工伤保险", "work_injury"),
        ("生育保险", "maternity"),
        ("住房公积金", "housing_fund"),
        ("310", "medical"),
        ("医疗附加（固定金额）", "medical_supplement"),
        ("职业年金", IGNORE),
        ("公务员医疗补助", IGNORE),
        ("家属统筹医疗（个人）", IGNORE),
        ("地方补充养老（单位）", IGNORE),
        ("离休人员医疗保障", IGNORE),
        ("补充公积金", IGNORE),
        ("意外保险", None),
    ],
)
def test_insurance_names(text: str, insurance: str | None) -> None:
    assert classify_insurance(text)[0] == insurance


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("职工基本养老保险(单位缴纳)", EMPLOYER),
        ("失业保险（个人缴纳）", EMPLOYEE),
        ("工伤保险（单位缴纳部分）", EMPLOYER),
        ("城镇企业职工基本养老保险", None),
        ("机关事业单位养老保险", None),
        ("企业汇缴", EMPLOYER),
        ("单位及个人", None),
        ("养老保险", None),
    ],
)
def test_sides(text: str, side: str | None) -> None:
    assert classify_side(text) == side


@pytest.mark.parametrize(
    ("leaf", "parent", "role"),
    [
        ("缴费基数", "基本养老保险(单位缴纳)", ("base", EMPLOYER)),
        ("应缴金额", "基本养老保险(个人缴纳)", ("due", EMPLOYEE)),
        ("单位应缴", "城镇企业职工基本养老保险", ("due", EMPLOYER)),
        ("个人应缴", "机关事业单位养老保险", ("due", EMPLOYEE)),
        ("养老保险应缴费额", "单位缴纳", ("due", EMPLOYER)),
        ("单位部分", "基本养老应缴费额", ("due", EMPLOYER)),
        ("滞纳金", "失业保险", ("late_fee", None)),
        ("企业比例", "养老", ("rate", EMPLOYER)),
        ("养老保险单位实缴", "", ("paid", EMPLOYER)),
        ("本金合计", "失业保险", None),
        ("减免金额", "失业保险", None),
        ("缴费工资", "失业保险", None),
        ("公积金起做时间", "", None),
    ],
)
def test_group_roles(leaf: str, parent: str, role: tuple[str, str | None] | None) -> None:
    assert classify_role(norm_header(leaf), norm_header(parent)) == role


def test_value_dictionaries() -> None:
    assert [lookup_status(t) for t in ("已实缴", "正常", "已到账", "已入账", "未入账", "未到账", "欠缴", "已退收", "退费")] == [
        "paid", "paid", "paid", "paid", "unpaid", "unpaid", "arrears", "refunded", "refunded",
    ]  # fmt: skip
    assert [lookup_payment_type(t) for t in ("正常应缴", "正常缴费", "汇缴", "补缴", "补收", "补欠缴", "补差", "补基数",
                                            "调整", "退收", "补收记录")] == [
        "normal", "normal", "normal", "backpay", "backpay", "backpay", "adjust", "adjust", "adjust", "refund",
        "backpay",
    ]  # fmt: skip
    assert [lookup_state(t) for t in ("参保缴费", "正常参保", "正常", "1", "暂停缴费", "暂停缴费（中断）", "封存", "2",
                                     "终止缴费", "终止参保", "3", "4", "0", "1-参保缴费")] == [
        "active", "active", "active", "active", "suspended", "suspended", "suspended", "suspended",
        "terminated", "terminated", "terminated", "terminated", "not_enrolled", "active",
    ]  # fmt: skip
    assert lookup_status("已核销") is None
    assert lookup_status("X", {"X": "paid"}) == "paid"  # type: ignore[dict-item]


def test_two_row_header_with_merged_cells() -> None:
    head = [
        (1, ["职工明细", None, "单位缴纳", None, None, "个人缴纳", None, "合计"]),
        (2, ["姓名", "证件号码", "费率", "养老保险应缴费额", "费率", "费率", "养老保险应缴费额", None]),
    ]
    sheet = Sheet("s", _rows=head)
    layout = _layout(sheet, head, 0, 2)
    assert layout.parents == [
        "职工明细",
        "职工明细",
        "单位缴纳",
        "单位缴纳",
        "单位缴纳",
        "个人缴纳",
        "个人缴纳",
        "",
    ]
    assert layout.leaves[-1] == "合计"
    assert layout.labels[2:6] == [
        "单位缴纳/费率",
        "单位缴纳/养老保险应缴费额",
        "单位缴纳/费率(2)",
        "个人缴纳/费率",
    ]
    assert layout.last_header_row == 2
