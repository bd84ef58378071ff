from django.contrib import admin

from shebao.audit.admin import ReadOnlyAdminMixin
from shebao.policy.models import (
    City,
    CityRule,
    EntityPolicySetting,
    NationalRule,
    PolicyFigure,
    PolicyFigureRevision,
    PolicyPeriod,
    PolicySource,
    UnverifiedCandidate,
)


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "province"]
    search_fields = ["code", "name", "short_name"]


# The library changes only through the policy services (verification, correction, import), which
# keep revisions and audit rows; the admin shows it read-only.


@admin.register(PolicyPeriod)
class PolicyPeriodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["city", "label", "effective_from", "effective_to", "published"]
    list_filter = ["city"]
    list_select_related = ["city"]


@admin.register(PolicyFigure)
class PolicyFigureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["period", "insurance", "field", "value", "text_value", "confidence", "verified_at"]
    list_filter = ["confidence", "insurance", "field", "period__city"]
    list_select_related = ["period__city"]


@admin.register(PolicyFigureRevision)
class PolicyFigureRevisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["figure", "kind", "old_value", "new_value", "changed_by_label", "changed_at"]
    list_select_related = ["figure__period__city"]


@admin.register(PolicySource)
class PolicySourceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "doc_no", "publisher", "url"]
    search_fields = ["text", "doc_no", "url"]


@admin.register(NationalRule)
class NationalRuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["insurance", "key", "value", "confidence"]


@admin.register(CityRule)
class CityRuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["city", "text", "effective_from", "effective_to", "confidence"]


@admin.register(UnverifiedCandidate)
class UnverifiedCandidateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["city", "period", "values"]


@admin.register(EntityPolicySetting)
class EntityPolicySettingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "entity",
        "industry_class",
        "work_injury_rate",
        "housing_fund_employer_rate",
        "updated_at",
    ]
