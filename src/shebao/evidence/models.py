"""The evidence ledger: an append-only hash chain of everything that may have to be shown to an
arbitrator (status checks and their source data, findings that opened cases, letters and their
SHA-256, every delivery attempt, link opened, identity confirmed, acknowledgement or refusal,
uploads, payments, closing) — written in the same transaction as the event.

Each ``Entry`` keeps its header fields, its payload as canonical JSON text (hashed byte for byte)
and two links: ``prev`` (the whole ledger) and ``stream_prev`` (the previous entry about the same
employee). The hashing rules live in ``shebao.evidence.verifier`` (standard library only; every
bundle carries a copy). Rows are never updated or deleted: on PostgreSQL triggers refuse it, on
SQLite the model and its queryset refuse it, and verification finds it either way.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.core.exceptions import ApplicationError


class LedgerIsAppendOnly(ApplicationError):
    def __init__(self) -> None:
        super().__init__("证据链只能追加，不能修改或删除", code="append_only")


class EntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerIsAppendOnly()

    def delete(self):
        raise LedgerIsAppendOnly()

    _raw_delete = delete  # the collector's fast path

    def bulk_update(self, *args, **kwargs):
        raise LedgerIsAppendOnly()


class Entry(models.Model):
    seq = models.PositiveBigIntegerField(_("序号"), unique=True)
    at = models.CharField(_("记录时间"), max_length=32)  # UTC ISO 8601 text, exactly as hashed
    kind = models.CharField(_("类型"), max_length=40, db_index=True)
    actor = models.CharField(_("操作人"), max_length=150)
    stream = models.CharField(max_length=24, blank=True)  # "e<employee id>", or "" (organisation)
    case = models.CharField(_("案件"), max_length=24, blank=True)  # case number
    subject = models.CharField(_("对象"), max_length=120, blank=True)  # "letter:HJ…", "run:12" …
    payload = models.TextField()  # canonical JSON
    payload_sha256 = models.CharField(max_length=64)
    prev = models.CharField(max_length=64)
    stream_prev = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True)
    # Not hashed: plain look-up columns (no foreign keys: nothing may cascade into the ledger).
    employee_id = models.BigIntegerField(null=True, blank=True)
    case_id = models.BigIntegerField(null=True, blank=True)
    entity_id = models.BigIntegerField(null=True, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("证据链记录")
        verbose_name_plural = _("证据链记录")
        indexes = [
            models.Index(fields=["stream", "seq"], name="evidence_stream_seq"),
            models.Index(fields=["case_id", "seq"], name="evidence_case_seq"),
            models.Index(fields=["employee_id", "seq"], name="evidence_employee_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerIsAppendOnly()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly()

    def header(self) -> dict:
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "stream": self.stream,
            "case": self.case,
            "subject": self.subject,
            "payload_sha256": self.payload_sha256,
            "prev": self.prev,
            "stream_prev": self.stream_prev,
            "hash": self.hash,
        }


class Head(models.Model):
    """One row: the last entry's sequence number and hash. Writers lock it, so entries are
    numbered and linked one at a time (SQLite: the IMMEDIATE transaction already serialises)."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class Checkpoint(models.Model):
    """The chain's head at a moment, recorded (as an entry, too) and sent outside the system."""

    seq = models.PositiveBigIntegerField(_("链头序号"))
    head_hash = models.CharField(_("链头哈希"), max_length=64)
    entry_seq = models.PositiveBigIntegerField(_("校验点记录序号"), null=True, blank=True)
    created_at = models.DateTimeField(_("时间"))
    key_fingerprint = models.CharField(_("签名公钥指纹"), max_length=80, blank=True)
    sent_to = models.JSONField(_("发送到"), default=list, blank=True)  # notification ids / channel names
    tsa_url = models.CharField(_("时间戳服务"), max_length=300, blank=True)
    tsa_token = models.BinaryField(null=True, blank=True)  # RFC 3161 TimeStampResp (DER)
    tsa_time = models.DateTimeField(_("可信时间"), null=True, blank=True)
    tsa_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("校验点")
        verbose_name_plural = _("校验点")

    def __str__(self) -> str:
        return f"#{self.seq} {self.head_hash[:12]}"


class VerifyRun(models.Model):
    class Result(models.TextChoices):
        OK = "ok", _("完整")
        BROKEN = "broken", _("发现问题")
        RUNNING = "running", _("校验中")

    started_at = models.DateTimeField(_("开始时间"))
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    result = models.CharField(_("结果"), max_length=10, choices=Result.choices, default=Result.RUNNING)
    entries = models.PositiveBigIntegerField(_("记录数"), default=0)
    head_seq = models.PositiveBigIntegerField(null=True, blank=True)
    first_bad_seq = models.PositiveBigIntegerField(_("首个问题序号"), null=True, blank=True)
    problems = models.JSONField(_("问题"), default=list, blank=True)  # [{"code", "message", "seq"}]
    checkpoints = models.PositiveIntegerField(_("核对校验点"), default=0)
    via = models.CharField(max_length=16, default="worker")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("校验记录")
        verbose_name_plural = _("校验记录")

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.result}"


class Settings(models.Model):
    """One row: where checkpoints go and whether to ask a time-stamping authority."""

    channel = models.ForeignKey(
        "notify.Channel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("审计通知通道"),
    )
    tsa_url = models.URLField(_("RFC 3161 时间戳服务地址"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "evidence settings"
