"""Reading records the safe way by default: a patient's deliveries and follow-ups are those in use,
while Django's own machinery (uniqueness checks, the admin, dumpdata, loaddata, following a record
to its voided patient) still sees every row."""

import datetime
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import QuerySet
from django.urls import reverse

from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_followup, make_patient
from patients.voiding import void

pytestmark = pytest.mark.django_db
D = datetime.date


@pytest.fixture
def sita(data_manager):
    """P001 with a delivery and a follow-up in use and one of each voided on their own."""
    patient = make_patient(patient_id="P001")
    make_delivery(patient, date_of_delivery=D(2024, 3, 1))
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5))
    void(make_delivery(patient, date_of_delivery=D(2023, 1, 9)), data_manager, "wrong patient")
    void(make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5)), data_manager, "entered twice")
    return Patient.objects.get(pk=patient.pk)


def test_her_deliveries_and_follow_ups_are_those_in_use(sita):
    assert [d.date_of_delivery for d in sita.deliveries.all()] == [D(2024, 3, 1)]
    assert [f.visit_number for f in sita.followups.all()] == [1]
    assert (sita.deliveries.count(), sita.followups.filter(visit_number=2).exists()) == (1, False)
    prefetched = Patient.objects.prefetch_related("deliveries", "followups").get(pk=sita.pk)
    assert [d.date_of_delivery for d in prefetched.deliveries.all()] == [D(2024, 3, 1)]
    assert [f.visit_number for f in prefetched.followups.all()] == [1]
    # Every record, on request.
    assert sita.deliveries(manager="all_objects").count() == 2
    assert sorted(sita.followups(manager="all_objects").values_list("visit_number", flat=True)) == [1, 2]


def test_a_voided_record_leads_to_its_voided_patient(data_manager, sita):
    void(sita, data_manager, "test record")
    followup = FollowUp.all_objects.get(patient_id=sita.pk, visit_number=1)
    assert followup.patient.patient_id == "P001" and followup.patient.is_voided
    assert FollowUp.all_objects.select_related("patient").get(pk=followup.pk).patient.is_voided


def test_voided_records_still_hold_their_keys_in_model_validation(data_manager, sita):
    twin_delivery = Delivery(patient=sita, date_of_delivery=D(2023, 1, 9), type_of_delivery=Delivery.Type.NORMAL)
    with pytest.raises(ValidationError, match="already has a delivery on this date"):
        twin_delivery.full_clean()
    twin_visit = FollowUp(patient=sita, visit_number=2, visit_date=D(2024, 4, 6))
    with pytest.raises(ValidationError, match="already has a follow-up with this visit number"):
        twin_visit.full_clean()
    void(sita, data_manager, "test record")
    with pytest.raises(ValidationError) as refused:
        Patient(patient_id="P001", district=sita.district).full_clean()
    assert "P001 already exists" in refused.value.message_dict["patient_id"][0]


def test_the_admin_lists_and_opens_voided_records(client, administrator, sita):
    client.force_login(administrator)
    changelist = client.get(reverse("admin:patients_delivery_changelist"), {"status": "voided"})
    assert [str(d) for d in changelist.context["cl"].result_list] == ["Delivery of P001 on 2023-01-09"]
    voided = FollowUp.all_objects.get(patient=sita, visit_number=2)
    assert client.get(reverse("admin:patients_followup_change", args=[voided.pk])).status_code == 200
    inlines = client.get(reverse("admin:patients_patient_change", args=[sita.pk])).context["inline_admin_formsets"]
    assert {inline.opts.opts.model_name: len(inline.formset.forms) for inline in inlines} == {
        "delivery": 2,
        "followup": 2,
    }


def test_dumpdata_and_loaddata_keep_voided_records(tmp_path, sita):
    out = io.StringIO()
    call_command("dumpdata", "patients.delivery", "patients.followup", "--natural-foreign", stdout=out)
    rows = json.loads(out.getvalue())
    assert sorted(row["fields"]["void_reason"] for row in rows) == ["", "", "entered twice", "wrong patient"]

    fixture = tmp_path / "records.json"
    fixture.write_text(out.getvalue())
    call_command("loaddata", fixture, verbosity=0)
    assert (Delivery.all_objects.count(), FollowUp.all_objects.count()) == (2, 2)


def test_no_staff_page_or_api_answer_shows_a_voided_record(client, clinician, sita):
    client.force_login(clinician)
    page = client.get(sita.get_absolute_url())
    assert [d.date_of_delivery for d in page.context["deliveries"]] == [D(2024, 3, 1)]
    assert [f.visit_number for f in page.context["followups"]] == [1]
    assert "09 Jan 2023" not in page.content.decode() and "2023-01-09" not in page.content.decode()

    detail = client.get("/api/patients/P001").json()
    assert [d["date_of_delivery"] for d in detail["deliveries"]] == ["2024-03-01"]
    assert [f["visit_number"] for f in detail["followups"]] == [1]
    assert [d["date_of_delivery"] for d in client.get("/api/patients/P001/deliveries").json()] == ["2024-03-01"]
    assert [f["visit_number"] for f in client.get("/api/patients/P001/followups").json()] == [1]


def test_the_visit_number_offered_follows_her_voided_visits_too(client, clinician, sita):
    client.force_login(clinician)
    response = client.get(reverse("patients:followup_create", args=["P001"]))
    assert response.status_code == 200
    # Visit 2 is voided and keeps its number: offering it would be refused on saving.
    assert response.context["form"].initial["visit_number"] == 3


def test_the_years_of_dated_records_are_djangos_found_by_hopping_the_index(data_manager):
    """The admin's date hierarchy asks for them (DatedQuerySet.dates): the same years as Django's
    SELECT DISTINCT, in either order, through filters, voided records left out."""
    patient = make_patient()
    for number, day in enumerate([D(2019, 3, 1), D(2019, 12, 31), D(2021, 1, 1), D(2024, 6, 30)], start=1):
        make_followup(patient, visit_number=number, visit_date=day)
    voided = make_followup(patient, visit_number=9, visit_date=D(2020, 5, 5))
    void(voided, data_manager, "Entered twice")
    for rows in (FollowUp.objects.all(), FollowUp.objects.filter(visit_number__gte=2), FollowUp.all_objects.all(),
                 FollowUp.objects.none()):  # fmt: skip
        for order in ("ASC", "DESC"):
            assert rows.dates("visit_date", "year", order) == list(QuerySet.dates(rows, "visit_date", "year", order))
    assert FollowUp.objects.dates("visit_date", "year") == [D(2019, 1, 1), D(2021, 1, 1), D(2024, 1, 1)]
    assert list(FollowUp.objects.dates("visit_date", "month")) == [D(2019, 3, 1), D(2019, 12, 1), D(2021, 1, 1),
                                                                   D(2024, 6, 1)]  # fmt: skip
