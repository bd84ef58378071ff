from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models

from shebao.audit.models import AuditEvent
from shebao.audit.services import audit_record, diff
from shebao.core.context import Actor


def _snapshot_value(value: Any) -> Any:
    if isinstance(value, models.Manager):  # many-to-many
        return "、".join(sorted(str(o) for o in value.all()))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class AuditedAdminMixin:
    """Write an AuditEvent when a record is added or changed in the admin, like the services do.

    ``audit_object`` names the actions (``entity`` → ``entity.create`` / ``entity.update``);
    ``audit_fields`` are recorded on create and compared on change (never put secrets here).
    """

    audit_object = ""
    audit_fields: tuple[str, ...] = ()

    def audit_snapshot(self, obj) -> dict[str, Any]:
        return {f: _snapshot_value(getattr(obj, f)) for f in self.audit_fields}

    def save_model(self, request, obj, form, change):
        if change:
            obj._audit_before = self.audit_snapshot(type(obj)._default_manager.get(pk=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        after = self.audit_snapshot(obj)
        actor = Actor.from_request(request)
        if not change:
            audit_record(actor=actor, action=f"{self.audit_object}.create", obj=obj, changes=after)
        else:
            changes = diff(getattr(obj, "_audit_before", {}), after)
            if changes:
                audit_record(actor=actor, action=f"{self.audit_object}.update", obj=obj, changes=changes)


class ReadOnlyAdminMixin:
    """Viewable in the admin, never added, changed or deleted there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "object_repr", "ip", "via"]
    list_filter = ["action", "via", "object_type"]
    search_fields = ["actor_label", "action", "object_repr", "object_id"]
    date_hierarchy = "at"
    list_per_page = 50
    fields = [
        "at",
        "actor",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "ip",
        "via",
    ]
    readonly_fields = fields
    show_full_result_count = False
