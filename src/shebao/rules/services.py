"""Writes of the rules room: rules (create, edit, delete, defaults), evaluation (full, incremental,
from the ledger's change events), the findings' manual transitions, and the atomic claim of
transitions by whoever processes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from shebao.audit.services import audit_record, diff
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.ledger.models import ChangeEvent, LedgerPerson
from shebao.notify.routing import routing_clean
from shebao.org.models import Department, Entity
from shebao.roster.models import EmploymentType
from shebao.rules import engine
from shebao.rules.context import Context
from shebao.rules.kinds import KINDS, kind_get
from shebao.rules.models import AlertRule, Finding, FindingTransition, Severity

F = Finding.Status


def _today() -> dt.date:
    return timezone.localdate()


def _can_manage(actor: Actor) -> None:
    from shebao.accounts.permissions import can_admin

    if actor.user is not None and not can_admin(actor.user):
        raise PermissionDenied("只有人事管理员可以修改预警规则")


def _can_handle(actor: Actor) -> None:
    from shebao.accounts.permissions import can_edit_roster

    if actor.user is not None and not can_edit_roster(actor.user):
        raise PermissionDenied("只有人事专员和人事管理员可以处理预警")


# --- rules ----------------------------------------------------------------------------------------


def _clean_rule(
    *,
    kind: str,
    name: str,
    params: dict[str, Any] | None,
    severity: str,
    employment_types: Iterable[str],
    routing: dict[str, Any] | None,
    auto_case: str = "",
) -> dict[str, Any]:
    k = kind_get(kind)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "请填写规则名称"
    elif len(name) > 100:
        errors["name"] = "规则名称不能超过100个字"
    if severity not in Severity.values:
        errors["severity"] = f"严重程度“{severity}”无效（可选：{'、'.join(Severity.values)}）"
    types = list(dict.fromkeys(employment_types or []))
    bad = [t for t in types if t not in EmploymentType.values]
    if bad:
        errors["employment_types"] = f"用工类型无效：{'、'.join(bad)}"
    try:
        routing = routing_clean(routing)
    except ApplicationError as exc:
        errors.update({k if k in ("routing",) else f"routing.{k}": v for k, v in exc.field_errors.items()})
    else:
        errors.update(_routing_targets(routing))
    auto_case = (auto_case or "").strip()
    if auto_case and auto_case != "auto":
        from shebao.cases.models import WorkflowTemplate

        if not WorkflowTemplate.objects.filter(code=auto_case).exists():
            errors["auto_case"] = f"流程模板“{auto_case}”不存在"
    if errors:
        raise ApplicationError("规则有误：" + "；".join(errors.values()), field_errors=errors)
    parsed = k.parse_params(params)
    return {
        "kind": kind,
        "name": name,
        "params": parsed.model_dump(mode="json"),
        "severity": severity,
        "employment_types": types,
        "routing": routing,
        "auto_case": auto_case,
    }


def _routing_targets(routing: dict[str, Any]) -> dict[str, str]:
    """The users and channels a routing names must exist (and be usable)."""
    from shebao.accounts.models import User
    from shebao.notify.models import Channel

    errors: dict[str, str] = {}
    users = set(routing["users"])
    found = set(User.objects.filter(pk__in=users, is_active=True).values_list("id", flat=True))
    if users - found:
        errors["routing.users"] = f"用户不存在或已停用：{'、'.join(map(str, sorted(users - found)))}"
    channels = set(routing["channels"])
    found = set(Channel.objects.filter(pk__in=channels).exclude(kind="inapp").values_list("id", flat=True))
    if channels - found:
        errors["routing.channels"] = f"通道不存在：{'、'.join(map(str, sorted(channels - found)))}"
    return errors


def _check_scope(entities, departments) -> tuple[list[Entity], list[Department]]:
    entities = list(entities or [])
    departments = list(departments or [])
    ids = {e.pk for e in entities}
    if ids:
        outside = [d.name for d in departments if d.entity_id not in ids]
        if outside:
            raise ApplicationError(
                f"部门“{'、'.join(outside)}”不属于所选的参保主体",
                field_errors={"departments": "部门不在所选主体内"},
            )
    return entities, departments


def rule_create(
    *,
    actor: Actor,
    kind: str,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    severity: str | None = None,
    enabled: bool = True,
    entities: Iterable[Entity] = (),
    departments: Iterable[Department] = (),
    employment_types: Iterable[str] = (),
    routing: dict[str, Any] | None = None,
    auto_case: str = "",
    is_default: bool = False,
) -> AlertRule:
    """A rule; ``auto_case``: open a compliance case for each new finding ("auto": the workflow
    offered for the kind, or a workflow template's code; "" not)."""
    _can_manage(actor)
    k = kind_get(kind)
    data = _clean_rule(
        kind=kind,
        name=name if name is not None else str(k.default_name),
        params=params,
        severity=severity or k.severity,
        employment_types=employment_types,
        routing=routing,
        auto_case=auto_case,
    )
    entities, departments = _check_scope(entities, departments)
    with transaction.atomic():
        rule = AlertRule.objects.create(**data, enabled=enabled, is_default=is_default, created_by=actor.user)
        rule.entities.set(entities)
        rule.departments.set(departments)
        audit_record(actor=actor, action="rule.create", obj=rule, changes=_rule_state(rule))
    return rule


def _rule_state(rule: AlertRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "name": rule.name,
        "params": rule.params,
        "severity": rule.severity,
        "enabled": rule.enabled,
        "entities": sorted(e.code for e in rule.entities.all()),
        "departments": sorted(d.name for d in rule.departments.all()),
        "employment_types": rule.employment_types,
        "routing": rule.routing,
        "auto_case": rule.auto_case,
    }


def rule_update(
    *,
    actor: Actor,
    rule: AlertRule,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    severity: str | None = None,
    enabled: bool | None = None,
    entities: Iterable[Entity] | None = None,
    departments: Iterable[Department] | None = None,
    employment_types: Iterable[str] | None = None,
    routing: dict[str, Any] | None = None,
    auto_case: str | None = None,
) -> AlertRule:
    """Change a rule; its findings follow at the next evaluation (run right after by the callers)."""
    _can_manage(actor)
    before = _rule_state(rule)
    data = _clean_rule(
        kind=rule.kind,
        name=rule.name if name is None else name,
        params=rule.params if params is None else params,
        severity=rule.severity if severity is None else severity,
        employment_types=rule.employment_types if employment_types is None else employment_types,
        routing=rule.routing if routing is None else routing,
        auto_case=rule.auto_case if auto_case is None else auto_case,
    )
    ents, depts = _check_scope(
        rule.entities.all() if entities is None else entities,
        rule.departments.all() if departments is None else departments,
    )
    with transaction.atomic():
        for k, v in data.items():
            setattr(rule, k, v)
        if enabled is not None:
            rule.enabled = enabled
        rule.save()
        rule.entities.set(ents)
        rule.departments.set(depts)
        after = _rule_state(rule)
        changes = diff(before, after)
        if changes:
            audit_record(actor=actor, action="rule.update", obj=rule, changes=changes)
        if enabled is False and before["enabled"]:
            _resolve_all(rule, actor, "规则已停用")
    return rule


def _resolve_all(rule: AlertRule, actor: Actor, reason: str) -> int:
    now = timezone.now()
    active = list(rule.findings.exclude(status=F.RESOLVED).values_list("id", "status"))
    if not active:
        return 0
    Finding.objects.filter(pk__in=[pk for pk, _ in active]).update(
        status=F.RESOLVED,
        resolved_at=now,
        resolved_reason=reason,
        status_changed_at=now,
        snoozed_until=None,
        updated_at=now,
    )
    engine.transitions_record(
        [
            FindingTransition(
                finding_id=pk,
                from_status=st,
                to_status=F.RESOLVED,
                reason=reason,
                actor=actor.user,
                actor_label=_label(actor),
            )
            for pk, st in active
        ]
    )
    return len(active)


def rule_delete(*, actor: Actor, rule: AlertRule) -> None:
    """Delete a rule and its findings. Default rules are kept (disable them instead)."""
    _can_manage(actor)
    if rule.is_default:
        raise ApplicationError("默认规则不能删除，可以停用", code="default_rule")
    with transaction.atomic():
        audit_record(actor=actor, action="rule.delete", obj=rule, changes=_rule_state(rule))
        rule.delete()


def rules_install_defaults(*, actor: Actor | None = None) -> list[AlertRule]:
    """One rule per kind with its default parameters, unless that kind already has a default rule."""
    actor = actor or Actor.system(via="system")
    have = set(AlertRule.objects.filter(is_default=True).values_list("kind", flat=True))
    created = []
    for code, kind in KINDS.items():
        if code not in have:
            created.append(
                rule_create(
                    actor=Actor(user=None, ip=actor.ip, via=actor.via),
                    kind=code,
                    name=str(kind.default_name),
                    params=kind.default_params(),
                    severity=kind.severity,
                    routing=getattr(kind, "default_routing", None),
                    is_default=True,
                )
            )
    return created


# --- evaluation -----------------------------------------------------------------------------------


def _rules(kinds: Iterable[str] | None = None, rule_ids: Iterable[int] | None = None) -> list[AlertRule]:
    qs = AlertRule.objects.filter(enabled=True).prefetch_related("entities", "departments").order_by("id")
    if kinds:
        kinds = list(kinds)
        for k in kinds:
            kind_get(k)
        qs = qs.filter(kind__in=kinds)
    if rule_ids is not None:
        qs = qs.filter(pk__in=list(rule_ids))
    return list(qs)


def findings_evaluate(
    *,
    actor: Actor,
    as_of: dt.date | None = None,
    kinds: Iterable[str] | None = None,
    rule_ids: Iterable[int] | None = None,
    employee_ids: Iterable[int] | None = None,
    person_ids: Iterable[int] | None = None,
) -> engine.EvaluationResult:
    """Evaluate the enabled rules (all, or those of ``kinds`` / ``rule_ids``) as of ``as_of``
    (default today): for everyone, or incrementally for the given employees and ledger people
    (people's employees are included)."""
    employees = None
    people = None
    if employee_ids is not None or person_ids is not None:
        employees = set(employee_ids or ())
        people = set(person_ids or ())
        if people:
            employees |= {
                e
                for i in range(0, len(people), 900)
                for e in LedgerPerson.objects.filter(
                    pk__in=sorted(people)[i : i + 900], employee__isnull=False
                ).values_list("employee_id", flat=True)
            }
        employees, people = frozenset(employees), frozenset(people)
    ctx = Context(as_of=as_of or _today(), employee_ids=employees, person_ids=people)
    result = engine.evaluate(_rules(kinds, rule_ids), ctx, actor_user=actor.user)
    if employees is None:  # one audit row per full evaluation (incremental ones are too frequent)
        audit_record(
            actor=actor,
            action="findings.evaluate",
            changes={
                "as_of": ctx.as_of.isoformat(),
                "opened": result.opened,
                "updated": result.updated,
                "resolved": result.resolved,
                "rules": len(result.rules),
            },
        )
    return result


def rule_preview(
    *,
    kind: str,
    params: dict[str, Any] | None,
    severity: str | None = None,
    entities: Iterable[Entity] = (),
    departments: Iterable[Department] = (),
    employment_types: Iterable[str] = (),
    rule: AlertRule | None = None,
    as_of: dt.date | None = None,
) -> engine.RuleOutcome:
    """How many findings a rule with these settings would have, and what would change against
    ``rule``'s current findings — computed, never stored."""
    k = kind_get(kind)
    data = _clean_rule(
        kind=kind,
        name="预览",
        params=params,
        severity=severity or k.severity,
        employment_types=employment_types,
        routing=None,
    )
    entities, departments = _check_scope(entities, departments)
    probe = _PreviewRule(rule, data, entities, departments)
    return engine.preview(probe, Context(as_of=as_of or _today()))


class _Listed:
    def __init__(self, items):
        self._items = list(items)

    def all(self):
        return self._items


class _PreviewRule:
    """An unsaved rule for the preview: scope from lists, findings compared with ``rule``'s."""

    def __init__(self, rule, data, entities, departments):
        self.pk = rule.pk if rule else None
        self.kind, self.params, self.severity = data["kind"], data["params"], data["severity"]
        self.employment_types = data["employment_types"]
        self.entities, self.departments = _Listed(entities), _Listed(departments)


def findings_consume_changes(
    *, actor: Actor | None = None, limit: int = 20_000
) -> engine.EvaluationResult | None:
    """Evaluate the rules for the people the ledger's unconsumed change events name, marking the
    events consumed (claimed atomically: two workers never take one event)."""
    actor = actor or Actor.system(via="worker")
    now = timezone.now()
    ids = list(
        ChangeEvent.objects.filter(consumed_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return None
    claimed: list[int] = []
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        # claim: only rows still unconsumed are taken; a concurrent worker's rows are skipped
        with transaction.atomic():
            mine = list(
                ChangeEvent.objects.filter(pk__in=chunk, consumed_at__isnull=True).values_list(
                    "id", flat=True
                )
            )
            ChangeEvent.objects.filter(pk__in=mine, consumed_at__isnull=True).update(consumed_at=now)
        claimed += mine
    if not claimed:
        return None
    people: set[int] = set()
    employees: set[int] = set()
    for i in range(0, len(claimed), 900):
        for pid, eid in ChangeEvent.objects.filter(pk__in=claimed[i : i + 900]).values_list(
            "person_id", "employee_id"
        ):
            people.add(pid)
            if eid:
                employees.add(eid)
    try:
        return findings_evaluate(actor=actor, employee_ids=employees, person_ids=people)
    except Exception:
        # give the events back: the next run takes them again (nothing is dropped)
        for i in range(0, len(claimed), 900):
            ChangeEvent.objects.filter(pk__in=claimed[i : i + 900], consumed_at=now).update(consumed_at=None)
        raise


# --- findings: manual transitions ------------------------------------------------------------------

MANUAL = {
    F.ACKNOWLEDGED: {F.OPEN, F.SNOOZED},
    F.SNOOZED: {F.OPEN, F.ACKNOWLEDGED},
    F.OPEN: {F.ACKNOWLEDGED, F.SNOOZED},
}


def _label(actor: Actor) -> str:
    return actor.user.username if actor.user else f"系统（{actor.via}）"


def _visible(actor: Actor, ids: list[int]) -> list[Finding]:
    from shebao.rules.selectors import findings_for

    qs = (
        Finding.objects.filter(pk__in=ids)
        if actor.user is None
        else findings_for(actor.user).filter(pk__in=ids)
    )
    found = list(qs.select_for_update() if transaction.get_connection().vendor == "postgresql" else qs)
    missing = set(ids) - {f.pk for f in found}
    if missing:
        raise ApplicationError(f"找不到预警：{'、'.join(map(str, sorted(missing)))}", code="not_found")
    return found


def finding_transition(
    *,
    actor: Actor,
    finding_ids: Iterable[int],
    to_status: str,
    reason: str = "",
    snoozed_until: dt.date | None = None,
) -> list[Finding]:
    """Acknowledge, snooze (until a date) or reopen findings by hand. Resolution is automatic:
    a finding resolves when the data no longer shows the problem."""
    _can_handle(actor)
    ids = sorted(set(finding_ids))
    if not ids:
        raise ApplicationError("请选择要处理的预警", field_errors={"finding_ids": "未选择预警"})
    if to_status not in MANUAL:
        raise ApplicationError(
            "预警不能手工解除：数据中问题消失后会自动解除（可以确认或暂缓）"
            if to_status == F.RESOLVED
            else f"状态“{to_status}”无效",
            field_errors={"to_status": "只能改为 open / acknowledged / snoozed"},
        )
    reason = (reason or "").strip()[:300]
    if to_status == F.SNOOZED:
        if snoozed_until is None:
            raise ApplicationError("请填写暂缓到哪一天", field_errors={"snoozed_until": "必填"})
        if snoozed_until <= _today():
            raise ApplicationError("暂缓日期必须晚于今天", field_errors={"snoozed_until": "必须晚于今天"})
        if snoozed_until > _today() + dt.timedelta(days=366):
            raise ApplicationError("最多暂缓一年", field_errors={"snoozed_until": "最多一年"})
    now = timezone.now()
    with transaction.atomic():
        findings = _visible(actor, ids)
        wrong = [f for f in findings if f.status not in MANUAL[to_status]]
        if wrong:
            labels = dict(F.choices)
            raise ApplicationError(
                "以下预警不能改为“{}”：{}".format(
                    labels[to_status], "、".join(f"#{f.pk}（{labels[f.status]}）" for f in wrong)
                ),
                field_errors={"to_status": "当前状态不允许"},
            )
        transitions = []
        for f in findings:
            transitions.append(
                FindingTransition(
                    finding=f,
                    from_status=f.status,
                    to_status=to_status,
                    reason=reason,
                    actor=actor.user,
                    actor_label=_label(actor),
                )
            )
            f.status = to_status
            f.status_changed_at = now
            f.snoozed_until = snoozed_until if to_status == F.SNOOZED else None
        Finding.objects.bulk_update(findings, ["status", "status_changed_at", "snoozed_until"])
        engine.transitions_record(transitions)
        audit_record(
            actor=actor,
            action=f"finding.{to_status}",
            changes={
                "findings": ids,
                "reason": reason,
                "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
            },
        )
    return findings


def finding_assign(*, actor: Actor, finding_ids: Iterable[int], assignee) -> int:
    """Give findings to a user (None: unassign). Not a status change: audited, no transition."""
    from shebao.accounts.permissions import can_edit_roster

    _can_handle(actor)
    ids = sorted(set(finding_ids))
    if not ids:
        raise ApplicationError("请选择要分派的预警", field_errors={"finding_ids": "未选择预警"})
    if assignee is not None and not can_edit_roster(assignee):
        raise ApplicationError(
            f"“{assignee.username}”不是人事专员或人事管理员，不能负责预警",
            field_errors={"assignee": "不能负责预警"},
        )
    with transaction.atomic():
        findings = _visible(actor, ids)
        if assignee is not None:
            from shebao.accounts.permissions import entity_scope_ids

            scope = entity_scope_ids(assignee)
            outside = [f.pk for f in findings if scope is not None and f.entity_id not in scope]
            if outside:
                raise ApplicationError(
                    f"“{assignee.username}”无权查看以下预警所属的参保主体：{'、'.join(f'#{pk}' for pk in outside)}",
                    field_errors={"assignee": "负责人无权查看这些预警"},
                )
        Finding.objects.filter(pk__in=[f.pk for f in findings]).update(assignee=assignee)
        audit_record(
            actor=actor,
            action="finding.assign",
            changes={"findings": ids, "assignee": assignee.username if assignee else None},
        )
    return len(findings)


# --- transitions: the claim -----------------------------------------------------------------------


def transition_claim(*, transition: FindingTransition) -> bool:
    """Claim one transition for processing: True for exactly one caller."""
    return (
        FindingTransition.objects.filter(pk=transition.pk, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
        == 1
    )


def transitions_process(*, handler: Callable[[FindingTransition], None], limit: int = 500) -> int:
    """Hand each unprocessed transition to ``handler`` once, oldest first; a transition another
    worker claimed first is skipped. Returns how many this call handled."""
    handled = 0
    pending = (
        FindingTransition.objects.filter(processed_at__isnull=True)
        .select_related("finding", "finding__rule")
        .order_by("id")[:limit]
    )
    for t in pending:
        if transition_claim(transition=t):
            handler(t)
            handled += 1
    return handled


__all__ = [
    "findings_consume_changes",
    "findings_evaluate",
    "finding_assign",
    "finding_transition",
    "rule_create",
    "rule_delete",
    "rule_preview",
    "rule_update",
    "rules_install_defaults",
    "transition_claim",
    "transitions_process",
]
