from __future__ import annotations

from django.db.models import QuerySet

from shebao.audit.models import AuditEvent


def audit_event_list(
    *, action: str = "", actor: str = "", object_type: str = "", object_id: str = ""
) -> QuerySet:
    qs = AuditEvent.objects.all()
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_label=actor)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return qs


def audit_action_choices() -> list[str]:
    return list(AuditEvent.objects.order_by().values_list("action", flat=True).distinct())
