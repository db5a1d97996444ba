import django.db.models.deletion
from django.db import migrations, models


def compute_facts(apps, schema_editor):
    """Clear the facts that writers of the previous release kept (they name no district, which 0006
    requires): 0015 works out every patient's facts once later migrations have added to their tables
    (this step used to run today's insights.facts, which now writes columns that do not exist yet here)."""
    for model in ("VisitJump", "DeliveryFacts", "PatientFacts"):
        schema_editor.execute(f"DELETE FROM {apps.get_model('insights', model)._meta.db_table}")


class Migration(migrations.Migration):
    """Each patient's stored facts name her district, as her patient row does, so that the outlier
    screen sums each district's values from the facts alone; then every patient's facts are worked
    out again (seconds at a million follow-ups). 0006 then requires it: PostgreSQL cannot alter a
    table in the transaction that wrote its rows (their foreign-key checks are deferred to the
    commit). Writers of the previous release do not fill the district: stop them while these run."""

    dependencies = [
        ("insights", "0004_data_version"),
        # Today's insights.facts reads today's record tables.
        ("patients", "0019_records_written"),
    ]

    operations = [
        migrations.AddField(
            model_name="patientfacts",
            name="district",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="patients.district",
            ),
        ),
        migrations.RunPython(compute_facts, migrations.RunPython.noop, elidable=True),
    ]
