from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from shebao.accounts.permissions import (
    can_admin,
    can_edit_roster,
    can_manage_tokens,
    can_view_audit,
    can_view_roster,
)
from shebao.evidence.selectors import can_view_evidence

# Rooms still to be built are listed so the layout does not change as they arrive.
UPCOMING = [
    ("reports", gettext_noop("风险报告")),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    if can_view_roster(user):
        items.append({"key": "dashboard", "label": _("工作台"), "url": reverse("web:dashboard")})
        items.append({"key": "roster", "label": _("花名册"), "url": reverse("roster:list")})
        if can_edit_roster(user):
            items.append({"key": "imports", "label": _("数据导入"), "url": reverse("imports:list")})
        items.append({"key": "ledger", "label": _("缴费台账"), "url": reverse("ledger:overview")})
        items.append({"key": "rules", "label": _("预警"), "url": reverse("rules:findings")})
        items.append({"key": "cases", "label": _("合规案件"), "url": reverse("cases:list")})
        if can_view_evidence(user):
            items.append({"key": "evidence", "label": _("证据存档"), "url": reverse("evidence:chain")})
        items.append({"key": "policy", "label": _("政策库"), "url": reverse("policy:list")})
        items.append({"key": "law", "label": _("法规库"), "url": reverse("law:index")})
        items.append({"key": "calc", "label": _("计算器"), "url": reverse("calc:index")})
    else:
        items.append({"key": "portal", "label": _("我的信息"), "url": reverse("web:portal")})
    if can_view_audit(user):
        items.append({"key": "audit", "label": _("审计日志"), "url": reverse("audit:list")})
    upcoming = [{"key": k, "label": _(label)} for k, label in UPCOMING] if can_view_roster(user) else []
    return {
        "nav_items": items,
        "nav_upcoming": upcoming,
        "nav_can_tokens": can_manage_tokens(user),
        "nav_can_admin": can_admin(user) and user.is_staff,
    }
