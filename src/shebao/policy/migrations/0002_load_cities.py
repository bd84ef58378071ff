from django.db import migrations


def load_cities(apps, schema_editor):
    from shebao.policy.divisions import current_cities, short_name

    City = apps.get_model("policy", "City")
    existing = set(City.objects.values_list("code", flat=True))
    City.objects.bulk_create(
        City(code=code, name=name, short_name=short_name(name), province=province)
        for code, name, province in current_cities()
        if code not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("policy", "0001_initial")]
    operations = [migrations.RunPython(load_cities, migrations.RunPython.noop)]
