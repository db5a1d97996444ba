"""Two imports of overlapping workbooks at the same time, on PostgreSQL (each in its own thread and
connection): one waits for the other, both finish, and the records are exactly what running them
one after the other gives, nothing duplicated, the stored insight facts current."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from insights.tests.test_facts import assert_current
from patients.models import District, FollowUp, ImportBatch, Patient
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets
from patients.writes import records_written

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only"),
]

PATIENTS = 600  # per workbook; half of them are in both


def workbook(path, first, weight):
    ids = [f"C{n:05d}" for n in range(first, first + PATIENTS)]
    return make_workbook(path, standard_sheets(
        patients=[patient_row(pid, weight_kg=weight) for pid in ids], deliveries=[],
        followups=[followup_row(pid, 1, weight_kg=weight) for pid in ids],
    ))  # fmt: skip


def records():
    return (
        sorted(Patient.all_objects.values_list("patient_id", "weight_kg", "district__name")),
        sorted(FollowUp.all_objects.values_list("patient__patient_id", "visit_number", "weight_kg")),
    )


def import_in_thread(path, errors):
    def run():
        try:
            call_command("import_workbook", str(path), verbosity=0, stdout=None)
        except BaseException as problem:  # noqa: BLE001 - reported to the test
            errors.append(problem)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def advisory_waiters():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def test_overlapping_imports_take_turns_and_equal_running_them_in_order(tmp_path):
    first = workbook(tmp_path / "ward-a.xlsx", 0, 50.5)
    second = workbook(tmp_path / "ward-b.xlsx", PATIENTS // 2, 61.0)  # the overlap changes weights
    errors = []
    threads = [import_in_thread(first, errors), import_in_thread(second, errors)]
    for thread in threads:
        thread.start()
    saw_a_wait = False
    while any(thread.is_alive() for thread in threads):
        saw_a_wait = saw_a_wait or advisory_waiters() > 0
        time.sleep(0.01)
    assert errors == []
    assert saw_a_wait, "the imports did not overlap: nothing was shown"

    together = records()
    assert len(together[0]) == PATIENTS * 3 // 2 and len(together[1]) == PATIENTS * 3 // 2  # nothing doubled
    assert ImportBatch.objects.count() == 2
    assert_current()

    # The same two files, one after the other, in the order they were recorded.
    order = [batch.file_name for batch in ImportBatch.objects.order_by("pk")]
    with transaction.atomic():  # as the app deletes: announced, so that the insights let them go
        Patient.all_objects.all().delete()
        ImportBatch.objects.all().delete()
        District.objects.all().delete()
        records_written(None)
    for name in order:
        call_command("import_workbook", str(tmp_path / name.rsplit("/", 1)[-1]), verbosity=0, stdout=None)
    assert records() == together
