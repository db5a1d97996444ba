from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexWithoutStoppingWrites(AddIndexConcurrently):
    """On PostgreSQL, CREATE INDEX CONCURRENTLY: the wards keep writing follow-ups while it is
    built (a plain CREATE INDEX would hold their writes for as long as it reads the table: seconds
    at ten million follow-ups). Elsewhere (SQLite: one writer at a time anyway), a plain index.

    A concurrent build that fails halfway (cancelled, or its session killed) leaves an invalid index
    of that name behind and the migration unapplied: running the migration again drops it first."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.index.name)}")
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("patients", "0019_records_written"),
    ]

    operations = [
        AddIndexWithoutStoppingWrites(
            model_name="followup",
            index=models.Index(
                condition=models.Q(("voided_at__isnull", True)),
                fields=["visit_date", "visit_number"],
                include=("weight_kg", "haemoglobin_g_dl"),
                name="patients_followup_trends_idx",
            ),
        ),
    ]
