"""Money as Decimal: parse, round half-up to the fen, format with two decimals.

Floats are refused everywhere: 0.1 + 0.2 is not 0.3, and a contribution off by a fen is a finding.
"""

from __future__ import annotations

import unicodedata
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # core must not import policy at runtime; Rounding is a StrEnum, so compare values
    from shebao.policy.terms import Rounding

__all__ = ["FEN", "JIAO", "YUAN", "ZERO", "fmt", "money", "q2", "round_by"]

FEN = Decimal("0.01")
JIAO = Decimal("0.1")
YUAN = Decimal("1")
ZERO = Decimal("0.00")


def money(value: str | int | Decimal) -> Decimal:
    """An exact Decimal from str/int/Decimal ("1,234.50", "１２３" and " 12 " are fine); not rounded."""
    if isinstance(value, float):
        raise TypeError("金额不能使用浮点数（float），请传入字符串或 Decimal")
    if isinstance(value, bool):
        raise TypeError("金额不能是布尔值")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"无法识别的金额“{value}”") from None
    else:
        raise TypeError(f"金额必须是字符串、整数或 Decimal，而不是 {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"无法识别的金额“{value}”")
    return result


def _tidy(d: Decimal) -> Decimal:
    # -0.00 reads as a negative amount in a report; it is zero.
    return d.copy_abs() if d.is_zero() else d


def q2(d: Decimal | int | str) -> Decimal:
    """Half-up to the fen (0.005 → 0.01), the rounding used by every Chinese contribution notice."""
    return _tidy(money(d).quantize(FEN, rounding=ROUND_HALF_UP))


def fmt(d: Decimal | int | str) -> str:
    """Two decimals, plain notation: "50.00", "1091.36"."""
    return format(q2(d), "f")


def round_by(value: Decimal | int | str, rounding: Rounding | str) -> Decimal:
    """Round a computed amount the way the city's agency does; always returns 2 decimal places.

    The "up" modes take the ceiling of the exact value (so 0.001 left over still carries), which is
    how 见角进元 / 见分进角 are applied to an unrounded base × rate product.
    """
    try:
        step, mode = _ROUNDING[str(rounding)]
    except KeyError:
        raise ValueError(f"未知的舍入方式“{rounding}”") from None
    return _tidy(money(value).quantize(step, rounding=mode).quantize(FEN))


# Keyed by terms.Rounding values.
_ROUNDING = {
    "fen": (FEN, ROUND_HALF_UP),
    "yuan": (YUAN, ROUND_HALF_UP),
    "up_yuan": (YUAN, ROUND_CEILING),
    "up_jiao": (JIAO, ROUND_CEILING),
}
