import uuid

from django.db import migrations, models


def first_version(apps, schema_editor):
    apps.get_model("insights", "DataVersion").objects.create(pk=1, token=uuid.uuid4().hex)


class Migration(migrations.Migration):
    """The data version of the insights cache moves from the cache into this one-row table, beside the
    records (insights/cache.py)."""

    dependencies = [
        ("insights", "0003_risk_facts"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=32)),
            ],
        ),
        migrations.RunPython(first_version, migrations.RunPython.noop),
    ]
