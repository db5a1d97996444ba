"""
Keeping the stored facts (insights.models) current: every write to a patient, delivery or
follow-up refreshes that patient's facts in the same transaction.

- A save or delete of one record: the models' signals (connected in insights.apps).
- Bulk writes (imports, demo data): patients.signals.records_changed, which names the patients
  written, or None for "any": then everyone's facts are rebuilt.
- Anything else that writes the tables directly (raw SQL, a restore): `manage.py refresh_insights`.

Two writers to one patient take turns on PostgreSQL: a refresh first locks her patient row (FOR NO
KEY UPDATE, which the foreign-key check of a concurrent write to her records does not block, so
they cannot deadlock), and computes her facts only once it holds the lock, from what the other
has committed. A rebuild of everyone locks the patient table against such writers instead.
"""

from django.db import connection, transaction
from django.db.models import QuerySet

from insights.sql import STORED_FACTS, Scope, execute
from patients.models import Delivery, FollowUp, Patient

# Patients refreshed per statement (the SQL lists their primary keys).
CHUNK = 500
# Refreshing more than 1/REBUILD_SHARE of all patients rebuilds everyone instead: one pass over the
# tables beats many lookups (20,000 new patients of 20,000: 1.3 s instead of 5 s on SQLite).
REBUILD_SHARE = 4


def refresh(patient_pks=None):
    """Recompute the stored facts of these patients (primary keys), or of everyone when None.
    Seven queries per CHUNK patients; a rebuild of everyone takes seconds at a million follow-ups."""
    if patient_pks is not None:
        patient_pks = sorted(set(patient_pks))
        if len(patient_pks) > CHUNK and len(patient_pks) * REBUILD_SHARE > Patient.objects.count():
            patient_pks = None  # a rebuild is quicker than many chunks
    with transaction.atomic():
        if patient_pks is None:
            if connection.vendor == "postgresql":
                execute(f"LOCK TABLE {Patient._meta.db_table} IN EXCLUSIVE MODE")
                # Statistics first: after a first large import the planner still believes the tables
                # empty, and its plan for the rebuild took minutes instead of seconds (3,000 patients,
                # 30,000 follow-ups: 185 s). ANALYZE samples this transaction's own rows too.
                execute(f"ANALYZE {', '.join(model._meta.db_table for model in (Patient, Delivery, FollowUp))}")
            for table, _ in STORED_FACTS.values():
                execute(f"DELETE FROM {table}")
            _insert(Scope(live=True))
            return
        for start in range(0, len(patient_pks), CHUNK):
            chunk = patient_pks[start : start + CHUNK]
            list(Patient.objects.filter(pk__in=chunk).select_for_update(no_key=True).values_list("pk"))
            placeholders = ", ".join(["%s"] * len(chunk))
            for table, _ in STORED_FACTS.values():
                execute(f"DELETE FROM {table} WHERE patient_id IN ({placeholders})", chunk)
            _insert(Scope(patients=chunk, live=True))


def _insert(scope):
    for name, (table, columns) in STORED_FACTS.items():
        ctes, params = scope.ctes(name)
        names = ", ".join(columns)
        execute(f"{ctes} INSERT INTO {table} ({names}) SELECT {names} FROM {name}", params)


# --- Signal receivers (insights.apps connects them) ---


def patient_saved(sender, instance, **kwargs):
    refresh([instance.pk])


def record_saving(sender, instance, raw=False, **kwargs):
    """Before a delivery or follow-up is updated, note whose it was: if it moves to another patient,
    both patients' facts change."""
    if instance.pk is not None and not raw:
        instance._patient_before_save = (
            sender._base_manager.filter(pk=instance.pk).values_list("patient_id", flat=True).first()
        )


def record_saved(sender, instance, **kwargs):
    refresh({instance.patient_id, getattr(instance, "_patient_before_save", None)} - {None})


def record_deleted(sender, instance, origin=None, **kwargs):
    deleting_patient = isinstance(origin, Patient) or (isinstance(origin, QuerySet) and origin.model is Patient)
    if not deleting_patient:  # otherwise her facts are deleted with her
        refresh([instance.patient_id])


def records_changed(sender, patient_pks=None, **kwargs):
    refresh(patient_pks)
