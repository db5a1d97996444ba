"""The REST API's patient endpoints: the prototype's contract, validation, roles, query counts."""

import datetime

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from patients.models import Delivery, District, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.writes import records_written

pytestmark = pytest.mark.django_db

PROTOTYPE_PATIENT_KEYS = {
    "patient_id", "height_cm", "weight_kg", "education_level", "monthly_income", "age_at_menarche",
    "age_at_marriage", "age_at_first_pregnancy", "district", "village", "occupation", "diet", "condition",
}  # fmt: skip
NEW_PATIENT = {
    "patient_id": "P900", "height_cm": 150.5, "weight_kg": 49, "education_level": 2, "monthly_income": 25000,
    "age_at_menarche": 13, "age_at_marriage": 18, "age_at_first_pregnancy": 19, "district": "  new   district ",
    "village": "Belbari", "occupation": "Teacher", "diet": "Mixed", "condition": "",
}  # fmt: skip


@pytest.fixture(autouse=True)
def known_district(db):
    """NEW_PATIENT's district: the API names a known district and never adds one."""
    return make_district("New District")


def api(user=None, token=False):
    client = APIClient()
    if user is not None and token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    elif user is not None:
        client.force_authenticate(user)
    return client


class TestGetPatient:
    def test_returns_every_prototype_column_her_records_and_risk(self, clinician):
        patient = make_patient(patient_id="P001", condition="Anaemia", monthly_income=12000)
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1, 5), type_of_delivery="c_section",
                      haemoglobin_at_delivery=9.9)  # fmt: skip
        make_followup(patient, visit_number=2, visit_date=datetime.date(2024, 2, 1), haemoglobin_g_dl=9.1)
        make_followup(patient, visit_number=1, visit_date=datetime.date(2024, 1, 9), haemoglobin_g_dl=9.5)
        for path in ("/api/patients/P001", "/api/patients/P001/"):
            response = api(clinician, token=True).get(path)
            assert response.status_code == 200, path
        body = response.json()
        assert PROTOTYPE_PATIENT_KEYS | {"name", "deliveries", "followups", "risk"} == set(body)
        assert body["district"] == "Kaski" and body["monthly_income"] == 12000
        assert body["deliveries"][0]["type_of_delivery"] == "c_section"
        assert [f["visit_number"] for f in body["followups"]] == [1, 2]
        assert body["followups"][1]["haemoglobin_g_dl"] == 9.1 and "diagnosis" in body["followups"][1]
        risk = body["risk"]
        assert {key: risk[key] for key in ("high_risk", "reasons", "haemoglobin_g_dl", "severity", "priority")} == {
            "high_risk": True, "reasons": ["anaemia_keyword", "low_haemoglobin", "c_section"],
            "haemoglobin_g_dl": 9.1, "severity": "moderate", "priority": 2,
        }  # fmt: skip
        words = ["Anaemia written in the notes", "Haemoglobin below 11 g/dL", "Caesarean delivery"]
        assert risk["reason_labels"] == words
        assert (risk["priority_label"], risk["haemoglobin_date"]) == ("Priority 2 (soon)", "2024-02-01")

    def test_unknown_patient_is_the_prototype_404(self, clinician):
        response = api(clinician).get("/api/patients/NOPE")
        assert response.status_code == 404
        assert response.json() == {"error": "Patient not found"}

    def test_query_count_stays_the_same_as_she_gains_follow_ups(self, clinician, django_assert_num_queries):
        patient = make_patient(patient_id="P001")
        make_delivery(patient)
        client = api(clinician, token=True)
        counts = []
        for visits in (0, 10):
            for number in range(visits):
                make_followup(patient, visit_number=number + 1)
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                assert client.get("/api/patients/P001").status_code == 200
            counts.append(len(queries))
        # token, user's permissions, patient, deliveries, follow-ups, the access log's row
        assert counts == [6, 6]


class TestPostPatient:
    def test_accepts_the_prototype_body_and_answers_201_with_location(self, data_manager):
        response = api(data_manager, token=True).post("/api/patients", NEW_PATIENT, format="json")
        assert response.status_code == 201, response.json()
        assert response["Location"].endswith("/api/patients/P900")
        patient = Patient.objects.get(patient_id="P900")
        assert patient.district.name == "New District" and patient.name == ""
        assert response.json()["district"] == "New District"
        assert response.json()["risk"]["high_risk"] is False
        assert (
            api(data_manager).post("/api/patients/", {**NEW_PATIENT, "patient_id": "P901"}, format="json").status_code
            == 201
        )
        assert District.objects.filter(name__iexact="new district").count() == 1

    def test_an_existing_patient_id_is_a_409_naming_it(self, data_manager):
        make_patient(patient_id="P900")
        response = api(data_manager).post("/api/patients", NEW_PATIENT, format="json")
        assert response.status_code == 409
        assert "P900" in response.json()["error"]

    def test_a_patient_id_taken_in_another_case_is_a_409_naming_the_one_on_record(self, data_manager):
        make_patient(patient_id="p900")
        response = api(data_manager).post("/api/patients", NEW_PATIENT, format="json")
        assert response.status_code == 409
        assert response.json() == {"error": "A patient with patient_id p900 already exists."}
        assert list(Patient.all_objects.values_list("patient_id", flat=True)) == ["p900"]

    @pytest.mark.parametrize(("change", "field", "words"), [
        ({"height_cm": "tall"}, "height_cm", "Expected a number"),
        ({"height_cm": "150"}, "height_cm", "Expected a number"),
        ({"height_cm": 99}, "height_cm", "plausible range"),
        ({"age_at_first_pregnancy": 16}, "age_at_first_pregnancy", "before age at marriage"),
        ({"district": ""}, "district", "blank"),
        ({"patient_id": "P 9/1"}, "patient_id", "letters, digits"),
        ({"monthly_income": -5}, "monthly_income", "plausible range"),
    ])  # fmt: skip
    def test_bad_input_is_a_400_naming_each_field_and_writes_nothing(self, data_manager, change, field, words):
        response = api(data_manager).post("/api/patients", {**NEW_PATIENT, **change}, format="json")
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "Invalid input." and words in " ".join(body["fields"][field])
        assert not Patient.objects.exists() and District.objects.count() == 1

    def test_a_body_that_is_not_json_is_a_json_400(self, data_manager):
        response = api(data_manager).post("/api/patients", "{not json", content_type="application/json")
        assert response.status_code == 400 and "error" in response.json()


class TestListAndSearch:
    def test_paginates_searches_and_filters_by_district(self, clinician, django_assert_num_queries):
        kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
        for n in range(60):
            make_patient(patient_id=f"L{n:03d}", district=kaski if n % 2 else jhapa, name="Sita" if n < 5 else "Gita")
        client = api(clinician, token=True)
        with django_assert_num_queries(5):  # token, permissions, count, page, district lookup
            body = client.get("/api/patients", {"district": "kaski", "page": 2, "page_size": 20}).json()
        assert body["count"] == 30 and [p["patient_id"] for p in body["results"]][:2] == ["L041", "L043"]
        assert client.get("/api/patients", {"q": "sita"}).json()["count"] == 5
        assert client.get("/api/patients", {"q": "L05"}).json()["count"] == 10
        with django_assert_num_queries(4):
            assert len(client.get("/api/patients").json()["results"]) == 50

    def test_an_unknown_district_matches_no_patient(self, clinician):
        make_patient()
        assert api(clinician).get("/api/patients", {"district": "Atlantis"}).json()["count"] == 0

    @pytest.mark.parametrize("params", [{"page": 0}, {"page": "x"}, {"page_size": 1000}])
    def test_bad_query_parameters_are_400(self, clinician, params):
        response = api(clinician).get("/api/patients", params)
        assert response.status_code == 400 and "fields" in response.json()

    def test_a_page_past_the_end_is_a_json_404(self, clinician):
        response = api(clinician).get("/api/patients", {"page": 99})
        assert response.status_code == 404 and "error" in response.json()


class TestPatchAndRecords:
    def test_data_manager_corrects_a_patient(self, data_manager):
        make_patient(patient_id="P001", age_at_marriage=19, age_at_first_pregnancy=20)
        make_district("Jhapa")
        response = api(data_manager).patch(
            "/api/patients/P001", {"weight_kg": 61.5, "district": "Jhapa"}, format="json"
        )
        assert response.status_code == 200, response.json()
        patient = Patient.objects.get(patient_id="P001")
        assert (patient.weight_kg, patient.district.name) == (61.5, "Jhapa")
        bad = api(data_manager).patch("/api/patients/P001", {"age_at_first_pregnancy": 17}, format="json")
        assert bad.status_code == 400 and "age_at_first_pregnancy" in bad.json()["fields"]

    def test_patch_to_a_taken_patient_id_is_409(self, data_manager):
        make_patient(patient_id="P001")
        make_patient(patient_id="P002")
        assert api(data_manager).patch("/api/patients/P001", {"patient_id": "P002"}, format="json").status_code == 409

    def test_patch_to_another_case_of_a_taken_patient_id_is_409_and_of_her_own_is_allowed(self, data_manager):
        make_patient(patient_id="P001")
        make_patient(patient_id="P002")
        taken = api(data_manager).patch("/api/patients/P001", {"patient_id": "p002"}, format="json")
        assert taken.status_code == 409 and taken.json() == {"error": "A patient with patient_id P002 already exists."}
        own = api(data_manager).patch("/api/patients/P001", {"patient_id": "p001"}, format="json")
        assert own.status_code == 200 and own.json()["patient_id"] == "p001"
        assert sorted(Patient.all_objects.values_list("patient_id", flat=True)) == ["P002", "p001"]

    def test_clinician_adds_a_follow_up_and_lists_them(self, clinician):
        patient = make_patient(patient_id="P001")
        client = api(clinician, token=True)
        response = client.post("/api/patients/P001/followups", {
            "visit_number": 1, "visit_date": "2024-03-01", "haemoglobin_g_dl": 10.2, "diagnosis": "mild anaemia",
        }, format="json")  # fmt: skip
        assert response.status_code == 201, response.json()
        assert response.json()["patient_id"] == "P001"
        assert patient.followups.get().haemoglobin_g_dl == 10.2
        assert [f["visit_number"] for f in client.get("/api/patients/P001/followups/").json()] == [1]

    @pytest.mark.parametrize(("body", "field"), [
        ({"visit_number": 1, "visit_date": "2024-03-02"}, "visit_number"),  # already taken
        ({"visit_number": 2, "visit_date": "2999-01-01"}, "visit_date"),
        ({"visit_number": 2, "visit_date": "2024-03-02", "haemoglobin_g_dl": 104}, "haemoglobin_g_dl"),
        ({"visit_number": 2, "visit_date": "2024-03-02", "bp_systolic": 80, "bp_diastolic": 90}, "bp_diastolic"),
        ({"visit_date": "2024-03-02"}, "visit_number"),
    ])  # fmt: skip
    def test_bad_follow_ups_are_400_naming_the_field(self, clinician, body, field):
        make_followup(make_patient(patient_id="P001"), visit_number=1)
        response = api(clinician).post("/api/patients/P001/followups", body, format="json")
        assert response.status_code == 400 and field in response.json()["fields"], response.json()
        assert FollowUp.objects.count() == 1

    def test_data_manager_adds_a_delivery_but_not_twice_on_one_day(self, data_manager):
        make_patient(patient_id="P001")
        body = {"date_of_delivery": "2024-05-05", "type_of_delivery": "c_section", "term_of_delivery": "term"}
        assert api(data_manager).post("/api/patients/P001/deliveries", body, format="json").status_code == 201
        again = api(data_manager).post("/api/patients/P001/deliveries", body, format="json")
        assert again.status_code == 400 and "date_of_delivery" in again.json()["fields"]
        bad_type = api(data_manager).post(
            "/api/patients/P001/deliveries", {**body, "type_of_delivery": "twins"}, format="json"
        )
        assert bad_type.status_code == 400 and "type_of_delivery" in bad_type.json()["fields"]
        assert Delivery.objects.count() == 1

    def test_records_of_an_unknown_patient_are_404(self, clinician):
        assert api(clinician).get("/api/patients/NOPE/deliveries").json() == {"error": "Patient not found"}


# Each endpoint x role: the status a GET or a write gets (401 without credentials).
ROLE_MATRIX = [
    # method, path, body, clinician, data manager, administrator, no role
    ("get", "/api/patients", None, 200, 200, 200, 403),
    ("get", "/api/patients/P001", None, 200, 200, 200, 403),
    ("post", "/api/patients", NEW_PATIENT, 403, 201, 201, 403),
    ("patch", "/api/patients/P001", {"weight_kg": 60}, 403, 200, 200, 403),
    ("get", "/api/patients/P001/deliveries", None, 200, 200, 200, 403),
    ("post", "/api/patients/P001/deliveries", {"date_of_delivery": "2024-05-05", "type_of_delivery": "normal"},
     403, 201, 201, 403),
    ("get", "/api/patients/P001/followups", None, 200, 200, 200, 403),
    ("post", "/api/patients/P001/followups", {"visit_number": 7, "visit_date": "2024-05-05"}, 201, 201, 201, 403),
    ("get", "/api/insights/average_weight_by_district", None, 200, 200, 200, 403),
    ("get", "/api/insights/high_risk_patients", None, 200, 200, 200, 403),
    *[("get", f"/api/insights/{name}", None, 200, 200, 200, 403)
      for name in ("district_metrics", "trends", "delivery_outcomes", "followup_effect", "anomalies")],
    ("get", "/api/schema/", None, 200, 200, 200, 200),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "for_clinician", "for_data_manager", "for_administrator",
                          "for_no_role"), ROLE_MATRIX)  # fmt: skip
def test_role_matrix(users, method, path, body, for_clinician, for_data_manager, for_administrator, for_no_role):
    expected = {"clinician": for_clinician, "data_manager": for_data_manager, "administrator": for_administrator,
                "no_role": for_no_role}  # fmt: skip
    anonymous = getattr(APIClient(), method)(path, body, format="json")
    assert anonymous.status_code == 401
    assert "Authentication credentials were not provided" in anonymous.content.decode()
    for role, status in expected.items():
        Patient.objects.filter(patient_id="P900").delete()
        Delivery.objects.all().delete()
        FollowUp.objects.all().delete()
        records_written(None)
        if not Patient.objects.filter(patient_id="P001").exists():
            make_patient(patient_id="P001")
        response = getattr(api(users[role], token=True), method)(path, body, format="json")
        assert response.status_code == status, (role, response.content[:200])
        if response["Content-Type"].startswith("application/json"):
            assert status < 400 or "error" in response.json()


def test_an_unknown_api_url_is_a_json_404(clinician):
    response = api(clinician).get("/api/no-such-thing")
    assert response.status_code == 404 and response.json() == {"error": "Not found."}


def test_wrong_method_is_a_json_405(clinician):
    response = api(clinician).delete("/api/patients/P001")
    assert response.status_code in (403, 405) and "error" in response.json()


def test_tokens_are_issued_by_a_command(clinician, capsys):
    from django.core.management import call_command

    call_command("issue_api_token", "clinician")
    key = capsys.readouterr().out.strip()
    assert Token.objects.get(user=clinician).key == key
    call_command("issue_api_token", "clinician", rotate=True)
    assert Token.objects.get(user=clinician).key != key
