"""/api/v1/channels, /api/v1/notifications and /api/v1/inbox — the notifications room.

Channels and the delivery log are read-only here (an HR admin configures channels in the UI or
with ``shebao channel add``): channels need an HR admin, the log an HR admin or an auditor.
Secrets are never returned, only whether each one is set. The inbox is the caller's own in-app
notifications; marking them read needs a write token.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from shebao.api.auth import read_auth, write_auth
from shebao.api.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ErrorOut, Out
from shebao.core.exceptions import PermissionDenied
from shebao.notify import selectors, services
from shebao.notify.models import Channel

router = Router(tags=["通知"])

ERRORS_READ = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
ERRORS_ONE = {**ERRORS_READ, 404: ErrorOut}


class ChannelOut(Out):
    id: int
    kind: str = Field(description="email|sms_aliyun|sms_tencent|dingtalk|wecom|feishu|webhook|inapp")
    kind_label: str
    name: str
    enabled: bool
    for_people: bool = Field(description="用于个人通知（用户和员工选择的邮件、短信）")
    language: str
    rate_limit: int | None = Field(description="每分钟最多条数（令牌桶）；超出的合并为摘要")
    status: str = Field(description="untested|ok|failing")
    last_error: str
    last_sent_at: str | None
    paused_until: str | None = Field(description="服务商要求暂停发送至（如钉钉限流 10 分钟）")
    config: dict[str, Any] = Field(description="配置（不含密钥）")
    secrets_set: dict[str, bool] = Field(description="各密钥是否已设置（从不返回密钥本身）")
    is_system: bool


class AttemptOut(Out):
    number: int
    started_at: str
    duration_ms: int
    ok: bool
    permanent: bool = Field(description="此后不再重试")
    status_code: int | None
    error_code: str
    error: str
    response: str = Field(description="服务商响应摘要")
    retry_at: str | None


class NotificationOut(Out):
    id: int
    event: str = Field(description="finding|digest|test|channel_failing")
    channel: str
    channel_kind: str
    recipient: str
    address: str = Field(description="收件地址（掩码）")
    severity: str
    mode: str = Field(description="immediate|digest")
    status: str = Field(description="pending|sending|sent|failed|merged|cancelled")
    subject: str
    attempts: int
    idempotency_key: str = Field(description="幂等键：同一事件的同一发送只有一条")
    finding_id: int | None
    digest_id: int | None = Field(description="并入的摘要通知")
    created_at: str
    due_at: str
    next_attempt_at: str | None
    sent_at: str | None
    last_error: str
    provider_id: str


class NotificationDetailOut(NotificationOut):
    deliveries: list[AttemptOut]


class NotificationPage(Out):
    items: list[NotificationOut]
    total: int
    page: int
    page_size: int


class LogQuery(Schema):
    status: str | None = Field(None, description="pending|sending|sent|failed|merged|cancelled")
    channel: int | None = Field(None, description="通道 ID")
    event: str | None = Field(None, description="finding|digest|test|channel_failing")
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class InboxItemOut(Out):
    id: int
    event: str
    severity: str
    title: str
    body: str
    link: str
    created_at: str
    read: bool
    finding_status: str | None


class InboxPage(Out):
    items: list[InboxItemOut]
    unread: int
    total: int
    page: int
    page_size: int


class InboxQuery(Schema):
    unread: bool = Field(False, description="只列未读")
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class ReadIn(Schema):
    ids: list[int] | None = Field(None, description="通知 ID；不填为全部标为已读")


class ReadOut(Out):
    marked: int
    unread: int


def _manage(request: HttpRequest) -> None:
    if not selectors.can_manage(request.auth.user):
        raise PermissionDenied("只有人事管理员可以查看通知通道")


def _log(request: HttpRequest) -> None:
    if not selectors.can_view_log(request.auth.user):
        raise PermissionDenied("只有人事管理员和审计员可以查看发送记录")


@router.get("/channels", response={200: list[ChannelOut], **ERRORS_READ}, auth=read_auth, summary="通知通道")
def list_channels(request: HttpRequest):
    """全部通知通道及其状态（正常、故障及最近错误、暂停至）。密钥从不返回。"""
    _manage(request)
    return [selectors.channel_data(c) for c in selectors.channels_list()]


@router.get(
    "/channels/{int:channel_id}", response={200: ChannelOut, **ERRORS_ONE}, auth=read_auth, summary="通道详情"
)
def get_channel(request: HttpRequest, channel_id: int):
    _manage(request)
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise HttpError(404, "通知通道不存在")
    return selectors.channel_data(channel)


@router.get(
    "/notifications", response={200: NotificationPage, **ERRORS_READ}, auth=read_auth, summary="发送记录"
)
def list_notifications(request: HttpRequest, q: Query[LogQuery]):
    """每条外发通知（邮件、短信、群机器人、Webhook）及其状态，最新在前，分页；站内信见 /inbox。"""
    _log(request)
    qs = selectors.notification_log(
        selectors.LogFilters(status=q.status or "", channel=q.channel, event=q.event or "")
    )
    start = (q.page - 1) * q.page_size
    return {
        "items": [selectors.notification_data(n) for n in qs[start : start + q.page_size]],
        "total": qs.count(),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.get(
    "/notifications/{int:notification_id}",
    response={200: NotificationDetailOut, **ERRORS_ONE},
    auth=read_auth,
    summary="发送详情",
)
def get_notification(request: HttpRequest, notification_id: int):
    """一条通知的每一次发送尝试：时间、耗时、响应码、错误码、错误、服务商响应摘要、下次重试时间。"""
    _log(request)
    n = selectors.notification_log(selectors.LogFilters()).filter(pk=notification_id).first()
    if n is None:
        raise HttpError(404, "通知不存在")
    return selectors.notification_data(n, attempts=True)


@router.get("/inbox", response={200: InboxPage, **ERRORS_READ}, auth=read_auth, summary="站内信")
def inbox(request: HttpRequest, q: Query[InboxQuery]):
    """您自己的站内信，最新在前；预警的标题按今天重新计算（天数会变化）。"""
    user = request.auth.user
    qs = selectors.inbox_for(user)
    if q.unread:
        qs = qs.filter(read_at__isnull=True)
    start = (q.page - 1) * q.page_size
    items = []
    for n in qs[start : start + q.page_size]:
        item = selectors.inbox_item(n)
        items.append({**item, "created_at": item["created_at"].isoformat()})
    return {
        "items": items,
        "unread": selectors.inbox_unread(user),
        "total": qs.count(),
        "page": q.page,
        "page_size": q.page_size,
    }


@router.post("/inbox/read", response={200: ReadOut, **ERRORS_READ}, auth=write_auth, summary="标为已读")
def mark_read(request: HttpRequest, payload: ReadIn):
    user = request.auth.user
    marked = services.inbox_mark_read(user=user, ids=payload.ids)
    return {"marked": marked, "unread": selectors.inbox_unread(user)}
