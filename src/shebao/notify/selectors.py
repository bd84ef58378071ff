"""Reads of the notifications room: the inbox, the delivery log, channels as shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from shebao.notify.models import Channel, MessageTemplate, Notification
from shebao.notify.rendering import EMPLOYEE_EVENTS
from shebao.notify.transports import TRANSPORTS, transport_class

N = Notification


def can_manage(user) -> bool:
    from shebao.accounts.permissions import can_admin

    return can_admin(user)


def can_view_log(user) -> bool:
    from shebao.accounts.permissions import can_view_audit

    return can_view_audit(user)


# --- the inbox ------------------------------------------------------------------------------------


def inbox_for(user) -> QuerySet[Notification]:
    return (
        N.objects.filter(user=user, channel__kind="inapp", status=N.Status.SENT)
        .select_related("finding", "finding__rule", "finding__entity", "finding__employee", "finding__person")
        .order_by("-id")
    )


def inbox_unread(user) -> int:
    if user is None or not user.is_authenticated:
        return 0
    return N.objects.filter(
        user=user, channel__kind="inapp", status=N.Status.SENT, read_at__isnull=True
    ).count()


def inbox_item(n: Notification, today=None) -> dict[str, Any]:
    """An in-app notification as shown: a finding's is worded live (its day counts move)."""
    if n.event == N.Event.FINDING and n.finding_id and n.finding is not None:
        from shebao.rules.selectors import display_title

        title = display_title(n.finding, today)
        link = f"/rules/findings/{n.finding_id}/"
        body = ""
    else:
        title, body, link = n.subject, n.body, ""
        if n.event == N.Event.CHANNEL_FAILING and n.extra.get("channel_id"):
            link = f"/notify/channels/{n.extra['channel_id']}/"
        elif n.event in EMPLOYEE_EVENTS:
            link = n.extra.get("link", "")  # the letter's signed link (the employee's own)
        elif n.event in (N.Event.EVIDENCE_CHECKPOINT, N.Event.EVIDENCE_BROKEN):
            link = "/evidence/"  # the chain status page
    return {
        "id": n.pk,
        "event": n.event,
        "severity": n.severity,
        "title": title,
        "body": body,
        "link": link,
        "created_at": n.created_at,
        "read": n.read_at is not None,
        "finding_status": n.finding.status if n.finding_id and n.finding is not None else None,
    }


# --- channels -------------------------------------------------------------------------------------


def channels_list() -> QuerySet[Channel]:
    return Channel.objects.annotate(
        pending=Count(
            "notifications", filter=Q(notifications__status__in=[N.Status.PENDING, N.Status.SENDING])
        ),
        failed=Count("notifications", filter=Q(notifications__status=N.Status.FAILED)),
    ).order_by("-is_system", "id")


def channel_data(channel: Channel) -> dict[str, Any]:
    """A channel as the UI, CLI and API show it: secrets never, only whether they are set."""
    from shebao.notify.services import channel_secrets

    secrets = channel_secrets(channel)
    cls = transport_class(channel.kind)
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "kind_label": TRANSPORTS[channel.kind][0],
        "name": channel.name,
        "enabled": channel.enabled,
        "for_people": channel.for_people,
        "language": channel.language,
        "rate_limit": channel.rate_limit,
        "status": channel.status,
        "last_error": channel.last_error,
        "last_sent_at": channel.last_sent_at.isoformat() if channel.last_sent_at else None,
        "paused_until": channel.paused_until.isoformat() if channel.paused_until else None,
        "config": channel.config,
        "secrets_set": {k: bool(secrets.get(k)) for k in cls.secret_fields},
        "is_system": channel.is_system,
    }


# --- the log --------------------------------------------------------------------------------------


@dataclass
class LogFilters:
    status: str = ""
    channel: int | None = None
    event: str = ""
    q: str = ""


def notification_log(filters: LogFilters) -> QuerySet[Notification]:
    qs = N.objects.select_related("channel", "user", "employee", "finding").exclude(channel__kind="inapp")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.channel:
        qs = qs.filter(channel_id=filters.channel)
    if filters.event:
        qs = qs.filter(event=filters.event)
    if filters.q:
        q = filters.q.strip()
        qs = qs.filter(Q(subject__icontains=q) | Q(address_masked__icontains=q) | Q(idempotency_key=q))
    return qs.order_by("-id")


def notification_data(n: Notification, *, attempts: bool = False) -> dict[str, Any]:
    out = {
        "id": n.pk,
        "event": n.event,
        "channel": n.channel.name,
        "channel_kind": n.channel.kind,
        "recipient": (n.user.username if n.user_id else "") or (n.employee.name if n.employee_id else ""),
        "address": n.address_masked,
        "severity": n.severity,
        "mode": n.mode,
        "status": n.status,
        "subject": n.subject,
        "attempts": n.attempts,
        "idempotency_key": n.idempotency_key,
        "finding_id": n.finding_id,
        "digest_id": n.digest_id,
        "created_at": n.created_at.isoformat(),
        "due_at": n.due_at.isoformat(),
        "next_attempt_at": n.next_attempt_at.isoformat() if n.status == N.Status.PENDING else None,
        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        "last_error": n.last_error,
        "provider_id": n.provider_id,
    }
    if attempts:
        out["deliveries"] = [
            {
                "number": a.number,
                "started_at": a.started_at.isoformat(),
                "duration_ms": a.duration_ms,
                "ok": a.ok,
                "permanent": a.permanent,
                "status_code": a.status_code,
                "error_code": a.error_code,
                "error": a.error,
                "response": a.response,
                "retry_at": a.retry_at.isoformat() if a.retry_at else None,
            }
            for a in n.deliveries.order_by("number")
        ]
    return out


def templates_overview(language: str = "zh-hans") -> list[dict[str, Any]]:
    """Every event × format with whether HR has its own template."""
    from shebao.notify.rendering import EVENTS_FIXED
    from shebao.rules.kinds import KINDS

    custom = set(MessageTemplate.objects.values_list("event", "format", "language"))
    events = [(e, e) for e in EVENTS_FIXED] + [(code, str(k.label)) for code, k in KINDS.items()]
    out = []
    for event, label in events:
        for fmt, flabel in MessageTemplate.Format.choices:
            out.append(
                {
                    "event": event,
                    "event_label": label,
                    "format": fmt,
                    "format_label": str(flabel),
                    "custom": (event, fmt, language) in custom,
                }
            )
    return out
