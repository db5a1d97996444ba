"""The access audit: every view of a patient's record and every export leaves one AccessLog row,
which administrators alone can read and nobody can change."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from patients.models import AccessLog
from patients.tests.factories import make_delivery, make_followup, make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def sita(db):
    patient = make_patient(patient_id="P001", condition="anaemia")
    make_delivery(patient)
    make_followup(patient)
    return patient


def logged():
    return [(a.username, a.kind, a.patient_ref, a.what) for a in AccessLog.objects.order_by("pk")]


def test_each_view_of_her_record_is_logged_with_who_when_and_how(client, clinician, data_manager, sita):
    client.force_login(clinician)
    assert client.get(sita.get_absolute_url()).status_code == 200
    client.get("/api/patients/P001")
    client.get("/api/patients/P001/deliveries")
    client.get("/api/patients/P001/followups")
    client.force_login(data_manager)
    client.get(reverse("patients:edit", args=["P001"]))
    client.get(reverse("patients:followup_edit", args=["P001", sita.followups.get().pk]))

    assert logged() == [
        ("clinician", "view", "P001", "Record page"),
        ("clinician", "view", "P001", "API: patient with her records"),
        ("clinician", "view", "P001", "API: her deliveries"),
        ("clinician", "view", "P001", "API: her follow-ups"),
        ("datamanager", "view", "P001", "Edit form"),
        ("datamanager", "view", "P001", "Edit form of follow-up 1"),
    ]
    first = AccessLog.objects.order_by("pk").first()
    assert (first.user, first.patient, first.path) == (clinician, sita, "/patients/P001/")
    assert first.ip_address == "127.0.0.1"
    assert first.at is not None


def test_lists_refusals_and_unknown_patients_are_not_record_views(client, clinician, no_role_user, sita):
    client.force_login(clinician)
    client.get(reverse("patients:list"))
    client.get("/api/patients")
    client.get("/api/patients/P999")
    client.force_login(no_role_user)
    assert client.get(sita.get_absolute_url()).status_code == 403
    assert client.get("/api/patients/P001").status_code == 403
    assert logged() == []


def test_admin_record_and_history_pages_are_logged(client, data_manager, sita):
    client.force_login(data_manager)
    client.get(reverse("admin:patients_patient_change", args=[sita.pk]))
    client.get(reverse("admin:patients_followup_history", args=[sita.followups.get().pk]))
    assert logged() == [
        ("datamanager", "view", "P001", "Admin: patient page of P001 Sita Gurung"),
        ("datamanager", "view", "P001", "Admin: history of Follow-up 1 of P001"),
    ]


def test_every_export_is_logged_with_its_rows(client, data_manager, sita, tmp_path):
    make_patient(patient_id="P002")
    client.force_login(data_manager)
    assert client.get(reverse("admin:patients_patient_export_workbook")).status_code == 200
    columns = {f"followupresource_{c}": "on" for c in ("patient_id", "visit_number", "visit_date")}
    response = client.post(reverse("admin:patients_followup_export"), {"resource": "0", "format": "0", **columns})
    assert response["Content-Disposition"].startswith("attachment"), response.getvalue()[:300]
    assert client.get(reverse("insights:high_risk"), {"format": "csv"}).status_code == 200
    call_command("export_workbook", str(tmp_path / "all.xlsx"), stdout=None)

    exports = [(a.username, a.kind, a.what, a.rows) for a in AccessLog.objects.order_by("pk")]
    assert exports == [
        ("datamanager", "export", "Workbook of patients, deliveries and follow-ups", 4),
        ("datamanager", "export", "Admin: follow-ups as xlsx", 1),
        ("datamanager", "export", "High-risk patients (csv): all districts", 1),
        ("", "export", f"manage.py export_workbook {tmp_path / 'all.xlsx'}", 4),
    ]


def test_only_administrators_read_the_access_log_and_nobody_edits_it(client, users, sita):
    client.force_login(users["clinician"])
    client.get(sita.get_absolute_url())
    entry = AccessLog.objects.get()
    changelist = reverse("admin:patients_accesslog_changelist")
    for role, refused in (("clinician", 302), ("data_manager", 403), ("no_role", 302)):  # 302: not staff
        client.force_login(users[role])
        assert client.get(changelist).status_code == refused, role

    client.force_login(users["administrator"])
    response = client.get(changelist, {"q": "P001"})
    assert list(response.context["cl"].result_list) == [entry]
    assert client.get(reverse("admin:patients_accesslog_delete", args=[entry.pk])).status_code == 403
    response = client.post(reverse("admin:patients_accesslog_change", args=[entry.pk]), {"what": "nothing"})
    assert response.status_code == 403 or AccessLog.objects.get().what == "Record page"
    assert client.get(reverse("admin:patients_accesslog_add")).status_code == 403


def test_a_view_is_not_a_change(client, clinician, sita):
    before = sita.history.count()
    client.force_login(clinician)
    client.get(sita.get_absolute_url())
    assert sita.history.count() == before
    assert AccessLog.objects.count() == 1
