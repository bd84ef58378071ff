"""Compliance cases: workflow templates (data, versioned), cases with their steps and an
append-only timeline, notice letters (rendered once to PDF, kept with their SHA-256), the links
employees open to acknowledge them, the acknowledgements and the proof files.

A workflow template's definition is a JSON document (``shebao.cases.workflow.Definition``);
editing it writes a new ``WorkflowVersion`` and a case keeps the version it started with.
Letters and proof files are stored in the content-addressed blob store (``shebao.core.blobs``):
the row keeps the SHA-256 and the bytes are never rewritten.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shebao.org.models import Entity
from shebao.roster.models import Employee


class WorkflowTemplate(models.Model):
    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    description = models.TextField(_("说明"), blank=True)
    # Finding kinds this template is offered for first (the one-click "立案" picks the first match).
    finding_kinds = models.JSONField(_("适用预警类型"), default=list, blank=True)
    enabled = models.BooleanField(_("启用"), default=True)
    is_builtin = models.BooleanField(_("系统内置"), default=False, editable=False)
    current = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("流程模板")
        verbose_name_plural = _("流程模板")

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """One immutable version of a template's definition."""

    template = models.ForeignKey(WorkflowTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("版本"))
    name = models.CharField(_("名称"), max_length=100)
    definition = models.JSONField(_("定义"))
    note = models.CharField(_("修改说明"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template_id", "number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="workflow_version_number")]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


class LetterTemplate(models.Model):
    """A notice letter's wording: a sandboxed Django template producing the letter's HTML body.
    ``version`` grows with every edit; an issued letter keeps the version and its own PDF."""

    class Kind(models.TextChoices):
        NOTICE = "notice", _("告知函")
        BACKPAY = "backpay", _("补缴通知")
        LEAVING = "leaving", _("离职社保告知")
        OTHER = "other", _("其他")

    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类别"), max_length=10, choices=Kind.choices, default=Kind.NOTICE)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文模板"))
    response_days = models.PositiveIntegerField(_("答复期限（天）"), default=7)
    version = models.PositiveIntegerField(_("版本"), default=1)
    is_builtin = models.BooleanField(_("系统内置"), default=False, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("函件模板")
        verbose_name_plural = _("函件模板")

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("处理中")
        CLOSED = "closed", _("已结案")
        CANCELLED = "cancelled", _("已撤销")

    number = models.CharField(_("案件编号"), max_length=24, unique=True)
    template = models.ForeignKey(WorkflowTemplate, on_delete=models.PROTECT, related_name="cases")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="cases")
    finding = models.ForeignKey(
        "rules.Finding", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="cases")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+", verbose_name=_("参保主体"))
    title = models.CharField(_("标题"), max_length=300)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    current_step = models.CharField(_("当前步骤"), max_length=40, blank=True)
    step_due = models.DateField(_("步骤期限"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("负责人"),
    )
    escalated_at = models.DateTimeField(_("升级时间"), null=True, blank=True)
    outcome = models.CharField(_("结果"), max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)  # amounts, dates, what the steps recorded
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(_("立案时间"))
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True)
    updated_at = models.DateTimeField(_("最近更新"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        constraints = [
            # One open case per finding: opening twice finds the first.
            models.UniqueConstraint(
                fields=["finding"], condition=Q(status="open"), name="case_one_open_per_finding"
            )
        ]
        indexes = [
            models.Index(fields=["status", "step_due"], name="case_status_due"),
            models.Index(fields=["entity", "status"], name="case_entity"),
            models.Index(fields=["employee", "status"], name="case_employee"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class CaseStep(models.Model):
    """One step as the case went through it (a step visited twice has two rows)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("进行中")
        DONE = "done", _("已完成")
        CANCELLED = "cancelled", _("已取消")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    code = models.CharField(max_length=40)
    name = models.CharField(_("步骤"), max_length=100)
    action = models.CharField(max_length=20)
    role = models.CharField(_("负责角色"), max_length=20)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(_("开始时间"))
    due_date = models.DateField(_("期限"), null=True, blank=True)
    due_basis = models.CharField(_("期限依据"), max_length=200, blank=True)
    warn_from = models.DateField(null=True, blank=True)  # when the step counts as "due soon"
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    choice = models.CharField(max_length=40, blank=True)  # the code of the choice taken
    choice_label = models.CharField(_("结果"), max_length=100, blank=True)
    note = models.TextField(_("说明"), blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "due_date"], name="case_step_active_due")]

    def __str__(self) -> str:
        return self.name


class Letter(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("已生成")
        SENT = "sent", _("已送达待确认")
        ACKNOWLEDGED = "acknowledged", _("员工已确认")
        DISAGREED = "disagreed", _("员工有异议")
        WITHDRAWN = "withdrawn", _("已撤回")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="letters")
    template = models.ForeignKey(LetterTemplate, null=True, on_delete=models.SET_NULL, related_name="+")
    template_code = models.CharField(max_length=40)
    template_version = models.PositiveIntegerField()
    number = models.CharField(_("函号"), max_length=40, unique=True)
    title = models.CharField(_("标题"), max_length=200)
    html = models.TextField()  # the rendered HTML the PDF was made from
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(default=0)
    step = models.ForeignKey(CaseStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("状态"), max_length=14, choices=Status.choices, default=Status.ISSUED)
    respond_by = models.DateField(_("答复期限"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_at = models.DateTimeField(_("生成时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("函件")
        verbose_name_plural = _("函件")
        indexes = [models.Index(fields=["status", "respond_by"], name="letter_status_respond")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class AckRequest(models.Model):
    """A link sent to the employee to read and acknowledge one letter. The URL carries a signed
    token naming this row and its nonce; the row says whether it is still good."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待确认")
        COMPLETED = "completed", _("已完成")
        REVOKED = "revoked", _("已作废")

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="requests")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=43, unique=True)
    # The short link /a/s/<short>/ for SMS (a provider's template variable holds ~35 characters).
    short = models.CharField(max_length=16, unique=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(_("有效期至"))
    channels = models.JSONField(default=list, blank=True)  # where the link was sent
    opened_at = models.DateTimeField(_("首次打开"), null=True, blank=True)
    # Identity check: a one-time code by SMS (hashed here), else the last 4 of the ID number.
    otp_hash = models.CharField(max_length=128, blank=True)
    otp_expires_at = models.DateTimeField(null=True, blank=True)
    otp_sent_at = models.DateTimeField(null=True, blank=True)
    otp_sent_count = models.PositiveSmallIntegerField(default=0)
    failed_checks = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_method = models.CharField(max_length=12, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.letter.number} → {self.employee_id}"


class Acknowledgement(models.Model):
    class Decision(models.TextChoices):
        ACKNOWLEDGED = "acknowledged", _("确认收到")
        DISAGREED = "disagreed", _("有异议")

    class Method(models.TextChoices):
        SMS_OTP = "sms_otp", _("短信验证码")
        ID_LAST4 = "id_last4", _("身份证号后4位")

    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="acknowledgements")
    request = models.OneToOneField(AckRequest, on_delete=models.PROTECT, related_name="acknowledgement")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(_("答复"), max_length=14, choices=Decision.choices)
    reason = models.TextField(_("异议理由"), blank=True)
    at = models.DateTimeField(_("时间"))
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    user_agent = models.CharField(_("浏览器"), max_length=500, blank=True)
    document_sha256 = models.CharField(_("所见文件 SHA-256"), max_length=64)
    method = models.CharField(_("身份确认方式"), max_length=12, choices=Method.choices)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("员工确认")
        verbose_name_plural = _("员工确认")

    def __str__(self) -> str:
        return f"{self.letter.number}: {self.get_decision_display()}"


class Attachment(models.Model):
    """A proof file (停保证明, 转移凭证, a payment receipt …) uploaded by HR or by the employee."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    acknowledgement = models.ForeignKey(
        Acknowledgement, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    step = models.ForeignKey(CaseStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(_("文件名"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    description = models.CharField(_("说明"), max_length=300, blank=True)
    by_employee = models.BooleanField(_("员工上传"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("上传时间"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("附件")
        verbose_name_plural = _("附件")

    def __str__(self) -> str:
        return self.filename


class CaseEvent(models.Model):
    """The case's timeline: append-only, one row per thing that happened."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("立案")
        STEP_STARTED = "step_started", _("进入步骤")
        STEP_DONE = "step_done", _("完成步骤")
        ASSIGNED = "assigned", _("指派")
        NOTE = "note", _("备注")
        LETTER_ISSUED = "letter_issued", _("生成函件")
        LETTER_SENT = "letter_sent", _("发送函件")
        LETTER_OPENED = "letter_opened", _("员工打开函件")
        IDENTITY = "identity", _("员工身份确认")
        ACKNOWLEDGED = "acknowledged", _("员工确认收到")
        DISAGREED = "disagreed", _("员工提出异议")
        ATTACHMENT = "attachment", _("上传附件")
        ESCALATED = "escalated", _("升级")
        DATA = "data", _("记录数据")
        CLOSED = "closed", _("结案")
        CANCELLED = "cancelled", _("撤销")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    step = models.ForeignKey(CaseStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    letter = models.ForeignKey(Letter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attachment = models.ForeignKey(
        Attachment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"
