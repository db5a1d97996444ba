"""
The trends' sums of follow-ups (insights.models.VisitSums), kept by the database's own triggers.

Why triggers, where the facts are kept by the writers' announcement (insights.facts): an announcement
names the patients written, not what their follow-ups were before. A follow-up moved to another day,
visit number or patient, given another weight or voided, must be taken away from the row it was
added to, which only the old row tells; the database has it (OLD, or a statement's transition
table), whoever writes: the app's writers, an import, raw SQL.

- PostgreSQL: one trigger a statement (insert, update, delete of follow-ups; update of patients,
  whose district may change), over all the statement's rows at once (transition tables), adding to
  the rows of the sums in their key's order.
- SQLite: one trigger a row (it has no statement triggers); its writers take turns anyway.

Each change takes the old rows' part away from the rows that hold it (an UPDATE: follow-ups deleted
after the sums, as a test database's flush may do, leave nothing behind), and adds the new rows'
part (a new row, or an addition to the row of its key). An edit that changes nothing summed (a
diagnosis, a blood pressure) touches no row.

Beware: SQLite's schema editor remakes a table for most changes of its columns, and drops its
triggers with it. A migration altering patients_followup or patients_patient must call install()
again; insights/tests/test_visit_sums.py fails otherwise.
"""

import datetime

from django.db import connection

from insights.models import VisitSums
from insights.sql import FOLLOWUP, PATIENT, Scope, sql_dialect

SUMS = VisitSums._meta.db_table
KEY = ("district_id", "month", "visit_number")
# Each sum over follow-up rows, by VisitSums column.
AGGREGATES = {
    "n": "COUNT(*)",
    "n_weight": "COUNT(weight_kg)",
    "weight": "COALESCE(SUM(weight_kg), 0)",
    "n_haemoglobin": "COUNT(haemoglobin_g_dl)",
    "haemoglobin": "COALESCE(SUM(haemoglobin_g_dl), 0)",
}
# A follow-up's columns that the sums read: an update changing none of them changes no sum.
SUMMED = ("patient_id", "visit_date", "visit_number", "weight_kg", "haemoglobin_g_dl", "voided_at")
# The triggers' names (PostgreSQL's functions are named after the table they watch).
FOLLOWUP_TRIGGERS = {event: f"insights_visitsums_{event.lower()}" for event in ("INSERT", "UPDATE", "DELETE")}
PATIENT_TRIGGER = "insights_visitsums_move"
FUNCTIONS = ("insights_visitsums_followups", "insights_visitsums_patients")


def _aggregates():
    return ", ".join(f"{sql} AS {column}" for column, sql in AGGREGATES.items())


def _summed(rows):
    """SQL: `rows` (follow-ups with their district: district_id, visit_date, visit_number, weight_kg,
    haemoglobin_g_dl) summed per key (VisitSums' columns, in order)."""
    month = sql_dialect()["month_start"].format("visit_date")
    # WHERE TRUE: SQLite reads an INSERT ... SELECT ... ON CONFLICT without a WHERE as a join's ON.
    return (
        f"SELECT district_id, {month} AS month, visit_number, {_aggregates()} FROM ({rows}) changed "
        f"WHERE TRUE GROUP BY district_id, {month}, visit_number"
    )


def _add(rows):
    """SQL adding `rows` to the sums: new rows, or additions to the rows of their keys (taken in key
    order: two writers adding to the same rows wait for each other rather than deadlock)."""
    columns = ", ".join((*KEY, *AGGREGATES))
    added = ", ".join(f"{column} = {SUMS}.{column} + excluded.{column}" for column in AGGREGATES)
    return (
        f"INSERT INTO {SUMS} ({columns}) {_summed(rows)} ORDER BY 1, 2, 3 "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {added}"
    )


def _take_away(rows):
    """SQL taking `rows` away from the rows of the sums that hold them."""
    taken = ", ".join(f"{column} = {SUMS}.{column} - gone.{column}" for column in AGGREGATES)
    matched = " AND ".join(f"{SUMS}.{column} = gone.{column}" for column in KEY)
    return f"UPDATE {SUMS} SET {taken} FROM ({_summed(rows)}) gone WHERE {matched}"


def _lock(*rows):
    """PL/pgSQL locking the rows of the sums that hold any of `rows`, in key order: a statement that
    takes away from some rows and adds to others (a patient moved, a visit's date changed) would
    otherwise lock them in its own order, and two such writers moving both ways would deadlock."""
    month = sql_dialect()["month_start"].format("visit_date")
    keys = " UNION ".join(f"SELECT district_id, {month}, visit_number FROM ({r}) changed" for r in rows)
    return f"PERFORM 1 FROM {SUMS} WHERE ({', '.join(KEY)}) IN ({keys}) ORDER BY {', '.join(KEY)} FOR UPDATE"


def _with_district(rows, voided_at="r.voided_at"):
    """SQL: follow-up rows (`rows`, aliased r) not voided, with their patient's district."""
    return (
        "SELECT p.district_id, r.visit_date, r.visit_number, r.weight_kg, r.haemoglobin_g_dl "
        f"FROM {rows} r JOIN {PATIENT} p ON p.id = r.patient_id WHERE {voided_at} IS NULL"
    )


def _moved(side):
    """SQL: the follow-ups (not voided) of patients whose district an update changed, with the
    district of `side` (o: the one she left, n: the one she joined). PostgreSQL's transition tables."""
    return (
        f"SELECT {side}.district_id, f.visit_date, f.visit_number, f.weight_kg, f.haemoglobin_g_dl "
        f"FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN {FOLLOWUP} f ON f.patient_id = o.id "
        "WHERE o.district_id <> n.district_id AND f.voided_at IS NULL"
    )


def _postgresql():
    changed = f"ROW({', '.join(f'o.{c}' for c in SUMMED)}) IS DISTINCT FROM ROW({', '.join(f'n.{c}' for c in SUMMED)})"
    updated = f"old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}"
    followups, patients = FUNCTIONS
    return [
        f"""CREATE OR REPLACE FUNCTION {followups}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            IF TG_OP = 'INSERT' THEN  -- one statement, in key order already
                {_add(_with_district("new_rows"))};
            ELSIF TG_OP = 'DELETE' THEN
                {_lock(_with_district("old_rows"))};
                {_take_away(_with_district("old_rows"))};
            ELSE
                {_lock(_with_district(f"(SELECT o.* FROM {updated})"), _with_district(f"(SELECT n.* FROM {updated})"))};
                {_take_away(_with_district(f"(SELECT o.* FROM {updated})"))};
                {_add(_with_district(f"(SELECT n.* FROM {updated})"))};
            END IF;
            RETURN NULL;
        END
        $body$""",
        f"""CREATE OR REPLACE FUNCTION {patients}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            {_lock(_moved("o"), _moved("n"))};
            {_take_away(_moved("o"))};
            {_add(_moved("n"))};
            RETURN NULL;
        END
        $body$""",
        *(
            f"CREATE TRIGGER {name} AFTER {event} ON {FOLLOWUP} REFERENCING {tables} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {followups}()"
            for (event, name), tables in zip(
                FOLLOWUP_TRIGGERS.items(),
                ("NEW TABLE AS new_rows", "OLD TABLE AS old_rows NEW TABLE AS new_rows", "OLD TABLE AS old_rows"),
                strict=True,
            )
        ),
        f"CREATE TRIGGER {PATIENT_TRIGGER} AFTER UPDATE ON {PATIENT} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {patients}()",
    ]


def _sqlite():
    def row(side):  # the follow-up row OLD or NEW, as a one-row table
        return f"(SELECT {', '.join(f'{side}.{c} AS {c}' for c in SUMMED)})"

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SUMMED)

    def moved(side):
        return (
            f"SELECT {side}.district_id AS district_id, f.visit_date, f.visit_number, f.weight_kg, f.haemoglobin_g_dl "
            f"FROM {FOLLOWUP} f WHERE f.patient_id = NEW.id AND f.voided_at IS NULL"
        )

    insert, update, delete = FOLLOWUP_TRIGGERS.values()
    return [
        f"CREATE TRIGGER {insert} AFTER INSERT ON {FOLLOWUP} BEGIN {_add(_with_district(row('NEW')))}; END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON {FOLLOWUP} BEGIN {_take_away(_with_district(row('OLD')))}; END",
        f"CREATE TRIGGER {update} AFTER UPDATE ON {FOLLOWUP} WHEN {changed} BEGIN "
        f"{_take_away(_with_district(row('OLD')))}; {_add(_with_district(row('NEW')))}; END",
        f"CREATE TRIGGER {PATIENT_TRIGGER} AFTER UPDATE OF district_id ON {PATIENT} "
        f"WHEN OLD.district_id IS NOT NEW.district_id BEGIN {_take_away(moved('OLD'))}; {_add(moved('NEW'))}; END",
    ]


def _drop(vendor):
    triggers = [*((name, FOLLOWUP) for name in FOLLOWUP_TRIGGERS.values()), (PATIENT_TRIGGER, PATIENT)]
    if vendor == "postgresql":
        return [
            *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in triggers),
            *(f"DROP FUNCTION IF EXISTS {name}()" for name in FUNCTIONS),
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name, _ in triggers]


def install(using=connection):
    """Create the triggers (again) on this connection's database; then rebuild() the sums."""
    statements = _postgresql() if using.vendor == "postgresql" else _sqlite()
    with using.cursor() as cursor:
        for sql in [*_drop(using.vendor), *statements]:
            cursor.execute(sql)


def uninstall(using=connection):
    with using.cursor() as cursor:
        for sql in _drop(using.vendor):
            cursor.execute(sql)


def rebuild(using=connection):
    """Sum every follow-up afresh (after writes the triggers did not see: a restore with triggers
    off; or to clear the drift of floating-point sums). On PostgreSQL the writers wait meanwhile."""
    with using.cursor() as cursor:
        if using.vendor == "postgresql":
            # Writers' triggers would otherwise add to (or take from) sums being rebuilt.
            cursor.execute(f"LOCK TABLE {FOLLOWUP}, {PATIENT} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {SUMS}")
        cursor.execute(_add(_with_district(FOLLOWUP)))


def _next_month(day):
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def cells(district=None, date_from=None, date_to=None):
    """SQL and parameters: the follow-ups in scope (insights.sql.Scope's `fu`) summed per month and
    visit number, as rows of (month, visit_number, and AGGREGATES' columns), several rows to a key.
    The months wholly in the range are read from VisitSums; the days of a month only partly in it
    (a range starting or ending inside a month) from the follow-ups themselves."""
    scope = Scope(district)
    whole_from = date_from if date_from is None or date_from.day == 1 else _next_month(date_from)
    whole_to = date_to
    if date_to is not None and _next_month(date_to) - datetime.timedelta(days=1) != date_to:
        whole_to = date_to.replace(day=1) - datetime.timedelta(days=1)  # the end of the month before
    if whole_from is not None and whole_to is not None and whole_from > whole_to:
        stored, live = False, [(date_from, date_to)]  # no whole month: all of it from the follow-ups
    else:
        stored, live = True, []
        if whole_from is not None and whole_from != date_from:
            live.append((date_from, whole_from - datetime.timedelta(days=1)))
        if whole_to is not None and whole_to != date_to:
            live.append((whole_to + datetime.timedelta(days=1), date_to))
    parts, params = [], []
    if stored:
        conditions = ["TRUE"]
        for condition, value in (
            ("district_id = %s", scope.district_pk),
            ("month >= %s", whole_from),
            ("month <= %s", whole_to),
        ):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        parts.append(
            f"SELECT month, visit_number, {', '.join(AGGREGATES)} FROM {SUMS} WHERE {' AND '.join(conditions)}"
        )
    month = sql_dialect()["month_start"].format("visit_date")
    for start, end in live:
        followups, followup_params = Scope(district, start, end).followups()
        parts.append(
            f"SELECT {month} AS month, visit_number, {_aggregates()} FROM ({followups}) f "
            f"GROUP BY {month}, visit_number"
        )
        params += followup_params
    return " UNION ALL ".join(parts), params
