"""Administrators manage users and roles, but cannot make anyone a superuser, nor hand anyone (herself
included) a permission she does not hold, such as deleting the record of imports, the access log
or the change history: only a superuser made by createsuperuser can."""

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token

from patients import roles
from patients.models import AccessLog, ImportBatch
from patients.tests.factories import make_patient

pytestmark = pytest.mark.django_db

# What only a superuser may do to the audit records.
AUDIT_DELETES = ["delete_importbatch", "change_importbatch", "delete_accesslog", "delete_historicalpatient",
                 "change_historicalfollowup", "delete_logentry"]  # fmt: skip


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="not-used")


@pytest.fixture
def batch(db):
    return ImportBatch.objects.create(source="command", file_name="ward.xlsx", file_sha256="0" * 64)


@pytest.fixture
def access_log(db):
    patient = make_patient(patient_id="P001")
    return AccessLog.objects.create(kind="view", patient=patient, patient_ref="P001", what="Record page")


def audit_permissions():
    return Permission.objects.filter(codename__in=AUDIT_DELETES)


def form_data(form):
    """What a browser would send back for an unchanged admin form."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled:
            continue
        if isinstance(field.widget, forms.MultiWidget):
            parts = field.widget.decompress(value)
            data.update({f"{name}_{n}": "" if part is None else part for n, part in enumerate(parts)})
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = list(value)
        else:
            data[name] = "" if value is None else value
    return data


def post_change(client, url, **changes):
    data = form_data(client.get(url).context["adminform"].form)
    data.update(changes)
    return client.post(url, data)


def user_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def group_url(group):
    return reverse("admin:auth_group_change", args=[group.pk])


def test_an_administrator_cannot_make_herself_or_anyone_a_superuser(client, administrator, clinician):
    client.force_login(administrator)
    for user in (administrator, clinician):
        response = post_change(client, user_url(user), is_superuser="on", first_name="Asha")
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.first_name == "Asha" and not user.is_superuser
    assert "is_superuser" not in client.get(user_url(clinician)).context["adminform"].form.fields


def test_an_administrator_cannot_grant_herself_what_she_does_not_hold(client, administrator, batch):
    client.force_login(administrator)
    wanted = list(audit_permissions().values_list("pk", flat=True))
    response = post_change(client, user_url(administrator), user_permissions=wanted)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["user_permissions"]
    assert "You cannot grant permissions you do not hold" in errors[0] and "Can delete import" in errors[0]
    assert not administrator.user_permissions.exists()
    delete = reverse("admin:patients_importbatch_delete", args=[batch.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ImportBatch.objects.filter(pk=batch.pk).exists()


def test_an_administrator_cannot_give_her_group_delete_rights_on_audit_records(client, administrator):
    group = Group.objects.get(name=roles.ADMINISTRATOR)
    before = set(group.permissions.values_list("pk", flat=True))
    client.force_login(administrator)
    wanted = [*before, *audit_permissions().values_list("pk", flat=True)]
    response = post_change(client, group_url(group), permissions=wanted)
    assert response.status_code == 200
    assert "You cannot grant permissions you do not hold" in response.context["adminform"].form.errors["permissions"][0]
    assert set(group.permissions.values_list("pk", flat=True)) == before
    new_group = client.post(reverse("admin:auth_group_add"), {"name": "Auditors", "permissions": wanted})
    assert new_group.status_code == 200 and not Group.objects.filter(name="Auditors").exists()


def test_an_administrator_cannot_join_a_group_that_holds_more_than_she_does(client, administrator, superuser):
    auditors = Group.objects.create(name="Auditors")
    auditors.permissions.set(audit_permissions())
    client.force_login(administrator)
    response = post_change(client, user_url(administrator), groups=[*administrator.groups.values_list("pk", flat=True),
                                                                    auditors.pk])  # fmt: skip
    assert response.status_code == 200
    assert "Auditors" in response.context["adminform"].form.errors["groups"][0]
    assert not administrator.groups.filter(pk=auditors.pk).exists()
    # A superuser may; and an administrator editing that user later leaves the group in place.
    client.force_login(superuser)
    assert post_change(client, user_url(administrator), groups=[*administrator.groups.values_list("pk", flat=True),
                                                                auditors.pk]).status_code == 302  # fmt: skip
    client.force_login(administrator)
    assert post_change(client, user_url(administrator), last_name="Rai").status_code == 302
    assert administrator.groups.filter(pk=auditors.pk).exists()


def test_delete_rights_on_audit_records_given_behind_the_admin_give_administrators_nothing(
    client, administrator, batch, access_log
):
    # A grant made in the database, or by a superuser who did not mean it: still no deletes.
    Group.objects.get(name=roles.ADMINISTRATOR).permissions.add(*audit_permissions())
    administrator = get_user_model().objects.get(pk=administrator.pk)
    assert not any(administrator.has_perm(f"{p.content_type.app_label}.{p.codename}") for p in audit_permissions())
    client.force_login(administrator)
    for model, record in (("importbatch", batch), ("accesslog", access_log)):
        delete = reverse(f"admin:patients_{model}_delete", args=[record.pk])
        assert client.get(delete).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        changelist = reverse(f"admin:patients_{model}_changelist")
        action_form = client.get(changelist).context["action_form"]  # None when no action is left
        assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
        client.post(changelist, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})
        assert type(record).objects.filter(pk=record.pk).exists()


def test_no_admin_page_edits_or_deletes_the_change_history(administrator):
    registered = {model._meta.model_name for model in admin.site._registry}
    assert not any(name.startswith("historical") for name in registered)
    assert "logentry" not in registered


def test_a_superuser_still_deletes_an_import_record_and_makes_superusers(client, superuser, administrator, batch):
    client.force_login(superuser)
    response = client.post(reverse("admin:patients_importbatch_delete", args=[batch.pk]), {"post": "yes"})
    assert response.status_code == 302 and not ImportBatch.objects.exists()
    assert post_change(client, user_url(administrator), is_superuser="on").status_code == 302
    administrator.refresh_from_db()
    assert administrator.is_superuser


def test_an_administrator_cannot_change_a_superusers_account_nor_her_password(client, administrator, superuser):
    client.force_login(administrator)
    password = reverse("admin:auth_user_password_change", args=[superuser.pk])
    assert client.get(password).status_code == 403
    assert client.post(password, {"password1": "x-9-Long-enough", "password2": "x-9-Long-enough"}).status_code == 403
    assert client.post(user_url(superuser), {"username": "root", "is_active": ""}).status_code == 403
    assert client.post(reverse("admin:auth_user_delete", args=[superuser.pk]), {"post": "yes"}).status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_active and superuser.check_password("not-used")


def test_an_administrator_neither_sees_nor_issues_a_superusers_api_token(client, administrator, superuser, clinician):
    key = Token.objects.create(user=superuser).key
    Token.objects.create(user=clinician)
    client.force_login(administrator)
    changelist = client.get(reverse("admin:authtoken_tokenproxy_changelist"))
    assert changelist.status_code == 200
    assert key not in changelist.content.decode() and "clinician" in changelist.content.decode()
    assert client.get(reverse("admin:authtoken_tokenproxy_change", args=[superuser.pk])).status_code == 302
    users = client.get(reverse("admin:authtoken_tokenproxy_add")).context["adminform"].form.fields["user"].queryset
    assert superuser not in users and administrator in users


def test_an_administrator_still_manages_users_and_their_roles(client, administrator):
    client.force_login(administrator)
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "nurse", "usable_password": "true", "password1": "Ward-7-night", "password2": "Ward-7-night",
    })  # fmt: skip
    assert response.status_code == 302
    nurse = get_user_model().objects.get(username="nurse")
    data_manager, administrators = (Group.objects.get(name=name) for name in (roles.DATA_MANAGER, roles.ADMINISTRATOR))
    response = post_change(client, user_url(nurse), groups=[data_manager.pk, administrators.pk], is_staff="on")
    assert response.status_code == 302, response.context["adminform"].form.errors
    nurse.refresh_from_db()
    assert nurse.is_staff and set(nurse.groups.all()) == {data_manager, administrators}
    view_patient = Permission.objects.get(codename="view_patient")
    assert post_change(client, user_url(nurse), user_permissions=[view_patient.pk]).status_code == 302
    password = reverse("admin:auth_user_password_change", args=[nurse.pk])
    response = client.post(password, {"password1": "Ward-8-day-x", "password2": "Ward-8-day-x"})
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password("Ward-8-day-x")
    assert post_change(client, group_url(data_manager), name="Data manager").status_code == 302
