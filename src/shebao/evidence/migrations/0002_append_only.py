"""The evidence ledger is append-only in the database itself on PostgreSQL: triggers refuse any
UPDATE or DELETE of ``evidence_entry`` (whoever connects, the application or psql). SQLite has no
such guard here — the model and its queryset refuse, and verification detects what slips past."""

from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION evidence_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'evidence ledger is append-only: % on evidence_entry refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS evidence_entry_no_update ON evidence_entry;
CREATE TRIGGER evidence_entry_no_update BEFORE UPDATE ON evidence_entry
    FOR EACH ROW EXECUTE FUNCTION evidence_entry_append_only();
DROP TRIGGER IF EXISTS evidence_entry_no_delete ON evidence_entry;
CREATE TRIGGER evidence_entry_no_delete BEFORE DELETE ON evidence_entry
    FOR EACH ROW EXECUTE FUNCTION evidence_entry_append_only();
"""

ALLOW = """
DROP TRIGGER IF EXISTS evidence_entry_no_update ON evidence_entry;
DROP TRIGGER IF EXISTS evidence_entry_no_delete ON evidence_entry;
DROP FUNCTION IF EXISTS evidence_entry_append_only();
"""


def forbid(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORBID, params=None)


def allow(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW, params=None)


def head(apps, schema_editor):
    Head = apps.get_model("evidence", "Head")
    Head.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [
        migrations.RunPython(forbid, allow),
        migrations.RunPython(head, migrations.RunPython.noop),
    ]
