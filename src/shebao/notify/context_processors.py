"""The notifications room in every page's top bar: the inbox with its unread count for everyone
signed in, and the room's admin pages for HR admins (channels, templates, log) and auditors (log)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from shebao.notify import selectors


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    if selectors.can_manage(user):
        items.append({"key": "channels", "label": _("通知通道"), "url": reverse("notify:channels")})
        items.append({"key": "templates", "label": _("消息模板"), "url": reverse("notify:templates")})
    if selectors.can_view_log(user):
        items.append({"key": "log", "label": _("发送记录"), "url": reverse("notify:log")})
    return {"inbox_unread": selectors.inbox_unread(user), "notify_nav": items}
