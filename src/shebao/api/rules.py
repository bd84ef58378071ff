"""/api/v1/rules and /api/v1/findings — the alert rules (预警规则) and the findings they produce.

Reading needs a read token of a user who may view the roster; findings are limited to what the
caller may see (an HR specialist: their entities; a department manager: their departments'
employees; HR admins and auditors: everything). Every POST/PATCH/DELETE needs a write token;
creating, editing, deleting and previewing rules, and evaluating as of another day, need an HR
admin (403 otherwise); acknowledging, snoozing, reopening and assigning findings need an HR
specialist or admin, and only findings they can see.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Body, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from shebao.accounts.models import User
from shebao.accounts.permissions import can_admin, can_edit_roster
from shebao.api.auth import actor_for, entity_in_scope, read_auth, write_auth
from shebao.api.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ErrorOut, IsoDate, Out
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.org.models import Department, Entity
from shebao.rules import selectors, services
from shebao.rules.kinds import KINDS
from shebao.rules.models import AlertRule, Finding

router = Router(tags=["预警规则"])

RULE_NOT_FOUND = "预警规则不存在"
FINDING_NOT_FOUND = "预警不存在或不在您的权限范围内"
NOT_ADMIN = "只有人事管理员可以修改预警规则"
ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}

KindCode = Literal[tuple(KINDS)]  # type: ignore[valid-type]
SeverityCode = Literal["info", "warning", "critical"]
StatusFilter = Literal["active", "open", "acknowledged", "snoozed", "resolved", "all"]


# --- schemas: output -------------------------------------------------------------------------


class KindOut(Out):
    code: str
    label: str
    summary: str
    severity: str = Field(description="默认严重程度：info|warning|critical")
    citations: list[str] = Field(description="法规条文编号，见 /law/articles/{id}")
    params_schema: dict[str, Any] = Field(description="参数的 JSON Schema")
    defaults: dict[str, Any] = Field(description="默认参数")


class RuleOut(Out):
    id: int
    kind: str
    kind_label: str
    name: str
    params: dict[str, Any]
    severity: str
    enabled: bool
    entities: list[str] = Field(description="适用的参保主体编码；空为全部")
    departments: list[int] = Field(description="适用的部门 ID（含下级）；空为全部")
    employment_types: list[str] = Field(description="适用的用工类型；空为全部")
    routing: dict[str, Any]
    auto_case: str = Field(description='自动立案："" 不自动，"auto" 按预警类型选择流程，或流程模板代码')
    is_default: bool
    citations: list[str]
    last_evaluated_at: str | None
    active_count: int = Field(description="您可见的未解除预警数")


class OutcomeOut(Out):
    rule_id: int
    kind: str
    matches: int = Field(description="评估发现的问题数")
    opened: int
    reopened: int
    updated: int
    resolved: int
    unchanged: int


class PreviewOut(Out):
    rule_id: int
    kind: str
    matches: int = Field(description="按这些设置会有的预警数")
    opened: int = Field(description="将新增的预警")
    reopened: int = Field(description="已解除、将重新打开的预警")
    updated: int = Field(description="内容将变化的预警")
    resolved: int = Field(description="将自动解除的预警")
    unchanged: int


class EvaluateOut(Out):
    evaluated_at: str
    as_of: str = Field(description="按哪一天评估（YYYY-MM-DD）")
    opened: int = Field(description="新增与重新打开的预警")
    updated: int
    resolved: int
    rules: list[OutcomeOut]


class FindingOut(Out):
    id: int
    key: str = Field(description="稳定的键：规则 ID:员工或台账人员:问题")
    rule: str = Field(description="规则类型编码")
    rule_id: int
    rule_name: str
    employee_no: str | None
    name: str | None
    id_masked: str | None = Field(description="证件号码（掩码）")
    entity: str | None = Field(description="参保主体编码")
    severity: str
    status: str = Field(description="open|acknowledged|snoozed|resolved")
    title: str
    deadline: str | None = Field(description="期限 YYYY-MM-DD")
    days_left: int | None = Field(description="距期限的天数（负数为已逾期）")
    amount: str | None = Field(description="涉及金额（元）")
    citations: list[str]
    next_step: str
    snoozed_until: str | None
    assignee: str | None = Field(description="负责人用户名")
    resolved_reason: str | None
    first_seen_at: str
    updated_at: str
    details: dict[str, Any] = Field(description="证据：月份、状态、日期、缴费单位等")


class TransitionOut(Out):
    from_status: str = Field(description="原状态；首次发现为空")
    to_status: str
    reason: str
    actor: str = Field(description="操作人用户名，或“系统（…）”")
    created_at: str


class FindingDetailOut(FindingOut):
    explanation: str
    transitions: list[TransitionOut]


class FindingPage(Out):
    items: list[FindingOut]
    total: int
    page: int
    page_size: int


class TransitionResultOut(Out):
    items: list[FindingOut]


class AssignResultOut(Out):
    assigned: int


# --- schemas: input --------------------------------------------------------------------------


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: KindCode = Field(description="规则类型编码，见 GET /rules/kinds")  # type: ignore[valid-type]
    name: str | None = Field(None, max_length=100, description="名称；不填用该类型的默认名称")
    params: dict[str, Any] | None = Field(None, description="参数；不填用默认值")
    severity: SeverityCode | None = Field(None, description="不填用该类型的默认严重程度")
    enabled: bool = True
    entities: list[str] = Field(default_factory=list, description="参保主体编码；空为全部")
    departments: list[int] = Field(default_factory=list, description="部门 ID（含下级）；空为全部")
    employment_types: list[str] = Field(default_factory=list, description="用工类型；空为全部")
    routing: dict[str, Any] | None = Field(None, description='通知对象：{"recipients": […], "channels": […]}')
    auto_case: str = Field(
        "", max_length=40, description='自动立案："" 不自动，"auto" 按预警类型选择流程，或流程模板代码'
    )


class RuleUpdateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    params: dict[str, Any] | None = None
    severity: SeverityCode | None = None
    enabled: bool | None = None
    entities: list[str] | None = None
    departments: list[int] | None = None
    employment_types: list[str] | None = None
    routing: dict[str, Any] | None = None
    auto_case: str | None = Field(None, max_length=40)


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] | None = Field(None, description="不填用规则当前的参数")
    severity: SeverityCode | None = None
    entities: list[str] | None = Field(None, description="不填用规则当前的范围")
    departments: list[int] | None = None
    employment_types: list[str] | None = None


class EvaluateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kinds: list[KindCode] | None = Field(None, description="只评估这些类型的规则；不填为全部")  # type: ignore[valid-type]
    as_of: IsoDate | None = Field(None, description="按该日期评估（YYYY-MM-DD，仅人事管理员）；默认今天")


class FindingQuery(Schema):
    status: StatusFilter = Field(
        "active", description="active（未解除，默认）|open|acknowledged|snoozed|resolved|all"
    )
    rule: int | None = Field(None, description="规则 ID")
    kind: KindCode | None = Field(None, description="规则类型编码")  # type: ignore[valid-type]
    severity: SeverityCode | None = None
    entity: str | None = Field(None, max_length=32, description="参保主体编码")
    employee_no: str | None = Field(None, max_length=40, description="工号")
    sort: Literal["deadline", "severity", "newest"] = "deadline"
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class TransitionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(description="预警 ID")
    to_status: Literal["open", "acknowledged", "snoozed", "resolved"] = Field(
        description="acknowledged 确认、snoozed 暂缓（须填 snoozed_until）、open 重新打开；"
        "resolved 不能手工设置（数据中问题消失后自动解除）"
    )
    reason: str = Field("", max_length=300)
    snoozed_until: IsoDate | None = Field(None, description="暂缓到哪一天（晚于今天，最多一年）")


class AssignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(description="预警 ID")
    assignee: str | None = Field(description="负责人用户名；null 为取消分派", max_length=150)


# --- helpers ---------------------------------------------------------------------------------


def _require_admin(user: User, message: str = NOT_ADMIN) -> None:
    if not can_admin(user):
        raise PermissionDenied(message)


def _rule_or_404(rule_id: int) -> AlertRule:
    rule = AlertRule.objects.prefetch_related("entities", "departments").filter(pk=rule_id).first()
    if rule is None:
        raise HttpError(404, RULE_NOT_FOUND)
    return rule


def _rule_out(rule: AlertRule, counts: dict[int, int]) -> dict[str, Any]:
    return {**selectors.rule_data(rule), "active_count": counts.get(rule.pk, 0)}


def _entities(codes: list[str]) -> list[Entity]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    found = {e.code: e for e in Entity.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise ApplicationError(
            f"参保主体“{'、'.join(missing)}”不存在", field_errors={"entities": "参保主体不存在"}
        )
    return [found[c] for c in codes]


def _departments(ids: list[int]) -> list[Department]:
    ids = list(dict.fromkeys(ids))
    found = {d.pk: d for d in Department.objects.filter(pk__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApplicationError(
            f"部门（ID {'、'.join(missing)}）不存在", field_errors={"departments": "部门不存在"}
        )
    return [found[i] for i in ids]


def _finding_detail(finding: Finding) -> dict[str, Any]:
    return {
        **selectors.finding_data(finding),
        "explanation": selectors.display_explanation(finding),
        "transitions": [
            {
                "from_status": t.from_status,
                "to_status": t.to_status,
                "reason": t.reason,
                "actor": t.actor.username if t.actor else t.actor_label,
                "created_at": t.created_at.isoformat(),
            }
            for t in selectors.finding_transitions(finding)
        ],
    }


def _bulk_ids(error: ApplicationError) -> ApplicationError:
    """The services name the list ``finding_ids`` and say "not found" without a field: the body's is ``ids``."""
    fields = {("ids" if k == "finding_ids" else k): v for k, v in error.field_errors.items()}
    if error.code == "not_found" and not fields:
        fields = {"ids": error.message}
    return ApplicationError(error.message, code=error.code, field_errors=fields)


RULE_FIELDS = {
    "kind",
    "name",
    "severity",
    "enabled",
    "entities",
    "departments",
    "employment_types",
    "routing",
    "auto_case",
}


class _RuleErrors:
    """The kinds name a parameter's error by the parameter ("days"); in the body it is "params.days"."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, PermissionDenied) or not isinstance(exc, ApplicationError):
            return False
        fields = {
            (k if k in RULE_FIELDS or k.startswith("params") else f"params.{k}"): v
            for k, v in exc.field_errors.items()
        }
        raise ApplicationError(exc.message, code=exc.code, field_errors=fields) from exc


def _evaluate_rule_later(rule: AlertRule) -> None:
    """A created or edited rule's findings follow in the background (at once in immediate mode)."""
    from shebao.rules.tasks import findings_evaluate_on_commit

    if rule.enabled:
        findings_evaluate_on_commit(rule_ids=[rule.pk])


# --- rules -----------------------------------------------------------------------------------


@router.get("/rules/kinds", response={200: list[KindOut], **ERRORS_READ}, auth=read_auth, summary="规则类型")
def list_kinds(request: HttpRequest):
    """全部规则类型：说明、默认严重程度、法规依据、参数的 JSON Schema 与默认值。"""
    return selectors.kind_catalogue()


@router.get("/rules", response={200: list[RuleOut], **ERRORS_READ}, auth=read_auth, summary="预警规则")
def list_rules(request: HttpRequest):
    """全部预警规则（含已停用的）及每条规则您可见的未解除预警数。"""
    counts = selectors.active_counts_by_rule(request.auth.user)
    return [_rule_out(r, counts) for r in selectors.rules_list()]


@router.post("/rules", response={201: RuleOut, **ERRORS_READ}, auth=write_auth, summary="新增预警规则")
def create_rule(request: HttpRequest, payload: RuleIn):
    """新增一条规则（仅人事管理员）。参数按该类型的 JSON Schema 校验，有误时返回 422 并指出字段。
    规则创建后在后台评估一次。"""
    _require_admin(request.auth.user)
    with _RuleErrors():
        rule = services.rule_create(
            actor=actor_for(request),
            kind=payload.kind,
            name=payload.name,
            params=payload.params,
            severity=payload.severity,
            enabled=payload.enabled,
            entities=_entities(payload.entities),
            departments=_departments(payload.departments),
            employment_types=payload.employment_types,
            routing=payload.routing,
            auto_case=payload.auto_case,
        )
    _evaluate_rule_later(rule)
    return Status(201, _rule_out(_rule_or_404(rule.pk), selectors.active_counts_by_rule(request.auth.user)))


@router.get(
    "/rules/{int:rule_id}", response={200: RuleOut, **ERRORS_ONE}, auth=read_auth, summary="预警规则详情"
)
def get_rule(request: HttpRequest, rule_id: int):
    return _rule_out(_rule_or_404(rule_id), selectors.active_counts_by_rule(request.auth.user))


@router.patch(
    "/rules/{int:rule_id}", response={200: RuleOut, **ERRORS_ONE}, auth=write_auth, summary="修改预警规则"
)
def update_rule(request: HttpRequest, rule_id: int, payload: RuleUpdateIn):
    """部分修改（仅人事管理员）：只修改请求中出现的字段。停用规则时其未解除的预警随即解除；
    其他修改后规则在后台重新评估。"""
    _require_admin(request.auth.user)
    rule = _rule_or_404(rule_id)
    data = payload.model_dump(exclude_unset=True)
    for name in ("name", "params", "severity", "enabled"):
        if name in data and data[name] is None:
            raise ApplicationError(f"“{name}”不能为空", field_errors={name: "不能为空"})
    if data.get("entities") is not None:
        data["entities"] = _entities(data["entities"])
    if data.get("departments") is not None:
        data["departments"] = _departments(data["departments"])
    with _RuleErrors():
        rule = services.rule_update(actor=actor_for(request), rule=rule, **data)
    _evaluate_rule_later(rule)
    return _rule_out(_rule_or_404(rule.pk), selectors.active_counts_by_rule(request.auth.user))


@router.delete(
    "/rules/{int:rule_id}", response={204: None, **ERRORS_ONE}, auth=write_auth, summary="删除预警规则"
)
def delete_rule(request: HttpRequest, rule_id: int):
    """删除规则及其全部预警（仅人事管理员）。只想暂停时请改为停用（PATCH enabled=false）。"""
    _require_admin(request.auth.user)
    services.rule_delete(actor=actor_for(request), rule=_rule_or_404(rule_id))
    return Status(204, None)


@router.post(
    "/rules/{int:rule_id}/preview",
    response={200: PreviewOut, **ERRORS_ONE},
    auth=write_auth,
    summary="预览规则设置的效果",
)
def preview_rule(request: HttpRequest, rule_id: int, payload: Body[PreviewIn]):
    """按请求中的参数、严重程度和范围（不填的用规则当前的）计算这条规则会有多少预警、与现有预警相比
    将新增、更新、解除多少；不保存任何内容（仅人事管理员）。请求体可为 `{}`。"""
    _require_admin(request.auth.user)
    rule = _rule_or_404(rule_id)
    entities = list(rule.entities.all()) if payload.entities is None else _entities(payload.entities)
    departments = (
        list(rule.departments.all()) if payload.departments is None else _departments(payload.departments)
    )
    with _RuleErrors():
        outcome = services.rule_preview(
            kind=rule.kind,
            params=rule.params if payload.params is None else payload.params,
            severity=payload.severity or rule.severity,
            entities=entities,
            departments=departments,
            employment_types=(
                rule.employment_types if payload.employment_types is None else payload.employment_types
            ),
            rule=rule,
        )
    return _outcome(outcome)


def _outcome(o) -> dict[str, Any]:
    return {
        "rule_id": o.rule_id,
        "kind": o.kind,
        "matches": o.matches,
        "opened": o.opened,
        "reopened": o.reopened,
        "updated": o.updated,
        "resolved": o.resolved,
        "unchanged": o.unchanged,
    }


@router.post(
    "/rules/evaluate", response={200: EvaluateOut, **ERRORS_READ}, auth=write_auth, summary="立即评估"
)
def evaluate(request: HttpRequest, payload: Body[EvaluateIn]):
    """立即按已启用的规则（或 `kinds` 所列类型的规则）评估全部员工与台账人员，返回新增、更新、解除的预警数。
    `as_of` 按指定日期评估（期限、逾期与暂缓到期都按该日计算，结果会保存），仅人事管理员可用。
    请求体可为 `{}`。"""
    if payload.as_of is not None and payload.as_of != timezone.localdate():
        _require_admin(request.auth.user, "只有人事管理员可以按指定日期评估")
    result = services.findings_evaluate(
        actor=actor_for(request), as_of=payload.as_of, kinds=list(payload.kinds) if payload.kinds else None
    )
    return {
        "evaluated_at": result.evaluated_at.isoformat(),
        "as_of": result.as_of.isoformat(),
        "opened": result.opened,
        "updated": result.updated,
        "resolved": result.resolved,
        "rules": [_outcome(r) for r in result.rules],
    }


# --- findings --------------------------------------------------------------------------------


@router.get("/findings", response={200: FindingPage, **ERRORS_READ}, auth=read_auth, summary="预警列表")
def list_findings(request: HttpRequest, q: Query[FindingQuery]):
    """您权限范围内的预警，默认只列未解除的（status=active），按期限排序（无期限的在后），分页。
    证件号码只返回掩码。"""
    user = request.auth.user
    entity = entity_in_scope(user, q.entity)
    entity_id = entity.pk if entity else None
    qs = selectors.finding_list(
        user,
        selectors.FindingFilters(
            status=q.status,
            kind=q.kind or "",
            rule=q.rule,
            severity=q.severity or "",
            entity=entity_id,
            sort=q.sort,
        ),
    )
    if q.employee_no is not None and q.employee_no.strip():
        qs = qs.filter(employee__employee_no=q.employee_no.strip())
    start = (q.page - 1) * q.page_size
    return {
        "items": [selectors.finding_data(f) for f in qs[start : start + q.page_size]],
        "total": qs.count(),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.get(
    "/findings/{int:finding_id}",
    response={200: FindingDetailOut, **ERRORS_ONE},
    auth=read_auth,
    summary="预警详情",
)
def get_finding(request: HttpRequest, finding_id: int):
    """预警详情：说明、证据、法规依据、建议下一步，以及全部状态变化（谁、何时、为什么）。"""
    finding = selectors.finding_get(request.auth.user, finding_id)
    if finding is None:
        raise HttpError(404, FINDING_NOT_FOUND)
    return _finding_detail(finding)


@router.post(
    "/findings/transition",
    response={200: TransitionResultOut, **ERRORS_READ},
    auth=write_auth,
    summary="确认、暂缓或重新打开预警",
)
def transition_findings(request: HttpRequest, payload: TransitionIn):
    """批量改变预警状态：acknowledged（确认）、snoozed（暂缓到 `snoozed_until`）、open（重新打开）。
    预警不能手工解除：数据中问题消失后，下次评估会自动解除。任何一条不可见或当前状态不允许时整批不变（422）。"""
    try:
        findings = services.finding_transition(
            actor=actor_for(request),
            finding_ids=payload.ids,
            to_status=payload.to_status,
            reason=payload.reason,
            snoozed_until=payload.snoozed_until,
        )
    except PermissionDenied:
        raise
    except ApplicationError as exc:
        raise _bulk_ids(exc) from exc
    user = request.auth.user
    fresh = {
        f.pk: f
        for f in selectors.finding_list(user, selectors.FindingFilters(status="all")).filter(
            pk__in=[f.pk for f in findings]
        )
    }
    return {"items": [selectors.finding_data(fresh[pk]) for pk in sorted(fresh)]}


@router.post(
    "/findings/assign", response={200: AssignResultOut, **ERRORS_READ}, auth=write_auth, summary="分派预警"
)
def assign_findings(request: HttpRequest, payload: AssignIn):
    """把预警分派给一位人事专员或人事管理员（用户名）；`assignee` 为 null 时取消分派。"""
    assignee = None
    if payload.assignee is not None:
        assignee = User.objects.filter(username=payload.assignee.strip(), is_active=True).first()
        if assignee is None or not can_edit_roster(assignee):
            raise ApplicationError(
                f"用户“{payload.assignee.strip()}”不存在、已停用，或不是人事专员/人事管理员",
                field_errors={"assignee": "不能负责预警"},
            )
    try:
        n = services.finding_assign(actor=actor_for(request), finding_ids=payload.ids, assignee=assignee)
    except PermissionDenied:
        raise
    except ApplicationError as exc:
        raise _bulk_ids(exc) from exc
    return {"assigned": n}
