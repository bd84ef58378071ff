"""Roster import: upload → parse (read, map columns, normalise, plan) → preview → commit.

* ``import_batch_create`` stores the file and queues the parse.
* ``import_batch_parse`` reads the file, maps its columns (a saved mapping for the same headers,
  else the aliases of ``fields``), then normalises, plans and stages the rows chunk by chunk:
  each row against the database (create, update — only the fields that differ —, unchanged or
  reject, with the Excel row, the column as in the file, a code and a Chinese message), then the
  checks between rows of the whole file (the same person twice, one 工号 for two people). The
  staged ``ImportRow`` rows are the preview. Memory does not grow with the file beyond the table
  read from it and one small key per row.
* ``import_batch_commit`` plans the staged rows again inside ONE transaction (the database may
  have changed since the preview), chunk by chunk, and writes each chunk in bulk: new
  departments, new employees and their first spell, changed fields of existing employees and
  their current spell (a re-hire gets a new spell). The final status and the ``import.commit``
  audit row are written in the same transaction, so a crash or a killed worker leaves nothing
  half-done.

Identity and phone numbers are never stored in plaintext: the file's cells are staged as
ciphertext (purposes ``import.id_number`` / ``import.phone``) plus masked copies for display; the
normalised numbers as the roster stores them (its purposes), which the commit copies; matching
uses the roster's blind index.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import posixpath
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_edit_roster, entity_scope_ids
from shebao.audit.services import audit_record
from shebao.core import crypto
from shebao.core.bulk import insert_rows
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.core.identity import IdKind, mask_identity, mask_phone, normalize_text, parse_identity
from shebao.imports import fields as F
from shebao.imports.models import ID_PURPOSE, PHONE_PURPOSE, HeaderMapping, ImportBatch, ImportRow
from shebao.imports.readers import ImportFileError, read_table
from shebao.imports.retention import import_batch_file_purge
from shebao.org.models import Department, Entity
from shebao.org.services import department_set_path
from shebao.roster import models as roster
from shebao.roster.models import Employee, EmploymentSpell
from shebao.roster.services import employee_status_for

logger = logging.getLogger(__name__)

Status = ImportBatch.Status
Mode = ImportBatch.Mode
Action = ImportRow.Action

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
CHUNK = 2000
STALE = dt.timedelta(hours=1)  # a parsing/committing batch untouched this long was abandoned
PARSABLE = (Status.UPLOADED, Status.NEEDS_MAPPING, Status.PREVIEWED, Status.REJECTED, Status.FAILED)
MAPPABLE = (Status.NEEDS_MAPPING, Status.PREVIEWED, Status.REJECTED)
PURGED_MESSAGE = "原文件已按保留策略删除，请重新上传"

# Row errors computed against the database (recomputed at commit); all other codes are cell errors.
PLAN_CODES = frozenset(
    {
        "entity_required",
        "entity_unknown",
        "forbidden_entity",
        "forbidden_employee",
        "department_unknown",
        "department_ambiguous",
        "invalid_department",
        "duplicate_in_file",
        "name_mismatch",
        "employee_no_taken",
        "employee_no_duplicate",
        "id_kind_unknown",
    }
)
SPELL_FIELDS = (
    "entity_id",
    "department_id",
    "employee_no",
    "employment_type",
    "hire_date",
    "leave_date",
    "declared_wage",
)
_EMPLOYEE_VALUES = (
    "id",
    "name",
    "id_kind",
    "id_number_bidx",
    "phone_enc",
    "phone_bidx",
    "email",
    "hukou_type",
    "employee_no",
    "entity_id",
    "department_id",
    "employment_type",
    "hire_date",
    "leave_date",
    "declared_wage",
    "status",
)
_ID_KIND_LABELS = {k.value: k.label for k in IdKind}
_GB11643 = {IdKind.RESIDENT.value, IdKind.HMT_RESIDENCE.value, IdKind.FOREIGN_PERMANENT.value}

ProgressFn = Callable[[int], None]


# --- permissions ---------------------------------------------------------------------------------


def _ensure_can_import(actor: Actor) -> None:
    # Actors without a user are the CLI and the worker, which run with the operator's trust.
    if actor.user is not None and not can_edit_roster(actor.user):
        raise PermissionDenied("没有导入花名册的权限：只有 HR 管理员和 HR 专员可以导入")


def _ensure_batch_access(actor: Actor, batch: ImportBatch) -> None:
    user = actor.user
    if user is None or user.role == Role.HR_ADMIN:
        return
    if batch.uploaded_by_id != user.pk:
        raise PermissionDenied("只能操作自己上传的导入批次")


def _scope(user) -> set[int] | None:
    if user is None:
        return None
    ids = entity_scope_ids(user)
    return None if ids is None else set(ids)


# --- progress ------------------------------------------------------------------------------------


def progress_key(batch_id: int) -> str:
    return f"shebao.imports.progress.{batch_id}"


def _progress(batch: ImportBatch, pct: int, callback: ProgressFn | None, *, in_transaction: bool) -> None:
    """Report progress: to the caller, and where other processes can read it. Inside the commit's
    transaction the batch row is invisible to them, so the task queue's key-value store is used."""
    pct = max(0, min(100, int(pct)))
    if callback is not None:
        callback(pct)
    if in_transaction:
        try:
            from huey.contrib.djhuey import HUEY

            HUEY.put(progress_key(batch.pk), pct)
        except Exception:  # progress is a nicety: never let it break an import
            logger.debug("progress store unavailable", exc_info=True)
    else:
        ImportBatch.objects.filter(pk=batch.pk).update(progress=pct)
    batch.progress = pct


def _progress_clear(batch_id: int) -> None:
    try:
        from huey.contrib.djhuey import HUEY

        HUEY.get(progress_key(batch_id))  # a non-peeking get removes the key
    except Exception:
        logger.debug("progress store unavailable", exc_info=True)


# --- create --------------------------------------------------------------------------------------


def _safe_file_name(filename: str) -> str:
    name = posixpath.basename(str(filename or "").replace("\\", "/")).strip() or "upload"
    if F.looks_sensitive(name):  # "张三_110101199003077777.xlsx": keep the name, not the number
        name = F.mask_sensitive(name)
    return name[-255:]


def import_batch_create(
    *,
    actor: Actor,
    data: bytes,
    filename: str,
    default_entity: Entity | None = None,
    mode: str = Mode.ALL_OR_NOTHING,
    enqueue: bool = True,
) -> ImportBatch:
    """Store an uploaded roster file as a new batch; the parse is queued after the transaction
    commits (``enqueue=False``: the caller parses, as the CLI does)."""
    _ensure_can_import(actor)
    if mode not in Mode.values:
        raise ApplicationError(f"未知的导入方式“{mode}”", field_errors={"mode": "无效"})
    if not data:
        raise ApplicationError(
            "文件是空的：请确认选择了正确的文件后重新上传", field_errors={"file": "空文件"}
        )
    if len(data) > MAX_BYTES:
        raise ApplicationError(
            f"文件太大（{len(data) / 1024 / 1024:.1f} MB），上限为 20 MB：请拆分成多个文件后分别上传",
            field_errors={"file": "文件太大"},
        )
    scope = _scope(actor.user)
    if default_entity is not None and scope is not None and default_entity.pk not in scope:
        raise PermissionDenied(f"无权导入到参保主体“{default_entity.name}”")
    batch = import_file_store(
        actor=actor,
        kind=ImportBatch.Kind.ROSTER,
        data=data,
        filename=filename,
        default_entity=default_entity,
        mode=mode,
        action="import.upload",
        changes={"mode": mode, "default_entity": default_entity.code if default_entity else ""},
        on_commit=(lambda b: _enqueue_parse(b.pk)) if enqueue else None,
    )
    return batch


def import_file_store(
    *,
    actor: Actor,
    kind: str,
    data: bytes,
    filename: str,
    default_entity: Entity | None,
    action: str,
    changes: dict[str, Any],
    mode: str = Mode.ALL_OR_NOTHING,
    on_commit: Callable[[ImportBatch], None] | None = None,
) -> ImportBatch:
    """Keep an uploaded file as a batch (private storage, SHA-256, size) with its audit row, in one
    transaction; the stored file is removed again if that transaction fails. The roster import and
    the contribution-ledger upload both keep their files this way, under one retention policy."""
    name = _safe_file_name(filename)
    batch = ImportBatch(
        kind=kind,
        file_name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        uploaded_by=actor.user,
        mode=mode,
        default_entity=default_entity,
    )
    batch.file.save(name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            batch.save()
            audit_record(
                actor=actor,
                action=action,
                obj=batch,
                changes={"file_name": name, "sha256": batch.sha256, "size": batch.size, **changes},
            )
            if on_commit is not None:
                on_commit(batch)
    except BaseException:
        batch.file.delete(save=False)
        raise
    return batch


def _enqueue_parse(batch_id: int) -> None:
    from shebao.imports.tasks import import_batch_parse_task

    transaction.on_commit(lambda: import_batch_parse_task(batch_id))


def import_batch_set_mode(*, actor: Actor, batch: ImportBatch, mode: str) -> ImportBatch:
    """Choose all-or-nothing or valid-rows-only before committing."""
    _ensure_can_import(actor)
    _ensure_batch_access(actor, batch)
    if mode not in Mode.values:
        raise ApplicationError(f"未知的导入方式“{mode}”")
    with transaction.atomic():
        updated = ImportBatch.objects.filter(
            pk=batch.pk, status__in=(Status.UPLOADED, Status.NEEDS_MAPPING, Status.PREVIEWED)
        ).update(mode=mode, updated_at=timezone.now())
        if not updated:
            raise ApplicationError("该批次已导入或正在处理，不能再修改导入方式")
        audit_record(actor=actor, action="import.mode", obj=batch, changes={"mode": mode})
    batch.refresh_from_db()
    return batch


# --- column mapping ------------------------------------------------------------------------------


@dataclass
class MappingCheck:
    mapping: dict[str, str | None]
    unknown: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # field → headers
    fatal: str = ""  # a batch-level error no mapping can fix
    missing: list[str] = field(default_factory=list)  # required fields without a column


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _named_headers(headers: list[str]) -> list[str]:
    seen: list[str] = []
    for h in headers:
        if h.strip() and h not in seen:
            seen.append(h)
    return seen


def _mapped_columns(headers: list[str], mapping: dict[str, str | None]) -> dict[str, str]:
    """field → header, in the order of the file's columns (a JSON object's key order is not kept
    by PostgreSQL's jsonb, so the order always comes from ``headers``)."""
    cols: dict[str, str] = {}
    for header in _named_headers(headers):
        target = mapping.get(header)
        if target and target != F.IGNORE:
            cols.setdefault(target, header)
    return cols


def _required(default_entity: bool) -> list[str]:
    return [f for f in F.REQUIRED if not (f == "entity" and default_entity)]


def _check_mapping(
    headers: list[str], mapping: dict[str, str | None], *, default_entity: bool
) -> MappingCheck:
    check = MappingCheck(mapping=mapping)
    by_field: dict[str, list[str]] = defaultdict(list)
    for header in _named_headers(headers):
        target = mapping.get(header)
        if target is None:
            check.unknown.append(header)
        elif target != F.IGNORE:
            by_field[target].append(header)
    for key, names in by_field.items():
        if len(names) > 1:
            check.ambiguous[key] = names
    for header, count in ((h, headers.count(h)) for h in _named_headers(headers)):
        if count > 1 and mapping.get(header) not in (None, F.IGNORE):
            cols = "、".join(f"{_column_letter(i)}列" for i, h in enumerate(headers) if h == header)
            check.fatal = f"表头“{header}”出现了{count}次（{cols}）：请删除或改名其中一列后重新上传"
            break
    check.missing = [f for f in _required(default_entity) if f not in by_field]
    return check


def _proposed_mapping(headers: list[str]) -> tuple[dict[str, str | None], str]:
    """A saved mapping for these headers, else the aliases. Returns (mapping, source)."""
    saved = HeaderMapping.objects.filter(signature=F.header_signature(headers)).first()
    if saved is not None:
        by_key = {F.normalize_header(h): v for h, v in saved.mapping.items()}
        mapping = {h: by_key.get(F.normalize_header(h)) for h in _named_headers(headers)}
        if all(v == F.IGNORE or v in F.FIELDS for v in mapping.values()):
            return mapping, "saved"
    return {h: F.header_field(h) for h in _named_headers(headers)}, "aliases"


def _mapping_message(check: MappingCheck) -> str:
    parts = []
    if check.unknown:
        parts.append("以下列无法识别：" + "、".join(f"“{h}”" for h in check.unknown))
    for key, names in check.ambiguous.items():
        parts.append(
            "、".join(f"“{h}”" for h in names) + f"都对应“{F.FIELDS[key].label}”：请只保留一列，其余设为忽略"
        )
    return "；".join(parts) + "。请指定每一列对应的字段（或忽略该列）"


def _missing_message(missing: list[str]) -> str:
    names = "、".join(F.FIELDS[f].label for f in missing)
    hints = "；".join(f"{F.FIELDS[f].label}可写作 " + "/".join(F.FIELDS[f].aliases[:4]) for f in missing)
    extra = "（或在导入时选择默认参保主体）" if "entity" in missing else ""
    return f"缺少必填列：{names}{extra}。{hints}"


def import_batch_set_mapping(
    *,
    actor: Actor,
    batch: ImportBatch,
    mapping: dict[str, str],
    remember: bool = True,
    enqueue: bool = True,
) -> ImportBatch:
    """Confirm which field each column holds (``mapping``: header → field key or "ignore"; the
    headers not given keep the proposal) and parse again. ``remember`` saves the mapping for
    files with the same headers."""
    _ensure_can_import(actor)
    _ensure_batch_access(actor, batch)
    batch.refresh_from_db()
    if batch.status not in MAPPABLE:
        raise ApplicationError(f"该批次状态为“{batch.get_status_display()}”，不能修改列映射")
    if batch.file_purged_at is not None:
        raise ApplicationError(PURGED_MESSAGE)
    headers = list(batch.headers)
    named = _named_headers(headers)
    merged: dict[str, str | None] = {h: (batch.mapping or {}).get(h) for h in named}
    errors: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in merged:
            errors[header] = f"文件中没有名为“{header}”的列"
        elif target != F.IGNORE and target not in F.FIELDS:
            errors[header] = f"未知字段“{target}”"
        else:
            merged[header] = target
    if errors:
        raise ApplicationError(next(iter(errors.values())), field_errors=errors)
    check = _check_mapping(headers, merged, default_entity=batch.default_entity_id is not None)
    if check.unknown:
        raise ApplicationError(
            "还有列未指定：" + "、".join(f"“{h}”" for h in check.unknown) + "（不需要的列请设为忽略）",
            field_errors={h: "请选择" for h in check.unknown},
        )
    if check.ambiguous:
        key, names = next(iter(check.ambiguous.items()))
        raise ApplicationError(
            f"“{F.FIELDS[key].label}”被指定给了多列（"
            + "、".join(f"“{h}”" for h in names)
            + "）：每个字段只能对应一列",
            field_errors={h: "重复" for h in names},
        )
    if check.fatal:
        raise ApplicationError(check.fatal)
    if check.missing:
        raise ApplicationError(_missing_message(check.missing))
    with transaction.atomic():
        # Conditional: the retention sweep may have purged the file meanwhile.
        if not ImportBatch.objects.filter(
            pk=batch.pk, status__in=MAPPABLE, file_purged_at__isnull=True
        ).update(mapping=merged, status=Status.UPLOADED, error="", progress=0, updated_at=timezone.now()):
            raise ApplicationError(PURGED_MESSAGE)
        batch.refresh_from_db()
        if remember:
            HeaderMapping.objects.update_or_create(
                signature=F.header_signature(headers),
                defaults={"headers": named, "mapping": merged, "created_by": actor.user},
            )
        audit_record(
            actor=actor,
            action="import.mapping",
            obj=batch,
            changes={"mapping": merged, "remember": remember},
        )
        if enqueue:
            _enqueue_parse(batch.pk)
    return batch


# --- rows: normalise -----------------------------------------------------------------------------


@dataclass(slots=True)
class Rec:
    """One data row while it is planned."""

    excel_row: int
    values: dict[str, Any] = field(default_factory=dict)  # field → normalised Python value
    original: dict[str, str] = field(default_factory=dict)
    original_enc: dict[str, str] = field(default_factory=dict)
    id_enc: str = ""
    id_bidx: str = ""
    phone_enc: str = ""
    phone_bidx: str = ""
    cell_errors: list[dict[str, str]] = field(default_factory=list)
    pk: int | None = None  # staged ImportRow
    stored: tuple | None = None  # staged (action, errors, diff, values, employee_id)
    # plan
    errors: list[dict[str, str]] = field(default_factory=list)
    action: str = ""
    employee_id: int | None = None
    existing: dict[str, Any] | None = None
    entity: Entity | None = None
    dept: F.DeptRef | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    diff: dict[str, list[Any]] = field(default_factory=dict)
    rehire: bool = False


def _misplaced(header: str) -> F.FieldError:
    return F.FieldError(
        f"“{header}”列的内容像是证件号码或手机号码：请检查该列是否填错或错位", "misplaced_identifier"
    )


# Parsers of the plain fields, in the order their errors are reported.
_PARSERS: dict[str, Callable[[object], Any]] = {
    "name": F.parse_name,
    "employee_no": F.parse_employee_no,
    "hire_date": functools.partial(F.parse_date, label="入职日期"),
    "leave_date": functools.partial(F.parse_date, label="离职日期"),
    "employment_type": F.parse_employment_type,
    "hukou_type": F.parse_hukou_type,
    "declared_wage": F.parse_wage,
    "email": F.parse_email,
    "entity": F.clean_text,
    "department": F.clean_text,
}
# Columns whose few distinct values repeat down the file: each is read once per parse (memo).
_REPEATING = frozenset(
    {
        "id_kind",
        "hire_date",
        "leave_date",
        "employment_type",
        "hukou_type",
        "declared_wage",
        "entity",
        "department",
    }
)
_MEMO_LIMIT = 50_000


def _outcome(parse: Callable[[object], Any], raw: object) -> Any:
    try:
        return parse(raw)
    except F.FieldError as exc:
        return exc


def _normalise(
    excel_row: int, cells: dict[str, object], cols: dict[str, str], memo: dict | None = None
) -> Rec:
    """Cells of the mapped columns → normalised values, masked/encrypted originals, cell errors.

    ``memo`` (one per parse) remembers what a repeating column's value reads as."""
    rec = Rec(excel_row)
    values = rec.values

    def err(key: str, exc: F.FieldError) -> None:
        rec.cell_errors.append({"column": cols[key], "code": exc.code, "message": exc.message})

    outcomes: dict[str, Any] = {}  # field → parsed value or FieldError (not for misplaced cells)
    for key, raw in cells.items():
        if key in ("id_number", "phone"):
            continue
        memo_key = (key, raw.__class__, raw) if memo is not None and key in _REPEATING else None
        hit = memo.get(memo_key) if memo_key is not None else None
        if hit is None:
            text = F.cell_text(raw).strip()
            if text and key != "email" and F.looks_sensitive(text):
                rec.original[cols[key]] = F.mask_sensitive(text)
                rec.original_enc[cols[key]] = crypto.encrypt(text, purpose=ID_PURPOSE)
                err(key, _misplaced(cols[key]))
                continue
            parse = F.parse_id_kind if key == "id_kind" else _PARSERS.get(key)
            hit = (text, _outcome(parse, raw) if parse else None)
            if memo_key is not None:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[memo_key] = hit
        rec.original[cols[key]] = hit[0]
        outcomes[key] = hit[1]

    kind = None
    kind_bad = False
    if "id_kind" in outcomes:
        kind = outcomes["id_kind"]
        if isinstance(kind, F.FieldError):
            err("id_kind", kind)
            kind, kind_bad = None, True
    elif "id_kind" in cells:
        kind_bad = True  # the cell held something else (misplaced)
    if "id_number" in cells:
        _normalise_identity(rec, cells["id_number"], cols["id_number"], kind, kind_bad, err)
    if "phone" in cells:
        raw = cells["phone"]
        text = F.cell_text(raw).strip()
        if text:
            try:
                phone = F.parse_phone(raw)
                rec.phone_enc = crypto.encrypt(phone, purpose=roster.PHONE_PURPOSE)
                rec.phone_bidx = crypto.blind_index(phone, purpose=roster.PHONE_PURPOSE)
                values["phone"] = mask_phone(phone)
            except F.FieldError as exc:
                err("phone", exc)
            rec.original[cols["phone"]] = mask_phone(text)
            rec.original_enc[cols["phone"]] = crypto.encrypt(text, purpose=PHONE_PURPOSE)

    for key in _PARSERS:
        if key not in outcomes:
            continue
        value = outcomes[key]
        if isinstance(value, F.FieldError):
            err(key, value)
        elif key == "hire_date" and value is None:
            err(key, F.FieldError("入职日期不能为空", "required"))
        elif value not in (None, ""):
            values[key] = value
    hire, leave = values.get("hire_date"), values.get("leave_date")
    if hire and leave and leave < hire:
        err(
            "leave_date",
            F.FieldError(
                f"离职日期 {leave.isoformat()} 早于入职日期 {hire.isoformat()}", "leave_before_hire"
            ),
        )
    return rec


def _normalise_identity(
    rec: Rec, raw: object, header: str, kind: str | None, kind_bad: bool, err: Callable[..., None]
) -> None:
    text = F.cell_text(raw).strip()
    identity = None
    number = ""
    if not kind_bad:
        try:
            identity = F.parse_id_number(raw, kind)
        except F.FieldError as exc:
            if exc.reason == "kind" and kind is None:
                # No shape tells a passport from a Taiwan permit: the person may already be in the
                # roster under this number, which the plan checks through the blind index.
                number = normalize_text(text)
                rec.values["id_pending"] = exc.message
            else:
                err("id_number", exc)
    else:
        rec.values["id_pending"] = ""  # the kind cell is wrong: that error is enough
    if identity is not None:
        number = identity.number
        rec.values["id_kind"] = identity.kind.value
        if kind:
            rec.values["id_kind_given"] = True
        if identity.upgraded_from_15:
            rec.values["id_upgraded"] = True
        # What the roster derives from the number, so the commit need not decrypt it.
        if identity.birth_date is not None:
            rec.values["birth_date"] = identity.birth_date
        if identity.gender:
            rec.values["gender"] = identity.gender
    if number and not kind_bad:
        # Staged as the roster stores it (same purpose), so the commit copies the ciphertext.
        rec.id_enc = crypto.encrypt(number, purpose=roster.ID_PURPOSE)
        rec.id_bidx = crypto.blind_index(number, purpose=roster.ID_PURPOSE)
        rec.values["id_number"] = mask_identity(number, identity.kind if identity else IdKind.PASSPORT)
    if text:
        rec.original[header] = F.mask_cell("id_number", text, identity.kind if identity else kind)
        rec.original_enc[header] = crypto.encrypt(text, purpose=ID_PURPOSE)


# Keys of ImportRow.values written by the plan (display only; recomputed each time).
_PLAN_KEYS = frozenset({"entity_name", "entity_code", "department_path", "department_new", "rehire"})


def _values_json(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _values_from_json(data: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k not in _PLAN_KEYS}
    for key in ("hire_date", "leave_date", "birth_date"):
        if values.get(key):
            values[key] = dt.date.fromisoformat(values[key])
    if values.get("declared_wage") is not None:
        values["declared_wage"] = Decimal(values["declared_wage"])
    if "id_pending" in values:
        values.pop("id_kind", None)
    return values


# --- rows: plan ----------------------------------------------------------------------------------

# Errors that depend on the other rows of the file, not on the database: found once at parse, over
# the whole file, and carried to the commit, which plans the rows chunk by chunk.
IN_FILE_CODES = frozenset({"duplicate_in_file", "employee_no_duplicate"})
# Errors that depend on the database: found again at commit.
DB_CODES = PLAN_CODES - IN_FILE_CODES


@dataclass(frozen=True)
class _Dept:
    id: int
    entity_id: int
    parent_id: int | None
    name: str
    code: str


@dataclass
class NewDept:
    key: tuple
    entity_id: int
    parent_id: int | None  # an existing department
    parent_key: tuple | None  # another new department
    name: str
    label: str


@dataclass
class Plan:
    """What planning rows needs from the database, loaded once per parse or commit, and the new
    departments that the planned rows need (collected chunk after chunk)."""

    cols: dict[str, str]
    user: Any
    default_entity: Entity | None
    dept_kind: str
    entities: dict[int, Entity]
    entity_index: F.EntityIndex
    departments: F.DepartmentIndex
    scope: set[int] | None
    new_departments: dict[tuple, NewDept] = field(default_factory=dict)
    # A file names a handful of entities and departments on thousands of rows: resolve each once.
    _entity_cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    _dept_cache: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls, *, user, default_entity: Entity | None, cols: dict[str, str], dept_kind: str = "department"
    ) -> Plan:
        entities = {e.pk: e for e in Entity.objects.all()}
        departments = F.DepartmentIndex(
            _Dept(*row)
            for row in Department.objects.values_list("id", "entity_id", "parent_id", "name", "code")
        )
        return cls(
            cols=cols,
            user=user,
            default_entity=default_entity,
            dept_kind=dept_kind,
            entities=entities,
            entity_index=F.EntityIndex(entities.values()),
            departments=departments,
            scope=_scope(user),
        )

    def _cached(self, cache: dict, key: tuple, resolve: Callable[[], Any]) -> Any:
        if key not in cache:
            cache[key] = _outcome(lambda _: resolve(), None)
        found = cache[key]
        if isinstance(found, F.FieldError):
            raise found
        return found

    def resolve_entity(self, value: Any) -> Entity:
        """The entity a cell names (raises the FieldError of ``EntityIndex.resolve``)."""
        return self._cached(
            self._entity_cache, (type(value), value), lambda: self.entity_index.resolve(value)
        )

    def resolve_department(self, entity_id: int, value: Any) -> F.DeptRef | None:
        return self._cached(
            self._dept_cache,
            (entity_id, type(value), value),
            lambda: self.departments.resolve(entity_id, value),
        )

    def column(self, key: str) -> str:
        return self.cols.get(key, F.FIELDS[key].label)

    def sort_errors(self, errors: list[dict[str, str]]) -> None:
        """In the order of the file's columns; in one column, the cell's own errors first."""
        order = {header: i for i, header in enumerate(self.cols.values())}
        errors.sort(key=lambda e: (order.get(e["column"], len(order)), e.get("code") in DB_CODES))

    def add_new_department(self, ref: F.DeptRef) -> None:
        entity_id, parent_id, keys = ref.new_key
        existing_depth = len(ref.path) - len(ref.new)
        for i in range(len(keys)):
            key = (entity_id, parent_id, keys[: i + 1])
            if key not in self.new_departments:
                self.new_departments[key] = NewDept(
                    key=key,
                    entity_id=entity_id,
                    parent_id=parent_id if i == 0 else None,
                    parent_key=(entity_id, parent_id, keys[:i]) if i else None,
                    name=ref.new[i],
                    label="/".join(ref.path[: existing_depth + i + 1]),
                )

    def new_department_list(self) -> list[dict[str, str]]:
        return [
            {
                "entity": self.entities[n.entity_id].code,
                "entity_name": self.entities[n.entity_id].name,
                "path": n.label,
            }
            for n in self.new_departments.values()
        ]


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name or "").split())


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _new_department_ref(rec: Rec) -> F.DeptRef | None:
    """The department a row to write needs created, if any."""
    if rec.action in (Action.CREATE, Action.UPDATE) and rec.dept is not None and rec.dept.id is None:
        return rec.dept
    return None


def _plan_rows(plan: Plan, recs: list[Rec]) -> None:
    """Decide each row against the database: resolve its entity and department, find the employee
    it is (by blind index), check its 工号, and set its action — and for an update, what changes.

    Rows are independent here, so a file is planned chunk by chunk. Errors that depend on the
    other rows of the file are found by :func:`_in_file_errors`; a row that already carries one
    (in ``cell_errors``) is rejected like any other row with an error.
    """
    scope = plan.scope
    entity_col = plan.column("entity")

    def err(rec: Rec, key: str, code: str, message: str) -> None:
        rec.errors.append({"column": plan.column(key), "code": code, "message": message})

    for rec in recs:
        rec.errors = list(rec.cell_errors)
        rec.action, rec.employee_id, rec.existing, rec.entity, rec.dept = "", None, None, None, None
        rec.changes, rec.diff, rec.rehire = {}, {}, False
        for key in _PLAN_KEYS:
            rec.values.pop(key, None)
        values = rec.values
        bad_cells = {e["column"] for e in rec.cell_errors}
        if values.get("entity"):
            try:
                rec.entity = plan.resolve_entity(values["entity"])
            except F.FieldError as exc:
                err(rec, "entity", exc.code, exc.message)
        elif plan.default_entity is not None:
            rec.entity = plan.default_entity
        elif entity_col not in bad_cells:
            err(rec, "entity", "entity_required", "参保主体不能为空：请填写参保主体的编码或全称")
        if rec.entity is not None:
            values["entity_name"], values["entity_code"] = rec.entity.name, rec.entity.code
            if scope is not None and rec.entity.pk not in scope:
                err(rec, "entity", "forbidden_entity", f"无权导入到参保主体“{rec.entity.name}”")
        if values.get("department"):
            if rec.entity is None:
                err(
                    rec,
                    "department",
                    "department_unknown",
                    f"无法确定部门“{F.shown(values['department'])}”：本行的参保主体无效，请先修正参保主体",
                )
            else:
                try:
                    rec.dept = plan.resolve_department(rec.entity.pk, values["department"])
                except F.FieldError as exc:
                    err(rec, "department", exc.code, exc.message)
        if rec.dept is not None:
            values["department_path"] = rec.dept.label
            if rec.dept.id is None:
                values["department_new"] = True

    existing: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted({r.id_bidx for r in recs if r.id_bidx})):
        for row in Employee.objects.filter(id_number_bidx__in=chunk).values(*_EMPLOYEE_VALUES):
            existing[row["id_number_bidx"]] = row
    numbers = sorted({r.values["employee_no"] for r in recs if r.values.get("employee_no")})
    holders: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(numbers):
        for row in Employee.objects.filter(employee_no__in=chunk).values(
            "id", "employee_no", "name", "entity_id"
        ):
            holders[row["employee_no"]] = row

    for rec in recs:
        values = rec.values
        current = existing.get(rec.id_bidx) if rec.id_bidx else None
        if "id_pending" in values:
            if current is not None:
                values["id_kind"] = current["id_kind"]
            elif values["id_pending"]:
                err(rec, "id_number", "id_kind_unknown", values["id_pending"])
        if current is not None:
            if scope is not None and current["entity_id"] not in scope:
                err(
                    rec,
                    "id_number",
                    "forbidden_employee",
                    "该证件号码已登记在其他参保主体的员工名下，您无权修改：请联系 HR 管理员",
                )
                current = None
            elif values.get("name") and _name_key(values["name"]) != _name_key(current["name"]):
                err(
                    rec,
                    "name",
                    "name_mismatch",
                    f"证件号已登记在员工“{current['name']}”名下，但本行姓名为“{values['name']}”：请核对姓名或证件号",
                )
        rec.existing = current
        no = values.get("employee_no")
        if no:
            holder = holders.get(no)
            if holder is not None and (current is None or holder["id"] != current["id"]):
                who = (
                    f"员工“{holder['name']}”"
                    if scope is None or holder["entity_id"] in scope
                    else "其他参保主体的员工"
                )
                err(rec, "employee_no", "employee_no_taken", f"工号“{no}”已被{who}使用：请核对工号")
        if len(rec.errors) > 1:
            plan.sort_errors(rec.errors)
        if rec.errors:
            rec.action = Action.REJECT
            continue
        if current is None:
            rec.action = Action.CREATE
        else:
            rec.employee_id = current["id"]
            _diff(rec, current, plan)
            rec.action = Action.UPDATE if rec.changes else Action.UNCHANGED


def _in_file_errors(keys: list[tuple[int, str, str]], plan: Plan) -> dict[int, list[dict[str, str]]]:
    """Errors between rows of the file, by Excel row: the same person twice, or one 工号 for two
    people. ``keys`` is (Excel row, blind index of the ID, 工号) of every row, in file order."""
    found: dict[int, list[dict[str, str]]] = defaultdict(list)
    by_bidx: dict[str, list[int]] = defaultdict(list)
    for row, bidx, _ in keys:
        if bidx:
            by_bidx[bidx].append(row)
    for group in by_bidx.values():
        if len(group) > 1:
            for row in group:
                others = "、".join(str(o) for o in group if o != row)
                found[row].append(
                    {
                        "column": plan.column("id_number"),
                        "code": "duplicate_in_file",
                        "message": f"证件号码与第{others}行重复：同一人只能出现一次，请删除或合并重复的行",
                    }
                )
    first_with_no: dict[str, tuple[int, str]] = {}
    for row, bidx, no in keys:
        if no and bidx:
            first_row, first_bidx = first_with_no.setdefault(no, (row, bidx))
            if first_row != row and first_bidx != bidx:
                found[row].append(
                    {
                        "column": plan.column("employee_no"),
                        "code": "employee_no_duplicate",
                        "message": f"工号“{no}”已在第{first_row}行用于另一人：同一工号只能对应一人",
                    }
                )
    return found


def _display(key: str, value: Any, plan: Plan) -> Any:
    if value is None or value == "":
        return None
    if key == "entity_id":
        return plan.entities[value].name if value in plan.entities else str(value)
    if key == "department_id":
        if isinstance(value, F.DeptRef):
            return value.label + ("（新建）" if value.id is None else "")
        return plan.departments.label(value) or str(value)
    if key == "employment_type":
        return F.EMPLOYMENT_TYPE_LABELS.get(value, value)
    if key == "hukou_type":
        return F.HUKOU_TYPE_LABELS.get(value, value)
    if key == "id_kind":
        return _ID_KIND_LABELS.get(value, value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_DIFF_NAMES = {"entity_id": "entity", "department_id": "department"}


def _diff(rec: Rec, current: dict[str, Any], plan: Plan) -> None:
    """The fields of an existing employee this row changes (blank cells change nothing)."""
    values = rec.values
    changes: dict[str, Any] = {}
    hire = values["hire_date"]
    rec.rehire = current["leave_date"] is not None and hire > current["leave_date"]
    for key in (
        "email",
        "hukou_type",
        "employee_no",
        "employment_type",
        "hire_date",
        "leave_date",
        "declared_wage",
    ):
        if key in values and values[key] != current[key]:
            changes[key] = values[key]
    if rec.entity.pk != current["entity_id"]:
        changes["entity_id"] = rec.entity.pk
    if rec.dept is not None:
        if rec.dept.id is None or rec.dept.id != current["department_id"]:
            changes["department_id"] = rec.dept if rec.dept.id is None else rec.dept.id
    elif "entity_id" in changes and current["department_id"] is not None:
        changes["department_id"] = None  # the old department belongs to the old entity
    if rec.rehire and "leave_date" not in values:
        changes["leave_date"] = None  # a new spell starts open
    if rec.phone_bidx and rec.phone_bidx != current["phone_bidx"]:
        changes["phone"] = True
    if values.get("id_kind_given") and values.get("id_kind") != current["id_kind"]:
        changes["id_kind"] = values["id_kind"]
    rec.changes = changes
    diff: dict[str, list[Any]] = {}
    for key, new in changes.items():
        if key == "phone":
            old = (
                crypto.decrypt(current["phone_enc"], purpose=roster.PHONE_PURPOSE)
                if current["phone_enc"]
                else ""
            )
            diff["phone"] = [mask_phone(old) if old else None, values.get("phone")]
        else:
            diff[_DIFF_NAMES.get(key, key)] = [_display(key, current[key], plan), _display(key, new, plan)]
    if rec.rehire:
        end = current["leave_date"].isoformat()
        diff["spell"] = [f"{current['hire_date'].isoformat()}—{end}", "再入职：新增任职期间"]
        values["rehire"] = True
    rec.diff = diff


# --- parse ---------------------------------------------------------------------------------------


def _claim(batch: ImportBatch, allowed: Iterable[str], running: str) -> bool:
    stale = timezone.now() - STALE
    return bool(
        ImportBatch.objects.filter(
            Q(status__in=list(allowed)) | Q(status=running, updated_at__lt=stale), pk=batch.pk
        ).update(status=running, progress=0, error="", updated_at=timezone.now())
    )


def _finish(batch: ImportBatch, **values: Any) -> None:
    for key, value in values.items():
        setattr(batch, key, value)
    batch.save(update_fields=[*values, "updated_at"])


def import_batch_parse(*, batch: ImportBatch, progress: ProgressFn | None = None) -> ImportBatch:
    """Read the stored file, map its columns and stage every row with its planned action.

    Ends in ``needs_mapping`` (columns to confirm), ``previewed`` (rows staged), ``rejected``
    (the file or its columns cannot be imported, ``error`` says why) or ``failed``.
    """
    if not _claim(batch, PARSABLE, Status.PARSING):
        batch.refresh_from_db()
        raise ApplicationError(f"该批次状态为“{batch.get_status_display()}”，不能解析")
    batch.refresh_from_db()
    try:
        _ensure_can_import(Actor(user=batch.uploaded_by, via="worker"))
        if batch.file_purged_at is not None:
            raise ApplicationError(PURGED_MESSAGE)
        _parse(batch, progress)
    except Exception as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"解析失败：{exc}"
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=Status.FAILED, error=message, updated_at=timezone.now()
        )
        batch.refresh_from_db()
        if not isinstance(exc, ApplicationError):
            logger.exception("import batch %s: parse failed", batch.pk)
        raise
    return batch


def _reject(batch: ImportBatch, message: str) -> None:
    ImportRow.objects.filter(batch=batch).delete()
    _finish(
        batch,
        status=Status.REJECTED,
        error=message,
        progress=100,
        row_count=0,
        create_count=0,
        update_count=0,
        unchanged_count=0,
        rejected_count=0,
        new_departments=[],
    )


def _lap(timings: dict[str, float], name: str, since: list[float]) -> None:
    now = time.monotonic()
    timings[name] = round(now - since[0], 2)
    since[0] = now


def _parse(batch: ImportBatch, progress: ProgressFn | None) -> None:
    timings: dict[str, float] = {}
    clock = [time.monotonic()]
    _progress(batch, 1, progress, in_transaction=False)
    try:
        with batch.file.open("rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise ApplicationError(PURGED_MESSAGE) from exc
    try:
        table = read_table(
            data,
            filename=batch.file_name,
            header_score=F.header_score,
            max_bytes=MAX_BYTES,
            max_rows=MAX_ROWS,
        )
    except ImportFileError as exc:
        _reject(batch, exc.message)
        return
    _lap(timings, "read", clock)
    _progress(batch, 10, progress, in_transaction=False)
    headers = [h.strip() for h in table.headers]
    if any(F.looks_sensitive(h) for h in headers):
        # Headers are stored and shown: a data row taken for the header must not leak.
        _reject(
            batch,
            f"第{table.header_row}行被识别为表头，但其中有像证件号码或手机号码的内容："
            "请确认表头行只包含列名（如“姓名”“身份证号”）",
        )
        return
    warnings: list[str] = []
    hidden = [headers[i] or f"{_column_letter(i)}列" for i in table.hidden_columns if i < len(headers)]
    if hidden:
        warnings.append("文件中有隐藏列（也会导入）：" + "、".join(hidden))
    batch.headers, batch.header_row, batch.sheet = headers, table.header_row, table.sheet[:100]
    batch.file_format = table.format
    blank_with_data = [
        i for i, h in enumerate(headers) if not h and any(F.cell_text(c[i]).strip() for _, c in table.rows)
    ]
    if blank_with_data:
        cols = "、".join(f"{_column_letter(i)}列" for i in blank_with_data)
        _finish(
            batch, headers=headers, header_row=table.header_row, sheet=batch.sheet, file_format=table.format
        )
        _reject(batch, f"{cols}有数据但没有表头：请补上表头（不需要的列可以删除）后重新上传")
        return

    current = batch.mapping or {}
    named = _named_headers(headers)
    if named and all(current.get(h) is not None for h in named) and set(current) == set(named):
        mapping: dict[str, str | None] = dict(current)
    else:
        mapping, source = _proposed_mapping(headers)
        if source == "saved":
            warnings.append("已沿用之前为相同表头确认过的列映射")
    has_default = batch.default_entity_id is not None
    check = _check_mapping(headers, mapping, default_entity=has_default)
    batch.mapping = mapping
    common = {
        "headers": headers,
        "header_row": table.header_row,
        "sheet": batch.sheet,
        "file_format": table.format,
        "mapping": mapping,
        "warnings": warnings,
    }
    if check.fatal:
        _finish(batch, **common)
        _reject(batch, check.fatal)
        return
    if check.unknown or check.ambiguous:
        ImportRow.objects.filter(batch=batch).delete()
        _finish(batch, **common, status=Status.NEEDS_MAPPING, error=_mapping_message(check), progress=100)
        return
    if check.missing:
        _finish(batch, **common)
        _reject(batch, _missing_message(check.missing))
        return

    cols = _mapped_columns(headers, mapping)
    index = {target: headers.index(header) for target, header in cols.items()}
    plan = Plan.load(
        user=batch.uploaded_by, default_entity=batch.default_entity, cols=cols, dept_kind=_dept_kind(cols)
    )
    ImportRow.objects.filter(batch=batch).delete()
    # The file is normalised, planned and staged chunk by chunk; only what the checks between rows
    # need stays in memory for the whole file.
    keys: list[tuple[int, str, str]] = []  # (Excel row, ID blind index, 工号)
    new_dept_of: dict[int, F.DeptRef] = {}
    tally: Counter[str] = Counter()
    skipped = upgraded = 0
    memo: dict = {}
    chunk: list[Rec] = []
    rows = table.rows
    total = max(len(rows), 1)

    def flush() -> None:
        _plan_rows(plan, chunk)
        for rec in chunk:
            keys.append((rec.excel_row, rec.id_bidx, rec.values.get("employee_no") or ""))
            tally[rec.action] += 1
            if ref := _new_department_ref(rec):
                new_dept_of[rec.excel_row] = ref
        with transaction.atomic():
            _insert_staged(batch, chunk)
        chunk.clear()

    for n in range(len(rows)):
        excel_row, cells = rows[n]
        rows[n] = None  # type: ignore[call-overload]  # the staged row replaces it: memory stays flat
        mapped = {key: cells[i] for key, i in index.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in mapped.values()):
            skipped += 1  # e.g. a 合计 or note row with text only in ignored columns
            continue
        rec = _normalise(excel_row, mapped, cols, memo)
        upgraded += bool(rec.values.get("id_upgraded"))
        chunk.append(rec)
        if len(chunk) >= CHUNK:
            flush()
            _progress(batch, 10 + 85 * n // total, progress, in_transaction=False)
    if chunk:
        flush()
    _lap(timings, "normalise+plan+stage", clock)
    found = _in_file_errors(keys, plan)
    if found:
        _apply_in_file_errors(batch, plan, found, tally, new_dept_of)
    for ref in new_dept_of.values():
        plan.add_new_department(ref)
    _lap(timings, "in-file", clock)
    if skipped:
        warnings.append(f"{skipped}行只在忽略的列中有内容，已跳过")
    if upgraded:
        warnings.append(f"{upgraded}行为15位旧身份证号，已自动升位为18位")
    with transaction.atomic():
        _finish(
            batch,
            **common,
            status=Status.PREVIEWED,
            error="",
            progress=100,
            **_counts(tally, plan),
        )
    logger.info("import batch %s: parsed %s rows, seconds %s", batch.pk, len(keys), timings)


def _apply_in_file_errors(
    batch: ImportBatch,
    plan: Plan,
    found: dict[int, list[dict[str, str]]],
    tally: Counter[str],
    new_dept_of: dict[int, F.DeptRef],
) -> None:
    """Reject the staged rows that clash with other rows of the file."""
    changed = []
    for numbers in _chunks(sorted(found)):
        rows = ImportRow.objects.filter(batch=batch, excel_row__in=numbers).values_list(
            "pk", "excel_row", "action", "errors", "values"
        )
        for pk, excel_row, action, errors, values in rows:
            errors = errors + found[excel_row]
            plan.sort_errors(errors)
            tally[action] -= 1
            tally[Action.REJECT] += 1
            new_dept_of.pop(excel_row, None)
            values.pop("rehire", None)
            changed.append(
                ImportRow(pk=pk, action=Action.REJECT, errors=errors, diff={}, values=values, employee=None)
            )
    ImportRow.objects.bulk_update(changed, ["action", "errors", "diff", "values", "employee"], batch_size=500)


def _dept_kind(cols: dict[str, str]) -> str:
    header = F.normalize_header(cols.get("department", ""))
    return Department.Kind.STORE if "门店" in header or header == "store" else Department.Kind.DEPARTMENT


def _counts(tally: Counter[str], plan: Plan) -> dict[str, Any]:
    return {
        "row_count": sum(tally.values()),
        "create_count": tally[Action.CREATE],
        "update_count": tally[Action.UPDATE],
        "unchanged_count": tally[Action.UNCHANGED],
        "rejected_count": tally[Action.REJECT],
        "new_departments": plan.new_department_list(),
    }


_NUMBER_COLUMNS = ("id_number_enc", "id_number_bidx", "phone_enc", "phone_bidx")
_STAGED_COLUMNS = (
    "batch_id",
    "excel_row",
    "original",
    "original_enc",
    "values",
    *_NUMBER_COLUMNS,
    "action",
    "employee_id",
    "diff",
    "errors",
)
_JSON_COLUMNS = {"original", "original_enc", "values", "diff", "errors"}


def _insert_staged(batch: ImportBatch, recs: list[Rec]) -> None:
    """INSERT the staged rows with one executemany: the ORM's bulk_create spends most of a
    100,000-row import compiling per-value SQL (and SQLite's 999-parameter limit makes it ~7
    rows per statement for this wide table)."""
    qn = connection.ops.quote_name
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    placeholders = ", ".join(f"%s{cast}" if c in _JSON_COLUMNS else "%s" for c in _STAGED_COLUMNS)
    sql = (
        f"INSERT INTO {qn(ImportRow._meta.db_table)} ({', '.join(qn(c) for c in _STAGED_COLUMNS)}) "
        f"VALUES ({placeholders})"
    )
    dumps = json.dumps
    params = [
        (
            batch.pk,
            rec.excel_row,
            dumps(rec.original, ensure_ascii=False),
            dumps(rec.original_enc),
            dumps(_values_json(rec.values), ensure_ascii=False),
            rec.id_enc,
            rec.id_bidx,
            rec.phone_enc,
            rec.phone_bidx,
            rec.action,
            rec.employee_id,
            dumps(rec.diff, ensure_ascii=False) if rec.diff else "{}",
            dumps(rec.errors, ensure_ascii=False) if rec.errors else "[]",
        )
        for rec in recs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


# --- commit --------------------------------------------------------------------------------------


class _LateReject(Exception):
    """All-or-nothing: a row planned at commit has an error it did not have in the preview."""


def import_batch_commit(
    *, actor: Actor, batch: ImportBatch, progress: ProgressFn | None = None
) -> ImportBatch:
    """Write a previewed batch, or reject it (all-or-nothing with row errors). One transaction:
    on any exception nothing is written and the batch is ``failed`` with the message."""
    _ensure_can_import(actor)
    _ensure_batch_access(actor, batch)
    if not _claim(batch, (Status.PREVIEWED,), Status.COMMITTING):
        batch.refresh_from_db()
        raise ApplicationError(f"该批次状态为“{batch.get_status_display()}”，不能确认导入")
    batch.refresh_from_db()
    try:
        try:
            with transaction.atomic():
                _commit(_lock(batch), actor, progress, plan_first=False)
        except _LateReject:
            # The roster changed since the preview: what was written is rolled back; plan the
            # whole batch again without writing, store the outcomes and reject it.
            with transaction.atomic():
                _commit(_lock(batch), actor, progress, plan_first=True)
    except Exception as exc:
        message = (
            exc.message
            if isinstance(exc, ApplicationError)
            else f"导入失败，没有写入任何数据：{exc.__class__.__name__}: {exc}"
        )
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=Status.FAILED, error=message, progress=0, updated_at=timezone.now()
        )
        batch.refresh_from_db()
        if not isinstance(exc, ApplicationError):
            logger.exception("import batch %s: commit failed", batch.pk)
        raise
    finally:
        _progress_clear(batch.pk)
    batch.refresh_from_db()
    if batch.status == Status.COMMITTED:
        _rules_follow(batch)
    return batch


def _rules_follow(batch: ImportBatch) -> None:
    """Re-evaluate the alert rules for the employees the import created or changed (in the worker,
    once committed; a large import re-evaluates everyone)."""
    from shebao.rules.tasks import findings_evaluate_on_commit

    findings_evaluate_on_commit(
        employee_ids=ImportRow.objects.filter(
            batch=batch, action__in=(Action.CREATE, Action.UPDATE), employee__isnull=False
        ).values_list("employee_id", flat=True)
    )


def _lock(batch: ImportBatch) -> ImportBatch:
    return (
        ImportBatch.objects.select_for_update(of=("self",)).select_related("default_entity").get(pk=batch.pk)
    )


_LOAD_COLUMNS = ("id", "excel_row", "values", *_NUMBER_COLUMNS, "action", "errors", "diff", "employee_id")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _staged_chunks(batch: ImportBatch) -> Iterable[list[Rec]]:
    """The staged rows as :class:`Rec`, CHUNK at a time in file order (keyset pagination, so
    memory does not grow with the file). Plain SQL: the ORM's per-value converters cost more
    than the rest of the commit's reading."""
    qn = connection.ops.quote_name
    sql = (
        f"SELECT {', '.join(qn(c) for c in _LOAD_COLUMNS)} FROM {qn(ImportRow._meta.db_table)} "
        f"WHERE {qn('batch_id')} = %s AND {qn('excel_row')} > %s ORDER BY {qn('excel_row')} LIMIT %s"
    )
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [batch.pk, last, CHUNK])
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][1]
        recs = []
        for pk, excel_row, values, id_enc, id_bidx, phone_enc, phone_bidx, action, errors, diff, emp in rows:
            values, errors, diff = _json(values), _json(errors), _json(diff)
            recs.append(
                Rec(
                    excel_row,
                    values=_values_from_json(values),
                    id_enc=id_enc,
                    id_bidx=id_bidx,
                    phone_enc=phone_enc,
                    phone_bidx=phone_bidx,
                    # the cells' own errors and those between rows of the file hold; the rest is replanned
                    cell_errors=[e for e in errors if e.get("code") not in DB_CODES],
                    pk=pk,
                    stored=(action, errors, diff, values, emp),
                )
            )
        yield recs


def _commit(batch: ImportBatch, actor: Actor, progress: ProgressFn | None, *, plan_first: bool) -> None:
    """Plan the staged rows again against the current roster (it may have changed since the
    preview), chunk by chunk, and write each chunk: new departments, new employees with their
    first spell, changed fields of existing employees and their current spell (a re-hire gets a
    new spell). All inside the caller's transaction."""
    timings: dict[str, float] = {}
    clock = [time.monotonic()]
    total = max(batch.row_count, 1)

    def report(pct: float) -> None:
        _progress(batch, int(pct), progress, in_transaction=True)

    report(1)
    cols = _mapped_columns(batch.headers, batch.mapping)
    all_or_nothing = batch.mode == Mode.ALL_OR_NOTHING

    def load_plan() -> Plan:
        return Plan.load(
            user=actor.user, default_entity=batch.default_entity, cols=cols, dept_kind=_dept_kind(cols)
        )

    if plan_first or (
        all_or_nothing and ImportRow.objects.filter(batch=batch, action=Action.REJECT).exists()
    ):
        plan, tally, done = load_plan(), Counter(), 0
        for recs in _staged_chunks(batch):
            _plan_rows(plan, recs)
            _save_outcomes(recs)
            for rec in recs:
                tally[rec.action] += 1
                if ref := _new_department_ref(rec):
                    plan.add_new_department(ref)
            done += len(recs)
            report(1 + 24 * done / total)
        _lap(timings, "plan", clock)
        if all_or_nothing and tally[Action.REJECT]:
            counts = _counts(tally, plan)
            message = (
                f"有{tally[Action.REJECT]}行存在错误，整批未导入（导入方式：全部无误才导入）："
                "请修正后重新上传，或改为“仅导入无误的行”"
            )
            _finish(batch, **counts, status=Status.REJECTED, error=message, progress=100)
            audit_record(
                actor=actor, action="import.reject", obj=batch, changes=_audit_changes(batch, counts)
            )
            return

    plan, tally, done = load_plan(), Counter(), 0
    created_depts: dict[tuple, int] = {}
    start = 25 if plan_first else 1
    for recs in _staged_chunks(batch):
        _plan_rows(plan, recs)
        if all_or_nothing and any(rec.action == Action.REJECT for rec in recs):
            raise _LateReject
        for rec in recs:
            tally[rec.action] += 1
            if ref := _new_department_ref(rec):
                plan.add_new_department(ref)
        _create_departments(plan, actor, batch, created_depts)
        _create_employees(recs, created_depts)
        _update_employees(recs, created_depts)
        _save_outcomes(recs)
        done += len(recs)
        report(start + (94 - start) * done / total)
    _lap(timings, "write", clock)
    # The staged rows of new employees point at them (one statement, by blind index).
    ImportRow.objects.filter(batch=batch, action=Action.CREATE).update(
        employee=Subquery(Employee.objects.filter(id_number_bidx=OuterRef("id_number_bidx")).values("pk")[:1])
    )
    _lap(timings, "link", clock)
    report(97)
    counts = _counts(tally, plan)
    _finish(
        batch,
        **counts,
        status=Status.COMMITTED,
        error="",
        progress=100,
        committed_at=timezone.now(),
        committed_by=actor.user,
    )
    audit_record(actor=actor, action="import.commit", obj=batch, changes=_audit_changes(batch, counts))
    # The staged rows are the history now: the plaintext file goes once this transaction commits.
    import_batch_file_purge(batch=batch, reason="committed", actor=actor)
    report(100)
    logger.info("import batch %s: committed %s rows, seconds %s", batch.pk, done, timings)


def _audit_changes(batch: ImportBatch, counts: dict[str, Any]) -> dict[str, Any]:
    return {
        "file_name": batch.file_name,
        "sha256": batch.sha256,
        "mode": batch.mode,
        "rows": counts["row_count"],
        "created": counts["create_count"],
        "updated": counts["update_count"],
        "unchanged": counts["unchanged_count"],
        "rejected": counts["rejected_count"],
        "new_departments": [f"{d['entity']} {d['path']}" for d in counts["new_departments"]],
    }


def _create_departments(plan: Plan, actor: Actor, batch: ImportBatch, created: dict[tuple, int]) -> None:
    """Create the planned departments not created yet, parents first, with their materialised
    paths; ``created`` maps each new department's key to its id."""
    todo = [n for n in plan.new_departments.values() if n.key not in created]
    if not todo:
        return
    parents = Department.objects.in_bulk([n.parent_id for n in todo if n.parent_id is not None])
    made: dict[tuple, Department] = {}
    for node in sorted(todo, key=lambda n: len(n.key[2])):
        if node.parent_key:
            parent = made.get(node.parent_key) or Department.objects.get(pk=created[node.parent_key])
        else:
            parent = parents.get(node.parent_id)
        dept = Department.objects.create(
            entity_id=node.entity_id, parent=parent, name=node.name, kind=plan.dept_kind
        )
        department_set_path(department=dept)
        made[node.key] = dept
        created[node.key] = dept.pk
        audit_record(
            actor=actor,
            action="department.create",
            obj=dept,
            changes={
                "entity": plan.entities[node.entity_id].name,
                "name": node.name,
                "import_batch": batch.pk,
            },
        )


def _dept_id(value: Any, created: dict[tuple, int]) -> int | None:
    if isinstance(value, F.DeptRef):
        return value.id if value.id is not None else created[value.new_key]
    return value


def _identity_facts(number: str, kind: str) -> tuple[dt.date | None, str]:
    """Birth date and gender of a validated number (digits 7–14 and 17 for GB 11643 numbers)."""
    if kind in _GB11643 and len(number) == 18:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        return birth, "M" if int(number[16]) % 2 else "F"
    identity = parse_identity(number, kind)
    return identity.birth_date, identity.gender or ""


def _create_employees(recs: list[Rec], created_depts: dict[tuple, int]) -> None:
    """INSERT the new employees of a chunk, then their first employment spell (copied from the
    rows just inserted, in one statement)."""
    creates = [r for r in recs if r.action == Action.CREATE]
    if not creates:
        return
    today = timezone.localdate()
    employees = []
    for rec in creates:
        v = rec.values
        hire, leave = v["hire_date"], v.get("leave_date")
        if "birth_date" in v or "gender" in v:
            birth, gender = v.get("birth_date"), v.get("gender", "")
        else:  # a row staged before birth date and gender were
            birth, gender = _identity_facts(
                crypto.decrypt(rec.id_enc, purpose=roster.ID_PURPOSE), v["id_kind"]
            )
        employees.append(
            {
                "name": v["name"],
                "id_kind": v["id_kind"],
                "id_number_enc": rec.id_enc,
                "id_number_bidx": rec.id_bidx,
                "id_upgraded_from_15": bool(v.get("id_upgraded")),
                "birth_date": birth,
                "gender": gender,
                "hukou_type": v.get("hukou_type", ""),
                "phone_enc": rec.phone_enc,
                "phone_bidx": rec.phone_bidx if rec.phone_enc else "",
                "email": v.get("email", ""),
                "employee_no": v["employee_no"],
                "entity_id": rec.entity.pk,
                "department_id": _dept_id(rec.dept, created_depts),
                "employment_type": v.get("employment_type") or roster.EmploymentType.FULL_TIME,
                "hire_date": hire,
                "leave_date": leave,
                "declared_wage": v.get("declared_wage"),
                "status": employee_status_for(hire_date=hire, leave_date=leave, today=today),
            }
        )
    insert_rows(Employee, employees, batch_size=CHUNK)
    _insert_first_spells([r.id_bidx for r in creates])


def _insert_first_spells(bidxs: list[str]) -> None:
    """INSERT … SELECT: one spell per employee (by blind index) from the employee's own columns."""
    qn = connection.ops.quote_name
    spell, employee = EmploymentSpell._meta, Employee._meta
    columns = [spell.get_field(f).column for f in SPELL_FIELDS]
    sources = [employee.get_field(f).column for f in SPELL_FIELDS]
    sql = (
        f"INSERT INTO {qn(spell.db_table)} ({qn(spell.get_field('employee').column)}, "
        f"{qn(spell.get_field('leave_reason').column)}, {', '.join(qn(c) for c in columns)}) "
        f"SELECT {qn(employee.pk.column)}, '', {', '.join(qn(c) for c in sources)} "
        f"FROM {qn(employee.db_table)} WHERE {qn(employee.get_field('id_number_bidx').column)} IN "
    )
    with connection.cursor() as cursor:
        for chunk in _chunks(bidxs, 500):
            cursor.execute(sql + "(" + ", ".join(["%s"] * len(chunk)) + ")", chunk)


def _bulk_update_grouped(model, objects: list[tuple[Any, tuple[str, ...]]]) -> None:
    """bulk_update each group of objects that change the same fields: only those fields are written."""
    groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for obj, names in objects:
        groups[names].append(obj)
    for names, objs in groups.items():
        model.objects.bulk_update(objs, list(names), batch_size=CHUNK // 4)


def _update_employees(recs: list[Rec], created_depts: dict[tuple, int]) -> None:
    updates = [r for r in recs if r.action == Action.UPDATE]
    if not updates:
        return
    today = timezone.localdate()
    now = timezone.now()
    employee_objs: list[tuple[Employee, tuple[str, ...]]] = []
    spell_changes: dict[int, dict[str, Any]] = {}
    new_spells: list[EmploymentSpell] = []
    for rec in updates:
        cur, ch = rec.existing, rec.changes
        attrs: dict[str, Any] = {}
        for key, value in ch.items():
            if key == "phone":
                attrs["phone_enc"] = rec.phone_enc
                attrs["phone_bidx"] = rec.phone_bidx
            elif key == "id_kind":
                number = crypto.decrypt(rec.id_enc, purpose=roster.ID_PURPOSE)
                attrs["id_kind"] = value
                attrs["birth_date"], attrs["gender"] = _identity_facts(number, value)
            elif key == "department_id":
                attrs["department_id"] = _dept_id(value, created_depts)
            else:
                attrs[key] = value
        hire = attrs.get("hire_date", cur["hire_date"])
        leave = attrs["leave_date"] if "leave_date" in attrs else cur["leave_date"]
        status = employee_status_for(hire_date=hire, leave_date=leave, today=today)
        if status != cur["status"]:
            attrs["status"] = status
        spell_attrs = {k: attrs[k] for k in SPELL_FIELDS if k in attrs}
        if rec.rehire:
            spell = {k: cur[k] for k in SPELL_FIELDS} | spell_attrs
            new_spells.append(EmploymentSpell(employee_id=cur["id"], **spell))
        elif spell_attrs:
            spell_changes[cur["id"]] = spell_attrs
        attrs["updated_at"] = now
        employee_objs.append((Employee(pk=cur["id"], **attrs), tuple(sorted(attrs))))
    _bulk_update_grouped(Employee, employee_objs)
    if new_spells:
        EmploymentSpell.objects.bulk_create(new_spells, batch_size=CHUNK)
    if spell_changes:
        # The current spell of each employee: the latest hire date (then the latest id).
        latest: dict[int, int] = {}
        for chunk in _chunks(list(spell_changes)):
            rows = (
                EmploymentSpell.objects.filter(employee_id__in=chunk)
                .order_by("employee_id", "hire_date", "id")
                .values_list("employee_id", "id")
            )
            for employee_id, spell_id in rows:
                latest[employee_id] = spell_id
        spell_objs = []
        for employee_id, attrs in spell_changes.items():
            if employee_id in latest:
                spell_objs.append((EmploymentSpell(pk=latest[employee_id], **attrs), tuple(sorted(attrs))))
            else:  # an employee without a spell (written outside the services): give them one
                cur = next(r.existing for r in updates if r.existing["id"] == employee_id)
                EmploymentSpell.objects.create(
                    employee_id=employee_id, **({k: cur[k] for k in SPELL_FIELDS} | attrs)
                )
        _bulk_update_grouped(EmploymentSpell, spell_objs)


def _save_outcomes(recs: list[Rec]) -> None:
    """Store what the commit decided for each row; only rows whose outcome changed are written
    (a new employee's id is linked afterwards, in one statement)."""
    changed = []
    for rec in recs:
        values = _values_json(rec.values)
        employee_id = rec.employee_id if rec.action != Action.CREATE else None
        stored_action, stored_errors, stored_diff, stored_values, stored_emp = rec.stored
        stored_emp = stored_emp if stored_action != Action.CREATE else None
        if (rec.action, rec.errors, rec.diff, values, employee_id) != (
            stored_action,
            stored_errors,
            stored_diff,
            stored_values,
            stored_emp,
        ):
            changed.append(
                ImportRow(
                    pk=rec.pk,
                    action=rec.action,
                    errors=rec.errors,
                    diff=rec.diff,
                    values=values,
                    employee_id=employee_id,
                )
            )
    if changed:
        ImportRow.objects.bulk_update(
            changed, ["action", "errors", "diff", "values", "employee"], batch_size=500
        )


def import_batch_commit_enqueue(*, actor: Actor, batch: ImportBatch) -> None:
    """Check that a batch may be committed by this actor and queue the commit (web and API)."""
    _ensure_can_import(actor)
    _ensure_batch_access(actor, batch)
    batch.refresh_from_db()
    if batch.status != Status.PREVIEWED:
        raise ApplicationError(f"该批次状态为“{batch.get_status_display()}”，不能确认导入")
    if batch.mode == Mode.ALL_OR_NOTHING and batch.rejected_count:
        # It would only be rejected: say so now rather than queue it.
        raise ApplicationError(
            f"有{batch.rejected_count}行存在错误，导入方式为“全部无误才导入”时整批不会导入："
            "请下载错误工作簿修正后重新上传，或改为“仅导入无误的行”",
            code="will_reject",
        )
    from shebao.imports.tasks import import_batch_commit_task

    user_id = actor.user.pk if actor.user is not None else None
    transaction.on_commit(lambda: import_batch_commit_task(batch.pk, user_id, actor.ip, actor.via))


def import_batch_error_report(*, actor: Actor, batch: ImportBatch) -> bytes:
    """The rejected rows as an .xlsx to fix and upload again. It holds the file's full cells
    (identity numbers included), so the download is permission-checked and audited."""
    from shebao.imports.selectors import import_batch_error_workbook

    _ensure_can_import(actor)
    _ensure_batch_access(actor, batch)
    content = import_batch_error_workbook(batch=batch)
    audit_record(
        actor=actor,
        action="import.error_report",
        obj=batch,
        changes={"file_name": batch.file_name, "rejected": batch.rejected_count},
    )
    return content
