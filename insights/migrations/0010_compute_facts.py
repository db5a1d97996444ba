from django.db import migrations


class Migration(migrations.Migration):
    """Once worked out every patient's facts and every district's sums: 0013 does it now, with the
    code of today, which writes the districts' totals that 0012 adds."""

    dependencies = [
        ("insights", "0009_facts_triage"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop, elidable=True),
    ]
