"""
Keeping the stored facts (insights.models) current: every write to the records refreshes the
facts of the patients it names, their districts' sums and totals (DistrictSums: her facts' part
taken away before they are written and added after), and the cache's data version, in the
writer's transaction.

- Every writer of the app (forms, API, admin, imports, voiding, demo data) announces its write once
  (patients.writes.records_written), naming the patients written, or None for "any": then
  everyone's facts are rebuilt. insights.apps connects `records_written` below to it.
- Anything else that writes the tables directly (raw SQL, a restore): `manage.py refresh_insights`.

Two writers to one patient take turns on PostgreSQL: a refresh first locks her patient row (FOR NO
KEY UPDATE, which the foreign-key check of a concurrent write to her records does not block, so
they cannot deadlock), and computes her facts only once it holds the lock, from what the other
has committed. A rebuild of everyone locks the patient table against such writers instead.
Writers to one district take turns on its sums at the end of their refresh, each locking the rows of
the districts it changed in district order (no two can deadlock), just before the data version,
which every writer updates last anyway.
"""

from django.db import connection, transaction

from insights import cache
from insights.models import DISTRICT_COUNTS, DISTRICT_TOTALS, EFFECT_COLUMNS, SETTING_COUNTS, DistrictSums
from insights.sql import (
    STORED_FACTS,
    Scope,
    district_sum_columns,
    district_sums_select,
    district_totals_select,
    execute,
    followup_effect_select,
)
from patients import clinical
from patients.models import Delivery, FollowUp, Patient

# Patients refreshed per statement (the SQL lists their primary keys).
CHUNK = 500
# Refreshing more than 1/REBUILD_SHARE of all patients rebuilds everyone instead: one pass over the
# tables beats many lookups (20,000 new patients of 20,000: 1.3 s instead of 5 s on SQLite).
REBUILD_SHARE = 4

FACTS = STORED_FACTS["facts"][0]
DISTRICT_SUMS = DistrictSums._meta.db_table
# DistrictSums' columns of sums, in order.
DISTRICT_COLUMNS = [
    *(column for *_, column in district_sum_columns()),
    *DISTRICT_TOTALS,
    *DISTRICT_COUNTS,
    *EFFECT_COLUMNS,
]


def district_select():
    """SQL adding up DISTRICT_COLUMNS over facts rows (`facts`), with the anaemia cut-off of now."""
    return f"{district_sums_select('facts')}, {district_totals_select('facts')}, {followup_effect_select('facts')}"


def refresh(patient_pks=None):
    """Recompute the stored facts of these patients (primary keys), or of everyone when None, their
    districts' sums and totals (DistrictSums). Eight queries per CHUNK patients (and a lock on
    PostgreSQL), and one for the districts' sums; a rebuild of everyone takes seconds at a million
    follow-ups."""
    if patient_pks is not None:
        patient_pks = sorted(set(patient_pks))
        if len(patient_pks) > CHUNK and len(patient_pks) * REBUILD_SHARE > Patient.objects.count():
            patient_pks = None  # a rebuild is quicker than many chunks
    # Part of the writer's transaction (no savepoint of its own: if it fails, the write fails).
    with transaction.atomic(savepoint=False):
        if patient_pks is None:
            if connection.vendor == "postgresql":
                execute(f"LOCK TABLE {Patient._meta.db_table} IN EXCLUSIVE MODE")
                # Statistics first: after a first large import the planner still believes the tables
                # empty, and its plan for the rebuild took minutes instead of seconds (3,000 patients,
                # 30,000 follow-ups: 185 s). ANALYZE samples this transaction's own rows too.
                execute(f"ANALYZE {', '.join(model._meta.db_table for model in (Patient, Delivery, FollowUp))}")
            for table, _ in [*STORED_FACTS.values(), (DISTRICT_SUMS, None)]:
                execute(f"DELETE FROM {table}")
            _insert(Scope(live=True))
            execute(
                f"INSERT INTO {DISTRICT_SUMS} (district_id, anaemia_cutoff_g_dl, {', '.join(DISTRICT_COLUMNS)}) "
                f"SELECT facts.district_id, %s, {district_select()} FROM {FACTS} facts GROUP BY facts.district_id",
                [clinical.anaemia_cutoff_g_dl()],
            )
            return
        change = {}  # district: the change of its sums, in DISTRICT_COLUMNS order
        for start in range(0, len(patient_pks), CHUNK):
            chunk = patient_pks[start : start + CHUNK]
            if connection.vendor == "postgresql":  # SQLite's writers take turns anyway
                # Voided patients too (a record written as she was voided), in one order.
                locked = Patient.all_objects.filter(pk__in=chunk).order_by("pk").select_for_update(no_key=True)
                list(locked.values_list("pk"))
            _add_up(change, _district_sums_of(chunk), -1)  # their old part of their districts' sums
            placeholders = ", ".join(["%s"] * len(chunk))
            for table, _ in STORED_FACTS.values():
                execute(f"DELETE FROM {table} WHERE patient_id IN ({placeholders})", chunk)
            _insert(Scope(patients=chunk, live=True))
            _add_up(change, _district_sums_of(chunk), 1)
        _add_to_district_sums(change)


def _insert(scope):
    for name, (table, columns) in STORED_FACTS.items():
        ctes, params = scope.ctes(name)
        names = ", ".join(columns)
        execute(f"{ctes} INSERT INTO {table} ({names}) SELECT {names} FROM {name}", params)


def _district_sums_of(patient_pks):
    """The sums of these patients' stored facts per district: rows of (district, its sums in
    DISTRICT_COLUMNS order). Read before and after their facts are written rather than returned by
    the writes: SQLite 3.40 returned a wrong IS NULL from an INSERT's RETURNING."""
    placeholders = ", ".join(["%s"] * len(patient_pks))
    return _fetch(
        f"SELECT facts.district_id, {district_select()} FROM {FACTS} facts "
        f"WHERE facts.patient_id IN ({placeholders}) GROUP BY facts.district_id",
        patient_pks,
    )


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _add_up(change, rows, sign):
    for district, *values in rows:
        total = change.setdefault(district, [0] * len(values))
        for n, value in enumerate(values):
            total[n] += sign * value


def _add_to_district_sums(change):
    """Add each district's change to its sums, in one statement. The districts are taken in order:
    writers to the same districts lock their rows in the same order, and cannot deadlock. Last of
    the refresh, so that a district's row is locked for as short a time as can be. The change of a
    count of SETTING_COUNTS was made with the anaemia cut-off of now: added to a count made with
    another, it would mean neither, so those counts and their cut-off become NULL (the analyses then
    add up the facts, until `manage.py refresh_insights` counts them again)."""
    cutoff = clinical.anaemia_cutoff_g_dl()
    rows = [(district, cutoff, *values) for district, values in sorted(change.items()) if any(values)]
    if not rows:  # nothing summed changed (a diagnosis)
        return
    columns = DISTRICT_COLUMNS
    row = "(" + ", ".join(["%s"] * (2 + len(columns))) + ")"
    kept = f"{DISTRICT_SUMS}.anaemia_cutoff_g_dl = excluded.anaemia_cutoff_g_dl"
    added = ", ".join(
        f"{column} = CASE WHEN {kept} THEN {DISTRICT_SUMS}.{column} + excluded.{column} END"
        if column in SETTING_COUNTS
        else f"{column} = {DISTRICT_SUMS}.{column} + excluded.{column}"
        for column in columns
    )
    added += f", anaemia_cutoff_g_dl = CASE WHEN {kept} THEN excluded.anaemia_cutoff_g_dl END"
    execute(
        f"INSERT INTO {DISTRICT_SUMS} (district_id, anaemia_cutoff_g_dl, {', '.join(columns)}) "
        f"VALUES {', '.join([row] * len(rows))} ON CONFLICT (district_id) DO UPDATE SET {added}",
        [value for row_values in rows for value in row_values],
    )


def records_written(sender, patient_pks, **kwargs):
    """The records of these patients (None: anyone's) were written: refresh their facts, then give
    the records a new data version. Last, because every writer's update of that one row waits for the
    others' to commit: taken at the end of a transaction, it is held for the moment before its commit."""
    if patient_pks is None or patient_pks:
        refresh(patient_pks)
    cache.new_version()
