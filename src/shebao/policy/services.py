from __future__ import annotations

from django.apps import apps as django_apps

from shebao.policy.divisions import current_cities, short_name


def city_table_load(*, city_model=None) -> int:
    """Load the GB/T 2260 city list (idempotent). Used by migration 0002 and after test flushes."""
    City = city_model or django_apps.get_model("policy", "City")
    existing = set(City.objects.values_list("code", flat=True))
    rows = [
        City(code=code, name=name, short_name=short_name(name), province=province)
        for code, name, province in current_cities()
        if code not in existing
    ]
    City.objects.bulk_create(rows)
    return len(rows)
