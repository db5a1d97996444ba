"""The dashboard's pages through Django's test client: who may see them, filters, query counts."""

import datetime

import pytest
from django.urls import reverse

from patients.bulk import insert_values
from patients.models import FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def records():
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    for n in range(10):
        patient = make_patient(district=kaski if n % 2 else jhapa, weight_kg=48 + n, condition="")
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n, 5), haemoglobin_at_delivery=8 + n / 2,
                      type_of_delivery="c_section" if n % 4 == 0 else "normal")  # fmt: skip
        make_followup(patient, visit_date=datetime.date(2024, 11, 1), haemoglobin_g_dl=9.5 + n / 3, weight_kg=50 + n)


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("insights:overview"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_user_without_a_role_is_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(reverse("insights:overview")).status_code == 403


def test_the_overview_shows_totals_and_every_chart(client, clinician, records, django_assert_num_queries):
    client.force_login(clinician)
    client.get(reverse("insights:overview"))  # computes the insights and caches them
    # session, user, permissions; the data version and the cached results; the district filter's choices
    with django_assert_num_queries(6):
        response = client.get(reverse("insights:overview"))
    assert response.status_code == 200
    totals = response.context["totals"]
    assert (totals["n_patients"], totals["n_deliveries"], totals["n_caesarean"]) == (10, 10, 3)
    page = response.content.decode()
    for name in ("weight", "anaemia", "caesarean", "deliveries", "visits"):
        assert f'data-figure="chart-{name}-data"' in page and f'id="chart-{name}-data"' in page
    assert "plotly/plotly.min.js" in page and "js/charts.js" in page
    assert "<script>" not in page.replace("<script id=", "")  # no inline script: the CSP can forbid them


def test_filters_change_the_numbers_and_title(client, clinician, records):
    client.force_login(clinician)
    kaski = make_district("Kaski")
    response = client.get(
        reverse("insights:overview"), {"district": kaski.pk, "from": "2024-03-01", "to": "2024-12-31"}
    )
    assert response.context["totals"]["n_patients"] == 5
    assert response.context["scope"] == "Kaski, 1 Mar 2024 to 31 Dec 2024"
    assert "<title>Overview: Kaski, 1 Mar 2024 to 31 Dec 2024" in response.content.decode()


def test_filters_that_match_nothing_say_so(client, clinician, records):
    client.force_login(clinician)
    response = client.get(reverse("insights:overview"), {"from": "2030-01-01"})
    assert response.context["totals"]["n_patients"] == 0
    assert response.content.decode().count("No data for these filters.") == 5


def test_bad_filters_are_named_and_kept(client, clinician, records):
    client.force_login(clinician)
    response = client.get(reverse("insights:overview"), {"from": "2024-05-01", "to": "2024-01-01"})
    page = response.content.decode()
    assert "To: The last day is before the first." in page
    assert 'value="2024-05-01"' in page and "totals" not in response.context


def _n_followups(client):
    return client.get(reverse("insights:overview")).context["totals"]["n_followups"]


def test_a_new_follow_up_changes_the_next_page_view(client, clinician, records, django_capture_on_commit_callbacks):
    client.force_login(clinician)
    before = _n_followups(client)
    assert _n_followups(client) == before  # served from the cache
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_followup(Patient.objects.first(), visit_date=datetime.date(2024, 12, 1))
    assert callbacks  # the version changes again when the write commits
    assert _n_followups(client) == before + 1


def test_an_import_a_bulk_insert_and_a_delete_each_change_the_next_page_view(client, clinician, records, tmp_path):
    from patients.importing import apply_import, plan_import
    from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets

    client.force_login(clinician)
    before = _n_followups(client)
    sheets = standard_sheets(patients=[patient_row("IMP1")], deliveries=[], followups=[followup_row("IMP1", 1)])
    apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", sheets)))
    assert _n_followups(client) == before + 1
    patient = Patient.objects.get(patient_id="IMP1")
    insert_values(FollowUp, ["patient_id", "visit_number", "visit_date", "diagnosis"],
                  [[patient.pk, 2, datetime.date(2024, 12, 2), ""]])  # fmt: skip
    assert _n_followups(client) == before + 2
    patient.delete()
    assert _n_followups(client) == before
