"""Evaluation: run each rule's kind (set-based), then reconcile its matches with the stored
findings in bulk: new keys open, vanished keys resolve (with the kind's reason), returning keys
reopen, expired snoozes reopen, changed evidence updates in place. Every status change writes a
``FindingTransition`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation

from shebao.core.exceptions import ApplicationError
from shebao.rules.context import Context, Scope
from shebao.rules.kinds import KINDS, Match, RuleKind
from shebao.rules.models import SEVERITY_RANK, AlertRule, Finding, FindingTransition

F = Finding.Status
_UPDATE_FIELDS = [
    "entity_id",
    "employee_id",
    "person_id",
    "department_id",
    "severity",
    "title",
    "details",
    "citations",
    "next_step",
    "deadline",
    "amount",
    "digest",
    "updated_at",
]


@dataclass
class RuleOutcome:
    rule_id: int
    kind: str
    matches: int = 0
    opened: int = 0
    reopened: int = 0
    updated: int = 0
    resolved: int = 0
    unchanged: int = 0
    seconds: float = 0.0


@dataclass
class EvaluationResult:
    evaluated_at: dt.datetime
    as_of: dt.date
    incremental: bool
    rules: list[RuleOutcome] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.rules)

    @property
    def opened(self) -> int:
        return self.total("opened") + self.total("reopened")

    @property
    def updated(self) -> int:
        return self.total("updated")

    @property
    def resolved(self) -> int:
        return self.total("resolved")

    @property
    def matches(self) -> int:
        return self.total("matches")


@dataclass(frozen=True)
class Row:
    """A match as the Finding row would hold it. The details stay encoded (the digest is taken
    over them) and are decoded only for the rows that are written."""

    key: str
    fields: dict[str, Any]
    details_json: str
    digest: str

    @property
    def values(self) -> dict[str, Any]:
        return {**self.fields, "details": json.loads(self.details_json)}


def _severity(rule: AlertRule, match: Match) -> str:
    if match.severity is None:
        return rule.severity
    # a kind may lower the severity (a warning before the deadline), never raise it above the rule's
    return min(match.severity, rule.severity, key=lambda s: SEVERITY_RANK[s])


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def build_row(rule: AlertRule, kind: RuleKind, match: Match) -> Row:
    """The stored values of a match (call under the product language: the wording is stored)."""
    language = translation.get_language()
    title = kind.title(match.variant, match.args, language)[:300]
    explanation = kind.explanation(match.variant, match.args, language)
    next_step = kind.next_step(match.variant, match.args, language)
    # day counts are not stored (see RuleKind.volatile): the row changes when the data does
    args = {k: v for k, v in match.args.items() if k not in kind.volatile}
    details = {k: v for k, v in match.details.items() if k not in kind.volatile}
    details_json = json.dumps(
        {**details, "variant": match.variant, "args": args, "explanation": explanation},
        default=_plain,
        ensure_ascii=False,
    )
    fields = {
        "entity_id": match.entity_id,
        "employee_id": match.employee_id,
        "person_id": match.person_id,
        "department_id": match.department_id,
        "severity": _severity(rule, match),
        "title": title,
        "citations": list(kind.citations if match.citations is None else match.citations),
        "next_step": next_step,
        "deadline": match.deadline,
        "amount": None if match.amount is None else match.amount.quantize(Decimal("0.01")),
    }
    # the title and the next step are worded from the variant and the arguments (in the details)
    # plus the day counts: left out of the digest, or every finding would change every day
    stable = {k: v for k, v in fields.items() if k not in ("title", "next_step")}
    digest = hashlib.sha256(
        (json.dumps(stable, sort_keys=True, default=_plain, ensure_ascii=False) + details_json).encode()
    ).hexdigest()
    return Row(match.key, fields, details_json, digest)


def rule_matches(rule: AlertRule, ctx: Context) -> tuple[RuleKind, list[Row]]:
    kind = KINDS[rule.kind]
    params = kind.parse_params(rule.params)
    rows: dict[str, Row] = {}
    with translation.override(settings.LANGUAGE_CODE):
        for match in kind.evaluate(ctx, params, Scope.of(rule)):
            row = build_row(rule, kind, match)
            rows[row.key] = row  # a kind reports a key once; the last wins if not
    return kind, list(rows.values())


def _judges_people(rule: AlertRule) -> bool:
    """Whether the rule's kind names ledger people nobody employs (and so is evaluated for the
    ``person_ids`` of an incremental evaluation). An employee kind judges only ``employee_ids``:
    its findings that also name a ledger person (a namesake) must not be read as "gone" when a
    sync touched only that person."""
    return KINDS[rule.kind].subject_type == "person"


def _existing(rule: AlertRule, ctx: Context):
    qs = Finding.objects.filter(rule_id=rule.pk)
    qs = ctx.limit(
        qs, employee_field="employee_id", person_field="person_id" if _judges_people(rule) else None
    )
    return {
        key: (pk, status, digest, until)
        for pk, key, status, digest, until in qs.order_by().values_list(
            "id", "key", "status", "digest", "snoozed_until"
        )
    }


def preview(rule: AlertRule, ctx: Context) -> RuleOutcome:
    """What evaluating ``rule`` would do, without writing anything."""
    kind, rows = rule_matches(rule, ctx)
    existing = _existing(rule, ctx) if rule.pk else {}
    out = RuleOutcome(rule.pk or 0, rule.kind, matches=len(rows))
    seen = set()
    for row in rows:
        seen.add(row.key)
        old = existing.get(row.key)
        if old is None:
            out.opened += 1
        elif old[1] == F.RESOLVED:
            out.reopened += 1
        elif old[1] == F.SNOOZED and old[3] is not None and old[3] <= ctx.as_of:
            out.reopened += 1  # an expired snooze reopens, as _apply does
        elif old[2] != row.digest:
            out.updated += 1
        else:
            out.unchanged += 1
    out.resolved = sum(1 for key, old in existing.items() if key not in seen and old[1] != F.RESOLVED)
    return out


def _update(changed: list[tuple[int, Row]], now) -> None:
    """Write changed findings with one executemany (the details are already encoded; the ORM's
    bulk_update builds a CASE per field and row, minutes for a few thousand rows)."""
    json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    names = [f for f in _UPDATE_FIELDS if f not in ("details", "digest", "updated_at", "citations")]
    table = Finding._meta.db_table
    sql = (
        f"UPDATE {table} SET "
        + ", ".join(f"{n} = %s" for n in names)
        + f", details = {json_param}, citations = {json_param}, digest = %s, updated_at = %s WHERE id = %s"
    )
    updated_at = Finding._meta.get_field("updated_at").get_db_prep_value(now, connection)
    params = [
        [
            *(row.fields[n] for n in names),
            row.details_json,
            json.dumps(row.fields["citations"], ensure_ascii=False),
            row.digest,
            updated_at,
            pk,
        ]
        for pk, row in changed
    ]
    with connection.cursor() as cur:
        for i in range(0, len(params), 1000):
            cur.executemany(sql, params[i : i + 1000])


_INSERT_FIELDS = [
    "entity_id",
    "employee_id",
    "person_id",
    "department_id",
    "severity",
    "title",
    "next_step",
    "deadline",
    "amount",
]


def _insert(rule: AlertRule, rows: list[Row], now) -> list[int]:
    """Write new findings with one executemany, like ``_update`` (the ORM's bulk_create prepares
    every value of every row: ~0.4 ms a finding, seconds for a first evaluation), and read their
    ids back by key. Returns the ids in the order of ``rows``."""
    q = connection.ops.quote_name
    json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    table = q(Finding._meta.db_table)
    columns = ["rule_id", "kind", "key", "status", *_INSERT_FIELDS, "details", "citations", "digest"]
    columns += ["first_seen_at", "updated_at", "status_changed_at", "resolved_reason"]
    marks = ["%s"] * 4 + ["%s"] * len(_INSERT_FIELDS) + [json_param, json_param] + ["%s"] * 5
    sql = f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) VALUES ({', '.join(marks)})"
    stamp = Finding._meta.get_field("updated_at").get_db_prep_value(now, connection)
    params = [
        [
            rule.pk,
            rule.kind,
            row.key,
            Finding.Status.OPEN,
            *(row.fields[n] for n in _INSERT_FIELDS),
            row.details_json,
            json.dumps(row.fields["citations"], ensure_ascii=False),
            row.digest,
            stamp,
            stamp,
            stamp,
            "",
        ]
        for row in rows
    ]
    ids: dict[str, int] = {}
    with connection.cursor() as cur:
        for i in range(0, len(params), 1000):
            cur.executemany(sql, params[i : i + 1000])
        keys = [row.key for row in rows]
        for i in range(0, len(keys), 900):
            chunk = keys[i : i + 900]
            cur.execute(
                f"SELECT {q('key')}, id FROM {table} WHERE rule_id = %s AND {q('key')} IN "
                f"({', '.join(['%s'] * len(chunk))})",
                [rule.pk, *chunk],
            )
            ids.update(cur.fetchall())
    return [ids[row.key] for row in rows]


def _lock(rule_ids: list[int], now) -> None:
    """Take the rules' locks before reading: two evaluations of one rule never interleave
    (PostgreSQL: the rows' locks, in id order; SQLite: IMMEDIATE transactions already serialise
    writers, the UPDATE takes the write lock at once)."""
    locked = AlertRule.objects.filter(pk__in=sorted(rule_ids))
    if connection.vendor == "postgresql":
        list(locked.order_by("id").select_for_update().values_list("id", flat=True))
    locked.update(last_evaluated_at=now)


def evaluate_rule(rule: AlertRule, ctx: Context, *, actor_user=None) -> RuleOutcome:
    """Evaluate one rule and store the outcome in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        _lock([rule.pk], now)
        return _apply(rule, ctx, _existing(rule, ctx), now, actor_user)


def _apply(rule: AlertRule, ctx: Context, existing: dict, now, actor_user) -> RuleOutcome:
    """Match ``rule`` and write the differences against ``existing`` (key → (id, status, digest,
    snoozed_until)); runs inside the caller's transaction."""
    import time

    started = time.perf_counter()
    out = RuleOutcome(rule.pk, rule.kind)
    kind, rows = rule_matches(rule, ctx)
    out.matches = len(rows)
    transitions: list[FindingTransition] = []
    new: list[Row] = []
    changed: list[tuple[int, Row]] = []
    reopen: list[tuple[Finding, str, str]] = []
    label = "系统（规则评估）"
    for row in rows:
        old = existing.pop(row.key, None)
        if old is None:
            new.append(row)
            continue
        pk, status, digest, until = old
        if status == F.RESOLVED:
            reopen.append(
                (Finding(pk=pk, digest=row.digest, updated_at=now, **row.values), status, "问题再次出现")
            )
        elif status == F.SNOOZED and until is not None and until <= ctx.as_of:
            reopen.append(
                (
                    Finding(pk=pk, digest=row.digest, updated_at=now, **row.values),
                    status,
                    f"暂缓至 {until.isoformat()} 已到期，问题仍在",
                )
            )
        elif digest != row.digest:
            changed.append((pk, row))
        else:
            out.unchanged += 1
    if new:
        created = _insert(rule, new, now)
        transitions += [
            FindingTransition(
                finding_id=pk,
                from_status="",
                to_status=F.OPEN,
                reason="发现问题",
                actor=actor_user,
                actor_label=label,
            )
            for pk in created
        ]
        out.opened = len(created)
    if changed:
        _update(changed, now)
        out.updated = len(changed)
    if reopen:
        items = [f for f, _, _ in reopen]
        for f in items:
            f.status, f.status_changed_at, f.resolved_at, f.resolved_reason, f.snoozed_until = (
                F.OPEN,
                now,
                None,
                "",
                None,
            )
        Finding.objects.bulk_update(
            items,
            [
                *_UPDATE_FIELDS,
                "status",
                "status_changed_at",
                "resolved_at",
                "resolved_reason",
                "snoozed_until",
            ],
            batch_size=500,
        )
        transitions += [
            FindingTransition(
                finding_id=f.pk,
                from_status=old,
                to_status=F.OPEN,
                reason=why,
                actor=actor_user,
                actor_label=label,
            )
            for f, old, why in reopen
        ]
        out.reopened = len(reopen)
    gone = [(pk, status) for pk, status, _d, _u in existing.values() if status != F.RESOLVED]
    if gone:
        with translation.override(settings.LANGUAGE_CODE):
            reason = str(translation.gettext(kind.resolved_reason))
        ids = [pk for pk, _ in gone]
        for i in range(0, len(ids), 500):
            Finding.objects.filter(pk__in=ids[i : i + 500]).update(
                status=F.RESOLVED,
                resolved_at=now,
                resolved_reason=reason,
                status_changed_at=now,
                snoozed_until=None,
                updated_at=now,
            )
        transitions += [
            FindingTransition(
                finding_id=pk,
                from_status=status,
                to_status=F.RESOLVED,
                reason=reason,
                actor=actor_user,
                actor_label=label,
            )
            for pk, status in gone
        ]
        out.resolved = len(gone)
    if transitions:
        transitions_record(transitions)
    out.seconds = time.perf_counter() - started
    return out


BULK_TRANSITIONS = 500  # from this many at once, transitions are written by executemany


def transitions_record(transitions: list[FindingTransition]) -> None:
    """Write transitions and, in the same transaction, the notifications they cause (the
    notifications room's outbox: rules → notify is the next arrow of the data path)."""
    from shebao.notify.services import notifications_enqueue

    if len(transitions) < BULK_TRANSITIONS:
        created = FindingTransition.objects.bulk_create(transitions)
    else:  # a first evaluation: thousands at once, written like the findings (see _insert)
        created = _insert_transitions(transitions)
    notifications_enqueue(transitions=created)
    if any(t.to_status == "open" for t in created):
        from shebao.evidence.recorders import findings_opened_record

        findings_opened_record(created)
        from shebao.cases.tasks import cases_auto_open_on_commit

        cases_auto_open_on_commit()


def _insert_transitions(transitions: list[FindingTransition]) -> list[FindingTransition]:
    """Write transitions with one executemany and read their ids back (by finding, status and
    the one timestamp they share); returns them with their ids set."""
    from shebao.core.bulk import insert_rows

    now = timezone.now()
    insert_rows(
        FindingTransition,
        (
            {
                "finding_id": t.finding_id,
                "from_status": t.from_status,
                "to_status": t.to_status,
                "reason": t.reason,
                "actor_id": t.actor_id,
                "actor_label": t.actor_label,
                "created_at": now,
                "processed_at": None,
            }
            for t in transitions
        ),
    )
    ids: dict[tuple[int, str], int] = {}
    finding_ids = sorted({t.finding_id for t in transitions})
    for i in range(0, len(finding_ids), 900):
        ids.update(
            ((fid, to), pk)
            for pk, fid, to in FindingTransition.objects.filter(
                finding_id__in=finding_ids[i : i + 900], created_at=now
            ).values_list("id", "finding_id", "to_status")
        )
    for t in transitions:
        t.pk, t.created_at = ids[(t.finding_id, t.to_status)], now
    return transitions


def _prepare(rules: list[AlertRule], ctx: Context) -> None:
    """Let each rule's kind note what it will read (``RuleKind.prepare``); a rule whose stored
    parameters no longer parse is left to fail in its own evaluation."""
    for rule in rules:
        kind = KINDS.get(rule.kind)
        if kind is None:
            continue
        try:
            params = kind.parse_params(rule.params)
        except ApplicationError:
            continue
        kind.prepare(ctx, params, Scope.of(rule))


def evaluate(rules: list[AlertRule], ctx: Context, *, actor_user=None) -> EvaluationResult:
    result = EvaluationResult(timezone.now(), ctx.as_of, ctx.incremental)
    _prepare(rules, ctx)
    if not ctx.incremental:  # a transaction per rule: a full evaluation never holds the lock long
        for rule in rules:
            result.rules.append(evaluate_rule(rule, ctx, actor_user=actor_user))
        return result
    # incremental (a few employees after a sync or an edit): one transaction, one read of their findings
    now = result.evaluated_at
    with transaction.atomic():
        if rules:
            _lock([r.pk for r in rules], now)
        existing: dict[int, dict] = {r.pk: {} for r in rules}
        qs = ctx.limit(
            Finding.objects.filter(rule_id__in=list(existing)),
            employee_field="employee_id",
            person_field="person_id",
        )
        people = {r.pk for r in rules if _judges_people(r)}
        for rule_id, pk, key, status, digest, until, employee_id in qs.order_by().values_list(
            "rule_id", "id", "key", "status", "digest", "snoozed_until", "employee_id"
        ):
            if rule_id not in people and employee_id not in ctx.employee_ids:
                continue  # read for its ledger person only: not judged here (see _judges_people)
            existing[rule_id][key] = (pk, status, digest, until)
        for rule in rules:
            result.rules.append(_apply(rule, ctx, existing[rule.pk], now, actor_user))
    return result
