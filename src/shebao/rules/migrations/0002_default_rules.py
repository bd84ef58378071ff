"""Install the default rule set in a deployment whose organisation already exists (new ones get
it when the organisation is created: shebao.org.services.organisation_get_or_create)."""

from django.db import migrations


def install(apps, schema_editor):
    from shebao.rules.kinds import KINDS

    if not apps.get_model("org", "Organisation").objects.exists():
        return
    AlertRule = apps.get_model("rules", "AlertRule")
    have = set(AlertRule.objects.filter(is_default=True).values_list("kind", flat=True))
    for code, kind in KINDS.items():
        if code not in have:
            AlertRule.objects.create(
                kind=code,
                name=str(kind.default_name),
                params=kind.default_params(),
                severity=str(kind.severity),
                is_default=True,
            )


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial"), ("org", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
