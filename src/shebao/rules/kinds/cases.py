"""Kinds judged from the compliance cases (``shebao.cases``): a notice letter the employee has
not answered after its answer date, a back-payment whose payment step is due, and any other case
step that is due soon or overdue ("escalate before the deadline").

Each kind is one query over the active case steps (or the sent letters) of the open cases, with
the rule's scope applied to the case's entity and employee. A finding names the case
(``details["case_id"]``: routing to the case's assignee reads it) and resolves when its step is
completed, the letter answered or withdrawn, or the case closed or cancelled.

The three kinds do not overlap: a payment step (or any step of a back-payment case) is
``backpay_due_soon``'s; a step waiting for the employee's answer to a sent letter is left to
``notice_unacknowledged``; every other step with a deadline is ``case_step_overdue``'s.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_noop as N_
from pydantic import Field

from shebao.rules.context import Context, Scope
from shebao.rules.kinds.base import Match, Params, RuleKind
from shebao.rules.models import Severity

BACKPAY_TEMPLATE = "backpay"
PAYMENT_ACTION = "payment"
ACKNOWLEDGE_ACTION = "acknowledge"
# The default rules' routing (``rules_install_defaults``): the case's assignee (the entity's HR
# when the case has none, see ``notify.services``) and the entity's HR.
DEFAULT_ROUTING: dict[str, Any] = {"recipients": ["case_assignee", "entity_hr"]}


def _models():
    # The cases app imports the rules (a finding opens a case): import its models when used.
    from shebao.cases.models import Case, CaseStep, Letter

    return Case, CaseStep, Letter


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _case_scope(scope: Scope, prefix: str = "case__") -> Q:
    """The rule's scope on a model reaching the case through ``prefix``: the case's entity, the
    employee's department (with its subtree) and employment type."""
    return scope.employee_q(f"{prefix}employee", f"{prefix}entity_id")


def _definition_step(ctx: Context, version_id: int, code: str) -> dict[str, Any]:
    """The step of a workflow version's definition (as stored), read once per version."""
    from shebao.cases.models import WorkflowVersion

    key = ("case_definition", version_id)
    if key not in ctx.cache:
        definition = (
            WorkflowVersion.objects.filter(pk=version_id).values_list("definition", flat=True).first()
        )
        ctx.cache[key] = {s.get("code"): s for s in (definition or {}).get("steps", [])}
    return ctx.cache[key].get(code) or {}


class _Dated(RuleKind):
    """Kinds about a step's last day (``due``): the days left / over are recomputed when shown."""

    volatile = ("days_left", "days_over", "days")

    def live(self, values: dict[str, Any], today: dt.date) -> dict[str, Any]:
        if not values.get("due"):
            return values
        due = dt.date.fromisoformat(values["due"])
        return {
            **values,
            "days_left": (due - today).days,
            "days_over": (today - due).days,
            "days": (due - today).days,
        }


_STEP_FIELDS = (
    "id",
    "code",
    "name",
    "role",
    "due_date",
    "due_basis",
    "warn_from",
    "case_id",
    "case__number",
    "case__version_id",
    "case__template__name",
    "case__entity_id",
    "case__employee_id",
    "case__employee__department_id",
    "case__employee__name",
    "case__employee__employee_no",
    "case__escalated_at",
    "case__data",
)


def _active_steps(ctx: Context, scope: Scope):
    """The active steps with a deadline of the open cases in scope (limited to the evaluation's
    employees when incremental)."""
    Case, CaseStep, _Letter = _models()
    qs = CaseStep.objects.filter(
        _case_scope(scope),
        status=CaseStep.Status.ACTIVE,
        case__status=Case.Status.OPEN,
        due_date__isnull=False,
    )
    return ctx.limit(qs, employee_field="case__employee_id").order_by()


def _backpay_q() -> Q:
    return Q(action=PAYMENT_ACTION) | Q(case__template__code=BACKPAY_TEMPLATE)


def _step_details(row: dict[str, Any], ctx: Context) -> dict[str, Any]:
    due = row["due_date"]
    return {
        "case_id": row["case_id"],
        "case_number": row["case__number"],
        "workflow": row["case__template__name"],
        "employee_no": row["case__employee__employee_no"],
        "step": row["name"],
        "step_code": row["code"],
        "step_id": row["id"],
        "role": row["role"],
        "due": _iso(due),
        "basis": row["due_basis"],
        "warn_from": _iso(row["warn_from"]),
        "escalated": row["case__escalated_at"] is not None,
        "days": (due - ctx.as_of).days,
    }


def _step_args(row: dict[str, Any], ctx: Context) -> dict[str, Any]:
    due = row["due_date"]
    return {
        "name": row["case__employee__name"],
        "case_number": row["case__number"],
        "workflow": row["case__template__name"],
        "step": row["name"],
        "due": due.isoformat(),
        "basis": row["due_basis"] or "—",
        "days_left": (due - ctx.as_of).days,
        "days_over": (ctx.as_of - due).days,
    }


def _step_match(row: dict[str, Any], ctx: Context, *, citations: tuple[str, ...] | None = None) -> Match:
    overdue = ctx.as_of > row["due_date"]
    return Match(
        subject=f"step{row['id']}",
        entity_id=row["case__entity_id"],
        employee_id=row["case__employee_id"],
        department_id=row["case__employee__department_id"],
        variant="overdue" if overdue else "due_soon",
        args=_step_args(row, ctx),
        details=_step_details(row, ctx),
        deadline=row["due_date"],
        severity=None if overdue else Severity.WARNING,
        citations=citations,
    )


# --- notice letters -------------------------------------------------------------------------------


class NoticeParams(Params):
    grace_days: int = Field(0, ge=0, le=60, description=N_("答复期限过后再等多少天"))


class NoticeUnacknowledged(RuleKind):
    code = "notice_unacknowledged"
    label = N_("告知函未确认")
    summary = N_(
        "已发送给员工的告知函过了答复期限（可再宽限几天），员工既未确认收到也未提出异议，也没有线下签收的记录"
    )
    default_name = N_("告知函逾期未确认")
    severity = Severity.WARNING
    citations = ()
    params = NoticeParams
    volatile = ("days_over",)
    titles = {
        "unopened": N_(
            "{name}未确认告知函 {letter_number}（{letter_title}），答复期限 {respond_by} 已过 {days_over} 天，尚未打开链接"
        ),
        "opened": N_(
            "{name}已打开告知函 {letter_number}（{letter_title}）但未确认，答复期限 {respond_by} 已过 {days_over} 天"
        ),
        "default": N_("{name}未确认告知函 {letter_number}"),
    }
    explanations = {
        "unopened": N_(
            "案件 {case_number} 的告知函 {letter_number} 于 {sent} 发送给{name}，答复期限为 {respond_by}。"
            "员工至今没有打开函件链接，既未确认收到，也未提出异议。"
            "书面告知并保留员工确认的记录，是日后证明单位已履行告知义务的依据。"
        ),
        "opened": N_(
            "案件 {case_number} 的告知函 {letter_number} 于 {sent} 发送给{name}，答复期限为 {respond_by}。"
            "员工已于 {opened} 打开函件链接，但至今既未确认收到，也未提出异议。"
            "书面告知并保留员工确认的记录，是日后证明单位已履行告知义务的依据。"
        ),
        "default": N_(
            "案件 {case_number} 的告知函 {letter_number} 已过答复期限 {respond_by}，员工尚未答复。"
        ),
    }
    next_steps = {
        "unopened": N_(
            "电话联系{name}，核对手机号和邮箱，提醒其查看短信或邮件中的链接；必要时重新发送告知函，"
            "或当面交付并让员工线下签收（在案件中上传签收件）。"
        ),
        "opened": N_(
            "电话联系{name}，提醒其在链接中确认收到或提出异议；员工不便在线确认的，"
            "可当面交付并线下签收（在案件中上传签收件）。"
        ),
        "default": N_("联系员工确认告知函，必要时重新发送或线下签收。"),
    }
    resolved_reason = N_("员工已答复告知函或已线下签收，或函件已撤回、案件已结束")
    default_routing = DEFAULT_ROUTING

    def live(self, values: dict[str, Any], today: dt.date) -> dict[str, Any]:
        if not values.get("respond_by"):
            return values
        return {**values, "days_over": (today - dt.date.fromisoformat(values["respond_by"])).days}

    def evaluate(self, ctx: Context, params: NoticeParams, scope: Scope) -> list[Match]:
        from shebao.cases.models import AckRequest

        Case, CaseStep, Letter = _models()
        last_day = ctx.as_of - dt.timedelta(days=params.grace_days + 1)  # respond_by + grace < as_of
        # A workflow's acknowledgement step completed after the letter went out (the employee
        # signed on paper and HR recorded it, or HR moved on) settles the letter too.
        settled = CaseStep.objects.filter(
            case_id=OuterRef("case_id"),
            action=ACKNOWLEDGE_ACTION,
            status=CaseStep.Status.DONE,
            completed_at__gte=OuterRef("sent_at"),
        )
        qs = Letter.objects.filter(
            _case_scope(scope),
            ~Exists(settled),
            status=Letter.Status.SENT,
            case__status=Case.Status.OPEN,
            respond_by__lte=last_day,
        )
        rows = list(
            ctx.limit(qs, employee_field="case__employee_id")
            .order_by()
            .values(
                "id",
                "number",
                "title",
                "sent_at",
                "respond_by",
                "case_id",
                "case__number",
                "case__entity_id",
                "case__employee_id",
                "case__employee__department_id",
                "case__employee__name",
                "case__employee__employee_no",
            )
        )
        if not rows:
            return []
        case_ids = sorted({r["case_id"] for r in rows})
        steps = dict(
            CaseStep.objects.filter(case_id__in=case_ids, status=CaseStep.Status.ACTIVE)
            .order_by("id")
            .values_list("case_id", "name")
        )
        opened: dict[int, dt.datetime] = {}
        channels: dict[int, list[str]] = {}
        for letter_id, at, chans in (
            AckRequest.objects.filter(letter_id__in=[r["id"] for r in rows])
            .order_by("id")
            .values_list("letter_id", "opened_at", "channels")
        ):
            channels[letter_id] = list(chans or [])
            if at is not None and (letter_id not in opened or at < opened[letter_id]):
                opened[letter_id] = at
        out = []
        for r in rows:
            sent = timezone.localdate(r["sent_at"]) if r["sent_at"] else None
            first_open = opened.get(r["id"])
            opened_day = timezone.localdate(first_open) if first_open else None
            respond_by = r["respond_by"]
            args = {
                "name": r["case__employee__name"],
                "letter_number": r["number"],
                "letter_title": r["title"],
                "case_number": r["case__number"],
                "sent": _iso(sent) or "—",
                "respond_by": respond_by.isoformat(),
                "opened": _iso(opened_day) or "",
                "days_over": (ctx.as_of - respond_by).days,
            }
            out.append(
                Match(
                    subject=f"letter{r['id']}",
                    entity_id=r["case__entity_id"],
                    employee_id=r["case__employee_id"],
                    department_id=r["case__employee__department_id"],
                    variant="opened" if first_open else "unopened",
                    args=args,
                    details={
                        "case_id": r["case_id"],
                        "case_number": r["case__number"],
                        "letter_id": r["id"],
                        "letter_number": r["number"],
                        "letter_title": r["title"],
                        "employee_no": r["case__employee__employee_no"],
                        "sent_at": timezone.localtime(r["sent_at"]).isoformat() if r["sent_at"] else None,
                        "respond_by": respond_by.isoformat(),
                        "grace_days": params.grace_days,
                        "step": steps.get(r["case_id"], ""),
                        "opened_at": timezone.localtime(first_open).isoformat() if first_open else None,
                        "channels": channels.get(r["id"], []),
                        "days_over": (ctx.as_of - respond_by).days,
                    },
                    deadline=respond_by,
                )
            )
        return out


# --- back-payment ---------------------------------------------------------------------------------


class BackpayParams(Params):
    days_before: int = Field(7, ge=0, le=90, description=N_("到期前多少天开始提醒"))


def _backpay_amount(data: dict[str, Any] | None) -> Decimal | None:
    """The calculated back-payment total kept on the case (``case_backpay``), if any."""
    backpay = (data or {}).get("backpay") or {}
    for name in ("grand_total", "total"):
        value = backpay.get(name)
        if value not in (None, ""):
            try:
                return Decimal(str(value))
            except InvalidOperation:
                return None
    return None


class BackpayDueSoon(_Dated):
    code = "backpay_due_soon"
    label = N_("补缴即将到期")
    summary = N_("补缴案件的缴纳步骤（或补缴流程的当前步骤）临近期限或已逾期；逾期为严重")
    default_name = N_("补缴到期前7天提醒")
    severity = Severity.CRITICAL
    citations = ("SIL-86",)
    params = BackpayParams
    titles = {
        "due_soon": N_("{name}的补缴（案件 {case_number}，{step}）将于 {due} 到期，还剩 {days_left} 天"),
        "overdue": N_("{name}的补缴（案件 {case_number}，{step}）已于 {due} 到期，逾期 {days_over} 天"),
        "default": N_("{name}的补缴到期"),
    }
    explanations = {
        "due_soon": N_(
            "{workflow}案件 {case_number} 当前步骤“{step}”的期限是 {due}（{basis}）。"
            "未按时足额缴纳社会保险费的，自欠缴之日起按日加收万分之五的滞纳金。"
        ),
        "overdue": N_(
            "{workflow}案件 {case_number} 当前步骤“{step}”的期限 {due}（{basis}）已过 {days_over} 天。"
            "未按时足额缴纳社会保险费的，自欠缴之日起按日加收万分之五的滞纳金，拖延会增加滞纳金。"
        ),
        "default": N_("{workflow}案件 {case_number} 的补缴即将到期。"),
    }
    next_steps = {
        "due_soon": N_(
            "在 {due} 前完成补缴并在案件中记录缴纳金额、日期和凭证；无法按期缴纳时在案件中升级处理。"
        ),
        "overdue": N_("尽快完成补缴并在案件中记录缴纳金额、日期和凭证；无法缴纳的，升级由 HR 负责人决定。"),
        "default": N_("完成补缴并在案件中记录。"),
    }
    resolved_reason = N_("补缴步骤已完成，或案件已结束")
    default_routing = DEFAULT_ROUTING

    def evaluate(self, ctx: Context, params: BackpayParams, scope: Scope) -> list[Match]:
        horizon = ctx.as_of + dt.timedelta(days=params.days_before)
        rows = _active_steps(ctx, scope).filter(_backpay_q(), due_date__lte=horizon).values(*_STEP_FIELDS)
        out = []
        for row in rows:
            m = _step_match(row, ctx)
            amount = _backpay_amount(row["case__data"])
            m.amount = amount
            m.details["amount"] = (
                format(amount.quantize(Decimal("0.01")), "f") if amount is not None else None
            )
            m.details["days_before"] = params.days_before
            out.append(m)
        return out


# --- any other step -------------------------------------------------------------------------------


class StepParams(Params):
    pass


class CaseStepOverdue(_Dated):
    code = "case_step_overdue"
    label = N_("案件步骤逾期")
    summary = N_(
        "案件的当前步骤进入提醒期（临近期限）或已超过期限；逾期为严重。补缴和等待员工确认告知函的步骤由另两类规则提醒"
    )
    default_name = N_("案件步骤临近期限或逾期")
    severity = Severity.CRITICAL
    citations = ()  # the step's own (from the workflow definition), per finding
    params = StepParams
    titles = {
        "due_soon": N_("案件 {case_number}（{name}）的步骤“{step}”将于 {due} 到期，还剩 {days_left} 天"),
        "overdue": N_("案件 {case_number}（{name}）的步骤“{step}”已逾期 {days_over} 天（期限 {due}）"),
        "default": N_("案件 {case_number} 的步骤“{step}”到期"),
    }
    explanations = {
        "due_soon": N_(
            "{workflow}案件 {case_number} 当前步骤“{step}”的期限是 {due}，依据：{basis}。"
            "已进入提醒期，请在期限前完成，无法完成时提前升级。"
        ),
        "overdue": N_(
            "{workflow}案件 {case_number} 当前步骤“{step}”的期限是 {due}，依据：{basis}。"
            "已超过期限 {days_over} 天；依据为法定期限的，逾期可能承担相应的法律责任。"
        ),
        "default": N_("{workflow}案件 {case_number} 的步骤“{step}”期限为 {due}。"),
    }
    next_steps = {
        "due_soon": N_("在 {due} 前完成“{step}”；无法按时完成时在案件中升级处理，由 HR 负责人决定。"),
        "overdue": N_("尽快完成“{step}”并在案件中记录逾期原因；必要时升级处理。"),
        "default": N_("完成案件的当前步骤。"),
    }
    resolved_reason = N_("案件步骤已完成，或案件已结束")
    default_routing = DEFAULT_ROUTING

    def evaluate(self, ctx: Context, params: StepParams, scope: Scope) -> list[Match]:
        Case, CaseStep, Letter = _models()
        waiting = Letter.objects.filter(case_id=OuterRef("case_id"), status=Letter.Status.SENT)
        rows = (
            _active_steps(ctx, scope)
            .exclude(_backpay_q())
            .exclude(Q(action=ACKNOWLEDGE_ACTION) & Exists(waiting))
            .filter(Q(warn_from__lte=ctx.as_of) | Q(due_date__lt=ctx.as_of))
            .values(*_STEP_FIELDS)
        )
        out = []
        for row in rows:
            step = _definition_step(ctx, row["case__version_id"], row["code"])
            cites = tuple(step.get("citations") or ())
            out.append(_step_match(row, ctx, citations=cites))
        return out


__all__ = ["BackpayDueSoon", "CaseStepOverdue", "NoticeUnacknowledged"]
