"""expected_months: the 增减员截止日 rules on plain dates, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from shebao.core.yearmonth import YearMonth
from shebao.ledger.reconcile import MonthState, expected_months
from shebao.ledger.reconciliation.months import month_runs

EXP, OPT, NOT = MonthState.EXPECTED, MonthState.OPTIONAL, MonthState.NOT_EXPECTED
TODAY = dt.date(2025, 12, 31)


def ym(text: str) -> YearMonth:
    return YearMonth.parse(text)


def states(**kw) -> dict[str, MonthState]:
    kw.setdefault("today", TODAY)
    return {f"{m.year}-{m.month:02d}": s for m, s in expected_months(**kw).items()}


@pytest.mark.parametrize(
    ("day", "first_state"),
    [(14, EXP), (15, EXP), (16, OPT)],
    ids=["hire-before-D", "hire-on-D", "hire-D+1"],
)
def test_hire_month_against_cutoff(day, first_state):
    got = states(hire_date=dt.date(2025, 3, day), cutoff_day=15, window_to=ym("2025-05"))
    assert got == {"2025-03": first_state, "2025-04": EXP, "2025-05": EXP}


def test_hire_with_unknown_cutoff_is_optional_then_expected():
    got = states(hire_date=dt.date(2025, 3, 1), cutoff_day=None, window_to=ym("2025-04"))
    assert got == {"2025-03": OPT, "2025-04": EXP}


@pytest.mark.parametrize(
    ("day", "leave_state"),
    [(14, OPT), (15, OPT), (16, EXP)],
    ids=["leave-before-D", "leave-on-D", "leave-D+1"],
)
def test_leave_month_against_cutoff(day, leave_state):
    got = states(hire_date=dt.date(2025, 1, 1), leave_date=dt.date(2025, 3, day), cutoff_day=15)
    assert got == {"2025-01": EXP, "2025-02": EXP, "2025-03": leave_state, "2025-04": NOT}


def test_leave_with_unknown_cutoff_is_optional_then_not_expected():
    got = states(hire_date=dt.date(2025, 1, 20), leave_date=dt.date(2025, 3, 31), cutoff_day=None)
    assert got == {"2025-01": OPT, "2025-02": EXP, "2025-03": OPT, "2025-04": NOT}


def test_hire_and_leave_in_one_month_take_the_weaker_state():
    # hired on the 3rd (≤ D: expected) but left on the 10th (≤ D: optional) → optional
    got = states(hire_date=dt.date(2025, 3, 3), leave_date=dt.date(2025, 3, 10), cutoff_day=15)
    assert got == {"2025-03": OPT, "2025-04": NOT}
    # hired on the 3rd, left on the 20th (> D): both rules say expected
    got = states(hire_date=dt.date(2025, 3, 3), leave_date=dt.date(2025, 3, 20), cutoff_day=15)
    assert got == {"2025-03": EXP, "2025-04": NOT}


def test_hire_after_cutoff_and_leave_next_month_before_cutoff():
    got = states(hire_date=dt.date(2025, 3, 20), leave_date=dt.date(2025, 4, 10), cutoff_day=15)
    assert got == {"2025-03": OPT, "2025-04": OPT, "2025-05": NOT}


def test_cutoff_may_change_between_months():
    days = {ym("2025-03"): 10, ym("2025-06"): 25}
    got = states(
        hire_date=dt.date(2025, 3, 12),
        leave_date=dt.date(2025, 6, 20),
        cutoff_day=lambda month: days.get(month),
    )
    assert got == {"2025-03": OPT, "2025-04": EXP, "2025-05": EXP, "2025-06": OPT, "2025-07": NOT}


def test_window_limits_the_judged_months_and_the_future_is_never_judged():
    got = states(
        hire_date=dt.date(2024, 1, 1),
        cutoff_day=15,
        window_from=ym("2025-10"),
        window_to=ym("2026-03"),
        today=dt.date(2025, 11, 5),
    )
    assert got == {"2025-10": EXP, "2025-11": EXP}


def test_exempt_spell_months_are_optional():
    got = states(hire_date=dt.date(2025, 1, 1), leave_date=dt.date(2025, 2, 28), cutoff_day=15, exempt=True)
    assert got == {"2025-01": OPT, "2025-02": OPT, "2025-03": NOT}


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        states(hire_date=dt.date(2025, 3, 1), leave_date=dt.date(2025, 2, 1))
    with pytest.raises(ValueError):
        states(hire_date=dt.date(2025, 3, 1), cutoff_day=40)


def test_month_runs_group_consecutive_months_across_the_year_end():
    assert month_runs([202411, 202412, 202501, 202503]) == [[202411, 202412, 202501], [202503]]
    assert month_runs([]) == []
