from __future__ import annotations

import posixpath
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shebao.org.models import Entity
from shebao.roster.models import Employee

# Original cells of identity and phone columns are kept only as ciphertext under these purposes.
ID_PURPOSE = "import.id_number"
PHONE_PURPOSE = "import.phone"


def import_storage() -> FileSystemStorage:
    """Uploaded files hold plaintext personal data: MEDIA_ROOT/imports/, readable by the owner only."""
    return FileSystemStorage(file_permissions_mode=0o600, directory_permissions_mode=0o700)


def import_upload_to(instance: ImportBatch, filename: str) -> str:
    # The stored name says nothing about the file's content; the original name is a field.
    ext = posixpath.splitext(filename)[1].lower()[:8]
    return f"imports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{ext}"


class ImportBatch(models.Model):
    """One uploaded file and what importing it did (or would do)."""

    class Kind(models.TextChoices):
        ROSTER = "roster", _("花名册")
        LEDGER = "ledger", _("缴费明细/参保数据")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("已上传")
        PARSING = "parsing", _("解析中")
        NEEDS_MAPPING = "needs_mapping", _("需要确认列")
        PREVIEWED = "previewed", _("待确认导入")
        COMMITTING = "committing", _("导入中")
        COMMITTED = "committed", _("已导入")
        REJECTED = "rejected", _("已拒绝")
        FAILED = "failed", _("失败")

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", _("全部无误才导入")
        VALID_ONLY = "valid_only", _("仅导入无误的行")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.ROSTER)
    file = models.FileField(_("文件"), upload_to=import_upload_to, storage=import_storage, max_length=255)
    file_name = models.CharField(_("文件名"), max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("上传人"),
    )
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("确认人"),
    )
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    committed_at = models.DateTimeField(_("导入时间"), null=True, blank=True)
    # Set when the uploaded file was deleted under the retention policy (shebao.imports.retention);
    # file_name, sha256 and size stay as the record of what was uploaded.
    file_purged_at = models.DateTimeField(_("原文件删除时间"), null=True, blank=True)

    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.UPLOADED, db_index=True
    )
    mode = models.CharField(_("导入方式"), max_length=16, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)
    default_entity = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("默认参保主体"),
    )

    # What the reader found.
    file_format = models.CharField(max_length=8, blank=True)
    sheet = models.CharField(_("工作表"), max_length=100, blank=True)
    header_row = models.PositiveIntegerField(_("表头行"), null=True, blank=True)
    headers = models.JSONField(default=list, blank=True)  # as in the file, blank included
    mapping = models.JSONField(default=dict, blank=True)  # header → field key | "ignore" | None (unknown)

    row_count = models.PositiveIntegerField(default=0)
    create_count = models.PositiveIntegerField(default=0)
    update_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # [{"entity": code, "entity_name": …, "path": "研发中心/后端组"}] — created on commit.
    new_departments = models.JSONField(default=list, blank=True)

    error = models.TextField(_("错误"), blank=True)  # batch-level, Chinese
    warnings = models.JSONField(default=list, blank=True)  # [str]
    progress = models.PositiveSmallIntegerField(default=0)  # 0–100

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")

    def __str__(self) -> str:
        return f"{self.file_name}（{self.get_status_display()}）"


class ImportRow(models.Model):
    """One data row of a batch: what the file said, what it means, and what importing it does.

    No plaintext identity or phone number is stored: those cells are kept as ciphertext
    (purposes ``import.id_number`` / ``import.phone``) with masked copies for display, and the
    normalised numbers as the roster encrypts them (``employee.id_number`` / ``employee.phone``),
    which the commit copies into the roster.
    """

    class Action(models.TextChoices):
        CREATE = "create", _("新增")
        UPDATE = "update", _("更新")
        UNCHANGED = "unchanged", _("无变化")
        REJECT = "reject", _("有错误")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rows")
    excel_row = models.PositiveIntegerField(_("行号"))
    original = models.JSONField(default=dict)  # header → text as in the file (identifiers masked)
    original_enc = models.JSONField(default=dict)  # header → ciphertext of the full cell (identifiers)
    values = models.JSONField(default=dict)  # field → normalised value (identifiers masked)
    id_number_enc = models.TextField(blank=True)  # normalised number, as the roster encrypts it
    id_number_bidx = models.CharField(max_length=64, blank=True)  # roster blind index of that number
    phone_enc = models.TextField(blank=True)  # normalised phone, as the roster encrypts it
    phone_bidx = models.CharField(max_length=64, blank=True)
    action = models.CharField(_("操作"), max_length=10, choices=Action.choices)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("员工")
    )
    diff = models.JSONField(default=dict, blank=True)  # field → [old, new] (identifiers masked)
    errors = models.JSONField(default=list, blank=True)  # [{"column", "code", "message"}]

    class Meta:
        ordering = ["batch", "excel_row"]
        verbose_name = _("导入行")
        verbose_name_plural = _("导入行")
        constraints = [models.UniqueConstraint(fields=["batch", "excel_row"], name="import_row_unique")]
        indexes = [models.Index(fields=["batch", "action", "excel_row"], name="import_row_action")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.excel_row}"


class HeaderMapping(models.Model):
    """A confirmed column mapping, reused for files with the same (normalised) headers."""

    signature = models.CharField(max_length=64, unique=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # header → field key | "ignore"
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("列映射")
        verbose_name_plural = _("列映射")

    def __str__(self) -> str:
        return "、".join(self.headers[:5])
