"""Alert rules (configured instances of a rule kind) and the findings they produce.

A finding is keyed by (rule, key) where the key names the employee (or ledger person) and the
subject, so re-evaluation updates it in place. Every status change is a ``FindingTransition``
row; whoever processes transitions (the notifications) claims each one atomically by setting
``processed_at`` where it is still null (the healthchecks Flip pattern).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from shebao.ledger.models import LedgerPerson
from shebao.org.models import Department, Entity
from shebao.roster.models import Employee


class Severity(models.TextChoices):
    INFO = "info", pgettext_lazy("severity", "提示")  # "提示" alone is the ledger's "warnings"
    WARNING = "warning", _("警告")
    CRITICAL = "critical", _("严重")


SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class AlertRule(models.Model):
    """A configured instance of a rule kind: parameters, scope, severity, routing."""

    kind = models.CharField(_("规则类型"), max_length=40, db_index=True)
    name = models.CharField(_("名称"), max_length=100)
    params = models.JSONField(_("参数"), default=dict, blank=True)
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices)
    enabled = models.BooleanField(_("启用"), default=True)
    # Scope: empty means every entity / department / employment type.
    entities = models.ManyToManyField(Entity, blank=True, related_name="+", verbose_name=_("参保主体"))
    departments = models.ManyToManyField(
        Department, blank=True, related_name="+", verbose_name=_("部门（含下级）")
    )
    employment_types = models.JSONField(_("用工类型"), default=list, blank=True)
    # Who hears about the findings (used by the notifications): {"recipients": [...], "channels": [...]}
    routing = models.JSONField(_("通知对象"), default=dict, blank=True)
    # Open a compliance case automatically for each new finding: "" off, "auto" the workflow
    # offered for the kind, or a workflow template's code.
    auto_case = models.CharField(_("自动立案"), max_length=40, blank=True, default="")
    is_default = models.BooleanField(_("默认规则"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_evaluated_at = models.DateTimeField(_("上次评估"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("预警规则")
        verbose_name_plural = _("预警规则")

    def __str__(self) -> str:
        return self.name


class Finding(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        ACKNOWLEDGED = "acknowledged", _("已确认")
        SNOOZED = "snoozed", _("已暂缓")
        RESOLVED = "resolved", _("已解除")

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(_("规则类型"), max_length=40)
    key = models.CharField(max_length=120)  # e<employee>:<subject> or p<ledger person>:<subject>
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("参保主体")
    )
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.CASCADE, related_name="findings"
    )
    person = models.ForeignKey(
        LedgerPerson, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices)
    status = models.CharField(_("状态"), max_length=14, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(_("问题"), max_length=300)
    details = models.JSONField(default=dict, blank=True)  # the evidence: months, statuses, dates, unit
    citations = models.JSONField(default=list, blank=True)
    next_step = models.TextField(_("建议下一步"), blank=True)
    deadline = models.DateField(_("期限"), null=True, blank=True)
    amount = models.DecimalField(_("涉及金额"), max_digits=14, decimal_places=2, null=True, blank=True)
    digest = models.CharField(max_length=64)  # of what re-evaluation compares
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("负责人"),
    )
    snoozed_until = models.DateField(_("暂缓至"), null=True, blank=True)
    resolved_reason = models.CharField(_("解除原因"), max_length=300, blank=True)
    first_seen_at = models.DateTimeField(_("首次发现"))
    updated_at = models.DateTimeField(_("最近更新"))
    status_changed_at = models.DateTimeField(_("状态变更"))
    resolved_at = models.DateTimeField(_("解除时间"), null=True, blank=True)

    class Meta:
        ordering = ["deadline", "-id"]
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        constraints = [models.UniqueConstraint(fields=["rule", "key"], name="finding_rule_key")]
        indexes = [
            models.Index(fields=["status", "deadline"], name="finding_status_deadline"),
            models.Index(fields=["employee", "status"], name="finding_employee"),
            models.Index(fields=["person"], name="finding_person"),
            models.Index(fields=["entity", "status"], name="finding_entity"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.RESOLVED


class FindingTransition(models.Model):
    """One status change of a finding. ``processed_at`` is set by whoever handles it (atomically:
    ``UPDATE … SET processed_at = now WHERE id = … AND processed_at IS NULL``)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=14, blank=True)  # "" for the opening
    to_status = models.CharField(max_length=14)
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["processed_at", "id"], name="finding_transition_pending")]

    def __str__(self) -> str:
        return f"{self.finding_id}: {self.from_status or '∅'} → {self.to_status}"
