"""The insights on a real PostgreSQL streaming replica (hospital/replica.py): the test copies the test
cluster with pg_basebackup into a temporary folder, starts it as a hot standby on another port, and
points the `replica` database at it. Reads land on the replica and equal the primary's; a user who
has just written reads from the primary; a result computed while the replica lags is never stored
under the primary's newer data version.

Needs PostgreSQL's server programs and a replication connection from 127.0.0.1 (.ci/run allows it);
skipped with the reason where either is missing, but never in CI."""

import datetime
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hospital.replica import REPLICA
from insights import queries
from insights.cache import _key
from patients import roles
from patients.tests.factories import make_delivery, make_followup, make_patient, make_user

pytestmark = [
    # Committed, so that the replica receives it; the replica may be read.
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="streaming replication: PostgreSQL only"),
]


def _cannot(reason):
    if os.environ.get("CI"):
        pytest.fail(f"The replica test must run in CI: {reason}")
    pytest.skip(reason)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Standby:
    """A hot standby of the test cluster, in its own folder and port, run by the postgres account."""

    SAME_AS_PRIMARY = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                       "max_locks_per_transaction")  # fmt: skip

    def __init__(self):
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            major = int(cursor.fetchone()[0]) // 10000
            limits = {}
            for name in self.SAME_AS_PRIMARY:  # a hot standby needs at least the primary's
                cursor.execute(f"SHOW {name}")
                limits[name] = cursor.fetchone()[0]
        self.bin = Path(f"/usr/lib/postgresql/{major}/bin")
        if not (self.bin / "pg_basebackup").exists():
            _cannot(f"PostgreSQL {major}'s server programs are not installed ({self.bin})")
        try:
            self.account = pwd.getpwnam("postgres")
        except KeyError:
            _cannot("no postgres account to run a server")
        if os.geteuid() not in (0, self.account.pw_uid):
            _cannot("a server must be started as the postgres account: run as root or as postgres")
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="hospital-replica-"))
        os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        self.data = self.folder / "data"
        primary = connection.settings_dict
        copied = self._run(
            "pg_basebackup", "-h", primary["HOST"] or "127.0.0.1", "-p", str(primary["PORT"] or 5432),
            "-U", primary["USER"] or "postgres", "-D", str(self.data), "-X", "stream", "-R", "-c", "fast",
            check=False,
        )  # fmt: skip
        if copied.returncode != 0:
            self.remove()
            _cannot(f"pg_basebackup of the test cluster failed: {copied.stderr.strip()[:300]}")
        conf = {"port": self.port, "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.folder}'",
                "hot_standby": "on", "shared_buffers": "'32MB'", "fsync": "off", **limits}  # fmt: skip
        (self.data / "postgresql.conf").write_text("".join(f"{name} = {value}\n" for name, value in conf.items()))
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (self.data / "pg_ident.conf").write_text("")
        for path in self.data.iterdir():
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
        started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "60", "start",
                            check=False)  # fmt: skip
        if started.returncode != 0:
            log = (self.folder / "log").read_text() if (self.folder / "log").exists() else ""
            self.remove()
            pytest.fail(f"The standby did not start: {started.stderr}{log[-2000:]}")

    def _run(self, program, *args, check=True):
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        env = {**os.environ, "PGPASSWORD": connection.settings_dict["PASSWORD"] or ""}
        return subprocess.run(command, capture_output=True, text=True, check=check, env=env, cwd=self.folder)

    def settings_dict(self):
        return {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(self.port)}

    def caught_up(self, timeout=30):
        """Wait until the standby has replayed everything the primary has committed."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            (target,) = cursor.fetchone()
        deadline = time.monotonic() + timeout
        while True:
            with connections[REPLICA].cursor() as cursor:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
                if cursor.fetchone()[0]:
                    return
            if time.monotonic() > deadline:
                pytest.fail("The standby did not catch up within 30 s")
            time.sleep(0.05)

    def replay(self, on):
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()")

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        self.remove()

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    """The standby, known to Django as the `replica` database from before each test's database
    setup (so the tests may use it), as a mirror (so no test flushes a read-only standby)."""
    with django_db_blocker.unblock():
        standby = Standby()
    settings.DATABASES[REPLICA] = {**standby.settings_dict(), "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
    try:
        yield standby
    finally:
        if REPLICA in connections:
            connections[REPLICA].close()
        del settings.DATABASES[REPLICA]
        standby.stop()


@pytest.fixture
def staff():
    roles.sync_role_groups(apps)  # a transactional test before may have flushed the role groups
    return make_user("clinician", roles.CLINICIAN), make_user("datamanager", roles.DATA_MANAGER, is_staff=True)


@contextmanager
def on_the_primary():
    """The insights read from the primary, as without a replica."""
    replica = settings.DATABASES.pop(REPLICA)
    try:
        yield
    finally:
        settings.DATABASES[REPLICA] = replica


def _records():
    for number in range(12):
        patient = make_patient(condition="anaemia" if number % 3 == 0 else "")
        make_delivery(patient, type_of_delivery="c_section" if number % 2 else "normal",
                      haemoglobin_at_delivery=9.0 + number / 4)  # fmt: skip
        make_followup(patient, visit_number=1, visit_date=datetime.date(2024, 5, 1 + number),
                      haemoglobin_g_dl=8.5 + number / 3, weight_kg=50 + number)  # fmt: skip


ANALYSES = [queries.district_metrics, queries.trends, queries.high_risk_patients, queries.anomalies,
            queries.delivery_outcomes, queries.followup_effect, queries.average_weight_by_district]  # fmt: skip


def _n_followups(client):
    return client.get(reverse("insights:overview")).context["totals"]["n_followups"]


def test_the_insights_read_from_the_replica_and_equal_the_primary(replica):
    _records()
    with on_the_primary():
        expected = [query() for query in ANALYSES]
    replica.caught_up()
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, CaptureQueriesContext(connection) as on_primary:
        found = [query() for query in ANALYSES]
        downloaded = list(queries.stream_high_risk_patients())  # a server-side cursor on a standby
    assert found == expected and downloaded == expected[2]
    assert len(on_replica) >= len(ANALYSES) and not on_primary
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), inet_server_port()")
        assert cursor.fetchone() == (True, replica.port)  # a standby, the one this test started


def _cached_followups():
    """The overview's district metrics as cached: the data version they were computed under, and
    their follow-ups."""
    version, _, rows = cache.get(_key(queries.district_metrics, {"district": None, "date_from": None, "date_to": None}))
    return version, sum(row["n_followups"] for row in rows)


def _version_on(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT token FROM insights_dataversion WHERE id = 1")
        return cursor.fetchone()[0]


def test_a_user_reads_her_own_write_and_a_lagging_result_keeps_its_old_version(replica, client, staff, settings):
    settings.INSIGHTS_MAX_AGE_SECONDS = 60  # others may be served a result behind the records; she is not
    clinician, data_manager = staff
    _records()
    replica.caught_up()
    client.force_login(clinician)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        before = _n_followups(client)
    assert before == 12 and on_replica.captured_queries
    old_version = _version_on(REPLICA)

    # The replica stops replaying; the data manager adds a visit on the primary.
    replica.replay(False)
    writer = Client()
    writer.force_login(data_manager)
    patient = make_patient()
    response = writer.post(reverse("patients:followup_create", args=[patient.patient_id]),
                           {"visit_number": 1, "visit_date": "2024-07-01", "haemoglobin_g_dl": "10"})  # fmt: skip
    assert response.status_code == 302
    new_version = _version_on(DEFAULT_DB_ALIAS)
    assert _version_on(REPLICA) == old_version != new_version

    # Another reader reads the lagging replica: the old number, found under the replica's old
    # version; nothing is stored under the primary's newer one.
    assert _n_followups(client) == before
    assert _cached_followups() == (old_version, before)
    # The writer reads her own write, from the primary, and it is stored under the new version.
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        assert _n_followups(writer) == before + 1
    assert not on_replica.captured_queries
    assert _cached_followups() == (new_version, before + 1)

    # Once replayed, everyone sees the visit.
    replica.replay(True)
    replica.caught_up()
    assert _n_followups(client) == before + 1
