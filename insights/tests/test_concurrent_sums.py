"""The districts' sums (insights.models.DistrictSums) and the trends' sums (VisitSums) under writers
at once, on PostgreSQL, each request in its own thread and connection: none is lost and none
deadlocks, also when writers move patients between the same two districts in opposite directions.

To make every writer reach the sums at the same moment, the test holds a SHARE lock on their table
while the requests start (their own facts are written; the change to the sums waits), then lets
them all go at once."""

import threading
import time

import pytest
from django.apps import apps
from django.db import connection, connections
from django.test import Client
from rest_framework.authtoken.models import Token

from insights import facts
from insights.models import DistrictSums, VisitSums
from insights.tests.test_facts import assert_sums_equal, assert_visit_sums_current, district_sums
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


def test_patients_moved_both_ways_with_their_follow_ups_at_once_deadlock_nobody(data_manager):
    """A move takes her follow-ups away from one district's trends' sums and adds them to the other's:
    moves both ways at once change the same rows of both."""
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    patients = [make_patient(patient_id=f"V{n:02d}", district=[kaski, jhapa][n % 2]) for n in range(WRITERS)]
    for n, patient in enumerate(patients):
        make_followup(patient, visit_number=1, weight_kg=50.0 + n)  # one month, one visit: two rows in all
        make_followup(patient, visit_number=2, weight_kg=51.0 + n)
    changes = {patient.patient_id: {"district": ["Jhapa", "Kaski"][n % 2]} for n, patient in enumerate(patients)}
    assert patch_all_at_once(data_manager, changes) == [200] * WRITERS
    assert_visit_sums_current()


def not_granted():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def wait_until(test, threads):
    deadline = time.monotonic() + 60
    while not test():
        if time.monotonic() > deadline or not any(thread.is_alive() for thread in threads):
            pytest.fail("the requests did not wait where the test expected")
        time.sleep(0.02)


def test_a_follow_up_written_while_her_patient_moves_is_summed_in_her_new_district(data_manager, clinician):
    """The follow-up's refresh reads her district only once it holds her patient's row: had it read
    it while the move was under way, her visit would be counted in the district she left."""
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    make_followup(make_patient(patient_id="P001", district=kaski), visit_number=1, weight_kg=50.0)
    clients = {
        user: Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        for user in (data_manager, clinician)
    }
    statuses, errors = [], []

    def run(user, method, url, body):
        try:
            statuses.append(getattr(clients[user], method)(url, body, content_type=JSON).status_code)
        except BaseException as problem:  # noqa: BLE001 - reported to the test
            errors.append(problem)
        finally:
            connections.close_all()

    move = threading.Thread(target=run, args=(data_manager, "patch", "/api/patients/P001", {"district": "Jhapa"}))
    visit = threading.Thread(
        target=run,
        args=(clinician, "post", "/api/patients/P001/followups",
              {"visit_number": 2, "visit_date": "2024-03-01", "weight_kg": 52.0}),
    )  # fmt: skip
    with inserts_held(DistrictSums._meta.db_table):
        move.start()  # her row updated, her facts written; the change to the sums waits
        wait_for_waiters(DistrictSums._meta.db_table, 1, [move])
        visit.start()  # written; its refresh waits for her row
        wait_until(lambda: not_granted() >= 2, [move, visit])
    for thread in (move, visit):
        thread.join(timeout=120)
    assert errors == []
    assert sorted(statuses) == [200, 201]
    assert_visit_sums_current()
    assert not VisitSums.objects.filter(district=kaski, n__gt=0).exists()
    assert sorted(VisitSums.objects.filter(district=jhapa).values_list("visit_number", "n")) == [(1, 1), (2, 1)]
