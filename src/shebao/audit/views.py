"""The audit log page: read-only, for HR admins and auditors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from shebao.accounts.permissions import can_view_audit
from shebao.audit.selectors import audit_action_choices, audit_event_list
from shebao.web.decorators import login_required

ACTION_LABELS = {
    "employee.create": gettext_lazy("新增员工"),
    "employee.update": gettext_lazy("修改员工"),
    "employee.rehire": gettext_lazy("再入职"),
    "employee.reveal_id_number": gettext_lazy("查看完整证件号码"),
    "employee.reveal_phone": gettext_lazy("查看完整手机号"),
    "entity.create": gettext_lazy("新增参保主体"),
    "department.create": gettext_lazy("新增部门"),
    "user.create": gettext_lazy("新增用户"),
    "api_token.create": gettext_lazy("创建API令牌"),
    "api_token.revoke": gettext_lazy("吊销API令牌"),
    "evidence.settings": gettext_lazy("修改证据链设置"),
    "evidence.checkpoint": gettext_lazy("生成证据链校验点"),
    "evidence.bundle_export": gettext_lazy("导出证据包"),
    "demo.seed": gettext_lazy("生成演示数据"),
    # Written by the Django admin (shebao.audit.admin.AuditedAdminMixin).
    "entity.update": gettext_lazy("修改参保主体"),
    "department.update": gettext_lazy("修改部门"),
    "user.update": gettext_lazy("修改用户"),
    "policy_figure.verify": gettext_lazy("核验政策数据"),
    "policy_figure.correct": gettext_lazy("更正政策数据"),
    "policy_figure.import": gettext_lazy("导入政策数据"),
    "policy_period.create": gettext_lazy("新增政策期间"),
    "policy.import": gettext_lazy("批量导入政策库"),
    "entity_policy_setting.update": gettext_lazy("修改参保主体费率设置"),
    "import.upload": gettext_lazy("上传花名册文件"),
    "import.mapping": gettext_lazy("确认导入列映射"),
    "import.mode": gettext_lazy("修改导入方式"),
    "import.commit": gettext_lazy("导入花名册"),
    "import.reject": gettext_lazy("拒绝导入花名册"),
    "import.error_report": gettext_lazy("下载错误工作簿"),
    "import.file_purge": gettext_lazy("按保留策略删除上传文件"),
    "ledger.upload": gettext_lazy("上传缴费数据文件"),
    "ledger.ingest": gettext_lazy("导入缴费数据"),
    "ledger.sync": gettext_lazy("数据连接器同步"),
    "ledger.reconcile": gettext_lazy("核对参保缴费差异"),
    "ledger.profile_save": gettext_lazy("保存文件格式模板"),
    "ledger.connector_create": gettext_lazy("新增数据连接器"),
    "ledger.connector_update": gettext_lazy("修改数据连接器"),
}

OBJECT_TYPE_LABELS = {
    "roster.employee": gettext_lazy("员工"),
    "roster.employmentspell": gettext_lazy("任职期间"),
    "org.entity": gettext_lazy("参保主体"),
    "org.department": gettext_lazy("部门"),
    "accounts.user": gettext_lazy("用户"),
    "accounts.apitoken": gettext_lazy("API令牌"),
    "evidence.settings": gettext_lazy("证据链设置"),
    "policy.policyfigure": gettext_lazy("政策数据"),
    "policy.policyperiod": gettext_lazy("政策期间"),
    "policy.entitypolicysetting": gettext_lazy("参保主体费率设置"),
    "imports.importbatch": gettext_lazy("导入批次"),
    "ledger.syncrun": gettext_lazy("同步记录"),
    "ledger.exportprofile": gettext_lazy("文件格式模板"),
    "ledger.connector": gettext_lazy("数据连接器"),
}

VIA_LABELS = {
    "web": gettext_lazy("网页"),
    "api": "API",
    "cli": gettext_lazy("命令行"),
    "worker": gettext_lazy("后台任务"),
}

CHANGES_MAX = 160  # characters shown in the table; the full text is in the cell's title


def action_label(code: str) -> str:
    return str(ACTION_LABELS.get(code, code))


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, list | tuple):
        return "、".join(_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return "，".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


def compact_changes(changes: Any) -> str:
    """{"name": ["张三", "张叁"], "scope": "read"} → "name: 张三 → 张叁；scope: read"."""
    if not changes:
        return ""
    if not isinstance(changes, dict):
        return _value(changes)
    parts = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], list | dict):
            parts.append(f"{key}: {_value(value[0])} → {_value(value[1])}")
        else:
            parts.append(f"{key}: {_value(value)}")
    return "；".join(parts)


def _row(event) -> dict[str, Any]:
    full = compact_changes(event.changes)
    return {
        "event": event,
        "action_label": action_label(event.action),
        "known_action": event.action in ACTION_LABELS,
        "object_type_label": str(OBJECT_TYPE_LABELS.get(event.object_type, event.object_type)),
        "via_label": str(VIA_LABELS.get(event.via, event.via)),
        "changes": full if len(full) <= CHANGES_MAX else full[: CHANGES_MAX - 1] + "…",
        "changes_full": full,
    }


@require_GET
@login_required
def event_list(request):
    if not can_view_audit(request.user):
        raise Forbidden(_("只有HR管理员和审计员可以查看审计日志"))
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    events = audit_event_list(action=action, actor=actor).select_related("actor")
    page = Paginator(events, settings.SHEBAO_PAGE_SIZE).get_page(request.GET.get("page"))
    codes = sorted(set(audit_action_choices()) | ({action} if action else set()))
    context = {
        "active": "audit",
        "page": page,
        "rows": [_row(e) for e in page.object_list],
        "filters": {"action": action, "actor": actor},
        "filtered": bool(action or actor),
        "action_choices": [(code, action_label(code)) for code in codes],
    }
    partial = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    response = render(request, "audit/_events.html" if partial else "audit/event_list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
