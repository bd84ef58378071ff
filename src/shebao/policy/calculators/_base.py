"""What every calculator shares: the error type, the result base with ``to_dict()``, number checks."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from shebao.core.money import fmt, money
from shebao.core.yearmonth import YearMonth
from shebao.policy.terms import Figure

# The law articles a calculator cites (ids follow the law library: prefix + "-" + article number).
# Every id here has its verbatim text in law_articles.md; a test keeps it that way.
ARTICLES: dict[str, str] = {
    "SIL-12": "社会保险法第十二条",
    "SIL-23": "社会保险法第二十三条",
    "SIL-33": "社会保险法第三十三条",
    "SIL-35": "社会保险法第三十五条",
    "SIL-44": "社会保险法第四十四条",
    "SIL-50": "社会保险法第五十条",
    "SIL-53": "社会保险法第五十三条",
    "SIL-58": "社会保险法第五十八条",
    "SIL-63": "社会保险法第六十三条",
    "SIL-84": "社会保险法第八十四条",
    "SIL-86": "社会保险法第八十六条",
    "SIL-IMPL-20": "实施《社会保险法》若干规定第二十条",
    "LCL-47": "劳动合同法第四十七条",
    "LCL-50": "劳动合同法第五十条",
    "HFR-15": "住房公积金管理条例第十五条",
    "HFR-18": "住房公积金管理条例第十八条",
    "HFR-38": "住房公积金管理条例第三十八条",
    "SH-MSR-15": "上海市医疗保障条例第十五条",
}

# Field metadata telling to_dict() how to print a Decimal (or a Figure's value). Default: money.
RATE = {"fmt": "rate"}  # a fraction, printed as written: "0.16", "0.0005"
NUMBER = {"fmt": "number"}  # a plain quantity: months "6.5"


class CalcError(ValueError):
    """Input a calculator cannot answer honestly; ``message`` is user-facing Chinese, ``field`` the input at fault."""

    def __init__(self, message: str, *, field: str | None = None, citations: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.citations = citations


def _plain(d: Decimal) -> str:
    # normalize() alone prints 10 as "1E+1".
    return format(d.normalize(), "f") if d else "0"


def _serialise(value: Any, kind: str) -> Any:
    if isinstance(value, enum.Enum):  # before str: a StrEnum is a str
        return value.value
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Figure):
        v = value.value
        if isinstance(v, int) and not isinstance(v, bool):
            v = Decimal(v)  # a base of 6821 is still money: "6821.00"
        return {
            "value": _serialise(v, kind),
            "confidence": value.confidence.value,
            "confidence_label": value.confidence.label,
            "source": value.source,
            "verified": value.verified,
        }
    if isinstance(value, Serialisable):
        return value.to_dict()
    if isinstance(value, Decimal):
        return fmt(value) if kind == "money" else _plain(value)
    if isinstance(value, YearMonth):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_serialise(v, kind) for v in value]
    raise TypeError(f"cannot serialise {type(value).__name__}")


@dataclass(frozen=True)
class Serialisable:
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: money "50.00", rates "0.16", dates ISO, enums by value, None stays None."""
        out = {
            f.name: _serialise(getattr(self, f.name), f.metadata.get("fmt", "money")) for f in fields(self)
        }
        out.update(self._extra())
        return out

    def _extra(self) -> dict[str, Any]:
        return {}


def positive(value: Decimal | int | str, *, field: str, message: str) -> Decimal:
    """A caller's amount: parsed without floats and > 0, else CalcError naming the field."""
    try:
        d = money(value)
    except ValueError as e:
        raise CalcError(str(e), field=field) from None
    if d <= 0:
        raise CalcError(message, field=field)
    return d


def plain_date(value: dt.date, name: str) -> dt.date:
    # A datetime is a date subclass; its time and zone would silently shift a day count.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")
    return value


def figure_decimal(figure: Figure) -> Decimal | None:
    return None if figure.value is None else money(figure.value)


def pct(rate: Decimal) -> str:
    """0.16 → "16%" for messages."""
    return f"{_plain(rate * 100)}%"
