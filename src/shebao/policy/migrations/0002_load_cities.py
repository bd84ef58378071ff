from django.db import migrations


def load_cities(apps, schema_editor):
    from shebao.policy.services import city_table_load

    city_table_load(city_model=apps.get_model("policy", "City"))


class Migration(migrations.Migration):
    dependencies = [("policy", "0001_initial")]
    operations = [migrations.RunPython(load_cities, migrations.RunPython.noop)]
