"""
Every write to the records says so, once, before its transaction ends: `records_written(pks)`.

A writer (a form, the API, the admin, an import, voiding, the demo data) calls it after its last
write to patients, deliveries, follow-ups or districts, inside the same transaction, naming the
patients whose records it wrote (primary keys: for a record moved to another patient, both), an
empty list when only districts changed, or None when it cannot say (then: everyone). What listens
(the insights' stored facts and their cache version, connected in insights.apps) runs then, once
per write, in the writer's transaction: the records and what is worked out from them commit, or
roll back, together.

No model signal does this for a writer: a save does not know whether more of the same write is to
come (a patient and her inline records, a batch of rows), so each save would refresh her facts
again. Forgetting the call is caught by the tests: `Watch` notes every statement that writes a
record table, this call settles them, and the test suite fails a test that leaves a write
unannounced (conftest.py).
"""

import re

from django.db import connection, connections
from django.dispatch import Signal
from django.utils import timezone

from patients.models import Patient, RecordsWritten

# The listeners' signal: keyword argument patient_pks (a set of primary keys, or None for everyone).
written = Signal()

# The tables whose writes must be announced, by model label: resolved once the models are loaded.
RECORD_MODELS = ("patients.Patient", "patients.Delivery", "patients.FollowUp", "patients.District")

# The watches in force (tests): each holds the record writes not yet announced.
_watches = []


def records_written(patient_pks=None):
    """Tell the listeners that the records of these patients (primary keys; None: anyone's) were
    written, and note when (RecordsWritten). Call it once per write, after its last statement and
    before its transaction commits."""
    patient_pks = None if patient_pks is None else {pk for pk in patient_pks if pk is not None}
    written.send(sender=records_written, patient_pks=patient_pks)
    _note_when(patient_pks)
    for watch in _watches:
        watch.settle()


# Patients noted per statement (the SQL lists their primary keys).
NOTE_CHUNK = 500


def _note_when(patient_pks):
    """RecordsWritten: now, for these patients (everyone when None). Last of the write, so that the
    time is as close as can be to its commit: a reader asking for what changed since a moment
    misses no write that was still uncommitted then (see patients.fhir.bulk.SINCE_OVERLAP)."""
    if patient_pks is not None and not patient_pks:
        return
    table, patients = RecordsWritten._meta.db_table, Patient._meta.db_table
    upsert = (
        f"INSERT INTO {table} (patient_id, written_at) SELECT id, %s FROM {patients} WHERE {{}} "
        "ON CONFLICT (patient_id) DO UPDATE SET written_at = excluded.written_at"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM would store it
    with connection.cursor() as cursor:
        if patient_pks is None:
            cursor.execute(upsert.format("1 = 1"), [now])  # a WHERE: SQLite's parser needs one before ON CONFLICT
            return
        pks = sorted(patient_pks)
        for start in range(0, len(pks), NOTE_CHUNK):
            chunk = pks[start : start + NOTE_CHUNK]
            cursor.execute(upsert.format(f"id IN ({', '.join(['%s'] * len(chunk))})"), [now, *chunk])


def patient_pk(record):
    """The primary key of the patient `record` (a patient, a delivery or a follow-up) belongs to."""
    return record.pk if isinstance(record, Patient) else record.patient_id


class UnannouncedWrite(AssertionError):
    """Records were written and their writer did not call records_written()."""


_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class Watch:
    """Notes each statement on `using` that writes a record table, until records_written() settles
    it; a write rolled back (to a savepoint, or the whole transaction) is forgotten with it.

        with Watch() as watch:
            ...
        watch.check()  # raises UnannouncedWrite naming the statements
    """

    def __init__(self, using="default"):
        from django.apps import apps

        self.tables = {apps.get_model(label)._meta.db_table for label in RECORD_MODELS}
        self.connection = connections[using]
        self.pending = []
        self._marks = {}

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)  # a statement that failed wrote nothing
        match = _WRITE.match(sql)
        if match and match[1] in self.tables:
            self.pending.append(" ".join(sql.split())[:120])
        return result

    def settle(self):
        self.pending.clear()
        self._marks = dict.fromkeys(self._marks, 0)

    def check(self):
        if self.pending:
            raise UnannouncedWrite(
                "Records were written without patients.writes.records_written(): " + "; ".join(self.pending[:5])
            )

    # Savepoints and rollbacks pass no statement through execute wrappers: the connection's own
    # methods are wrapped while the watch is in force.
    def __enter__(self):
        connection, watch = self.connection, self
        savepoint, savepoint_rollback = connection.savepoint, connection.savepoint_rollback
        rollback = connection.rollback

        def watched_savepoint():
            sid = savepoint()
            watch._marks[sid] = len(watch.pending)
            return sid

        def watched_savepoint_rollback(sid):
            savepoint_rollback(sid)
            del watch.pending[watch._marks.get(sid, len(watch.pending)) :]

        def watched_rollback():
            rollback()
            watch.pending.clear()

        connection.savepoint, connection.savepoint_rollback = watched_savepoint, watched_savepoint_rollback
        connection.rollback = watched_rollback
        connection.execute_wrappers.append(self)
        _watches.append(self)
        return self

    def __exit__(self, *exc):
        _watches.remove(self)
        self.connection.execute_wrappers.remove(self)
        for name in ("savepoint", "savepoint_rollback", "rollback"):
            del self.connection.__dict__[name]
