import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Every patient's facts name her district now (0005): require it."""

    dependencies = [
        ("insights", "0005_facts_district"),
    ]

    operations = [
        migrations.AlterField(
            model_name="patientfacts",
            name="district",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="patients.district",
            ),
        ),
    ]
