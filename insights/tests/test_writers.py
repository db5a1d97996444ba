"""Every writer of the app announces its write (patients.writes), and the stored facts are exact after
it: the staff forms, the API, the admin (forms with inlines, moves, reverts, deletes, restores, the
single-sheet import), the workbook import, the demo data and loaddata. The test suite fails any test whose
writes go unannounced (conftest.py); the first tests here show that it would."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from insights.models import DataVersion, PatientFacts
from insights.tests.test_facts import assert_current
from patients.importing import apply_import, plan_import
from patients.models import Delivery, FollowUp, Patient, RecordsWritten
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets
from patients.voiding import void
from patients.writes import UnannouncedWrite, Watch, records_written

pytestmark = pytest.mark.django_db
D = datetime.date


def facts_of(patient_id):
    return PatientFacts.objects.get(patient__patient_id=patient_id)


def version():
    return DataVersion.objects.get().token


# --- The watch that fails a test which forgets ---


@pytest.mark.unannounced_writes
def test_a_write_left_unannounced_is_named_and_an_announced_or_rolled_back_one_is_not():
    patient = make_patient(patient_id="U1")
    make_followup(patient, visit_number=1)
    with Watch() as watch:
        FollowUp.objects.filter(patient=patient).update(weight_kg=70.0)
    with pytest.raises(UnannouncedWrite, match='UPDATE "patients_followup"'):
        watch.check()

    with Watch() as watch:
        FollowUp.objects.filter(patient=patient).update(weight_kg=71.0)
        records_written([patient.pk])
    watch.check()

    with Watch() as watch, pytest.raises(ZeroDivisionError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(name="Rolled Back")
        raise ZeroDivisionError  # the write is undone: nothing to announce
    watch.check()


def test_every_announced_write_gives_the_records_a_new_data_version():
    make_patient()
    before = version()
    records_written([])  # a district renamed: no patient's facts, but the results name districts
    assert version() != before


# --- Each writer ---


def test_the_staff_forms_and_voiding(client, data_manager):
    patient = make_patient(patient_id="W1", condition="")
    client.force_login(data_manager)
    before = version()
    response = client.post(reverse("patients:followup_create", args=["W1"]), {
        "visit_number": 1, "visit_date": "2024-03-05", "haemoglobin_g_dl": "9.5", "weight_kg": "55",
    })  # fmt: skip
    assert response.status_code == 302
    assert (facts_of("W1").n_followups, facts_of("W1").current_haemoglobin_g_dl) == (1, 9.5)
    assert version() != before
    followup = FollowUp.objects.get(patient=patient)
    response = client.post(reverse("patients:followup_edit", args=["W1", followup.pk]), {
        "visit_number": 1, "visit_date": "2024-03-05", "haemoglobin_g_dl": "12.5", "weight_kg": "55",
    })  # fmt: skip
    assert response.status_code == 302 and facts_of("W1").current_haemoglobin_g_dl == 12.5
    response = client.post(reverse("patients:delivery_create", args=["W1"]), {
        "date_of_delivery": "2024-03-01", "type_of_delivery": "c_section", "term_of_delivery": "preterm",
    })  # fmt: skip
    assert response.status_code == 302
    assert (facts_of("W1").n_caesarean, facts_of("W1").n_preterm, facts_of("W1").days_to_first_followup) == (1, 1, 4)
    response = client.post(reverse("patients:edit", args=["W1"]), {
        "patient_id": "W1", "name": "Sita", "district": patient.district_id, "condition": "known anaemia",
    })  # fmt: skip
    assert response.status_code == 302 and facts_of("W1").anaemia_keyword
    assert_current()
    response = client.post(reverse("patients:followup_void", args=["W1", followup.pk]), {"reason": "wrong patient"})
    assert response.status_code == 302 and facts_of("W1").n_followups == 0
    assert_current()


def test_the_api(data_manager):
    make_district("Kaski")
    api = APIClient()
    api.force_authenticate(data_manager)
    assert api.post("/api/patients", {"patient_id": "A1", "district": "Kaski"}, format="json").status_code == 201
    assert facts_of("A1").n_followups == 0
    body = {"visit_number": 1, "visit_date": "2024-04-01", "haemoglobin_g_dl": 8.0, "bp_systolic": 150,
            "bp_diastolic": 100}  # fmt: skip
    assert api.post("/api/patients/A1/followups", body, format="json").status_code == 201
    assert (facts_of("A1").current_haemoglobin_g_dl, facts_of("A1").latest_bp_systolic) == (8.0, 150)
    body = {"date_of_delivery": "2024-03-20", "type_of_delivery": "normal", "haemoglobin_at_delivery": 10.0}
    assert api.post("/api/patients/A1/deliveries", body, format="json").status_code == 201
    assert facts_of("A1").first_haemoglobin_g_dl == 10.0
    assert api.patch("/api/patients/A1", {"condition": "PIH"}, format="json").status_code == 200
    assert facts_of("A1").hypertension_keyword
    assert_current()
    followup = FollowUp.objects.get(patient__patient_id="A1")
    response = api.post(f"/api/patients/A1/followups/{followup.pk}/void", {"reason": "typed twice"}, format="json")
    assert response.status_code == 200 and facts_of("A1").current_haemoglobin_g_dl == 10.0
    assert_current()


def _admin_form(client, url, **changes):
    """The admin form at `url` as it stands, with `changes`, and no inline rows."""
    form = client.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()}
    for prefix in ("deliveries", "followups"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return {**data, **changes}


def test_the_admin_forms_a_move_a_revert_and_deletes(client, administrator):
    first, second = make_patient(patient_id="M1"), make_patient(patient_id="M2")
    followup = make_followup(first, visit_number=1, haemoglobin_g_dl=9.0)
    client.force_login(administrator)

    # A patient with a follow-up added inline: one announcement for both.
    url = reverse("admin:patients_patient_add")
    data = _admin_form(client, url, patient_id="M3", name="Maya", district=first.district_id)
    data.update({"followups-TOTAL_FORMS": 1, "followups-0-visit_number": 1, "followups-0-visit_date": "2024-05-01",
                 "followups-0-haemoglobin_g_dl": "7.5"})  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert (facts_of("M3").n_followups, facts_of("M3").current_haemoglobin_g_dl) == (1, 7.5)

    # A follow-up moved to another patient: both patients' facts change.
    url = reverse("admin:patients_followup_change", args=[followup.pk])
    assert client.post(url, _admin_form(client, url, patient=second.pk)).status_code == 302
    assert (facts_of("M1").n_followups, facts_of("M2").n_followups) == (0, 1)
    assert_current()

    # Reverting it to its first version moves it back.
    version_id = FollowUp.history.filter(id=followup.pk).earliest("history_date").history_id
    url = reverse("admin:patients_followup_simple_history", args=[followup.pk, version_id])
    assert client.post(url, _admin_form(client, url)).status_code == 302
    assert (facts_of("M1").n_followups, facts_of("M2").n_followups) == (1, 0)
    assert_current()

    # Deleted one by one, and several at once.
    url = reverse("admin:patients_followup_delete", args=[followup.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert facts_of("M1").n_followups == 0
    make_delivery(second)
    make_delivery(first)
    selected = list(Delivery.objects.values_list("pk", flat=True))
    response = client.post(reverse("admin:patients_delivery_changelist"), {
        "action": "delete_selected", "post": "yes", "_selected_action": selected,
    })  # fmt: skip
    assert response.status_code == 302 and not Delivery.objects.exists()
    assert (facts_of("M1").n_deliveries, facts_of("M2").n_deliveries) == (0, 0)
    assert_current()

    # Patients deleted one by one and several at once: their facts go, and their part of their
    # districts' sums with them (assert_current).
    make_followup(second, visit_number=1, haemoglobin_g_dl=14.5)
    assert client.post(reverse("admin:patients_patient_delete", args=[second.pk]), {"post": "yes"}).status_code == 302
    assert not PatientFacts.objects.filter(patient_id=second.pk).exists()
    assert_current()
    selected = list(Patient.objects.values_list("pk", flat=True))
    response = client.post(reverse("admin:patients_patient_changelist"), {
        "action": "delete_selected", "post": "yes", "_selected_action": selected,
    })  # fmt: skip
    assert response.status_code == 302 and not PatientFacts.objects.exists()
    assert_current()


def test_the_admin_restore_action_and_a_district_rename(client, administrator):
    patient = make_patient(patient_id="R1")
    followup = make_followup(patient, visit_number=1, haemoglobin_g_dl=8.0)
    void(followup, administrator, "typed twice")
    assert facts_of("R1").n_followups == 0
    client.force_login(administrator)
    response = client.post(reverse("admin:patients_followup_changelist") + "?status=voided", {
        "action": "restore_selected", "_selected_action": [followup.pk],
    })  # fmt: skip
    assert response.status_code == 302 and facts_of("R1").current_haemoglobin_g_dl == 8.0
    before = version()
    url = reverse("admin:patients_district_change", args=[patient.district_id])
    assert client.post(url, {"name": "Kaski Renamed"}).status_code == 302
    assert version() != before  # the insights name districts
    assert_current()


def test_the_admin_single_sheet_import(client, data_manager):
    make_patient(patient_id="S1")
    client.force_login(data_manager)
    sheet = io.BytesIO(b"patient_id,visit_number,visit_date,haemoglobin_g_dl\nS1,1,2024-06-01,6.5\n")
    sheet.name = "visits.csv"
    url = reverse("admin:patients_followup_import")
    form = client.get(url).context["form"]
    csv_format = next(index for index, title in form.fields["format"].choices if title == "csv")
    response = client.post(url, {"import_file": sheet, "format": csv_format, "resource": 0})
    assert response.status_code == 200, response.content.decode()[:500]
    confirm = response.context["confirm_form"]
    data = {name: ("" if value is None else value) for name, value in confirm.initial.items()}
    response = client.post(reverse("admin:patients_followup_process_import"), data)
    assert response.status_code == 302
    assert facts_of("S1").current_haemoglobin_g_dl == 6.5
    assert_current()


def test_the_workbook_import_and_the_demo_data(tmp_path):
    make_patient(patient_id="K1")
    sheets = standard_sheets(
        patients=[patient_row("NEW1")], deliveries=[],
        followups=[followup_row("NEW1", 1), followup_row("K1", 1, haemoglobin_g_dl=8.5, visit_date=D(2024, 6, 1))],
    )  # fmt: skip
    apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", sheets)))
    assert (facts_of("K1").current_haemoglobin_g_dl, facts_of("NEW1").n_followups) == (8.5, 1)
    assert_current()
    call_command("seed_demo", patients=30, seed=5, flush=True, verbosity=0)
    assert PatientFacts.objects.count() == Patient.objects.count() == 30
    assert_current()


def test_loaddata(settings):
    call_command("loaddata", settings.BASE_DIR / "fixtures" / "demo.json", verbosity=0)
    assert PatientFacts.objects.count() == Patient.objects.count() == 25
    assert PatientFacts.objects.filter(n_followups__gt=0).exists()
    assert_current()


def test_each_write_notes_when_her_records_were_written():
    """RecordsWritten, which the FHIR export's _since reads: the patients a write names, now; all of
    them for a write that cannot say whose; nobody for districts alone."""
    first, second = make_patient(patient_id="W1"), make_patient(patient_id="W2")
    long_ago = timezone.now() - datetime.timedelta(days=30)

    def noted(write):
        RecordsWritten.objects.update(written_at=long_ago)
        write()
        return sorted(
            RecordsWritten.objects.filter(written_at__gt=long_ago).values_list("patient__patient_id", flat=True)
        )

    assert noted(lambda: make_followup(second, visit_number=1)) == ["W2"]
    assert noted(lambda: void(first, None, "Registered twice")) == ["W1"]
    assert noted(lambda: records_written(None)) == ["W1", "W2"]
    assert noted(lambda: records_written([])) == []
    gone = make_patient(patient_id="W3")
    gone_pk = gone.pk
    Patient.all_objects.filter(pk=gone_pk).delete()
    assert noted(lambda: records_written([gone_pk])) == []  # nobody left to note
