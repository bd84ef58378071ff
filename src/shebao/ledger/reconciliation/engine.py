"""The scan: spells, ledger rows and enrolment states per entity, in chunks of people, judged
month by month into findings (see ``shebao.ledger.reconcile`` for the rules).

Months are bits of a Python int: bit ``o`` is the month ``base_mi + o``, where ``base_mi`` is the
first month of data the ledger holds for the entity and the top bit the current month (nothing
outside is judged). The database builds each (person, insurance, base) group's mask in SQL, so
the Python side works on a few integers per employee and insurance, not on 36 rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from shebao.ledger.models import ContributionRecord, Discrepancy, EnrollmentStatus, LedgerPerson, LedgerUnit
from shebao.ledger.reconciliation.months import month_runs, spell_months, yyyymm_of
from shebao.ledger.reconciliation.policy import CORE_INSURANCES, Bounds, EntityPolicy
from shebao.org.models import Entity
from shebao.roster.models import EmploymentSpell, EmploymentType

K = Discrepancy.Kind
S = ContributionRecord.Status

# A recorded base differing from the declared wage (clamped to the bounds) by more than this is
# a base_mismatch; the wage is declared in yuan and bases are often rounded to the yuan.
BASE_TOLERANCE = Decimal("1")
_TOL = float(BASE_TOLERANCE)
_EPS = 0.005  # float comparison of two-decimal amounts

# Not expected to be covered (our assumption, see the module docstring of shebao.ledger.reconcile).
EXEMPT_TYPES = frozenset({EmploymentType.INTERN.value, EmploymentType.RETIREE_REHIRE.value})
_UNPAID = frozenset({S.UNPAID.value, S.ARREARS.value})
_NOT_COVERING = frozenset({S.REFUNDED.value})  # a refunded month is not covered
_SPECIAL = _UNPAID | _NOT_COVERING
_CORE = tuple(i.value for i in CORE_INSURANCES)

EMPLOYEE_CHUNK = 1000
IN_CHUNK = 900
WORD = 56  # months per SQL-built mask word (64-bit integers; SUM headroom for duplicates)
NO_DATA_MONTHS = 60  # the window judged for enrolment states when the entity has no ledger rows


def chunks(items: Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bits(mask: int) -> Iterator[int]:
    """The set bits of a mask, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass
class Finding:
    """One discrepancy before it is worded and priced."""

    kind: str
    employee_id: int | None
    person_id: int | None
    insurance: str
    unit_id: int | None
    months: list[int]  # yyyymm, sorted
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class SpellInfo:
    spell_id: int
    hire: dt.date
    leave: dt.date | None
    employment_type: str
    wage: Decimal | None
    hire_cutoff: dict[str, Any]
    leave_cutoff: dict[str, Any] | None
    first_mi: int
    last_mi: int  # last covered-or-optional month (an open spell: the current month)
    mask: int = 0  # the spell's months (expected or optional) inside the judged range


@dataclass
class EmployeeCase:
    """Everything judged about one employee at one entity."""

    employee_id: int
    spells: list[SpellInfo]
    persons: list[tuple[int, str]]  # (person id, match), best match first
    expected: int  # month masks
    optional: int
    first_mi: int

    @property
    def person_id(self) -> int | None:
        return self.persons[0][0] if self.persons else None

    @property
    def allowed(self) -> int:
        return self.expected | self.optional

    def spell_at(self, yyyymm: int) -> SpellInfo:
        """The spell a month belongs to (or the latest one before it, for months after leaving)."""
        mi = (yyyymm // 100) * 12 + yyyymm % 100 - 1
        best = self.spells[0]
        for spell in self.spells:
            if spell.first_mi <= mi:
                best = spell
        return best

    def wage_at(self, yyyymm: int) -> Decimal | None:
        return self.spell_at(yyyymm).wage


@dataclass
class Segment:
    """Months sharing one policy period (and entity-override state)."""

    mask: int
    key: tuple[int, bool] | None
    first_mi: int
    bounds: dict[str, Bounds] = field(default_factory=dict)


class EntityScan:
    """One entity's reconciliation: the data window, the employees, the people nobody employs."""

    def __init__(self, entity: Entity, *, today: dt.date, units: dict[int, tuple[int | None, str]]) -> None:
        self.entity = entity
        self.policy = EntityPolicy(entity)
        self.today = today
        self.current_mi = today.year * 12 + today.month - 1
        self.units = units
        self.our_units = frozenset(u for u, (e, _) in units.items() if e == entity.pk)
        self.notes: list[str] = []
        self.findings: list[Finding] = []
        self.cases: dict[int, EmployeeCase] = {}
        self.data = data_bounds(entity.pk)  # insurance → (first yyyymm, last yyyymm)
        if self.data:
            first = min(v[0] for v in self.data.values())
            self.base_mi = min((first // 100) * 12 + first % 100 - 1, self.current_mi + 1)
        else:
            self.base_mi = self.current_mi - NO_DATA_MONTHS + 1
        self.top = self.current_mi - self.base_mi  # offset of the current month (-1: nothing judged)
        self.words = max(1, -(-(self.top + 1) // WORD))
        self.window: dict[str, int] = {}
        self.unlisted: dict[str, int] = {}
        self.segments: list[Segment] = []
        self.missing_bounds: set[tuple[str, str, str]] = set()  # (period label, insurance, which)
        self.no_wage = 0
        self.before_hire = 0
        self._prepare()

    # --- months ----------------------------------------------------------------------------------

    def span(self, first_mi: int, last_mi: int) -> int:
        """The mask of the months first..last (month indexes), clipped to the judged range."""
        lo = max(first_mi, self.base_mi) - self.base_mi
        hi = min(last_mi, self.current_mi) - self.base_mi
        return ((1 << (hi - lo + 1)) - 1) << lo if hi >= lo else 0

    def bit(self, mi: int) -> int:
        o = mi - self.base_mi
        return 1 << o if 0 <= o <= self.top else 0

    def yyyymm(self, offset: int) -> int:
        return yyyymm_of(self.base_mi + offset)

    def months(self, mask: int) -> list[int]:
        return [yyyymm_of(self.base_mi + o) for o in bits(mask)]

    def runs(self, mask: int) -> list[list[int]]:
        return month_runs(self.months(mask))

    def _prepare(self) -> None:
        name = self.entity.name
        ins_labels = dict(ContributionRecord._meta.get_field("insurance").choices)
        if not self.data:
            self.notes.append(f"{name}：台账中尚无本单位的缴费数据，未核对应缴月份")
        else:
            self.notes.append(
                f"{name}：台账最早月份为 {_ym(self.yyyymm(0))}，此前的月份不作判断；"
                f"晚于本月（{_ym(yyyymm_of(self.current_mi))}）的月份不作判断；各险种只判断到台账已有数据的最后月份"
            )
            absent = [i for i in _CORE if i not in self.data]
            if absent:
                self.notes.append(
                    f"{name}：台账中没有{'、'.join(str(ins_labels[i]) for i in absent)}的数据，不核对这些险种是否缴纳"
                )
        # Segments of one policy period over the judged range.
        keys = [self.policy.period_key(self.base_mi + o) for o in range(self.top + 1)]
        for o, key in enumerate(keys):
            if o and key == keys[o - 1]:
                self.segments[-1].mask |= 1 << o
            else:
                self.segments.append(Segment(1 << o, key, self.base_mi + o))
        uncovered = [o for o, key in enumerate(keys) if key is None]
        if uncovered and self.data:
            self.notes.append(
                f"{name}：{_ym(self.yyyymm(uncovered[0]))} 至 {_ym(self.yyyymm(uncovered[-1]))} 中有 {len(uncovered)} 个月"
                f"没有{self.policy.city_name}的政策期间：险种按台账所见判断，金额无法测算，基数不作核对"
            )
        for ins, (first, last) in self.data.items():
            self.window[ins] = self.span(
                (first // 100) * 12 + first % 100 - 1, (last // 100) * 12 + last % 100 - 1
            )
            unlisted = merged = 0
            for seg in self.segments:
                if seg.key is None:
                    continue
                if self.policy.merged(ins, seg.first_mi):
                    merged |= seg.mask
                elif not self.policy.listed(ins, seg.first_mi):
                    unlisted |= seg.mask
            self.unlisted[ins] = unlisted | merged
            if unlisted & self.window[ins]:
                labels = sorted({self.policy.label(s.key) for s in self.segments if s.mask & unlisted})
                self.notes.append(
                    f"{name}：{'、'.join(labels)}未收录{ins_labels[ins]}，这些月份不核对该险种是否缴纳"
                )
            if merged & self.window[ins]:
                self.notes.append(f"{name}：{ins_labels[ins]}已并入其他险种的月份，不单独核对是否缴纳")

    def bounds(self, segment: Segment, insurance: str) -> Bounds:
        try:
            return segment.bounds[insurance]
        except KeyError:
            value = segment.bounds[insurance] = self.policy.bounds(insurance, segment.first_mi)
            return value

    def bounds_at(self, insurance: str, yyyymm: int) -> Bounds:
        return self.policy.bounds(insurance, (yyyymm // 100) * 12 + yyyymm % 100 - 1)

    # --- employees -------------------------------------------------------------------------------

    def employees(self, employee_ids: set[int] | None) -> list[int]:
        """The employees with a spell here: all of them, or those of ``employee_ids``."""
        qs = EmploymentSpell.objects.filter(entity_id=self.entity.pk).order_by()
        if employee_ids is None:
            return sorted(set(qs.values_list("employee_id", flat=True)))
        found: set[int] = set()
        for chunk in chunks(sorted(employee_ids)):
            found.update(qs.filter(employee_id__in=chunk).values_list("employee_id", flat=True))
        return sorted(found)

    def run_employees(self, employee_ids: list[int]) -> None:
        for chunk in chunks(employee_ids, EMPLOYEE_CHUNK):
            self._chunk(chunk)

    def _case(self, employee_id: int, spells: list[tuple], persons: list[tuple[int, str]]) -> EmployeeCase:
        infos = []
        expected = optional = 0
        for spell_id, hire, leave, etype, wage in spells:
            d_hire, hire_src = self.policy.cutoff(hire.year * 12 + hire.month - 1)
            d_leave, leave_src = (None, None)
            if leave is not None:
                d_leave, leave_src = self.policy.cutoff(leave.year * 12 + leave.month - 1)
            plan = spell_months(
                hire,
                leave,
                hire_cutoff=d_hire,
                leave_cutoff=d_leave,
                horizon_mi=self.current_mi,
                exempt=etype in EXEMPT_TYPES,
            )
            mask = self.span(plan.first, plan.last)
            opt = 0
            for mi in plan.optional:
                opt |= self.bit(mi)
            opt &= mask
            expected |= mask & ~opt
            optional |= opt
            infos.append(
                SpellInfo(
                    spell_id, hire, leave, etype, wage, hire_src, leave_src, plan.first, plan.last, mask
                )
            )
        infos.sort(key=lambda s: (s.hire, s.spell_id))
        return EmployeeCase(
            employee_id=employee_id,
            spells=infos,
            persons=persons,
            expected=expected,
            optional=optional & ~expected,
            first_mi=min(s.first_mi for s in infos),
        )

    def _chunk(self, employee_ids: list[int]) -> None:
        q = connection.ops.quote_name
        marks = ", ".join(["%s"] * len(employee_ids))
        spells: dict[int, list[tuple]] = defaultdict(list)
        persons: dict[int, list[tuple[int, str]]] = defaultdict(list)
        person_employee: dict[int, int] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT employee_id, id, hire_date, leave_date, employment_type, declared_wage "
                f"FROM {q(EmploymentSpell._meta.db_table)} WHERE entity_id = %s AND employee_id IN ({marks}) "
                "ORDER BY employee_id, hire_date, id",
                [self.entity.pk, *employee_ids],
            )
            for eid, sid, hire, leave, etype, wage in cursor.fetchall():
                spells[eid].append((sid, _date(hire), _date(leave), etype, _decimal(wage)))
            cursor.execute(
                f"SELECT id, employee_id, {q('match')} FROM {q(LedgerPerson._meta.db_table)} "
                f"WHERE employee_id IN ({marks})",
                employee_ids,
            )
            for pid, eid, match in cursor.fetchall():
                persons[eid].append((pid, match))
                person_employee[pid] = eid
        for plist in persons.values():
            plist.sort(key=lambda p: (p[1] != LedgerPerson.Match.ID_NUMBER, p[0]))

        groups, raw = self._ledger(person_employee)
        statuses: dict[int, list[tuple]] = defaultdict(list)
        for pchunk in chunks(sorted(person_employee), IN_CHUNK):
            for row in (
                EnrollmentStatus.objects.filter(person_id__in=pchunk, state=EnrollmentStatus.State.ACTIVE)
                .order_by()
                .values_list("person_id", "insurance", "unit_id", "reported_at", "since")
            ):
                statuses[person_employee[row[0]]].append(row)

        by_employee: dict[int, set[str]] = defaultdict(set)
        for eid, ins in groups:
            by_employee[eid].add(ins)
        for eid, ins in raw:
            by_employee[eid].add(ins)
        expected_insurances = {i for i in self.data if i in _CORE}
        for eid in employee_ids:
            if eid not in spells:
                continue
            case = self._case(eid, spells[eid], persons.get(eid, []))
            self.cases[eid] = case
            if any(s.wage is None for s in case.spells):
                self.no_wage += 1
            for ins in sorted(by_employee.get(eid, set()) | expected_insurances):
                self._judge(case, ins, groups.get((eid, ins), ()), raw.get((eid, ins), ()))
            if statuses.get(eid):
                self._judge_statuses(case, statuses[eid])

    def _ledger(self, person_employee: dict[int, int]) -> tuple[dict, dict]:
        """The people's ledger rows inside the judged range, from every source: per (employee,
        insurance) the groups of months paid by ONE of our units with one base and a covering
        status — (person, unit, base, month mask) from one aggregate query, the mask built by the
        database — and, for the rare pairs with another unit or an unpaid/refunded month, the
        raw rows (person, insurance, period, unit, status, base)."""
        groups: dict[tuple[int, str], list[tuple]] = defaultdict(list)
        raw: dict[tuple[int, str], list[tuple]] = defaultdict(list)
        if self.top < 0 or not person_employee:
            return groups, raw
        table = connection.ops.quote_name(ContributionRecord._meta.db_table)
        agg = "BIT_OR" if connection.vendor == "postgresql" else "SUM"  # distinct bits: SUM is OR
        words = ", ".join(
            f"{agg}(CASE WHEN o >= {k * WORD} AND o < {(k + 1) * WORD} "
            f"THEN CAST(1 AS BIGINT) << (o - {k * WORD}) ELSE 0 END)"
            for k in range(self.words)
        )
        special = sorted(_SPECIAL)
        first, last = yyyymm_of(self.base_mi), yyyymm_of(self.current_mi)
        our_units = self.our_units
        with connection.cursor() as cursor:
            for pchunk in chunks(sorted(person_employee), IN_CHUNK):
                marks = ", ".join(["%s"] * len(pchunk))
                cursor.execute(
                    "SELECT person_id, insurance, CAST(base AS DOUBLE PRECISION), MIN(unit_id), MAX(unit_id), "
                    f"SUM(CASE WHEN status IN ({', '.join(['%s'] * len(special))}) THEN 1 ELSE 0 END), {words} "
                    "FROM (SELECT person_id, insurance, base, unit_id, status, "
                    "(period / 100) * 12 + period %% 100 - 1 - %s AS o "
                    f"FROM {table} WHERE person_id IN ({marks}) AND period BETWEEN %s AND %s) r "
                    "GROUP BY person_id, insurance, base",
                    [*special, self.base_mi, *pchunk, first, last],
                )
                rows = cursor.fetchall()
                flagged = {(r[0], r[1]) for r in rows if r[5] or r[3] != r[4] or r[3] not in our_units}
                for row in rows:
                    if (row[0], row[1]) in flagged:
                        continue
                    mask = int(row[6])
                    for k in range(1, self.words):
                        mask |= int(row[6 + k]) << (k * WORD)
                    groups[(person_employee[row[0]], row[1])].append((row[0], row[3], row[2], mask))
                if flagged:
                    pids = sorted({pid for pid, _ in flagged})
                    cursor.execute(
                        "SELECT person_id, insurance, period, unit_id, status, CAST(base AS DOUBLE PRECISION) "
                        f"FROM {table} WHERE person_id IN ({', '.join(['%s'] * len(pids))}) "
                        "AND period BETWEEN %s AND %s",
                        [*pids, first, last],
                    )
                    for row in cursor.fetchall():
                        if (row[0], row[1]) in flagged:
                            raw[(person_employee[row[0]], row[1])].append(row)
        return groups, raw

    # --- judging ---------------------------------------------------------------------------------

    def _judge(
        self, case: EmployeeCase, ins: str, our_groups: Iterable[tuple], raw_rows: Iterable[tuple]
    ) -> None:
        """One employee × insurance. ``our_groups``: (person, our unit, base, mask) with a covering
        status; ``raw_rows``: every row of the pairs that have anything else."""
        groups = list(our_groups)
        others: dict[int, list[tuple]] = {}  # unit → (person, period, unit)
        other_masks: dict[int, int] = {}
        unpaid: list[tuple] = []
        if raw_rows:
            our_units = self.our_units
            by_key: dict[tuple, int] = {}
            for pid, _ins, period, unit, status, base in raw_rows:
                if status in _NOT_COVERING:
                    continue
                bit = self.bit((period // 100) * 12 + period % 100 - 1)
                if unit in our_units:
                    by_key[(pid, unit, base)] = by_key.get((pid, unit, base), 0) | bit
                    if status in _UNPAID:
                        unpaid.append((pid, period, unit))
                else:
                    others.setdefault(unit, []).append((pid, period, unit))
                    other_masks[unit] = other_masks.get(unit, 0) | bit
            groups.extend((pid, unit, base, mask) for (pid, unit, base), mask in by_key.items())
        ours = 0
        for g in groups:
            ours |= g[3]

        expected = case.expected
        # not_enrolled: expected months inside the data window of this insurance, not covered by us.
        if ins in self.window:
            missing = expected & self.window[ins] & ~self.unlisted[ins] & ~ours
            if missing:
                other_all = 0
                for m in other_masks.values():
                    other_all |= m
                for run in self.runs(missing):
                    runset = set(run)
                    self.findings.append(
                        Finding(
                            K.NOT_ENROLLED,
                            case.employee_id,
                            case.person_id,
                            ins,
                            None,
                            run,
                            {"other_unit_months": [m for m in self.months(other_all) if m in runset]},
                        )
                    )
        # other_unit: expected months paid by a unit that is not ours.
        for unit_id, mask in other_masks.items():
            hit = mask & expected
            if hit:
                months = set(self.months(hit))
                self._runs(K.OTHER_UNIT, case, ins, unit_id, [r for r in others[unit_id] if r[1] in months])
        # after_leaving: our months after an expected/optional month, outside every spell.
        allowed = case.allowed
        first_o = case.first_mi - self.base_mi
        after = ~((1 << (first_o + 1)) - 1) if first_o >= 0 else -1  # months after the first spell began
        stray: dict[int, list[tuple]] = {}
        for pid, unit, _base, mask in groups:
            outside = mask & ~allowed
            if outside:
                self.before_hire += (outside & ~after).bit_count()
                for m in self.months(outside & after):
                    stray.setdefault(unit, []).append((pid, m, unit))
        for unit_id, urows in stray.items():
            self._runs(K.AFTER_LEAVING, case, ins, unit_id, urows)
        # unpaid / arrears by us.
        if unpaid:
            by_unit: dict[int, list[tuple]] = {}
            for r in unpaid:
                by_unit.setdefault(r[2], []).append(r)
            for unit_id, urows in by_unit.items():
                self._runs(K.UNPAID, case, ins, unit_id, urows)
        if ins in _CORE and groups:
            self._check_bases(case, ins, groups, allowed)

    def _runs(self, kind: str, case: EmployeeCase, ins: str, unit_id: int, records: list[tuple]) -> None:
        """Findings of one kind and unit, one per run of consecutive months; ``records`` are
        (person, period, unit)."""
        if not records:
            return
        for run in month_runs({r[1] for r in records}):
            keyset = set(run)
            self.findings.append(
                Finding(
                    kind,
                    case.employee_id,
                    records[0][0],
                    ins,
                    unit_id,
                    run,
                    {"records": [r for r in records if r[1] in keyset]},
                )
            )

    def _check_bases(self, case: EmployeeCase, ins: str, groups: list[tuple], allowed: int) -> None:
        """Recorded bases against the bounds of each month's policy period, then against the
        declared wage clamped to them."""
        # (kind, unit, direction) → [(mask, person, base, target, bounds)]
        found: dict[tuple[str, int, str], list[tuple]] = {}
        single = len(case.spells) == 1
        for pid, unit, base, mask in groups:
            if base is None:
                continue
            checked = mask & allowed
            if not checked:
                continue
            for seg in self.segments:
                part = checked & seg.mask
                if not part or seg.key is None:
                    continue
                bd = seg.bounds.get(ins) or self.bounds(seg, ins)
                lo, hi = bd.lo, bd.hi
                if lo is not None and base < lo - _EPS:
                    found.setdefault((K.BASE_BELOW_MIN, unit, "low"), []).append((part, pid, base, lo, bd))
                    continue
                if hi is not None and base > hi + _EPS:
                    found.setdefault((K.BASE_ABOVE_MAX, unit, "high"), []).append((part, pid, base, hi, bd))
                    continue
                if lo is None:
                    self.missing_bounds.add((bd.label, ins, "base_min"))
                if hi is None:
                    self.missing_bounds.add((bd.label, ins, "base_max"))
                wages = (
                    [(case.spells[0].wage, part)]
                    if single
                    else [(s.wage, part & s.mask) for s in case.spells]
                )
                for wage, wmask in wages:
                    if wage is None or not wmask:
                        continue
                    target = float(wage)
                    if lo is not None and target < lo:
                        target = lo
                    elif hi is not None and target > hi:
                        target = hi
                    if abs(base - target) > _TOL + _EPS:
                        direction = "low" if base < target else "high"
                        found.setdefault((K.BASE_MISMATCH, unit, direction), []).append(
                            (wmask, pid, base, target, bd)
                        )
        for (kind, unit_id, direction), entries in found.items():
            per_month: dict[int, tuple] = {}
            for mask, pid, base, target, bd in entries:
                for m in self.months(mask):
                    per_month[m] = (pid, base, target, bd)
            for run in month_runs(per_month):
                self.findings.append(
                    Finding(
                        kind,
                        case.employee_id,
                        per_month[run[0]][0],
                        ins,
                        unit_id,
                        run,
                        {"direction": direction, "per_month": {m: per_month[m] for m in run}},
                    )
                )

    def _judge_statuses(self, case: EmployeeCase, statuses: list[tuple]) -> None:
        """Enrolment states reported ACTIVE: another unit while we should cover the person, or our
        unit after the person left."""
        allowed = case.allowed
        last = case.spells[-1]
        for pid, ins, unit_id, reported_at, since in statuses:
            if ins not in _CORE:
                continue
            as_of = (
                timezone.localtime(reported_at).date()
                if timezone.is_aware(reported_at)
                else reported_at.date()
            )
            mi = as_of.year * 12 + as_of.month - 1
            bit = self.bit(mi)
            if not bit:
                continue  # outside the judged range
            facts = {"status": {"as_of": as_of, "since": since}, "status_only": True}
            if unit_id in self.our_units:
                # Still ACTIVE with us after the month boundary that follows the last spell's end.
                if last.leave is None or mi <= last.last_mi or bit & allowed:
                    continue
                self.findings.append(
                    Finding(
                        K.AFTER_LEAVING,
                        case.employee_id,
                        pid,
                        ins,
                        unit_id,
                        [yyyymm_of(last.last_mi + 1)],
                        facts,
                    )
                )
            elif bit & case.expected:
                # Another unit ACTIVE on a day of a month we must cover. The row is keyed on the
                # spell's first expected month, not on the report date, so a monthly re-report
                # updates it instead of opening a new one.
                spell = case.spell_at(yyyymm_of(mi))
                from_spell = case.expected & spell.mask
                low = from_spell & -from_spell
                first_expected = self.yyyymm(low.bit_length() - 1) if low else yyyymm_of(mi)
                self.findings.append(
                    Finding(K.OTHER_UNIT, case.employee_id, pid, ins, unit_id, [first_expected], facts)
                )

    # --- people nobody employs -------------------------------------------------------------------

    def run_unknown(self, person_ids: Iterable[int] | None) -> list[int]:
        """unknown_person findings for ledger people with records in this entity's data and no
        employee."""
        qs = LedgerPerson.objects.filter(employee__isnull=True)
        if person_ids is not None:
            ids: list[int] = []
            for chunk in chunks(sorted(set(person_ids))):
                ids.extend(qs.filter(pk__in=chunk).order_by().values_list("id", flat=True))
        else:
            ids = list(qs.order_by().values_list("id", flat=True))
        found = []
        for chunk in chunks(sorted(ids)):
            per: dict[int, dict[str, Any]] = {}
            for pid, unit_id, ins, period in (
                ContributionRecord.objects.filter(entity_id=self.entity.pk, person_id__in=chunk)
                .exclude(status=S.REFUNDED)
                .order_by()
                .values_list("person_id", "unit_id", "insurance", "period")
            ):
                item = per.setdefault(pid, {"months": set(), "units": set(), "insurances": set()})
                item["months"].add(period)
                item["units"].add(unit_id)
                item["insurances"].add(ins)
            for pid, item in per.items():
                self.findings.append(
                    Finding(
                        K.UNKNOWN_PERSON,
                        None,
                        pid,
                        "",
                        None,
                        sorted(item["months"]),
                        {"units": sorted(item["units"]), "insurances": sorted(item["insurances"])},
                    )
                )
                found.append(pid)
        return found


def data_bounds(entity_id: int) -> dict[str, tuple[int, int]]:
    """insurance → (first, last) yyyymm of the ledger data held for the entity.

    Two single-row look-ups per insurance, ordered on the period: with an index on
    (entity, insurance, period) each is one index probe."""
    table = connection.ops.quote_name(ContributionRecord._meta.db_table)
    out: dict[str, tuple[int, int]] = {}
    with connection.cursor() as cursor:
        for ins in _CORE:
            cursor.execute(
                f"SELECT period FROM {table} WHERE entity_id = %s AND insurance = %s ORDER BY period LIMIT 1",
                [entity_id, ins],
            )
            row = cursor.fetchone()
            if row is None:
                continue
            cursor.execute(
                f"SELECT period FROM {table} WHERE entity_id = %s AND insurance = %s ORDER BY period DESC LIMIT 1",
                [entity_id, ins],
            )
            out[ins] = (row[0], cursor.fetchone()[0])
    return out


def units_map() -> dict[int, tuple[int | None, str]]:
    return {
        u: (e, name or no or key)
        for u, e, name, no, key in LedgerUnit.objects.order_by().values_list(
            "id", "entity_id", "name", "unit_no", "key"
        )
    }


def _ym(yyyymm: int) -> str:
    return f"{yyyymm // 100:04d}-{yyyymm % 100:02d}"
