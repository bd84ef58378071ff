"""Which months of an employment spell must be covered: pure functions over plain values.

No Django, no database: ``expected_months`` is unit-tested on dates and a cut-off day alone.
Months are handled internally as a month index (``year * 12 + month - 1``) and in the ledger's
``yyyymm`` integers (202503); :class:`~shebao.core.yearmonth.YearMonth` is the public face.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable

from shebao.core.yearmonth import YearMonth

__all__ = [
    "MonthState",
    "SpellMonths",
    "expected_months",
    "mi_of",
    "month_runs",
    "spell_months",
    "yyyymm_of",
]


class MonthState(enum.StrEnum):
    EXPECTED = "expected"  # must be covered by our unit
    OPTIONAL = "optional"  # 可缴可不缴: covered or not, both are fine
    NOT_EXPECTED = "not_expected"  # must not be covered by our unit

    @property
    def label(self) -> str:
        return {"expected": "应缴", "optional": "可缴可不缴", "not_expected": "不应缴"}[self.value]


def mi_of(yyyymm: int) -> int:
    """202503 → month index."""
    return (yyyymm // 100) * 12 + yyyymm % 100 - 1


def yyyymm_of(mi: int) -> int:
    """Month index → 202503."""
    return (mi // 12) * 100 + mi % 12 + 1


def _mi(day: dt.date | YearMonth) -> int:
    return day.year * 12 + day.month - 1


def month_runs(months: Iterable[int]) -> list[list[int]]:
    """yyyymm months → runs of consecutive months, each sorted: [202501, 202502, 202504] →
    [[202501, 202502], [202504]]."""
    runs: list[list[int]] = []
    previous = None
    for m in sorted(months):
        if previous is not None and m == (
            previous + 1 if previous % 100 < 12 else (previous // 100 + 1) * 100 + 1
        ):
            runs[-1].append(m)
        else:
            runs.append([m])
        previous = m
    return runs


class SpellMonths:
    """One spell's months as month indexes: ``first``..``last`` are covered-or-optional months
    (``first > last`` when none), ``optional`` the boundary months that are 可缴可不缴."""

    __slots__ = ("first", "last", "optional")

    def __init__(self, first: int, last: int, optional: frozenset[int]) -> None:
        self.first, self.last, self.optional = first, last, optional

    def state(self, mi: int) -> MonthState:
        if mi < self.first or mi > self.last:
            return MonthState.NOT_EXPECTED
        return MonthState.OPTIONAL if mi in self.optional else MonthState.EXPECTED


def spell_months(
    hire: dt.date,
    leave: dt.date | None,
    *,
    hire_cutoff: int | None,
    leave_cutoff: int | None,
    horizon_mi: int,
    exempt: bool = False,
) -> SpellMonths:
    """The rule of the module docstring for one spell; an open spell runs to ``horizon_mi``.

    Hire day h in month M: h ≤ D → M expected; h > D or D unknown → M optional, M+1 expected.
    Leave day l in month M: l > D → M expected; l ≤ D or D unknown → M optional; from M+1 not
    expected. A month both rules speak about takes the weaker state. ``exempt`` (interns,
    retiree re-hires) turns every expected month optional.
    """
    hire_mi = _mi(hire)
    hire_state_expected = hire_cutoff is not None and hire.day <= hire_cutoff
    if leave is None:
        last = horizon_mi
        leave_mi = None
        leave_state_expected = True
    else:
        leave_mi = _mi(leave)
        last = leave_mi
        leave_state_expected = leave_cutoff is not None and leave.day > leave_cutoff
    optional = set()
    if not hire_state_expected:
        optional.add(hire_mi)
    if leave_mi is not None and not leave_state_expected:
        optional.add(leave_mi)
    if exempt:
        optional.update(range(hire_mi, last + 1))
    return SpellMonths(hire_mi, last, frozenset(optional))


def expected_months(
    *,
    hire_date: dt.date,
    leave_date: dt.date | None = None,
    cutoff_day: int | None | Callable[[YearMonth], int | None] = None,
    window_from: YearMonth | None = None,
    window_to: YearMonth | None = None,
    today: dt.date | None = None,
    exempt: bool = False,
) -> dict[YearMonth, MonthState]:
    """Month → expected / optional / not_expected for one spell, over the judged window.

    ``cutoff_day`` is the 增减员截止日 D (an int, ``None`` when unknown, or a function of the
    month for a figure that changes between policy periods). The window defaults to the hire
    month through the month after leaving (or the current month of ``today`` for an open spell);
    months outside ``window_from``..``window_to`` are not judged and are left out. Months after
    the current month are never judged either.
    """
    if leave_date is not None and leave_date < hire_date:
        raise ValueError("离职日期早于入职日期")
    today = today or dt.date.today()

    def day_for(month: dt.date) -> int | None:
        value = cutoff_day(YearMonth.of(month)) if callable(cutoff_day) else cutoff_day
        if value is not None and not 1 <= int(value) <= 31:
            raise ValueError(f"增减员截止日“{value}”无效：应在 1 到 31 之间")
        return None if value is None else int(value)

    current_mi = _mi(today)
    plan = spell_months(
        hire_date,
        leave_date,
        hire_cutoff=day_for(hire_date),
        leave_cutoff=day_for(leave_date) if leave_date else None,
        horizon_mi=current_mi,
        exempt=exempt,
    )
    first = _mi(window_from) if window_from else plan.first
    last = _mi(window_to) if window_to else (plan.last + 1 if leave_date else current_mi)
    last = min(last, current_mi)
    return {YearMonth(m // 12, m % 12 + 1): plan.state(m) for m in range(first, last + 1)}
