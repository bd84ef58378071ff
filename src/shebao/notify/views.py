"""Pages of the notifications room: channels and message templates (HR admins), the delivery log
(HR admins and auditors), and for everyone signed in the in-app inbox and their notification
preferences; the demo's mail sink. Thin: permissions from the notify selectors, reads from the
selectors, writes through the notify services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from shebao.accounts.permissions import can_view_roster
from shebao.core import exceptions
from shebao.core.context import Actor
from shebao.notify import rendering, selectors, services
from shebao.notify.forms import (
    EVENT_LABELS,
    ChannelForm,
    ChannelTestForm,
    LogFilterForm,
    PreferenceForm,
    TemplateForm,
    kind_choices,
)
from shebao.notify.models import Channel, MessageTemplate, Notification, Preference
from shebao.notify.routing import PERSONAL_DEFAULT
from shebao.notify.transports import TRANSPORTS, transport_class
from shebao.web.decorators import login_required
from shebao.web.helpers import back_url, render_htmx, require, submit_form

ACTIVE = "notify"
N = Notification
FORMAT_USES = {
    "email": gettext_lazy("邮件"),
    "markdown": gettext_lazy("钉钉、企业微信、飞书卡片"),
    "text": gettext_lazy("站内信、飞书文本、Webhook"),
    "sms": gettext_lazy("阿里云、腾讯云短信"),
}


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def mail_sink_enabled() -> bool:
    return bool(getattr(settings, "SHEBAO_DEMO", False) or settings.DEBUG)


def _tabs(request: HttpRequest, current: str) -> dict[str, Any]:
    return {
        "active": ACTIVE,
        "tab": current,
        "can_manage": selectors.can_manage(request.user),
        "can_view_log": selectors.can_view_log(request.user),
        "mail_sink": mail_sink_enabled() and selectors.can_manage(request.user),
    }


# --- channels -------------------------------------------------------------------------------------


def _kind_label(kind: str) -> str:
    return TRANSPORTS.get(kind, (kind,))[0]


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    require(selectors.can_manage(request.user))
    services.inapp_channel()  # the built-in channel is listed from the start (created on first use)
    channels = list(selectors.channels_list())
    for c in channels:
        c.kind_label = _kind_label(c.kind)
        c.personal = transport_class(c.kind).personal if c.kind in TRANSPORTS else False
    return render(request, "notify/channel_list.html", {**_tabs(request, "channels"), "channels": channels})


def _channel_or_404(pk: int) -> Channel:
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None or channel.kind not in TRANSPORTS:
        raise Http404
    return channel


def _channel_form_page(request, form, kind, channel=None, status=200, **extra) -> HttpResponse:
    return render(
        request,
        "notify/channel_form.html" if channel is None else "notify/channel_detail.html",
        {
            **_tabs(request, "channels"),
            "form": form,
            "kind": kind,
            "kind_label": _kind_label(kind),
            "kind_summary": dict((k, s) for k, _l, s in kind_choices()).get(kind, ""),
            "channel": channel,
            **extra,
        },
        status=status,
    )


@login_required
def channel_create(request: HttpRequest) -> HttpResponse:
    require(selectors.can_manage(request.user))
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    if not kind:
        return render(
            request, "notify/channel_kinds.html", {**_tabs(request, "channels"), "kinds": kind_choices()}
        )
    if kind not in TRANSPORTS or kind == "inapp":
        raise Http404
    cls = transport_class(kind)
    form = ChannelForm(
        request.POST if request.method == "POST" else None,
        kind=kind,
        transport=cls,
        initial=ChannelForm.initial_for(None, kind),
    )
    if request.method == "POST":
        channel = submit_form(
            form, lambda: services.channel_create(actor=_actor(request), kind=kind, **form.service_data())
        )
        if channel is not None:
            messages.success(
                request, _("已添加通道“%(name)s”，可以发送一条测试消息确认配置。") % {"name": channel.name}
            )
            return redirect("notify:channel", pk=channel.pk)
        return _channel_form_page(request, form, kind, status=422)
    return _channel_form_page(request, form, kind)


def _detail_extra(channel: Channel) -> dict[str, Any]:
    cls = transport_class(channel.kind)
    data = selectors.channel_data(channel)
    recent = list(channel.notifications.select_related("user", "employee").order_by("-id")[:20])
    counts = {
        "pending": channel.notifications.filter(status__in=[N.Status.PENDING, N.Status.SENDING]).count(),
        "failed": channel.notifications.filter(status=N.Status.FAILED).count(),
    }
    return {
        "data": data,
        "personal": cls.personal and channel.kind != "inapp",
        "recent": [] if channel.kind == "inapp" else recent,
        "counts": counts,
        "test_form": ChannelTestForm(),
    }


@login_required
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(selectors.can_manage(request.user))
    channel = _channel_or_404(pk)
    cls = transport_class(channel.kind)
    if channel.is_system:
        return render(
            request,
            "notify/channel_detail.html",
            {
                **_tabs(request, "channels"),
                "channel": channel,
                "kind": channel.kind,
                "kind_label": _kind_label(channel.kind),
                "form": None,
                **_detail_extra(channel),
            },
        )
    secrets_set = selectors.channel_data(channel)["secrets_set"]
    form = ChannelForm(
        request.POST if request.method == "POST" else None,
        kind=channel.kind,
        transport=cls,
        secrets_set=secrets_set,
        initial=ChannelForm.initial_for(channel, channel.kind),
    )
    if request.method == "POST":
        saved = submit_form(
            form,
            lambda: services.channel_update(
                actor=_actor(request),
                channel=channel,
                **{
                    **form.service_data(),
                    "for_people": form.cleaned_data.get("for_people") if cls.personal else None,
                },
            ),
        )
        if saved is not None:
            messages.success(request, _("已保存通道“%(name)s”。") % {"name": saved.name})
            return redirect("notify:channel", pk=channel.pk)
        channel.refresh_from_db()
        return _channel_form_page(request, form, channel.kind, channel, status=422, **_detail_extra(channel))
    return _channel_form_page(request, form, channel.kind, channel, **_detail_extra(channel))


@require_POST
@login_required
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message now; the outcome (or the provider's error) replaces the test box."""
    require(selectors.can_manage(request.user))
    channel = _channel_or_404(pk)
    form = ChannelTestForm(request.POST)
    outcome, error = None, ""
    if form.is_valid():
        try:
            outcome = services.channel_test(
                actor=_actor(request), channel=channel, to=form.cleaned_data["to"]
            )
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(exc.message) from exc
        except exceptions.ApplicationError as exc:
            error = exc.message
    channel.refresh_from_db()
    if not getattr(request, "htmx", False):
        if outcome is not None and outcome.ok:
            messages.success(request, _("测试消息已发送"))
        else:
            messages.error(request, error or (outcome.error if outcome else _("测试失败")))
        return redirect("notify:channel", pk=channel.pk)
    return render(
        request,
        "notify/_test_result.html",
        {
            "channel": channel,
            "outcome": outcome,
            "error": error,
            "personal": transport_class(channel.kind).personal and channel.kind != "inapp",
            "test_form": form,
            "oob": True,
        },
    )


@require_POST
@login_required
def channel_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    require(selectors.can_manage(request.user))
    channel = _channel_or_404(pk)
    try:
        channel = services.channel_update(actor=_actor(request), channel=channel, enabled=not channel.enabled)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back_url(request, reverse("notify:channel", args=[pk])))
    if channel.enabled:
        messages.success(request, _("已启用通道“%(name)s”") % {"name": channel.name})
    else:
        messages.success(
            request, _("已停用通道“%(name)s”：新的通知不再经此通道发送") % {"name": channel.name}
        )
    return redirect(back_url(request, reverse("notify:channel", args=[pk])))


@require_POST
@login_required
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(selectors.can_manage(request.user))
    channel = _channel_or_404(pk)
    name = channel.name
    try:
        services.channel_delete(actor=_actor(request), channel=channel)
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("notify:channel", pk=pk)
    messages.success(request, _("已删除通道“%(name)s”") % {"name": name})
    return redirect("notify:channels")


# --- templates ------------------------------------------------------------------------------------


def _event_label(event: str) -> str:
    from shebao.rules.kinds import KINDS

    if event in EVENT_LABELS:
        return str(EVENT_LABELS[event])
    kind = KINDS.get(event)
    return _(kind.label) if kind else event


def _language(code: str | None) -> str:
    languages = dict(settings.LANGUAGES)
    return code if code in languages else "zh-hans"


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    require(selectors.can_manage(request.user))
    language = _language(request.GET.get("language"))
    rows: dict[str, dict[str, Any]] = {}
    for cell in selectors.templates_overview(language):
        row = rows.setdefault(
            cell["event"],
            {
                "event": cell["event"],
                "label": _event_label(cell["event"]),
                "fixed": cell["event"] in rendering.EVENTS_FIXED,
                "cells": [],
            },
        )
        row["cells"].append(cell)
    formats = [(f, label, FORMAT_USES.get(f, "")) for f, label in MessageTemplate.Format.choices]
    return render(
        request,
        "notify/template_list.html",
        {
            **_tabs(request, "templates"),
            "rows": list(rows.values()),
            "formats": formats,
            "language": language,
            "languages": settings.LANGUAGES,
        },
    )


def _template_key(event: str, format: str, language: str) -> None:
    from shebao.rules.kinds import KINDS

    if event not in rendering.EVENTS_FIXED and event not in KINDS:
        raise Http404
    if format not in MessageTemplate.Format.values or language not in dict(settings.LANGUAGES):
        raise Http404


def _source_label(source: str, event: str) -> str:
    origin, _sep, ev = source.partition(":")
    if origin == "custom":
        if ev == event:
            return _("自定义模板")
        return _("沿用“%(event)s”的自定义模板") % {"event": _event_label(ev)}
    if ev == event:
        return _("系统默认模板")
    return _("沿用“%(event)s”的默认模板") % {"event": _event_label(ev)}


def _sample_finding(event: str):
    """The finding a preview uses (as the service picks it), to say so under the preview."""
    from shebao.rules.models import Finding

    if event in ("test", "channel_failing", *rendering.EMPLOYEE_EVENTS):
        return None
    qs = Finding.objects.all()
    if event not in rendering.EVENTS_FIXED:
        qs = qs.filter(kind=event)
    return qs.order_by("-id").first()


@login_required
def template_edit(request: HttpRequest, event: str, format: str, language: str) -> HttpResponse:
    require(selectors.can_manage(request.user))
    _template_key(event, format, language)
    fallback = None if event in rendering.EVENTS_FIXED else "finding"
    parts, source = rendering.template_parts(event, format, language, fallback=fallback)
    custom = MessageTemplate.objects.filter(event=event, format=format, language=language).first()
    initial = {"subject": parts.subject, "body": parts.body, "html": parts.html}
    form = TemplateForm(request.POST if request.method == "POST" else None, format=format, initial=initial)
    status = 200
    if request.method == "POST":
        saved = submit_form(
            form,
            lambda: services.template_save(
                actor=_actor(request),
                event=event,
                format=format,
                language=language,
                subject=form.cleaned_data.get("subject", ""),
                body=form.cleaned_data["body"],
                html=form.cleaned_data.get("html", ""),
            ),
        )
        if saved is not None:
            messages.success(request, _("已保存模板，之后的通知按此模板生成。"))
            return redirect(request.path)
        status = 422
    finding = _sample_finding(event)
    return render(
        request,
        "notify/template_form.html",
        {
            **_tabs(request, "templates"),
            "form": form,
            "event": event,
            "event_label": _event_label(event),
            "format": format,
            "format_label": MessageTemplate.Format(format).label,
            "format_uses": FORMAT_USES.get(format, ""),
            "language": language,
            "language_label": dict(settings.LANGUAGES)[language],
            "source_label": _source_label(source, event),
            "custom": custom,
            "sample_finding": finding,
            "fixed_event": event in rendering.EVENTS_FIXED,
        },
        status=status,
    )


@require_POST
@login_required
def template_preview(request: HttpRequest, event: str, format: str, language: str) -> HttpResponse:
    """The draft rendered against a real finding (HTMX partial); a syntax error says where."""
    require(selectors.can_manage(request.user))
    _template_key(event, format, language)
    form = TemplateForm(request.POST, format=format)
    out = submit_form(
        form,
        lambda: services.template_preview(
            event=event,
            format=format,
            language=language,
            parts=rendering.Parts(
                form.cleaned_data.get("subject", ""),
                form.cleaned_data["body"],
                form.cleaned_data.get("html", ""),
            ),
        ),
    )
    if out is None:
        errors = [e for field in form for e in field.errors] + list(form.non_field_errors())
        return render(
            request, "notify/_template_preview.html", {"out": None, "errors": errors, "format": format}
        )
    names = [name for name, _value in out.sms_params]
    return render(
        request,
        "notify/_template_preview.html",
        {"out": out, "format": format, "errors": [], "sms_names": names},
    )


@require_POST
@login_required
def template_reset(request: HttpRequest, event: str, format: str, language: str) -> HttpResponse:
    require(selectors.can_manage(request.user))
    _template_key(event, format, language)
    try:
        deleted = services.template_reset(
            actor=_actor(request), event=event, format=format, language=language
        )
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    if deleted:
        messages.success(request, _("已恢复为默认模板"))
    else:
        messages.info(request, _("这个模板本来就是默认模板"))
    return redirect("notify:template", event=event, format=format, language=language)


# --- the log --------------------------------------------------------------------------------------


@login_required
def log_list(request: HttpRequest) -> HttpResponse:
    require(selectors.can_view_log(request.user))
    form = LogFilterForm(request.GET or None)
    values: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # an invalid filter is dropped; the others apply
        values = form.cleaned_data
    filters = selectors.LogFilters(
        status=values.get("status") or "",
        channel=values["channel"].pk if values.get("channel") else None,
        event=values.get("event") or "",
        q=values.get("q") or "",
    )
    rows = selectors.notification_log(filters)
    page = Paginator(rows, settings.SHEBAO_PAGE_SIZE).get_page(request.GET.get("page"))
    for n in page.object_list:
        n.kind_label = _kind_label(n.channel.kind)
    return render_htmx(
        request,
        "notify/_log_results.html",
        "notify/log_list.html",
        {**_tabs(request, "log"), "form": form, "page": page, "filters": filters},
    )


def _notification_or_404(pk: int) -> Notification:
    n = (
        N.objects.select_related("channel", "user", "employee", "finding", "digest")
        .exclude(channel__kind="inapp")
        .filter(pk=pk)
        .first()
    )
    if n is None:
        raise Http404
    return n


@login_required
def log_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(selectors.can_view_log(request.user))
    n = _notification_or_404(pk)
    merged = n.merged.select_related("finding").order_by("id")
    return render(
        request,
        "notify/log_detail.html",
        {
            **_tabs(request, "log"),
            "n": n,
            "kind_label": _kind_label(n.channel.kind),
            "attempts": list(n.deliveries.order_by("number")),
            "merged": list(merged[:200]),
            "merged_count": merged.count(),
            "sms_params": n.extra.get("sms_params") or [],
            "template_error": n.extra.get("template_error", ""),
        },
    )


@require_POST
@login_required
def log_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    require(selectors.can_manage(request.user))
    n = _notification_or_404(pk)
    try:
        if action == "retry":
            services.notification_retry(actor=_actor(request), notification=n)
            done = _("已安排重发")
        elif action == "cancel":
            services.notification_cancel(actor=_actor(request), notification=n)
            done = _("已取消发送")
        else:
            raise Http404
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("notify:log_detail", pk=pk)
    messages.success(request, done)
    return redirect("notify:log_detail", pk=pk)


# --- the inbox ------------------------------------------------------------------------------------


def _inbox_item(n: Notification, user, today) -> dict[str, Any]:
    item = selectors.inbox_item(n, today)
    if item["link"].startswith("/rules/") and not can_view_roster(user):
        # someone outside HR (an employee told about their own case): the words, not a link
        from shebao.rules.selectors import display_explanation

        item["link"] = ""
        item["body"] = display_explanation(n.finding, today) if n.finding is not None else n.body
    return item


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    rows = selectors.inbox_for(request.user)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = Paginator(rows, settings.SHEBAO_PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    page.object_list = [_inbox_item(n, request.user, today) for n in page.object_list]
    return render(
        request,
        "notify/inbox.html",
        {
            "active": "inbox",
            "page": page,
            "unread_only": unread_only,
            "unread": selectors.inbox_unread(request.user),
            "here": request.get_full_path(),
        },
    )


@login_required
def inbox_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Open an item: it is read now; a finding's opens the finding."""
    n = selectors.inbox_for(request.user).filter(pk=pk).first()
    if n is None:
        raise Http404
    services.inbox_mark_read(user=request.user, ids=[n.pk])
    item = _inbox_item(n, request.user, timezone.localdate())
    return redirect(item["link"] or f"{reverse('notify:inbox')}#n{n.pk}")


@require_POST
@login_required
def inbox_read(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    if request.POST.get("all"):
        n = services.inbox_mark_read(user=request.user)
        messages.success(request, _("已将 %(n)d 条通知标为已读") % {"n": n})
    elif ids:
        services.inbox_mark_read(user=request.user, ids=ids)
    return redirect(back_url(request, reverse("notify:inbox")))


# --- preferences ----------------------------------------------------------------------------------


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    pref = Preference.objects.filter(user=user).first()
    chosen = list(pref.channels) if pref is not None else list(PERSONAL_DEFAULT)
    form = PreferenceForm(
        request.POST if request.method == "POST" else None,
        phone_masked=pref.phone_masked if pref else "",
        initial={"email": "email" in chosen, "sms": "sms" in chosen},
    )
    status = 200
    if request.method == "POST":
        saved = submit_form(
            form,
            lambda: services.preference_update(
                actor=_actor(request), user=user, channels=form.channels(), phone=form.phone_value()
            ),
        )
        if saved is not None:
            messages.success(request, _("已保存通知设置"))
            return redirect("notify:preferences")
        status = 422
    personal = Channel.objects.filter(enabled=True, for_people=True)
    return render(
        request,
        "notify/preferences.html",
        {
            "active": "inbox",
            "form": form,
            "email_ready": personal.filter(kind="email").exists(),
            "sms_ready": personal.filter(kind__in=["sms_aliyun", "sms_tencent"]).exists(),
            "user_email": user.email,
        },
        status=status,
    )


# --- the demo's mail and SMS sinks ----------------------------------------------------------------


def _sink_allowed(request: HttpRequest) -> None:
    if not mail_sink_enabled():
        raise Http404
    require(selectors.can_manage(request.user))


@login_required
def mail_sink(request: HttpRequest) -> HttpResponse:
    from shebao.notify.mailsink import sink_messages

    _sink_allowed(request)
    return render(
        request, "notify/mail_sink.html", {**_tabs(request, "mail_sink"), "mails": sink_messages(limit=100)}
    )


@login_required
def sms_sink(request: HttpRequest) -> HttpResponse:
    """The texts the demo's SMS sink received: the phone masked, the text in full (a one-time
    code is there to be read: this is the demo's stand-in for the employee's phone)."""
    from shebao.notify.smssink import sms_messages

    _sink_allowed(request)
    return render(
        request, "notify/sms_sink.html", {**_tabs(request, "sms_sink"), "texts": sms_messages(limit=100)}
    )


@login_required
def mail_sink_message(request: HttpRequest, name: str) -> HttpResponse:
    from shebao.notify.mailsink import sink_message

    _sink_allowed(request)
    mail = sink_message(name)
    if mail is None:
        raise Http404
    return render(request, "notify/mail_sink_message.html", {**_tabs(request, "mail_sink"), "mail": mail})
