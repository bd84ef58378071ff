"""Write computed rows: insert the new, update the changed (reopening the resolved), touch the
unchanged, resolve the open rows of the scope that were not found again. Bulk statements only.

Whether a found row changed is decided by a digest of its content, stored with it, so a full
recompute of an unchanged entity reads four short columns per row and decodes no JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from shebao.core.bulk import insert_rows, update_rows
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
    "person_id",
    "employee_id",
    "insurance",
    "period_from",
    "period_to",
    "months",
    "unit_id",
    "amount",
    "detail",
    "citations",
    "explanation",
    "digest",
    "status",
    "last_seen_at",
    "resolved_at",
]


def content_digest(row: dict[str, Any]) -> str:
    """The digest of what a recompute compares (``CONTENT``)."""
    content = [row[f] for f in CONTENT]
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


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
    existing: dict[str, tuple[int, str, str]] = {}  # fingerprint → (id, status, digest)
    for chunk in chunks(sorted(rows)):
        for pk, fp, status, digest in (
            Discrepancy.objects.filter(fingerprint__in=chunk)
            .order_by()
            .values_list("id", "fingerprint", "status", "digest")
        ):
            existing[fp] = (pk, status, digest)

    inserts = []
    changed: list[dict[str, Any]] = []
    touched: list[int] = []
    for fp, row in rows.items():
        digest = content_digest(row)
        old = existing.get(fp)
        if old is None:
            inserts.append(
                {**row, "digest": digest, "status": OPEN, "last_seen_at": now, "first_seen_at": now}
            )
            continue
        pk, status, old_digest = old
        if status == OPEN and old_digest == digest:
            touched.append(pk)
            continue
        if status != OPEN:
            counts.reopened += 1
        else:
            counts.updated += 1
        changed.append(
            {
                **{f: row[f] for f in UPDATE_FIELDS if f in row},
                "id": pk,
                "digest": digest,
                "status": OPEN,
                "last_seen_at": now,
                "resolved_at": None,
            }
        )
    if inserts:
        counts.opened = insert_rows(Discrepancy, inserts)
    if changed:
        update_rows(Discrepancy, changed, UPDATE_FIELDS)
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
