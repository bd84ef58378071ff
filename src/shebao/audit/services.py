from __future__ import annotations

from typing import Any

from django.db import models

from shebao.audit.models import AuditEvent
from shebao.core.context import Actor


def audit_record(
    *, actor: Actor, action: str, obj: models.Model | None = None, changes: dict[str, Any] | None = None
) -> AuditEvent:
    """Write one audit row. Call inside the service's transaction, after the change."""
    user = actor.user
    return AuditEvent.objects.create(
        actor=user,
        actor_label=(user.username if user else f"系统（{actor.via}）"),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        changes=_jsonable(changes or {}),
        ip=actor.ip,
        via=actor.via,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _plain(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field → [old, new] for the fields that changed (values made JSON-friendly)."""
    return {k: [_plain(before.get(k)), _plain(v)] for k, v in after.items() if before.get(k) != v}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, models.Model):
        return str(value)
    return str(value)
