"""The prototype's two insights, over the API: its keys kept, its five bugs fixed, filters honoured."""

import datetime
import json

import pytest
from rest_framework.test import APIClient

from insights import queries
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.tests.workbooks import delivery_row, make_workbook, patient_row, standard_sheets

pytestmark = pytest.mark.django_db
D = datetime.date


def get(user, path, **params):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(path, params)
    assert response.status_code == 200, response.getvalue()
    return json.loads(response.getvalue())  # the high-risk list is streamed


def high_risk(user, **params):
    return {row["patient_id"]: row for row in get(user, "/api/insights/high_risk_patients", **params)}


class TestHighRiskPatientsFixesThePrototypesBugs:
    def test_an_anaemic_patient_without_a_delivery_is_listed(self, clinician):
        make_patient(patient_id="NODEL", condition="Anaemia")
        row = high_risk(clinician)["NODEL"]
        assert row["reasons"] == ["anaemia_keyword"] and row["delivery_type"] is None

    def test_a_patient_with_three_deliveries_is_listed_once(self, clinician):
        patient = make_patient(patient_id="THREE")
        for year, kind in [(2019, "c_section"), (2021, "normal"), (2023, "c_section")]:
            make_delivery(patient, date_of_delivery=D(year, 5, 1), type_of_delivery=kind)
        rows = get(clinician, "/api/insights/high_risk_patients")
        assert [row["patient_id"] for row in rows].count("THREE") == 1
        assert high_risk(clinician)["THREE"]["delivery_type"] == "c_section"  # her latest

    @pytest.mark.parametrize("text", ["Anaemia", "anemia", "ANAEMIC", "Low Hb", "known anemic, hb low"])
    def test_every_spelling_of_anaemia_is_found_in_condition_and_diagnosis(self, clinician, text):
        make_patient(patient_id="COND", condition=text)
        make_followup(make_patient(patient_id="DIAG"), diagnosis=f"seen today: {text}", haemoglobin_g_dl=12)
        rows = high_risk(clinician)
        assert rows["COND"]["reasons"] == ["anaemia_keyword"]
        assert rows["DIAG"]["reasons"] == ["anaemia_keyword"]

    def test_an_lscs_typed_in_a_workbook_counts_as_a_caesarean(self, clinician, tmp_path):
        from patients.importing import apply_import, plan_import

        lscs = delivery_row("LSCS1", type_of_delivery="LSCS", haemoglobin_at_delivery=12.5)
        sheets = standard_sheets(patients=[patient_row("LSCS1")], deliveries=[lscs], followups=[])
        apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", sheets)))
        row = high_risk(clinician)["LSCS1"]
        assert row["reasons"] == ["c_section"] and row["delivery_type"] == "c_section"

    def test_a_low_haemoglobin_without_any_keyword_is_listed_by_its_number(self, clinician):
        patient = make_patient(patient_id="LOWHB", condition="")
        make_delivery(patient, date_of_delivery=D(2024, 1, 1), haemoglobin_at_delivery=12.0)
        make_followup(patient, visit_date=D(2024, 1, 20), haemoglobin_g_dl=8.4, diagnosis="")
        row = high_risk(clinician)["LOWHB"]
        assert row["reasons"] == ["low_haemoglobin"]
        assert (row["haemoglobin_g_dl"], row["severity"]) == (8.4, "moderate")

    def test_a_patient_with_no_reason_is_not_listed_and_the_prototype_keys_are_there(self, clinician):
        well = make_patient(patient_id="WELL", condition="")
        make_followup(well, haemoglobin_g_dl=12.4)
        make_patient(patient_id="SICK", condition="anaemia")
        rows = get(clinician, "/api/insights/high_risk_patients")
        assert [row["patient_id"] for row in rows] == ["SICK"]
        assert {"patient_id", "condition", "delivery_type"} <= set(rows[0])


class TestFilters:
    def test_district_and_dates_narrow_both_insights(self, clinician):
        kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
        old = make_patient(patient_id="OLD", district=kaski, weight_kg=60)
        make_delivery(old, date_of_delivery=D(2019, 1, 1), type_of_delivery="c_section")
        recent = make_patient(patient_id="NEW", district=kaski, weight_kg=50)
        make_delivery(recent, date_of_delivery=D(2024, 6, 1), type_of_delivery="c_section")
        make_followup(recent, visit_date=D(2024, 6, 8), weight_kg=55, haemoglobin_g_dl=12)
        far = make_patient(patient_id="FAR", district=jhapa, weight_kg=70, condition="anemia")
        make_followup(far, visit_date=D(2024, 6, 9), haemoglobin_g_dl=12)

        assert set(high_risk(clinician)) == {"OLD", "NEW", "FAR"}
        assert set(high_risk(clinician, district="kaski")) == {"OLD", "NEW"}
        assert set(high_risk(clinician, **{"from": "2024-01-01", "to": "2024-12-31"})) == {"NEW", "FAR"}

        rows = get(clinician, "/api/insights/average_weight_by_district")
        assert rows == [
            {"district": "Jhapa", "average_weight": 70.0, "n_patients": 1, "average_latest_followup_weight": 55.0,
             "n_latest_followup_weight": 1},
            {"district": "Kaski", "average_weight": 55.0, "n_patients": 2, "average_latest_followup_weight": 55.0,
             "n_latest_followup_weight": 1},
        ]  # fmt: skip
        in_2024 = get(clinician, "/api/insights/average_weight_by_district", **{"from": "2024-01-01"})
        assert {row["district"]: row["average_weight"] for row in in_2024} == {"Jhapa": 70.0, "Kaski": 50.0}
        assert get(clinician, "/api/insights/average_weight_by_district/", district="Jhapa")[0]["district"] == "Jhapa"

    @pytest.mark.parametrize("params", [{"district": "Atlantis"}, {"from": "2024-05-01", "to": "2024-01-01"}])
    def test_a_filter_that_matches_nothing_gives_no_rows(self, clinician, params):
        make_patient(condition="anaemia")
        assert get(clinician, "/api/insights/high_risk_patients", **params) == []
        assert get(clinician, "/api/insights/average_weight_by_district", **params) == []

    @pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2024-02-30"}, {"from": ""}])
    def test_bad_filters_are_400_naming_them(self, clinician, params):
        client = APIClient()
        client.force_authenticate(clinician)
        for path in ("/api/insights/high_risk_patients", "/api/insights/average_weight_by_district"):
            response = client.get(path, params)
            assert response.status_code == 400 and response.json()["fields"], path


def test_average_weights_have_two_decimals_and_the_heaviest_district_comes_first(clinician):
    light, heavy = make_district("Light"), make_district("Heavy")
    for weight in (50.111, 50.222):
        make_patient(district=light, weight_kg=weight)
    make_patient(district=heavy, weight_kg=80)
    make_patient(district=heavy, weight_kg=None)
    rows = get(clinician, "/api/insights/average_weight_by_district")
    assert [(r["district"], r["average_weight"], r["n_patients"]) for r in rows] == [("Heavy", 80.0, 1),
                                                                                     ("Light", 50.17, 2)]  # fmt: skip


@pytest.mark.parametrize("query", [queries.average_weight_by_district, queries.high_risk_patients])
def test_each_insight_is_one_query_whatever_the_data(query, django_assert_num_queries):
    for n in range(30):
        patient = make_patient(condition="anaemia" if n % 3 else "")
        make_delivery(patient, type_of_delivery="c_section" if n % 2 else "normal")
        make_followup(patient, haemoglobin_g_dl=9 + n % 4)
    with django_assert_num_queries(1):
        assert query()
    kaski = make_district("Kaski")
    with django_assert_num_queries(1):
        query(district=kaski, date_from=D(2020, 1, 1), date_to=D(2025, 1, 1))
