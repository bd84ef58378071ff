"""Writes to the contribution ledger: sync runs, facts applied idempotently, file ingestion.

``ledger_facts_apply`` is the one way facts (shebao.ledger.facts) get into the ledger, whatever
produced them (an uploaded export, the drop folder, the HTTP connector). A record is keyed by
person × insurance × 费款所属期 × paying unit; a fact only sets what its source states (``None``
leaves the stored value alone), so the employer part from one file and the employee part from
another make one month. Applying the same facts twice changes nothing. A change made by a later
run is kept as a revision and announced as a change event for the rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
import logging
import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from shebao.audit.services import audit_record
from shebao.core import crypto
from shebao.core.bulk import collector_paused, insert_rows
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.imports.readers import ImportFileError
from shebao.ledger import facts as F
from shebao.ledger.models import (
    PERSON_ID_PURPOSE,
    ChangeEvent,
    ContributionRecord,
    ContributionRevision,
    EnrollmentRevision,
    EnrollmentStatus,
    LedgerPerson,
    LedgerUnit,
    SourceRow,
    SyncRun,
)
from shebao.org.models import Entity
from shebao.roster.models import Employee

log = logging.getLogger(__name__)

CHUNK = 2000
MAX_STORED_ERRORS = 500
ACCOUNT_PURPOSE = "ledger.person_account"

Status = ContributionRecord.Status
_MONEY_FIELDS = ("base", "employer_due", "employee_due", "employer_paid", "employee_paid", "late_fee")
# What a later source may change in a month, in the order revisions list them.
_TRACKED = (*_MONEY_FIELDS, "status", "payment_type", "evidence", "posting_period")
_EXPLICIT = {
    F.ContributionStatus.DECLARED: Status.DECLARED,
    F.ContributionStatus.PAID: Status.PAID,
    F.ContributionStatus.UNPAID: Status.UNPAID,
    F.ContributionStatus.ARREARS: Status.ARREARS,
    F.ContributionStatus.BACKPAID: Status.BACKPAID,
    F.ContributionStatus.REFUNDED: Status.REFUNDED,
}
_EVIDENCE_RANK = {e.value: e.rank for e in F.Evidence}
# The same as plain str for the INSERT of new months: the driver binds a str subclass (an enum
# member) only after a failed look-up of an adapter, ~2 µs a value — as much as the rest of the row.
_EXPLICIT_TEXT = {k: str(v) for k, v in _EXPLICIT.items()}


def _ym(value: F.YearMonth | None) -> int | None:
    return None if value is None else value.year * 100 + value.month


# --- sync runs -----------------------------------------------------------------------------------


def sync_run_start(
    *,
    entity: Entity,
    source: str,
    actor: Actor,
    connector=None,
    file_name: str = "",
    sha256: str = "",
    profile: str = "",
    import_batch=None,
) -> SyncRun:
    if source not in SyncRun.Source.values:
        raise ApplicationError(f"未知的数据来源“{source}”")
    return SyncRun.objects.create(
        entity=entity,
        source=source,
        connector=connector,
        file_name=file_name[:255],
        sha256=sha256,
        profile=profile,
        import_batch=import_batch,
        triggered_by=actor.user,
    )


def sync_run_finish(
    *,
    run: SyncRun,
    status: str,
    counts: dict | None = None,
    errors: list | None = None,
    warnings: list | None = None,
    cursor: str = "",
    context: dict | None = None,
) -> SyncRun:
    if status not in SyncRun.Status.values:
        raise ApplicationError(f"未知的同步状态“{status}”")
    run.status = status
    run.finished_at = timezone.now()
    if counts is not None:
        run.counts = {**run.counts, **counts}
    run.change_count = sum(
        int(run.counts.get(k, 0))
        for k in ("records_created", "records_changed", "enrollments_created", "enrollments_changed")
    )
    if errors is not None:
        run.errors = list(errors)[:MAX_STORED_ERRORS]
        if len(errors) > MAX_STORED_ERRORS:
            run.counts["errors_not_stored"] = len(errors) - MAX_STORED_ERRORS
    if warnings is not None:
        run.warnings = list(dict.fromkeys(warnings))
    if cursor:
        run.cursor = cursor
    if context is not None:
        run.context = context
    with transaction.atomic():
        run.save()
        if status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
            from shebao.evidence.recorders import source_run_record

            source_run_record(run)  # what came in, with its SHA-256, into the evidence ledger
    return run


# --- people and units ----------------------------------------------------------------------------


def _norm_name(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


@dataclass
class _People:
    """Resolves PersonRefs to LedgerPerson ids, creating people on first sight."""

    entity: Entity
    cache: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # key → (person id, employee id)
    new_people: list[int] = field(default_factory=list)
    created: set[int] = field(default_factory=set)  # new_people as a set (membership tests)

    @staticmethod
    def key(ref: F.PersonRef) -> tuple[str, str]:
        """(key, id blind index); key "" when the reference identifies nobody."""
        if ref.id_number:
            bidx = crypto.blind_index(ref.id_number, purpose=PERSON_ID_PURPOSE)
            return bidx, bidx
        if ref.account_no and ref.name:
            digest = crypto.blind_index(f"{ref.account_no}|{_norm_name(ref.name)}", purpose=ACCOUNT_PURPOSE)
            return f"acct:{digest}", ""
        return "", ""

    def resolve(self, refs: dict[str, F.PersonRef]) -> None:
        """Make sure every key of ``refs`` (key → a reference) is in the cache."""
        missing = [k for k in refs if k not in self.cache]
        if not missing:
            return
        found = {}
        for start in range(0, len(missing), 900):
            part = missing[start : start + 900]
            found.update(
                {
                    key: (pk, emp)
                    for key, pk, emp in LedgerPerson.objects.filter(key__in=part).values_list(
                        "key", "pk", "employee_id"
                    )
                }
            )
        # People seen before without a roster match may have joined the roster since.
        unmatched = [k for k, (_, emp) in found.items() if emp is None and not k.startswith("acct:")]
        if unmatched:
            employees = dict(
                Employee.objects.filter(id_number_bidx__in=unmatched).values_list("id_number_bidx", "pk")
            )
            for key, emp in employees.items():
                pk = found[key][0]
                LedgerPerson.objects.filter(pk=pk).update(
                    employee_id=emp, match=LedgerPerson.Match.ID_NUMBER, updated_at=timezone.now()
                )
                found[key] = (pk, emp)
        self.cache.update(found)
        new = [k for k in missing if k not in found]
        if not new:
            return
        id_keys = [k for k in new if not k.startswith("acct:")]
        employees: dict[str, int] = {}
        for start in range(0, len(id_keys), 900):
            employees.update(
                Employee.objects.filter(id_number_bidx__in=id_keys[start : start + 900]).values_list(
                    "id_number_bidx", "pk"
                )
            )
        by_name = self._roster_names([refs[k] for k in new if k.startswith("acct:")])
        rows = []
        for key in new:
            ref = refs[key]
            if key.startswith("acct:"):
                emp = by_name.get(_norm_name(ref.name))
                match = LedgerPerson.Match.ACCOUNT if emp else LedgerPerson.Match.NONE
                rows.append(
                    {
                        "key": key,
                        "name": ref.name[:60],
                        "account_no": ref.account_no[:40],
                        "employee_id": emp,
                        "match": match,
                        "first_entity_id": self.entity.pk,
                    }
                )
            else:
                emp = employees.get(key)
                rows.append(
                    {
                        "key": key,
                        "id_number_enc": crypto.encrypt(ref.id_number, purpose=PERSON_ID_PURPOSE),
                        "id_number_bidx": key,
                        "id_kind": ref.id_kind or "resident_id",
                        "name": ref.name[:60],
                        "account_no": ref.account_no[:40],
                        "employee_id": emp,
                        "match": LedgerPerson.Match.ID_NUMBER if emp else LedgerPerson.Match.NONE,
                        "first_entity_id": self.entity.pk,
                    }
                )
        insert_rows(LedgerPerson, rows)
        for start in range(0, len(new), 900):
            for key, pk, emp in LedgerPerson.objects.filter(key__in=new[start : start + 900]).values_list(
                "key", "pk", "employee_id"
            ):
                self.cache[key] = (pk, emp)
                self.new_people.append(pk)
                self.created.add(pk)

    def _roster_names(self, refs: list[F.PersonRef]) -> dict[str, int]:
        """Name → employee id within the entity, for names that are unique there (no ID in the source:
        matched by account + name, flagged for checking — never a name shared by two people)."""
        if not refs:
            return {}
        names = {_norm_name(r.name) for r in refs}
        seen: dict[str, list[int]] = defaultdict(list)
        for pk, name in Employee.objects.filter(entity=self.entity).values_list("pk", "name"):
            norm = _norm_name(name)
            if norm in names:
                seen[norm].append(pk)
        return {n: ids[0] for n, ids in seen.items() if len(ids) == 1}


@dataclass
class _Units:
    entity: Entity
    cache: dict[str, int] = field(default_factory=dict)  # normalised (unit_no, name) key → unit id
    fast: dict[tuple[str, str], int] = field(default_factory=dict)  # as the facts spell them → unit id
    ours: dict[str, Entity] = field(default_factory=dict)  # number / normalised name → our entity

    def __post_init__(self) -> None:
        for e in Entity.objects.all():
            for number in (e.si_unit_no, e.hf_unit_no, e.uscc, e.code):
                if number:
                    self.ours.setdefault(f"no:{number.strip()}", e)
            self.ours.setdefault(f"name:{_norm_name(e.name)}", e)

    def resolve(self, unit_no: str, unit_name: str) -> int:
        pk = self.fast.get((unit_no, unit_name))
        if pk is None:
            pk = self.fast[(unit_no, unit_name)] = self._resolve(unit_no, unit_name)
        return pk

    def _resolve(self, unit_no: str, unit_name: str) -> int:
        raw = (unit_no.strip(), _norm_name(unit_name))
        cache_key = f"{raw[0]}|{raw[1]}"
        pk = self.cache.get(cache_key)
        if pk is not None:
            return pk
        entity = None
        if not raw[0] and not raw[1]:
            entity = self.entity
        else:
            entity = self.ours.get(f"no:{raw[0]}") if raw[0] else None
            entity = entity or (self.ours.get(f"name:{raw[1]}") if raw[1] else None)
        if entity is not None:
            unit, _ = LedgerUnit.objects.get_or_create(
                key=f"entity:{entity.pk}",
                defaults={"entity": entity, "name": entity.name, "unit_no": entity.si_unit_no},
            )
        else:
            key = f"no:{raw[0]}" if raw[0] else f"name:{raw[1]}"
            unit, created = LedgerUnit.objects.get_or_create(
                key=key[:120], defaults={"unit_no": raw[0][:40], "name": (unit_name or "").strip()[:200]}
            )
            if not created and not unit.name and unit_name:
                unit.name = unit_name.strip()[:200]
                unit.save(update_fields=["name"])
        self.cache[cache_key] = unit.pk
        return unit.pk


# --- applying facts ------------------------------------------------------------------------------


@dataclass
class _Merged:
    """What the facts of one run say about one key, merged in source order."""

    row: int
    values: dict[str, Any]
    explicit_status: str | None
    evidence: str


def _merge(into: _Merged | None, fact: F.ContributionFact, row: int) -> _Merged:
    values: dict[str, Any] = {} if into is None else into.values
    for name in _MONEY_FIELDS:
        v = getattr(fact, name)
        if v is not None:
            values[name] = v
    if fact.payment_type is not None:
        values["payment_type"] = fact.payment_type.value
    if fact.posting_period is not None:
        values["posting_period"] = _ym(fact.posting_period)
    explicit = _EXPLICIT[fact.status] if fact.status is not None else None
    evidence = fact.evidence._value_
    if into is not None:
        explicit = explicit or into.explicit_status
        if _EVIDENCE_RANK[into.evidence] > _EVIDENCE_RANK[evidence]:
            evidence = into.evidence
    return _Merged(row=row, values=values, explicit_status=explicit, evidence=evidence)


def _new_values(m: _Merged, money: Callable[[Any], Any]) -> tuple:
    """The columns of a new month stated by several facts after its key (posting_period …
    source_row, _RECORD_COLUMNS order); amounts through ``money`` (_money_param). The common case
    of a month stated once is built inline in _Applier._contributions (no merge dictionary)."""
    v = m.values
    get = v.get
    return (
        get("posting_period"),
        *[None if (a := get(name)) is None else money(a) for name in _MONEY_FIELDS],
        str(_status(v, m.explicit_status, None)),  # plain str (_EXPLICIT_TEXT)
        get("payment_type", ""),
        m.evidence,
        m.row,
    )


def _money_param() -> Callable[[Any], Any]:
    """How an amount of a new month goes to the driver. On SQLite, the ``str`` that Django's
    registered Decimal adapter would make (the same text is bound): the driver's adaptation
    protocol costs ~0.5 µs a value, ~10 % of the INSERT of a first import of years of data.
    Elsewhere the Decimal as it is (the driver types it)."""
    return str if connection.vendor == "sqlite" else _as_is


def _as_is(value: Any) -> Any:
    return value


def _status_of_fact(fact: F.ContributionFact) -> str:
    """_status for a month stated by one fact with no explicit status."""
    if fact.employer_paid is not None or fact.employee_paid is not None:
        return Status.BACKPAID if fact.payment_type is F.PaymentType.BACKPAY else Status.PAID
    return Status.DECLARED


def _status(values: dict[str, Any], explicit: str | None, current: str | None) -> str:
    if explicit:
        return explicit
    if values.get("employer_paid") is not None or values.get("employee_paid") is not None:
        return Status.BACKPAID if values.get("payment_type") == F.PaymentType.BACKPAY else Status.PAID
    # An assessed-only source never downgrades what a stronger one said about the month.
    if current and current != Status.DECLARED:
        return current
    return Status.DECLARED


@dataclass
class _Tally:
    rows: int = 0
    skipped: int = 0
    rejected: int = 0
    records_created: int = 0
    records_changed: int = 0
    records_unchanged: int = 0
    enrollments_created: int = 0
    enrollments_changed: int = 0
    enrollments_unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    touched_people: set[int] = field(default_factory=set)
    periods: set[int] = field(default_factory=set)

    def counts(self, people: _People) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "people": len(self.touched_people),
            "new_people": len(people.new_people),
            "unknown_people": _count_unknown(self.touched_people),
            "records_created": self.records_created,
            "records_changed": self.records_changed,
            "records_unchanged": self.records_unchanged,
            "enrollments_created": self.enrollments_created,
            "enrollments_changed": self.enrollments_changed,
            "enrollments_unchanged": self.enrollments_unchanged,
            "period_from": min(self.periods) if self.periods else None,
            "period_to": max(self.periods) if self.periods else None,
        }


def _count_unknown(ids: set[int]) -> int:
    total = 0
    items = sorted(ids)
    for start in range(0, len(items), 900):
        total += LedgerPerson.objects.filter(pk__in=items[start : start + 900], employee__isnull=True).count()
    return total


@dataclass
class ApplyResult:
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    warnings: list[str]
    people: list[int]  # ledger people the run touched (for incremental reconciliation)
    employees: list[int]


class _Applier:
    def __init__(self, run: SyncRun, *, keep_rows: bool) -> None:
        self.run = run
        self.keep_rows = keep_rows
        self.people = _People(run.entity)
        self.units = _Units(run.entity)
        self.tally = _Tally()
        self.events: dict[tuple[str, int], dict[str, Any]] = {}  # (kind, person) → detail
        self.new_spans: dict[tuple[int, str], list[int]] = {}  # (person, insurance) → [first, last, months]
        self.key_memo: dict[str, str] = {}  # identity number → person key (blind index)
        # Column labels of the source rows, kept on the run; continued across the pages of a sync.
        self.columns: list[str] = list(run.columns or [])
        self.column_index = {c: i for i, c in enumerate(self.columns)}
        self.columns_key: tuple[str, ...] | None = tuple(self.columns) or None
        self.columns_stored = len(self.columns)
        self.now = timezone.now()

    # Change events are aggregated per person and kind: a first import of three years must not
    # write one event per month.
    def _event(
        self, kind: str, person: int, insurance: str, period: int | None, extra: dict | None = None
    ) -> None:
        detail = self.events.setdefault((kind, person), {"insurances": {}, "items": []})
        span = detail["insurances"].setdefault(insurance, [period, period, 0])
        if period is not None:
            span[0] = period if span[0] is None else min(span[0], period)
            span[1] = period if span[1] is None else max(span[1], period)
        span[2] += 1
        if extra and len(detail["items"]) < 50:
            detail["items"].append(extra)

    def apply(self, rows: Iterable[F.SourceRow]) -> None:
        iterator = iter(rows)
        while chunk := list(islice(iterator, CHUNK)):
            self._chunk(chunk)

    def _cell_values(self, cells: dict[str, str]) -> list[str]:
        """The row's cells as a list aligned with the run's columns (the labels are stored once,
        on the run, instead of on each of millions of rows); a label not seen before is added."""
        keys = tuple(cells)
        if keys == self.columns_key:
            return list(cells.values())
        for k in keys:
            if k not in self.column_index:
                self.column_index[k] = len(self.columns)
                self.columns.append(k)
        if len(keys) == len(self.columns) and all(self.column_index[k] == i for i, k in enumerate(keys)):
            self.columns_key = keys
            return list(cells.values())
        values = [""] * (max((self.column_index[k] for k in keys), default=-1) + 1)
        for k, v in cells.items():
            values[self.column_index[k]] = v
        return values

    def _chunk(self, chunk: list[F.SourceRow]) -> None:
        refs: dict[str, F.PersonRef] = {}
        keys_of: list[str] = []
        stored_rows = []
        good: list[tuple[F.SourceRow, str]] = []
        key_memo = self.key_memo
        for src in chunk:
            self.tally.rows += 1
            key = ""
            if src.skipped:
                self.tally.skipped += 1
            elif src.errors:
                self.tally.rejected += 1
                for err in src.errors:
                    self.tally.errors.append({"row": src.row, **err})
            else:
                first = (src.contributions or src.enrollments or [None])[0]
                if first is not None:
                    person = first.person
                    # A wide file states each person once per month: the keyed hash once per person.
                    key = key_memo.get(person.id_number) if person.id_number else None
                    if key is None:
                        key, _ = _People.key(person)
                        if person.id_number and len(key_memo) < 500_000:
                            key_memo[person.id_number] = key
                    if not key:
                        self.tally.rejected += 1
                        self.tally.errors.append(
                            {
                                "row": src.row,
                                "column": "证件号码",
                                "code": "no_person_key",
                                "message": f"第{src.row}行既没有证件号码，也没有个人编号和姓名，无法确定是谁",
                            }
                        )
                    else:
                        refs.setdefault(key, person)
                        good.append((src, key))
            keys_of.append(key)
        self.people.resolve(refs)
        if self.keep_rows:
            run_id, cache, dumps, dumps_texts = self.run.pk, self.people.cache, _dumps, _dumps_texts
            for src, key in zip(chunk, keys_of, strict=True):
                stored_rows.append(
                    (
                        run_id,
                        src.row,
                        dumps_texts(self._cell_values(src.cells)),
                        cache[key][0] if key else None,
                        src.skipped[:60],
                        dumps(src.errors) if src.errors else "[]",
                    )
                )
            _executemany(_source_rows_sql(), stored_rows)
        merged: dict[tuple[int, str, int, int], _Merged] = {}
        enrol: dict[tuple[int, str, int], tuple[F.EnrollmentFact, int]] = {}
        own_unit = self.units.resolve("", "") if good else None
        resolve_unit, cache = self.units.resolve, self.people.cache
        touched, created = self.tally.touched_people, self.people.created
        # People this run created and sees for the first time in this chunk have nothing stored:
        # their months need no look-up of existing records.
        unseen: set[int] = set()
        for src, key in good:
            person_id = cache[key][0]
            if person_id not in touched:
                touched.add(person_id)
                if person_id in created:
                    unseen.add(person_id)
            row = src.row
            for fact in src.contributions:
                unit = (
                    own_unit
                    if not fact.unit_no and not fact.unit_name
                    else resolve_unit(fact.unit_no, fact.unit_name)
                )
                ym = fact.period
                # _value_ and the month's yyyymm inline: no descriptor or function call per fact
                k = (person_id, fact.insurance._value_, ym.year * 100 + ym.month, unit)
                prev = merged.get(k)
                if prev is None:
                    merged[k] = (fact, row)  # merged lazily: most keys are stated once
                else:
                    if prev.__class__ is tuple:
                        prev = _merge(None, *prev)
                    merged[k] = _merge(prev, fact, row)
            for fact in src.enrollments:
                unit = resolve_unit(fact.unit_no, fact.unit_name)
                enrol[(person_id, fact.insurance.value, unit)] = (fact, row)
        if merged:
            self._contributions(merged, unseen)
        if enrol:
            self._enrollments(enrol)

    def _contributions(self, merged: dict[tuple[int, str, int, int], _Merged], unseen: set[int]) -> None:
        stated = {k[2] for k in merged}
        self.tally.periods.update(stated)
        persons = sorted({k[0] for k in merged} - unseen)
        periods = sorted(stated)
        existing: dict[tuple[int, str, int, int], dict[str, Any]] = {}
        cols = ["id", "person_id", "insurance", "period", "unit_id", "last_run_id", "first_run_id", *_TRACKED]
        for start in range(0, len(persons), 500):
            part = persons[start : start + 500]
            qs = ContributionRecord.objects.filter(
                person_id__in=part, period__gte=periods[0], period__lte=periods[-1]
            ).values_list(*cols)
            for values in qs:
                rec = dict(zip(cols, values, strict=True))
                existing[(rec["person_id"], rec["insurance"], rec["period"], rec["unit_id"])] = rec
        inserts: list[tuple] = []
        updates = []
        revisions = []
        entity_id, run_id = self.run.entity_id, self.run.pk
        new_spans = self.new_spans
        money = _money_param()
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        explicit_of, declared = _EXPLICIT_TEXT, str(Status.DECLARED)
        for key, m in merged.items():
            person_id, insurance, period, unit = key
            current = existing.get(key) if existing else None
            if current is None:
                if m.__class__ is tuple:
                    # A month stated once (a first import): its columns straight from the fact,
                    # in _RECORD_COLUMNS order then updated_at (this runs for every new month).
                    fact, row = m
                    status, posting = fact.status, fact.posting_period
                    erp, eep, late = fact.employer_paid, fact.employee_paid, fact.late_fee
                    if status is not None:
                        status = explicit_of[status]
                    elif erp is None and eep is None:
                        status = declared
                    else:
                        status = str(_status_of_fact(fact))
                    inserts.append(
                        (
                            person_id,
                            insurance,
                            period,
                            unit,
                            entity_id,
                            None if posting is None else posting.year * 100 + posting.month,
                            None if (a := fact.base) is None else money(a),
                            None if (a := fact.employer_due) is None else money(a),
                            None if (a := fact.employee_due) is None else money(a),
                            None if erp is None else money(erp),
                            None if eep is None else money(eep),
                            None if late is None else money(late),
                            status,
                            "" if fact.payment_type is None else fact.payment_type._value_,
                            fact.evidence._value_,
                            row,
                            run_id,
                            run_id,
                            now,
                        )
                    )
                else:
                    inserts.append(
                        (
                            person_id,
                            insurance,
                            period,
                            unit,
                            entity_id,
                            *_new_values(m, money),
                            run_id,
                            run_id,
                            now,
                        )
                    )
                span = new_spans.get((person_id, insurance))
                if span is None:
                    new_spans[(person_id, insurance)] = [period, period, 1]
                else:
                    if period < span[0]:
                        span[0] = period
                    elif period > span[1]:
                        span[1] = period
                    span[2] += 1
                continue
            if m.__class__ is tuple:
                m = _merge(None, *m)
            after: dict[str, Any] = {}
            for name, value in m.values.items():
                old = current[name]
                if name in _MONEY_FIELDS and old is not None:
                    old = Decimal(old)
                if old != value:
                    after[name] = value
            status = _status({**current, **m.values}, m.explicit_status, current["status"])
            if status != current["status"]:
                after["status"] = status
            evidence = current["evidence"]
            if _EVIDENCE_RANK[m.evidence] > _EVIDENCE_RANK[evidence]:
                after["evidence"] = m.evidence
            if not after:
                self.tally.records_unchanged += 1
                continue
            updates.append((current["id"], after, m.row))
            # A month stated twice within one run (the employer and the employee part on
            # separate rows) is still the run's own creation: no revision, no change event.
            if current["first_run_id"] != self.run.pk:
                self.tally.records_changed += 1
                changes = {n: [_plain(current[n]), _plain(v)] for n, v in after.items()}
                revisions.append({"record_id": current["id"], "run_id": self.run.pk, "changes": changes})
                self._event(
                    ChangeEvent.Kind.MONTH_CHANGED,
                    person_id,
                    insurance,
                    period,
                    {"insurance": insurance, "period": period, "changes": changes},
                )
        if inserts:
            self.tally.records_created += len(inserts)
            _executemany(_records_sql(), inserts)
        if updates:
            self._update_records(updates)
        if revisions:
            insert_rows(ContributionRevision, revisions)

    def _update_records(self, updates: list[tuple[int, dict[str, Any], int]]) -> None:
        # Group by the set of changed columns so each group is one executemany.
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any], int]]] = defaultdict(list)
        for item in updates:
            groups[tuple(sorted(item[1]))].append(item)
        table = connection.ops.quote_name(ContributionRecord._meta.db_table)
        qn = connection.ops.quote_name
        now = timezone.now()
        fields = {f.attname: f for f in ContributionRecord._meta.concrete_fields}
        with connection.cursor() as cursor:
            for names, items in groups.items():
                sets = ", ".join(f"{qn(n)} = %s" for n in names)
                sql = f"UPDATE {table} SET {sets}, last_run_id = %s, source_row = %s, updated_at = %s WHERE id = %s"
                params = []
                for pk, after, row in items:
                    values = [fields[n].get_db_prep_save(after[n], connection) for n in names]
                    params.append(
                        (
                            *values,
                            self.run.pk,
                            row,
                            fields["updated_at"].get_db_prep_save(now, connection),
                            pk,
                        )
                    )
                cursor.executemany(sql, params)

    def _enrollments(self, enrol: dict[tuple[int, str, int], tuple[F.EnrollmentFact, int]]) -> None:
        persons = sorted({k[0] for k in enrol})
        existing: dict[tuple[int, str, int], EnrollmentStatus] = {}
        active_units: dict[tuple[int, str], set[int]] = defaultdict(set)
        for start in range(0, len(persons), 500):
            for st in EnrollmentStatus.objects.filter(person_id__in=persons[start : start + 500]):
                existing[(st.person_id, st.insurance, st.unit_id)] = st
                if st.state == EnrollmentStatus.State.ACTIVE:
                    active_units[(st.person_id, st.insurance)].add(st.unit_id)
        for key, (fact, _row) in enrol.items():
            person_id, insurance, unit = key
            reported = fact.reported_at or self.now
            current = existing.get(key)
            state = fact.state.value
            if current is None:
                st = EnrollmentStatus.objects.create(
                    person_id=person_id,
                    insurance=insurance,
                    unit_id=unit,
                    entity_id=self.run.entity_id,
                    state=state,
                    since=fact.since,
                    reported_at=reported,
                    run=self.run,
                )
                self.tally.enrollments_created += 1
                others = active_units[(person_id, insurance)] - {unit}
                if state == EnrollmentStatus.State.ACTIVE and others:
                    self._event(
                        ChangeEvent.Kind.UNIT_CHANGED,
                        person_id,
                        insurance,
                        None,
                        {"insurance": insurance, "unit": unit, "other_active_units": sorted(others)},
                    )
                self._event(
                    ChangeEvent.Kind.STATUS_CHANGED,
                    person_id,
                    insurance,
                    None,
                    {"insurance": insurance, "unit": unit, "state": [None, state]},
                )
                continue
            changes = {}
            if current.state != state:
                changes["state"] = [current.state, state]
            if fact.since is not None and current.since != fact.since:
                changes["since"] = [_plain(current.since), _plain(fact.since)]
            if not changes:
                if current.reported_at < reported:
                    EnrollmentStatus.objects.filter(pk=current.pk).update(reported_at=reported)
                self.tally.enrollments_unchanged += 1
                continue
            if current.reported_at > reported:
                # An older report than the one on record: keep the newer state.
                self.tally.enrollments_unchanged += 1
                continue
            current.state = state
            if fact.since is not None:
                current.since = fact.since
            current.reported_at = reported
            current.run = self.run
            current.save()
            EnrollmentRevision.objects.create(status=current, run=self.run, changes=changes)
            self.tally.enrollments_changed += 1
            if "state" in changes:
                self._event(
                    ChangeEvent.Kind.STATUS_CHANGED,
                    person_id,
                    insurance,
                    None,
                    {"insurance": insurance, "unit": unit, "state": changes["state"]},
                )

    def finish(self) -> ApplyResult:
        if len(self.columns) != self.columns_stored:
            SyncRun.objects.filter(pk=self.run.pk).update(columns=self.columns)
            self.run.columns = list(self.columns)
        for (person, insurance), (first, last, n) in self.new_spans.items():
            detail = self.events.setdefault(
                (ChangeEvent.Kind.MONTH_NEW, person), {"insurances": {}, "items": []}
            )
            detail["insurances"][insurance] = [first, last, n]
        employees_of = {pk: emp for pk, emp in self.people.cache.values()}
        events = []
        for (kind, person), detail in self.events.items():
            insurances = detail["insurances"]
            first = next(iter(insurances)) if len(insurances) == 1 else ""
            spans = [s for s in insurances.values() if s[0] is not None]
            events.append(
                {
                    "run_id": self.run.pk,
                    "kind": kind,
                    "person_id": person,
                    "employee_id": employees_of.get(person),
                    "insurance": first,
                    "period": min(s[0] for s in spans) if spans else None,
                    "detail": detail,
                }
            )
        for person in self.people.new_people:
            if employees_of.get(person) is None and person in self.tally.touched_people:
                events.append(
                    {
                        "run_id": self.run.pk,
                        "kind": ChangeEvent.Kind.PERSON_UNKNOWN,
                        "person_id": person,
                        "employee_id": None,
                        "detail": {},
                    }
                )
        insert_rows(ChangeEvent, events)
        touched = sorted(self.tally.touched_people)
        return ApplyResult(
            counts=self.tally.counts(self.people),
            errors=self.tally.errors,
            warnings=self.tally.warnings,
            people=touched,
            employees=sorted({e for p in touched if (e := employees_of.get(p)) is not None}),
        )


_RECORD_COLUMNS = (
    "person_id",
    "insurance",
    "period",
    "unit_id",
    "entity_id",
    "posting_period",
    "base",
    "employer_due",
    "employee_due",
    "employer_paid",
    "employee_paid",
    "late_fee",
    "status",
    "payment_type",
    "evidence",
    "source_row",
    "first_run_id",
    "last_run_id",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_encode_text = json.encoder.encode_basestring  # what _dumps does with a str (ensure_ascii=False)


def _dumps_texts(values: list[str]) -> str:
    """_dumps of a list of cell texts, the same JSON without the encoder set up for every one of
    millions of source rows (a non-str value: _dumps)."""
    try:
        return "[" + ",".join(map(_encode_text, values)) + "]"
    except TypeError:
        return _dumps(values)


def _executemany(sql: str, rows: list[tuple]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _source_rows_sql() -> str:
    """(run, row, cells JSON, person, skipped, errors JSON) tuples."""
    qn, p = connection.ops.quote_name, "%s"
    cols = ", ".join(qn(c) for c in ("run_id", "row", "cells", "person_id", "skipped", "errors"))
    return f"INSERT INTO {qn(SourceRow._meta.db_table)} ({cols}) VALUES ({', '.join([p] * 6)})"


def _records_sql() -> str:
    """New months: tuples in _RECORD_COLUMNS order plus updated_at (the hot path of a first
    import of years of data; values are already what the drivers take: ints, str, and the
    amounts as _money_param gives them)."""
    qn, p = connection.ops.quote_name, "%s"
    fields = {f.attname: f for f in ContributionRecord._meta.concrete_fields}
    columns = [fields[name].column for name in _RECORD_COLUMNS] + ["updated_at"]
    return (
        f"INSERT INTO {qn(ContributionRecord._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"VALUES ({', '.join([p] * len(columns))})"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("0.01")), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def ledger_facts_apply(*, run: SyncRun, rows: Iterable[F.SourceRow], keep_rows: bool = True) -> ApplyResult:
    """Write the facts of ``rows`` into the ledger for ``run``. Call inside a transaction.

    Rows with errors are not applied (their errors are returned with the row number); skipped
    rows are kept for traceability only. Returns counts, errors, and the people touched.
    """
    with collector_paused():  # millions of rows and facts, no reference cycles
        applier = _Applier(run, keep_rows=keep_rows)
        applier.apply(rows)
        return applier.finish()


# --- files ---------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class _DryRun(Exception):
    pass


def _duplicate_of(entity: Entity, sha256: str) -> SyncRun | None:
    return (
        SyncRun.objects.filter(
            entity=entity,
            sha256=sha256,
            status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL],
        )
        .order_by("-started_at")
        .first()
    )


@dataclass
class IngestOptions:
    profile: str = "auto"
    period: str = ""  # YYYY-MM, when the file does not say
    item: str = ""  # 征收品目 for one-file-per-item exports, when the file name does not say
    unit_no: str = ""
    unit_name: str = ""


def _parse(path: Path, filename: str, options: IngestOptions, *, max_bytes: int | None):
    from shebao.ledger import parsing

    try:
        source = parsing.open_source(path, filename=filename, max_bytes=max_bytes)
    except ImportFileError as exc:
        raise ApplicationError(exc.message, code=exc.code) from exc
    if options.profile in ("", "auto"):
        detections = parsing.detect(source)
        if not detections:
            raise ApplicationError(
                "未能识别文件格式：请在“导入缴费数据”页面上传后手动对应各列，并保存为新的格式模板",
                code="no_profile",
            )
        profile = detections[0].profile
    else:
        try:
            profile = parsing.profile_get(options.profile)
        except parsing.ProfileError as exc:
            raise ApplicationError(
                exc.message, code="unknown_profile", field_errors={"profile": exc.message}
            ) from exc
    context = parsing.ParseContext(
        period=options.period or None,
        item=options.item or None,
        unit_no=options.unit_no or None,
        unit_name=options.unit_name or None,
    )
    try:
        return parsing.parse(source, profile, context=context)
    except parsing.ContextRequired as exc:
        field = {"insurance": "item", "side": "item"}.get(exc.field, exc.field)
        raise ApplicationError(exc.message, code=exc.code, field_errors={field: exc.message}) from exc
    except ImportFileError as exc:
        raise ApplicationError(exc.message, code=exc.code) from exc


def ledger_file_ingest(
    *,
    entity: Entity,
    path: Path,
    filename: str,
    source: str,
    actor: Actor,
    options: IngestOptions | None = None,
    profile: str = "auto",
    connector=None,
    import_batch=None,
    dry_run: bool = False,
    max_bytes: int | None = None,
    reconcile: bool = True,
    run: SyncRun | None = None,
) -> SyncRun:
    """Parse an export file and apply it to the ledger in one transaction.

    The same file (by SHA-256) already applied for the entity changes nothing: the run is
    recorded as a duplicate. ``dry_run`` applies and rolls back, so the run's counts preview
    what confirming would do. A file that cannot be read or recognised gives a FAILED run
    with the reason (nothing applied). ``run``: a confirmed upload's run, reused.
    """
    options = options or IngestOptions(profile=profile)
    path = Path(path)
    sha = _sha256(path)
    if not dry_run:
        previous = _duplicate_of(entity, sha)
        if previous is not None:
            run = run or sync_run_start(
                entity=entity,
                source=source,
                actor=actor,
                connector=connector,
                file_name=filename,
                sha256=sha,
                import_batch=import_batch,
            )
            run.profile = previous.profile
            run.duplicate_of = previous
            return sync_run_finish(
                run=run,
                status=SyncRun.Status.DUPLICATE,
                warnings=[
                    f"同一文件已于{timezone.localtime(previous.started_at):%Y-%m-%d %H:%M}导入（同步记录 #{previous.pk}），未作任何更改"
                ],
            )
    if run is None:
        run = sync_run_start(
            entity=entity,
            source=source,
            actor=actor,
            connector=connector,
            file_name=filename,
            sha256=sha,
            import_batch=import_batch,
        )
    else:
        run.counts, run.errors, run.warnings = {}, [], []
    try:
        parsed = _parse(path, filename, options, max_bytes=max_bytes)
    except ApplicationError as exc:
        return sync_run_finish(run=run, status=SyncRun.Status.FAILED, errors=[_error(exc)])
    run.profile = parsed.profile.code
    result: ApplyResult | None = None
    try:
        with transaction.atomic():
            result = ledger_facts_apply(run=run, rows=parsed.rows())
            status = SyncRun.Status.PARTIAL if result.errors else SyncRun.Status.SUCCEEDED
            if dry_run:
                raise _DryRun
            audit_record(
                actor=actor,
                action="ledger.ingest",
                obj=run,
                changes={"file": filename, "sha256": sha, "profile": run.profile, **result.counts},
            )
    except _DryRun:
        status = SyncRun.Status.PREVIEWED
    except ApplicationError as exc:
        return sync_run_finish(run=run, status=SyncRun.Status.FAILED, errors=[_error(exc)])
    except ImportFileError as exc:  # found while streaming the rows (the whole file is rolled back)
        return sync_run_finish(
            run=run, status=SyncRun.Status.FAILED, errors=[{"message": exc.message, "code": exc.code}]
        )
    assert result is not None
    run = sync_run_finish(
        run=run,
        status=status,
        counts=result.counts,
        errors=result.errors,
        warnings=[*parsed.warnings, *result.warnings],
        context=_jsonable(parsed.context_found),
    )
    if not dry_run and reconcile and result.people:
        ledger_reconcile_touched(entity=entity, people=result.people)
    return run


def _error(exc: ApplicationError) -> dict[str, Any]:
    """A file-level error as stored on the run: the message, its stable code and, when the user
    can fix it by saying something (the month, the 征收品目, the format), which field."""
    out: dict[str, Any] = {"message": exc.message}
    if exc.code:
        out["code"] = exc.code
    if exc.field_errors:
        out["field"] = next(iter(exc.field_errors))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def ledger_reconcile_touched(*, entity: Entity, people: list[int]) -> None:
    """Recompute the discrepancies of the people a run touched (incremental reconciliation)."""
    from shebao.ledger.reconcile import discrepancies_recompute

    # entity=None: the people's rows at our other entities change too (another_unit at a sister entity).
    discrepancies_recompute(person_ids=people)


# --- uploads through the wizard ------------------------------------------------------------------

UPLOAD_MAX_BYTES = 50 * 1024 * 1024
UPLOAD_EXTENSIONS = (".xlsx", ".xls", ".csv")


def _ensure_entity_access(actor: Actor, entity: Entity) -> None:
    from shebao.accounts.permissions import can_edit_roster, entity_scope_ids
    from shebao.core.exceptions import PermissionDenied

    if actor.user is None:
        return  # system (CLI, worker)
    if not can_edit_roster(actor.user):
        raise PermissionDenied("只有人事专员和人事管理员可以导入缴费数据")
    scope = entity_scope_ids(actor.user)
    if scope is not None and entity.pk not in scope:
        raise PermissionDenied(f"无权导入参保主体“{entity.name}”的数据")


def ledger_upload_create(
    *, actor: Actor, entity: Entity, data: bytes, filename: str, options: IngestOptions | None = None
) -> SyncRun:
    """Store an uploaded export and preview it: the returned run is PREVIEWED (counts of what
    confirming would do) or FAILED (why the file cannot be read). The file is kept as an
    ImportBatch of kind ``ledger`` under the uploads' retention policy until it is confirmed."""
    from shebao.imports.models import ImportBatch
    from shebao.imports.services import import_file_store

    _ensure_entity_access(actor, entity)
    if not data:
        raise ApplicationError(
            "文件是空的：请确认选择了正确的文件后重新上传", field_errors={"file": "空文件"}
        )
    ext = posixpath.splitext(filename or "")[1].lower()
    if ext not in UPLOAD_EXTENSIONS:
        raise ApplicationError(
            f"不支持的文件类型“{ext or '无扩展名'}”：请上传 .xlsx、.xls 或 .csv 文件",
            field_errors={"file": "不支持的文件类型"},
        )
    if len(data) > UPLOAD_MAX_BYTES:
        raise ApplicationError(
            f"文件太大（{len(data) / 1024 / 1024:.1f} MB），上限为 50 MB：请拆分后分别上传，"
            "或把文件放入投递文件夹",
            field_errors={"file": "文件太大"},
        )
    batch = import_file_store(
        actor=actor,
        kind=ImportBatch.Kind.LEDGER,
        data=data,
        filename=filename,
        default_entity=entity,
        action="ledger.upload",
        changes={"entity": entity.code},
    )
    return _preview(actor=actor, entity=entity, batch=batch, options=options or IngestOptions())


def _preview(*, actor: Actor, entity: Entity, batch, options: IngestOptions) -> SyncRun:
    from shebao.imports.models import ImportBatch

    run = ledger_file_ingest(
        entity=entity,
        path=Path(batch.file.path),
        filename=batch.file_name,
        source=SyncRun.Source.UPLOAD,
        actor=actor,
        options=options,
        import_batch=batch,
        dry_run=True,
        max_bytes=UPLOAD_MAX_BYTES,
    )
    run.context = {**run.context, "options": _jsonable(options.__dict__)}
    run.save(update_fields=["context"])
    batch.status = (
        ImportBatch.Status.PREVIEWED if run.status == SyncRun.Status.PREVIEWED else ImportBatch.Status.FAILED
    )
    batch.row_count = int(run.counts.get("rows", 0))
    batch.save(update_fields=["status", "row_count", "updated_at"])
    return run


def ledger_upload_retry(*, actor: Actor, run: SyncRun, options: IngestOptions) -> SyncRun:
    """Preview an uploaded file again with what the user now says (the month, the 征收品目, another
    format): a new run; a previewed run it replaces is cancelled (the file is kept)."""
    _ensure_entity_access(actor, run.entity)
    if run.source != SyncRun.Source.UPLOAD or run.status not in (
        SyncRun.Status.FAILED,
        SyncRun.Status.PREVIEWED,
    ):
        raise ApplicationError("只有上传后未导入的文件可以重新识别", code="not_retryable")
    batch = run.import_batch
    if batch is None or batch.file_purged_at is not None or not batch.file:
        raise ApplicationError("原文件已按保留策略删除，请重新上传", code="purged")
    if run.status == SyncRun.Status.PREVIEWED:
        sync_run_finish(run=run, status=SyncRun.Status.CANCELLED)
    return _preview(actor=actor, entity=run.entity, batch=batch, options=options)


def ledger_upload_confirm(*, actor: Actor, run: SyncRun, enqueue: bool = True) -> SyncRun:
    """Apply a previewed upload for real (in the worker unless ``enqueue`` is False)."""
    _ensure_entity_access(actor, run.entity)
    updated = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.PREVIEWED).update(
        status=SyncRun.Status.RUNNING, finished_at=None
    )
    if not updated:
        raise ApplicationError("该文件不是待确认状态，不能再次确认", code="not_previewed")
    run.refresh_from_db()
    if run.import_batch is None or not run.import_batch.file:
        message, code = "没有保存上传的文件，请重新上传", "no_file"
    elif run.import_batch.file_purged_at is not None:
        message, code = "原文件已按保留策略删除，请重新上传", "purged"
    else:
        message = code = ""
    if message:
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, errors=[{"message": message, "code": code}])
        raise ApplicationError(message, code=code)
    if enqueue:
        from shebao.ledger.tasks import ledger_upload_apply_task

        user_id = actor.user.pk if actor.user else None
        transaction.on_commit(lambda: ledger_upload_apply_task(run.pk, user_id, actor.ip, actor.via))
        return run
    return ledger_upload_apply(actor=actor, run=run)


def ledger_upload_apply(*, actor: Actor, run: SyncRun) -> SyncRun:
    from shebao.imports.models import ImportBatch
    from shebao.imports.retention import import_batch_file_purge

    batch = run.import_batch
    saved = run.context.get("options") or {}
    options = IngestOptions(**{k: v for k, v in saved.items() if k in IngestOptions.__dataclass_fields__})
    result = ledger_file_ingest(
        entity=run.entity,
        path=Path(batch.file.path),
        filename=run.file_name,
        source=run.source,
        actor=actor,
        options=options,
        import_batch=batch,
        max_bytes=UPLOAD_MAX_BYTES,
        run=run,
    )
    if result.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.DUPLICATE):
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.COMMITTED, committed_by=actor.user, committed_at=timezone.now()
        )
        batch.refresh_from_db()
        import_batch_file_purge(batch=batch, reason="committed", actor=actor)
    else:
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED)
    return result


def ledger_run_cancel(*, actor: Actor, run: SyncRun) -> SyncRun:
    """Drop a previewed upload: the run is cancelled and the uploaded file deleted."""
    from shebao.imports.retention import import_batch_file_purge

    _ensure_entity_access(actor, run.entity)
    if run.status != SyncRun.Status.PREVIEWED:
        raise ApplicationError("只有待确认的文件可以取消")
    sync_run_finish(run=run, status=SyncRun.Status.CANCELLED)
    if run.import_batch is not None:
        import_batch_file_purge(batch=run.import_batch, reason="cancelled", actor=actor)
    return run


def ledger_profile_save(*, actor: Actor, code: str, title: str, definition: dict) -> Any:
    """Save a user's column mapping as a new file-layout profile (validated)."""
    from shebao.ledger import parsing
    from shebao.ledger.models import ExportProfile

    if actor.user is not None:
        from shebao.accounts.permissions import can_edit_roster
        from shebao.core.exceptions import PermissionDenied

        if not can_edit_roster(actor.user):
            raise PermissionDenied("只有人事专员和人事管理员可以保存格式模板")
    code = (code or "").strip()
    if not code:
        raise ApplicationError("请填写模板编码", field_errors={"code": "必填"})
    if code in {p.code for p in parsing.shipped_profiles()}:
        raise ApplicationError(f"模板编码“{code}”与系统内置模板重复，请换一个", field_errors={"code": "重复"})
    definition = {**definition, "code": code, "title": title}
    errors = parsing.profile_validate(definition)
    if errors:
        raise ApplicationError(
            "格式模板有误：" + "；".join(errors), field_errors={"definition": "；".join(errors)}
        )
    with transaction.atomic():
        profile, created = ExportProfile.objects.update_or_create(
            code=code, defaults={"title": title, "definition": definition, "created_by": actor.user}
        )
        audit_record(
            actor=actor, action="ledger.profile_save", obj=profile, changes={"code": code, "created": created}
        )
    return profile


def ledger_reconcile(*, actor: Actor, entity: Entity | None = None) -> Any:
    """Full reconciliation on demand, audited: one entity, or all the entities the actor is
    responsible for (every entity for an HR admin or the system)."""
    from shebao.accounts.permissions import entity_scope_ids
    from shebao.ledger.reconcile import discrepancies_recompute

    scope = None
    if entity is not None:
        _ensure_entity_access(actor, entity)
    elif actor.user is not None:
        scope = entity_scope_ids(actor.user)
    result = discrepancies_recompute(entity=entity, entity_ids=scope)
    audit_record(
        actor=actor,
        action="ledger.reconcile",
        obj=entity,
        changes={"entity": entity.code if entity else "全部"},
    )
    return result
