from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from shebao.audit.admin import ReadOnlyAdminMixin
from shebao.roster.models import Employee, EmploymentSpell


class EmploymentSpellInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EmploymentSpell
    extra = 0
    fields = [
        "employee_no",
        "entity",
        "department",
        "employment_type",
        "hire_date",
        "leave_date",
        "leave_reason",
        "declared_wage",
    ]
    readonly_fields = fields
    show_change_link = False


@admin.register(Employee)
class EmployeeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: identity and phone are shown masked only; the *_enc and *_bidx columns never
    leave the database through the admin. Employees are maintained in the roster pages, which
    validate and audit every change."""

    list_display = [
        "employee_no",
        "name",
        "id_number_masked",
        "entity",
        "department",
        "employment_type",
        "hire_date",
        "leave_date",
        "status",
    ]
    list_filter = ["status", "employment_type", "entity", "id_upgraded_from_15"]
    search_fields = ["employee_no", "name"]
    list_select_related = ["entity", "department"]
    list_per_page = 50
    show_full_result_count = False
    fields = [
        "name",
        "id_kind",
        "id_number_masked",
        "id_upgraded_from_15",
        "birth_date",
        "gender",
        "hukou_type",
        "phone_masked",
        "email",
        "employee_no",
        "entity",
        "department",
        "employment_type",
        "hire_date",
        "leave_date",
        "declared_wage",
        "status",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [EmploymentSpellInline]

    @admin.display(description=_("证件号码（已脱敏）"))
    def id_number_masked(self, obj):
        return obj.id_number_masked

    @admin.display(description=_("手机号（已脱敏）"))
    def phone_masked(self, obj):
        return obj.phone_masked

    def lookup_allowed(self, lookup, value, request=None):
        # No filtering on ciphertexts or blind indexes through crafted query strings.
        if "_enc" in lookup or "_bidx" in lookup:
            return False
        return super().lookup_allowed(lookup, value, request)
