"""/api/v1/imports — roster import: upload a file, fix the column mapping if asked, read the
preview, confirm, follow the status; the error workbook for the rejected rows.

Only users who may edit the roster (HR admins, HR specialists) import; a specialist sees their
own batches only. Uploading, mapping and confirming need a write token.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Body, File, Form, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from pydantic import Field

from shebao.accounts.models import User
from shebao.accounts.permissions import can_edit_roster, entity_scope_ids
from shebao.api.auth import actor_for, read_auth, write_auth
from shebao.api.schemas import ErrorOut, Out
from shebao.core.exceptions import ApplicationError
from shebao.imports import selectors, services
from shebao.imports.models import ImportBatch, ImportRow
from shebao.org.models import Entity
from shebao.org.selectors import entity_list

router = Router(tags=["数据导入"])

NOT_FOUND = "导入批次不存在或不在您的权限范围内"
NO_IMPORT = "该账号没有导入花名册的权限：只有 HR 管理员和 HR 专员可以导入"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
ModeValue = Literal["all_or_nothing", "valid_only"]


# --- schemas ---------------------------------------------------------------------------------


class CountsOut(Out):
    rows: int
    create: int
    update: int
    unchanged: int
    rejected: int


class BatchEntityOut(Out):
    code: str
    name: str


class NewDepartmentOut(Out):
    entity: str
    entity_name: str
    path: str


class BatchOut(Out):
    id: int
    status: str = Field(
        description="uploaded|parsing|needs_mapping|previewed|committing|committed|rejected|failed"
    )
    status_label: str
    mode: str
    mode_label: str
    file_name: str
    size: int
    sha256: str
    uploaded_by: str | None
    created_at: str | None
    committed_at: str | None
    committed_by: str | None
    default_entity: BatchEntityOut | None
    counts: CountsOut
    new_departments: list[NewDepartmentOut]
    error: str = Field(description="批次级错误（中文），无则为空")
    progress: int = Field(description="0–100")
    headers: list[str] = []
    mapping: dict[str, str | None] = Field({}, description="表头 → 字段（ignore 为忽略，null 为待确认）")
    unmapped: list[str] = []
    warnings: list[str] = []
    can_commit: bool = False
    will_reject: bool = Field(False, description="现在确认会因有错误的行而整体拒绝（全部无误才导入）")


class RowErrorOut(Out):
    row: int | None = Field(description="Excel 行号；批次级错误为 null")
    column: str | None
    code: str
    message: str


class UpdateOut(Out):
    row: int
    employee_id: int | None
    name: str | None
    diff: dict[str, list[Any]] = Field(description="字段 → [原值, 新值]（证件、手机号码为掩码）")


class PreviewOut(Out):
    batch: BatchOut
    errors: list[RowErrorOut]
    errors_total: int = Field(description="有错误的行数")
    updates: list[UpdateOut]
    updates_total: int
    page: int
    page_size: int


class MappingFieldOut(Out):
    field: str
    label: str
    required: bool


class PreviewQuery(Schema):
    page: int = Field(1, ge=1, description="错误行与更新行的页码")
    page_size: int = Field(50, ge=1, le=200)


class ConfirmQuery(Schema):
    mode: ModeValue | None = Field(None, description="确认前切换导入方式（可选）")


class MappingIn(Schema):
    mapping: dict[str, str] = Field(description="表头 → 字段键（见 GET /imports/fields）或 ignore")
    remember: bool = Field(True, description="记住此映射，相同表头的文件自动沿用")


# --- helpers ---------------------------------------------------------------------------------


def _importer(request: HttpRequest) -> User:
    user = request.auth.user
    if not can_edit_roster(user):
        raise HttpError(403, NO_IMPORT)
    return user


def _batch_or_404(request: HttpRequest, batch_id: int) -> ImportBatch:
    batch = selectors.import_batch_get(user=_importer(request), batch_id=batch_id)
    if batch is None:
        raise HttpError(404, NOT_FOUND)
    return batch


def _summary(batch: ImportBatch) -> dict[str, Any]:
    batch.refresh_from_db()
    return selectors.import_batch_summary(batch=batch)


def _entity(user: User, code: str) -> Entity:
    entity = entity_list(ids=entity_scope_ids(user)).filter(code=code.strip()).first()
    if entity is None:
        raise ApplicationError(
            f"参保主体“{code.strip()}”不存在或不在您的权限范围内",
            field_errors={"entity": "不存在或不在您的权限范围内"},
        )
    return entity


# --- endpoints -------------------------------------------------------------------------------


@router.get("/imports", response={200: list[BatchOut], **ERRORS}, auth=read_auth, summary="导入记录")
def list_batches(request: HttpRequest):
    """最近 100 个导入批次（新的在前）。HR 专员只能看到自己上传的批次。"""
    return selectors.import_batch_list(user=_importer(request), limit=100)


@router.post("/imports", response={201: BatchOut, **ERRORS}, auth=write_auth, summary="上传花名册文件")
def upload(
    request: HttpRequest,
    file: File[UploadedFile],
    entity: Form[str | None] = None,
    mode: Form[ModeValue] = "all_or_nothing",
):
    """multipart/form-data：`file`（.xlsx/.xls/.csv，≤20 MB），可选 `entity`（默认参保主体编码），
    `mode`（all_or_nothing 全部无误才导入 / valid_only 仅导入无误的行）。文件随后在后台解析：
    轮询 GET /imports/{id} 直到状态不再是 uploaded/parsing。"""
    user = _importer(request)
    default_entity = _entity(user, entity) if entity and entity.strip() else None
    batch = services.import_batch_create(
        actor=actor_for(request),
        data=file.read(),
        filename=file.name or "upload",
        default_entity=default_entity,
        mode=mode,
    )
    return Status(201, _summary(batch))


@router.get(
    "/imports/fields", response={200: list[MappingFieldOut], **ERRORS}, auth=read_auth, summary="可映射的字段"
)
def mapping_fields(request: HttpRequest):
    """列映射可选的字段键（最后一项 ignore 表示忽略该列）。"""
    _importer(request)
    return selectors.import_mapping_fields()


@router.get("/imports/{batch_id}", response={200: BatchOut, **ERRORS}, auth=read_auth, summary="导入批次状态")
def get_batch(request: HttpRequest, batch_id: int):
    """状态、汇总数量、待确认的列（unmapped）与进度（progress，0–100）。"""
    return selectors.import_batch_summary(batch=_batch_or_404(request, batch_id))


@router.get(
    "/imports/{batch_id}/preview", response={200: PreviewOut, **ERRORS}, auth=read_auth, summary="导入预览"
)
def preview(request: HttpRequest, batch_id: int, q: Query[PreviewQuery]):
    """数量、将新建的部门、错误（行号/列/代码/说明，按有错误的行分页）与将更新员工的逐字段差异（分页）。"""
    batch = _batch_or_404(request, batch_id)
    offset = (q.page - 1) * q.page_size
    rejected = selectors.import_batch_rows(
        batch=batch, action=ImportRow.Action.REJECT, offset=offset, limit=q.page_size
    )
    errors = [
        {"row": r["row"], "column": e["column"], "code": e["code"], "message": e["message"]}
        for r in rejected
        for e in r["errors"]
    ]
    if not errors and q.page == 1 and not batch.rejected_count:
        errors = selectors.import_batch_errors(batch=batch, limit=20)  # a batch-level error, if any
    updates = selectors.import_batch_rows(
        batch=batch, action=ImportRow.Action.UPDATE, offset=offset, limit=q.page_size
    )
    return {
        "batch": selectors.import_batch_summary(batch=batch),
        "errors": errors,
        "errors_total": selectors.import_batch_row_count(batch=batch, action=ImportRow.Action.REJECT),
        "updates": [
            {
                "row": r["row"],
                "employee_id": r["employee_id"],
                "name": r["values"].get("name"),
                "diff": r["diff"],
            }
            for r in updates
        ],
        "updates_total": selectors.import_batch_row_count(batch=batch, action=ImportRow.Action.UPDATE),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.post(
    "/imports/{batch_id}/mapping", response={200: BatchOut, **ERRORS}, auth=write_auth, summary="确认列映射"
)
def set_mapping(request: HttpRequest, batch_id: int, payload: Body[MappingIn]):
    """为状态 needs_mapping 的批次指定各列对应的字段（`{"mapping": {"表头": "字段键" | "ignore"}}`），
    随后在后台重新解析。未列出的列沿用系统的识别结果。"""
    batch = _batch_or_404(request, batch_id)
    services.import_batch_set_mapping(
        actor=actor_for(request), batch=batch, mapping=payload.mapping, remember=payload.remember
    )
    return _summary(batch)


@router.post(
    "/imports/{batch_id}/confirm", response={202: BatchOut, **ERRORS}, auth=write_auth, summary="确认导入"
)
def confirm(request: HttpRequest, batch_id: int, q: Query[ConfirmQuery]):
    """把已预览（previewed）的批次排入后台导入；轮询 GET /imports/{id} 查看进度与结果。
    导入方式为“全部无误才导入”而预览中有错误的行时，返回 422（code `will_reject`），不排队：
    请修正文件后重新上传，或以 `?mode=valid_only` 确认。后台导入时若花名册在预览后发生变化、
    出现新的错误行，批次会被整体拒绝（状态 rejected），花名册不变。"""
    batch = _batch_or_404(request, batch_id)
    actor = actor_for(request)
    if q.mode and q.mode != batch.mode:
        services.import_batch_set_mode(actor=actor, batch=batch, mode=q.mode)
    services.import_batch_commit_enqueue(actor=actor, batch=batch)
    return Status(202, _summary(batch))


@router.get(
    "/imports/{batch_id}/errors.xlsx",
    response={200: None, **ERRORS},
    auth=read_auth,
    summary="下载错误工作簿",
    openapi_extra={"responses": {200: {"description": "xlsx", "content": {XLSX: {}}}}},
)
def error_workbook(request: HttpRequest, batch_id: int):
    """有错误的行（含原始单元格与“错误说明”），修正后可直接重新上传。包含完整证件号码：每次下载记入审计日志。"""
    batch = _batch_or_404(request, batch_id)
    if not batch.rejected_count:
        raise HttpError(404, "该批次没有错误的行")
    content = services.import_batch_error_report(actor=actor_for(request), batch=batch)
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.xlsx"'
    response["Cache-Control"] = "no-store"
    return response
