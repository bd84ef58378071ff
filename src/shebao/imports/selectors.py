"""Reading import batches: plain data (dicts, lists, bytes) for the web wizard, the API and the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

from shebao.accounts.models import Role, User
from shebao.accounts.permissions import can_edit_roster
from shebao.core import crypto
from shebao.core.identity import IdKind, make_resident_id
from shebao.imports import fields as F
from shebao.imports.models import ID_PURPOSE, PHONE_PURPOSE, HeaderMapping, ImportBatch, ImportRow
from shebao.imports.readers import ImportFileError, read_table
from shebao.imports.writers import error_workbook, template_workbook

RUNNING = (ImportBatch.Status.PARSING, ImportBatch.Status.COMMITTING)


def import_batch_scope(user: User | None) -> Q:
    """The batches a user may see: HR admins all, HR specialists their own uploads."""
    if user is None:
        return Q()
    if not can_edit_roster(user):
        return Q(pk__in=[])
    return Q() if user.role == Role.HR_ADMIN else Q(uploaded_by=user)


def import_batch_get(*, user: User | None, batch_id: int) -> ImportBatch | None:
    return (
        ImportBatch.objects.filter(import_batch_scope(user), pk=batch_id, kind=ImportBatch.Kind.ROSTER)
        .select_related("uploaded_by", "committed_by", "default_entity")
        .first()
    )


def import_batch_list(*, user: User | None, limit: int = 50) -> list[dict[str, Any]]:
    qs = ImportBatch.objects.filter(import_batch_scope(user), kind=ImportBatch.Kind.ROSTER).select_related(
        "uploaded_by", "committed_by", "default_entity"
    )
    return [import_batch_summary(batch=b, brief=True) for b in qs[:limit]]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def import_batch_unmapped(*, batch: ImportBatch) -> list[str]:
    mapping = batch.mapping or {}
    return [h for h in dict.fromkeys(batch.headers) if h and h in mapping and mapping[h] is None]


def import_batch_progress(*, batch: ImportBatch) -> int:
    """0–100. While a commit runs its transaction hides the batch row, so the queue's store is read."""
    if batch.status in RUNNING:
        try:
            from huey.contrib.djhuey import HUEY

            from shebao.imports.services import progress_key

            stored = HUEY.get(progress_key(batch.pk), peek=True)
        except Exception:
            stored = None
        if isinstance(stored, int):
            return max(batch.progress, stored)
    return batch.progress


def import_batch_summary(*, batch: ImportBatch, brief: bool = False) -> dict[str, Any]:
    """Everything the preview page shows about a batch (no rows)."""
    data: dict[str, Any] = {
        "id": batch.pk,
        "kind": batch.kind,
        "status": batch.status,
        "status_label": str(batch.get_status_display()),
        "mode": batch.mode,
        "mode_label": str(batch.get_mode_display()),
        "file_name": batch.file_name,
        "size": batch.size,
        "sha256": batch.sha256,
        "uploaded_by": batch.uploaded_by.username if batch.uploaded_by else None,
        "created_at": _iso(batch.created_at),
        "committed_at": _iso(batch.committed_at),
        "committed_by": batch.committed_by.username if batch.committed_by else None,
        "default_entity": (
            {
                "id": batch.default_entity.pk,
                "code": batch.default_entity.code,
                "name": batch.default_entity.name,
            }
            if batch.default_entity
            else None
        ),
        "counts": {
            "rows": batch.row_count,
            "create": batch.create_count,
            "update": batch.update_count,
            "unchanged": batch.unchanged_count,
            "rejected": batch.rejected_count,
        },
        "new_departments": list(batch.new_departments),
        "error": batch.error,
        "progress": import_batch_progress(batch=batch),
    }
    if brief:
        return data
    previewed = batch.status == ImportBatch.Status.PREVIEWED
    data |= {
        "sheet": batch.sheet,
        "header_row": batch.header_row,
        "file_format": batch.file_format,
        "headers": list(batch.headers),
        # header → field key | "ignore" | None (unknown), in the order of the file's columns
        "mapping": {h: batch.mapping[h] for h in dict.fromkeys(batch.headers) if h in (batch.mapping or {})},
        "unmapped": import_batch_unmapped(batch=batch),
        "warnings": list(batch.warnings),
        "can_commit": previewed,
        # Committing now would refuse the whole file: the wizard should say so (or offer valid_only).
        "will_reject": previewed
        and batch.mode == ImportBatch.Mode.ALL_OR_NOTHING
        and batch.rejected_count > 0,
        "same_file_committed": list(
            ImportBatch.objects.filter(
                sha256=batch.sha256, kind=batch.kind, status=ImportBatch.Status.COMMITTED
            )
            .exclude(pk=batch.pk)
            .values_list("pk", flat=True)[:5]
        ),
    }
    return data


# Staged for the commit only: with the masked number they would give its hidden digits away.
_INTERNAL_VALUES = frozenset({"birth_date", "gender"})


def _row_dict(row: ImportRow) -> dict[str, Any]:
    return {
        "id": row.pk,
        "row": row.excel_row,
        "action": row.action,
        "action_label": str(row.get_action_display()),
        "original": row.original,
        "values": {k: v for k, v in row.values.items() if k not in _INTERNAL_VALUES},
        "diff": row.diff,
        "errors": row.errors,
        "employee_id": row.employee_id,
    }


def import_batch_rows(
    *, batch: ImportBatch, action: str | None = None, offset: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Staged rows in file order (identity and phone numbers masked), optionally one action only."""
    qs = ImportRow.objects.filter(batch=batch).defer("original_enc", "id_number_enc", "phone_enc")
    if action:
        qs = qs.filter(action=action)
    return [_row_dict(r) for r in qs.order_by("excel_row")[offset : offset + limit]]


def import_batch_row_count(*, batch: ImportBatch, action: str | None = None) -> int:
    qs = ImportRow.objects.filter(batch=batch)
    return (qs.filter(action=action) if action else qs).count()


def import_batch_errors(*, batch: ImportBatch, limit: int | None = None) -> list[dict[str, Any]]:
    """Every error: row-level ones with their Excel row and column header, then a batch-level one
    (row None) when the file or its columns could not be used."""
    out: list[dict[str, Any]] = []
    rows = (
        ImportRow.objects.filter(batch=batch, action=ImportRow.Action.REJECT)
        .order_by("excel_row")
        .values_list("excel_row", "errors")
    )
    for excel_row, errors in rows.iterator(chunk_size=2000):
        for e in errors:
            out.append({"row": excel_row, "column": e["column"], "code": e["code"], "message": e["message"]})
            if limit is not None and len(out) >= limit:
                return out
    batch_level = (ImportBatch.Status.NEEDS_MAPPING, ImportBatch.Status.FAILED, ImportBatch.Status.REJECTED)
    if batch.error and batch.status in batch_level and not out:
        out.append({"row": None, "column": None, "code": f"batch_{batch.status}", "message": batch.error})
    return out


def import_mapping_fields() -> list[dict[str, Any]]:
    """The fields a column can be mapped to (for the mapping step's drop-downs), then "ignore"."""
    fields = [
        {
            "field": spec.key,
            "label": spec.label,
            "required": spec.key in F.REQUIRED,
            "aliases": list(spec.aliases),
            "help": spec.help,
        }
        for spec in F.FIELDS.values()
    ]
    fields.append({"field": F.IGNORE, "label": "忽略该列", "required": False, "aliases": [], "help": ""})
    return fields


def header_mapping_list() -> list[dict[str, Any]]:
    return [
        {"id": m.pk, "headers": m.headers, "mapping": m.mapping, "updated_at": _iso(m.updated_at)}
        for m in HeaderMapping.objects.order_by("-updated_at")
    ]


def _read_stored(batch: ImportBatch):
    with batch.file.open("rb") as fh:
        data = fh.read()
    return read_table(data, filename=batch.file_name, header_score=F.header_score)


def import_batch_column_samples(*, batch: ImportBatch, limit: int = 3) -> dict[str, list[str]]:
    """A few values of each column (read from the stored file, never stored): for the mapping
    step. Anything that looks like an identity or phone number is masked."""
    if batch.file_purged_at is not None:
        return {}
    try:
        table = _read_stored(batch)
    except (ImportFileError, OSError):
        return {}
    samples: dict[str, list[str]] = {h: [] for h in table.headers if h.strip()}
    for _, cells in table.rows:
        for header, value in zip(table.headers, cells, strict=False):
            if header.strip() and len(samples[header]) < limit and F.cell_text(value).strip():
                samples[header].append(F.shown(value, limit=30))
        if all(len(v) >= limit for v in samples.values()):
            break
    return samples


def import_batch_error_workbook(*, batch: ImportBatch) -> bytes:
    """The rejected rows as in the uploaded file, bad cells marked, with 错误说明 (an .xlsx).

    Built from the uploaded file while it is kept (every column, cells as typed); once the
    retention policy has deleted it, from the staged rows (the mapped columns, as text, identity
    and phone cells decrypted). Contains full cells: serve it through
    ``services.import_batch_error_report``, which checks permissions and audits the download.
    """
    rejected = (
        ImportRow.objects.filter(batch=batch, action=ImportRow.Action.REJECT)
        .order_by("excel_row")
        .values_list("excel_row", "errors", "original", "original_enc")
    )
    table = None
    if batch.file_purged_at is None:
        try:
            table = _read_stored(batch)
        except (ImportFileError, OSError):
            table = None
    if table is not None:
        headers = [h.strip() for h in table.headers]
        by_row = dict(table.rows)
    else:
        mapped = {h for h, target in (batch.mapping or {}).items() if target and target != F.IGNORE}
        headers = [h for h in batch.headers if h in mapped]
        by_row = None
    phone_headers = {h for h, target in (batch.mapping or {}).items() if target == "phone"}
    out = []
    for excel_row, errors, original, original_enc in rejected.iterator(chunk_size=2000):
        marks: dict[int, str] = {}
        for e in errors:
            index = headers.index(e["column"]) if e["column"] in headers else -1
            marks[index] = f"{marks[index]}；{e['message']}" if index in marks else e["message"]
        if by_row is not None:
            cells = list(by_row.get(excel_row, []))
        else:
            cells = [
                crypto.decrypt(original_enc[h], purpose=PHONE_PURPOSE if h in phone_headers else ID_PURPOSE)
                if h in original_enc
                else original.get(h, "")
                for h in headers
            ]
        out.append((excel_row, cells, marks))
    return error_workbook(headers=headers, rows=out)


def import_template_workbook(*, entity_names: list[str] | None = None) -> bytes:
    """The roster import template (.xlsx) with help comments, drop-downs and 填写说明."""
    columns = [
        (spec.label + ("*" if spec.key in F.REQUIRED else ""), spec.help) for spec in F.FIELDS.values()
    ]
    example = {
        "name": "张三",
        "id_number": make_resident_id("110105", dt.date(1990, 3, 7), 123),
        "id_kind": "居民身份证",
        "employee_no": "E0001",
        "hire_date": dt.date(2024, 3, 5),
        "leave_date": None,
        "entity": (entity_names or ["北京示例科技有限公司"])[0],
        "department": "研发中心/后端组",
        "phone": "13800138000",
        "email": "zhangsan@example.com",
        "employment_type": "全日制",
        "hukou_type": "本地城镇",
        "declared_wage": 12000,
    }
    choices = {
        "证件类型": [k.label for k in IdKind],
        "用工类型": list(F.EMPLOYMENT_TYPE_LABELS.values()),
        "户籍类型": list(F.HUKOU_TYPE_LABELS.values()),
    }
    if entity_names:
        choices["参保主体*"] = entity_names
    notes = [
        "第2行（灰色）是示例，导入前请删除。",
        "带 * 的列必填：姓名、身份证号、工号、入职日期、参保主体（导入时选择了默认参保主体则可不填）。",
        "表头可以用常见的其他叫法（如“身份证号码”“员工编号”“到岗日期”“用人单位”），中英文均可；"
        "无法识别的列会请您确认对应哪个字段，确认后同样表头的文件会自动沿用。",
        "身份证号请设置为“文本”格式，否则 Excel 会把18位号码末几位变成0；15位旧号会自动升位。",
        "日期可写作 2024-03-05、2024/3/5、2024.3.5、2024年3月5日 或 20240305。",
        "部门填写名称或完整路径（如“研发中心/后端组”）；系统中没有的部门会在预览中列出，确认导入时新建。",
        "按证件号码匹配员工：系统中已有的员工只更新与文件不同的字段，空白单元格不会清空已有信息；"
        "同一文件重复导入不会产生任何变化。",
        "离职员工再入职：填写晚于上次离职日期的入职日期，系统会新增一段任职期间并保留历史。",
        "导入方式：“全部无误才导入”时任一行有误则整个文件不导入；“仅导入无误的行”时有误的行保留在批次中，"
        "可下载错误工作簿修正后再次导入。",
        "单个文件不超过 20 MB、200,000 行。",
    ]
    return template_workbook(
        columns=columns,
        example=[example[key] for key in F.FIELDS],
        choices=choices,
        notes=notes,
    )
