"""Every invariant is kept twice: the database refuses a bad row, the form names the bad field."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from patients.forms import DeliveryForm, FollowUpForm, PatientForm
from patients.models import Delivery, District, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.voiding import void

# (bad values, the field the form names, the database constraint that refuses them)
PATIENT_CASES = [
    ({"height_cm": 99.9}, "height_cm", "patients_patient_height_cm_range"),
    ({"height_cm": 201}, "height_cm", "patients_patient_height_cm_range"),
    ({"weight_kg": 24.9}, "weight_kg", "patients_patient_weight_kg_range"),
    ({"weight_kg": 200.1}, "weight_kg", "patients_patient_weight_kg_range"),
    ({"education_level": 21}, "education_level", "patients_patient_education_level_range"),
    ({"monthly_income": -1}, "monthly_income", "patients_patient_monthly_income_range"),
    ({"age_at_menarche": 7}, "age_at_menarche", "patients_patient_age_at_menarche_range"),
    (
        {"age_at_marriage": 61, "age_at_first_pregnancy": None},
        "age_at_marriage",
        "patients_patient_age_at_marriage_range",
    ),
    ({"age_at_first_pregnancy": 61}, "age_at_first_pregnancy", "patients_patient_age_at_first_pregnancy_range"),
    ({"age_at_menarche": 20, "age_at_marriage": 18}, "age_at_marriage", "patients_patient_menarche_before_marriage"),
    (
        {"age_at_marriage": 25, "age_at_first_pregnancy": 22},
        "age_at_first_pregnancy",
        "patients_patient_marriage_before_first_pregnancy",
    ),
    (
        {"age_at_menarche": 16, "age_at_marriage": None, "age_at_first_pregnancy": 15},
        "age_at_first_pregnancy",
        "patients_patient_menarche_before_first_pregnancy",
    ),
]

DELIVERY_CASES = [
    ({"type_of_delivery": "caesar"}, "type_of_delivery", "patients_delivery_type_of_delivery_valid"),
    ({"term_of_delivery": "early"}, "term_of_delivery", "patients_delivery_term_of_delivery_valid"),
    ({"age_at_delivery": 7}, "age_at_delivery", "patients_delivery_age_at_delivery_range"),
    ({"weight_at_delivery": 201}, "weight_at_delivery", "patients_delivery_weight_at_delivery_range"),
    ({"haemoglobin_at_delivery": 2.9}, "haemoglobin_at_delivery", "patients_delivery_haemoglobin_at_delivery_range"),
    ({"haemoglobin_at_delivery": 20.1}, "haemoglobin_at_delivery", "patients_delivery_haemoglobin_at_delivery_range"),
    ({"placental_weight": 99}, "placental_weight", "patients_delivery_placental_weight_range"),
    ({"placental_weight": 1501}, "placental_weight", "patients_delivery_placental_weight_range"),
    (
        {"date_of_delivery": datetime.date(1949, 12, 31)},
        "date_of_delivery",
        "patients_delivery_date_of_delivery_not_before_1950",
    ),
]

FOLLOWUP_CASES = [
    ({"visit_number": 0}, "visit_number", "patients_followup_visit_number_positive"),
    ({"bp_systolic": 261}, "bp_systolic", "patients_followup_bp_systolic_range"),
    ({"bp_diastolic": 39}, "bp_diastolic", "patients_followup_bp_diastolic_range"),
    ({"bp_systolic": 80, "bp_diastolic": 80}, "bp_diastolic", "patients_followup_systolic_above_diastolic"),
    ({"weight_kg": 24}, "weight_kg", "patients_followup_weight_kg_range"),
    ({"haemoglobin_g_dl": 2.5}, "haemoglobin_g_dl", "patients_followup_haemoglobin_g_dl_range"),
    ({"visit_date": datetime.date(1900, 1, 1)}, "visit_date", "patients_followup_visit_date_not_before_1950"),
]


def assert_database_refuses(model, pk, values, constraint):
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        model.objects.filter(pk=pk).update(**values)
    # SQLite and PostgreSQL both name the CHECK constraint in the message.
    assert constraint in str(refused.value)


def form_data(instance, form_class, **values):
    data = {name: getattr(instance, name) for name in form_class._meta.fields}
    data.update(values)
    if "district" in data:
        data["district"] = data["district"].pk
    return {key: ("" if value is None else value) for key, value in data.items()}


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "field", "constraint"), PATIENT_CASES)
def test_bad_patient_values_are_refused_by_database_and_form(values, field, constraint):
    patient = make_patient()
    assert_database_refuses(Patient, patient.pk, values, constraint)

    form = PatientForm(
        form_data(
            Patient(district=patient.district, patient_id="NEW1"),
            PatientForm,
            **{**{f: getattr(patient, f) for f in PatientForm._meta.fields if f not in ("patient_id",)}, **values},
        )
    )
    assert not form.is_valid()
    assert field in form.errors, form.errors


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "field", "constraint"), DELIVERY_CASES)
def test_bad_delivery_values_are_refused_by_database_and_form(values, field, constraint):
    delivery = make_delivery()
    assert_database_refuses(Delivery, delivery.pk, values, constraint)

    new = Delivery(patient=delivery.patient)
    data = form_data(delivery, DeliveryForm, **{"date_of_delivery": datetime.date(2024, 9, 1), **values})
    form = DeliveryForm(data, instance=new)
    assert not form.is_valid()
    assert field in form.errors, form.errors


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "field", "constraint"), FOLLOWUP_CASES)
def test_bad_followup_values_are_refused_by_database_and_form(values, field, constraint):
    followup = make_followup()
    assert_database_refuses(FollowUp, followup.pk, values, constraint)

    data = form_data(followup, FollowUpForm, **{"visit_number": 2, **values})
    form = FollowUpForm(data, instance=FollowUp(patient=followup.patient))
    assert not form.is_valid()
    assert field in form.errors, form.errors


@pytest.mark.django_db
@pytest.mark.unannounced_writes  # the manager itself, not a writer of the app
def test_district_names_are_unique_whatever_their_case_and_spacing():
    kaski = make_district("Kaski")
    assert District.objects.get_or_create_by_name("  kaski ") == kaski
    assert District.objects.get_or_create_by_name("Kavre   Palanchok").name == "Kavre Palanchok"
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        District.objects.create(name="KASKI")
    assert "patients_district_unique_name_ci" in str(refused.value) or "unique" in str(refused.value).lower()


@pytest.mark.django_db
def test_blank_district_name_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        District.objects.create(name="")


@pytest.mark.django_db
def test_second_delivery_on_the_same_day_is_refused_by_database_and_form():
    delivery = make_delivery()
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(
            patient=delivery.patient, date_of_delivery=delivery.date_of_delivery, type_of_delivery=Delivery.Type.NORMAL
        )
    form = DeliveryForm(form_data(delivery, DeliveryForm), instance=Delivery(patient=delivery.patient))
    assert not form.is_valid()
    assert "already has a delivery" in form.errors["date_of_delivery"][0]


@pytest.mark.django_db
def test_repeated_visit_number_is_refused_by_database_and_form():
    followup = make_followup()
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUp.objects.create(
            patient=followup.patient, visit_number=followup.visit_number, visit_date=followup.visit_date
        )
    form = FollowUpForm(form_data(followup, FollowUpForm), instance=FollowUp(patient=followup.patient))
    assert not form.is_valid()
    assert f"already has visit {followup.visit_number}" in form.errors["visit_number"][0]


@pytest.mark.django_db
def test_haemoglobin_in_g_per_litre_gets_a_hint():
    followup = make_followup()
    form = FollowUpForm(
        form_data(followup, FollowUpForm, visit_number=2, haemoglobin_g_dl=105),
        instance=FollowUp(patient=followup.patient),
    )
    assert not form.is_valid()
    assert "looks like g/L" in form.errors["haemoglobin_g_dl"][0]
    assert "10.5" in form.errors["haemoglobin_g_dl"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(("form_class", "field"), [(DeliveryForm, "date_of_delivery"), (FollowUpForm, "visit_date")])
def test_dates_in_the_future_are_refused(form_class, field):
    followup = make_followup()
    record = followup if form_class is FollowUpForm else make_delivery(followup.patient)
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    data = form_data(record, form_class, **{field: tomorrow, "visit_number": 2})
    form = form_class(data, instance=form_class._meta.model(patient=followup.patient))
    assert not form.is_valid()
    assert "in the future" in form.errors[field][0]


@pytest.mark.django_db
def test_age_at_delivery_before_first_pregnancy_is_refused_with_her_age():
    patient = make_patient(age_at_first_pregnancy=22)
    data = {"date_of_delivery": "2024-01-05", "type_of_delivery": "normal", "age_at_delivery": 20}
    form = DeliveryForm(data, instance=Delivery(patient=patient))
    assert not form.is_valid()
    assert "first pregnancy (22)" in form.errors["age_at_delivery"][0]


@pytest.mark.django_db
def test_patient_ids_are_unique_whatever_their_case():
    taken = make_patient(patient_id="P000030")
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Patient.objects.create(patient_id="p000030", district=taken.district)
    assert "patients_patient_unique_id_ci" in str(refused.value)

    form = PatientForm(form_data(Patient(patient_id="p000030", district=taken.district), PatientForm))
    assert not form.is_valid()
    assert form.errors["patient_id"] == ["P000030 already exists."]
    with pytest.raises(ValidationError) as refused:
        Patient(patient_id="p000030", district=taken.district).full_clean()
    assert refused.value.message_dict == {"patient_id": ["P000030 already exists."]}
    # Her own ID in another case is hers to correct.
    taken.patient_id = "p000030"
    taken.full_clean()


@pytest.mark.django_db
def test_a_voided_patient_keeps_her_id_whatever_its_case(data_manager):
    taken = make_patient(patient_id="P000030")
    void(taken, data_manager, "test record")
    form = PatientForm(form_data(Patient(patient_id="p000030", district=taken.district), PatientForm))
    assert not form.is_valid()
    [message] = form.errors["patient_id"]
    assert message.startswith("P000030 already exists, voided on ") and "(test record)" in message
    assert "an administrator can restore her" in message


@pytest.mark.django_db
def test_a_patient_id_taken_in_another_case_is_a_field_error_on_the_staff_page_and_in_the_admin(client, data_manager):
    taken = make_patient(patient_id="P000030")
    client.force_login(data_manager)
    typed = {"patient_id": "p000030", "name": "Gita", "district": taken.district.pk}

    page = client.post(reverse("patients:create"), typed)
    assert page.status_code == 200
    assert page.context["form"].errors["patient_id"] == ["P000030 already exists."]
    assert page.context["form"]["name"].value() == "Gita"

    inlines = {f"{prefix}-{name}": 0 for prefix in ("deliveries", "followups")
               for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}  # fmt: skip
    admin = client.post(reverse("admin:patients_patient_add"), {**typed, **inlines})
    assert admin.status_code == 200
    assert admin.context["adminform"].form.errors["patient_id"] == ["P000030 already exists."]
    assert list(Patient.all_objects.values_list("patient_id", flat=True)) == ["P000030"]


@pytest.mark.django_db
def test_the_api_answers_409_for_a_patient_id_taken_in_another_case(data_manager):
    taken = make_patient(patient_id="P000030")
    client = APIClient()
    client.force_authenticate(data_manager)
    response = client.post("/api/patients", {"patient_id": "p000030", "district": taken.district.name}, format="json")
    assert response.status_code == 409
    assert "P000030" in response.json()["error"]
    make_patient(patient_id="P000031")
    assert client.patch("/api/patients/P000031", {"patient_id": "p000030"}, format="json").status_code == 409


@pytest.mark.django_db
def test_patients_are_found_by_id_whatever_its_case_and_a_nul_names_nobody():
    """The one spelling of "the same ID" that the import, the API, the single-sheet import and model
    validation read; a NUL (which PostgreSQL refuses in a query) finds nothing instead of a 500."""
    sita = make_patient(patient_id="P0030")
    assert list(Patient.objects.holding_ids(["p0030", "P0031", "p\x000030"])) == [sita]
    assert not Patient.objects.holding_ids(["\x00"]).exists()
