from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shebao.core.money import fmt, money, q2, round_by
from shebao.policy.terms import Rounding

amounts = st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.5", D("1234.5")),
        (" 12 ", D("12")),
        ("1,234.50", D("1234.50")),
        ("１２３.４", D("123.4")),
        (7, D(7)),
    ],
)
def test_money_parses(value, expected):
    assert money(value) == expected


def test_money_keeps_decimal_exact():
    assert money(D("0.005")) == D("0.005")


@pytest.mark.parametrize("value", [0.1, 1.0, True])
def test_money_rejects_float_and_bool(value):
    with pytest.raises(TypeError):
        money(value)


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", "1.2.3"])
def test_money_rejects_garbage(value):
    with pytest.raises(ValueError, match="无法识别的金额"):
        money(value)


def test_q2_is_half_up_not_bankers():
    assert q2(D("34.105")) == D("34.11")  # half-even would give 34.10
    assert q2(D("0.125")) == D("0.13")
    assert q2(D("668.458")) == D("668.46")
    assert q2(D("-0.001")) == D("0.00") and not q2(D("-0.001")).is_signed()


def test_fmt():
    assert fmt(D("50")) == "50.00"
    assert fmt(D("1E+3")) == "1000.00"
    assert fmt(D("1091.36")) == "1091.36"
    assert fmt(5) == "5.00"


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("668.458", Rounding.FEN, "668.46"),
        ("34.105", Rounding.FEN, "34.11"),
        ("668.458", Rounding.YUAN, "668.00"),
        ("668.5", Rounding.YUAN, "669.00"),
        ("668.01", Rounding.UP_YUAN, "669.00"),
        ("668.00", Rounding.UP_YUAN, "668.00"),
        ("668.001", Rounding.UP_JIAO, "668.10"),
        ("668.40", Rounding.UP_JIAO, "668.40"),
        ("668.458", "up_jiao", "668.50"),
    ],
)
def test_round_by(value, mode, expected):
    result = round_by(D(value), mode)
    assert result == D(expected)
    assert str(result) == expected  # always two decimal places


def test_round_by_rejects_unknown_mode():
    with pytest.raises(ValueError, match="未知的舍入方式"):
        round_by(D(1), "banker")


@given(amounts, st.sampled_from(list(Rounding)))
def test_round_by_stays_within_one_step(value, mode):
    result = round_by(value, mode)
    step = {
        Rounding.FEN: D("0.005"),
        Rounding.YUAN: D("0.5"),
        Rounding.UP_YUAN: D(1),
        Rounding.UP_JIAO: D("0.1"),
    }
    assert abs(result - value) <= step[mode]
    assert result.as_tuple().exponent == -2
    if mode in (Rounding.UP_YUAN, Rounding.UP_JIAO):
        assert result >= value


@given(amounts, amounts, st.sampled_from(list(Rounding)))
def test_round_by_is_monotone(a, b, mode):
    lo, hi = sorted((a, b))
    assert round_by(lo, mode) <= round_by(hi, mode)
