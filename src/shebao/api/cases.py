"""/api/v1/cases, /api/v1/letters and /api/v1/workflows — compliance cases (案件), their notice
letters (告知函) with the employee's acknowledgements, and the workflow templates.

Reading needs a read token of a user who may view the roster; cases are limited to the
employees the caller may see (an HR specialist: their entities; a department manager: their
departments; HR admins and auditors: everything). Opening, advancing and noting cases needs a
write token of an HR specialist or admin, and only cases they can see; a step whose role is
``hr_admin`` can only be taken by an HR admin (403 otherwise).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from shebao.accounts.models import User
from shebao.api.auth import actor_for, entity_in_scope, read_auth, write_auth
from shebao.api.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ErrorOut, IsoDate, Out
from shebao.cases import outputs, selectors, services
from shebao.cases.models import Case, Letter, WorkflowTemplate
from shebao.core.exceptions import ApplicationError, PermissionDenied

router = Router(tags=["案件"])

CASE_NOT_FOUND = "案件不存在或不在您的权限范围内"
LETTER_NOT_FOUND = "函件不存在或不在您的权限范围内"
WORKFLOW_NOT_FOUND = "流程模板不存在"
ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}
PDF = "application/pdf"


# --- schemas: output -------------------------------------------------------------------------


class CaseOut(Out):
    id: int
    number: str = Field(description="案件编号 AJyyyymm-nnnn")
    title: str
    status: str = Field(description="open|closed|cancelled")
    status_label: str
    template: str = Field(description="流程模板代码")
    template_name: str
    version: int = Field(description="案件使用的流程版本（立案时的版本，之后修改模板不影响）")
    employee_no: str
    name: str
    id_masked: str = Field(description="证件号码（掩码）")
    entity: str = Field(description="参保主体编码")
    step: str = Field(description="当前步骤代码")
    step_name: str
    due: str | None = Field(description="当前步骤期限 YYYY-MM-DD")
    days_left: int | None = Field(description="距期限的天数（负数为已逾期）")
    overdue: bool
    overdue_days: int = Field(description="逾期天数（未逾期为 0）")
    assignee: str | None = Field(description="负责人用户名")
    escalated: bool
    escalated_at: str | None
    finding_id: int | None
    finding_key: str | None = Field(description="来源预警的键：规则 ID:键")
    outcome: str
    opened_at: str
    closed_at: str | None
    updated_at: str


class RequirementOut(Out):
    code: str = Field(description="note|letter|sent|answer|proof|backpay|payment")
    label: str


class ChoiceOut(Out):
    code: str
    label: str
    to: str
    to_name: str
    requires: list[RequirementOut] = Field(description="选择前须满足的条件")
    when: str | None = Field(
        description="由系统在该事件发生时自动选择：letter_sent|acknowledged|disagreed|proof_uploaded"
    )
    escalate: bool


class CurrentStepOut(Out):
    code: str
    name: str
    role: str = Field(description="hr_specialist|hr_admin|employee")
    action: str
    action_label: str
    instructions: str
    letter: str | None = Field(description="本步骤使用的函件模板代码")
    citations: list[str]
    started_at: str | None
    due: str | None
    basis: str = Field(description="期限依据")
    warn_from: str | None = Field(description="从这一天起提醒（临近期限）")
    days_left: int | None
    overdue: bool
    choices: list[ChoiceOut]


class VisitOut(Out):
    id: int
    status: str = Field(description="active|done|cancelled")
    started_at: str
    due: str | None
    basis: str
    warn_from: str | None
    completed_at: str | None
    completed_by: str | None
    choice: str | None
    choice_label: str | None
    note: str


class StepOut(Out):
    code: str
    name: str
    role: str
    action: str
    action_label: str
    deadline: str | None = Field(description="期限规则，如“入职日期 + 30 天”")
    warn_days: int
    citations: list[str]
    state: str = Field(description="done|active|todo")
    visits: list[VisitOut] = Field(description="案件经过该步骤的记录（同一步骤可经过多次）")


class AckRequestOut(Out):
    id: int
    status: str = Field(description="pending|completed|revoked")
    channels: list[str]
    created_at: str
    expires_at: str
    opened_at: str | None
    verified_at: str | None
    verified_method: str | None
    completed_at: str | None


class LetterOut(Out):
    id: int
    case_id: int
    number: str = Field(description="函号 HJyyyymm-nnnn")
    title: str
    status: str = Field(description="issued|sent|acknowledged|disagreed|withdrawn")
    status_label: str
    template: str
    template_version: int
    sha256: str = Field(description="存档 PDF 的 SHA-256")
    size: int
    step_id: int | None
    issued_at: str
    issued_by: str | None
    sent_at: str | None
    respond_by: str | None
    answered_at: str | None
    pdf: str = Field(description="下载存档 PDF 的地址")
    requests: list[AckRequestOut] = Field(description="发给员工的确认链接")
    acknowledgements: int


class AttachmentOut(Out):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    description: str
    by_employee: bool
    uploaded_by: str | None
    uploaded_at: str
    step_id: int | None


class AckOut(Out):
    id: int
    letter_id: int
    letter_number: str
    decision: str = Field(description="acknowledged|disagreed")
    decision_label: str
    reason: str
    at: str
    ip: str | None
    user_agent: str
    document_sha256: str = Field(description="员工确认时页面显示的文件的 SHA-256")
    document_matches: bool = Field(description="与存档 PDF 一致")
    method: str = Field(description="sms_otp|id_last4")
    method_label: str
    attachments: list[AttachmentOut]


class WorkflowRefOut(Out):
    code: str
    name: str
    version: int
    current_version: int | None


class FindingRefOut(Out):
    id: int
    key: str
    kind: str
    title: str
    status: str


class CaseDetailOut(CaseOut):
    workflow: WorkflowRefOut
    finding: FindingRefOut | None
    data: dict[str, Any] = Field(description="步骤记录的数据：backpay（补缴核算）、payment（实际缴纳）")
    current: CurrentStepOut | None
    steps: list[StepOut]
    letters: list[LetterOut]
    attachments: list[AttachmentOut]


class CasePage(Out):
    items: list[CaseOut]
    total: int
    page: int
    page_size: int


class EventOut(Out):
    id: int
    kind: str
    kind_label: str
    at: str
    actor: str
    actor_label: str
    text: str
    data: dict[str, Any]
    step_id: int | None
    letter_id: int | None
    attachment_id: int | None


class WorkflowOut(Out):
    code: str
    name: str
    description: str
    finding_kinds: list[str] = Field(description="适用的预警类型（一键立案时按此选择流程）")
    enabled: bool
    is_builtin: bool
    version: int | None
    version_created_at: str | None
    steps: int
    open_cases: int


class VersionOut(Out):
    number: int
    name: str
    note: str
    created_at: str
    created_by: str | None


class WorkflowDetailOut(WorkflowOut):
    definition: dict[str, Any] = Field(description="当前版本的流程定义（步骤、期限、选择）")
    versions: list[VersionOut]


# --- schemas: input --------------------------------------------------------------------------


class CaseQuery(Schema):
    status: Literal["open", "closed", "cancelled", "all"] = Field("open", description="默认 open（处理中）")
    template: str | None = Field(None, max_length=40, description="流程模板代码")
    step: str | None = Field(None, max_length=40, description="当前步骤代码")
    assignee: str | None = Field(None, max_length=150, description="负责人用户名；me 为自己，none 为未分派")
    entity: str | None = Field(None, max_length=32, description="参保主体编码")
    overdue: bool = Field(False, description="只列当前步骤已逾期的")
    q: str | None = Field(None, max_length=100, description="案件编号、标题、员工姓名或工号")
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class CaseOpenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    finding: int | str = Field(description="预警 ID，或键（如 7:e123:medical，或 e123:medical 加 rule）")
    rule: int | str | None = Field(None, description="键有多条预警时：规则 ID 或规则类型编码")
    template: str | None = Field(None, max_length=40, description="流程模板代码；不填按预警类型选择")
    assignee: str | None = Field(None, max_length=150, description="负责人用户名；不填为自己")
    note: str = Field("", max_length=2000)


class PaymentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(max_digits=12, decimal_places=2, gt=0, description="实际缴纳金额（元）")
    date: IsoDate = Field(description="缴纳日期 YYYY-MM-DD")
    reference: str = Field("", max_length=100, description="缴费凭证号等")


class AdvanceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    choice: str = Field(max_length=40, description="当前步骤的选择代码，见 current.choices")
    note: str = Field("", max_length=4000)
    payment: PaymentIn | None = Field(None, description="记录缴纳的步骤：实际缴纳的金额和日期")


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4000)


# --- helpers ---------------------------------------------------------------------------------


def _case_or_404(request: HttpRequest, case_id: int) -> Case:
    case = selectors.case_get(request.auth.user, case_id)
    if case is None:
        raise HttpError(404, CASE_NOT_FOUND)
    return case


def _letter_or_404(request: HttpRequest, letter_id: int) -> Letter:
    letter = (
        Letter.objects.select_related("case", "issued_by")
        .filter(pk=letter_id, case__in=selectors.cases_visible(request.auth.user))
        .first()
    )
    if letter is None:
        raise HttpError(404, LETTER_NOT_FOUND)
    return letter


def _user(username: str, field: str) -> User:
    user = User.objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise ApplicationError(f"用户“{username.strip()}”不存在或已停用", field_errors={field: "用户不存在"})
    return user


def _detail(request: HttpRequest, case_id: int) -> dict[str, Any]:
    return outputs.case_detail(_case_or_404(request, case_id))


# --- cases -----------------------------------------------------------------------------------


@router.get("/cases", response={200: CasePage, **ERRORS_READ}, auth=read_auth, summary="案件列表")
def list_cases(request: HttpRequest, q: Query[CaseQuery]):
    """您权限范围内的案件，默认只列处理中的；已逾期的在前，其次按当前步骤期限，再按立案时间（新的在前）。"""
    user = request.auth.user
    entity = entity_in_scope(user, q.entity)
    entity_id = entity.pk if entity else None
    assignee = (q.assignee or "").strip()
    if assignee and assignee not in ("me", "none"):
        assignee = str(_user(assignee, "assignee").pk)
    qs = selectors.cases_list(
        user,
        selectors.CaseFilters(
            status=q.status,
            template=(q.template or "").strip(),
            step=(q.step or "").strip(),
            assignee=assignee,
            entity=entity_id,
            overdue=q.overdue,
            q=(q.q or "").strip(),
        ),
    )
    start = (q.page - 1) * q.page_size
    page = outputs.with_step_names(qs)[start : start + q.page_size]
    return {
        "items": [outputs.case_data(c) for c in page],
        "total": qs.count(),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.post(
    "/cases",
    response={200: CaseDetailOut, 201: CaseDetailOut, **ERRORS_READ},
    auth=write_auth,
    summary="立案",
)
def open_case(request: HttpRequest, payload: CaseOpenIn):
    """从一条预警立案：`finding` 为预警 ID，或预警的键（`7:e123:medical`；只写 `e123:medical` 时，
    多条规则有同一键的需用 `rule` 指定）。`template` 不填时按预警类型选择流程。
    该预警已有处理中的案件时返回那个案件（200），新立案返回 201。"""
    user = request.auth.user
    finding = outputs.finding_by_ref(user, payload.finding, payload.rule)
    assignee = _user(payload.assignee, "assignee") if payload.assignee else None
    existing = (
        Case.objects.filter(finding=finding, status=Case.Status.OPEN).values_list("pk", flat=True).first()
    )
    case = services.case_open(
        actor=actor_for(request),
        finding=finding,
        template=(payload.template or "").strip() or None,
        assignee=assignee,
        note=payload.note,
    )
    return Status(200 if existing == case.pk else 201, _detail(request, case.pk))


@router.get(
    "/cases/{int:case_id}", response={200: CaseDetailOut, **ERRORS_ONE}, auth=read_auth, summary="案件详情"
)
def get_case(request: HttpRequest, case_id: int):
    """案件详情：流程的全部步骤（每步的期限与依据、经过的记录）、当前步骤可选的操作及其条件、函件、附件（元数据）。"""
    return _detail(request, case_id)


_PAYMENT_FIELDS = {"amount": "payment.amount", "date": "payment.date"}


@router.post(
    "/cases/{int:case_id}/advance",
    response={200: CaseDetailOut, **ERRORS_ONE},
    auth=write_auth,
    summary="完成当前步骤",
)
def advance_case(request: HttpRequest, case_id: int, payload: AdvanceIn):
    """按当前步骤的一个选择（`choice`）完成该步骤并进入下一步；到结案步骤时案件结案。
    选择的条件（说明、函件已发送、已上传证明、已记录缴纳……）不满足时返回 422 并说明缺什么；
    `payment` 为记录缴纳步骤的实际缴纳金额和日期。由 HR 管理员负责的步骤，其他人调用返回 403。"""
    case = _case_or_404(request, case_id)
    data = None
    if payload.payment is not None:
        data = {"payment": payload.payment.model_dump(mode="json")}
    try:
        services.case_advance(
            actor=actor_for(request), case=case, choice=payload.choice, note=payload.note, data=data
        )
    except PermissionDenied:
        raise
    except ApplicationError as exc:
        fields = {_PAYMENT_FIELDS.get(k, k): v for k, v in exc.field_errors.items()}
        raise ApplicationError(exc.message, code=exc.code, field_errors=fields) from exc
    return _detail(request, case_id)


@router.post(
    "/cases/{int:case_id}/notes",
    response={201: EventOut, **ERRORS_ONE},
    auth=write_auth,
    summary="添加备注",
)
def add_note(request: HttpRequest, case_id: int, payload: NoteIn):
    """在案件时间线上添加一条备注。"""
    event = services.case_note(
        actor=actor_for(request), case=_case_or_404(request, case_id), text=payload.text
    )
    return Status(201, outputs.event_data(event))


@router.get(
    "/cases/{int:case_id}/events",
    response={200: list[EventOut], **ERRORS_ONE},
    auth=read_auth,
    summary="案件时间线",
)
def case_events(request: HttpRequest, case_id: int):
    """案件发生的每一件事，按时间先后：立案、进入和完成步骤、函件生成与发送、员工打开、身份确认、确认或异议、附件、备注、升级、结案。"""
    return outputs.timeline_data(_case_or_404(request, case_id))


@router.get(
    "/cases/{int:case_id}/letters",
    response={200: list[LetterOut], **ERRORS_ONE},
    auth=read_auth,
    summary="案件的函件",
)
def case_letters(request: HttpRequest, case_id: int):
    """案件的全部函件：状态、存档 PDF 的 SHA-256、发给员工的确认链接（渠道、有效期、是否打开）。"""
    case = _case_or_404(request, case_id)
    return [outputs.letter_data(x) for x in selectors.letters_of(case).select_related("issued_by")]


# --- letters ---------------------------------------------------------------------------------


@router.get(
    "/letters/{int:letter_id}/pdf",
    response={200: None, **ERRORS_ONE},
    auth=read_auth,
    summary="下载函件 PDF",
    openapi_extra={"responses": {200: {"description": "PDF", "content": {PDF: {}}}}},
)
def letter_pdf(request: HttpRequest, letter_id: int):
    """生成时存档的 PDF 原件（从不重新生成；读取时核对 SHA-256，响应头 `X-Content-SHA256` 给出该值）。"""
    letter = _letter_or_404(request, letter_id)
    content = services.letter_pdf(letter)
    response = HttpResponse(content, content_type=PDF)
    response["Content-Disposition"] = f'attachment; filename="{letter.number}.pdf"'
    response["X-Content-SHA256"] = letter.sha256
    response["Cache-Control"] = "no-store"
    return response


@router.get(
    "/letters/{int:letter_id}/acknowledgements",
    response={200: list[AckOut], **ERRORS_ONE},
    auth=read_auth,
    summary="员工的确认记录",
)
def letter_acknowledgements(request: HttpRequest, letter_id: int):
    """员工对函件的答复：确认收到或异议（理由）、时间、IP、浏览器、身份确认方式、确认时所见文件的 SHA-256，
    以及员工上传的证明材料（元数据）。"""
    letter = _letter_or_404(request, letter_id)
    acks = letter.acknowledgements.prefetch_related("attachments__uploaded_by").order_by("at", "id")
    return [outputs.ack_data(a, letter) for a in acks]


# --- workflows -------------------------------------------------------------------------------


@router.get(
    "/workflows", response={200: list[WorkflowOut], **ERRORS_READ}, auth=read_auth, summary="流程模板"
)
def list_workflows(request: HttpRequest):
    """全部流程模板（含已停用的）及其当前版本。"""
    qs = WorkflowTemplate.objects.select_related("current").order_by("id")
    return [outputs.workflow_data(t) for t in qs]


@router.get(
    "/workflows/{code}",
    response={200: WorkflowDetailOut, **ERRORS_ONE},
    auth=read_auth,
    summary="流程模板详情",
)
def get_workflow(request: HttpRequest, code: str):
    """流程模板的当前定义（步骤、负责角色、期限规则、选择及其条件）和全部版本。"""
    template = WorkflowTemplate.objects.select_related("current").filter(code=code).first()
    if template is None:
        raise HttpError(404, WORKFLOW_NOT_FOUND)
    return outputs.workflow_data(template, with_definition=True)
