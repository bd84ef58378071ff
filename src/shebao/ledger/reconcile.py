"""Reconciliation: the coverage the roster says each employee must have, against what the
ledger shows, written as ``Discrepancy`` rows.

Rules
=====

Expected months are per employee × insurance for OUR entity, from the employee's employment
spells at that entity and the entity's 增减员截止日 D: ``EntityPolicySetting.cutoff_day``, else the
city's policy-period figure ``cutoff_day`` for the month in question, else unknown. There is no
national cut-off day (si_rules.md §3): none is hard-coded. A change submitted on or before day D
of month M takes effect in M; after D, from M+1.

* Hire day h in month M: h ≤ D → M expected; h > D → M optional (可缴可不缴: covered or not is
  fine), M+1 expected. D unknown → M optional, M+1 expected.
* Leave day l in month M: l ≤ D → M optional, from M+1 not expected; l > D → M expected, from
  M+1 not expected. D unknown → M optional, from M+1 not expected. Leaving on the cut-off day
  (l == D) → M optional. A month both rules speak about (hired and left in it) takes the weaker
  state; several spells (re-hires) take the strongest state of any spell.
* Judged range: months before the first month of data the ledger holds for the entity (any
  insurance) and months after the current month are not judged at all, for any kind (the run's
  notes say so). For ``not_enrolled`` the window is narrower, per insurance: [max(hire month,
  the first month held for the entity and insurance), min(leave month, the last month held for
  the entity and insurance, the current month)] — months the data simply does not reach yet are
  not flagged, and a 公积金 file reaching back further than the 社保 export does not make early
  pension months "missing".
* Expected insurances: those the city's policy period for the month lists (pension, medical,
  unemployment, work_injury, maternity unless ``merged_into`` medical, housing_fund; the
  fixed-amount 医疗附加 is not a coverage question) intersected with the insurances the ledger
  has ANY data for at the entity. A month no policy period covers falls back to the ledger's
  insurances alone (noted in the run).
* Assumption: interns (``intern``) and retiree re-hires (``retiree_rehire``) are not expected to
  be covered; their months are "optional" (coverage is not flagged, nor is its absence).
* A month is covered by us when a ContributionRecord (any status but ``refunded``; unpaid and
  arrears months are enrolled but flagged as unpaid) exists for the person/insurance/period with
  ``unit.entity_id`` equal to the spell's entity; covered by another unit when a record with a
  unit that is not ours (entity null or a different entity) exists. Records of every source
  count, whichever entity's files they came from.

Kinds
=====

* ``not_enrolled``: expected months in the window without a record by us, consecutive months
  in one row. Amount: the employer + employee contributions those months would have cost at the
  declared wage (contribution calculator, cached per policy period × wage × insurance); None
  when a figure is 未收录 or no wage is declared (the detail says which).
* ``other_unit``: expected months paid by another unit (the previous employer never stopped),
  one row per unit and run of months; also a unit that is not ours reported ACTIVE for the
  insurance on a day in an expected month. Amount: the recorded amounts.
* ``after_leaving``: months covered by us after the last expected/optional month of a spell
  (between spells, or after the last one), or our unit reported ACTIVE after that month.
* ``unpaid``: records by us with status ``arrears`` or ``unpaid``.
* ``base_below_min`` / ``base_above_max``: a base by us outside the city's base_min/base_max of
  the month where that figure is on record; a missing figure is not a discrepancy but is listed
  in the run's notes. Amount: the difference in contributions (calculator at the bound against
  the calculator at the recorded base, unclamped).
* ``base_mismatch``: a base by us (within the bounds) differing from the spell's declared wage
  clamped to [min, max] where known by more than ``BASE_TOLERANCE`` (1 yuan), one row per run of
  months and direction. Amount: the difference in contributions.
* ``unknown_person``: a LedgerPerson with records in the entity's data and no employee.

Rows carry the money involved, a detail JSON (amounts by side, bases, figures with their source
and confidence), law-library citations (only ids the library holds) and a plain Chinese
explanation. ``fingerprint`` = sha256(entity, kind, person, insurance, unit, period_from), where
"person" is the employee for roster people (who may have several ledger people, or none yet) and
the ledger person for people nobody employs: recomputation updates rows in place, rows no longer
found become ``resolved`` (``resolved_at``), and reappearing rows reopen.

Performance: per entity, employees are read in chunks; their ledger rows come from one
aggregate query per chunk over the (person, insurance, period, unit) unique index, one row per
(person, insurance, base) with the months as an integer bitmask built by the database (bit o =
the entity's first data month + o), so the Python side compares a few integers per employee and
insurance; the rare pairs with another unit or an unpaid/refunded month are read row by row.
Policy figures are read once per (city period, entity overrides) and calculator lines cached per
(period, insurance, base); rows are written with ``insert_rows`` / ``bulk_update`` / set-based
updates. The data window needs the first and last month per (entity, insurance): two ordered
single-row queries per insurance, which need an index on (entity, insurance, period) to stay a
probe each (without it an insurance the entity has no data for is a scan of all its rows).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from shebao.core.bulk import collector_paused
from shebao.law.models import Article
from shebao.ledger.models import ContributionRecord, Discrepancy, LedgerPerson
from shebao.ledger.reconciliation.engine import BASE_TOLERANCE, EXEMPT_TYPES, EntityScan, chunks, units_map
from shebao.ledger.reconciliation.months import MonthState, expected_months
from shebao.ledger.reconciliation.rows import ALL_CITATIONS, CITATIONS, RowBuilder, fingerprint
from shebao.ledger.reconciliation.store import store
from shebao.org.models import Entity
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import Employee, EmploymentSpell

__all__ = [
    "BASE_TOLERANCE",
    "CITATIONS",
    "EXEMPT_TYPES",
    "MonthState",
    "ReconcileResult",
    "discrepancies_recompute",
    "discrepancy_rows",
    "expected_months",
    "fingerprint",
]


@dataclass
class ReconcileResult:
    counts: dict[str, int] = field(default_factory=dict)  # kind → open rows found in this run's scope
    opened: int = 0  # new rows
    reopened: int = 0  # resolved rows found again
    updated: int = 0  # open rows whose content changed
    unchanged: int = 0
    resolved: int = 0
    entities: int = 0
    employees: int = 0
    people: int = 0  # ledger people nobody employs that were checked and found
    incremental: bool = False
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def found(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"found": self.found}

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _ids(values: Iterable[int] | None) -> set[int]:
    return {int(v) for v in values or ()}


def _incremental_scope(
    entity: Entity | None, employee_ids: Iterable[int] | None, person_ids: Iterable[int] | None
) -> tuple[set[int], set[int], set[int], set[int]]:
    """(employees, their ledger people + the given people, people nobody employs, entities)."""
    employees = _ids(employee_ids)
    people = _ids(person_ids)
    unknown: set[int] = set()
    for chunk in chunks(sorted(people)):
        for pid, eid in LedgerPerson.objects.filter(pk__in=chunk).order_by().values_list("id", "employee_id"):
            if eid is None:
                unknown.add(pid)
            else:
                employees.add(eid)
    all_people = set(people)
    for chunk in chunks(sorted(employees)):
        all_people.update(
            LedgerPerson.objects.filter(employee_id__in=chunk).order_by().values_list("id", flat=True)
        )
    if entity is not None:
        return employees, all_people, unknown, {entity.pk}
    entities: set[int] = set()
    for chunk in chunks(sorted(employees)):
        entities.update(
            EmploymentSpell.objects.filter(employee_id__in=chunk)
            .order_by()
            .values_list("entity_id", flat=True)
        )
    for chunk in chunks(sorted(unknown)):
        entities.update(
            ContributionRecord.objects.filter(person_id__in=chunk)
            .values_list("entity_id", flat=True)
            .distinct()
        )
    open_rows = Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).order_by()
    for chunk in chunks(sorted(employees)):
        entities.update(
            open_rows.filter(employee_id__in=chunk).values_list("entity_id", flat=True).distinct()
        )
    for chunk in chunks(sorted(all_people)):
        entities.update(open_rows.filter(person_id__in=chunk).values_list("entity_id", flat=True).distinct())
    return employees, all_people, unknown, entities


def _scan_notes(result: ReconcileResult, scan: EntityScan) -> None:
    name = scan.entity.name
    for note in scan.notes:
        result._note(note)
    if any(
        s.hire_cutoff.get("day") is None or (s.leave and (s.leave_cutoff or {}).get("day") is None)
        for case in scan.cases.values()
        for s in case.spells
    ):
        result._note(f"{name}：增减员截止日未设置：入职、离职当月按“可缴可不缴”处理")
    for label, ins, which in sorted(scan.missing_bounds):
        what = "下限" if which == "base_min" else "上限"
        check = "低于下限" if which == "base_min" else "高于上限"
        result._note(
            f"{label} {INSURANCE_LABELS[Insurance(ins)]}缴费基数{what}未收录：未检查缴费基数是否{check}（不作为差异）"
        )
    if scan.no_wage:
        result._note(
            f"{name}：{scan.no_wage} 名员工未填写申报工资：未核对缴费基数是否与工资相符，未缴月份的金额无法测算"
        )
    if scan.before_hire:
        result._note(f"{name}：有 {scan.before_hire} 条本单位缴费记录早于入职月份，未作判断")


def discrepancies_recompute(
    *,
    entity: Entity | None = None,
    employee_ids: Iterable[int] | None = None,
    person_ids: Iterable[int] | None = None,
    today: dt.date | None = None,
    entity_ids: Iterable[int] | None = None,
) -> ReconcileResult:
    """Recompute discrepancies: every entity (or ``entity``, or the entities ``entity_ids``) in
    full, or only the given employees and ledger people (incremental, after a sync). See the
    module docstring for the rules.

    Explanations are stored text, so they are written in the product's language (Simplified
    Chinese) whatever language the request or command runs in."""
    with translation.override(settings.LANGUAGE_CODE), collector_paused():
        return _recompute(
            entity=entity,
            employee_ids=employee_ids,
            person_ids=person_ids,
            today=today,
            entity_ids=entity_ids,
        )


def _recompute(
    *,
    entity: Entity | None = None,
    employee_ids: Iterable[int] | None = None,
    person_ids: Iterable[int] | None = None,
    today: dt.date | None = None,
    entity_ids: Iterable[int] | None = None,
) -> ReconcileResult:
    """Recompute discrepancies: every entity (``entity=None``) or one, in full — or only for the
    given employees and ledger people (incremental: what a sync touched). Rows of the scope not
    found again are resolved; nothing outside the scope changes."""
    started = time.perf_counter()
    today = today or timezone.localdate()
    now = timezone.now()
    incremental = employee_ids is not None or person_ids is not None
    result = ReconcileResult(incremental=incremental)
    if incremental:
        employees, people, unknown, entity_ids = _incremental_scope(entity, employee_ids, person_ids)
        if not employees and not people:
            result.elapsed_ms = (time.perf_counter() - started) * 1000
            return result
        entities = Entity.objects.filter(pk__in=sorted(entity_ids))
    else:
        employees = people = unknown = None
        entities = Entity.objects.filter(pk=entity.pk) if entity is not None else Entity.objects.all()
        if entity_ids is not None:
            entities = entities.filter(pk__in=list(entity_ids))
    units = units_map()
    citations = set(
        Article.objects.filter(citation_id__in=ALL_CITATIONS).values_list("citation_id", flat=True)
    )

    for ent in entities.select_related("city").order_by("code"):
        scan = EntityScan(ent, today=today, units=units)
        employee_list = scan.employees(employees)
        scan.run_employees(employee_list)
        found_people = scan.run_unknown(unknown if incremental else None)
        rows = RowBuilder(scan, citations=citations).build()
        with transaction.atomic():
            _lock_entity(ent.pk)
            counts = store(
                entity_id=ent.pk,
                rows=rows,
                employee_ids=employees,
                person_ids=people,
                now=now,
            )
        result.entities += 1
        result.employees += len(employee_list)
        result.people += len(found_people)
        for row in rows.values():
            result.counts[row["kind"]] = result.counts.get(row["kind"], 0) + 1
        for name in ("opened", "reopened", "updated", "unchanged", "resolved"):
            setattr(result, name, getattr(result, name) + getattr(counts, name))
        _scan_notes(result, scan)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


_LOCK_CLASS = 0x5EB0  # pg_advisory_xact_lock(class, entity): one namespace for discrepancy stores


def _lock_entity(entity_id: int) -> None:
    """Serialise stores of one entity's discrepancies (two syncs finishing at once must not both
    insert the same fingerprint). SQLite: transactions are IMMEDIATE, so the write lock already
    serialises them; PostgreSQL: a transaction-scoped advisory lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, entity_id])


def discrepancy_rows(
    *,
    entity: Entity | int | None = None,
    employee: Employee | int | None = None,
    kinds: Iterable[str] | None = None,
    status: str | None = Discrepancy.Status.OPEN,
) -> QuerySet[Discrepancy]:
    """Discrepancies for lists and exports (``status=None``: open and resolved)."""
    qs = Discrepancy.objects.select_related("entity", "employee", "person", "unit")
    if entity is not None:
        qs = qs.filter(entity_id=getattr(entity, "pk", entity))
    if employee is not None:
        qs = qs.filter(employee_id=getattr(employee, "pk", employee))
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    if status:
        qs = qs.filter(Q(status=status))
    return qs.order_by("entity_id", "kind", "period_from", "id")
