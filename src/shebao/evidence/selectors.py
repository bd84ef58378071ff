"""Reads of the evidence ledger for the pages and the API: who may see it, the entries of a case,
an employee or the whole chain (in words: kind label, one-line summary, short hashes), the chain's
status (last verification, head, checkpoints, signing key) and a check of one employee's stream.

HR admins and auditors see every entry; an HR specialist sees the entries of the employees in
their entities (and the organisation's own entries: checkpoints, keys, their data imports);
department managers and employees see none.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_see_employee, employee_scope, entity_scope_ids
from shebao.evidence import keys
from shebao.evidence.labels import entry_summary, kind_label, payload_of
from shebao.evidence.models import Checkpoint, Entry, Head, Settings, VerifyRun
from shebao.evidence.services import FIELDS, evidence_settings
from shebao.evidence.verifier import GENESIS, ChainState, Problem, entry_hash, payload_digest

VIEW_ROLES = {Role.HR_ADMIN, Role.HR_SPECIALIST, Role.AUDITOR}
SHORT = 12  # hash characters shown in lists


# --- permissions ------------------------------------------------------------------------------


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_view_evidence(user) -> bool:
    return _active(user) and user.role in VIEW_ROLES


def can_verify_chain(user) -> bool:
    return _active(user) and user.role in {Role.HR_ADMIN, Role.AUDITOR}


def can_manage_evidence(user) -> bool:
    """Checkpoints on demand and the settings (channel, time-stamping authority)."""
    return _active(user) and user.role == Role.HR_ADMIN


def can_see_employee_evidence(user, employee) -> bool:
    return can_view_evidence(user) and can_see_employee(user, employee)


def entries_visible(user) -> QuerySet[Entry]:
    if not can_view_evidence(user):
        return Entry.objects.none()
    if user.role in {Role.HR_ADMIN, Role.AUDITOR}:
        return Entry.objects.all()
    from shebao.roster.models import Employee

    employees = Employee.objects.filter(employee_scope(user)).values("id")
    organisation = Q(employee_id=None) & (Q(entity_id=None) | Q(entity_id__in=entity_scope_ids(user) or []))
    return Entry.objects.filter(Q(employee_id__in=employees) | organisation)


# --- entries in words -------------------------------------------------------------------------


def entry_time(entry: Entry) -> dt.datetime | None:
    """The hashed UTC text as an aware datetime (shown in local time)."""
    try:
        return dt.datetime.fromisoformat(entry.at.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


@dataclass
class EntryRow:
    entry: Entry
    at: dt.datetime | None
    kind_label: str
    summary: str
    file_sha256: str = ""  # the letter's or the file's SHA-256 the entry vouches for

    def __getattr__(self, name: str) -> Any:  # seq, kind, actor, hash … of the entry
        if name == "entry" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.entry, name)

    @property
    def hash_short(self) -> str:
        return self.entry.hash[:SHORT]


def _file_sha256(payload: dict[str, Any]) -> str:
    for key in ("letter", "attachment"):
        if isinstance(payload.get(key), dict) and payload[key].get("sha256"):
            return str(payload[key]["sha256"])
    return ""


def entry_rows(entries) -> list[EntryRow]:
    return [
        EntryRow(e, entry_time(e), kind_label(e.kind), entry_summary(e), _file_sha256(payload_of(e)))
        for e in entries
    ]


@dataclass(frozen=True)
class EntryFilters:
    kind: str = ""
    seq_from: int | None = None
    seq_to: int | None = None
    case_id: int | None = None
    employee_id: int | None = None
    after: int | None = None  # the API's cursor: entries with a greater seq


def entry_list(user, filters: EntryFilters = EntryFilters()) -> QuerySet[Entry]:
    qs = entries_visible(user)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.seq_from is not None:
        qs = qs.filter(seq__gte=filters.seq_from)
    if filters.seq_to is not None:
        qs = qs.filter(seq__lte=filters.seq_to)
    if filters.case_id is not None:
        qs = qs.filter(case_id=filters.case_id)
    if filters.employee_id is not None:
        qs = qs.filter(employee_id=filters.employee_id)
    if filters.after is not None:
        qs = qs.filter(seq__gt=filters.after)
    return qs


def entry_get(user, seq: int) -> Entry | None:
    return entries_visible(user).filter(seq=seq).first()


def case_entries(case) -> QuerySet[Entry]:
    return Entry.objects.filter(case_id=case.pk).order_by("seq")


def employee_entries(employee) -> QuerySet[Entry]:
    return Entry.objects.filter(employee_id=employee.pk).order_by("seq")


def kind_choices() -> list[tuple[str, str]]:
    from shebao.evidence.labels import KIND_LABELS

    return [(kind, f"{label}（{kind}）") for kind, label in KIND_LABELS.items()]


# --- checks -----------------------------------------------------------------------------------


@dataclass
class EntryCheck:
    """One entry's hashes recomputed, and its links to the entries before it."""

    payload_sha256: str
    payload_ok: bool
    hash: str
    hash_ok: bool
    prev_entry: Entry | None
    prev_ok: bool
    stream_prev_entry: Entry | None
    stream_prev_ok: bool
    next_entry: Entry | None

    @property
    def ok(self) -> bool:
        return self.payload_ok and self.hash_ok and self.prev_ok and self.stream_prev_ok


def entry_check(entry: Entry) -> EntryCheck:
    digest = payload_digest(entry.payload)
    computed = entry_hash(entry.header())
    prev = Entry.objects.filter(seq__lt=entry.seq).order_by("-seq").first()
    stream_prev = None
    if entry.stream:
        stream_prev = Entry.objects.filter(stream=entry.stream, seq__lt=entry.seq).order_by("-seq").first()
    return EntryCheck(
        payload_sha256=digest,
        payload_ok=digest == entry.payload_sha256,
        hash=computed,
        hash_ok=computed == entry.hash,
        prev_entry=prev,
        prev_ok=entry.prev == (prev.hash if prev else GENESIS) and (prev.seq if prev else 0) == entry.seq - 1,
        stream_prev_entry=stream_prev,
        stream_prev_ok=not entry.stream
        or entry.stream_prev == (stream_prev.hash if stream_prev else GENESIS),
        next_entry=Entry.objects.filter(seq__gt=entry.seq).order_by("seq").first(),
    )


def payload_pretty(entry: Entry) -> str:
    try:
        return json.dumps(json.loads(entry.payload), ensure_ascii=False, indent=2, sort_keys=True)
    except (TypeError, ValueError):
        return entry.payload


@dataclass
class StreamCheck:
    """One employee's own chain walked from its first entry (hashes and ``stream_prev`` links)."""

    stream: str
    entries: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    checked_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return next((p.seq for p in self.problems if p.seq is not None), None)

    @property
    def bad_seqs(self) -> set[int]:
        return {p.seq for p in self.problems if p.seq is not None}


def stream_check(employee_id: int) -> StreamCheck:
    stream = f"e{employee_id}"
    state = ChainState(full=False)
    problems: list[Problem] = []
    rows = Entry.objects.filter(stream=stream).order_by("seq").values_list(*FIELDS)
    for row in rows.iterator(chunk_size=2000):
        entry = dict(zip(FIELDS, row, strict=True))
        problems.extend(state.feed(entry, payload_text=entry["payload"]))
    return StreamCheck(
        stream=stream,
        entries=state.checked,
        head_hash=state.streams.get(stream, GENESIS),
        problems=problems,
        checked_at=timezone.now(),
    )


# --- the chain's status -----------------------------------------------------------------------


@dataclass
class ChainStatus:
    entries: int
    head_seq: int
    head_hash: str
    last_run: VerifyRun | None
    checkpoints: list[Checkpoint]
    key_fingerprint: str  # "" before the key exists (it is made with the first bundle or checkpoint)
    settings: Settings

    def as_dict(self) -> dict[str, Any]:
        run = self.last_run
        return {
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "key_fingerprint": self.key_fingerprint,
            "last_verification": verify_run_data(run) if run else None,
            "checkpoints": [checkpoint_data(cp) for cp in self.checkpoints],
            "channel": self.settings.channel.name if self.settings.channel_id else None,
            "tsa_url": self.settings.tsa_url,
        }


def key_fingerprint() -> str:
    key = keys.signing_key(create=False)
    return keys.fingerprint(key) if key is not None else ""


def chain_status(*, checkpoints: int = 10) -> ChainStatus:
    head = Head.objects.filter(pk=1).first()
    return ChainStatus(
        entries=Entry.objects.count(),
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else GENESIS,
        last_run=VerifyRun.objects.first(),
        checkpoints=list(Checkpoint.objects.order_by("-created_at", "-id")[:checkpoints]),
        key_fingerprint=key_fingerprint(),
        settings=evidence_settings(),
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def verify_run_data(run: VerifyRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "result": run.result,
        "result_label": str(run.get_result_display()),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "entries": run.entries,
        "head_seq": run.head_seq,
        "first_bad_seq": run.first_bad_seq,
        "problems": run.problems,
        "checkpoints": run.checkpoints,
        "duration_ms": run.duration_ms,
        "via": run.via,
    }


def checkpoint_data(cp: Checkpoint) -> dict[str, Any]:
    return {
        "id": cp.pk,
        "seq": cp.seq,
        "head_hash": cp.head_hash,
        "created_at": _iso(cp.created_at),
        "key_fingerprint": cp.key_fingerprint,
        "sent_to": cp.sent_to,
        "tsa_url": cp.tsa_url,
        "tsa_time": _iso(cp.tsa_time),
        "tsa_error": cp.tsa_error,
    }


def entry_data(entry: Entry) -> dict[str, Any]:
    """An entry for the API: its hashed header, the payload parsed, and words for people."""
    return {
        **entry.header(),
        "kind_label": kind_label(entry.kind),
        "summary": entry_summary(entry),
        "payload": payload_of(entry) if entry.payload else None,
        "employee_id": entry.employee_id,
        "case_id": entry.case_id,
    }
