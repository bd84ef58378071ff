"""Findings → Discrepancy row values: the money involved, the detail JSON, the citations and a
plain Chinese explanation, keyed by a fingerprint that is stable across recomputations."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from shebao.core.money import ZERO, fmt, q2
from shebao.ledger.models import ContributionRecord, Discrepancy, LedgerPerson
from shebao.ledger.reconciliation.engine import (
    BASE_TOLERANCE,
    EntityScan,
    Finding,
    SpellInfo,
    chunks,
)
from shebao.ledger.reconciliation.months import mi_of
from shebao.ledger.reconciliation.policy import figure_info, line_info, line_missing
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import EmploymentType

K = Discrepancy.Kind
HF = Insurance.HOUSING_FUND.value

# Law-library ids per kind: (social insurance, housing fund). Only ids the library holds are
# written (checked at run time against the law library).
CITATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    K.NOT_ENROLLED: (("SIL-58", "SIL-60", "SIL-86"), ("HFR-15", "HFR-20", "HFR-37")),
    K.OTHER_UNIT: (("SIL-58", "LCL-50"), ("HFR-15", "LCL-50")),
    K.AFTER_LEAVING: (("LCL-50",), ("LCL-50", "HFR-15")),
    K.UNPAID: (("SIL-60", "SIL-63", "SIL-86"), ("HFR-20", "HFR-38")),
    K.BASE_BELOW_MIN: (("SIL-60", "SIL-86"), ("HFR-20",)),
    K.BASE_ABOVE_MAX: (("SIL-60",), ("HFR-16",)),
    K.BASE_MISMATCH: (("SIL-60", "SIL-86"), ("HFR-16", "HFR-20")),
    K.UNKNOWN_PERSON: ((), ()),
}
ALL_CITATIONS = sorted({c for pair in CITATIONS.values() for side in pair for c in side})

_STATUS_LABELS = dict(ContributionRecord.Status.choices)
_TYPE_LABELS = dict(EmploymentType.choices)


def fingerprint(
    entity_id: int, kind: str, who: str, insurance: str, unit_id: int | None, period_from: int | None
) -> str:
    """sha256 of (entity, kind, person, insurance, unit, period_from). ``who`` is "e<employee id>"
    for roster people (they may have several ledger people, or none yet) and "p<person id>" for
    people nobody employs."""
    raw = f"{entity_id}|{str(kind)}|{who}|{insurance}|{unit_id or ''}|{period_from or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _ym(yyyymm: int) -> str:
    try:
        return _YM[yyyymm]
    except KeyError:
        text = f"{yyyymm // 100:04d}-{yyyymm % 100:02d}"
        if len(_YM) < 10_000:
            _YM[yyyymm] = text
        return text


_YM: dict[int, str] = {}  # yyyymm → "yyyy-mm": every row lists its months


def span_text(months: list[int]) -> str:
    if len(months) == 1:
        return f"{_ym(months[0])} 共1个月"
    return f"{_ym(months[0])} 至 {_ym(months[-1])} 共{len(months)}个月"


def json_plain(value: Any) -> Any:
    """``json.loads(json.dumps(value, default=str))`` — what the detail reads back as from the
    database — built directly: dicts with str keys, lists, str, int, float, bool and None are
    copied as they are; anything else (a Decimal, a date, a tuple, a non-str key …) goes
    through the JSON round trip itself."""
    cls = value.__class__
    if cls is str or cls is int or cls is float or cls is bool or value is None:
        return value
    if cls is dict:
        out = {}
        for k, v in value.items():
            if k.__class__ is not str:
                return json.loads(json.dumps(value, default=str))
            out[k] = json_plain(v)
        return out
    if cls is list:
        return [json_plain(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def _label(insurance: str) -> str:
    return INSURANCE_LABELS[Insurance(insurance)] if insurance else ""


def _money(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _dec(value: float) -> Decimal:
    return q2(Decimal(repr(value)))


def _plain(value: Decimal | float | None) -> str:
    if value is None:
        return ""
    d = Decimal(repr(value)) if isinstance(value, float) else value
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else q2(d), "f")


def _spell_info(spell: SpellInfo) -> dict[str, Any]:
    return {
        "hire_date": spell.hire.isoformat(),
        "leave_date": spell.leave.isoformat() if spell.leave else None,
        "employment_type": spell.employment_type,
        "declared_wage": None if spell.wage is None else fmt(spell.wage),
        "cutoff_at_hire": spell.hire_cutoff,
        "cutoff_at_leave": spell.leave_cutoff,
    }


def _cutoff_text(info: dict[str, Any] | None) -> str:
    if not info or info.get("day") is None:
        return "增减员截止日未设置"
    return f"增减员截止日 {info['day']} 日"


def _recorded(row: tuple | None) -> tuple[Decimal | None, Decimal | None]:
    """(employer, employee) of a record: paid where stated, else declared."""
    if row is None:
        return None, None
    er_due, ee_due, er_paid, ee_paid = row[1:5]
    return (er_paid if er_paid is not None else er_due), (ee_paid if ee_paid is not None else ee_due)


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return total
    return (total or ZERO) + value


class RowBuilder:
    def __init__(self, scan: EntityScan, *, citations: set[str]) -> None:
        self.scan = scan
        self.policy = scan.policy
        self.citations = citations
        self.entity_id = scan.entity.pk
        self._records: dict[tuple[int, str, int, int], tuple] = {}
        # (insurance, policy period, recorded base, expected base) → a base segment's figures:
        # thousands of findings share a few bases, and the wording of their figures is the same
        self._segments: dict[tuple, tuple[dict[str, Any], list[str], Decimal | None]] = {}
        self._bounds: dict[tuple[int, str], tuple[Any, Decimal]] = {}  # (id(Bounds), which) → (it, q2 value)

    # --- inputs ---------------------------------------------------------------------------------

    def _load_records(self, findings: list[Finding]) -> None:
        """The records the findings list (``_recorded_sum``): only their insurances and months
        are read (a person's after-leaving months are a few of years of records)."""
        wanted: dict[int, tuple[set[str], list[int]]] = {}  # person → (insurances, [min, max] period)
        for f in findings:
            for pid, period, _unit in f.facts.get("records", ()):
                hit = wanted.get(pid)
                if hit is None:
                    wanted[pid] = ({f.insurance}, [period, period])
                    continue
                hit[0].add(f.insurance)
                span = hit[1]
                if period < span[0]:
                    span[0] = period
                elif period > span[1]:
                    span[1] = period
        for chunk in chunks(sorted(wanted)):
            insurances = sorted({i for pid in chunk for i in wanted[pid][0]})
            low = min(wanted[pid][1][0] for pid in chunk)
            high = max(wanted[pid][1][1] for pid in chunk)
            for row in (
                ContributionRecord.objects.filter(
                    person_id__in=chunk, insurance__in=insurances, period__gte=low, period__lte=high
                )
                .order_by()
                .values_list(
                    "person_id",
                    "insurance",
                    "period",
                    "unit_id",
                    "status",
                    "employer_due",
                    "employee_due",
                    "employer_paid",
                    "employee_paid",
                    "late_fee",
                )
            ):
                self._records[row[:4]] = (row[4], *row[5:])

    @staticmethod
    def _merge_status_findings(findings: list[Finding]) -> list[Finding]:
        """A reported enrolment state joins the record-based row of the same unit when there is one."""
        by_key: dict[tuple, Finding] = {}
        for f in findings:
            if not f.facts.get("status_only"):
                key = (f.kind, f.employee_id, f.insurance, f.unit_id)
                if key not in by_key or f.months[0] > by_key[key].months[0]:
                    by_key[key] = f
        out = []
        for f in findings:
            if f.facts.get("status_only"):
                host = by_key.get((f.kind, f.employee_id, f.insurance, f.unit_id))
                if host is not None:
                    host.facts["status"] = f.facts["status"]
                    continue
            out.append(f)
        return out

    # --- rows -----------------------------------------------------------------------------------

    def build(self) -> dict[str, dict[str, Any]]:
        findings = self._merge_status_findings(self.scan.findings)
        self._load_records(findings)
        unknown = [f.person_id for f in findings if f.kind == K.UNKNOWN_PERSON]
        self._people = (
            dict(LedgerPerson.objects.filter(pk__in=unknown).order_by().values_list("id", "name"))
            if unknown
            else {}
        )
        self._unknown_amounts = self._unknown_person_amounts(unknown) if unknown else {}
        rows: dict[str, dict[str, Any]] = {}
        for f in findings:
            row = self.row(f)
            rows[row["fingerprint"]] = row
        return rows

    def row(self, f: Finding) -> dict[str, Any]:
        builder = getattr(self, f"_{f.kind}")
        amount, detail, explanation = builder(f)
        side = 1 if f.insurance == HF else 0
        cites = [c for c in CITATIONS[f.kind][side] if c in self.citations]
        months = f.months
        who = f"e{f.employee_id}" if f.employee_id else f"p{f.person_id}"
        status_only = f.facts.get("status_only")
        detail = json_plain(detail)
        return {
            "fingerprint": fingerprint(self.entity_id, f.kind, who, f.insurance, f.unit_id, months[0]),
            "entity_id": self.entity_id,
            "kind": str(f.kind),
            "person_id": f.person_id,
            "employee_id": f.employee_id,
            "insurance": f.insurance,
            "period_from": months[0],
            "period_to": None if status_only else months[-1],
            "months": 0 if status_only else len(months),
            "unit_id": f.unit_id,
            "amount": None if amount is None else q2(amount),
            "detail": detail,
            "citations": cites,
            "explanation": explanation,
        }

    def _base_detail(self, f: Finding) -> dict[str, Any]:
        detail: dict[str, Any] = {"months": [_ym(m) for m in f.months]}
        if f.employee_id:
            case = self.scan.cases[f.employee_id]
            detail["spell"] = _spell_info(case.spell_at(f.months[0]))
        if f.unit_id:
            detail["unit"] = {"id": f.unit_id, "name": self.scan.units.get(f.unit_id, (None, ""))[1]}
        if "status" in f.facts:
            st = f.facts["status"]
            detail["enrollment"] = {
                "state": "active",
                "reported_on": st["as_of"].isoformat(),
                "since": st["since"].isoformat() if st["since"] else None,
            }
        return detail

    # not_enrolled ------------------------------------------------------------------------------

    def _not_enrolled(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        case = self.scan.cases[f.employee_id]
        spell = case.spell_at(f.months[0])
        label = _label(f.insurance)
        detail = self._base_detail(f)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for m in f.months:
            groups[(self.policy.period_key(mi_of(m)), case.wage_at(m))].append(m)
        employer: Decimal | None = ZERO
        employee: Decimal | None = ZERO
        missing: list[str] = []
        figures = []
        for (key, wage), months in groups.items():
            if wage is None:
                missing.append("申报工资未填写")
                employer = employee = None
                continue
            line = self.policy.line(f.insurance, mi_of(months[0]), wage)
            gaps = line_missing(line)
            missing.extend(g for g in gaps if g not in missing)
            if isinstance(line, str):
                employer = employee = None
                continue
            n = len(months)
            employer = (
                None
                if employer is None or line.employer_amount is None
                else employer + line.employer_amount * n
            )
            employee = (
                None
                if employee is None or line.employee_amount is None
                else employee + line.employee_amount * n
            )
            figures.append(
                {
                    "period": self.policy.label(key),
                    "months": [_ym(m) for m in months],
                    "declared_wage": fmt(wage),
                    **line_info(line),
                    "employer_per_month": _money(line.employer_amount),
                    "employee_per_month": _money(line.employee_amount),
                }
            )
        amount = None if employer is None or employee is None else employer + employee
        detail.update(
            {
                "expected": {
                    "employer": _money(employer),
                    "employee": _money(employee),
                    "total": _money(amount),
                },
                "figures": figures,
                "missing": missing,
                "window": {
                    k: _ym(v) for k, v in zip(("from", "to"), self.scan.data[f.insurance], strict=True)
                },
                "other_unit_months": [_ym(m) for m in f.facts.get("other_unit_months", [])],
            }
        )
        dates = f"入职日期 {spell.hire.isoformat()}"
        if spell.leave:
            dates += f"，离职日期 {spell.leave.isoformat()}"
        text = f"{span_text(f.months)}未由本单位缴纳{label}（{dates}，{_cutoff_text(spell.hire_cutoff)}）。"
        if amount is not None:
            text += f"按申报工资测算应缴合计 {fmt(amount)} 元（单位 {fmt(employer)} 元，个人 {fmt(employee)} 元）。"
        else:
            text += f"应缴金额无法测算：{'、'.join(missing)}。"
        if f.facts.get("other_unit_months"):
            text += f"其中 {len(f.facts['other_unit_months'])} 个月由其他单位缴纳。"
        if spell.hire_cutoff.get("day") is None:
            text += "增减员截止日未设置，入职、离职当月按“可缴可不缴”处理。"
        return amount, detail, text

    # records by a unit: other_unit / after_leaving / unpaid --------------------------------------

    def _recorded_sum(self, f: Finding) -> tuple[Decimal | None, dict[str, Any]]:
        employer: Decimal | None = None
        employee: Decimal | None = None
        late: Decimal | None = None
        items = []
        for pid, period, unit_id in f.facts.get("records", []):  # (person, period, unit)
            rec = self._records.get((pid, f.insurance, period, unit_id))
            er, ee = _recorded(rec)
            employer, employee = _add(employer, er), _add(employee, ee)
            late = _add(late, rec[5] if rec else None)
            items.append(
                {
                    "period": _ym(period),
                    "status": rec[0] if rec else None,
                    "employer": _money(er),
                    "employee": _money(ee),
                }
            )
        # Every insurance has an employer part: when the records do not state it, the total is not
        # known either (a stated 0.00 employee part of 工伤 is not the month's amount).
        total = None if employer is None else employer + (employee or ZERO)
        return total, {
            "recorded": {
                "employer": _money(employer),
                "employee": _money(employee),
                "total": _money(total),
                "late_fee": _money(late),
            },
            "records": items,
        }

    def _other_unit(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        detail = self._base_detail(f)
        case = self.scan.cases[f.employee_id]
        spell = case.spell_at(f.months[0])
        unit = self.scan.units.get(f.unit_id, (None, "其他单位"))[1]
        label = _label(f.insurance)
        if f.facts.get("status_only"):
            st = f.facts["status"]
            text = (
                f"{unit}的{label}参保状态在 {st['as_of'].isoformat()} 仍为“参保缴费”，"
                f"而该员工自 {spell.hire.isoformat()} 起在本单位任职：应由原单位办理减员、本单位办理增员。"
            )
            return None, detail, text
        amount, extra = self._recorded_sum(f)
        detail.update(extra)
        text = (
            f"{span_text(f.months)}{label}由其他单位（{unit}）缴纳，"
            f"而该员工此期间在本单位任职（入职日期 {spell.hire.isoformat()}，{_cutoff_text(spell.hire_cutoff)}）"
        )
        text += f"，记录金额合计 {fmt(amount)} 元。" if amount is not None else "。"
        if "status" in f.facts:
            text += f"该单位的参保状态在 {f.facts['status']['as_of'].isoformat()} 仍为“参保缴费”。"
        return amount, detail, text

    def _after_leaving(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        detail = self._base_detail(f)
        case = self.scan.cases[f.employee_id]
        spell = case.spell_at(f.months[0])
        label = _label(f.insurance)
        left = spell.leave.isoformat() if spell.leave else "离职"
        if f.facts.get("status_only"):
            st = f.facts["status"]
            text = f"离职（{left}）后，本单位{label}参保状态在 {st['as_of'].isoformat()} 仍为“参保缴费”：应办理减员（停保）。"
            return None, detail, text
        amount, extra = self._recorded_sum(f)
        detail.update(extra)
        text = f"离职（{left}，{_cutoff_text(spell.leave_cutoff)}）后，{span_text(f.months)}仍由本单位缴纳{label}"
        text += f"，记录金额合计 {fmt(amount)} 元" if amount is not None else ""
        text += "：应办理减员（停保）。"
        if "status" in f.facts:
            text += f"参保状态在 {f.facts['status']['as_of'].isoformat()} 仍为“参保缴费”。"
        return amount, detail, text

    def _unpaid(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        detail = self._base_detail(f)
        amount, extra = self._recorded_sum(f)
        detail.update(extra)
        states = sorted({r["status"] for r in extra["records"] if r["status"]})
        words = "、".join(str(_STATUS_LABELS.get(s, s)) for s in states) or "欠缴"
        text = f"{span_text(f.months)}本单位{_label(f.insurance)}记录为{words}"
        text += f"，涉及金额 {fmt(amount)} 元。" if amount is not None else "，记录中没有金额。"
        return amount, detail, text

    # bases ---------------------------------------------------------------------------------------

    def _base_amounts(self, f: Finding, target_of) -> tuple[Decimal | None, list[dict], list[str]]:
        """Σ (contributions at the right base − contributions the recorded base charges), by
        policy period and base; None when a figure is not on record."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for m, (_pid, base, target, bd) in f.facts["per_month"].items():
            groups[(bd.key, base, target_of(m, target, bd))].append(m)
        total: Decimal | None = ZERO
        missing: list[str] = []
        segments = []
        for (key, base, target), months in sorted(groups.items(), key=lambda kv: kv[1][0]):
            figures, gaps, diff = self._segment(f, key, base, target, months[0])
            seg: dict[str, Any] = {"period": figures["period"], "months": [_ym(m) for m in months]}
            seg.update(figures["rest"])
            if diff is None:
                missing.extend(g for g in gaps if g not in missing)
                total = None
            else:
                seg.update(figures["diff"])
                if total is not None:
                    total += diff * len(months)
            segments.append(seg)
        return (None if total is None else abs(total)), segments, missing

    def _segment(
        self, f: Finding, key, base, target, first: int
    ) -> tuple[dict[str, Any], list[str], Decimal | None]:
        """The figures of one (policy period, recorded base, expected base) segment, computed once."""
        cache_key = (f.insurance, key, base, target)
        try:
            return self._segments[cache_key]
        except KeyError:
            pass
        bd = f.facts["per_month"][first][3]
        recorded_base = _dec(base)
        right = self.policy.line(f.insurance, mi_of(first), target)
        charged = self.policy.line(f.insurance, mi_of(first), recorded_base, bounded=False)
        figures: dict[str, Any] = {
            "period": bd.label,
            "rest": {
                "recorded_base": fmt(recorded_base),
                "expected_base": fmt(target),
                "base_min": figure_info(bd.base_min),
                "base_max": figure_info(bd.base_max),
            },
            "diff": {},
        }
        gaps = line_missing(right) + line_missing(charged)
        diff = None
        if not (gaps or isinstance(right, str) or isinstance(charged, str)):
            diff = (right.total or ZERO) - (charged.total or ZERO)
            figures["diff"] = {
                "difference_per_month": fmt(diff),
                "employer_rate": figure_info(right.employer_rate),
                "employee_rate": figure_info(right.employee_rate),
            }
        value = (figures, gaps, diff)
        self._segments[cache_key] = value
        return value

    def _bound(self, bd, which: str) -> Decimal:
        """q2 of a bound's value (``which``: base_min / base_max), once per Bounds object."""
        key = (id(bd), which)
        hit = self._bounds.get(key)
        if hit is None:
            hit = self._bounds[key] = (bd, q2(getattr(bd, which).value))  # bd kept: its id stays its own
        return hit[1]

    def _bases_text(self, f: Finding, segments: list[dict], what: str) -> str:
        parts = []
        for seg in segments:
            parts.append(f"{seg['recorded_base']} 元（{seg['period']} {what} {seg['expected_base']} 元）")
        return "；".join(parts)

    def _base_below_min(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        amount, segments, missing = self._base_amounts(f, lambda m, t, bd: self._bound(bd, "base_min"))
        detail = self._base_detail(f) | {"segments": segments, "missing": missing}
        detail["difference"] = _money(amount)
        text = f"{span_text(f.months)}{_label(f.insurance)}缴费基数低于下限：{self._bases_text(f, segments, '下限')}"
        text += (
            f"；按下限计算少缴约 {fmt(amount)} 元。"
            if amount is not None
            else f"；差额无法测算：{'、'.join(missing)}。"
        )
        return amount, detail, text

    def _base_above_max(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        amount, segments, missing = self._base_amounts(f, lambda m, t, bd: self._bound(bd, "base_max"))
        detail = self._base_detail(f) | {"segments": segments, "missing": missing}
        detail["difference"] = _money(amount)
        text = f"{span_text(f.months)}{_label(f.insurance)}缴费基数高于上限：{self._bases_text(f, segments, '上限')}"
        text += (
            f"；按上限计算多缴约 {fmt(amount)} 元。"
            if amount is not None
            else f"；差额无法测算：{'、'.join(missing)}。"
        )
        return amount, detail, text

    def _base_mismatch(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        case = self.scan.cases[f.employee_id]

        def target_of(m: int, _t: float, bd) -> Decimal:
            wage = case.wage_at(m)
            low, high = bd.base_min.value, bd.base_max.value
            if low is not None and wage < low:
                wage = low
            elif high is not None and wage > high:
                wage = high
            return q2(wage)

        amount, segments, missing = self._base_amounts(f, target_of)
        detail = self._base_detail(f) | {"segments": segments, "missing": missing}
        detail.update(
            {
                "direction": f.facts["direction"],
                "tolerance": fmt(BASE_TOLERANCE),
                "difference": _money(amount),
            }
        )
        wage = case.wage_at(f.months[0])
        parts = "；".join(f"{s['recorded_base']} 元（应为 {s['expected_base']} 元）" for s in segments)
        more = "少缴" if f.facts["direction"] == "low" else "多缴"
        text = (
            f"{span_text(f.months)}{_label(f.insurance)}缴费基数与申报工资 {fmt(wage)} 元"
            f"（按基数上下限调整后）不符，相差超过 {_plain(BASE_TOLERANCE)} 元：{parts}"
        )
        text += (
            f"；{more}约 {fmt(amount)} 元。"
            if amount is not None
            else f"；差额无法测算：{'、'.join(missing)}。"
        )
        return amount, detail, text

    # unknown_person ------------------------------------------------------------------------------

    def _unknown_person_amounts(self, pids: list[int]) -> dict[int, tuple[Decimal | None, Decimal | None]]:
        out: dict[int, tuple[Decimal | None, Decimal | None]] = {}
        for chunk in chunks(pids):
            for pid, er_due, ee_due, er_paid, ee_paid in (
                ContributionRecord.objects.filter(
                    entity_id=self.entity_id, person_id__in=chunk, unit_id__in=self.scan.our_units
                )
                .exclude(status=ContributionRecord.Status.REFUNDED)
                .order_by()
                .values_list("person_id", "employer_due", "employee_due", "employer_paid", "employee_paid")
            ):
                er, ee = _recorded((None, er_due, ee_due, er_paid, ee_paid))
                cur = out.get(pid, (None, None))
                out[pid] = (_add(cur[0], er), _add(cur[1], ee))
        return out

    def _unknown_person(self, f: Finding) -> tuple[Decimal | None, dict, str]:
        name = self._people.get(f.person_id, "")
        er, ee = self._unknown_amounts.get(f.person_id, (None, None))
        amount = None if er is None and ee is None else (er or ZERO) + (ee or ZERO)
        units = [self.scan.units.get(u, (None, ""))[1] for u in f.facts["units"]]
        detail = {
            "name": name,
            "months": [_ym(m) for m in f.months],
            "first": _ym(f.months[0]),
            "last": _ym(f.months[-1]),
            "insurances": f.facts["insurances"],
            "units": units,
            "paid_by_us": {"employer": _money(er), "employee": _money(ee), "total": _money(amount)},
        }
        text = (
            f"台账中的“{name}”在本单位数据中有 {len(f.months)} 个月缴费记录（{_ym(f.months[0])} 至 {_ym(f.months[-1])}），"
            "但花名册中没有此人"
        )
        text += f"；其中由本单位缴纳合计 {fmt(amount)} 元。" if amount is not None else "。"
        text += "请核对此人是否为本单位员工，或补录花名册。"
        return amount, detail, text
