"""Cell values → what they mean: header text, numbers, rates, months and dates.

Government exports spell the same thing many ways (export_formats.md §0.4, §0.8, §0.9):
``（单位）`` and ``(单位缴纳)``, ``失业保险费`` and ``失业保险``, ``应缴费额(元)``; ``16%``,
``16.0000%``, ``0.16`` and ``"0.05"``; ``2026-02``, ``2026-02-01``, ``202602``, ``2026.03``,
``2026年2月`` and ``202602-202602``; ``——`` for "nothing". These helpers fold them to one form.

The converters run once per cell of files with millions of rows, so text values are memoised
(a period column repeats the same few strings; amounts repeat too) and the common spellings take
a fast path before any regular expression.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.imports.readers import _is_blank, _text

__all__ = [
    "cell_text",
    "is_blank",
    "is_dash",
    "norm_header",
    "norm_value",
    "to_date",
    "to_decimal",
    "to_period",
    "to_rate",
]

_MEMO_MAX = 200_000
_MISSING = object()
_WS = re.compile(r"\s+")
# NFKC already folds full-width （）［］： to ASCII; these are the brackets it leaves alone.
_BRACKETS = str.maketrans(
    {"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")", "〈": "(", "〉": ")"}
)
_DASH_CHARS = " \t—–-−－‐‑_/\\一"


def cell_text(value: object) -> str:
    """The text of a cell as a person reads it: numbers without a spurious ".0", dates ISO."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    return _text(value)


def is_blank(value: object) -> bool:
    return _is_blank(value)


def is_dash(text: str) -> bool:
    """``——``, ``-``, ``/``: a filler that means "nothing here"."""
    return bool(text) and not text.strip(_DASH_CHARS)


def norm_header(value: object) -> str:
    """Header text for matching: NFKC, one bracket style, no whitespace, no leading ``*``, no
    trailing colon, ``(元)`` or ``费`` (so 失业保险费 = 失业保险, 应缴费额(元) = 应缴费额)."""
    if value is None:
        return ""
    text = _WS.sub("", unicodedata.normalize("NFKC", cell_text(value))).translate(_BRACKETS)
    text = text.lstrip("*").rstrip(":")
    while True:
        stripped = text.removesuffix("(元)").removesuffix("费")
        if stripped == text or not stripped:
            return text
        text = stripped


def norm_value(value: object) -> str:
    """A cell value for dictionary lookups: NFKC, one bracket style, no whitespace, upper case."""
    if value is None:
        return ""
    return _WS.sub("", unicodedata.normalize("NFKC", cell_text(value))).translate(_BRACKETS).upper()


# --- numbers -------------------------------------------------------------------------------------

_NUM_MEMO: dict[str, Decimal | None] = {}


def to_decimal(value: object) -> Decimal | None:
    """An amount: None for blank and ``——``; thousand separators, ``元`` and ``%`` understood
    (``16%`` → 0.16). Raises ValueError (Chinese message) for text that is not a number."""
    kind = type(value)
    if kind is str:
        found = _NUM_MEMO.get(value, _MISSING)  # type: ignore[arg-type]
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        result = _number_text(value)  # type: ignore[arg-type]
        if len(_NUM_MEMO) >= _MEMO_MAX:
            _NUM_MEMO.clear()
        _NUM_MEMO[value] = result  # type: ignore[index]
        return result
    if value is None:
        return None
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(f"无法识别的数字“{value}”")
        if value.is_integer():  # type: ignore[attr-defined]
            return Decimal(int(value))  # type: ignore[call-overload]
        # Excel stores binary floats: 0.1 + 0.2 comes back as 0.30000000000000004.
        return Decimal(repr(round(value, 6)))  # type: ignore[call-overload]
    if kind is int:
        return Decimal(value)  # type: ignore[arg-type]
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    raise ValueError(f"无法识别的数字“{cell_text(value)}”")


def _number_text(text: str) -> Decimal | None:
    try:
        result = Decimal(text)
    except InvalidOperation:
        pass
    else:
        if result.is_finite():
            return result
        raise ValueError(f"无法识别的数字“{text}”")
    clean = unicodedata.normalize("NFKC", text).strip()
    if not clean or is_dash(clean):
        return None
    clean = _WS.sub("", clean).replace(",", "").replace("元", "").replace("¥", "").replace("$", "")
    percent = clean.endswith("%")
    if percent:
        clean = clean[:-1]
    try:
        result = Decimal(clean)
    except InvalidOperation:
        raise ValueError(f"无法识别的数字“{text.strip()}”") from None
    if not result.is_finite():
        raise ValueError(f"无法识别的数字“{text.strip()}”")
    return result.scaleb(-2) if percent else result


def to_rate(value: object) -> Decimal | None:
    """A rate as a fraction: ``16%``, ``16.0000%``, ``0.16`` and ``"0.05"`` all work; a bare
    number above 1 (``16``) is read as a percentage."""
    result = to_decimal(value)
    if result is not None and result > 1 and not (type(value) is str and value.strip().endswith("%")):
        result = result.scaleb(-2)
    return result


# --- months and dates ----------------------------------------------------------------------------

Period = tuple[YearMonth, YearMonth | None]

_PERIOD_MEMO: dict[object, Period | None] = {}
_YMD = re.compile(r"(\d{4})(\d{2})(\d{2})?")
_DASHED = re.compile(r"(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_CHINESE = re.compile(r"(\d{4})年(\d{1,2})月(?:(\d{1,2})日?)?")
_SIX_SIX = re.compile(r"(\d{6})-(\d{6})")
_RANGE_SEPARATORS = ("至", "~", "—", "--", "到")


def to_period(value: object) -> Period | None:
    """(first month, last month or None) of a 费款所属期 cell; None when blank.

    ``202602``, ``2026-02``, ``2026-02-01``, ``2026.03``, ``2026年2月``, ``20260201``, a date
    cell, and ranges ``202602-202602`` / ``2026-02至2026-03``. Raises ValueError (Chinese)."""
    if value is None or value == "":
        return None
    try:
        found = _PERIOD_MEMO.get(value, _MISSING)
    except TypeError:  # unhashable: not a cell value
        raise ValueError(f"无法识别的月份“{value}”") from None
    if found is not _MISSING:
        return found  # type: ignore[return-value]
    result = _period(value)
    if len(_PERIOD_MEMO) >= _MEMO_MAX:
        _PERIOD_MEMO.clear()
    _PERIOD_MEMO[value] = result
    return result


def _period(value: object) -> Period | None:
    if isinstance(value, YearMonth):
        return value, None
    if isinstance(value, dt.date):  # datetime too
        return YearMonth.of(value), None
    if isinstance(value, bool):
        raise ValueError(f"无法识别的月份“{value}”")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"无法识别的月份“{value}”")
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text or is_dash(text):
        return None
    text = _WS.sub("", text)
    if m := _SIX_SIX.fullmatch(text):
        start, end = _month(m.group(1), value), _month(m.group(2), value)
        return start, (end if end != start else None)
    for sep in _RANGE_SEPARATORS:
        if sep in text:
            first, _, last = text.partition(sep)
            start, end = _month(first, value), _month(last, value)
            return start, (end if end != start else None)
    return _month(text, value), None


def _month(text: str, original: object) -> YearMonth:
    m = _YMD.fullmatch(text) or _DASHED.fullmatch(text) or _CHINESE.fullmatch(text)
    if m is None:
        raise ValueError(f"无法识别的月份“{original}”：请使用 2026-02 或 202602")
    try:
        if m.group(3) is not None and not 1 <= int(m.group(3)) <= 31:
            raise ValueError(f"无法识别的月份“{original}”：日期无效")
        return YearMonth(int(m.group(1)), int(m.group(2)))
    except YearMonthError as exc:
        raise ValueError(exc.message) from None


def to_date(value: object) -> dt.date | None:
    """本次参保日期 and similar: a date cell, ``2026-02-01``, ``20260201``, ``2026年2月1日``;
    a bare month (``202602``) means its first day. Raises ValueError (Chinese)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _WS.sub("", unicodedata.normalize("NFKC", str(value)))
    if not text or is_dash(text):
        return None
    m = _YMD.fullmatch(text) or _DASHED.fullmatch(text) or _CHINESE.fullmatch(text)
    if m is None:
        raise ValueError(f"无法识别的日期“{value}”：请使用 2026-02-01")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    except ValueError:
        raise ValueError(f"无法识别的日期“{value}”") from None
