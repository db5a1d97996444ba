from django.db import migrations

from patients.roles import sync_role_groups


def update_role_groups(apps, schema_editor):
    # Administrators issue and revoke API tokens in the admin (ADMINISTRATOR_APPS gained authtoken).
    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0010_access_log"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(update_role_groups, migrations.RunPython.noop)]
