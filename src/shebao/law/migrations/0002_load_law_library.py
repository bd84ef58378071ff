from django.db import migrations


def load_law_library(apps, schema_editor):
    from shebao.law.services import law_library_load

    law_library_load(statute_model=apps.get_model("law", "Statute"), article_model=apps.get_model("law", "Article"))


class Migration(migrations.Migration):
    dependencies = [("law", "0001_initial")]
    operations = [migrations.RunPython(load_law_library, migrations.RunPython.noop)]
