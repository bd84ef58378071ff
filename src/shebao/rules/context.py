"""What one evaluation knows: the day it judges (``as_of``), which employees and ledger people it
is limited to (incremental evaluation), each rule's scope as queryset filters, and the data
window per entity and insurance (cached for the evaluation)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import ContributionRecord, EnrollmentStatus, LedgerPerson
from shebao.org.models import Department, Entity
from shebao.policy.terms import Insurance
from shebao.roster.models import EmploymentSpell, EmploymentType

# Not expected to be covered (the same assumption as reconciliation's: see shebao.ledger.reconcile).
EXEMPT_TYPES = (EmploymentType.INTERN.value, EmploymentType.RETIREE_REHIRE.value)
SOCIAL_INSURANCES = (
    Insurance.PENSION.value,
    Insurance.MEDICAL.value,
    Insurance.MATERNITY.value,
    Insurance.UNEMPLOYMENT.value,
    Insurance.WORK_INJURY.value,
)
HOUSING_FUND = Insurance.HOUSING_FUND.value
ALL_INSURANCES = tuple(i.value for i in Insurance)
# A month with one of these statuses is not covered: benefits stop while contributions are unpaid
# (e.g. 《上海市医疗保障条例》第十五条), and a refunded month was never covered.
NOT_COVERING = (
    ContributionRecord.Status.UNPAID.value,
    ContributionRecord.Status.ARREARS.value,
    ContributionRecord.Status.REFUNDED.value,
)


def ym_int(ym: YearMonth) -> int:
    return ym.year * 100 + ym.month


def ym_of(value: int) -> YearMonth:
    return YearMonth(value // 100, value % 100)


def month_ints(first: int, last: int) -> list[int]:
    """yyyymm months from ``first`` to ``last`` inclusive, in integer arithmetic (evaluation lists
    the months of thousands of findings; YearMonth objects cost ten times as much)."""
    out = []
    y, m = divmod(first, 100)
    while y * 100 + m <= last:
        out.append(y * 100 + m)
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


_YM_TEXT: dict[int, str] = {}


def ym_text(value: int | None) -> str:
    if value is not None:
        text = _YM_TEXT.get(value)
        if text is None:
            text = _YM_TEXT[value] = f"{value // 100:04d}-{value % 100:02d}"
        return text
    return ""


@dataclass(frozen=True)
class Scope:
    """A rule's scope: empty tuples mean everything."""

    entity_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()  # with their subtrees
    employment_types: tuple[str, ...] = ()

    @classmethod
    def of(cls, rule) -> Scope:
        return cls(
            tuple(sorted(e.pk for e in rule.entities.all())),
            tuple(sorted(d.pk for d in rule.departments.all())),
            tuple(rule.employment_types or ()),
        )

    @property
    def everything(self) -> bool:
        return not (self.entity_ids or self.department_ids or self.employment_types)

    def department_q(self, field: str) -> Q:
        paths = list(Department.objects.filter(pk__in=self.department_ids).values_list("path", flat=True))
        sub = Q()
        for path in paths:
            sub |= Q(path__startswith=path)
        return Q(**{f"{field}__in": Department.objects.filter(sub).values("id")})

    def spell_q(self) -> Q:
        """On EmploymentSpell."""
        q = Q()
        if self.entity_ids:
            q &= Q(entity_id__in=self.entity_ids)
        if self.department_ids:
            q &= self.department_q("department_id")
        if self.employment_types:
            q &= Q(employment_type__in=self.employment_types)
        return q

    def employee_q(self, prefix: str, entity_field: str) -> Q:
        """On a model with an employee FK (``prefix`` = "employee") and an entity field."""
        q = Q()
        if self.entity_ids:
            q &= Q(**{f"{entity_field}__in": self.entity_ids})
        if self.department_ids:
            q &= self.department_q(f"{prefix}__department_id")
        if self.employment_types:
            q &= Q(**{f"{prefix}__employment_type__in": self.employment_types})
        return q


@dataclass
class Context:
    as_of: dt.date
    employee_ids: frozenset[int] | None = None  # None: everyone (full evaluation)
    person_ids: frozenset[int] | None = None
    _horizons: dict[tuple[int, str], int | None] = field(default_factory=dict)
    _statuses: dict[tuple[int, str], bool] = field(default_factory=dict)
    _entities: dict[int, Entity] = field(default_factory=dict)
    # What the evaluation's rules read once and share (the kinds' own keys: e.g. the coverage
    # kinds' gap and registration reads and what ``RuleKind.prepare`` said the rules will read,
    # priced months). A Context lives for one evaluation, so nothing here outlives it.
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        return self.employee_ids is not None

    @property
    def month(self) -> int:
        return ym_int(YearMonth.of(self.as_of))

    def entity(self, pk: int) -> Entity:
        if pk not in self._entities:
            self._entities[pk] = Entity.objects.select_related("city").get(pk=pk)
        return self._entities[pk]

    # --- the data window -----------------------------------------------------------------------

    def _window(self, entity_id: int) -> None:
        """The entity's last month per insurance and whether it has status reports, in one query
        (a probe of the (entity, insurance, period) index per insurance)."""
        from django.db import connection

        records = ContributionRecord._meta.db_table
        statuses = EnrollmentStatus._meta.db_table
        parts, params = [], []
        for ins in ALL_INSURANCES:
            parts.append(f"(SELECT MAX(period) FROM {records} WHERE entity_id = %s AND insurance = %s)")
            parts.append(
                f"(CASE WHEN EXISTS (SELECT 1 FROM {statuses} WHERE entity_id = %s AND insurance = %s)"
                " THEN 1 ELSE 0 END)"
            )
            params += [entity_id, ins, entity_id, ins]
        with connection.cursor() as cur:
            cur.execute("SELECT " + ", ".join(parts), params)
            row = cur.fetchone()
        for n, ins in enumerate(ALL_INSURANCES):
            self._horizons[(entity_id, ins)] = row[2 * n]
            self._statuses[(entity_id, ins)] = bool(row[2 * n + 1])

    def horizon(self, entity_id: int, insurance: str) -> int | None:
        """The last month the entity's data holds for the insurance (yyyymm), or None."""
        key = (entity_id, insurance)
        if key not in self._horizons:
            self._window(entity_id)
        return self._horizons.get(key)

    def has_statuses(self, entity_id: int, insurance: str) -> bool:
        key = (entity_id, insurance)
        if key not in self._statuses:
            self._window(entity_id)
        return self._statuses.get(key, False)

    def side_horizon(self, entity_id: int, insurances: tuple[str, ...]) -> int | None:
        found = [h for i in insurances if (h := self.horizon(entity_id, i)) is not None]
        return max(found) if found else None

    def side_has_data(self, entity_id: int, insurances: tuple[str, ...]) -> bool:
        return self.side_horizon(entity_id, insurances) is not None or any(
            self.has_statuses(entity_id, i) for i in insurances
        )

    # --- who is judged -------------------------------------------------------------------------

    # Incremental evaluation (a few employees after a sync or an edit) reads the employees' recent
    # state once, in a handful of queries, so that a kind can skip its query when this *positive*
    # evidence already shows it cannot match (e.g. the employee is covered in the latest months).
    # A kind never concludes a match from it: when in doubt it runs its own query.

    def current_spell_rows(self) -> list[tuple] | None:
        """Incremental: (employee, entity, hire_date, employment_type) of the employees' current
        spells; None for a full evaluation."""
        if self.employee_ids is None:
            return None
        if "spells" not in self.cache:
            self.cache["spells"] = list(
                EmploymentSpell.objects.filter(
                    Q(leave_date__isnull=True) | Q(leave_date__gte=self.as_of),
                    employee_id__in=self.employee_ids,
                    hire_date__lte=self.as_of,
                ).values_list("employee_id", "entity_id", "hire_date", "employment_type")
            )
        return self.cache["spells"]

    def spell_entities(self) -> set[int] | None:
        rows = self.current_spell_rows()
        return None if rows is None else {r[1] for r in rows}

    RECENT_MONTHS = 4

    def recent_records(self) -> dict[tuple[int, int | None, str, bool], int]:
        """Incremental: (employee, entity of the paying unit or None, insurance, covering) → the
        latest month among the employees' records of the last ``RECENT_MONTHS`` months (refunded
        months left out)."""
        if "recent" not in self.cache:
            since = ym_int(YearMonth.of(self.as_of) - self.RECENT_MONTHS)
            out: dict[tuple[int, int | None, str, bool], int] = {}
            for emp, ent, ins, status, period in (
                ContributionRecord.objects.filter(
                    person__employee_id__in=self.employee_ids or (), period__gte=since
                )
                .exclude(status=ContributionRecord.Status.REFUNDED)
                .order_by()
                .values_list("person__employee_id", "unit__entity_id", "insurance", "status", "period")
            ):
                key = (emp, ent, ins, status not in NOT_COVERING)
                if period > out.get(key, 0):
                    out[key] = period
            self.cache["recent"] = out
        return self.cache["recent"]

    def covered_since(self, employee_id: int, insurance: str, month: int) -> bool:
        """Incremental, positive evidence only: a covering record (any unit) at ``month`` or later
        among the recent records."""
        return any(
            period >= month
            for (emp, _ent, ins, covering), period in self.recent_records().items()
            if emp == employee_id and ins == insurance and covering
        )

    def registered_since(
        self, employee_id: int, entity_id: int, insurances: tuple[str, ...], month: int
    ) -> bool:
        """Incremental, positive evidence only: a record by a unit of ``entity_id`` for one of the
        insurances at ``month`` or later among the recent records."""
        return any(
            period >= month
            for (emp, ent, ins, _covering), period in self.recent_records().items()
            if emp == employee_id and ent == entity_id and ins in insurances
        )

    def ledger_people(self) -> list[tuple[int, str]]:
        """Incremental: (employee, match) of the employees' ledger people."""
        if "people" not in self.cache:
            self.cache["people"] = list(
                LedgerPerson.objects.filter(employee_id__in=self.employee_ids or ()).values_list(
                    "employee_id", "match"
                )
            )
        return self.cache["people"]

    def active_status_units(self) -> set[tuple[int, int | None]]:
        """Incremental: (employee, entity of the unit or None) of ACTIVE status reports."""
        if "active_units" not in self.cache:
            self.cache["active_units"] = set(
                EnrollmentStatus.objects.filter(
                    person__employee_id__in=self.employee_ids or (), state=EnrollmentStatus.State.ACTIVE
                ).values_list("person__employee_id", "unit__entity_id")
            )
        return self.cache["active_units"]

    def discrepancy_kinds(self) -> set[str] | None:
        """Incremental: the kinds of the open discrepancies of the employees and people (one
        query per evaluation, so kinds with nothing to read skip their query); None when full."""
        if self.employee_ids is None:
            return None
        if "discrepancy_kinds" not in self.cache:
            from shebao.ledger.models import Discrepancy

            qs = self.limit(
                Discrepancy.objects.filter(status=Discrepancy.Status.OPEN),
                employee_field="employee_id",
                person_field="person_id",
            )
            self.cache["discrepancy_kinds"] = set(qs.order_by().values_list("kind", flat=True).distinct())
        return self.cache["discrepancy_kinds"]

    def current_spells(self, scope: Scope) -> QuerySet[EmploymentSpell]:
        """Spells the employee is in on ``as_of`` (the leaving day still counts), in scope."""
        qs = EmploymentSpell.objects.filter(
            Q(leave_date__isnull=True) | Q(leave_date__gte=self.as_of),
            scope.spell_q(),
            hire_date__lte=self.as_of,
        )
        if self.employee_ids is not None:
            qs = qs.filter(employee_id__in=self.employee_ids)
        return qs.order_by()

    def limit(self, qs: QuerySet, *, employee_field: str = "employee_id", person_field: str | None = None):
        """Limit a queryset to the evaluation's employees (and people), when incremental."""
        if self.employee_ids is None:
            return qs
        q = Q(**{f"{employee_field}__in": self.employee_ids})
        if person_field and self.person_ids:
            q |= Q(**{f"{person_field}__in": self.person_ids})
        return qs.filter(q)


def money_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("0.01")), "f")
