"""/api/v1/ledger — the contribution ledger: upload government exports (preview, confirm, cancel),
follow the sync runs, read an employee's coverage, the per-entity overview, the discrepancies
reconciliation found and the people paid for who are not in the roster; file-layout profiles.

Reading needs a role that may view the roster and is limited to the caller's entities (the ledger
selectors apply the scope); uploading, confirming, reconciling and saving profiles need a write
token of a user who may edit the roster, and the entity must be theirs (the ledger services check).
Identity numbers only ever leave as masks.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Body, File, Form, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from pydantic import AfterValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from shebao.api.auth import actor_for, entity_in_scope, read_auth, write_auth
from shebao.api.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, EntityRef, ErrorOut, Out
from shebao.core.exceptions import ApplicationError
from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.ledger import parsing, selectors, services
from shebao.ledger.models import Connector, Discrepancy, ExportProfile, SyncRun
from shebao.org.models import Entity
from shebao.roster.models import Employee
from shebao.roster.selectors import employee_get

router = Router(tags=["缴费台账"])

RUN_NOT_FOUND = "同步记录不存在或不在您的权限范围内"
EMPLOYEE_NOT_FOUND = "员工不存在或不在您的权限范围内"
ERROR_ROWS = 50
ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}


def _month(value: str | None) -> str | None:
    """A month as "2025-03" (202503 and 2025年3月 are read too); anything else is a Chinese 422."""
    if value is None or not value.strip():
        return None
    try:
        return str(YearMonth.parse(value))
    except YearMonthError as exc:
        raise PydanticCustomError("shebao", exc.message) from None


def _code(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise PydanticCustomError("shebao", "只能包含英文字母、数字、- 和 _")
    return value


Month = Annotated[str, AfterValidator(_month)]
ProfileCode = Annotated[str, AfterValidator(_code)]


# --- schemas: output -------------------------------------------------------------------------


class RunOut(Out):
    id: int
    entity: str = Field(description="参保主体编码")
    entity_name: str
    source: str = Field(description="upload|cli|drop_folder|http|simulator")
    source_label: str
    status: str = Field(description="running|previewed|succeeded|partial|duplicate|failed|cancelled")
    status_label: str
    file_name: str
    sha256: str
    profile: str = Field(description="识别或指定的文件格式模板编码")
    started_at: str
    finished_at: str | None
    counts: dict[str, Any] = Field(
        description="rows 行数、skipped 跳过、rejected 有错误、people 人数、unknown_people 花名册外人员、"
        "records_created/changed/unchanged 缴费记录新增/变更/无变化、enrollments_* 参保状态、"
        "period_from/period_to 费款所属期范围（yyyymm）"
    )
    change_count: int
    errors: list[dict[str, Any] | str] = Field(
        description="[{row, column, code, message}]；文件无法读取时为 [{message}]"
    )
    warnings: list[str]
    context: dict[str, Any] = Field(
        description="从标题区或文件名识别出的费款所属期、单位等，以及上传时的选项"
    )
    duplicate_of: int | None = Field(description="重复文件时：首次导入该文件的同步记录 ID")
    connector: str | None


class SourceRowOut(Out):
    row: int = Field(description="源文件行号")
    cells: dict[str, Any] = Field(description="原始单元格（证件号码已掩码）")
    skipped: str
    errors: list[dict[str, Any]]


class RunDetailOut(RunOut):
    rows: list[SourceRowOut] = Field(
        description=f"有错误的前 {ERROR_ROWS} 行及其原始单元格；预览（previewed）不保存行，错误见 errors"
    )


class RunBriefOut(Out):
    id: int
    source: str
    status: str
    status_label: str
    file_name: str
    started_at: str
    finished_at: str | None


class CoverageRecordOut(Out):
    unit: str = Field(description="缴费单位")
    ours: bool = Field(description="是否由员工任职的本单位主体缴纳")
    status: str
    status_label: str
    evidence_label: str
    base: str | None = Field(description="缴费基数")
    employer: str | None = Field(description="单位部分（实缴优先，否则应缴）")
    employee: str | None = Field(description="个人部分（实缴优先，否则应缴）")


class CoverageCellOut(Out):
    model_config = ConfigDict(populate_by_name=True)

    month: str
    css: str = Field(
        alias="class",
        description="paid|backpaid|declared|arrears|refunded|other（他单位缴纳）|both|gap（在职无记录）"
        "|nodata（在职，台账尚无该月数据）|none",
    )
    employed: bool = Field(description="该月是否在本单位任职期间")
    in_data: bool = Field(description="该月是否在台账已有数据的月份范围内（否则无记录不代表断缴）")
    records: list[CoverageRecordOut]


class CoverageRowOut(Out):
    insurance: str
    label: str
    cells: list[CoverageCellOut]


class EnrollmentOut(Out):
    insurance: str
    insurance_label: str
    unit: str
    ours: bool
    state: str = Field(description="active|suspended|terminated|not_enrolled")
    state_label: str
    since: str | None
    reported_at: str


class DiscrepancyOut(Out):
    id: int
    entity: str | None
    kind: str = Field(description="|".join(Discrepancy.Kind.values))
    kind_label: str
    employee: int | None = Field(description="员工 ID；花名册外人员为 null")
    employee_name: str | None
    insurance: str | None
    insurance_label: str | None
    period_from: str | None = Field(description="起始月份 YYYY-MM")
    period_to: str | None
    months: int
    unit: str | None = Field(description="缴费单位（如由其他单位缴纳）")
    amount: str | None = Field(description="涉及金额")
    detail: dict[str, Any] = Field(description="计算所用的数据及其来源")
    citations: list[str] = Field(description="法规条文编号，见 /law/articles/{id}")
    explanation: str
    status: str = Field(description="open|resolved")
    first_seen_at: str
    last_seen_at: str
    resolved_at: str | None


class CoverageOut(Out):
    employee: int
    months: list[str]
    insurances: list[CoverageRowOut]
    enrollments: list[EnrollmentOut]
    discrepancies: list[DiscrepancyOut] = Field(description="该员工未解决的差异")


class OverviewInsuranceOut(Out):
    insurance: str
    label: str
    covered: int = Field(description="由本单位缴纳的在职人数")
    other_unit: int = Field(description="仅由其他单位缴纳的人数")
    missing: int = Field(description="无任何缴费记录的在职人数")
    rate: int | None = Field(description="本单位缴纳比例（%）；无在职人员时为 null")


class OverviewEntityOut(Out):
    entity: EntityRef
    employed: int = Field(description="当月在职人数")
    insurances: list[OverviewInsuranceOut]
    open_discrepancies: int
    last_run: RunBriefOut | None


class OverviewOut(Out):
    month: str = Field(description="YYYY-MM")
    entities: list[OverviewEntityOut]


class DiscrepancyPage(Out):
    items: list[DiscrepancyOut]
    total: int
    page: int
    page_size: int


class ReconcileOut(Out):
    entities: list[str] = Field(description="已核对的参保主体编码")
    counts: dict[str, int] = Field(description="本次发现的差异，按类型")
    found: int = Field(description="本次发现的差异总数")
    opened: int = Field(description="新出现的差异")
    reopened: int = Field(description="已消除后再次出现的差异")
    updated: int = Field(description="内容有变化的差异")
    unchanged: int
    resolved: int = Field(description="已不再出现、标记为已消除的差异")
    employees: int = Field(description="核对的员工数")
    people: int = Field(description="花名册外人员数")
    notes: list[str] = Field(description="未能核对的事项（如缴费基数上下限未收录、未填写申报工资）")
    open: dict[str, int] = Field(description="核对后您可见的未解决差异，按类型")
    open_total: int


class UnknownPersonOut(Out):
    id: int
    name: str
    id_number_masked: str = Field(description="证件号码（掩码）；来源无证件号时为空")
    match: str
    months: int = Field(description="有缴费记录的月数")
    entities: list[EntityRef]
    period_from: str | None
    period_to: str | None
    amount: str | None = Field(description="本单位为其缴纳的金额（单位+个人，实缴优先）")


class ProfileOut(Out):
    code: str
    title: str
    shape: str = Field(description="文件形态，如 long（一行一险种一月）、wide（一行多险种）")
    note: str


# --- schemas: input --------------------------------------------------------------------------


class UploadIn(Schema):
    entity: str = Field(max_length=32, description="参保主体编码，如 BJ01")
    profile: str = Field("auto", max_length=80, description="auto（自动识别）或格式模板编码")
    period: Month | None = Field(None, description="费款所属期 YYYY-MM：文件名和表头都没有写明时填写")
    item: str = Field("", max_length=60, description="征收品目：一个品目一个文件且文件名中没有品目时填写")
    unit_no: str = Field("", max_length=40, description="缴费单位编号：文件中没有时填写")
    unit_name: str = Field("", max_length=200, description="缴费单位名称：文件中没有时填写")


class RunQuery(Schema):
    entity: str | None = Field(None, max_length=32, description="参保主体编码")
    limit: int = Field(100, ge=1, le=500)


class CoverageQuery(Schema):
    months: int = Field(36, ge=12, le=120, description="显示的月数（截至本月或最近有记录的月份）")


class OverviewQuery(Schema):
    month: Month | None = Field(None, description="YYYY-MM；默认为台账中最近的月份")


class DiscrepancyQuery(Schema):
    entity: str | None = Field(None, max_length=32, description="参保主体编码")
    kind: Discrepancy.Kind | None = None
    status: Literal["open", "resolved", "all"] = "open"
    employee: int | None = Field(None, description="员工 ID")
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class EntityQuery(Schema):
    entity: str | None = Field(None, max_length=32, description="参保主体编码")


class ReconcileIn(Schema):
    model_config = ConfigDict(extra="forbid")

    entity: str | None = Field(None, max_length=32, description="参保主体编码；不填则核对您负责的全部主体")


class ProfileIn(Schema):
    model_config = ConfigDict(extra="forbid")

    code: ProfileCode = Field(max_length=80, description="模板编码（英文字母、数字、-、_）")
    title: str = Field(min_length=1, max_length=120, description="名称")
    definition: dict[str, Any] = Field(description="列映射等，格式同系统内置模板")


# --- helpers ---------------------------------------------------------------------------------


def _run_or_404(request: HttpRequest, run_id: int) -> SyncRun:
    run = selectors.sync_run_get(user=request.auth.user, run_id=run_id)
    if run is None:
        raise HttpError(404, RUN_NOT_FOUND)
    return run


def _run_detail(run: SyncRun) -> dict[str, Any]:
    rows = selectors.sync_run_rows(run=run, problems_only=True, limit=ERROR_ROWS)
    return {
        **selectors.sync_run_data(run),
        "rows": [{"row": r.row, "cells": r.cells, "skipped": r.skipped, "errors": r.errors} for r in rows],
    }


def _run_brief(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "source": run.source,
        "status": run.status,
        "status_label": run.get_status_display(),
        "file_name": run.file_name,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _entity_ref(entity: Entity) -> dict[str, str]:
    return {"code": entity.code, "name": entity.name}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _profile_data(profile: Any) -> dict[str, str]:
    """A compiled parsing profile, or a just-saved ExportProfile (shape and note in its definition)."""
    if isinstance(profile, ExportProfile):
        return {
            "code": profile.code,
            "title": profile.title,
            "shape": str(profile.definition.get("shape") or ""),
            "note": str(profile.definition.get("note") or ""),
        }
    return {"code": profile.code, "title": profile.title, "shape": profile.shape, "note": profile.note or ""}


# --- uploads and runs ------------------------------------------------------------------------


@router.post(
    "/ledger/uploads",
    response={201: RunDetailOut, **ERRORS_READ},
    auth=write_auth,
    summary="上传缴费数据文件",
)
def upload(request: HttpRequest, file: File[UploadedFile], form: Form[UploadIn]):
    """multipart/form-data：`file`（税务、人社、医保、公积金导出的 .xlsx/.xls/.csv 或代理机构账单，≤50 MB）
    与参保主体编码 `entity`。文件随即解析并预览：返回的同步记录状态为 previewed（counts 为确认后将产生的变化，
    errors 为有错误的行）或 failed（errors 说明文件为何无法读取或识别）。预览不写入台账：
    确认请调用 POST /ledger/runs/{id}/confirm，放弃请调用 /cancel。"""
    entity = entity_in_scope(request.auth.user, form.entity)
    if entity is None:
        raise ApplicationError("请填写参保主体编码", field_errors={"entity": "必填"})
    run = services.ledger_upload_create(
        actor=actor_for(request),
        entity=entity,
        data=file.read(),
        filename=file.name or "upload",
        options=services.IngestOptions(
            profile=form.profile.strip() or "auto",
            period=form.period or "",
            item=form.item.strip(),
            unit_no=form.unit_no.strip(),
            unit_name=form.unit_name.strip(),
        ),
    )
    return Status(201, _run_detail(run))


@router.post(
    "/ledger/runs/{run_id}/confirm",
    response={202: RunOut, **ERRORS_ONE},
    auth=write_auth,
    summary="确认导入缴费数据",
)
def confirm(request: HttpRequest, run_id: int):
    """把已预览（previewed）的上传排入后台写入台账；轮询 GET /ledger/runs/{id} 直到状态不再是 running。
    不是待确认状态时返回 422（code `not_previewed`）；原文件已按保留策略删除时返回 422（code `purged`）。"""
    run = _run_or_404(request, run_id)
    services.ledger_upload_confirm(actor=actor_for(request), run=run, enqueue=True)
    run.refresh_from_db()
    return Status(202, selectors.sync_run_data(run))


class RetryIn(Schema):
    model_config = ConfigDict(extra="forbid")

    profile: str = Field("auto", max_length=80, description="auto（自动识别）或格式模板编码")
    period: Month | None = Field(None, description="费款所属期 YYYY-MM")
    item: str = Field("", max_length=60, description="征收品目，如 职工基本养老保险(单位缴纳)")


@router.post(
    "/ledger/runs/{run_id}/retry",
    response={201: RunDetailOut, **ERRORS_ONE},
    auth=write_auth,
    summary="补充信息后重新识别上传的文件",
)
def retry(request: HttpRequest, run_id: int, payload: RetryIn):
    """上传的文件识别失败（如文件中没有费款所属期：errors[0].field = "period"）或识别结果不对时，
    补充月份、征收品目或指定格式模板后重新预览；返回新的同步记录（原预览记录改为已取消）。"""
    run = _run_or_404(request, run_id)
    new = services.ledger_upload_retry(
        actor=actor_for(request),
        run=run,
        options=services.IngestOptions(
            profile=payload.profile.strip() or "auto", period=payload.period or "", item=payload.item.strip()
        ),
    )
    return Status(201, _run_detail(new))


@router.post(
    "/ledger/runs/{run_id}/cancel", response={200: RunOut, **ERRORS_ONE}, auth=write_auth, summary="取消上传"
)
def cancel(request: HttpRequest, run_id: int):
    """放弃已预览（previewed）的上传：同步记录改为已取消，上传的文件随即删除。"""
    run = _run_or_404(request, run_id)
    services.ledger_run_cancel(actor=actor_for(request), run=run)
    run.refresh_from_db()
    return selectors.sync_run_data(run)


@router.get("/ledger/runs", response={200: list[RunOut], **ERRORS_READ}, auth=read_auth, summary="同步记录")
def list_runs(request: HttpRequest, q: Query[RunQuery]):
    """上传、命令行导入、投递文件夹与接口同步的记录，新的在前；可按参保主体筛选。"""
    user = request.auth.user
    runs = selectors.sync_run_list(user=user, entity=entity_in_scope(user, q.entity), limit=q.limit)
    return [selectors.sync_run_data(r) for r in runs]


@router.get(
    "/ledger/runs/{run_id}",
    response={200: RunDetailOut, **ERRORS_ONE},
    auth=read_auth,
    summary="同步记录详情",
)
def get_run(request: HttpRequest, run_id: int):
    """状态、统计、错误与警告，以及有错误的行的原始单元格（证件号码已掩码）。"""
    return _run_detail(_run_or_404(request, run_id))


# --- reading the ledger ----------------------------------------------------------------------


@router.get(
    "/ledger/employees/{employee_id}/coverage",
    response={200: CoverageOut, **ERRORS_ONE},
    auth=read_auth,
    summary="员工参保缴费时间轴",
    by_alias=True,
)
def coverage(request: HttpRequest, employee_id: int, q: Query[CoverageQuery]):
    """按险种 × 月份列出员工的缴费情况：谁缴的（本单位/其他单位）、状态与依据；任职期间无记录的月份为 gap。
    另含各险种的参保状态与该员工未解决的差异。"""
    employee = employee_get(user=request.auth.user, pk=employee_id)
    if employee is None:
        raise HttpError(404, EMPLOYEE_NOT_FOUND)
    return selectors.employee_coverage_data(employee=employee, months=q.months)


@router.get(
    "/ledger/overview", response={200: OverviewOut, **ERRORS_READ}, auth=read_auth, summary="参保覆盖概览"
)
def overview(request: HttpRequest, q: Query[OverviewQuery]):
    """指定月份各参保主体、各险种的在职人数、由本单位缴纳、仅由其他单位缴纳与无记录的人数，
    未解决的差异数与最近一次同步。"""
    month = YearMonth.parse(q.month) if q.month else None
    data = selectors.entity_overview(user=request.auth.user, month=month)
    return {
        "month": str(data["month"]),
        "entities": [
            {
                "entity": _entity_ref(e["entity"]),
                "employed": e["employed"],
                "insurances": e["insurances"],
                "open_discrepancies": e["open_discrepancies"],
                "last_run": _run_brief(e["last_run"]),
            }
            for e in data["entities"]
        ],
    }


@router.get(
    "/ledger/discrepancies",
    response={200: DiscrepancyPage, **ERRORS_READ},
    auth=read_auth,
    summary="差异列表",
)
def list_discrepancies(request: HttpRequest, q: Query[DiscrepancyQuery]):
    """核对发现的差异（未参保、他单位参保、离职后仍缴、欠缴、基数不符、花名册外人员…），
    每条含涉及的月份、金额、计算依据与法规条文编号。默认只列未解决的（status=open），分页。"""
    user = request.auth.user
    entity = entity_in_scope(user, q.entity)
    employee: Employee | None = None
    if q.employee is not None:
        employee = employee_get(user=user, pk=q.employee)
        if employee is None:
            raise ApplicationError(
                f"员工（ID {q.employee}）不存在或不在您的权限范围内",
                field_errors={"employee": "不存在或不在您的权限范围内"},
            )
    qs = selectors.discrepancy_list(
        user=user,
        entity=entity,
        kinds=[q.kind.value] if q.kind else None,
        status=None if q.status == "all" else q.status,
        employee=employee,
    )
    start = (q.page - 1) * q.page_size
    return {
        "items": [selectors.discrepancy_data(d) for d in qs[start : start + q.page_size]],
        "total": qs.count(),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.post(
    "/ledger/reconcile", response={200: ReconcileOut, **ERRORS_READ}, auth=write_auth, summary="重新核对"
)
def reconcile(request: HttpRequest, payload: Body[ReconcileIn]):
    """按花名册与台账重新计算差异（一个参保主体，或您负责的全部主体）。已不再出现的差异标记为已消除。
    请求体：`{"entity": "BJ01"}` 或 `{}`。"""
    user = request.auth.user
    entity = entity_in_scope(user, payload.entity)
    # No entity: the service reconciles the caller's own entities (all of them for an HR admin).
    result = services.ledger_reconcile(actor=actor_for(request), entity=entity).to_dict()
    open_counts = selectors.discrepancy_counts(user=user, entity=entity)
    return {
        **result,
        "entities": [e.code for e in ([entity] if entity else selectors.entities_for(user))],
        "open": open_counts,
        "open_total": sum(open_counts.values()),
    }


@router.get(
    "/ledger/unknown-people",
    response={200: list[UnknownPersonOut], **ERRORS_READ},
    auth=read_auth,
    summary="花名册外人员",
)
def list_unknown_people(request: HttpRequest, q: Query[EntityQuery]):
    """政府数据中有缴费记录、但花名册中找不到的人员，及本单位为其缴纳的月数与金额。证件号码只返回掩码。"""
    user = request.auth.user
    rows = selectors.unknown_people(user=user, entity=entity_in_scope(user, q.entity))
    return [
        {
            "id": r["person"].pk,
            "name": r["person"].name,
            "id_number_masked": r["id_masked"],
            "match": r["match"],
            "months": r["months"],
            "entities": [_entity_ref(e) for e in r["entities"]],
            "period_from": r["period_from"],
            "period_to": r["period_to"],
            "amount": _money(r["amount"]),
        }
        for r in rows
    ]


# --- file-layout profiles --------------------------------------------------------------------


@router.get(
    "/ledger/profiles",
    response={200: list[ProfileOut], **ERRORS_READ},
    auth=read_auth,
    summary="文件格式模板",
)
def list_profiles(request: HttpRequest):
    """系统内置与用户保存的文件格式模板；上传时 `profile` 取其编码，或 auto 自动识别。"""
    return [_profile_data(p) for p in parsing.profile_list()]


@router.post(
    "/ledger/profiles", response={201: ProfileOut, **ERRORS_READ}, auth=write_auth, summary="保存文件格式模板"
)
def save_profile(request: HttpRequest, payload: ProfileIn):
    """保存（或更新同编码的）用户格式模板：`{"code", "title", "definition"}`，definition 经校验，
    有误时返回 422 并说明原因。编码不能与系统内置模板重复。"""
    profile = services.ledger_profile_save(
        actor=actor_for(request), code=payload.code, title=payload.title, definition=payload.definition
    )
    return Status(201, _profile_data(profile))


# --- connectors --------------------------------------------------------------------------------


class ConnectorOut(Out):
    id: int
    entity: EntityRef
    name: str
    kind: Literal["drop_folder", "http"]
    kind_label: str
    enabled: bool
    is_simulator: bool = Field(description="演示和测试用的模拟平台，不是真实的政府数据")
    interval_minutes: int
    target: str = Field(description="投递文件夹路径或接口地址")
    last_run_at: str | None
    next_run_at: str | None
    last_run: RunBriefOut | None


def _connector_data(c: Connector, last: SyncRun | None) -> dict[str, Any]:
    return {
        "id": c.pk,
        "entity": _entity_ref(c.entity),
        "name": c.name,
        "kind": c.kind,
        "kind_label": c.get_kind_display(),
        "enabled": c.enabled,
        "is_simulator": c.is_simulator,
        "interval_minutes": c.interval_minutes,
        "target": c.folder or c.base_url,
        "last_run_at": c.last_run_at.isoformat() if c.last_run_at else None,
        "next_run_at": c.next_run_at.isoformat() if c.next_run_at else None,
        "last_run": _run_brief(last),
    }


@router.get(
    "/ledger/connectors",
    response={200: list[ConnectorOut], **ERRORS_READ},
    auth=read_auth,
    summary="数据连接器",
)
def list_connectors(request: HttpRequest, q: Query[EntityQuery]):
    """投递文件夹和 HTTP 接口连接器（签名密钥不会返回）。"""
    entity = entity_in_scope(request.auth.user, q.entity)
    qs = Connector.objects.filter(entity__in=selectors.entities_for(request.auth.user)).select_related(
        "entity"
    )
    if entity is not None:
        qs = qs.filter(entity=entity)
    connectors = list(qs)
    last: dict[int, SyncRun] = {}
    for run in (
        SyncRun.objects.filter(connector__in=connectors)
        .select_related("entity")
        .order_by("connector_id", "-started_at")
    ):
        last.setdefault(run.connector_id, run)
    return [_connector_data(c, last.get(c.pk)) for c in connectors]


class SyncIn(Schema):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(
        False, description="true：忽略已保存的游标，重新读取全部数据（结果仍按记录去重，不会重复）"
    )


@router.post(
    "/ledger/connectors/{connector_id}/sync",
    response={202: ConnectorOut, **ERRORS_ONE},
    auth=write_auth,
    summary="立即同步",
)
def sync_connector(request: HttpRequest, connector_id: int, payload: Body[SyncIn]):
    """把该连接器的同步排入后台；结果见 GET /ledger/runs?entity=…（来源 http 或 drop_folder）。"""
    from shebao.ledger.connectors.manage import connector_sync_request

    connector = (
        Connector.objects.filter(entity__in=selectors.entities_for(request.auth.user), pk=connector_id)
        .select_related("entity")
        .first()
    )
    if connector is None:
        raise HttpError(404, "连接器不存在或不在您的权限范围内")
    connector_sync_request(actor=actor_for(request), connector=connector, full=payload.full)
    return Status(202, _connector_data(connector, None))
