"""Free text that exports cannot write (control characters, lone surrogates, U+FFFE/U+FFFF) is
refused where it is typed: staff forms, the admin and the API, each naming the character and where
it is, and keeping what was typed."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from rest_framework.test import APIClient

from patients.models import Delivery, District, FollowUp, Patient
from patients.tests.factories import make_district, make_followup, make_patient
from patients.text import strip_control_characters, validate_no_control_characters

REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f", "\ud800", "\udfff", "\ufffe", "\uffff"]
KEPT = ["\t", "\n", "\r", " ", "é", "ह", "\u00a0", "\ufffd", "\U0001f600", "\u2028"]


@pytest.mark.parametrize("character", REFUSED)
def test_the_rule_refuses_what_xml_cannot_hold_naming_it_and_where(character):
    with pytest.raises(ValidationError) as refused:
        validate_no_control_characters(f"Mild{character}anaemia")
    code = f"U+{ord(character):04X}"
    assert refused.value.messages == [
        f"The text contains an invisible control character {code} at position 5; remove it."
    ]
    assert strip_control_characters(f"Mild{character}anaemia{character}") == "Mildanaemia"


@pytest.mark.parametrize("character", KEPT)
def test_the_rule_keeps_tabs_line_breaks_and_every_script(character):
    validate_no_control_characters(f"Mild{character}anaemia")
    assert strip_control_characters(f"Mild{character}anaemia") == f"Mild{character}anaemia"


def free_text_fields():
    for model in (Patient, Delivery, FollowUp, District):
        for field in model._meta.concrete_fields:
            is_text = isinstance(field, (models.CharField, models.TextField)) and not field.choices
            # patient_id has its own stricter pattern (letters, digits, '.', '_', '-').
            if is_text and field.name != "patient_id":
                yield f"{model.__name__}.{field.name}", field


@pytest.mark.parametrize(("name", "field"), list(free_text_fields()))
def test_every_free_text_field_carries_the_rule(name, field):
    assert validate_no_control_characters in field.validators, name


def test_a_patient_id_with_a_control_character_is_refused_by_its_pattern():
    with pytest.raises(ValidationError) as refused:
        Patient._meta.get_field("patient_id").run_validators("P0\x0b01")
    assert "letters, digits" in refused.value.messages[0]


# --- Staff forms ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_vertical_tab_in_a_diagnosis_is_refused_and_the_form_keeps_what_was_typed(client, clinician):
    patient = make_patient(patient_id="P001")
    client.force_login(clinician)
    typed = {"visit_number": "1", "visit_date": "2024-03-05", "weight_kg": "55.5", "diagnosis": "Mild\x0banaemia"}

    response = client.post(reverse("patients:followup_create", args=["P001"]), typed)

    assert response.status_code == 200
    assert not FollowUp.all_objects.filter(patient=patient).exists()
    form = response.context["form"]
    assert form.errors["diagnosis"] == [
        "The text contains an invisible control character U+000B at position 5; remove it."
    ]
    assert form["diagnosis"].value() == "Mild\x0banaemia" and form["weight_kg"].value() == "55.5"
    html = response.content.decode()
    assert "invisible control character U+000B at position 5" in html
    assert 'value="55.5"' in html


@pytest.mark.django_db
def test_a_control_character_in_a_name_is_refused_on_the_edit_page(client, data_manager):
    patient = make_patient(patient_id="P001", name="Sita Gurung")
    client.force_login(data_manager)
    typed = {"patient_id": "P001", "name": "Sita\x01Gurung", "district": patient.district.pk, "village": "Deurali"}

    response = client.post(reverse("patients:edit", args=["P001"]), typed)

    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).name == "Sita Gurung"
    assert "U+0001 at position 5" in response.context["form"].errors["name"][0]
    assert response.context["form"]["village"].value() == "Deurali"


@pytest.mark.django_db
def test_a_void_reason_with_a_control_character_is_refused_on_the_void_page(client, data_manager):
    patient = make_patient(patient_id="P001")
    client.force_login(data_manager)

    response = client.post(reverse("patients:void", args=["P001"]), {"reason": "test\x01record"})

    assert response.status_code == 200
    assert not Patient.all_objects.get(pk=patient.pk).is_voided
    assert "U+0001 at position 5" in response.context["form"].errors["reason"][0]
    assert response.context["form"]["reason"].value() == "test\x01record"


# --- The API -------------------------------------------------------------------------------------


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


NEW_PATIENT = {"patient_id": "P900", "district": "Kaski", "village": "Belbari"}


@pytest.mark.django_db
def test_the_api_refuses_a_control_character_in_a_new_patient_naming_the_field(data_manager):
    make_district("Kaski")  # the API names a known district
    response = api(data_manager).post("/api/patients", {**NEW_PATIENT, "name": "Sita\x01Gurung"}, format="json")

    assert response.status_code == 400
    assert not Patient.all_objects.exists()
    assert response.json()["fields"] == {
        "name": ["The text contains an invisible control character U+0001 at position 5; remove it."]
    }


@pytest.mark.django_db
def test_the_api_refuses_a_control_character_in_a_district_name(data_manager):
    response = api(data_manager).post("/api/patients", {**NEW_PATIENT, "district": "Kas\x01ki"}, format="json")

    assert response.status_code == 400
    assert not District.objects.exists()
    assert "U+0001 at position 4" in response.json()["fields"]["district"][0]


@pytest.mark.django_db
def test_the_api_refuses_a_control_character_in_a_correction(data_manager):
    make_patient(patient_id="P001", village="Deurali")

    response = api(data_manager).patch("/api/patients/P001", {"village": "Deu\x0crali"}, format="json")

    assert response.status_code == 400
    assert Patient.objects.get(patient_id="P001").village == "Deurali"
    assert "U+000C at position 4" in response.json()["fields"]["village"][0]


@pytest.mark.django_db
def test_the_api_refuses_a_lone_surrogate_in_a_diagnosis(data_manager):
    make_patient(patient_id="P001")
    # A JSON escape of half a surrogate pair: valid JSON, not storable text.
    body = '{"visit_number": 1, "visit_date": "2024-03-05", "diagnosis": "Low Hb \\ud83d"}'

    response = api(data_manager).post("/api/patients/P001/followups", body, content_type="application/json")

    assert response.status_code == 400
    assert not FollowUp.all_objects.exists()
    assert "U+D83D at position 8" in response.json()["fields"]["diagnosis"][0]


@pytest.mark.django_db
def test_the_api_refuses_a_control_character_in_a_void_reason(data_manager):
    make_patient(patient_id="P001")

    response = api(data_manager).post("/api/patients/P001/void", {"reason": "entered\x7ftwice"}, format="json")

    assert response.status_code == 400
    assert not Patient.all_objects.get(patient_id="P001").is_voided
    assert "U+007F at position 8" in response.json()["fields"]["reason"][0]


# --- The admin -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_refuses_a_control_character_in_a_district_name(client, data_manager):
    client.force_login(data_manager)

    response = client.post(reverse("admin:patients_district_add"), {"name": "Kas\x01ki"})

    assert response.status_code == 200
    assert not District.objects.exists()
    errors = response.context["adminform"].form.errors
    assert "U+0001 at position 4" in errors["name"][0]


@pytest.mark.django_db
def test_the_admin_refuses_a_control_character_in_a_diagnosis(client, data_manager):
    followup = make_followup(visit_number=1, visit_date=datetime.date(2024, 3, 5), diagnosis="Mild anaemia")
    client.force_login(data_manager)
    typed = {
        "patient": followup.patient.pk, "visit_number": 1, "visit_date": "2024-03-05", "weight_kg": 55,
        "haemoglobin_g_dl": 10.1, "bp_systolic": 115, "bp_diastolic": 75, "diagnosis": "Mild\x0banaemia",
    }  # fmt: skip

    response = client.post(reverse("admin:patients_followup_change", args=[followup.pk]), typed)

    assert response.status_code == 200
    assert FollowUp.all_objects.get(pk=followup.pk).diagnosis == "Mild anaemia"
    form = response.context["adminform"].form
    assert "U+000B at position 5" in form.errors["diagnosis"][0]
    assert form["diagnosis"].value() == "Mild\x0banaemia"


@pytest.mark.django_db
def test_the_admin_refuses_a_control_character_in_a_condition(client, data_manager):
    patient = make_patient(patient_id="P001", condition="")
    client.force_login(data_manager)
    inlines = {f"{prefix}-{name}": 0 for prefix in ("deliveries", "followups")
               for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}  # fmt: skip
    typed = {
        "patient_id": "P001",
        "name": "Sita",
        "district": make_district().pk,
        "condition": "\x02anaemia",
        **inlines,
    }

    response = client.post(reverse("admin:patients_patient_change", args=[patient.pk]), typed)

    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).condition == ""
    assert "U+0002 at position 1" in response.context["adminform"].form.errors["condition"][0]
