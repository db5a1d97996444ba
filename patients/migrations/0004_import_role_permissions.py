from django.db import migrations

from patients.roles import sync_role_groups


def update_role_groups(apps, schema_editor):
    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_import_batches")]

    operations = [migrations.RunPython(update_role_groups, migrations.RunPython.noop)]
