from django.db import migrations


def load_library(apps, schema_editor):
    from shebao.policy.services import policy_library_load

    policy_library_load(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("policy", "0003_policy_library")]
    operations = [migrations.RunPython(load_library, migrations.RunPython.noop)]
