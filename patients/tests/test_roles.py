import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from patients import roles


@pytest.mark.django_db
def test_migration_creates_the_three_roles_with_their_permissions(clinician, data_manager, administrator):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        roles.CLINICIAN,
        roles.DATA_MANAGER,
        roles.ADMINISTRATOR,
    }

    assert clinician.has_perms(["patients.view_patient", "patients.view_followup", "patients.add_followup"])
    assert not clinician.has_perm("patients.add_patient")
    assert not clinician.has_perm("patients.change_delivery")

    assert data_manager.has_perms(["patients.add_patient", "patients.change_delivery", "patients.change_followup"])
    assert not data_manager.has_perm("patients.delete_patient")
    assert not data_manager.has_perm("auth.change_user")

    assert administrator.has_perms(["patients.delete_patient", "auth.change_user", "auth.add_group"])
    # Nobody may rewrite the change history.
    assert not administrator.has_perm("patients.change_historicalpatient")
    assert not administrator.has_perm("patients.delete_historicalfollowup")


@pytest.mark.django_db
def test_demo_users_get_new_generated_passwords_each_run(capsys):
    call_command("create_demo_users")
    first = capsys.readouterr().out
    call_command("create_demo_users")
    second = capsys.readouterr().out
    passwords = [line.split("password: ")[1] for line in first.splitlines() if "password: " in line]
    assert len(passwords) == 3 and len(set(passwords)) == 3
    assert not set(passwords) & {line.split("password: ")[1] for line in second.splitlines() if "password: " in line}

    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    username, password = second.splitlines()[1].split("username: ")[1].split()[0], second.splitlines()[1].split()[-1]
    # As the login page does: django-axes needs the request (who is asking, from where).
    user = authenticate(RequestFactory().post("/accounts/login/"), username=username, password=password)
    assert user is not None and user.groups.get().name == roles.CLINICIAN and not user.is_staff


@pytest.mark.django_db
def test_every_role_permission_exists_after_migrating():
    from django.contrib.auth.models import Permission

    existing = {
        f"{app}.{codename}" for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    for role, names in roles.ROLE_PERMISSIONS.items():
        assert set(names) <= existing, (role, set(names) - existing)
        assert Group.objects.get(name=role).permissions.count() == len(set(names))
