"""The same record sent many times at once (a double click, a retrying client), on PostgreSQL, each
request in its own thread and connection: one is saved, every other gets the answer the checks give
(409 or 400 naming the field in the API, the form back with a field error on the staff pages and in
the admin), never a 500, and nothing is written twice.

To make every request pass its checks before any of them writes, the test holds a SHARE lock on the
table while they start (reads go on, inserts wait), then lets them all go at once."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import connection, connections, transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from patients.models import Delivery, District, FollowUp, Patient
from patients.roles import sync_role_groups
from patients.tests.factories import make_patient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only"),
]

REQUESTS = 20
JSON = "application/json"


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    # The database is emptied after each test, the migration's role groups with it.
    sync_role_groups(apps)


@contextmanager
def inserts_held(table):
    """Inserts into `table` wait until the block ends; reads go on."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield


def wait_for_waiters(table, count, threads):
    """Until `count` requests wait to insert into `table` (each passed its checks)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(thread.is_alive() for thread in threads):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table])
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.02)
    pytest.fail(f"{count} requests did not all reach the insert into {table}")


def post_all_at_once(table, url, clients, bodies, **options):
    """POST each body to `url` from its client (with `options`, e.g. a content type), each in its own
    thread, all past their checks before any inserts into `table`; the responses, in no particular order."""
    responses, errors = [], []

    def run(client, body):
        try:
            responses.append(client.post(url, body, **options))
        except BaseException as problem:  # noqa: BLE001 - reported to the test
            errors.append(problem)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=[client, body]) for client, body in zip(clients, bodies, strict=True)]
    with inserts_held(table):
        for thread in threads:
            thread.start()
        wait_for_waiters(table, len(threads), threads)
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return responses


def token_clients(user, count=REQUESTS):
    header = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    return [Client(raise_request_exception=False, HTTP_AUTHORIZATION=header) for _ in range(count)]


def logged_in_clients(user, count):
    clients = [Client(raise_request_exception=False) for _ in range(count)]
    for client in clients:
        client.force_login(user)
    return clients


def statuses(responses):
    return sorted(response.status_code for response in responses)


def test_twenty_posts_of_one_follow_up_visit_save_it_once(clinician):
    patient = make_patient(patient_id="P001")
    body = {"visit_number": 3, "visit_date": "2024-03-01", "haemoglobin_g_dl": 10.2}
    responses = post_all_at_once("patients_followup", "/api/patients/P001/followups", token_clients(clinician),
                                 [body] * REQUESTS, content_type=JSON)  # fmt: skip
    assert statuses(responses) == [201] + [400] * (REQUESTS - 1)
    for refused in (response for response in responses if response.status_code == 400):
        assert refused.json() == {"error": "Invalid input.", "fields": {"visit_number": ["P001 already has visit 3."]}}
    assert FollowUp.all_objects.filter(patient=patient).count() == 1
    assert FollowUp.history.filter(patient_id=patient.pk).count() == 1


def test_twenty_posts_of_one_delivery_save_it_once(data_manager):
    patient = make_patient(patient_id="P001")
    body = {"date_of_delivery": "2024-05-05", "type_of_delivery": "normal", "term_of_delivery": "term"}
    responses = post_all_at_once("patients_delivery", "/api/patients/P001/deliveries", token_clients(data_manager),
                                 [body] * REQUESTS, content_type=JSON)  # fmt: skip
    assert statuses(responses) == [201] + [400] * (REQUESTS - 1)
    for refused in (response for response in responses if response.status_code == 400):
        assert refused.json()["fields"] == {"date_of_delivery": ["P001 already has a delivery on 2024-05-05."]}
    assert Delivery.all_objects.filter(patient=patient).count() == 1


def test_twenty_posts_of_one_patient_id_in_any_case_save_her_once(data_manager):
    district = District.objects.get_or_create_by_name("Kaski")
    bodies = [{"patient_id": ["P900", "p900"][n % 2], "district": district.name} for n in range(REQUESTS)]
    responses = post_all_at_once(
        "patients_patient", "/api/patients", token_clients(data_manager), bodies, content_type=JSON
    )
    assert statuses(responses) == [201] + [409] * (REQUESTS - 1)
    saved = Patient.all_objects.get().patient_id
    for refused in (response for response in responses if response.status_code == 409):
        assert refused.json() == {"error": f"A patient with patient_id {saved} already exists."}


def test_twenty_new_patients_naming_one_district_in_any_spelling_are_all_saved_in_it(data_manager):
    District.objects.get_or_create_by_name("Mustang")
    spellings = ["Mustang", "mustang", " MUSTANG ", "Mustang  "]
    bodies = [{"patient_id": f"P{n:03d}", "district": spellings[n % 4]} for n in range(REQUESTS)]
    responses = post_all_at_once(
        "patients_patient", "/api/patients", token_clients(data_manager), bodies, content_type=JSON
    )
    assert statuses(responses) == [201] * REQUESTS
    assert list(District.objects.values_list("name", flat=True)) == ["Mustang"]  # the API adds none
    assert Patient.all_objects.filter(district__name="Mustang").count() == REQUESTS


def test_a_double_submitted_follow_up_form_saves_once_and_shows_the_second_its_error(clinician):
    patient = make_patient(patient_id="P001")
    form = {"visit_number": 1, "visit_date": "2024-03-01", "weight_kg": 55}
    clients = logged_in_clients(clinician, 2)
    responses = post_all_at_once("patients_followup", "/patients/P001/followups/new/", clients, [form] * 2)
    assert statuses(responses) == [200, 302]
    second = next(response for response in responses if response.status_code == 200)
    assert second.context["form"].errors == {"visit_number": ["P001 already has visit 1."]}
    assert FollowUp.all_objects.filter(patient=patient).count() == 1


def test_a_double_submitted_patient_form_saves_her_once(data_manager):
    district = District.objects.get_or_create_by_name("Kaski")
    form = {"patient_id": "P777", "district": district.pk}
    clients = logged_in_clients(data_manager, 2)
    responses = post_all_at_once("patients_patient", "/patients/new/", clients, [form] * 2)
    assert statuses(responses) == [200, 302]
    second = next(response for response in responses if response.status_code == 200)
    assert list(second.context["form"].errors) == ["patient_id"]
    assert Patient.all_objects.count() == 1


def test_a_follow_up_added_twice_at_once_in_the_admin_is_saved_once(data_manager):
    patient = make_patient(patient_id="P001")
    form = {"patient": patient.pk, "visit_number": 2, "visit_date": "2024-03-01"}
    clients = logged_in_clients(data_manager, 2)
    responses = post_all_at_once("patients_followup", "/admin/patients/followup/add/", clients, [form] * 2)
    assert statuses(responses) == [200, 302]
    second = next(response for response in responses if response.status_code == 200)
    assert second.context["adminform"].form.errors == {
        "__all__": ["This patient already has a follow-up with this visit number."]
    }
    assert FollowUp.all_objects.filter(patient=patient).count() == 1
