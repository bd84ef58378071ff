"""The contribution ledger: who paid which insurance for whom, month by month, and how we know.

- ``LedgerPerson``: a person seen in government data, matched to the roster by identity number
  (or not: people paid for who do not work here are kept and listed).
- ``LedgerUnit``: a paying unit, ours (an Entity) or another employer.
- ``ContributionRecord``: person × insurance × 费款所属期 × unit. Declared (应缴) and paid (实缴)
  amounts are separate columns; ``evidence`` says how strong the best source was. A later source
  that changes a month writes a ``ContributionRevision``.
- ``EnrollmentStatus``: person × insurance × unit → state as last reported (+ revisions).
- ``SyncRun``: one ingestion (an uploaded file, a drop-folder file, an HTTP sync); its
  ``SourceRow`` rows keep what the source said, its ``ChangeEvent`` rows what changed.
- ``Discrepancy``: what reconciliation found between expected and actual coverage.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.core import crypto
from shebao.core.identity import mask_identity
from shebao.org.models import Entity
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import ID_PURPOSE, Employee

# Identity numbers of ledger people are encrypted and indexed exactly as the roster does, so a
# person is matched to an employee by comparing blind indexes.
PERSON_ID_PURPOSE = ID_PURPOSE

INSURANCE_CHOICES = [(i.value, INSURANCE_LABELS[i]) for i in Insurance]


class LedgerUnit(models.Model):
    """A paying unit (缴费单位). ``entity`` is set when it is one of ours."""

    key = models.CharField(max_length=120, unique=True)  # "no:<unit number>" or "name:<normalised name>"
    unit_no = models.CharField(_("单位编号"), max_length=40, blank=True)
    name = models.CharField(_("单位名称"), max_length=200, blank=True)
    entity = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("本单位主体"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("缴费单位")
        verbose_name_plural = _("缴费单位")

    def __str__(self) -> str:
        return self.name or self.unit_no or self.key

    @property
    def is_ours(self) -> bool:
        return self.entity_id is not None


class LedgerPerson(models.Model):
    class Match(models.TextChoices):
        ID_NUMBER = "id_number", _("证件号码")
        ACCOUNT = "account", _("个人账号+姓名（无证件号，需核对）")
        NONE = "none", _("花名册中未找到")

    key = models.CharField(max_length=80, unique=True)  # blind index, or "acct:<hmac of account+name>"
    id_number_enc = models.TextField(blank=True, editable=False)
    id_number_bidx = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    id_kind = models.CharField(max_length=24, blank=True)
    name = models.CharField(_("姓名"), max_length=60)
    account_no = models.CharField(_("个人编号/账号"), max_length=40, blank=True)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_people"
    )
    match = models.CharField(_("匹配方式"), max_length=12, choices=Match.choices, default=Match.NONE)
    first_entity = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("首次出现于"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("台账人员")
        verbose_name_plural = _("台账人员")
        indexes = [models.Index(fields=["employee"], name="ledger_person_employee")]

    def __str__(self) -> str:
        return self.name

    @property
    def id_number_masked(self) -> str:
        if not self.id_number_enc:
            return ""
        return mask_identity(
            crypto.decrypt(self.id_number_enc, purpose=PERSON_ID_PURPOSE), self.id_kind or "resident_id"
        )


class SyncRun(models.Model):
    """One ingestion: an uploaded file, a file from the drop folder, or an HTTP sync."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("上传文件")
        CLI = "cli", _("命令行导入")
        DROP_FOLDER = "drop_folder", _("投递文件夹")
        HTTP = "http", _("HTTP 接口")
        SIMULATOR = "simulator", _("模拟平台（演示）")

    class Status(models.TextChoices):
        RUNNING = "running", _("进行中")
        PREVIEWED = "previewed", _("待确认")
        SUCCEEDED = "succeeded", _("成功")
        PARTIAL = "partial", _("部分成功")
        DUPLICATE = "duplicate", _("重复文件，未更改")
        FAILED = "failed", _("失败")
        CANCELLED = "cancelled", _("已取消")

    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="sync_runs", verbose_name=_("参保主体")
    )
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices)
    status = models.CharField(
        _("状态"), max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    connector = models.ForeignKey(
        "Connector",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        verbose_name=_("连接器"),
    )
    import_batch = models.ForeignKey(
        "imports.ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(_("文件名"), max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    profile = models.CharField(_("格式模板"), max_length=80, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # rows, skipped, rejected, people, unknown_people, records_created, records_changed,
    # records_unchanged, enrollments_created, enrollments_changed, pages, retries …
    counts = models.JSONField(default=dict, blank=True)
    change_count = models.PositiveIntegerField(_("变更数"), default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row", "column", "code", "message"}] or [str]
    warnings = models.JSONField(default=list, blank=True)  # [str]
    context = models.JSONField(default=dict, blank=True)  # period/unit found in title block or file name
    cursor = models.CharField(max_length=200, blank=True)  # HTTP: the cursor the run ended at
    # Labels of its source rows' cells: SourceRow.cells is a list aligned with these.
    columns = models.JSONField(default=list, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("同步记录")
        verbose_name_plural = _("同步记录")
        indexes = [models.Index(fields=["entity", "-started_at"], name="sync_run_entity")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_source_display()} {self.file_name}".strip()


class SourceRow(models.Model):
    """A row of a source as read (identity numbers masked), kept for traceability. ``cells`` is a
    list aligned with the run's ``columns`` (``cells_dict`` pairs them up)."""

    # No index of their own (a run writes millions of rows, each index entry is work): the
    # unique (run, row) index serves every look-up by run, and no query selects rows by person
    # (a LedgerPerson deleted would scan the table to clear ``person``; people are never deleted).
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="source_rows", db_index=False)
    row = models.PositiveIntegerField(_("行号"))
    cells = models.JSONField(default=list)
    person = models.ForeignKey(
        LedgerPerson, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    skipped = models.CharField(max_length=60, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "row"]
        constraints = [models.UniqueConstraint(fields=["run", "row"], name="ledger_source_row_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.row}"

    def cells_dict(self, columns: list[str]) -> dict[str, str]:
        if isinstance(self.cells, dict):  # rows stored before cells became lists
            return self.cells
        return dict(zip(columns, self.cells, strict=False))


class ContributionRecord(models.Model):
    class Status(models.TextChoices):
        DECLARED = "declared", _("已申报（未见到账）")
        PAID = "paid", _("已实缴")
        UNPAID = "unpaid", _("未缴")
        ARREARS = "arrears", _("欠缴")
        BACKPAID = "backpaid", _("补缴")
        REFUNDED = "refunded", _("退费")

    class PaymentType(models.TextChoices):
        NORMAL = "normal", _("正常缴费")
        BACKPAY = "backpay", _("补缴")
        ADJUST = "adjust", _("补差/调整")
        REFUND = "refund", _("退费")

    class Evidence(models.TextChoices):
        ASSESSED = "assessed", _("申报（应缴）")
        AGENCY_BILLED = "agency_billed", _("代理机构账单")
        PAID = "paid", _("缴费/到账记录")
        CERTIFICATE = "certificate", _("官方权益记录")

    person = models.ForeignKey(LedgerPerson, on_delete=models.CASCADE, related_name="contributions")
    insurance = models.CharField(_("险种"), max_length=20, choices=INSURANCE_CHOICES)
    period = models.PositiveIntegerField(_("费款所属期"))  # yyyymm
    unit = models.ForeignKey(
        LedgerUnit, on_delete=models.PROTECT, related_name="+", verbose_name=_("缴费单位")
    )
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="+", verbose_name=_("数据所属主体")
    )
    posting_period = models.PositiveIntegerField(_("建账/账单年月"), null=True, blank=True)
    base = models.DecimalField(_("缴费基数"), max_digits=12, decimal_places=2, null=True, blank=True)
    employer_due = models.DecimalField(_("单位应缴"), max_digits=12, decimal_places=2, null=True, blank=True)
    employee_due = models.DecimalField(_("个人应缴"), max_digits=12, decimal_places=2, null=True, blank=True)
    employer_paid = models.DecimalField(_("单位实缴"), max_digits=12, decimal_places=2, null=True, blank=True)
    employee_paid = models.DecimalField(_("个人实缴"), max_digits=12, decimal_places=2, null=True, blank=True)
    late_fee = models.DecimalField(_("滞纳金"), max_digits=12, decimal_places=2, null=True, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices)
    payment_type = models.CharField(_("缴费类型"), max_length=10, choices=PaymentType.choices, blank=True)
    evidence = models.CharField(_("依据"), max_length=14, choices=Evidence.choices)
    # The row of ``last_run``'s source that last stated this month: SourceRow(run=last_run, row=…).
    source_row = models.PositiveIntegerField(_("来源行号"), null=True, blank=True)
    first_run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")
    last_run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["person", "insurance", "period"]
        verbose_name = _("缴费记录")
        verbose_name_plural = _("缴费记录")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "insurance", "period", "unit"], name="contribution_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["entity", "period"], name="contribution_entity_period"),
            # the data window of an entity and insurance (first and last month held), for reconciliation
            models.Index(fields=["entity", "insurance", "period"], name="contribution_entity_ins_period"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance} {self.period}"


class ContributionRevision(models.Model):
    """What a later source changed in a month: field → [old, new]."""

    record = models.ForeignKey(ContributionRecord, on_delete=models.CASCADE, related_name="revisions")
    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["record", "id"]

    def __str__(self) -> str:
        return f"{self.record_id}@{self.run_id}"


class EnrollmentStatus(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", _("参保缴费")
        SUSPENDED = "suspended", _("暂停缴费（中断）")
        TERMINATED = "terminated", _("终止缴费")
        NOT_ENROLLED = "not_enrolled", _("未参保")

    person = models.ForeignKey(LedgerPerson, on_delete=models.CASCADE, related_name="enrollments")
    insurance = models.CharField(_("险种"), max_length=20, choices=INSURANCE_CHOICES)
    unit = models.ForeignKey(
        LedgerUnit, on_delete=models.PROTECT, related_name="+", verbose_name=_("参保单位")
    )
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="+", verbose_name=_("数据所属主体")
    )
    state = models.CharField(_("参保状态"), max_length=14, choices=State.choices)
    since = models.DateField(_("起始日期"), null=True, blank=True)
    reported_at = models.DateTimeField(_("报告时间"))
    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["person", "insurance"]
        verbose_name = _("参保状态")
        verbose_name_plural = _("参保状态")
        constraints = [
            models.UniqueConstraint(fields=["person", "insurance", "unit"], name="enrollment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance} {self.state}"


class EnrollmentRevision(models.Model):
    status = models.ForeignKey(EnrollmentStatus, on_delete=models.CASCADE, related_name="revisions")
    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["status", "id"]

    def __str__(self) -> str:
        return f"{self.status_id}@{self.run_id}"


class ChangeEvent(models.Model):
    """Something a sync changed, for the rules to consume (``consumed_at`` set once handled)."""

    class Kind(models.TextChoices):
        MONTH_NEW = "month_new", _("新增缴费月份")
        MONTH_CHANGED = "month_changed", _("缴费月份变更")
        STATUS_CHANGED = "status_changed", _("参保状态变化")
        UNIT_CHANGED = "unit_changed", _("参保单位变化")
        PERSON_UNKNOWN = "person_unknown", _("花名册外人员")

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="change_events")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    person = models.ForeignKey(LedgerPerson, on_delete=models.CASCADE, related_name="+")
    employee = models.ForeignKey(Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    insurance = models.CharField(_("险种"), max_length=20, choices=INSURANCE_CHOICES, blank=True)
    period = models.PositiveIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["consumed_at", "id"], name="change_event_pending")]

    def __str__(self) -> str:
        return f"{self.kind} {self.person_id} {self.insurance} {self.period or ''}".strip()


class Discrepancy(models.Model):
    """A difference between what the roster says should be covered and what the ledger shows.

    One row per (kind, person, insurance, run of consecutive months, unit); ``fingerprint`` keeps
    it stable across recomputations so it is updated, not duplicated, and disappears (resolved)
    when the data no longer shows it."""

    class Kind(models.TextChoices):
        NOT_ENROLLED = "not_enrolled", _("未由本单位参保缴费")
        OTHER_UNIT = "other_unit", _("由其他单位参保缴费")
        AFTER_LEAVING = "after_leaving", _("离职后仍在本单位参保缴费")
        UNPAID = "unpaid", _("欠缴/未缴")
        BASE_BELOW_MIN = "base_below_min", _("缴费基数低于下限")
        BASE_ABOVE_MAX = "base_above_max", _("缴费基数高于上限")
        BASE_MISMATCH = "base_mismatch", _("缴费基数与申报工资不符")
        UNKNOWN_PERSON = "unknown_person", _("花名册外人员")

    class Status(models.TextChoices):
        OPEN = "open", _("未解决")
        RESOLVED = "resolved", _("已消除")

    fingerprint = models.CharField(max_length=64, unique=True)
    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="discrepancies", verbose_name=_("参保主体")
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, db_index=True)
    person = models.ForeignKey(
        LedgerPerson, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    insurance = models.CharField(_("险种"), max_length=20, choices=INSURANCE_CHOICES, blank=True)
    period_from = models.PositiveIntegerField(_("起始月份"), null=True, blank=True)
    period_to = models.PositiveIntegerField(_("截止月份"), null=True, blank=True)
    months = models.PositiveSmallIntegerField(_("月数"), default=0)
    unit = models.ForeignKey(LedgerUnit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.DecimalField(_("涉及金额"), max_digits=14, decimal_places=2, null=True, blank=True)
    detail = models.JSONField(
        default=dict, blank=True
    )  # amounts by side, bases, figures used and their sources
    citations = models.JSONField(default=list, blank=True)  # law-library ids, e.g. ["SIL-58"]
    explanation = models.TextField(_("说明"), blank=True)
    # Of the compared content (store.CONTENT): a recompute compares digests, not decoded JSON.
    digest = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(
        _("状态"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    first_seen_at = models.DateTimeField(_("首次发现"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("最近确认"))
    resolved_at = models.DateTimeField(_("消除时间"), null=True, blank=True)

    class Meta:
        ordering = ["entity", "kind", "period_from", "id"]
        verbose_name = _("差异")
        verbose_name_plural = _("差异")
        indexes = [
            models.Index(fields=["entity", "status", "kind"], name="discrepancy_entity_status"),
            models.Index(fields=["employee", "status"], name="discrepancy_employee"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person_id} {self.insurance}"


class Connector(models.Model):
    """Where an entity's government data comes from automatically, and how often."""

    class Kind(models.TextChoices):
        DROP_FOLDER = "drop_folder", _("投递文件夹")
        HTTP = "http", _("HTTP 接口")

    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="connectors", verbose_name=_("参保主体")
    )
    kind = models.CharField(_("类型"), max_length=12, choices=Kind.choices)
    name = models.CharField(_("名称"), max_length=100)
    enabled = models.BooleanField(_("启用"), default=True)
    interval_minutes = models.PositiveIntegerField(_("同步间隔（分钟）"), default=60)
    folder = models.CharField(_("文件夹"), max_length=500, blank=True)  # drop folder
    base_url = models.URLField(_("接口地址"), blank=True)  # HTTP
    client_id = models.CharField(_("客户端标识"), max_length=100, blank=True)
    secret_enc = models.TextField(blank=True, editable=False)  # HTTP signing secret, encrypted
    is_simulator = models.BooleanField(_("模拟平台"), default=False)
    cursor = models.CharField(max_length=200, blank=True)
    last_run_at = models.DateTimeField(_("上次同步"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("下次同步"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity", "name"]
        verbose_name = _("数据连接器")
        verbose_name_plural = _("数据连接器")
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="connector_unique_name")]

    def __str__(self) -> str:
        return self.name


class ExportProfile(models.Model):
    """A user-saved file layout (same schema as the shipped YAML profiles in ledger/profiles/)."""

    code = models.SlugField(_("编码"), max_length=80, unique=True)
    title = models.CharField(_("名称"), max_length=120)
    definition = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("文件格式模板")
        verbose_name_plural = _("文件格式模板")

    def __str__(self) -> str:
        return self.title
