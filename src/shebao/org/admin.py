from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from shebao.audit.admin import AuditedAdminMixin
from shebao.core.exceptions import ApplicationError
from shebao.org.models import Department, Entity
from shebao.org.services import department_set_path, organisation_get_or_create, uscc_normalise


class EntityAdminForm(forms.ModelForm):
    class Meta:
        model = Entity
        fields = ["code", "name", "uscc", "city", "si_unit_no", "hf_unit_no", "is_active"]

    def clean_uscc(self):
        # The same check as the service: canonical form, and a message saying what is wrong.
        try:
            return uscc_normalise(self.cleaned_data.get("uscc", ""))
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code="invalid_uscc") from exc


@admin.register(Entity)
class EntityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = EntityAdminForm
    list_display = ["code", "name", "uscc", "city", "si_unit_no", "hf_unit_no", "is_active"]
    list_filter = ["is_active", "city__province"]
    search_fields = ["code", "name", "uscc", "si_unit_no", "hf_unit_no", "city__name"]
    list_select_related = ["city"]
    autocomplete_fields = ["city"]
    audit_object = "entity"
    audit_fields = ("code", "name", "uscc", "city", "si_unit_no", "hf_unit_no", "is_active")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.organisation = organisation_get_or_create()
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False  # employees, spells and departments point at it; deactivate instead


class DepartmentAdminForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = ["entity", "parent", "name", "code", "kind"]

    def clean(self):
        data = super().clean()
        entity = data.get("entity") or (self.instance.entity if self.instance.entity_id else None)
        parent = data.get("parent")
        name = data.get("name")
        if entity is None:
            return data
        if parent is not None:
            if parent.entity_id != entity.id:
                self.add_error(
                    "parent",
                    _("上级部门“%(parent)s”不属于参保主体“%(entity)s”")
                    % {"parent": parent.name, "entity": entity.name},
                )
            elif self.instance.pk and (
                parent.pk == self.instance.pk or parent.path.startswith(self.instance.path)
            ):
                self.add_error("parent", _("上级部门不能是本部门或其下级部门"))
        # The unique constraint does not catch two top-level departments of the same name (NULL parent).
        if name and not self.has_error("parent"):
            siblings = Department.objects.filter(entity=entity, parent=parent, name=name).exclude(
                pk=self.instance.pk
            )
            if siblings.exists():
                self.add_error(
                    "name",
                    _("“%(where)s”下已有名为“%(name)s”的部门")
                    % {"where": parent.name if parent else entity.name, "name": name},
                )
        return data


@admin.register(Department)
class DepartmentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = DepartmentAdminForm
    list_display = ["indented_name", "entity", "parent", "kind", "code"]
    list_filter = ["entity", "kind"]
    search_fields = ["name", "code", "entity__name"]
    list_select_related = ["entity", "parent"]
    autocomplete_fields = ["parent"]
    audit_object = "department"
    audit_fields = ("entity", "parent", "name", "code", "kind")

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return "　" * obj.depth + obj.name

    def get_readonly_fields(self, request, obj=None):
        # Employees and spells record the department with its entity: moving across entities
        # would break that, so the entity is fixed once created.
        return ["entity"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        old_path = Department.objects.get(pk=obj.pk).path if change else None
        super().save_model(request, obj, form, change)
        department_set_path(department=obj)
        if old_path and old_path != obj.path:
            # Moved: every department below follows (parents first, each reading its parent afresh).
            for child in (
                Department.objects.filter(path__startswith=old_path).exclude(pk=obj.pk).order_by("depth")
            ):
                department_set_path(department=child)

    def has_delete_permission(self, request, obj=None):
        return False  # employees point at departments; keep history intact
