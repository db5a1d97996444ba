"""The districts' sums (insights.models.DistrictSums) under writers at once, on PostgreSQL, each
request in its own thread and connection: none is lost and none deadlocks, also when writers move
patients between the same two districts in opposite directions.

To make every writer reach the sums at the same moment, the test holds a SHARE lock on their table
while the requests start (their own facts are written; the change to the sums waits), then lets
them all go at once."""

import threading

import pytest
from django.apps import apps
from django.db import connection, connections
from django.test import Client
from rest_framework.authtoken.models import Token

from insights import facts
from insights.models import DistrictSums
from insights.tests.test_facts import assert_sums_equal, district_sums
from patients.roles import sync_role_groups
from patients.tests.factories import make_district, make_followup, make_patient
from patients.tests.test_concurrent_writes import JSON, inserts_held, wait_for_waiters

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only"),
]

WRITERS = 20


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    # The database is emptied after each test, the migration's role groups with it.
    sync_role_groups(apps)


def patch_all_at_once(user, changes):
    """PATCH each patient (patient ID: body) through the API, each in its own thread, all held at
    the districts' sums until every one waits there; the responses' statuses, sorted."""
    header = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    statuses, errors = [], []

    def run(patient_id, body):
        try:
            client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=header)
            statuses.append(client.patch(f"/api/patients/{patient_id}", body, content_type=JSON).status_code)
        except BaseException as problem:  # noqa: BLE001 - reported to the test
            errors.append(problem)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in changes.items()]
    with inserts_held(DistrictSums._meta.db_table):
        for thread in threads:
            thread.start()
        wait_for_waiters(DistrictSums._meta.db_table, len(threads), threads)
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return sorted(statuses)


def assert_sums_current():
    kept = district_sums()
    facts.refresh()
    assert_sums_equal(kept, district_sums())


def test_writers_in_one_district_at_once_lose_no_change_to_its_sums(data_manager):
    district = make_district("Kaski")
    patients = [make_patient(patient_id=f"K{n:02d}", district=district, weight_kg=50.0) for n in range(WRITERS)]
    for patient in patients:
        make_followup(patient, visit_number=1, weight_kg=55.0)
    changes = {patient.patient_id: {"weight_kg": 51.0 + n} for n, patient in enumerate(patients)}
    assert patch_all_at_once(data_manager, changes) == [200] * WRITERS
    sums = DistrictSums.objects.get(district=district)
    assert (sums.patient_weight_kg_n, sums.patient_weight_kg_sum) == (WRITERS, sum(51.0 + n for n in range(WRITERS)))
    assert_sums_current()


def test_patients_moved_both_ways_between_two_districts_at_once_deadlock_nobody(data_manager):
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    # Each her own weight: a move whose change to the sums was lost would leave them wrong.
    patients = [
        make_patient(patient_id=f"M{n:02d}", district=[kaski, jhapa][n % 2], weight_kg=40.0 + n) for n in range(WRITERS)
    ]
    changes = {patient.patient_id: {"district": ["Jhapa", "Kaski"][n % 2]} for n, patient in enumerate(patients)}
    assert patch_all_at_once(data_manager, changes) == [200] * WRITERS
    moved_to_kaski = DistrictSums.objects.get(district=kaski)
    expected = (WRITERS // 2, sum(40.0 + n for n in range(1, WRITERS, 2)))  # those that were in Jhapa
    assert (moved_to_kaski.patient_weight_kg_n, moved_to_kaski.patient_weight_kg_sum) == expected
    assert_sums_current()
