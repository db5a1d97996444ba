from django.db import migrations


class Migration(migrations.Migration):
    """Once worked out every patient's facts and every district's sums and totals: 0015 does it now,
    with the code of today, which writes the districts' counts that 0014 adds."""

    dependencies = [
        ("insights", "0012_district_totals"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop, elidable=True),
    ]
