from django.db import migrations

# insights.models.TRIAGE_INDEX, as this migration builds it: the order of HIGH_RISK_ORDERS["priority"],
# then the patient (the list's key) and every column clinical.REASONS and the list's filters read.
# insights/tests/test_high_risk_index.py holds today's code to it.
INDEX = "insights_facts_triage_idx"
CREATE = (
    f"CREATE INDEX CONCURRENTLY {INDEX} ON insights_patientfacts "
    "(triage_level, latest_reading_date DESC NULLS LAST, patient_code) "
    "INCLUDE (patient_id, anaemia_keyword, current_haemoglobin_g_dl, n_caesarean, latest_bp_systolic, "
    "latest_bp_diastolic, hypertension_keyword)"
)


def build(apps, schema_editor):
    """On PostgreSQL, CREATE INDEX CONCURRENTLY: every write refreshes some patients' facts, and the
    wards keep writing while it is built. A build that failed halfway leaves an invalid index of
    that name behind and the migration unapplied: running it again drops that first."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    """The high-risk list's default order as an index of the facts, on PostgreSQL only (SQLite takes
    neither NULLS LAST nor INCLUDE in an index): insights.models.TRIAGE_INDEX. The patients' IDs
    there order by their characters, whatever the server's locale (the column's collation, 0009)."""

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("insights", "0010_compute_facts"),
    ]

    operations = [
        migrations.RunPython(build, drop, elidable=False),
    ]
