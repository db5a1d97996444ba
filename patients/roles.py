"""
The three staff roles, as Django groups, and the permissions each one holds.

The groups are created by migration 0002 and brought up to date by any later migration that adds
permissions (call `sync_role_groups` from it). Views check permissions, never group names, so an
administrator can compose other roles in the admin without touching code.
"""

CLINICIAN = "Clinician"
DATA_MANAGER = "Data manager"
ADMINISTRATOR = "Administrator"

_RECORDS = ("district", "patient", "delivery", "followup")

CLINICIAN_PERMISSIONS = [f"patients.view_{model}" for model in _RECORDS] + ["patients.add_followup"]

DATA_MANAGER_PERMISSIONS = (
    CLINICIAN_PERMISSIONS
    + [f"patients.{action}_{model}" for model in _RECORDS for action in ("add", "change") if model != "followup"]
    + ["patients.change_followup"]
    + [f"patients.view_historical{model}" for model in _RECORDS if model != "district"]
    # Importing and exporting workbooks, and reading the record of past imports.
    + ["patients.add_importbatch", "patients.view_importbatch", "patients.export_patient"]
    # Mapping an import's unknown spellings (saved as aliases), and correcting those mappings.
    + ["patients.add_valuealias", "patients.change_valuealias", "patients.view_valuealias"]
)

# Administrators hold every permission of these apps, deletes, user management and API tokens included,
# except rewriting the change history, the admin log, the access log and the record of imports: those
# stay faithful. Only administrators read the access log (view_accesslog).
ADMINISTRATOR_APPS = ("patients", "auth", "admin", "sessions", "authtoken")
TAMPER_PROOF_CODENAME_REGEX = r"^((add|change|delete)_(historical.*|logentry|accesslog)|(change|delete)_importbatch)$"

ROLE_PERMISSIONS = {
    CLINICIAN: CLINICIAN_PERMISSIONS,
    DATA_MANAGER: DATA_MANAGER_PERMISSIONS,
}


def sync_role_groups(apps):
    """Create the role groups and set their permissions (idempotent; for data migrations)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; create them now so the
    # groups can be given them in the same migrate.
    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which migration states lack.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(dotted_names):
        # A permission of a model that a later migration creates is not there yet: that
        # migration calls this again. test_roles checks every name exists once all have run.
        wanted = {tuple(name.split(".")) for name in dotted_names}
        candidates = Permission.objects.filter(codename__in=[codename for _, codename in wanted])
        return [
            p for p in candidates.select_related("content_type") if (p.content_type.app_label, p.codename) in wanted
        ]

    for role, dotted_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(permissions(dotted_names))

    administrator, _ = Group.objects.get_or_create(name=ADMINISTRATOR)
    administrator.permissions.set(
        Permission.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS).exclude(
            codename__regex=TAMPER_PROOF_CODENAME_REGEX
        )
    )
