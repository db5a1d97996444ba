"""Trigram indexes for the patient search on PostgreSQL.

The search (PatientQuerySet.search) matches patient_id from its start and name or village
anywhere, ignoring case: `UPPER(column::text) LIKE UPPER('%text%')`, which no B-tree index can
answer: each search scanned every patient. A pg_trgm GIN index on each of those expressions lets
PostgreSQL answer it from the indexes (three or more characters typed). SQLite has no such index
and keeps scanning, which at 100,000 patients still takes tens of milliseconds.

pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+): the database's owner
may create it, no superuser needed.
"""

from django.db import migrations

COLUMNS = ("patient_id", "name", "village")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS patients_patient_{column}_trgm "
            f"ON patients_patient USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS patients_patient_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("patients", "0011_administrators_manage_api_tokens")]

    operations = [migrations.RunPython(create, drop)]
