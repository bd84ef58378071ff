"""Reads of the contribution ledger for the pages, the API and the CLI."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_view_roster, employee_scope, entity_scope_ids
from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import (
    ContributionRecord,
    Discrepancy,
    EnrollmentStatus,
    LedgerPerson,
    SourceRow,
    SyncRun,
)
from shebao.org.models import Entity
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import Employee, EmploymentSpell

TIMELINE_ORDER = [
    Insurance.PENSION,
    Insurance.MEDICAL,
    Insurance.MATERNITY,
    Insurance.UNEMPLOYMENT,
    Insurance.WORK_INJURY,
    Insurance.MEDICAL_SUPPLEMENT,
    Insurance.HOUSING_FUND,
]


def _ym_int(ym: YearMonth) -> int:
    return ym.year * 100 + ym.month


def _ym(value: int) -> YearMonth:
    return YearMonth(value // 100, value % 100)


def today() -> dt.date:
    return timezone.localdate()


# --- scope ---------------------------------------------------------------------------------------


def entities_for(user) -> QuerySet[Entity]:
    if not can_view_roster(user):
        return Entity.objects.none()
    ids = entity_scope_ids(user)
    qs = Entity.objects.select_related("city").order_by("code")
    return qs if ids is None else qs.filter(pk__in=ids)


def entity_for(user, code_or_pk) -> Entity | None:
    qs = entities_for(user)
    if isinstance(code_or_pk, int) or str(code_or_pk).isdigit():
        found = qs.filter(pk=int(code_or_pk)).first()
        if found:
            return found
    return qs.filter(code=str(code_or_pk)).first()


# --- sync runs -----------------------------------------------------------------------------------


def sync_runs(*, user, entity: Entity | None = None) -> QuerySet[SyncRun]:
    """The user's entities' runs, newest first (for paging)."""
    qs = SyncRun.objects.filter(entity__in=entities_for(user)).select_related(
        "entity", "triggered_by", "connector"
    )
    return qs if entity is None else qs.filter(entity=entity)


def sync_run_list(*, user, entity: Entity | None = None, limit: int = 100) -> list[SyncRun]:
    return list(sync_runs(user=user, entity=entity)[:limit])


def sync_run_get(*, user, run_id: int) -> SyncRun | None:
    return (
        SyncRun.objects.filter(entity__in=entities_for(user), pk=run_id)
        .select_related("entity", "triggered_by", "connector", "duplicate_of")
        .first()
    )


def sync_run_data(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "entity": run.entity.code,
        "entity_name": run.entity.name,
        "source": run.source,
        "source_label": run.get_source_display(),
        "status": run.status,
        "status_label": run.get_status_display(),
        "file_name": run.file_name,
        "sha256": run.sha256,
        "profile": run.profile,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "change_count": run.change_count,
        "errors": run.errors,
        "warnings": run.warnings,
        "context": run.context,
        "duplicate_of": run.duplicate_of_id,
        "connector": run.connector.name if run.connector_id else None,
    }


def sync_run_rows(*, run: SyncRun, problems_only: bool = False, limit: int = 200) -> list[SourceRow]:
    """Source rows of a run with ``cells`` as label → text (the stored list paired with the run's columns)."""
    qs = SourceRow.objects.filter(run=run).select_related("person")
    if problems_only:
        qs = qs.exclude(errors=[])
    rows = list(qs.order_by("row")[:limit])
    columns = list(run.columns or [])
    for r in rows:
        r.cells = r.cells_dict(columns)
    return rows


# --- coverage timeline ---------------------------------------------------------------------------


@dataclass
class Cell:
    month: YearMonth
    employed: bool = False  # within one of the person's spells at one of our entities
    in_data: bool = True  # within the months the ledger holds for that entity (else: no data yet)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ours(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["ours"]]

    @property
    def others(self) -> list[dict[str, Any]]:
        return [r for r in self.records if not r["ours"]]

    @property
    def css(self) -> str:
        """One class per cell: who paid and how firmly, or the gap."""
        ours, others = self.ours, self.others
        if ours and others:
            return "both"
        if others:
            return "other"
        if ours:
            status = ours[0]["status"]
            return {
                "paid": "paid",
                "backpaid": "backpaid",
                "declared": "declared",
                "arrears": "arrears",
                "unpaid": "arrears",
                "refunded": "refunded",
            }.get(status, "declared")
        if not self.employed:
            return "none"
        return "gap" if self.in_data else "nodata"

    @property
    def title(self) -> str:
        parts = [str(self.month)]
        if not self.records:
            if not self.employed:
                parts.append("不在本单位任职期间，无记录")
            elif self.in_data:
                parts.append("在职但无缴费记录")
            else:
                parts.append("在职；台账尚无该月的数据（未导入或未同步）")
        for r in self.records:
            amounts = " / ".join(
                f"{label} {r[k]}"
                for k, label in (("employer", "单位"), ("employee", "个人"))
                if r.get(k) is not None
            )
            base = f"基数 {r['base']}" if r.get("base") is not None else ""
            parts.append(
                "，".join(x for x in (r["unit"], r["status_label"], base, amounts, r["evidence_label"]) if x)
            )
        return "\n".join(parts)


@dataclass
class TimelineRow:
    insurance: Insurance
    label: str
    cells: list[Cell]


@dataclass
class Timeline:
    months: list[YearMonth]
    rows: list[TimelineRow]
    units: list[dict[str, Any]]
    people: list[LedgerPerson]
    enrollments: list[dict[str, Any]]
    discrepancies: list[Discrepancy]
    first: YearMonth | None
    last: YearMonth | None

    @property
    def years(self) -> list[tuple[int, int]]:
        """(year, number of months shown in it), for the header row."""
        out: list[tuple[int, int]] = []
        for m in self.months:
            if out and out[-1][0] == m.year:
                out[-1] = (m.year, out[-1][1] + 1)
            else:
                out.append((m.year, 1))
        return out


def _amount(value: Decimal | None, paid: Decimal | None) -> str | None:
    chosen = paid if paid is not None else value
    return None if chosen is None else format(chosen, "f")


def employee_timeline(*, employee: Employee, months: int = 36, end: YearMonth | None = None) -> Timeline:
    """A month × insurance grid of one employee's coverage, coloured by status and by who paid."""
    people = list(LedgerPerson.objects.filter(employee=employee))
    person_ids = [p.pk for p in people]
    end = end or YearMonth.of(today())
    records = list(
        ContributionRecord.objects.filter(person_id__in=person_ids)
        .select_related("unit")
        .order_by("period", "insurance")
    )
    if records:
        end = max(end, _ym(records[-1].period))
    start = end - (months - 1)
    spells = list(EmploymentSpell.objects.filter(employee=employee).order_by("hire_date"))
    month_list = list(YearMonth.range(start, end))
    index = {m: i for i, m in enumerate(month_list)}
    present = {r.insurance for r in records}
    insurances = [i for i in TIMELINE_ORDER if i.value in present] or [
        Insurance.PENSION,
        Insurance.MEDICAL,
        Insurance.UNEMPLOYMENT,
        Insurance.WORK_INJURY,
    ]
    grid: dict[str, list[Cell]] = {i.value: [Cell(month=m) for m in month_list] for i in insurances}
    horizons = {
        row["entity_id"]: (row["lo"], row["hi"])
        for row in ContributionRecord.objects.filter(entity_id__in={s.entity_id for s in spells})
        .values("entity_id")
        .annotate(lo=Min("period"), hi=Max("period"))
    }
    for spell in spells:
        first = YearMonth.of(spell.hire_date)
        last = YearMonth.of(spell.leave_date) if spell.leave_date else end
        lo, hi = horizons.get(spell.entity_id, (None, None))
        for m in month_list:
            if first <= m <= last:
                in_data = lo is not None and lo <= _ym_int(m) <= hi
                for cells in grid.values():
                    cells[index[m]].employed = True
                    cells[index[m]].in_data = in_data
    units: dict[int, dict[str, Any]] = {}
    status_labels = {k: str(v) for k, v in ContributionRecord.Status.choices}
    evidence_labels = {k: str(v) for k, v in ContributionRecord.Evidence.choices}
    for r in records:
        m = _ym(r.period)
        if m not in index or r.insurance not in grid:
            continue
        unit_label = r.unit.name or r.unit.unit_no or "本单位"
        units.setdefault(r.unit_id, {"id": r.unit_id, "name": unit_label, "ours": r.unit.is_ours})
        grid[r.insurance][index[m]].records.append(
            {
                "unit": unit_label,
                "ours": r.unit.is_ours and r.unit.entity_id in {s.entity_id for s in spells},
                "status": r.status,
                "status_label": status_labels.get(r.status, r.status),
                "evidence_label": f"依据：{evidence_labels.get(r.evidence, r.evidence)}",
                "base": None if r.base is None else format(r.base, "f"),
                "employer": _amount(r.employer_due, r.employer_paid),
                "employee": _amount(r.employee_due, r.employee_paid),
            }
        )
    enrollments = [
        {
            "insurance": st.insurance,
            "insurance_label": INSURANCE_LABELS.get(Insurance(st.insurance), st.insurance),
            "unit": st.unit.name or st.unit.unit_no,
            "ours": st.unit.is_ours,
            "state": st.state,
            "state_label": st.get_state_display(),
            "since": st.since,
            "reported_at": st.reported_at,
        }
        for st in EnrollmentStatus.objects.filter(person_id__in=person_ids).select_related("unit")
    ]
    discrepancies = list(
        Discrepancy.objects.filter(employee=employee, status=Discrepancy.Status.OPEN).order_by(
            "period_from", "kind"
        )
    )
    return Timeline(
        months=month_list,
        rows=[TimelineRow(i, INSURANCE_LABELS[i], grid[i.value]) for i in insurances],
        units=sorted(units.values(), key=lambda u: (not u["ours"], u["name"])),
        people=people,
        enrollments=enrollments,
        discrepancies=discrepancies,
        first=_ym(records[0].period) if records else None,
        last=_ym(records[-1].period) if records else None,
    )


def employee_coverage_data(*, employee: Employee, months: int = 36) -> dict[str, Any]:
    """The timeline as JSON for the API."""
    t = employee_timeline(employee=employee, months=months)
    return {
        "employee": employee.pk,
        "months": [str(m) for m in t.months],
        "insurances": [
            {
                "insurance": row.insurance.value,
                "label": row.label,
                "cells": [
                    {
                        "month": str(c.month),
                        "class": c.css,
                        "employed": c.employed,
                        "in_data": c.in_data,
                        "records": c.records,
                    }
                    for c in row.cells
                ],
            }
            for row in t.rows
        ],
        "enrollments": [
            {
                **e,
                "since": e["since"].isoformat() if e["since"] else None,
                "reported_at": e["reported_at"].isoformat(),
            }
            for e in t.enrollments
        ],
        "discrepancies": [discrepancy_data(d) for d in t.discrepancies],
    }


# --- entity overview -----------------------------------------------------------------------------


def entity_overview(*, user, month: YearMonth | None = None) -> dict[str, Any]:
    """Coverage of the month (default: the latest month the ledger holds) per entity and insurance:
    people employed, covered by us, covered only by another unit, not covered."""
    entities = list(entities_for(user))
    ids = [e.pk for e in entities]
    if month is None:
        latest = (
            ContributionRecord.objects.filter(entity_id__in=ids)
            .order_by("-period")
            .values_list("period", flat=True)
            .first()
        )
        month = _ym(latest) if latest else YearMonth.of(today())
    period = _ym_int(month)
    first_day, last_day = month.first_day, month.last_day
    employed: dict[int, set[int]] = defaultdict(set)
    for emp_id, entity_id in (
        EmploymentSpell.objects.filter(entity_id__in=ids, hire_date__lte=last_day)
        .filter(Q(leave_date__isnull=True) | Q(leave_date__gte=first_day))
        .values_list("employee_id", "entity_id")
    ):
        employed[entity_id].add(emp_id)
    covered: dict[tuple[int, str], set[int]] = defaultdict(
        set
    )  # (entity, insurance) → employees covered by it
    other: dict[tuple[int, str], set[int]] = defaultdict(set)
    insurances_seen: dict[int, set[str]] = defaultdict(set)
    rows = ContributionRecord.objects.filter(period=period, person__employee__isnull=False).values_list(
        "person__employee_id", "insurance", "unit__entity_id", "entity_id"
    )
    entity_of_employee = {emp: ent for ent, emps in employed.items() for emp in emps}
    for emp_id, insurance, unit_entity, data_entity in rows:
        ent = entity_of_employee.get(emp_id)
        if data_entity in ids:
            insurances_seen[data_entity].add(insurance)
        if ent is None:
            continue
        if unit_entity == ent:
            covered[(ent, insurance)].add(emp_id)
        else:
            other[(ent, insurance)].add(emp_id)
    open_counts = dict(
        Discrepancy.objects.filter(entity_id__in=ids, status=Discrepancy.Status.OPEN)
        .values_list("entity_id")
        .annotate(n=Count("id"))
        .values_list("entity_id", "n")
    )
    last_runs = {}
    for run in (
        SyncRun.objects.filter(entity_id__in=ids)
        .exclude(status=SyncRun.Status.PREVIEWED)
        .order_by("entity_id", "-started_at")
    ):
        last_runs.setdefault(run.entity_id, run)
    out = []
    for e in entities:
        people = employed.get(e.pk, set())
        cols = []
        for ins in TIMELINE_ORDER:
            if ins.value not in insurances_seen.get(e.pk, set()):
                continue
            ours = covered.get((e.pk, ins.value), set())
            elsewhere = other.get((e.pk, ins.value), set()) - ours
            cols.append(
                {
                    "insurance": ins.value,
                    "label": INSURANCE_LABELS[ins],
                    "covered": len(ours),
                    "other_unit": len(elsewhere),
                    "missing": len(people - ours - elsewhere),
                    "rate": round(100 * len(ours) / len(people)) if people else None,
                }
            )
        out.append(
            {
                "entity": e,
                "employed": len(people),
                "insurances": cols,
                "open_discrepancies": open_counts.get(e.pk, 0),
                "last_run": last_runs.get(e.pk),
            }
        )
    return {"month": month, "entities": out}


# --- discrepancies and unknown people ------------------------------------------------------------


def discrepancy_list(
    *,
    user,
    entity: Entity | None = None,
    kinds: list[str] | None = None,
    status: str | None = Discrepancy.Status.OPEN,
    employee: Employee | None = None,
) -> QuerySet[Discrepancy]:
    qs = Discrepancy.objects.filter(entity__in=entities_for(user)).select_related(
        "entity", "employee", "person", "unit"
    )
    if user.role not in (Role.HR_ADMIN, Role.AUDITOR, Role.HR_SPECIALIST):  # a manager: their employees
        qs = qs.filter(
            Q(employee__isnull=True) | Q(employee__in=Employee.objects.filter(employee_scope(user)))
        )
    if entity is not None:
        qs = qs.filter(entity=entity)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if status:
        qs = qs.filter(status=status)
    if employee is not None:
        qs = qs.filter(employee=employee)
    return qs.order_by("entity__code", "kind", "period_from", "id")


def discrepancy_counts(*, user, entity: Entity | None = None) -> dict[str, int]:
    qs = discrepancy_list(user=user, entity=entity)
    return dict(qs.order_by().values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))


def period_text(value: int | None) -> str | None:
    """A stored yyyymm as "2026-03" (None stays None)."""
    return None if value is None else str(_ym(value))


def discrepancy_data(d: Discrepancy) -> dict[str, Any]:
    return {
        "id": d.pk,
        "entity": d.entity.code if d.entity_id else None,
        "kind": d.kind,
        "kind_label": d.get_kind_display(),
        "employee": d.employee_id,
        "employee_name": d.employee.name if d.employee_id else (d.person.name if d.person_id else None),
        "insurance": d.insurance or None,
        "insurance_label": INSURANCE_LABELS.get(Insurance(d.insurance)) if d.insurance else None,
        "period_from": period_text(d.period_from),
        "period_to": period_text(d.period_to),
        "months": d.months,
        "unit": (d.unit.name or d.unit.unit_no) if d.unit_id else None,
        "amount": None if d.amount is None else format(d.amount, "f"),
        "detail": d.detail,
        "citations": d.citations,
        "explanation": d.explanation,
        "status": d.status,
        "first_seen_at": d.first_seen_at.isoformat(),
        "last_seen_at": d.last_seen_at.isoformat(),
        "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
    }


def unknown_people(*, user, entity: Entity | None = None) -> list[dict[str, Any]]:
    """People in the government data who are not in the roster, with what is being paid for them."""
    entities = list(entities_for(user)) if entity is None else [entity]
    ids = [e.pk for e in entities]
    stats = (
        ContributionRecord.objects.filter(entity_id__in=ids, person__employee__isnull=True)
        .values("person_id", "entity_id")
        .annotate(months=Count("period", distinct=True))
    )
    per_person: dict[int, dict[str, Any]] = {}
    for s in stats:
        per_person.setdefault(s["person_id"], {"months": 0, "entities": set()})
        per_person[s["person_id"]]["months"] = max(per_person[s["person_id"]]["months"], s["months"])
        per_person[s["person_id"]]["entities"].add(s["entity_id"])
    people = LedgerPerson.objects.filter(pk__in=list(per_person)).order_by("name")
    ranges = {
        p: (lo, hi)
        for p, lo, hi in ContributionRecord.objects.filter(
            person_id__in=list(per_person), unit__entity_id__in=ids
        )
        .values("person_id")
        .annotate(lo=Min("period"), hi=Max("period"))
        .values_list("person_id", "lo", "hi")
    }
    sums = _paid_sums(list(per_person), ids)
    by_id = {e.pk: e for e in entities}
    out = []
    for p in people:
        lo, hi = ranges.get(p.pk, (None, None))
        out.append(
            {
                "person": p,
                "id_masked": p.id_number_masked,
                "match": p.get_match_display(),
                "months": per_person[p.pk]["months"],
                "entities": [by_id[e] for e in sorted(per_person[p.pk]["entities"]) if e in by_id],
                "period_from": period_text(lo),
                "period_to": period_text(hi),
                "amount": sums.get(p.pk),
            }
        )
    return out


def _paid_sums(person_ids: list[int], entity_ids: list[int]) -> dict[int, Decimal]:
    """Employer + employee money recorded by our units for these people (paid where known, else due)."""
    out: dict[int, Decimal] = defaultdict(Decimal)
    for pid, er_due, ee_due, er_paid, ee_paid in ContributionRecord.objects.filter(
        person_id__in=person_ids, unit__entity_id__in=entity_ids
    ).values_list("person_id", "employer_due", "employee_due", "employer_paid", "employee_paid"):
        er = er_paid if er_paid is not None else er_due
        ee = ee_paid if ee_paid is not None else ee_due
        out[pid] += (er or Decimal(0)) + (ee or Decimal(0))
    return dict(out)


# --- column mapping of an unrecognised upload ----------------------------------------------------


def upload_columns(*, run: SyncRun, samples: int = 3) -> dict[str, Any] | None:
    """The header row of an uploaded file (the first row that reads like one) with a few sample
    values per column, identity numbers masked; None when the file is gone or unreadable."""
    from shebao.imports.fields import looks_sensitive, mask_sensitive
    from shebao.imports.readers import ImportFileError
    from shebao.ledger import parsing
    from shebao.ledger.parsing.layout import candidates

    batch = run.import_batch
    if batch is None or batch.file_purged_at is not None or not batch.file:
        return None
    try:
        source = parsing.open_source(Path(batch.file.path), filename=batch.file_name)
    except (ImportFileError, OSError):
        return None
    sheet = source.sheets[0]
    # Of the rows the parsing engine would accept as a header (no identity-number-like cells),
    # the one naming the most columns (title-block rows name fewer); the earliest on a tie.
    layouts = [lo for lo in candidates(sheet, 1) if sum(1 for t in lo.leaves if t) >= 2]
    if not layouts:
        return None
    layout = max(layouts, key=lambda lo: (sum(1 for t in lo.leaves if t), -lo.index))
    head = sheet.head()
    index = layout.index
    header_row, cells = head[index]
    headers = [("" if c is None else str(c).strip()) for c in cells]
    values: list[list[str]] = [[] for _ in headers]
    for _, row in head[index + 1 : index + 1 + samples]:
        for i in range(len(headers)):
            text = "" if i >= len(row) or row[i] is None else str(row[i]).strip()
            values[i].append(mask_sensitive(text) if looks_sensitive(text) else text)
    return {
        "sheet": sheet.name,
        "header_row": header_row,
        "columns": [{"index": i, "header": h, "samples": values[i]} for i, h in enumerate(headers) if h],
    }
