"""Large uploads go to the background worker (`manage.py db_worker`, a real process on the test
database): progress, then the same preview, then the result; a worker killed mid-import writes
nothing, and the import runs again."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from openpyxl import Workbook

from patients import roles
from patients.importing.writing import IMPORT_LOCK_KEY
from patients.models import FollowUp, ImportBatch, ImportUpload, Patient
from patients.roles import sync_role_groups
from patients.tests.factories import make_user
from patients.tests.test_admin_import import upload
from patients.tests.workbooks import DELIVERY_HEADER, FOLLOWUP_HEADER, PATIENT_HEADER, followup_row, patient_row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def manager(settings, tmp_path, django_db_setup):
    from django.apps import apps

    sync_role_groups(apps)  # a transactional test's database starts without the migration's groups
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.IMPORT_BACKGROUND_MB = 0  # every upload goes to the worker
    return make_user("bg-manager", roles.DATA_MANAGER, is_staff=True)


def database_url():
    """The test database, for a worker process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker(*, batch=True):
    """`manage.py db_worker` on the test database: with batch, until the queue is empty."""
    env = {**os.environ, "DATABASE_URL": database_url(), "IMPORT_UPLOAD_DIR": str(settings.IMPORT_UPLOAD_DIR)}
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1"]
    command += ["--batch"] if batch else []
    process = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if batch:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode()
    return process


def register(path, patients, visits):
    """A workbook of `patients` women with `visits` follow-ups each (openpyxl, streaming)."""
    followups = (
        followup_row(f"B{n % patients:05}", 1 + n // patients, visit_date=f"2024-{1 + n // patients % 12:02}-10")
        for n in range(patients * visits)
    )
    workbook = Workbook(write_only=True)
    for title, header, rows in (
        ("patients", PATIENT_HEADER, (patient_row(f"B{n:05}") for n in range(patients))),
        ("deliveries", DELIVERY_HEADER, []),
        ("followups", FOLLOWUP_HEADER, followups),
    ):
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def test_a_large_upload_is_checked_and_written_by_the_worker(client, manager, tmp_path):
    client.force_login(manager)
    preview_url = upload(client, register(tmp_path / "big.xlsx", 200, 5)).url
    waiting = client.get(preview_url)
    assert "admin/patients/import_progress.html" in [t.name for t in waiting.templates]
    assert "Waiting for the worker" in waiting.content.decode()

    worker()
    preview = client.get(preview_url)
    counts = {sheet["kind"]: sheet["counts"]["new"] for sheet in preview.context["plan"]["sheets"]}
    assert counts == {"patients": 200, "deliveries": 0, "followups": 1000}
    assert ImportUpload.objects.get().rows_done == 1000  # the worker counted the last sheet's rows
    assert not Patient.objects.exists()

    assert client.post(preview_url, {"confirm": "Confirm import"}).url == preview_url
    assert "Checking again and writing in one transaction" in client.get(preview_url).content.decode()
    worker()
    done = client.get(preview_url).content.decode()
    assert "Imported big.xlsx as import #" in done
    assert Patient.objects.count() == 200 and FollowUp.objects.count() == 1000 and ImportBatch.objects.count() == 1


def writing_in_its_turn():
    """True while a worker holds the import's write transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                [IMPORT_LOCK_KEY],
            )
            return cursor.fetchone()[0] == 1
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # "database is locked": a writer is in its transaction
        return True
    finally:
        probe.close()


def test_a_worker_killed_mid_import_writes_nothing_and_the_import_runs_again(client, manager, tmp_path, settings):
    client.force_login(manager)
    preview_url = upload(client, register(tmp_path / "ward.xlsx", 3000, 10)).url
    worker()
    assert client.post(preview_url, {"confirm": "Confirm import"}).status_code == 302

    running = worker(batch=False)
    try:
        held_since = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not writing_in_its_turn():
                held_since = None
            elif held_since is None:
                held_since = time.monotonic()
            elif time.monotonic() - held_since > 0.2:  # inside its transaction, not a passing write (milliseconds)
                break
            assert running.poll() is None, "the worker finished before it could be stopped"
            time.sleep(0.05)
        else:
            pytest.fail("the worker never began writing")
        running.send_signal(signal.SIGKILL)
    finally:
        running.wait(timeout=30)

    assert not Patient.objects.exists() and not FollowUp.objects.exists() and not ImportBatch.objects.exists()
    settings.IMPORT_WORKER_SILENT_SECONDS = 1
    time.sleep(1.5)  # the heartbeat stops with the worker
    page = client.get(preview_url).content.decode()
    assert "has not reported for over" in page and "Nothing was written" in page
    assert client.post(preview_url, {"again": "Run it again"}).url == preview_url
    worker()
    assert "Imported ward.xlsx as import #" in client.get(preview_url).content.decode()
    assert Patient.objects.count() == 3000 and FollowUp.objects.count() == 30000
    assert ImportBatch.objects.count() == 1
