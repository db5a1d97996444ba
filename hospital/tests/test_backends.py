from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from hospital.backends import RoleBackend
from patients import roles
from patients.tests.factories import make_user


def _fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def test_a_users_own_and_group_permissions_match_djangos_backend_in_one_query(db, django_assert_num_queries):
    user = make_user("nurse", roles.CLINICIAN)
    user.user_permissions.add(Permission.objects.get(codename="add_delivery"))
    fresh = _fresh(user)
    with django_assert_num_queries(1):
        ours = RoleBackend().get_all_permissions(fresh)
    assert ours == ModelBackend().get_all_permissions(_fresh(user))
    assert {"patients.add_delivery", "patients.add_followup", "patients.view_patient"} <= ours
    assert "patients.change_patient" not in ours


def test_superusers_hold_every_permission_and_inactive_users_none(db):
    boss = make_user("boss", is_superuser=True)
    assert RoleBackend().get_all_permissions(_fresh(boss)) == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }
    gone = make_user("gone", roles.ADMINISTRATOR, is_active=False)
    assert RoleBackend().get_all_permissions(_fresh(gone)) == set()
    assert not _fresh(gone).has_perm("patients.view_patient")


def test_a_user_with_no_role_holds_nothing(no_role_user):
    assert RoleBackend().get_all_permissions(_fresh(no_role_user)) == set()
