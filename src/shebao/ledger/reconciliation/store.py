"""Write computed rows: insert the new, update the changed (reopening the resolved), touch the
unchanged, resolve the open rows of the scope that were not found again. Bulk statements only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from shebao.core.bulk import insert_rows
from shebao.ledger.models import Discrepancy
from shebao.ledger.reconciliation.engine import chunks

OPEN = Discrepancy.Status.OPEN
RESOLVED = Discrepancy.Status.RESOLVED

# Compared to decide whether a found row changed.
CONTENT = (
    "person_id",
    "employee_id",
    "insurance",
    "period_to",
    "months",
    "unit_id",
    "amount",
    "detail",
    "citations",
    "explanation",
)
UPDATE_FIELDS = [
    "person",
    "employee",
    "insurance",
    "period_from",
    "period_to",
    "months",
    "unit",
    "amount",
    "detail",
    "citations",
    "explanation",
    "status",
    "last_seen_at",
    "resolved_at",
]


@dataclass
class StoreCounts:
    opened: int = 0
    reopened: int = 0
    updated: int = 0
    unchanged: int = 0
    resolved: int = 0


def store(
    *,
    entity_id: int,
    rows: dict[str, dict[str, Any]],
    employee_ids: set[int] | None,
    person_ids: set[int] | None,
    now: dt.datetime,
) -> StoreCounts:
    """``employee_ids``/``person_ids`` None: the whole entity is in scope (full recompute);
    otherwise only the open rows of those employees/people may be resolved."""
    counts = StoreCounts()
    existing: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(rows)):
        for item in (
            Discrepancy.objects.filter(fingerprint__in=chunk)
            .order_by()
            .values("id", "fingerprint", "status", *CONTENT)
        ):
            existing[item["fingerprint"]] = item

    inserts = []
    changed: list[Discrepancy] = []
    touched: list[int] = []
    for fp, row in rows.items():
        old = existing.get(fp)
        if old is None:
            inserts.append({**row, "status": OPEN, "last_seen_at": now, "first_seen_at": now})
            continue
        same = old["status"] == OPEN and all(old[f] == row[f] for f in CONTENT)
        if same:
            touched.append(old["id"])
            continue
        if old["status"] != OPEN:
            counts.reopened += 1
        else:
            counts.updated += 1
        changed.append(
            Discrepancy(
                id=old["id"],
                person_id=row["person_id"],
                employee_id=row["employee_id"],
                insurance=row["insurance"],
                period_from=row["period_from"],
                period_to=row["period_to"],
                months=row["months"],
                unit_id=row["unit_id"],
                amount=row["amount"],
                detail=row["detail"],
                citations=row["citations"],
                explanation=row["explanation"],
                status=OPEN,
                last_seen_at=now,
                resolved_at=None,
            )
        )
    if inserts:
        counts.opened = insert_rows(Discrepancy, inserts)
    if changed:
        Discrepancy.objects.bulk_update(changed, UPDATE_FIELDS, batch_size=500)
    for chunk in chunks(touched):
        Discrepancy.objects.filter(pk__in=chunk).update(last_seen_at=now)
    counts.unchanged = len(touched)

    # Resolve what was open in scope and is no longer found.
    scope = Discrepancy.objects.filter(entity_id=entity_id, status=OPEN).order_by()
    stale: list[int] = []
    if employee_ids is None and person_ids is None:
        candidates = scope.values_list("id", "fingerprint")
        stale = [pk for pk, fp in candidates if fp not in rows]
    else:
        seen: set[int] = set()
        for ids, column in (
            (sorted(employee_ids or ()), "employee_id"),
            (sorted(person_ids or ()), "person_id"),
        ):
            for chunk in chunks(ids):
                for pk, fp in scope.filter(Q(**{f"{column}__in": chunk})).values_list("id", "fingerprint"):
                    if fp not in rows and pk not in seen:
                        seen.add(pk)
                        stale.append(pk)
    for chunk in chunks(stale):
        counts.resolved += Discrepancy.objects.filter(pk__in=chunk, status=OPEN).update(
            status=RESOLVED, resolved_at=now
        )
    return counts
