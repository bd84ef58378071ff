from django.contrib import admin

from shebao.policy.models import City


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "province"]
    search_fields = ["code", "name", "short_name"]
