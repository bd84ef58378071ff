"""Staged normalised identity and phone numbers are now encrypted as the roster encrypts them
(purposes ``employee.id_number`` / ``employee.phone``), so the commit copies them. Re-encrypt the
rows staged before (purposes ``import.id_number`` / ``import.phone``)."""

from django.db import migrations

MOVES = (
    ("id_number_enc", "import.id_number", "employee.id_number"),
    ("phone_enc", "import.phone", "employee.phone"),
)


def forwards(apps, schema_editor):
    from cryptography.exceptions import InvalidTag

    ImportRow = apps.get_model("imports", "ImportRow")
    rows = ImportRow.objects.exclude(id_number_enc="", phone_enc="")
    if not rows.exists():
        return
    from shebao.core import crypto

    changed = []
    for row in rows.only("pk", "id_number_enc", "phone_enc").iterator(chunk_size=2000):
        touched = False
        for column, old, new in MOVES:
            token = getattr(row, column)
            if not token:
                continue
            try:
                plain = crypto.decrypt(token, purpose=old)
            except InvalidTag:  # already under the new purpose
                continue
            setattr(row, column, crypto.encrypt(plain, purpose=new))
            touched = True
        if touched:
            changed.append(row)
        if len(changed) >= 500:
            ImportRow.objects.bulk_update(changed, ["id_number_enc", "phone_enc"])
            changed = []
    if changed:
        ImportRow.objects.bulk_update(changed, ["id_number_enc", "phone_enc"])


class Migration(migrations.Migration):
    dependencies = [("imports", "0002_importbatch_file_purged_at")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
