"""Insight pages behind the records (insights.cache): after a write a page serves its previous
result for at most INSIGHTS_MAX_AGE_SECONDS, says how old it is, and one request asks the
background worker to compute it again; the reader may ask for the current figures."""

import datetime
import time

import pytest
from django.core.cache import cache
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from insights import queries
from insights.cache import Results, _key, refresh_results
from patients.models import Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.tests.test_background_import import worker
from patients.writes import records_written

ALL = {"district": None, "date_from": None, "date_to": None}
REFRESH = f"{refresh_results.func.__module__}.{refresh_results.func.__name__}"


@pytest.fixture
def behind(settings):
    settings.INSIGHTS_MAX_AGE_SECONDS = 60


@pytest.fixture
def patient(db):
    patient = make_patient(district=make_district("Kaski"))
    make_delivery(patient, date_of_delivery=datetime.date(2024, 3, 5), haemoglobin_at_delivery=10.5)
    make_followup(patient, visit_date=datetime.date(2024, 4, 1), haemoglobin_g_dl=11.2)
    return patient


def followups_on(response):
    return response.context["totals"]["n_followups"]


def refreshes():
    return DBTaskResult.objects.filter(task_path=REFRESH)


def test_a_page_behind_the_records_says_how_old_it_is_and_asks_once_for_a_refresh(
    client, clinician, patient, behind, django_assert_num_queries
):
    client.force_login(clinician)
    first = client.get(reverse("insights:overview"))
    assert followups_on(first) == 1 and first.context["as_of"] is None
    assert "As of" not in first.content.decode()

    make_followup(patient, visit_date=datetime.date(2024, 5, 1), haemoglobin_g_dl=11.8)
    # session, user, permissions; the data version and the cached results; the refresh of the
    # page's 5 results asked for (the cache's add, in a savepoint: its count, a read, an insert;
    # the task); the district filter's choices.
    with django_assert_num_queries(12):
        behind_page = client.get(reverse("insights:overview"))
    assert followups_on(behind_page) == 1  # the previous result, not the new visit
    assert behind_page.context["as_of"] >= 1
    page = behind_page.content.decode()
    assert f"As of {behind_page.context['as_of']} s ago" in page and "?current=1" in page
    (task,) = refreshes()  # one for the page's 5 results
    assert len(task.args_kwargs["args"][0]) == 5

    # Another reader, meanwhile: the same result, and no second request for its refresh.
    with django_assert_num_queries(6):
        again = client.get(reverse("insights:overview"))
    assert followups_on(again) == 1 and again.context["as_of"] is not None
    assert refreshes().count() == 1

    # The reader who asks for the current figures gets them, and so does everyone after her.
    current = client.get(reverse("insights:overview"), {"current": "1"})
    assert followups_on(current) == 2 and current.context["as_of"] is None
    after = client.get(reverse("insights:overview"))
    assert followups_on(after) == 2 and after.context["as_of"] is None


def test_a_result_older_than_the_max_age_is_computed_in_the_request(client, clinician, patient, behind, settings):
    client.force_login(clinician)
    client.get(reverse("insights:districts"))
    make_followup(patient, visit_date=datetime.date(2024, 5, 1))
    key = _key(queries.district_metrics, ALL)
    version, computed_at, rows = cache.get(key)
    cache.set(key, (version, computed_at - settings.INSIGHTS_MAX_AGE_SECONDS, rows))  # as if a minute ago
    response = client.get(reverse("insights:districts"))
    assert response.context["as_of"] is None and not refreshes().exists()
    assert sum(int(row[-2]) for row in response.context["tables"][-1]["rows"]) == 2  # "Weight and follow-ups"


def test_with_no_max_age_every_page_is_exact(client, clinician, patient, settings):
    settings.INSIGHTS_MAX_AGE_SECONDS = 0
    client.force_login(clinician)
    client.get(reverse("insights:overview"))
    make_followup(patient, visit_date=datetime.date(2024, 5, 1))
    response = client.get(reverse("insights:overview"))
    assert followups_on(response) == 2 and response.context["as_of"] is None and not refreshes().exists()


@pytest.fixture
def anaemic(db):
    """Two severely anaemic patients in Kaski: high-risk."""
    kaski = make_district("Kaski")
    patients = [make_patient(district=kaski) for _ in range(2)]
    for patient in patients:
        make_followup(patient, visit_date=datetime.date(2024, 4, 1), haemoglobin_g_dl=6.5)
    return patients


def test_the_high_risk_list_behind_the_records_leaves_out_who_is_no_longer_listed(client, clinician, anaemic, behind):
    client.force_login(clinician)
    assert client.get(reverse("insights:high_risk")).context["count"] == 2

    make_followup(anaemic[0], visit_date=datetime.date(2024, 6, 1), haemoglobin_g_dl=12.5)  # recovered
    response = client.get(reverse("insights:high_risk"))
    assert response.context["as_of"] is not None and response.context["count"] == 2  # the list as it was
    assert [row["patient_id"] for row in response.context["patients"]] == [anaemic[1].patient_id]  # rows as now
    # A download is exact: its count (for the audit) and its rows are the records as they are now.
    download = client.get(reverse("insights:high_risk"), {"format": "csv"})
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 2 and anaemic[1].patient_id in lines[1]


def test_the_high_risk_list_behind_the_records_shows_only_who_still_matches_its_filters(
    client, clinician, anaemic, behind
):
    jhapa = make_district("Jhapa")
    client.force_login(clinician)
    in_kaski = {"district": anaemic[0].district.pk}
    assert client.get(reverse("insights:high_risk"), in_kaski).context["count"] == 2

    Patient.objects.filter(pk=anaemic[0].pk).update(district=jhapa)  # moved, as a data manager would
    records_written([anaemic[0].pk])
    response = client.get(reverse("insights:high_risk"), in_kaski)
    assert response.context["as_of"] is not None
    assert [row["patient_id"] for row in response.context["patients"]] == [anaemic[1].patient_id]


def test_a_refresh_asked_for_by_an_earlier_release_skips_what_is_gone(patient, behind):
    Results()((queries.district_metrics, ALL))
    make_followup(patient, visit_date=datetime.date(2024, 5, 1))
    # Queued before a deploy that renamed an analysis (trends_by_visit is now trends_by_visit_and_month).
    refresh_results.call([["trends_by_visit", ALL], ["district_metrics", ALL]])
    exact = Results()
    (rows,) = exact((queries.district_metrics, ALL))
    assert exact.as_of is None and sum(row["n_followups"] for row in rows) == 2  # the rest were computed


def test_a_refresh_keeps_a_result_computed_meanwhile(patient, behind):
    Results()((queries.district_metrics, ALL))
    make_followup(patient, visit_date=datetime.date(2024, 5, 1))
    key = _key(queries.district_metrics, ALL)
    newer = ("a request's version", time.time() + 60, [])  # computed after the task started
    cache.set(key, newer)
    refresh_results.call([["district_metrics", ALL]])
    assert cache.get(key) == newer


def test_the_refresh_task_computes_the_result_for_its_filters(patient, behind):
    kaski = patient.district
    filters = {"district": kaski, "date_from": datetime.date(2024, 1, 1), "date_to": datetime.date(2024, 12, 31)}
    Results()((queries.trends_by_visit_and_month, filters))
    make_followup(patient, visit_date=datetime.date(2024, 5, 1), haemoglobin_g_dl=12.0)
    stale = Results()
    (trends,) = stale((queries.trends_by_visit_and_month, filters))
    assert stale.as_of is not None and [row["n_visits"] for row in trends["by_visit"]] == [1]

    (task,) = refreshes()
    refresh_results.call(*task.args_kwargs["args"])
    exact = Results()
    (trends,) = exact((queries.trends_by_visit_and_month, filters))
    assert exact.as_of is None and trends == queries.trends_by_visit_and_month(**filters)
    assert [row["n_visits"] for row in trends["by_visit"]] == [1, 1]


def test_a_refresh_for_a_district_since_removed_does_nothing(patient):
    args = {"district": patient.district.pk + 1000, "date_from": None, "date_to": None}  # no such district
    refresh_results.call([["district_metrics", args]])
    assert cache.get(_key(queries.district_metrics, {**args, "district": None})) is None


@pytest.mark.django_db(transaction=True)
def test_the_background_worker_brings_a_page_back_to_the_records(client, django_db_setup, behind):
    from django.apps import apps

    from patients import roles
    from patients.roles import sync_role_groups
    from patients.tests.factories import make_user

    sync_role_groups(apps)  # a transactional test's database starts without the migration's groups
    client.force_login(make_user("reader", roles.CLINICIAN))
    patient = make_patient(district=make_district("Kaski"))
    make_followup(patient, visit_date=datetime.date(2024, 4, 1), haemoglobin_g_dl=11.2)
    assert client.get(reverse("insights:trends")).context["as_of"] is None
    make_followup(patient, visit_date=datetime.date(2024, 5, 1), haemoglobin_g_dl=11.9)
    assert client.get(reverse("insights:trends")).context["as_of"] is not None
    (task,) = refreshes()
    assert len(task.args_kwargs["args"][0]) == 2  # by visit and month, the change

    worker()  # `manage.py db_worker --batch`, a real process on this database
    assert set(refreshes().values_list("status", flat=True)) == {"SUCCESSFUL"}
    response = client.get(reverse("insights:trends"))
    assert response.context["as_of"] is None
    by_visit = response.context["tables"][1]["rows"]
    assert [row[1] for row in by_visit] == [1, 1]  # both visits, computed by the worker
