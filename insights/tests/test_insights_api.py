"""The five analyses over REST: the query functions' rows as JSON, the same filters, fixed query counts."""

import datetime
import json

import pytest
from rest_framework.test import APIClient

from insights import queries
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

pytestmark = pytest.mark.django_db
NAMES = ("district_metrics", "trends", "delivery_outcomes", "followup_effect", "anomalies")


@pytest.fixture
def records():
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    for n in range(12):
        patient = make_patient(district=kaski if n % 2 else jhapa, weight_kg=50 + n)
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n % 6, 3), type_of_delivery="c_section"
                      if n % 3 == 0 else "normal", haemoglobin_at_delivery=9 + n / 4)  # fmt: skip
        for visit in range(1 + n % 4):
            make_followup(patient, visit_date=datetime.date(2024, 7, 1 + visit), weight_kg=55 + visit,
                          haemoglobin_g_dl=10 + visit / 2)  # fmt: skip


def get(user, path, **params):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(path, params)
    if response.streaming:  # the high-risk list, written as it is read
        body = response.getvalue()
        response.json = lambda: json.loads(body)
    return response


def as_json(value):
    """The query function's result as the API renders it (dates as ISO text)."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return value.isoformat() if isinstance(value, datetime.date) else value


@pytest.mark.parametrize("name", NAMES)
def test_each_endpoint_returns_its_query_functions_rows(clinician, records, name, django_assert_num_queries):
    expected = as_json(getattr(queries, name)())
    # the user's permissions, then the analysis' own queries (trends: two), nothing per row
    with django_assert_num_queries(1 + {"trends": 2}.get(name, 1)):
        response = get(clinician, f"/api/insights/{name}")
    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize("name", NAMES)
def test_each_endpoint_honours_the_district_and_dates(clinician, records, name):
    kaski = make_district("Kaski")
    params = {"district": " kaski ", "from": "2024-03-01", "to": "2024-12-31"}
    got = get(clinician, f"/api/insights/{name}/", **params).json()
    expected = getattr(queries, name)(district=kaski, date_from=datetime.date(2024, 3, 1),
                                      date_to=datetime.date(2024, 12, 31))  # fmt: skip
    assert got == as_json(expected)
    assert got != as_json(getattr(queries, name)()) or name == "anomalies"


def test_district_metrics_filtered_to_one_district_has_only_it(clinician, records):
    rows = get(clinician, "/api/insights/district_metrics", district="Jhapa").json()
    assert [row["district"] for row in rows] == ["Jhapa"] and rows[0]["n_patients"] == 6


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_district_or_an_empty_range_matches_nothing(clinician, records, name):
    for params in ({"district": "Nowhere"}, {"from": "2025-01-01", "to": "2024-01-01"}):
        response = get(clinician, f"/api/insights/{name}", **params)
        assert response.status_code == 200
        body = response.json()
        if name in ("district_metrics", "anomalies"):
            assert body == []
        elif name == "trends":
            assert body["by_visit"] == [] and body["change"]["n_weight"] == 0
        elif name == "delivery_outcomes":
            assert [row["n_deliveries"] for row in body["by_delivery_type"]] == [0, 0, 0]
            assert body["chi_square"] is None
        else:
            assert sum(row["n_patients"] for row in body["by_followup_count"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_bad_filters_are_named(clinician, name):
    response = get(clinician, f"/api/insights/{name}", **{"from": "yesterday"})
    assert response.status_code == 400
    assert "from" in response.json()["fields"]


class TestHighRiskFilters:
    @pytest.fixture
    def patients(self, records):
        make_followup(make_patient(patient_id="BP-SEVERE", condition=""), bp_systolic=165, bp_diastolic=100)
        make_followup(make_patient(patient_id="PIH", condition="PIH"), bp_systolic=120, bp_diastolic=80)
        make_patient(patient_id="ANAEMIC", condition="Anaemia")

    def test_rows_keep_the_prototype_keys_and_add_priority_in_numbers_and_words(self, clinician, patients):
        rows = get(clinician, "/api/insights/high_risk_patients").json()
        assert rows == as_json(queries.high_risk_patients())
        assert rows[0]["patient_id"] == "BP-SEVERE"  # priority 1 first
        first = rows[0]
        assert {"patient_id", "condition", "delivery_type", "reasons", "haemoglobin_g_dl", "severity"} <= set(first)
        assert (first["priority"], first["priority_label"]) == (1, "Priority 1 (urgent)")
        assert (first["reasons"], first["reason_labels"]) == (
            ["high_blood_pressure"],
            ["Blood pressure 140/90 or above"],
        )
        assert [row["priority"] for row in rows] == sorted(row["priority"] for row in rows)

    def test_filters_by_one_or_more_reasons_and_priorities(self, clinician, patients):
        def ids(**params):
            response = get(clinician, "/api/insights/high_risk_patients", **params)
            assert response.status_code == 200, response.json()
            return {row["patient_id"] for row in response.json()}

        assert ids(reason="hypertension_keyword") == {"PIH"}
        assert ids(reason=["hypertension_keyword", "high_blood_pressure"]) == {"PIH", "BP-SEVERE"}
        assert ids(reason="hypertension_keyword,anaemia_keyword") == {"PIH", "ANAEMIC"}
        assert ids(priority=1) == {"BP-SEVERE"}
        assert ids(priority="2", reason="hypertension_keyword") == {"PIH"}
        assert ids(priority=[3], reason="hypertension_keyword") == set()

    @pytest.mark.parametrize(
        ("params", "field", "named"),
        [
            ({"reason": "bp"}, "reason", '"bp" is not a reason. Accepted: anaemia_keyword, low_haemoglobin, '
             "c_section, high_blood_pressure, hypertension_keyword."),
            ({"priority": "0"}, "priority", '"0" is not a priority. Accepted: 1, 2, 3.'),
            ({"reason": ""}, "reason", "Give a value or leave the parameter out."),
        ],
    )  # fmt: skip
    def test_an_unknown_value_is_a_400_naming_the_accepted_ones(self, clinician, patients, params, field, named):
        response = get(clinician, "/api/insights/high_risk_patients", **params)
        assert response.status_code == 400
        assert response.json()["fields"][field] == [named]
