"""Channels, the outbox of notifications, every delivery attempt, editable message templates,
users' channel choices and the per-channel token buckets.

A ``Notification`` is one message for one destination on one channel: the outbox row. It is
written in the same transaction as the finding transition that causes it (idempotency key per
transition × channel × recipient, so writing it twice is impossible); workers claim it by a
conditional UPDATE, send it, and log each try as a ``DeliveryAttempt``. A burst or a digest
merges several notifications into one digest notification (the merged ones point at it).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.notify.transports import CHANNEL_KINDS


class Channel(models.Model):
    class Status(models.TextChoices):
        UNTESTED = "untested", _("未测试")
        OK = "ok", _("正常")
        FAILING = "failing", _("故障")

    kind = models.CharField(_("类型"), max_length=20, choices=CHANNEL_KINDS)
    name = models.CharField(_("名称"), max_length=80, unique=True)
    config = models.JSONField(_("配置"), default=dict, blank=True)  # without the secret fields
    secrets_enc = models.TextField(blank=True, editable=False)  # the secret fields, encrypted JSON
    enabled = models.BooleanField(_("启用"), default=True)
    # Personal channels (email, SMS) marked for people carry the messages users and employees
    # chose in their profile; the first enabled one of each kind is used.
    for_people = models.BooleanField(_("用于个人通知"), default=False)
    language = models.CharField(_("消息语言"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    rate_limit = models.PositiveIntegerField(_("每分钟最多条数"), null=True, blank=True)
    is_system = models.BooleanField(default=False, editable=False)  # the built-in in-app channel
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.UNTESTED)
    last_error = models.TextField(_("最近错误"), blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(_("最近发送"), null=True, blank=True)
    paused_until = models.DateTimeField(_("暂停至"), null=True, blank=True)  # the provider asked us to wait
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("通知通道")
        verbose_name_plural = _("通知通道")

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("失败")
        MERGED = "merged", _("已并入摘要")
        CANCELLED = "cancelled", _("已取消")

    class Event(models.TextChoices):
        FINDING = "finding", _("预警")
        DIGEST = "digest", _("摘要")
        TEST = "test", _("测试消息")
        CHANNEL_FAILING = "channel_failing", _("通道故障")
        # Messages to an employee about their case (a letter's link, a one-time code): immediate,
        # never held for quiet hours nor merged into a digest.
        CASE_LETTER = "case_letter", _("函件送达")
        OTP = "otp", _("验证码")
        # Messages to the auditors and HR admins about the evidence ledger, worded from the
        # context their sender gives (``services.staff_message_enqueue``).
        EVIDENCE_CHECKPOINT = "evidence_checkpoint", _("证据链校验点")
        EVIDENCE_BROKEN = "evidence_broken", _("证据链校验失败")

    class Mode(models.TextChoices):
        IMMEDIATE = "immediate", _("立即")
        DIGEST = "digest", _("每日摘要")

    event = models.CharField(_("事件"), max_length=20, choices=Event.choices)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    transition = models.ForeignKey(
        "rules.FindingTransition", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finding = models.ForeignKey(
        "rules.Finding", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    # The recipient: a user, an employee, or nobody (a group robot, a webhook, a group mailbox).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    employee = models.ForeignKey(
        "roster.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address_enc = models.TextField(blank=True, editable=False)  # email address or mobile, encrypted
    address_masked = models.CharField(_("收件地址"), max_length=120, blank=True)
    dest_key = models.CharField(max_length=80, blank=True)  # u<user> / e<employee> / g: who, for merging
    audience = models.CharField(max_length=10, default="staff")  # staff | employee
    severity = models.CharField(_("严重程度"), max_length=10, blank=True)
    mode = models.CharField(_("发送方式"), max_length=10, choices=Mode.choices, default=Mode.IMMEDIATE)
    idempotency_key = models.CharField(max_length=120, unique=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField(_("计划发送"))
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    # Rendered once, at the first attempt: every retry sends exactly the same message.
    rendered = models.BooleanField(default=False)
    subject = models.CharField(_("标题"), max_length=300, blank=True)
    body = models.TextField(_("正文"), blank=True)
    html = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)  # sms params, webhook payload, digest items
    provider_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["user", "read_at"], name="notification_inbox"),
            models.Index(fields=["channel", "status"], name="notification_channel"),
        ]

    def __str__(self) -> str:
        return self.subject or self.idempotency_key


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    number = models.PositiveIntegerField(_("第几次"))
    started_at = models.DateTimeField(_("开始时间"))
    duration_ms = models.PositiveIntegerField(_("耗时（毫秒）"), default=0)
    ok = models.BooleanField(_("成功"), default=False)
    permanent = models.BooleanField(_("不再重试"), default=False)
    status_code = models.IntegerField(_("响应码"), null=True, blank=True)
    error_code = models.CharField(_("错误码"), max_length=80, blank=True)
    error = models.TextField(_("错误"), blank=True)
    response = models.TextField(_("响应摘要"), blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    retry_at = models.DateTimeField(_("下次重试"), null=True, blank=True)

    class Meta:
        ordering = ["notification_id", "number"]
        verbose_name = _("发送记录")
        verbose_name_plural = _("发送记录")

    def __str__(self) -> str:
        return f"#{self.notification_id} 第{self.number}次"


class MessageTemplate(models.Model):
    """An HR-edited message template (Django template syntax, rendered in a sandbox); without
    one, the shipped default for the event and format is used."""

    class Format(models.TextChoices):
        EMAIL = "email", _("邮件")
        MARKDOWN = "markdown", _("群机器人（Markdown）")
        TEXT = "text", _("纯文本（站内信、飞书文本）")
        SMS = "sms", _("短信模板参数")

    # A rule kind code (medical_interrupted …), or: finding (every kind), employee (to the
    # employee), digest, test, channel_failing, case_letter, otp, evidence_checkpoint,
    # evidence_broken.
    event = models.CharField(_("事件"), max_length=40)
    format = models.CharField(_("格式"), max_length=10, choices=Format.choices)
    language = models.CharField(_("语言"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    subject = models.CharField(_("标题模板"), max_length=300, blank=True)
    body = models.TextField(_("正文模板"))
    html = models.TextField(_("HTML 正文模板"), blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event", "format", "language"]
        verbose_name = _("消息模板")
        verbose_name_plural = _("消息模板")
        constraints = [
            models.UniqueConstraint(fields=["event", "format", "language"], name="message_template_key")
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.format}/{self.language}"


class Preference(models.Model):
    """How a user wants to hear about findings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preference"
    )
    channels = models.JSONField(_("接收方式"), default=list, blank=True)  # inapp / email / sms
    phone_enc = models.TextField(blank=True, editable=False)
    phone_masked = models.CharField(_("手机号"), max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("通知偏好")
        verbose_name_plural = _("通知偏好")

    def __str__(self) -> str:
        return f"{self.user_id}: {','.join(self.channels or [])}"


class TokenBucket(models.Model):
    """A rate limit (healthchecks' TokenBucket): ``tokens`` refill continuously up to the capacity."""

    key = models.CharField(max_length=80, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f}"
