from django.db import migrations


def compute_facts(apps, schema_editor):
    """Work out every patient's facts and every district's sums, totals and counts (nothing to do in
    a new database; a district all of whose patients left keeps a row, whose counts 0014 left
    empty). Today's insights.facts writes every column of the tables as this migration leaves them:
    a later change to the facts' tables moves this step to its own migration (and makes this one do
    nothing)."""
    models = [apps.get_model("patients", "Patient"), apps.get_model("insights", "DistrictSums")]
    if any(model._default_manager.exists() for model in models):
        from insights.facts import refresh

        refresh()


class Migration(migrations.Migration):
    """Every patient's facts and every district's sums, totals and counts worked out again (seconds
    at a million follow-ups, minutes at ten). Stop the previous release before migrating: from 0014
    on, its writes fail (it does not fill the districts' counts)."""

    dependencies = [
        ("insights", "0014_district_metrics_totals"),
    ]

    operations = [
        migrations.RunPython(compute_facts, migrations.RunPython.noop, elidable=True),
    ]
