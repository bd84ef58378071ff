"""Statutory deadlines that start from a hire or a leave date.

"自用工之日起三十日内": the day of the event is not counted (民法典第二百零一条), so the last day is
event + 30 days, inclusive — hired 2025-03-01 → register by 2025-03-31. Public holidays are not
moved (民法典第二百零三条 would extend a period ending on one); acting by ``due`` is always in time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ._base import CalcError, Serialisable, plain_date

__all__ = ["DEADLINE_NOTE", "Deadline", "deadlines"]

DEADLINE_NOTE = "期限最后一日为事件日 + 天数（当日不计入）；未按法定节假日顺延，按此日期办理即不逾期"


@dataclass(frozen=True)
class Deadline(Serialisable):
    code: str
    label: str
    due: dt.date  # last day, inclusive
    citation: str
    start: dt.date  # the hire or leave date the period runs from
    days: int
    basis: str  # the article's own words for the period
    note: str = ""

    @property
    def citations(self) -> tuple[str, ...]:
        return (self.citation,)

    def _extra(self) -> dict[str, Any]:
        return {"citations": list(self.citations)}


# code, label, days, citation, basis, note
_ON_HIRE = (
    ("si_registration", "为新员工申请办理社会保险登记", 30, "SIL-58", "自用工之日起三十日内", ""),
    ("hf_registration", "办理住房公积金缴存登记及账户设立或转移手续", 30, "HFR-15", "自录用之日起30日内", ""),
)
_ON_LEAVE = (
    ("separation_certificate", "出具解除或者终止劳动合同的证明", 0, "LCL-50", "在解除或者终止劳动合同时", ""),
    (
        "si_transfer",
        "办理档案和社会保险关系转移手续",
        15,
        "LCL-50",
        "在十五日内",
        "条文未写明起算日，此处从解除或终止劳动合同之日起算",
    ),
    (
        "unemployment_list",
        "将失业人员名单告知社会保险经办机构",
        15,
        "SIL-50",
        "自终止或者解除劳动关系之日起十五日内",
        "适用于失业人员；失业保险条例第十六条写7日内，按位阶更高、施行在后的社会保险法第五十条",
    ),
    (
        "hf_change",
        "办理住房公积金变更登记及账户转移或封存手续",
        30,
        "HFR-15",
        "自劳动关系终止之日起30日内",
        "",
    ),
)


def deadlines(*, hire_date: dt.date | None = None, leave_date: dt.date | None = None) -> list[Deadline]:
    """Deadlines triggered by the given dates, earliest first."""
    if hire_date is None and leave_date is None:
        raise CalcError("请提供入职日期或离职日期", field="hire_date")
    out: list[Deadline] = []
    for start, rules in ((hire_date, _ON_HIRE), (leave_date, _ON_LEAVE)):
        if start is None:
            continue
        start = plain_date(start, "hire_date" if rules is _ON_HIRE else "leave_date")
        for code, label, days, citation, basis, note in rules:
            due = start + dt.timedelta(days=days)
            out.append(Deadline(code, label, due, citation, start, days, basis, note))
    if hire_date is not None and leave_date is not None and leave_date < hire_date:
        raise CalcError(
            f"离职日期早于入职日期：{leave_date.isoformat()} 早于 {hire_date.isoformat()}", field="leave_date"
        )
    return sorted(out, key=lambda d: d.due)  # stable: same-day items keep the statute order
