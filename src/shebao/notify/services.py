"""Writes of the notifications room: channels, templates, preferences, the outbox.

The outbox, end to end:

1. ``notifications_enqueue`` runs inside the transaction that writes finding transitions (the
   rules engine and the finding services call it): one ``Notification`` per transition ×
   destination, keyed ``t<transition>:c<channel>:<recipient>`` (unique, so never twice). In-app
   rows are delivered right there; the rest are due now, after the quiet hours, or at the
   digest time.
2. ``notifications_flush`` (the worker, every minute and right after an enqueue; or
   ``shebao notify flush``) releases the leases of workers that died, merges bursts and digests,
   applies each channel's token bucket, and sends what is due — each notification claimed by a
   conditional UPDATE first, so two workers never send one. Every try is a ``DeliveryAttempt``.
3. Transient errors retry with exponential backoff (1, 2, 4 … 30 minutes, for up to 48 hours);
   a provider's "wait" (a DingTalk robot blocked for 10 minutes) pauses the whole channel.
   Permanent errors stop the retries; when the channel itself is broken (bad credentials,
   unknown template) it is marked failing and the HR admins are told in-app.

Messages to an employee about their case (``employee_message_enqueue``: a letter's signed link,
a one-time code) use the same outbox, keyed by the caller's key × channel × employee. They are
immediate — no quiet hours, no digest, never merged — and ``notifications_flush_one`` sends one
at once (a code must not wait for the worker). A one-time code is kept encrypted in its row and
masked in everything readable (the delivery log shows the message without it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext

from shebao.audit.services import audit_record
from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.core.identity import mask_phone
from shebao.notify import rendering
from shebao.notify.models import (
    Channel,
    DeliveryAttempt,
    MessageTemplate,
    Notification,
    Preference,
    TokenBucket,
)
from shebao.notify.routing import PERSONAL_DEFAULT, PERSONAL_KINDS, due_time, routing_of
from shebao.notify.transports import (
    TRANSPORTS,
    WORK_KINDS,
    Message,
    Transport,
    TransportError,
    transport_class,
)

logger = logging.getLogger(__name__)

N = Notification
ADDRESS_PURPOSE = "notify.address"
PHONE_PURPOSE = "notify.phone"
LEASE = dt.timedelta(minutes=5)  # a send taking longer than this is taken as a dead worker's
MAX_AGE = dt.timedelta(hours=48)  # retried this long at most
MAX_ATTEMPTS = 120  # the 48 hours end first (backoff reaches 30 minutes)
BACKOFF_FIRST, BACKOFF_MAX = 60.0, 1800.0
BURST = 5  # more than this many due at once for one destination are merged into one digest
DIGEST_ITEMS = 50  # listed in a digest; the rest are counted
DEFAULT_RATE = {"dingtalk": 20, "wecom": 20, "feishu": 100}  # messages per minute (providers' limits)
IN_CHUNK = 900
SMS_KINDS = ("sms_aliyun", "sms_tencent")
# "work": a DingTalk work notice / WeCom app message to the member with the employee's mobile.
EMPLOYEE_KINDS = ("sms", "work", "email", "inapp")
# Context values that are secrets (a one-time code): encrypted in the row, masked in what is
# stored readable, dropped once sent; such messages are never in-app (the row is the message).
SECRET_CONTEXT = {"otp": ("code",)}
SECRET_MASK = "******"
CONTEXT_PURPOSE = "notify.context"


def _can_admin(actor: Actor) -> None:
    from shebao.accounts.permissions import can_admin

    if actor.user is not None and not can_admin(actor.user):
        raise PermissionDenied("只有人事管理员可以管理通知通道和消息模板")


# --- channels -------------------------------------------------------------------------------------


def channel_secrets(channel: Channel) -> dict[str, Any]:
    if not channel.secrets_enc:
        return {}
    return json.loads(crypto.decrypt(channel.secrets_enc, purpose=f"notify.channel.{channel.pk or 'new'}"))


def _store_secrets(channel: Channel, secrets: dict[str, Any]) -> None:
    channel.secrets_enc = (
        crypto.encrypt(json.dumps(secrets, ensure_ascii=False), purpose=f"notify.channel.{channel.pk}")
        if secrets
        else ""
    )


def channel_transport(channel: Channel) -> Transport:
    cls = transport_class(channel.kind)
    return cls(
        {**channel.config, **channel_secrets(channel)}, allow_private=settings.SHEBAO_ALLOW_PRIVATE_URLS
    )


def _check_urls(cls: type[Transport], config: dict[str, Any], *, allow_private: bool | None = None) -> None:
    from shebao.core.http import HttpError, check_url

    if allow_private is None:
        allow_private = settings.SHEBAO_ALLOW_PRIVATE_URLS
    for name in ("url", "endpoint"):
        value = config.get(name)
        if not value:
            continue
        try:
            check_url(value, allow_private=allow_private)
        except HttpError as exc:
            if exc.transient:  # DNS down now: saved; every send checks the address again
                continue
            raise ApplicationError(f"{name}：{exc}", field_errors={name: str(exc)}) from None


def _clean_channel(
    kind: str,
    name: str,
    config: dict[str, Any],
    rate_limit: int | None,
    language: str,
    *,
    allow_private: bool | None = None,
) -> tuple[type[Transport], dict[str, Any], dict[str, Any]]:
    if kind not in TRANSPORTS or kind == "inapp":
        choices = "、".join(k for k in TRANSPORTS if k != "inapp")
        raise ApplicationError(f"通道类型“{kind}”无效（可选：{choices}）", field_errors={"kind": "类型无效"})
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ApplicationError("请填写通道名称（不超过80字）", field_errors={"name": "请填写名称"})
    if rate_limit is not None and not 1 <= rate_limit <= 10000:
        raise ApplicationError("每分钟条数应在 1 到 10000 之间", field_errors={"rate_limit": "超出范围"})
    if language not in dict(settings.LANGUAGES):
        raise ApplicationError(f"语言“{language}”无效", field_errors={"language": "语言无效"})
    cls = transport_class(kind)
    clean = cls.validate(config)
    _check_urls(cls, clean, allow_private=allow_private)
    secrets = {k: clean.pop(k) for k in cls.secret_fields if k in clean and clean[k] not in (None, "")}
    for k in cls.secret_fields:
        clean.pop(k, None)
    return cls, clean, secrets


@transaction.atomic
def channel_create(
    *,
    actor: Actor,
    kind: str,
    name: str,
    config: dict[str, Any],
    enabled: bool = True,
    for_people: bool = False,
    language: str = "zh-hans",
    rate_limit: int | None = None,
    allow_private: bool | None = None,
) -> Channel:
    """Add a channel; secrets are encrypted, URLs checked against private addresses (SSRF) —
    allowed with setting SHEBAO_ALLOW_PRIVATE_URLS, or ``allow_private=True`` (the demo's
    loopback sinks; sending to them still needs the setting)."""
    _can_admin(actor)
    if Channel.objects.filter(name=(name or "").strip()).exists():
        raise ApplicationError(f"已有名为“{name}”的通道", field_errors={"name": "名称重复"})
    cls, clean, secrets = _clean_channel(
        kind, name, config, rate_limit, language, allow_private=allow_private
    )
    channel = Channel.objects.create(
        kind=kind,
        name=name.strip(),
        config=clean,
        enabled=enabled,
        for_people=for_people and cls.personal,
        language=language,
        rate_limit=rate_limit if rate_limit is not None else DEFAULT_RATE.get(kind),
        created_by=actor.user,
    )
    _store_secrets(channel, secrets)
    channel.save(update_fields=["secrets_enc"])
    audit_record(
        actor=actor,
        action="channel.create",
        obj=channel,
        changes={"kind": kind, "config": clean, "secrets": sorted(secrets)},
    )
    return channel


@transaction.atomic
def channel_update(
    *,
    actor: Actor,
    channel: Channel,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    enabled: bool | None = None,
    for_people: bool | None = None,
    language: str | None = None,
    rate_limit: int | None | bool = False,  # False: unchanged
) -> Channel:
    """Change a channel. A secret left empty in ``config`` keeps its stored value."""
    _can_admin(actor)
    if channel.is_system:
        raise ApplicationError("站内信通道是内置通道，不能修改")
    name = channel.name if name is None else name
    if Channel.objects.filter(name=name.strip()).exclude(pk=channel.pk).exists():
        raise ApplicationError(f"已有名为“{name}”的通道", field_errors={"name": "名称重复"})
    old_secrets = channel_secrets(channel)
    merged = {**channel.config, **old_secrets}
    if config is not None:
        merged = {**config}
        for k in transport_class(channel.kind).secret_fields:
            if not merged.get(k) and old_secrets.get(k):
                merged[k] = old_secrets[k]
    rate = channel.rate_limit if rate_limit is False else rate_limit
    lang = language or channel.language
    cls, clean, secrets = _clean_channel(channel.kind, name, merged, rate, lang)
    before = {"name": channel.name, "config": channel.config, "enabled": channel.enabled}
    channel.name = name.strip()
    channel.config = clean
    channel.rate_limit = rate
    channel.language = lang
    if enabled is not None:
        channel.enabled = enabled
    if for_people is not None:
        channel.for_people = for_people and cls.personal
    if clean != before["config"] or secrets != old_secrets:  # new settings: re-learn the state
        channel.status, channel.failing_since, channel.last_error, channel.paused_until = (
            Channel.Status.UNTESTED, None, "", None,
        )  # fmt: skip
    _store_secrets(channel, secrets)
    channel.save()
    audit_record(
        actor=actor,
        action="channel.update",
        obj=channel,
        changes={
            "before": before,
            "after": {"name": channel.name, "config": clean, "enabled": channel.enabled},
            "secrets_changed": sorted(k for k in secrets if secrets[k] != old_secrets.get(k)),
        },
    )
    return channel


@transaction.atomic
def channel_delete(*, actor: Actor, channel: Channel) -> None:
    _can_admin(actor)
    if channel.is_system:
        raise ApplicationError("站内信通道是内置通道，不能删除")
    pending = channel.notifications.filter(status__in=[N.Status.PENDING, N.Status.SENDING]).count()
    if pending:
        raise ApplicationError(f"通道还有 {pending} 条待发送的通知：请先停用通道，待其发完或取消后再删除")
    audit_record(actor=actor, action="channel.delete", obj=channel, changes={"kind": channel.kind})
    channel.delete()


def inapp_channel() -> Channel:
    channel = Channel.objects.filter(kind="inapp", is_system=True).first()
    if channel is None:
        channel, _ = Channel.objects.get_or_create(
            name="站内信", defaults={"kind": "inapp", "is_system": True, "status": Channel.Status.OK}
        )
    return channel


@dataclass
class TestOutcome:
    ok: bool
    error: str
    notification: Notification


def channel_test(
    *, actor: Actor, channel: Channel, to: str = "", now: dt.datetime | None = None
) -> TestOutcome:
    """Send a test message through ``channel`` now (no retries) and record it like any other."""
    _can_admin(actor)
    now = now or timezone.now()
    cls = transport_class(channel.kind)
    user = actor.user
    address = (to or "").strip()
    if cls.personal and channel.kind != "inapp" and not address and not channel.config.get("to"):
        if channel.kind == "email" and user is not None and user.email:
            address = user.email
        elif (channel.kind.startswith("sms") or channel.kind in WORK_KINDS) and user is not None:
            pref = Preference.objects.filter(user=user).first()
            if pref and pref.phone_enc:
                address = crypto.decrypt(pref.phone_enc, purpose=PHONE_PURPOSE)
        if not address:
            raise ApplicationError("请填写测试消息的接收地址（邮箱或手机号）", field_errors={"to": "请填写"})
    n = Notification.objects.create(
        event=N.Event.TEST,
        channel=channel,
        user=user if channel.kind == "inapp" else None,
        address_enc=crypto.encrypt(address, purpose=ADDRESS_PURPOSE) if address else "",
        address_masked=_mask(address),
        dest_key=f"t{uuid.uuid4().hex[:12]}",
        idempotency_key=f"test:{channel.pk}:{uuid.uuid4().hex}",
        due_at=now,
        next_attempt_at=now,
        created_at=now,
        extra={"actor": user.username if user else "系统"},
    )
    _deliver(n, now, test=True)
    n.refresh_from_db()
    audit_record(
        actor=actor,
        action="channel.test",
        obj=channel,
        changes={"ok": n.status == N.Status.SENT, "error": n.last_error[:300]},
    )
    return TestOutcome(n.status == N.Status.SENT, n.last_error, n)


def _mask(address: str) -> str:
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:2]}***@{domain}"
    digits = address[-11:] if len(address) >= 11 else address
    return mask_phone(digits) if len(digits) == 11 else address[:3] + "***"


# --- preferences and templates --------------------------------------------------------------------


@transaction.atomic
def preference_update(*, actor: Actor, user, channels: Iterable[str], phone: str | None = None) -> Preference:
    """A user's choice of channels (in-app, email, SMS) and mobile number for SMS."""
    if actor.user is not None and actor.user.pk != user.pk:
        _can_admin(actor)
    chosen = list(dict.fromkeys(channels))
    bad = [c for c in chosen if c not in PERSONAL_KINDS]
    if bad:
        raise ApplicationError(f"接收方式无效：{'、'.join(bad)}", field_errors={"channels": "无效"})
    pref, _ = Preference.objects.get_or_create(user=user)
    if phone is not None:
        phone = phone.strip().replace(" ", "").removeprefix("+86")
        if phone and not (len(phone) == 11 and phone.isdigit() and phone.startswith("1")):
            raise ApplicationError(
                f"手机号“{phone}”无效（应为11位数字）", field_errors={"phone": "手机号无效"}
            )
        pref.phone_enc = crypto.encrypt(phone, purpose=PHONE_PURPOSE) if phone else ""
        pref.phone_masked = mask_phone(phone) if phone else ""
    if "sms" in chosen and not pref.phone_enc:
        raise ApplicationError("选择短信接收，请填写手机号", field_errors={"phone": "请填写手机号"})
    if "email" in chosen and not user.email:
        raise ApplicationError("选择邮件接收，请先在账号中填写邮箱", field_errors={"channels": "没有邮箱"})
    pref.channels = chosen
    pref.save()
    audit_record(actor=actor, action="notify.preference", obj=user, changes={"channels": chosen})
    return pref


@transaction.atomic
def template_save(
    *, actor: Actor, event: str, format: str, language: str, subject: str, body: str, html: str = ""
) -> MessageTemplate:
    """Save HR's template for an event and format; it must render against a sample finding."""
    from shebao.rules.kinds import KINDS

    _can_admin(actor)
    if event not in rendering.EVENTS_FIXED and event not in KINDS:
        raise ApplicationError(f"事件“{event}”无效", field_errors={"event": "事件无效"})
    if format not in MessageTemplate.Format.values:
        raise ApplicationError(f"格式“{format}”无效", field_errors={"format": "格式无效"})
    if not (body or "").strip():
        raise ApplicationError("正文模板不能为空", field_errors={"body": "请填写"})
    parts = rendering.Parts(subject or "", body, html or "")
    template_preview(event=event, format=format, language=language, parts=parts)  # raises on error
    row, created = MessageTemplate.objects.update_or_create(
        event=event,
        format=format,
        language=language,
        defaults={"subject": subject or "", "body": body, "html": html or "", "updated_by": actor.user},
    )
    audit_record(
        actor=actor,
        action="notify.template.save",
        obj=row,
        changes={"event": event, "format": format, "language": language, "created": created},
    )
    return row


@transaction.atomic
def template_reset(*, actor: Actor, event: str, format: str, language: str) -> bool:
    _can_admin(actor)
    deleted, _ = MessageTemplate.objects.filter(event=event, format=format, language=language).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="notify.template.reset",
            changes={"event": event, "format": format, "language": language},
        )
    return bool(deleted)


def template_preview(
    *, event: str, format: str, language: str, parts: rendering.Parts | None = None, finding=None
) -> rendering.Rendered:
    """Render a template (HR's draft ``parts``, or the stored one) with a real finding of the
    event's kind when there is one, else a sample."""
    context = _preview_context(event, language, finding)
    names = _preview_sms_names(event)
    return rendering.render_message(
        event=event,
        fmt=format,
        language=language,
        context=context,
        fallback="finding",
        sms_names=names,
        parts=parts,
    )


PREVIEW_SMS_NAMES = {"case_letter": ["name", "title", "deadline", "link"], "otp": ["code"]}


def _preview_sms_names(event: str) -> list[str]:
    """The SMS parameters a preview checks: those the first SMS channel for people sends the
    event with, else the usual ones."""
    sms_event = event if event in ("digest", "test", *rendering.EMPLOYEE_EVENTS) else "finding"
    channel = Channel.objects.filter(enabled=True, for_people=True, kind__in=SMS_KINDS).order_by("id").first()
    names: list[str] = []
    if channel is not None:
        try:
            names = channel_transport(channel).sms_template(sms_event)[1]
        except Exception:  # a channel saved before its configuration rules changed: use the usual
            logger.warning("notify: SMS channel %s: configuration unreadable", channel.pk, exc_info=True)
    return names or list(PREVIEW_SMS_NAMES.get(event, ["name", "title", "deadline"]))


def _preview_context(event: str, language: str, finding) -> dict[str, Any]:
    from shebao.rules.models import Finding

    if event in rendering.EMPLOYEE_EVENTS:
        return rendering.sample_employee_context(event, language)
    if event in rendering.STAFF_EVENTS:
        return rendering.sample_staff_context(event, language)
    if event == "test":
        return {
            "channel": "示例通道",
            "actor": "admin",
            "sent_at": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
        }
    if event == "channel_failing":
        return {"channel": "示例通道", "kind_label": "钉钉群机器人", "error": "签名不匹配（errcode 310000）"}
    if finding is None:
        qs = Finding.objects.select_related("rule", "entity", "department", "employee", "person")
        if event not in rendering.EVENTS_FIXED:
            qs = qs.filter(kind=event)
        finding = qs.order_by("-id").first()
    one = (
        rendering.finding_context(finding, language=language)
        if finding
        else rendering.sample_context(language)
    )
    if event == "digest":
        return {
            "count": 3,
            "items": [one, one, one],
            "more": 0,
            "reason": "每日摘要：",
            "entity": one["entity"],
            "inbox_link": rendering.link("/rules/findings/"),
        }
    return one


# --- enqueue --------------------------------------------------------------------------------------


@dataclass
class _Directory:
    """Who is who, loaded once per enqueue."""

    staff: list[tuple[int, str, str, set[int]]]  # (user id, role, email, entity ids)
    managers: dict[int, list[tuple[int, str]]]  # department id → [(user id, email)]
    dept_path: dict[int, str]
    prefs: dict[int, tuple[list[str], str]]  # user id → (channels, phone_enc)
    users: dict[int, str]  # active user id → email
    employee_user: dict[int, int]
    inapp: Channel
    email: Channel | None
    sms: Channel | None
    groups: dict[int, Channel]


def _directory() -> _Directory:
    from shebao.accounts.models import Role, User
    from shebao.org.models import Department

    staff = []
    users: dict[int, str] = {}
    employee_user: dict[int, int] = {}
    managers: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for u in User.objects.filter(is_active=True).prefetch_related("entities").order_by("id"):
        users[u.pk] = u.email
        if u.employee_id:
            employee_user[u.employee_id] = u.pk
        if u.role in (Role.HR_ADMIN, Role.HR_SPECIALIST):
            staff.append((u.pk, u.role, u.email, {e.pk for e in u.entities.all()}))
        elif u.role == Role.DEPT_MANAGER and u.department_id:
            managers[u.department_id].append((u.pk, u.email))
    prefs = {
        p.user_id: (list(p.channels or []), p.phone_enc)
        for p in Preference.objects.filter(user_id__in=list(users))
    }
    personal = Channel.objects.filter(enabled=True, for_people=True).order_by("id")
    return _Directory(
        staff=staff,
        managers=dict(managers),
        dept_path=dict(Department.objects.values_list("id", "path")),
        prefs=prefs,
        users=users,
        employee_user=employee_user,
        inapp=inapp_channel(),
        email=personal.filter(kind="email").first(),
        sms=personal.filter(kind__in=["sms_aliyun", "sms_tencent"]).first(),
        groups={c.pk: c for c in Channel.objects.filter(enabled=True).exclude(kind="inapp")},
    )


def _entity_hr(d: _Directory, entity_id: int | None) -> list[int]:
    from shebao.accounts.models import Role

    specialists = [uid for uid, role, _e, ents in d.staff if role == Role.HR_SPECIALIST and entity_id in ents]
    if specialists:
        return specialists
    return [uid for uid, role, _e, _ents in d.staff if role == Role.HR_ADMIN]


def _manager(d: _Directory, department_id: int | None) -> list[int]:
    if department_id is None:
        return []
    path = d.dept_path.get(department_id, "")
    for dep in reversed([int(p) for p in path.strip("/").split("/") if p]):
        if dep in d.managers:
            return [uid for uid, _ in d.managers[dep]]
    return []


def _user_destinations(d: _Directory, uid: int) -> list[tuple[Channel, str]]:
    chosen, phone_enc = d.prefs.get(uid, (PERSONAL_DEFAULT, ""))
    out: list[tuple[Channel, str]] = []
    for kind in chosen:
        if kind == "inapp":
            out.append((d.inapp, ""))
        elif kind == "email" and d.email is not None and d.users.get(uid):
            out.append((d.email, d.users[uid]))
        elif kind == "sms" and d.sms is not None and phone_enc:
            out.append((d.sms, crypto.decrypt(phone_enc, purpose=PHONE_PURPOSE)))
    if not any(c.kind == "inapp" for c, _ in out):
        out.insert(0, (d.inapp, ""))  # the inbox always has it: nothing is only in a mailbox
    return out


class _Rows:
    """The notifications of one enqueue: one per (transition, channel, recipient)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.rows: list[Notification] = []

    def start(self, transition_id: int, finding_id: int, severity: str, mode: str, due: dt.datetime) -> None:
        self.transition_id, self.finding_id, self.severity = transition_id, finding_id, severity
        self.mode, self.due = mode, due
        self.seen: set[tuple[int, str]] = set()

    def add(
        self, channel: Channel, dest: str, *, user=None, employee=None, address="", audience="staff"
    ) -> None:
        if (channel.pk, dest) in self.seen:
            return
        self.seen.add((channel.pk, dest))
        inapp = channel.kind == "inapp"
        due = self.now if inapp else self.due
        self.rows.append(
            Notification(
                event=N.Event.FINDING,
                channel=channel,
                transition_id=self.transition_id,
                finding_id=self.finding_id,
                user_id=user,
                employee_id=employee,
                address_enc=crypto.encrypt(address, purpose=ADDRESS_PURPOSE) if address else "",
                address_masked=_mask(address),
                dest_key=dest,
                audience=audience,
                severity=self.severity,
                mode=N.Mode.IMMEDIATE if inapp else self.mode,
                idempotency_key=f"t{self.transition_id}:c{channel.pk}:{dest}",
                # In-app is delivered here: the row is the message, written in this transaction.
                status=N.Status.SENT if inapp else N.Status.PENDING,
                sent_at=self.now if inapp else None,
                due_at=due,
                next_attempt_at=due,
                created_at=self.now,
            )
        )


def notifications_enqueue(*, transitions: Iterable, now: dt.datetime | None = None) -> int:
    """Write the notifications of finding transitions; call inside the transaction that wrote
    them (``rules.engine.transitions_record`` does). Openings and reopenings notify;
    resolutions only where the rule asks. Returns the number written. (``processed_at`` stays
    for the transitions' other consumers, claimed as before.)"""
    from shebao.roster.models import Employee
    from shebao.rules.models import AlertRule, Finding

    transitions = [t for t in transitions if t.pk is not None]
    if not transitions:
        return 0
    now = now or timezone.now()
    d = _directory()
    if not (d.users or d.groups):
        return 0  # nobody to tell (a new instance, a benchmark): read no finding
    by_finding: dict[int, list] = defaultdict(list)
    for t in transitions:
        if t.to_status in ("open", "resolved"):
            by_finding[t.finding_id].append(t)
    findings: dict[int, tuple] = {}
    ids = sorted(by_finding)
    for i in range(0, len(ids), IN_CHUNK):
        for row in Finding.objects.filter(pk__in=ids[i : i + IN_CHUNK]).values_list(
            "id", "rule_id", "entity_id", "department_id", "employee_id", "severity"
        ):
            findings[row[0]] = row
    routings = {
        pk: routing_of(r) for pk, r in AlertRule.objects.filter(
            pk__in={f[1] for f in findings.values()}
        ).values_list("id", "routing")
    }  # fmt: skip
    if not any(r.recipients for r in routings.values()):
        return 0
    employees: dict[int, tuple[str, str]] = {}
    wanted_employees = {f[4] for f in findings.values() if f[4] and "employee" in routings[f[1]].recipients}
    if wanted_employees:
        from shebao.roster.models import PHONE_PURPOSE as EMP_PHONE

        for pk, phone_enc, email in Employee.objects.filter(pk__in=wanted_employees).values_list(
            "id", "phone_enc", "email"
        ):
            employees[pk] = (crypto.decrypt(phone_enc, purpose=EMP_PHONE) if phone_enc else "", email)
    wanted_cases = [fid for fid, f in findings.items() if "case_assignee" in routings[f[1]].recipients]
    assignees = _case_assignees(wanted_cases) if wanted_cases else {}
    rows = _Rows(now)
    for fid, ts in by_finding.items():
        f = findings.get(fid)
        if f is None:
            continue
        _fid, rule_id, entity_id, department_id, employee_id, severity = f
        routing = routings[rule_id]
        for t in ts:
            if t.to_status == "resolved" and not routing.notify_resolved:
                continue
            mode = routing.mode(severity)
            if mode == "off":
                continue
            rows.start(t.pk, fid, severity, mode, due_time(routing, mode, now))
            people: list[int] = []
            if "entity_hr" in routing.recipients:
                people += _entity_hr(d, entity_id)
            if "department_manager" in routing.recipients:
                people += _manager(d, department_id)
            if "users" in routing.recipients:
                people += [u for u in routing.users if u in d.users]
            if "case_assignee" in routing.recipients:
                # the case's owner; nobody (no case, no assignee, or not an active user): entity HR
                assignee = assignees.get(fid)
                people += [assignee] if assignee in d.users else _entity_hr(d, entity_id)
            for uid in dict.fromkeys(people):
                for channel, address in _user_destinations(d, uid):
                    rows.add(channel, f"u{uid}", user=uid, address=address)
            if "employee" in routing.recipients and employee_id and t.to_status == "open":
                phone, email = employees.get(employee_id, ("", ""))
                if employee_id in d.employee_user:
                    rows.add(
                        d.inapp, f"e{employee_id}", user=d.employee_user[employee_id], audience="employee"
                    )
                if d.sms is not None and phone:
                    rows.add(
                        d.sms, f"e{employee_id}", employee=employee_id, address=phone, audience="employee"
                    )
                if d.email is not None and email:
                    rows.add(
                        d.email, f"e{employee_id}", employee=employee_id, address=email, audience="employee"
                    )
            if "group_robot" in routing.recipients:
                for cid in routing.channels:
                    if cid in d.groups:
                        rows.add(d.groups[cid], "g")
    rows = rows.rows
    if rows:
        Notification.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        if any(r.status == N.Status.PENDING for r in rows):
            transaction.on_commit(_flush_soon)
    return len(rows)


def _case_assignees(finding_ids: list[int]) -> dict[int, int | None]:
    """Finding id → the assignee of the case it is about (``details["case_id"]``, set by the
    case rule kinds); None where the case has none."""
    from shebao.cases.models import Case
    from shebao.rules.models import Finding

    case_of: dict[int, int] = {}
    for i in range(0, len(finding_ids), IN_CHUNK):
        for fid, details in Finding.objects.filter(pk__in=finding_ids[i : i + IN_CHUNK]).values_list(
            "id", "details"
        ):
            case_id = (details or {}).get("case_id") if isinstance(details, dict) else None
            if isinstance(case_id, int) or (isinstance(case_id, str) and case_id.isdigit()):
                case_of[fid] = int(case_id)
    owners = dict(Case.objects.filter(pk__in=set(case_of.values())).values_list("id", "assignee_id"))
    return {fid: owners.get(case_id) for fid, case_id in case_of.items()}


def _flush_soon() -> None:
    try:
        from shebao.notify.tasks import notifications_flush_task

        notifications_flush_task()
    except Exception:  # the minute's schedule catches up; enqueuing must never fail the caller
        logger.exception("notify: could not queue a flush")


# --- messages to an employee about their case -----------------------------------------------------


def _check_plain(value: Any, path: str = "context") -> None:
    """Only plain values go in a message's context (kept as JSON, rendered in the sandbox)."""
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} 的键应为文本：{k!r}")
            _check_plain(item, f"{path}.{k}")
        return
    raise TypeError(f"{path} 应为文本、数字、列表或字典，不能是 {type(value).__name__}（请先格式化）")


def _outbox_write(rows: list[Notification], keys: list[str]) -> list[Notification]:
    """Write keyed rows once (a concurrent call's rows stay theirs), flush after commit when any
    waits to be sent, and return the rows of ``keys`` as stored."""
    if rows:
        N.objects.bulk_create(rows, ignore_conflicts=True)
        if any(r.status == N.Status.PENDING for r in rows):
            transaction.on_commit(_flush_soon)
    by_key = {
        n.idempotency_key: n for n in N.objects.filter(idempotency_key__in=keys).select_related("channel")
    }
    return [by_key[k] for k in keys if k in by_key]


def employee_message_enqueue(
    *,
    event: str,
    employee,
    key: str,
    context: dict[str, Any],
    kinds: Iterable[str] = EMPLOYEE_KINDS,
    ref: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> list[Notification]:
    """Write the messages of ``event`` (``case_letter``: a letter's link; ``otp``: a one-time
    code) to ``employee``: one outbox row per destination among ``kinds`` that exists — in-app
    when a user account is linked to the employee (delivered here), SMS through the first enabled
    SMS channel for people when the employee has a mobile number, a work notice through the
    first enabled DingTalk work notice / WeCom app channel for people to the member with that
    mobile number (never a one-time code: codes go by SMS only), email through the first such
    email channel when they have an address. Call inside the caller's transaction: the rows are
    written with it and flushed when it commits.

    Keyed ``<key>:c<channel>:e<employee>``: called again with the same ``key`` it writes nothing
    and returns the rows already written. ``context`` holds plain values (text, numbers, lists,
    dicts) for the templates; ``employee_name`` and ``company`` default to the employee's. The
    messages are immediate: no quiet hours, no digest, never merged. ``ref`` (case id, letter
    number) says what the message is about: each delivery attempt goes into the evidence ledger
    with it. Returns the rows (none when the employee cannot be reached)."""
    from shebao.accounts.models import User
    from shebao.roster.models import PHONE_PURPOSE as EMP_PHONE

    if event not in rendering.EMPLOYEE_EVENTS:
        raise ValueError(f"事件“{event}”不是给员工的消息（可选：{'、'.join(rendering.EMPLOYEE_EVENTS)}）")
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in EMPLOYEE_KINDS]
    if unknown:
        raise ValueError(f"发送方式无效：{'、'.join(unknown)}（可选：{'、'.join(EMPLOYEE_KINDS)}）")
    key = str(key or "").strip()
    if not key or len(key) > 64 or ":" in key:
        raise ValueError(f"幂等键“{key}”无效（1–64 个字符，不含冒号）")
    if not isinstance(context, dict):
        raise TypeError("context 应为字典")
    _check_plain(context)
    now = now or timezone.now()
    full = {"employee_name": employee.name, "company": employee.entity.name if employee.entity_id else ""}
    full.update(context)
    secret_keys = SECRET_CONTEXT.get(event, ())
    secrets = {k: full[k] for k in secret_keys if k in full}
    extra: dict[str, Any] = {
        "context": {k: (SECRET_MASK if k in secrets else v) for k, v in full.items()},
        "link": str(full.get("link") or ""),
    }
    if ref:  # what the message is about (case id, letter number): kept with its evidence
        extra["ref"] = {str(k): v for k, v in ref.items() if isinstance(v, str | int)}
    if secrets:
        extra["secret_enc"] = crypto.encrypt(json.dumps(secrets, ensure_ascii=False), purpose=CONTEXT_PURPOSE)

    personal = Channel.objects.filter(enabled=True, for_people=True).order_by("id")
    destinations: list[tuple[Channel, str, int | None]] = []  # (channel, address, user id)
    for kind in kinds:
        if kind == "inapp" and not secret_keys:
            uid = User.objects.filter(employee=employee, is_active=True).values_list("id", flat=True).first()
            if uid is not None:
                destinations.append((inapp_channel(), "", uid))
        elif kind == "sms" and employee.phone_enc:
            channel = personal.filter(kind__in=SMS_KINDS).first()
            if channel is not None:
                destinations.append((channel, crypto.decrypt(employee.phone_enc, purpose=EMP_PHONE), None))
        elif kind == "work" and employee.phone_enc and not secret_keys and event != "otp":
            # the company's DingTalk / WeCom app, to the member with this mobile; never a code
            channel = personal.filter(kind__in=WORK_KINDS).first()
            if channel is not None:
                destinations.append((channel, crypto.decrypt(employee.phone_enc, purpose=EMP_PHONE), None))
        elif kind == "email" and employee.email:
            channel = personal.filter(kind="email").first()
            if channel is not None:
                destinations.append((channel, employee.email, None))
    keys = [f"{key}:c{channel.pk}:e{employee.pk}" for channel, _a, _u in destinations]
    existing = set(N.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    rows: list[Notification] = []
    for (channel, address, uid), idem in zip(destinations, keys, strict=True):
        if idem in existing:
            continue
        inapp = channel.kind == "inapp"
        n = Notification(
            event=event,
            channel=channel,
            user_id=uid,
            employee_id=employee.pk,
            address_enc=crypto.encrypt(address, purpose=ADDRESS_PURPOSE) if address else "",
            address_masked=_mask(address),
            dest_key=f"e{employee.pk}",
            audience="employee",
            mode=N.Mode.IMMEDIATE,
            idempotency_key=idem,
            status=N.Status.SENT if inapp else N.Status.PENDING,
            sent_at=now if inapp else None,
            due_at=now,
            next_attempt_at=now,
            created_at=now,
            extra=dict(extra),
        )
        if inapp:  # delivered here: the row is the message, worded now
            out = _render_employee(n, fmt="text", language=channel.language, names=[])
            n.subject, n.body, n.rendered = out.subject[:300], out.text, True
        rows.append(n)
    return _outbox_write(rows, keys)


def _employee_secrets(n: Notification) -> dict[str, Any]:
    if not n.extra.get("secret_enc"):
        return {}
    return json.loads(crypto.decrypt(n.extra["secret_enc"], purpose=CONTEXT_PURPOSE))


def _employee_context(n: Notification) -> dict[str, Any]:
    return dict(n.extra.get("context") or {}) | _employee_secrets(n)


def _render_employee(n: Notification, *, fmt: str, language: str, names: list[str]) -> rendering.Rendered:
    """A message to an employee in ``fmt``; HR's broken template falls back to the shipped one."""
    context = _employee_context(n)
    try:
        return rendering.render_message(
            event=n.event, fmt=fmt, language=language, context=context, sms_names=names
        )
    except ApplicationError as exc:
        logger.warning("notify: template for %s/%s failed: %s", n.event, fmt, exc.message)
        n.extra["template_error"] = exc.message
        return rendering.render_message(
            event=n.event,
            fmt=fmt,
            language=language,
            context=context,
            sms_names=names,
            parts=rendering.default_parts(n.event, fmt, language),
        )


def _redact(out: rendering.Rendered, secrets: list[str]) -> rendering.Rendered:
    def hide(text: str) -> str:
        for value in secrets:
            text = text.replace(value, SECRET_MASK)
        return text

    return rendering.Rendered(
        subject=hide(out.subject),
        text=hide(out.text),
        html=hide(out.html),
        markdown=hide(out.markdown),
        sms_params=[(name, hide(value)) for name, value in out.sms_params],
    )


# --- messages to staff about the system itself ---------------------------------------------------


def staff_message_enqueue(
    *,
    event: str,
    key: str,
    context: dict[str, Any],
    channel: Channel | None = None,
    roles: Iterable[str] = ("auditor", "hr_admin"),
    now: dt.datetime | None = None,
) -> list[Notification]:
    """Write a message about the system itself (``evidence_checkpoint``: the evidence chain's
    daily head; ``evidence_broken``: its verification found problems) to the active users of
    ``roles``: an in-app row each (delivered here) and, with ``channel``, one outbox row through
    it — a single one to a group robot, a webhook or an email channel with fixed recipients, else
    one per user to their email address (email) or mobile number (SMS, work notices). A disabled
    channel's rows wait until it is enabled again.

    Keyed ``<key>:c<channel>:u<user>`` (``:g`` for the group): called again with the same ``key``
    it writes nothing and returns the rows already written. ``context`` holds plain values for
    the templates. Pending rows are sent by the flush (with its retries) once the caller's
    transaction commits. Returns the rows."""
    from shebao.accounts.models import User

    if event not in rendering.STAFF_EVENTS:
        raise ValueError(
            f"事件“{event}”不是给工作人员的系统消息（可选：{'、'.join(rendering.STAFF_EVENTS)}）"
        )
    key = str(key or "").strip()
    if not key or len(key) > 64 or ":" in key:
        raise ValueError(f"幂等键“{key}”无效（1–64 个字符，不含冒号）")
    if not isinstance(context, dict):
        raise TypeError("context 应为字典")
    _check_plain(context)
    now = now or timezone.now()
    users = list(
        User.objects.filter(is_active=True, role__in=list(roles)).order_by("id").values_list("id", "email")
    )
    inapp = inapp_channel()
    destinations: list[tuple[Channel, str, int | None, str]] = [
        (inapp, "", uid, f"u{uid}") for uid, _e in users
    ]
    if channel is not None and channel.kind != "inapp":
        if not transport_class(channel.kind).personal or channel.config.get("to"):
            destinations.append((channel, "", None, "g"))
        else:  # a personal channel without fixed recipients: each user's own address
            phones = dict(
                Preference.objects.filter(user_id__in=[uid for uid, _e in users])
                .exclude(phone_enc="")
                .values_list("user_id", "phone_enc")
            )
            for uid, email in users:
                if channel.kind == "email":
                    address = email
                else:
                    address = crypto.decrypt(phones[uid], purpose=PHONE_PURPOSE) if uid in phones else ""
                if address:
                    destinations.append((channel, address, uid, f"u{uid}"))
    keys = [f"{key}:c{c.pk}:{dest}" for c, _a, _u, dest in destinations]
    existing = set(N.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    rows: list[Notification] = []
    for (target, address, uid, dest), idem in zip(destinations, keys, strict=True):
        if idem in existing:
            continue
        delivered = target.kind == "inapp"
        n = Notification(
            event=event,
            channel=target,
            user_id=uid,
            address_enc=crypto.encrypt(address, purpose=ADDRESS_PURPOSE) if address else "",
            address_masked=_mask(address),
            dest_key=dest,
            severity=rendering.STAFF_EVENTS[event],
            mode=N.Mode.IMMEDIATE,
            idempotency_key=idem,
            status=N.Status.SENT if delivered else N.Status.PENDING,
            sent_at=now if delivered else None,
            due_at=now,
            next_attempt_at=now,
            created_at=now,
            extra={"context": context},
        )
        if delivered:  # the row is the message, worded now (from its context, like an employee's)
            out = _render_employee(n, fmt="text", language=target.language, names=[])
            n.subject, n.body, n.rendered = out.subject[:300], out.text, True
        rows.append(n)
    return _outbox_write(rows, keys)


def notifications_flush_one(*, notification: Notification, now: dt.datetime | None = None) -> str:
    """Send one pending notification now — claimed, rendered, sent and recorded exactly as the
    flush does (a one-time code must not wait for the worker). Call it after the transaction
    that wrote the row has committed. Returns ``sent``, ``retry``, ``paused``, ``failed``,
    ``deferred`` (the channel's rate limit or pause: it waits, pending) or ``skipped`` (not
    pending, not yet due, its channel disabled, or another worker has it)."""
    now = now or timezone.now()
    n = N.objects.select_related("channel").filter(pk=notification.pk).first()
    if n is None or n.status != N.Status.PENDING or n.next_attempt_at > now or not n.channel.enabled:
        return "skipped"
    if n.channel.paused_until and n.channel.paused_until > now:
        return "deferred"
    return _deliver(n, now)


# --- flush ----------------------------------------------------------------------------------------


@dataclass
class FlushResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    merged: int = 0
    deferred: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k) for k in ("sent", "retried", "failed", "merged", "deferred", "released")
        } | {"errors": self.errors[:20]}


def notifications_flush(*, now: dt.datetime | None = None, limit: int = 500) -> FlushResult:
    """Send what is due (see the module docstring)."""
    now = now or timezone.now()
    result = FlushResult()
    result.released = N.objects.filter(status=N.Status.SENDING, lease_until__lt=now).update(
        status=N.Status.PENDING, lease_until=None, next_attempt_at=now
    )
    # Paused and disabled channels' messages wait without taking the batch from the others.
    due = list(
        N.objects.filter(status=N.Status.PENDING, next_attempt_at__lte=now, channel__enabled=True)
        .exclude(channel__paused_until__gt=now)
        .select_related("channel")
        .order_by("next_attempt_at", "id")[:limit]
    )
    by_channel: dict[int, list[Notification]] = defaultdict(list)
    for n in due:
        by_channel[n.channel_id].append(n)
    for items in by_channel.values():
        channel = items[0].channel
        if not channel.enabled or (channel.paused_until and channel.paused_until > now):
            continue  # wait: nothing is dropped for a paused or disabled channel
        batch = _merge_bursts(channel, items, now, result)
        if channel.rate_limit:
            batch = _apply_rate(channel, batch, now, result)
        for n in batch:
            outcome = _deliver(n, now)
            if outcome == "sent":
                result.sent += 1
            elif outcome in ("retry", "paused"):
                result.retried += 1
            elif outcome == "failed":
                result.failed += 1
                result.errors.append(f"#{n.pk}: {n.last_error}")
            elif outcome == "deferred":
                result.deferred += 1
            if outcome in ("retry", "paused"):
                channel.refresh_from_db(fields=["paused_until"])
                if channel.paused_until and channel.paused_until > now:
                    break
    return result


def _merge_bursts(
    channel: Channel, items: list[Notification], now, result: FlushResult
) -> list[Notification]:
    """Per destination: due digest-mode findings become one digest, and more than BURST
    immediate findings at once become one digest too."""
    by_dest: dict[str, list[Notification]] = defaultdict(list)
    for n in items:
        by_dest[n.dest_key].append(n)
    out: list[Notification] = []
    for group in by_dest.values():
        digest = [n for n in group if n.event == N.Event.FINDING and n.mode == N.Mode.DIGEST]
        instant = [n for n in group if n not in digest]
        findings = [n for n in instant if n.event == N.Event.FINDING]
        if len(digest) > 1:
            parent = _merge(channel, digest, now, {"reason": "daily"})
            out += [parent] if parent else []
            result.merged += len(digest) if parent else 0
        else:
            out += digest
        if len(findings) > BURST:
            parent = _merge(channel, findings, now, {"reason": "burst", "n": len(findings)})
            out += [n for n in instant if n.event != N.Event.FINDING] + ([parent] if parent else [])
            result.merged += len(findings) if parent else 0
        else:
            out += instant
    out.sort(key=lambda n: (n.next_attempt_at, n.pk))
    return out


def _merge(channel: Channel, items: list[Notification], now, reason: dict[str, Any]) -> Notification | None:
    """One digest notification for ``items`` (all still pending, or none is merged)."""
    first = items[0]
    ids = sorted(n.pk for n in items)
    key = "d:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:40]
    rank = {"critical": 3, "warning": 2, "info": 1}
    try:
        with transaction.atomic():
            parent = N.objects.create(
                event=N.Event.DIGEST,
                channel=channel,
                user_id=first.user_id,
                employee_id=first.employee_id,
                address_enc=first.address_enc,
                address_masked=first.address_masked,
                dest_key=first.dest_key,
                audience=first.audience,
                severity=max((n.severity for n in items), key=lambda s: rank.get(s, 0)),
                idempotency_key=key,
                due_at=now,
                next_attempt_at=now,
                created_at=now,
                extra=reason,
            )
            moved = 0
            for i in range(0, len(ids), IN_CHUNK):
                moved += N.objects.filter(pk__in=ids[i : i + IN_CHUNK], status=N.Status.PENDING).update(
                    status=N.Status.MERGED, digest=parent
                )
            if moved != len(ids):
                raise _Race
    except (_Race, IntegrityError):
        return None  # another worker merged (some of) them first; the next flush sees what is left
    return parent


class _Race(Exception):
    pass


def bucket_take(*, key: str, capacity: int, window: float, now: dt.datetime, take: bool = True) -> float:
    """Take a token (or only look, ``take=False``). Returns 0 when one is available, else the
    seconds until one will be."""
    with transaction.atomic():
        bucket, _ = TokenBucket.objects.select_for_update().get_or_create(
            key=key, defaults={"tokens": float(capacity), "updated_at": now}
        )
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(float(capacity), bucket.tokens + elapsed * capacity / window)
        if tokens >= 1:
            if take:
                tokens -= 1
            wait = 0.0
        else:
            wait = (1 - tokens) * window / capacity
        TokenBucket.objects.filter(pk=bucket.pk).update(tokens=tokens, updated_at=max(now, bucket.updated_at))
    return wait


def _bucket_available(channel: Channel, now) -> int:
    bucket = TokenBucket.objects.filter(key=f"channel:{channel.pk}").first()
    if bucket is None:
        return channel.rate_limit
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    return int(min(float(channel.rate_limit), bucket.tokens + elapsed * channel.rate_limit / 60.0))


def _apply_rate(channel: Channel, batch: list[Notification], now, result: FlushResult) -> list[Notification]:
    """More due than the channel's bucket allows: each destination's findings are merged into
    one digest rather than dropped; what still does not fit waits for the bucket (pending)."""
    available = _bucket_available(channel, now)
    if len(batch) <= available:
        return batch
    by_dest: dict[str, list[Notification]] = defaultdict(list)
    for n in batch:
        by_dest[n.dest_key].append(n)
    out: list[Notification] = []
    reason = {"reason": "rate", "limit": channel.rate_limit}
    for group in by_dest.values():
        findings = [n for n in group if n.event == N.Event.FINDING]
        parent = _merge(channel, findings, now, reason) if len(findings) > 1 else None
        if parent is not None:
            result.merged += len(findings)
            out += [n for n in group if n.event != N.Event.FINDING] + [parent]
        else:
            out += group
    # Messages to employees (a code, a letter) are never merged and go first; the rest wait.
    out.sort(key=lambda n: (n.event not in rendering.EMPLOYEE_EVENTS, n.next_attempt_at, n.pk))
    return out[: max(available, 0)]


# --- one delivery ---------------------------------------------------------------------------------


def _backoff(attempts: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** max(0, attempts - 1)))


def _deliver(n: Notification, now: dt.datetime, *, test: bool = False) -> str:
    """Claim, render (once), send and record one notification. Returns sent / retry / failed /
    deferred / skipped / paused."""
    channel = n.channel
    if channel.rate_limit and not test:
        wait = bucket_take(key=f"channel:{channel.pk}", capacity=channel.rate_limit, window=60.0, now=now)
        if wait:
            N.objects.filter(pk=n.pk, status=N.Status.PENDING).update(
                next_attempt_at=now + dt.timedelta(seconds=wait)
            )
            return "deferred"
    claimed = N.objects.filter(pk=n.pk, status=N.Status.PENDING).update(
        status=N.Status.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return "skipped"  # another worker has it
    n.refresh_from_db()
    started = time.perf_counter()
    attempt = DeliveryAttempt(notification=n, number=n.attempts, started_at=now)
    try:
        transport = channel_transport(channel)
        if not n.rendered:
            _render(n, transport)
        result = transport.send(_message(n, transport))
    except TransportError as exc:
        return _failed(n, channel, attempt, exc, now, started, test=test)
    except ApplicationError as exc:  # a template or configuration the transport cannot use
        return _failed(
            n, channel, attempt, TransportError(exc.message, permanent=True), now, started, test=test
        )
    except Exception as exc:  # a bug must not lose the message: retried like a transient error
        logger.exception("notify: sending #%s failed", n.pk)
        err = TransportError(f"内部错误：{exc.__class__.__name__}: {exc}"[:500])
        return _failed(n, channel, attempt, err, now, started, test=test)
    attempt.ok = True
    attempt.duration_ms = int((time.perf_counter() - started) * 1000)
    attempt.status_code = result.status_code
    attempt.response = (result.response or "")[:1000]
    attempt.provider_id = (result.provider_id or "")[:200]
    done: dict[str, Any] = {}
    if n.extra.get("secret_enc") or n.extra.get("rendered_enc"):  # delivered: the secret goes
        done["extra"] = {k: v for k, v in n.extra.items() if k not in ("secret_enc", "rendered_enc")}
    with transaction.atomic():
        attempt.save()
        _evidence(n, attempt)
        N.objects.filter(pk=n.pk).update(
            status=N.Status.SENT,
            sent_at=now,
            lease_until=None,
            provider_id=attempt.provider_id,
            last_error="",
            **done,
        )
        Channel.objects.filter(pk=channel.pk).update(
            last_sent_at=now, status=Channel.Status.OK, failing_since=None, last_error=""
        )
    return "sent"


def _failed(n, channel, attempt, exc: TransportError, now, started, *, test: bool) -> str:
    attempt.duration_ms = int((time.perf_counter() - started) * 1000)
    attempt.status_code = exc.status_code
    attempt.error_code = (exc.code or "")[:80]
    attempt.error = exc.message[:2000]
    attempt.response = (exc.response or "")[:1000]
    too_old = n.attempts >= MAX_ATTEMPTS or now - n.created_at > MAX_AGE
    give_up = exc.permanent or test or too_old
    attempt.permanent = give_up
    wait = max(_backoff(n.attempts), exc.retry_after or 0)
    if not give_up:
        attempt.retry_at = now + dt.timedelta(seconds=wait)
    error = (
        exc.message if not too_old or exc.permanent else f"重试 {n.attempts} 次仍失败，已停止：{exc.message}"
    )
    broken = exc.channel_broken or (too_old and not exc.permanent)
    with transaction.atomic():
        attempt.save()
        _evidence(n, attempt)
        if give_up:
            N.objects.filter(pk=n.pk).update(
                status=N.Status.FAILED, lease_until=None, last_error=error[:2000]
            )
        else:
            N.objects.filter(pk=n.pk).update(
                status=N.Status.PENDING,
                lease_until=None,
                next_attempt_at=attempt.retry_at,
                last_error=error[:2000],
            )
        updates: dict[str, Any] = {"last_error": error[:2000]}
        if exc.retry_after:
            updates["paused_until"] = now + dt.timedelta(seconds=exc.retry_after)
        if broken or test:
            updates["status"] = Channel.Status.FAILING
        Channel.objects.filter(pk=channel.pk).update(**updates)
        if broken and not test and channel.kind != "inapp":
            _alert_admins(channel, error, now)
    if give_up:
        return "failed"
    return "paused" if exc.retry_after else "retry"


def _evidence(n: Notification, attempt: DeliveryAttempt) -> None:
    """A message to an employee is evidence (the letter's link reached them, or did not): each
    attempt goes into the evidence ledger with the receipt or the error."""
    if n.audience == "employee":
        from shebao.evidence.recorders import delivery_record

        delivery_record(n, attempt)


def _alert_admins(channel: Channel, error: str, now: dt.datetime) -> None:
    """Tell the HR admins in-app, once per failure episode of the channel."""
    from shebao.accounts.models import Role, User

    Channel.objects.filter(pk=channel.pk, failing_since__isnull=True).update(failing_since=now)
    since = Channel.objects.filter(pk=channel.pk).values_list("failing_since", flat=True).first() or now
    inapp = inapp_channel()
    label = TRANSPORTS.get(channel.kind, (channel.kind,))[0]
    context = {"channel": channel.name, "kind_label": label, "error": error[:300]}
    out = rendering.render_message(event="channel_failing", fmt="text", language="zh-hans", context=context)
    rows = [
        N(
            event=N.Event.CHANNEL_FAILING,
            channel=inapp,
            user_id=uid,
            dest_key=f"u{uid}",
            severity="critical",
            idempotency_key=f"cf{channel.pk}:{int(since.timestamp())}:u{uid}",
            status=N.Status.SENT,
            rendered=True,
            subject=out.subject,
            body=out.text,
            extra={"channel_id": channel.pk},
            due_at=now,
            next_attempt_at=now,
            created_at=now,
            sent_at=now,
        )
        for uid in User.objects.filter(is_active=True, role=Role.HR_ADMIN).values_list("id", flat=True)
    ]
    N.objects.bulk_create(rows, ignore_conflicts=True)


def _format(transport: Transport) -> str:
    return transport.format if transport.format in ("email", "markdown", "sms") else "text"


def _render(n: Notification, transport: Transport) -> None:
    """Render once and keep it: every retry sends the same words."""
    fmt = _format(transport)
    language = n.channel.language
    names = transport.sms_template(n.event)[1]
    if n.event in rendering.EMPLOYEE_EVENTS:
        _render_employee_row(n, fmt=fmt, language=language, names=names)
        return
    if n.event == N.Event.FINDING and n.finding_id:
        from shebao.rules.models import Finding

        finding = Finding.objects.select_related("rule", "entity", "department", "employee", "person").get(
            pk=n.finding_id
        )
        context = rendering.finding_context(finding, language=language)
        event = "employee" if n.audience == "employee" else finding.kind
        fallback = "employee" if n.audience == "employee" else "finding"
        extra = {"link": context["link"]}
    elif n.event == N.Event.DIGEST:
        from shebao.rules.models import Finding

        children = list(n.merged.order_by("id").values_list("finding_id", flat=True))
        qs = Finding.objects.select_related("rule", "entity", "department", "employee", "person")
        items = [
            rendering.finding_context(f, language=language)
            for f in qs.filter(pk__in=[c for c in children[:DIGEST_ITEMS] if c])
        ]
        context = {
            "count": len(children),
            "items": items,
            "more": max(0, len(children) - len(items)),
            "reason": _digest_reason(n.extra, language),
            "entity": items[0]["entity"] if items else "",
            "inbox_link": rendering.link("/rules/findings/"),
        }
        event, fallback, extra = "digest", None, {**n.extra, "count": len(children)}
    elif n.event == N.Event.TEST:
        context = {
            "channel": n.channel.name,
            "actor": n.extra.get("actor", ""),
            "sent_at": timezone.localtime(n.created_at).strftime("%Y-%m-%d %H:%M"),
        }
        event, fallback, extra = "test", None, dict(n.extra)
    elif n.event in rendering.STAFF_EVENTS:
        context = dict(n.extra.get("context") or {})
        event, fallback, extra = n.event, None, dict(n.extra)
    else:
        context = {"channel": n.channel.name, "kind_label": "", "error": n.body}
        event, fallback, extra = "channel_failing", None, dict(n.extra)
    try:
        out = rendering.render_message(
            event=event, fmt=fmt, language=language, context=context, fallback=fallback, sms_names=names
        )
    except ApplicationError as exc:  # HR's template broke: the shipped default still says it
        logger.warning("notify: template for %s/%s failed: %s", event, fmt, exc.message)
        parts = rendering.default_parts(
            event if event in rendering.EVENTS_FIXED else (fallback or "finding"), fmt, language
        )
        out = rendering.render_message(
            event=event, fmt=fmt, language=language, context=context, sms_names=names, parts=parts
        )
        extra["template_error"] = exc.message
    extra["sms_params"] = out.sms_params
    if transport.kind == "webhook":
        extra["payload"] = {
            "event": n.event,
            "id": n.idempotency_key,
            "subject": out.subject,
            "text": out.text,
            "data": {k: v for k, v in context.items() if k != "items"}
            if n.event != N.Event.DIGEST
            else context,
        }
    n.subject, n.body, n.html, n.extra, n.rendered = out.subject[:300], out.text, out.html, extra, True
    N.objects.filter(pk=n.pk).update(
        subject=n.subject, body=n.body, html=n.html, extra=n.extra, rendered=True
    )


def _render_employee_row(n: Notification, *, fmt: str, language: str, names: list[str]) -> None:
    """Render a message to an employee once. A secret (the one-time code) is stored only in
    the encrypted copy that is sent; the readable fields have it masked."""
    out = _render_employee(n, fmt=fmt, language=language, names=names)
    extra = dict(n.extra)
    secrets = [str(v) for v in _employee_secrets(n).values() if str(v)]
    if secrets:
        sent = {
            "subject": out.subject[:300],
            "text": out.text,
            "html": out.html,
            "sms_params": out.sms_params,
        }
        extra["rendered_enc"] = crypto.encrypt(json.dumps(sent, ensure_ascii=False), purpose=CONTEXT_PURPOSE)
        out = _redact(out, secrets)
    extra["sms_params"] = out.sms_params
    n.subject, n.body, n.html, n.extra, n.rendered = out.subject[:300], out.text, out.html, extra, True
    N.objects.filter(pk=n.pk).update(
        subject=n.subject, body=n.body, html=n.html, extra=n.extra, rendered=True
    )


def _digest_reason(extra: dict[str, Any], language: str) -> str:
    """Why messages were merged, in the channel's language."""
    with translation.override(language):
        code = extra.get("reason")
        if code == "daily":
            return gettext("每日摘要：")
        if code == "burst":
            return gettext("短时间内出现 %(n)s 条预警，已合并为一条摘要。") % {"n": extra.get("n", "")}
        if code == "rate":
            return gettext("发送频率超过通道限制（每分钟 %(limit)s 条），已合并为一条摘要。") % {
                "limit": extra.get("limit", "")
            }
        return str(code or "")


def _message(n: Notification, transport: Transport) -> Message:
    address = crypto.decrypt(n.address_enc, purpose=ADDRESS_PURPOSE) if n.address_enc else ""
    sent = {"subject": n.subject, "text": n.body, "html": n.html, "sms_params": n.extra.get("sms_params", [])}
    if n.extra.get("rendered_enc"):  # the words with the secret, as rendered
        sent = json.loads(crypto.decrypt(n.extra["rendered_enc"], purpose=CONTEXT_PURPOSE))
    return Message(
        subject=sent["subject"],
        text=sent["text"],
        html=sent["html"],
        markdown=sent["text"] if _format(transport) == "markdown" else "",
        to=(address,) if address else (),
        sms_params=tuple(tuple(p) for p in sent["sms_params"]),
        idempotency_key=n.idempotency_key,
        link=n.extra.get("link", ""),
        payload=n.extra.get("payload", {}),
        severity=n.severity,
        event=n.event,
    )


# --- the inbox ------------------------------------------------------------------------------------


def inbox_mark_read(*, user, ids: Iterable[int] | None = None, now: dt.datetime | None = None) -> int:
    """Mark a user's in-app notifications read (``ids=None``: all of them)."""
    qs = N.objects.filter(user=user, channel__kind="inapp", read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=now or timezone.now())


@transaction.atomic
def notification_cancel(*, actor: Actor, notification: Notification) -> None:
    _can_admin(actor)
    updated = N.objects.filter(pk=notification.pk, status=N.Status.PENDING).update(status=N.Status.CANCELLED)
    if not updated:
        raise ApplicationError("只有待发送的通知可以取消")
    audit_record(actor=actor, action="notification.cancel", obj=notification)


@transaction.atomic
def notification_retry(*, actor: Actor, notification: Notification, now: dt.datetime | None = None) -> None:
    """Send a failed notification again (after the channel was fixed)."""
    _can_admin(actor)
    now = now or timezone.now()
    updated = N.objects.filter(pk=notification.pk, status=N.Status.FAILED).update(
        status=N.Status.PENDING, next_attempt_at=now, created_at=now
    )
    if not updated:
        raise ApplicationError("只有发送失败的通知可以重发")
    audit_record(actor=actor, action="notification.retry", obj=notification)
    transaction.on_commit(_flush_soon)


__all__ = [
    "bucket_take",
    "channel_create",
    "channel_delete",
    "channel_test",
    "channel_update",
    "employee_message_enqueue",
    "inbox_mark_read",
    "notification_cancel",
    "notification_retry",
    "notifications_enqueue",
    "notifications_flush",
    "notifications_flush_one",
    "preference_update",
    "staff_message_enqueue",
    "template_preview",
    "template_reset",
    "template_save",
]
