"""A tiny ledger for rule tests: our unit, another employer's unit, people and monthly records."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import ContributionRecord, EnrollmentStatus, LedgerPerson, LedgerUnit, SyncRun


def months(first: str, last: str | None = None) -> list[int]:
    a, b = YearMonth.parse(first), YearMonth.parse(last or first)
    return [int(m.compact) for m in YearMonth.range(a, b)]


class Book:
    def __init__(self, entity):
        self.entity = entity
        self.run = SyncRun.objects.create(entity=entity, source="cli", status="succeeded")
        self.ours = LedgerUnit.objects.create(
            key=f"no:{entity.code}", unit_no=entity.code, name=entity.name, entity=entity
        )
        self.other = LedgerUnit.objects.create(key=f"name:前雇主{entity.code}", name="前雇主有限公司")
        self._n = 0

    def person(self, employee=None, *, name: str = "", match: str = "id_number") -> LedgerPerson:
        self._n += 1
        if employee is None:
            return LedgerPerson.objects.create(
                key=f"acct:{self.entity.code}:{self._n}", name=name or "陌生人", first_entity=self.entity
            )
        return LedgerPerson.objects.create(
            key=employee.id_number_bidx if match == "id_number" else f"acct:x{self._n}",
            id_number_bidx=employee.id_number_bidx if match == "id_number" else "",
            name=employee.name,
            employee=employee,
            match=match,
            first_entity=self.entity,
        )

    def pay(self, person, insurance: str, periods: list[int], *, unit=None, base="10000", status="paid",
            employer="100.00", employee="50.00") -> None:  # fmt: skip
        ContributionRecord.objects.bulk_create(
            ContributionRecord(
                person=person,
                insurance=insurance,
                period=p,
                unit=unit or self.ours,
                entity=self.entity,
                base=base,
                employer_due=employer,
                employee_due=employee,
                status=status,
                evidence="paid",
                first_run=self.run,
                last_run=self.run,
            )
            for p in periods
        )

    def status(self, person, insurance: str, *, unit=None, state="active", since=None, reported=None):
        return EnrollmentStatus.objects.create(
            person=person,
            insurance=insurance,
            unit=unit or self.ours,
            entity=self.entity,
            state=state,
            since=since,
            reported_at=timezone.make_aware(dt.datetime.combine(reported or dt.date(2025, 6, 1), dt.time(9))),
            run=self.run,
        )


# --- shared helpers for the kind and lifecycle tests ----------------------------------------------


def system():
    from shebao.core.context import Actor

    return Actor.system(via="test")


def evaluate(day: dt.date, kind: str | None = None, **kw):
    """Evaluate the enabled rules (of ``kind``) as of ``day``."""
    from shebao.rules.services import findings_evaluate

    return findings_evaluate(actor=system(), as_of=day, kinds=[kind] if kind else None, **kw)


def found(kind: str, *, status: str | None = "active", **filters):
    """Findings of a kind (default: not resolved), oldest first."""
    from shebao.rules.models import Finding

    qs = Finding.objects.filter(kind=kind, **filters)
    if status == "active":
        qs = qs.exclude(status=Finding.Status.RESOLVED)
    elif status:
        qs = qs.filter(status=status)
    return list(qs.order_by("id"))


def make_rule(kind: str, **kw):
    from shebao.rules.services import rule_create

    return rule_create(actor=system(), kind=kind, **kw)


def only_rule(kind: str, **kw):
    """Disable the default rule of ``kind`` and create one with these settings."""
    from shebao.rules.models import AlertRule

    AlertRule.objects.filter(kind=kind).update(enabled=False)
    return make_rule(kind, **kw)


def cutoff(entity, day: int | None) -> None:
    from shebao.policy.models import EntityPolicySetting

    EntityPolicySetting.objects.update_or_create(entity=entity, defaults={"cutoff_day": day})


def reconcile(today: dt.date, **kw):
    from shebao.ledger.reconcile import discrepancies_recompute

    return discrepancies_recompute(today=today, **kw)
