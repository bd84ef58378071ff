from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shebao.core.yearmonth import YearMonth, YearMonthError

MARCH = YearMonth(2025, 3)
months = st.builds(YearMonth, st.integers(1000, 9000), st.integers(1, 12))


@pytest.mark.parametrize(
    "text",
    [
        202503,
        "202503",
        "2025-03",
        "2025-3",
        "2025/03",
        "2025.03",
        "2025年3月",
        "2025年03月",
        " 2025-03 ",
        "２０２５年３月",  # full-width digits
        "２０２５－０３",
        "２０２５０３",
    ],
)
def test_parse_accepts_common_spellings(text):
    assert YearMonth.parse(text) == MARCH


@pytest.mark.parametrize(
    "text", ["", "2025", "25-03", "2025-003", "2025_03", "2025年3", "March 2025", "20253", 2025]
)
def test_parse_rejects_others_with_a_chinese_hint(text):
    with pytest.raises(YearMonthError) as e:
        YearMonth.parse(text)
    assert e.value.message == f"无法识别的月份“{text}”：请使用 2025-03 或 202503"


@pytest.mark.parametrize("text", ["2025-13", "202500", "2025年0月"])
def test_month_out_of_range(text):
    with pytest.raises(YearMonthError, match="月必须在 1 到 12 之间"):
        YearMonth.parse(text)


def test_parse_rejects_non_text():
    with pytest.raises(TypeError):
        YearMonth.parse(2025.03)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        YearMonth(2025, True)


def test_formatting_and_days():
    assert str(MARCH) == "2025-03"
    assert MARCH.compact == "202503"
    assert MARCH.first_day == dt.date(2025, 3, 1)
    assert MARCH.last_day == dt.date(2025, 3, 31)
    assert YearMonth(2024, 2).last_day == dt.date(2024, 2, 29)
    assert YearMonth(2025, 2).on_day(31) == dt.date(2025, 2, 28)
    assert MARCH.on_day(15) == dt.date(2025, 3, 15)
    assert YearMonth.of(dt.date(2025, 3, 17)) == MARCH


def test_arithmetic_crosses_years():
    assert YearMonth(2024, 12).next() == YearMonth(2025, 1)
    assert YearMonth(2025, 1).prev() == YearMonth(2024, 12)
    assert MARCH + 10 == YearMonth(2026, 1)
    assert MARCH - 3 == YearMonth(2024, 12)
    assert YearMonth(2026, 1) - MARCH == 10
    assert MARCH - YearMonth(2026, 1) == -10


def test_ordered_hashable_frozen():
    assert YearMonth(2024, 12) < MARCH < YearMonth(2025, 4)
    assert len({MARCH, YearMonth.parse("202503")}) == 1
    with pytest.raises(AttributeError):
        MARCH.month = 4  # type: ignore[misc]


def test_range_is_inclusive():
    assert list(YearMonth.range(YearMonth(2024, 11), YearMonth(2025, 2))) == [
        YearMonth(2024, 11),
        YearMonth(2024, 12),
        YearMonth(2025, 1),
        YearMonth(2025, 2),
    ]
    assert list(YearMonth.range(MARCH, MARCH)) == [MARCH]
    assert list(YearMonth.range(MARCH, MARCH - 1)) == []


@given(months)
def test_str_and_compact_round_trip(ym):
    assert YearMonth.parse(str(ym)) == ym
    assert YearMonth.parse(ym.compact) == ym
    assert YearMonth.parse(f"{ym.year}年{ym.month}月") == ym


@given(months, st.integers(-2000, 2000))
def test_add_then_subtract(ym, n):
    assert (ym + n) - n == ym
    assert (ym + n) - ym == n
    assert (ym + n > ym) == (n > 0)


@given(months, st.integers(0, 60))
def test_range_length_matches_difference(ym, n):
    span = list(YearMonth.range(ym, ym + n))
    assert len(span) == n + 1
    assert all(b - a == 1 for a, b in zip(span, span[1:], strict=False))


@given(st.dates(dt.date(1000, 1, 1), dt.date(9000, 12, 31)))
def test_of_contains_the_date(day):
    ym = YearMonth.of(day)
    assert ym.first_day <= day <= ym.last_day
