"""Voiding instead of deleting: staff void with a reason, the record leaves every page, export, API
answer and insight, and an administrator restores it."""

import datetime
import io

import pytest
from django.db.models import F
from django.urls import reverse
from openpyxl import load_workbook

from insights import queries
from insights.tests.test_facts import assert_current
from patients.importing import apply_import, plan_import
from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_followup, make_patient
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets
from patients.voiding import VoidRefused, restore, void

pytestmark = pytest.mark.django_db
D = datetime.date


@pytest.fixture
def sita(db):
    """A high-risk patient (a Caesarean), with two follow-ups."""
    patient = make_patient(patient_id="P001")
    make_delivery(patient, type_of_delivery=Delivery.Type.C_SECTION, date_of_delivery=D(2024, 3, 1))
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), haemoglobin_g_dl=11.8)
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), haemoglobin_g_dl=12.0)
    return patient


def high_risk_ids():
    return [row["patient_id"] for row in queries.high_risk_patients()]


def test_a_data_manager_voids_a_follow_up_with_a_reason(client, data_manager, sita):
    followup = sita.followups.get(visit_number=2)
    client.force_login(data_manager)
    url = reverse("patients:followup_void", args=["P001", followup.pk])
    assert "Why this record should not count" in client.get(url).content.decode()

    response = client.post(url, {"reason": "  entered twice  "})

    assert response.status_code == 302 and response.url == sita.get_absolute_url()
    followup = FollowUp.all_objects.get(pk=followup.pk)
    assert followup.is_voided and followup.voided_by == data_manager and followup.void_reason == "entered twice"
    assert list(FollowUp.objects.filter(patient=sita).values_list("visit_number", flat=True)) == [1]
    page = client.get(sita.get_absolute_url())
    assert list(page.context["followups"]) == [sita.followups.get(visit_number=1)]
    assert "Follow-up visits (1)" in page.content.decode()
    last = followup.history.first()
    assert (last.history_change_reason, last.history_user) == ("Voided: entered twice", data_manager)
    assert_current()


def test_a_void_without_a_reason_is_refused_and_changes_nothing(client, data_manager, sita):
    delivery = sita.deliveries.get()
    client.force_login(data_manager)
    response = client.post(reverse("patients:delivery_void", args=["P001", delivery.pk]), {"reason": "   "})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not Delivery.all_objects.get(pk=delivery.pk).is_voided


def test_a_reason_too_long_is_refused_and_kept_as_typed(client, data_manager, sita):
    client.force_login(data_manager)
    reason = "entered twice " * 20  # 280 characters
    response = client.post(reverse("patients:void", args=["P001"]), {"reason": reason})
    assert response.status_code == 200
    assert "at most 255 characters" in response.context["form"].errors["reason"][0]
    assert response.context["form"]["reason"].value() == reason
    assert not Patient.all_objects.get(pk=sita.pk).is_voided


def test_a_voided_record_has_no_void_page(client, data_manager, sita):
    followup = sita.followups.get(visit_number=2)
    void(followup, data_manager, "entered twice")
    client.force_login(data_manager)
    url = reverse("patients:followup_void", args=["P001", followup.pk])
    assert client.post(url, {"reason": "again"}).status_code == 404
    assert FollowUp.all_objects.get(pk=followup.pk).void_reason == "entered twice"


def test_a_clinician_may_not_void(client, clinician, sita):
    client.force_login(clinician)
    followup = sita.followups.first()
    response = client.post(reverse("patients:followup_void", args=["P001", followup.pk]), {"reason": "wrong"})
    assert response.status_code == 403
    assert not FollowUp.all_objects.get(pk=followup.pk).is_voided


def test_a_voided_delivery_leaves_the_insights(data_manager, sita):
    assert high_risk_ids() == ["P001"]
    void(sita.deliveries.get(), data_manager, "wrong patient")
    assert high_risk_ids() == []
    assert_current()


def test_a_voided_patient_leaves_pages_api_exports_and_insights(client, data_manager, sita):
    other = make_patient(patient_id="P002")
    client.force_login(data_manager)
    response = client.post(reverse("patients:void", args=["P001"]), {"reason": "test record"})
    assert response.url == reverse("patients:list")

    sita = Patient.all_objects.get(pk=sita.pk)
    assert sita.is_voided and sita.voided_by == data_manager
    # Her records are voided with her, at the same moment and for the same reason.
    with_her = [*sita.deliveries(manager="all_objects").all(), *sita.followups(manager="all_objects").all()]
    assert {(r.voided_at, r.void_reason) for r in with_her} == {(sita.voided_at, "test record")}
    assert [p.patient_id for p in client.get(reverse("patients:list")).context["page"]] == ["P002"]
    assert client.get(sita.get_absolute_url()).status_code == 404
    assert client.get(reverse("patients:edit", args=["P001"])).status_code == 404
    assert client.get("/api/patients/P001").status_code == 404
    assert client.get("/api/patients/P001/followups").status_code == 404
    assert [p["patient_id"] for p in client.get("/api/patients").json()["results"]] == ["P002"]
    export = load_workbook(io.BytesIO(client.get(reverse("admin:patients_patient_export_workbook")).content))
    assert [row[0] for row in export["patients"].iter_rows(min_row=2, values_only=True)] == ["P002"]
    assert list(export["followups"].iter_rows(min_row=2, values_only=True)) == []
    assert high_risk_ids() == []
    assert [row["district"] for row in queries.average_weight_by_district()] == [other.district.name]
    assert_current()


def test_restoring_a_patient_restores_what_was_voided_with_her_only(administrator, data_manager, sita):
    voided_first = sita.followups.get(visit_number=2)
    void(voided_first, data_manager, "entered twice")
    void(sita, data_manager, "test record")

    restore(Patient.all_objects.get(pk=sita.pk), administrator)

    assert Patient.objects.filter(pk=sita.pk).exists()
    assert sita.deliveries.active().count() == 1
    assert list(sita.followups.active().values_list("visit_number", flat=True)) == [1]
    assert FollowUp.all_objects.get(pk=voided_first.pk).void_reason == "entered twice"
    assert high_risk_ids() == ["P001"]
    assert_current()


def test_a_record_of_a_voided_patient_is_restored_with_her_not_alone(administrator, data_manager, sita):
    void(sita, data_manager, "test record")
    with pytest.raises(VoidRefused, match="P001 is voided: restore the patient"):
        restore(FollowUp.all_objects.filter(patient=sita).first(), administrator)


def test_only_administrators_restore_in_the_admin(client, administrator, data_manager, sita):
    void(sita, data_manager, "test record")
    url = reverse("admin:patients_patient_changelist")
    form = {"action": "restore_selected", "_selected_action": [sita.pk]}

    client.force_login(data_manager)
    response = client.get(url, {"status": "voided"})
    assert b"restore_selected" not in response.content
    client.post(url + "?status=voided", form)
    assert not Patient.objects.filter(pk=sita.pk).exists()

    client.force_login(administrator)
    response = client.get(url, {"status": "voided"})
    assert b"restore_selected" in response.content
    assert [p.patient_id for p in response.context["cl"].result_list] == ["P001"]
    assert [p.patient_id for p in client.get(url).context["cl"].result_list] == []  # in use, by default
    response = client.post(url + "?status=voided", form, follow=True)
    assert "Restored 1 patients." in response.content.decode()
    assert Patient.objects.filter(pk=sita.pk).exists()


def test_a_voided_record_keeps_its_key(client, data_manager, sita):
    void(sita.followups.get(visit_number=2), data_manager, "entered twice")
    client.force_login(data_manager)
    response = client.post(
        reverse("patients:followup_create", args=["P001"]), {"visit_number": 2, "visit_date": "2024-04-06"}
    )
    assert response.status_code == 200
    assert "already has a voided visit 2" in response.context["form"].errors["visit_number"][0]
    api = client.post("/api/patients/P001/followups", {"visit_number": 2, "visit_date": "2024-04-06"},
                      content_type="application/json")  # fmt: skip
    assert api.status_code == 400


def test_an_import_naming_a_voided_record_is_refused_whole(data_manager, sita, tmp_path):
    void(sita.followups.get(visit_number=2), data_manager, "entered twice")
    path = make_workbook(tmp_path / "again.xlsx", standard_sheets(
        patients=[patient_row("P001"), patient_row("P003")], deliveries=[],
        followups=[followup_row("P001", 2), followup_row("P003", 1)],
    ))  # fmt: skip
    plan = plan_import(path)
    [error] = plan.errors
    assert (error.sheet, error.row, error.column) == ("followups", 2, "visit_number")
    assert "was voided on" in error.reason and "(entered twice)" in error.reason
    with pytest.raises(Exception, match="1 rows are invalid"):
        apply_import(plan)
    assert not Patient.all_objects.filter(patient_id="P003").exists()

    void(sita, data_manager, "test record")
    [error, *others] = plan_import(path).errors
    assert (error.sheet, error.row, error.column) == ("patients", 2, "patient_id")
    assert "Follow-up 2 of P001" not in error.reason and "P001" in error.reason


def test_a_void_is_refused_twice(data_manager, sita):
    void(sita, data_manager, "test record")
    with pytest.raises(VoidRefused, match="already voided"):
        void(Patient.all_objects.get(pk=sita.pk), data_manager, "again")


def test_the_admin_adds_no_record_to_a_voided_patient(client, administrator, data_manager, sita):
    client.force_login(administrator)

    def picked():
        picker = client.get(reverse("admin:autocomplete"), {
            "app_label": "patients", "model_name": "followup", "field_name": "patient", "term": "P00",
        })  # fmt: skip
        return [found["text"] for found in picker.json()["results"]]

    assert picked() == ["P001 Sita Gurung"]
    void(sita, data_manager, "test record")
    assert picked() == []
    response = client.post(reverse("admin:patients_followup_add"), {
        "patient": sita.pk, "visit_number": 5, "visit_date": "2024-05-01",
    })  # fmt: skip
    assert response.status_code == 200
    assert "P001 is voided" in str(response.context["adminform"].form.errors)
    assert FollowUp.all_objects.filter(patient=sita, visit_number=5).count() == 0


def test_other_systems_void_through_the_api(client, data_manager, clinician, sita):
    delivery, followup = sita.deliveries.get(), sita.followups.get(visit_number=2)
    url = f"/api/patients/P001/followups/{followup.pk}/void"
    client.force_login(clinician)
    assert client.post(url, {"reason": "entered twice"}, content_type="application/json").status_code == 403

    client.force_login(data_manager)
    missing = client.post(url, {}, content_type="application/json")
    assert missing.status_code == 400 and "reason" in missing.json()["fields"]
    response = client.post(url, {"reason": "entered twice"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["voided"] == "Follow-up 2 of P001" and response.json()["voided_by"] == "datamanager"
    assert [f["visit_number"] for f in client.get("/api/patients/P001/followups").json()] == [1]
    assert client.post(url, {"reason": "again"}, content_type="application/json").status_code == 404

    other = make_patient(patient_id="P002")
    wrong_patient = f"/api/patients/P002/deliveries/{delivery.pk}/void"
    assert client.post(wrong_patient, {"reason": "x"}, content_type="application/json").status_code == 404
    assert client.post(f"/api/patients/{other.patient_id}/void", {"reason": "test record"},
                       content_type="application/json").status_code == 200  # fmt: skip
    assert client.get("/api/patients/P002").status_code == 404
    assert Patient.all_objects.get(pk=other.pk).void_reason == "test record"
    assert_current()


def test_a_long_reason_is_kept_whole_and_its_history_note_fits(data_manager, sita):
    # Found by schemathesis on PostgreSQL: the history's reason column holds 100 characters.
    reason = "entered for the wrong patient " * 8 + "x" * 15
    void(sita, data_manager, reason)
    assert Patient.all_objects.get(pk=sita.pk).void_reason == reason.strip()
    notes = [h.history_change_reason for h in FollowUp.history.filter(patient_id=sita.pk, history_type="~")]
    assert notes and all(len(note) == 100 and note.startswith("Voided with the patient: ") for note in notes)


def voided_notes(record):
    """The record's history entries that voided it."""
    notes = type(record).history.filter(id=record.pk).values_list("history_change_reason", flat=True)
    return [note for note in notes if note and note.startswith("Voided")]


def test_a_double_submission_voids_her_once_at_one_moment(data_manager, sita):
    # A double click: both requests read her before either voids her.
    first, second = Patient.objects.get(pk=sita.pk), Patient.objects.get(pk=sita.pk)
    void(first, data_manager, "test record")
    with pytest.raises(VoidRefused, match="P001 Sita Gurung is already voided"):
        void(second, data_manager, "entered twice")

    sita = Patient.all_objects.get(pk=sita.pk)
    assert (sita.void_reason, voided_notes(sita)) == ("test record", ["Voided: test record"])
    records = [*Delivery.all_objects.filter(patient=sita), *FollowUp.all_objects.filter(patient=sita)]
    assert {(r.voided_at, r.void_id, r.void_reason) for r in records} == {(sita.voided_at, sita.void_id, "test record")}
    assert all(voided_notes(r) == ["Voided with the patient: test record"] for r in records)
    assert_current()


def test_a_double_restore_restores_once(administrator, data_manager, sita):
    void(sita, data_manager, "test record")
    first, second = Patient.all_objects.get(pk=sita.pk), Patient.all_objects.get(pk=sita.pk)
    restore(first, administrator)
    with pytest.raises(VoidRefused, match="is not voided"):
        restore(second, administrator)
    assert sita.history.filter(history_change_reason="Restored").count() == 1
    assert FollowUp.history.filter(patient_id=sita.pk, history_change_reason="Restored with the patient").count() == 2


def test_a_record_voided_on_its_own_at_her_moment_stays_voided_when_she_is_restored(administrator, data_manager, sita):
    alone = sita.followups.get(visit_number=2)
    void(alone, data_manager, "entered twice")
    void(sita, data_manager, "test record")
    sita = Patient.all_objects.get(pk=sita.pk)
    # Two voids in the same clock tick (a coarse clock, or two clerks at once) share a timestamp.
    FollowUp.all_objects.filter(pk=alone.pk).update(voided_at=sita.voided_at)

    restore(sita, administrator)

    alone = FollowUp.all_objects.get(pk=alone.pk)
    assert alone.is_voided and alone.void_reason == "entered twice"
    assert list(FollowUp.objects.filter(patient=sita).values_list("visit_number", flat=True)) == [1]
    assert Delivery.objects.filter(patient=sita).count() == 1
    assert_current()


def test_her_records_are_restored_with_her_whatever_their_timestamp(administrator, data_manager, sita):
    void(sita, data_manager, "test record")
    # Before voids took turns, a double click left her records with the first request's time and
    # her with the second's.
    Patient.all_objects.filter(pk=sita.pk).update(voided_at=F("voided_at") + datetime.timedelta(milliseconds=3))

    restore(Patient.all_objects.get(pk=sita.pk), administrator)

    assert Delivery.objects.filter(patient=sita).count() == 1
    assert FollowUp.objects.filter(patient=sita).count() == 2
    assert not Delivery.all_objects.voided().exists() and not FollowUp.all_objects.voided().exists()


def test_a_stale_record_is_not_restored_alone_once_her_patient_is_voided(administrator, data_manager, sita):
    followup = sita.followups.get(visit_number=2)
    void(followup, data_manager, "entered twice")
    stale = FollowUp.all_objects.select_related("patient").get(pk=followup.pk)  # she is in use here
    void(sita, data_manager, "test record")
    with pytest.raises(VoidRefused, match="P001 is voided: restore the patient"):
        restore(stale, administrator)
    assert FollowUp.all_objects.get(pk=followup.pk).void_reason == "entered twice"
