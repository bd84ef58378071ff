"""Writes for connector settings: create, change, and "sync now" (queued for the worker).

Connectors hold a signing secret and point the server at a folder or an address, so only HR
administrators manage them; HR specialists may start a sync of their own entities' connectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from shebao.accounts.permissions import can_admin, can_edit_roster, entity_scope_ids
from shebao.audit.services import audit_record
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.ledger.connectors.base import connector_secret_set
from shebao.ledger.connectors.drop_folder import folder_allowed
from shebao.ledger.models import Connector
from shebao.org.models import Entity

MIN_INTERVAL, MAX_INTERVAL = 5, 7 * 24 * 60


def _ensure_admin(actor: Actor) -> None:
    if actor.user is not None and not can_admin(actor.user):
        raise PermissionDenied("只有人事管理员可以设置数据连接器")


def _clean(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写名称"
    interval = values.get("interval_minutes") or 60
    if not MIN_INTERVAL <= int(interval) <= MAX_INTERVAL:
        errors["interval_minutes"] = f"同步间隔应在 {MIN_INTERVAL} 分钟至 7 天之间"
    out: dict[str, Any] = {
        "name": name[:100],
        "interval_minutes": int(interval),
        "enabled": bool(values.get("enabled", True)),
    }
    if kind == Connector.Kind.DROP_FOLDER:
        folder = (values.get("folder") or "").strip()
        if not folder:
            errors["folder"] = "请填写投递文件夹的完整路径"
        else:
            path = Path(folder).expanduser()
            if not path.is_absolute():
                errors["folder"] = "请填写完整路径（以 / 开头）"
            elif not folder_allowed(path):
                roots = "、".join(settings.SHEBAO_DROP_FOLDER_ROOTS)
                errors["folder"] = f"该文件夹不在允许的目录之内（SHEBAO_DROP_FOLDER_ROOTS）：{roots}"
        out.update(folder=folder, base_url="", client_id="")
    elif kind == Connector.Kind.HTTP:
        url = (values.get("base_url") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors["base_url"] = "请填写 http:// 或 https:// 开头的接口地址"
        out.update(base_url=url, client_id=(values.get("client_id") or "").strip()[:100], folder="")
    else:
        errors["kind"] = "未知的连接器类型"
    if errors:
        raise ApplicationError("；".join(errors.values()), field_errors=errors)
    return out


def connector_create(
    *, actor: Actor, entity: Entity, kind: str, secret: str = "", **values: Any
) -> Connector:
    _ensure_admin(actor)
    data = _clean(kind, values)
    if Connector.objects.filter(entity=entity, name=data["name"]).exists():
        raise ApplicationError(
            f"“{entity.name}”已有名为“{data['name']}”的连接器", field_errors={"name": "重复"}
        )
    with transaction.atomic():
        connector = Connector(entity=entity, kind=kind, **data)
        if secret:
            connector_secret_set(connector, secret)
        connector.save()
        audit_record(
            actor=actor,
            action="ledger.connector_create",
            obj=connector,
            changes={
                **_audit_view(data),
                "entity": entity.code,
                "kind": kind,
                "secret": "已设置" if secret else "",
            },
        )
    return connector


def connector_update(
    *, actor: Actor, connector: Connector, secret: str | None = None, **values: Any
) -> Connector:
    """Change a connector; ``secret=None`` keeps the stored one, "" clears it."""
    _ensure_admin(actor)
    data = _clean(connector.kind, values)
    before = {k: getattr(connector, k) for k in data}
    with transaction.atomic():
        for k, v in data.items():
            setattr(connector, k, v)
        if secret is not None:
            connector_secret_set(connector, secret)
        connector.save()
        changes = {k: [before[k], v] for k, v in data.items() if before[k] != v}
        if secret is not None:
            changes["secret"] = "已更换" if secret else "已清除"
        audit_record(actor=actor, action="ledger.connector_update", obj=connector, changes=changes)
    return connector


def _audit_view(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None)}


def connector_sync_request(*, actor: Actor, connector: Connector, full: bool = False) -> None:
    """Queue a sync now ("立即同步"); the run appears in 同步记录 when the worker takes it."""
    if actor.user is not None:
        if not can_edit_roster(actor.user):
            raise PermissionDenied("只有人事专员和人事管理员可以发起同步")
        scope = entity_scope_ids(actor.user)
        if scope is not None and connector.entity_id not in scope:
            raise PermissionDenied(f"无权同步参保主体“{connector.entity.name}”的数据")
    from shebao.ledger.tasks import ledger_connector_sync_task

    user_id = actor.user.pk if actor.user else None
    transaction.on_commit(
        lambda: ledger_connector_sync_task(connector.pk, full, user_id, actor.ip, actor.via)
    )


def simulator_connectors_register(
    *, url: str, client_id: str, secret: str, units: Iterable[str]
) -> list[tuple[Connector, bool]]:
    """Point a "模拟平台" HTTP connector of every active entity the simulator serves at ``url``
    (created or updated); [(connector, created)]. For the demo and ``simulate-platform --register``."""
    from shebao.ledger.connectors.base import connector_unit_no

    served = set(units)
    out = []
    for entity in Entity.objects.filter(is_active=True).order_by("code"):
        if connector_unit_no(entity) not in served:
            continue
        connector, created = Connector.objects.get_or_create(
            entity=entity,
            name="模拟平台",
            defaults={"kind": Connector.Kind.HTTP, "is_simulator": True, "interval_minutes": 60},
        )
        connector.kind, connector.is_simulator = Connector.Kind.HTTP, True
        connector.base_url, connector.client_id = url, client_id
        connector_secret_set(connector, secret)
        connector.save()
        out.append((connector, created))
    return out
