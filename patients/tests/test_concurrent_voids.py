"""Twenty "Void" submissions for one patient at the same moment, on PostgreSQL (each in its own
thread and connection): exactly one voids her, the others are told she is already voided, every
record is voided once at one moment, and restoring her brings back exactly what was voided with her.
A void while one of her records is being edited waits for the edit, rather than deadlocking."""

import datetime
import threading
import time

import pytest
from django.apps import apps
from django.db import connection, connections, transaction
from django.test import Client

from insights.tests.test_facts import assert_current
from patients import roles
from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_followup, make_patient, make_user
from patients.voiding import VoidRefused, restore, void
from patients.writes import records_written

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only"),
]

THREADS = 20
D = datetime.date


@pytest.fixture
def staff():
    # A transactional test before this one may have flushed the role groups their migration made.
    roles.sync_role_groups(apps)
    return make_user("datamanager", roles.DATA_MANAGER, is_staff=True), make_user("admin", roles.ADMINISTRATOR)


@pytest.fixture
def sita():
    """A patient with a delivery and two follow-ups in use, and a third follow-up voided on its own."""
    patient = make_patient(patient_id="P001")
    make_delivery(patient, date_of_delivery=D(2024, 3, 1))
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5))
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5))
    make_followup(patient, visit_number=3, visit_date=D(2024, 5, 5))
    return patient


def all_at_once(prepare, act):
    """Each of THREADS threads runs prepare(n), waits for the others, then runs act(n, prepared);
    what act returned (or raised), in thread order."""
    barrier = threading.Barrier(THREADS)
    results = [None] * THREADS

    def run(n):
        try:
            prepared = prepare(n)
            barrier.wait(timeout=30)
            results[n] = act(n, prepared)
        except BaseException as problem:  # noqa: BLE001 - reported to the test
            results[n] = problem
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def voided_notes(model, pk):
    notes = model.history.filter(id=pk).values_list("history_change_reason", flat=True)
    return [note for note in notes if note and note.startswith("Voided")]


def assert_voided_once_at_one_moment(patient, reason, alone):
    """She and her records in use were voided once, at her moment, by her void; `alone` is untouched."""
    patient = Patient.all_objects.get(pk=patient.pk)
    assert patient.void_reason == reason and voided_notes(Patient, patient.pk) == [f"Voided: {reason}"]
    with_her = [*Delivery.all_objects.filter(patient=patient), *FollowUp.all_objects.filter(patient=patient)]
    with_her.remove(alone)
    assert len(with_her) == 3
    assert {(r.voided_at, r.void_id, r.void_reason) for r in with_her} == {(patient.voided_at, patient.void_id, reason)}
    for record in with_her:
        assert voided_notes(type(record), record.pk) == [f"Voided with the patient: {reason}"], record
    alone = FollowUp.all_objects.get(pk=alone.pk)
    assert (alone.void_reason, voided_notes(FollowUp, alone.pk)) == ("entered twice", ["Voided: entered twice"])
    return patient


def test_twenty_voids_at_once_void_her_once_and_she_is_restored_whole(staff, sita):
    data_manager, administrator = staff
    alone = FollowUp.objects.get(patient=sita, visit_number=3)
    void(alone, data_manager, "entered twice")

    results = all_at_once(
        lambda n: Patient.objects.get(pk=sita.pk),  # every request has read her before any voids
        lambda n, patient: void(patient, data_manager, f"test record {n}"),
    )

    succeeded = [n for n, result in enumerate(results) if result is None]
    refused = [result for result in results if isinstance(result, VoidRefused)]
    assert len(succeeded) == 1 and len(refused) == THREADS - 1, results
    assert all(str(result) == "P001 Sita Gurung is already voided." for result in refused)
    patient = assert_voided_once_at_one_moment(sita, f"test record {succeeded[0]}", alone)
    assert_current()

    restore(patient, administrator)

    assert sorted(FollowUp.objects.filter(patient=sita).values_list("visit_number", flat=True)) == [1, 2]
    assert Delivery.objects.filter(patient=sita).count() == 1
    assert FollowUp.all_objects.get(pk=alone.pk).void_reason == "entered twice"
    assert_current()


def test_twenty_api_voids_at_once_answer_one_success(staff, sita):
    data_manager, _ = staff
    alone = FollowUp.objects.get(patient=sita, visit_number=3)
    void(alone, data_manager, "entered twice")

    def logged_in(n):
        client = Client()
        client.force_login(data_manager)
        return client

    def post(n, client):
        response = client.post("/api/patients/P001/void", {"reason": f"test record {n}"},
                               content_type="application/json")  # fmt: skip
        return response.status_code, response.json()

    results = all_at_once(logged_in, post)

    statuses = [result[0] if isinstance(result, tuple) else result for result in results]
    assert statuses.count(200) == 1 and set(statuses) <= {200, 400, 404}, results
    # Read before she was voided: refused with the reason; read after: she is not found.
    for status, body in results:
        if status == 400:
            assert body["fields"] == {"reason": ["P001 Sita Gurung is already voided."]}
    succeeded = next(body for status, body in results if status == 200)
    assert_voided_once_at_one_moment(sita, succeeded["void_reason"], alone)
    assert_current()


def waiting_for_row_locks():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype IN ('transactionid', 'tuple') AND NOT granted")
        return cursor.fetchone()[0]


def test_a_void_while_her_delivery_is_being_edited_waits_for_the_edit(staff, sita):
    data_manager, _ = staff
    delivery = Delivery.objects.get(patient=sita)
    updated, go_on, errors = threading.Event(), threading.Event(), []

    def in_thread(work):
        def run():
            try:
                work()
            except BaseException as problem:  # noqa: BLE001 - reported to the test
                errors.append(problem)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    def edit():
        # An edit as a writer makes it: the record's row first, then (its announcement) her row.
        with transaction.atomic():
            Delivery.all_objects.filter(pk=delivery.pk).update(weight_at_delivery=61.0)
            updated.set()
            go_on.wait(timeout=30)
            records_written([sita.pk])

    def void_her():
        updated.wait(timeout=30)
        void(Patient.objects.get(pk=sita.pk), data_manager, "test record")

    threads = [in_thread(edit), in_thread(void_her)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while not waiting_for_row_locks() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting_for_row_locks(), "the void did not wait for the edit"
    go_on.set()
    for thread in threads:
        thread.join()

    assert errors == []
    delivery = Delivery.all_objects.get(pk=delivery.pk)
    assert delivery.weight_at_delivery == 61.0 and delivery.void_reason == "test record"
    assert_current()
