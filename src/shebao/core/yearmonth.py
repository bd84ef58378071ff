"""费款所属期 (the contribution month): a year and a month, nothing else.

Pure Python so importers, calculators, the API and templates share one parser and one arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

__all__ = ["YearMonth", "YearMonthError"]

# NFKC folds full-width digits and separators (２０２５／０３, ２０２５－３) to ASCII first.
_PATTERNS = (
    re.compile(r"(\d{4})(\d{2})"),  # 202503
    re.compile(r"(\d{4})[-/.](\d{1,2})"),  # 2025-03, 2025-3, 2025/03, 2025.03
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月"),  # 2025年3月, 2025年03月
)


class YearMonthError(ValueError):
    """An unreadable or impossible month; ``message`` is user-facing Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, order=True, slots=True)
class YearMonth:
    year: int
    month: int

    def __post_init__(self) -> None:
        for name in ("year", "month"):
            value = getattr(self, name)
            if type(value) is not int:  # bool is an int too, and "2025" would order wrongly
                raise TypeError(f"YearMonth.{name} must be int, got {type(value).__name__}")
        if not 1 <= self.month <= 12:
            raise YearMonthError(f"月份“{self.year}-{self.month}”无效：月必须在 1 到 12 之间")
        if not dt.MINYEAR <= self.year <= dt.MAXYEAR:
            raise YearMonthError(f"年份“{self.year}”超出范围")

    @classmethod
    def parse(cls, text: str | int | YearMonth) -> YearMonth:
        if isinstance(text, YearMonth):
            return text
        if isinstance(text, bool) or not isinstance(text, str | int):
            raise TypeError(f"YearMonth.parse expects str or int, got {type(text).__name__}")
        raw = str(text)
        normalised = unicodedata.normalize("NFKC", raw).strip()
        for pattern in _PATTERNS:
            m = pattern.fullmatch(normalised)
            if m:
                return cls(int(m.group(1)), int(m.group(2)))
        raise YearMonthError(f"无法识别的月份“{raw}”：请使用 2025-03 或 202503")

    @classmethod
    def of(cls, day: dt.date) -> YearMonth:
        return cls(day.year, day.month)

    @classmethod
    def range(cls, start: YearMonth, end: YearMonth) -> Iterator[YearMonth]:
        """Every month from ``start`` to ``end``, both included; empty when start > end."""
        current = start
        while current <= end:
            yield current
            current = current.next()

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def on_day(self, day: int) -> dt.date:
        """The given day of this month, clamped to the month's last day (31 → 2025-02-28)."""
        if not 1 <= day <= 31:
            raise YearMonthError(f"日期“{day}”无效：每月的日必须在 1 到 31 之间")
        return self.last_day if day > self.last_day.day else dt.date(self.year, self.month, day)

    @property
    def compact(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    @property
    def _index(self) -> int:
        return self.year * 12 + self.month - 1

    @classmethod
    def _from_index(cls, index: int) -> YearMonth:
        return cls(index // 12, index % 12 + 1)

    def next(self) -> YearMonth:
        return self + 1

    def prev(self) -> YearMonth:
        return self - 1

    def __add__(self, months: int) -> YearMonth:
        if isinstance(months, bool) or not isinstance(months, int):
            return NotImplemented
        return self._from_index(self._index + months)

    __radd__ = __add__

    @overload
    def __sub__(self, other: YearMonth) -> int: ...
    @overload
    def __sub__(self, other: int) -> YearMonth: ...
    def __sub__(self, other: int | YearMonth) -> YearMonth | int:
        """``ym - 2`` is a YearMonth two months earlier; ``a - b`` is the number of months from b to a."""
        if isinstance(other, YearMonth):
            return self._index - other._index
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return self._from_index(self._index - other)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
