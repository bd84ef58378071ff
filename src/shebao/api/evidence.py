"""/api/v1/evidence — the evidence ledger (read), its verification and the evidence bundles.

* ``GET /evidence/entries`` — entries in ``seq`` order, filtered by case (id or number), employee
  (id or employee number), kind; paged with the ``after`` cursor (``next`` in the answer);
* ``GET /evidence/entries/{seq}`` — one entry;
* ``GET /evidence/status`` — the chain's head, last verification, recent checkpoints, signing key;
* ``POST /evidence/verify`` — verify the whole chain now (HR admins and auditors; it changes no
  data — it only records the run — so a read token of an auditor may call it);
* ``GET /cases/{id}/evidence-bundle`` and ``GET /employees/{id}/evidence-bundle`` — the signed
  ZIP (``application/zip``), checkable without Shebao (``python3 verify.py bundle.zip``).

Evidence is for HR admins and auditors (everything) and HR specialists (the employees of their
entities); department managers get 403. An entry, case or employee outside the caller's scope is
404, as elsewhere in the API.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import AuthorizationError, HttpError
from pydantic import Field

from shebao.api import auth
from shebao.api.auth import actor_for
from shebao.api.schemas import ErrorOut, Out
from shebao.core.exceptions import ApplicationError
from shebao.evidence import selectors, services

router = Router(tags=["证据"])

NO_EVIDENCE = "该账号没有查看证据的权限（限 HR 和审计员）"
NO_VERIFY = "只有HR管理员和审计员可以校验证据链"
ENTRY_NOT_FOUND = "证据链记录不存在或不在您的权限范围内"
CASE_NOT_FOUND = "案件不存在或不在您的权限范围内"
EMPLOYEE_NOT_FOUND = "员工不存在或不在您的权限范围内"
MAX_LIMIT = 1000
ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}
ZIP = "application/zip"


class TokenAuth(auth.TokenAuth):
    """A token of a user who may see evidence (``verify``: HR admins and auditors). Named like its
    parent so the OpenAPI document keeps its one ``TokenAuth`` scheme."""

    def __init__(self, *, verify: bool = False) -> None:
        super().__init__()
        self.verify = verify

    def authenticate(self, request: HttpRequest, token: str):
        api_token = super().authenticate(request, token)
        if self.verify and not selectors.can_verify_chain(api_token.user):
            raise AuthorizationError(403, NO_VERIFY)
        if not selectors.can_view_evidence(api_token.user):
            raise AuthorizationError(403, NO_EVIDENCE)
        return api_token


evidence_auth = TokenAuth()
verify_auth = TokenAuth(verify=True)


# --- schemas ------------------------------------------------------------------------------------


class EntryOut(Out):
    seq: int
    at: str = Field(description="记录时间（UTC，ISO 8601，与参与哈希计算的文本一致）")
    kind: str = Field(description="类型，如 case.letter_sent、delivery.attempt、status.checked")
    kind_label: str
    actor: str
    stream: str = Field(description="员工记录链：e<员工 ID>；组织级记录为空")
    case: str = Field(description="案件编号")
    subject: str
    payload_sha256: str = Field(description="payload 的紧凑 JSON 文本的 SHA-256")
    prev: str = Field(description="整条链上一条的哈希")
    stream_prev: str = Field(description="同一员工上一条的哈希")
    hash: str
    summary: str = Field(description="一句话说明（中文）")
    payload: dict[str, Any] | None = Field(description="记录内容（已解析的 JSON）")
    employee_id: int | None
    case_id: int | None


class EntryPage(Out):
    items: list[EntryOut]
    next: int | None = Field(description="还有更多时：下一页请求的 after 值；没有更多时为 null")


class ProblemOut(Out):
    code: str
    message: str
    seq: int | None


class VerifyRunOut(Out):
    id: int
    result: str = Field(description="ok|broken|running")
    result_label: str
    started_at: str | None
    finished_at: str | None
    entries: int
    head_seq: int | None
    first_bad_seq: int | None = Field(description="首个问题所在记录的序号")
    problems: list[ProblemOut]
    checkpoints: int
    duration_ms: int
    via: str


class CheckpointOut(Out):
    id: int
    seq: int
    head_hash: str
    created_at: str | None
    key_fingerprint: str
    sent_to: list[Any]
    tsa_url: str
    tsa_time: str | None
    tsa_error: str


class StatusOut(Out):
    entries: int
    head_seq: int
    head_hash: str
    key_fingerprint: str = Field(description="签名公钥指纹；尚未生成密钥时为空")
    last_verification: VerifyRunOut | None
    checkpoints: list[CheckpointOut] = Field(description="最近的校验点（新的在前）")
    channel: str | None = Field(description="校验点发送到的通知通道")
    tsa_url: str


class EntryQuery(Schema):
    case: str | None = Field(None, max_length=32, description="案件 ID 或案件编号（AJ…）")
    employee: str | None = Field(None, max_length=32, description="员工 ID 或工号")
    kind: str | None = Field(None, max_length=40, description="记录类型")
    after: int | None = Field(None, ge=0, description="只返回序号大于此值的记录（上一页的 next）")
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"每页条数，最多 {MAX_LIMIT}")


# --- helpers ------------------------------------------------------------------------------------


def _case(user, ref: str, *, field: str | None = None):
    from shebao.cases.selectors import case_by_number, case_get

    ref = ref.strip()
    case = case_get(user, int(ref)) if ref.isdigit() else case_by_number(user, ref)
    if case is None:
        if field:
            raise ApplicationError(
                f"案件“{ref}”不存在或不在您的权限范围内", field_errors={field: "不存在或不在您的权限范围内"}
            )
        raise HttpError(404, CASE_NOT_FOUND)
    return case


def _employee(user, ref: str, *, field: str | None = None):
    from shebao.accounts.permissions import employee_scope
    from shebao.roster.models import Employee

    ref = ref.strip()
    scoped = Employee.objects.filter(employee_scope(user))
    employee = scoped.filter(employee_no=ref).first()
    if employee is None and ref.isdigit():
        employee = scoped.filter(pk=int(ref)).first()
    if employee is None:
        if field:
            raise ApplicationError(
                f"员工“{ref}”不存在或不在您的权限范围内", field_errors={field: "不存在或不在您的权限范围内"}
            )
        raise HttpError(404, EMPLOYEE_NOT_FOUND)
    return employee


# --- entries ------------------------------------------------------------------------------------


@router.get(
    "/evidence/entries", response={200: EntryPage, **ERRORS_READ}, auth=evidence_auth, summary="证据链记录"
)
def list_entries(request: HttpRequest, q: Query[EntryQuery]):
    """证据链记录，按序号从小到大。`case` 为案件 ID 或编号，`employee` 为员工 ID 或工号（先按工号查找）。
    分页用游标：把返回的 `next` 作为下一次请求的 `after`，直到 `next` 为 null。
    每条记录含参与哈希计算的全部字段（`payload` 为解析后的 JSON；其紧凑文本的 SHA-256 即 `payload_sha256`）。"""
    user = request.auth.user
    case = _case(user, q.case, field="case") if q.case and q.case.strip() else None
    employee = _employee(user, q.employee, field="employee") if q.employee and q.employee.strip() else None
    filters = selectors.EntryFilters(
        kind=(q.kind or "").strip(),
        case_id=case.pk if case else None,
        employee_id=employee.pk if employee else None,
        after=q.after,
    )
    rows = list(selectors.entry_list(user, filters).order_by("seq")[: q.limit + 1])
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return {"items": [selectors.entry_data(e) for e in rows], "next": rows[-1].seq if more else None}


@router.get(
    "/evidence/entries/{int:seq}",
    response={200: EntryOut, **ERRORS_ONE},
    auth=evidence_auth,
    summary="一条记录",
)
def get_entry(request: HttpRequest, seq: int):
    """序号为 `seq` 的记录。"""
    entry = selectors.entry_get(request.auth.user, seq)
    if entry is None:
        raise HttpError(404, ENTRY_NOT_FOUND)
    return selectors.entry_data(entry)


# --- the chain ----------------------------------------------------------------------------------


@router.get(
    "/evidence/status", response={200: StatusOut, **ERRORS_READ}, auth=evidence_auth, summary="证据链状态"
)
def chain_status(request: HttpRequest):
    """记录数、链头（序号和哈希）、最近一次校验的结果（问题列表与首个问题的序号）、最近的校验点、签名公钥指纹。"""
    return selectors.chain_status().as_dict()


@router.post(
    "/evidence/verify", response={200: VerifyRunOut, **ERRORS_READ}, auth=verify_auth, summary="校验证据链"
)
def verify(request: HttpRequest):
    """立即校验整条证据链：逐条重新计算内容摘要和哈希、核对前后衔接和每名员工的记录链、链头和每个校验点。
    结果同时记入校验记录（证据链页面显示最近一次）。`result` 为 `broken` 时 `problems` 逐条指出问题所在。
    校验不修改任何数据，因此审计员的只读令牌也可调用。"""
    return selectors.verify_run_data(services.chain_verify(via="api"))


# --- bundles ------------------------------------------------------------------------------------

_ZIP_DOC = {"responses": {200: {"description": "证据包（ZIP）", "content": {ZIP: {}}}}}


@router.get(
    "/cases/{int:case_id}/evidence-bundle",
    response={200: None, **ERRORS_ONE},
    auth=evidence_auth,
    summary="下载案件证据包",
    openapi_extra=_ZIP_DOC,
)
def case_bundle(request: HttpRequest, case_id: int):
    """案件的证据包（ZIP）：时间线 PDF、发出的函件原件、员工确认记录、上传的文件、立案时的数据来源、
    证据链记录（ledger.jsonl）、带每个文件 SHA-256 的清单（manifest.json）及其 Ed25519 签名、VERIFY.txt 和 verify.py。
    响应头 `X-Manifest-SHA256` 为清单的 SHA-256。导出会记入证据链和审计日志。"""
    from shebao.evidence.bundle import bundle_build

    case = _case(request.auth.user, str(case_id))
    return bundle_build(actor=actor_for(request), case=case).http_response()


@router.get(
    "/employees/{int:employee_id}/evidence-bundle",
    response={200: None, **ERRORS_ONE},
    auth=evidence_auth,
    summary="下载员工证据包",
    openapi_extra=_ZIP_DOC,
)
def employee_bundle(request: HttpRequest, employee_id: int):
    """员工的全部证据（其所有案件）打包为 ZIP，内容与案件证据包相同。"""
    from shebao.accounts.permissions import employee_scope
    from shebao.evidence.bundle import bundle_build
    from shebao.roster.models import Employee

    employee = Employee.objects.filter(employee_scope(request.auth.user), pk=employee_id).first()
    if employee is None:
        raise HttpError(404, EMPLOYEE_NOT_FOUND)
    return bundle_build(actor=actor_for(request), employee=employee).http_response()
