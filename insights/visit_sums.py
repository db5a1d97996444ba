"""
The trends' sums of follow-ups (insights.models.VisitSums), kept by the database's own triggers.

Why triggers, where the facts are kept by the writers' announcement (insights.facts): an announcement
names the patients written, not what their follow-ups were before. A follow-up moved to another day,
visit number or patient, given another weight or voided, must be taken away from the row it was
added to, which only the old row tells; the database has it (OLD, or a statement's transition
table), whoever writes: the app's writers, an import, raw SQL.

- PostgreSQL: one trigger a statement (insert, update, delete of follow-ups; update of patients,
  whose district may change), over all the statement's rows at once (transition tables).
- SQLite: one trigger a row (it has no statement triggers); its writers take turns anyway.

Each change takes the old rows' part away from the rows that hold it (an UPDATE: follow-ups deleted
after the sums, as a test database's flush may do, leave nothing behind), and adds the new rows'
part (a new row, or an addition to the row of its key). An edit that changes nothing summed (a
diagnosis, a blood pressure) touches no row. A follow-up is counted in her patient's district as
the trigger finds it: one written before her patient (raw SQL with the foreign keys' checks
deferred) is not counted; `manage.py refresh_insights` sums everything afresh.

Locks, on PostgreSQL. A follow-up's trigger first locks her patient's row (FOR NO KEY UPDATE, as
insights.facts does), then the rows of the sums, each in order (patients by key, then the sums'
rows by key). So a follow-up written while her patient moves to another district waits for the move
(and reads her new district), or the move waits for it (and moves it too); and two writers of one
statement each cannot deadlock on the sums. Writers of several statements (an import's batches)
may still take the sums' rows in another order than a ward's edit; PostgreSQL then cancels one.
A rebuild locks the patients table (EXCLUSIVE, as the facts' rebuild does): every writer's trigger
then waits at its patient's row, and reads go on.

Beware: on SQLite the triggers name both tables, and a migration that remakes either of them
(Django's schema editor does for most changes of a column) fails at the rename with "error in
trigger insights_visitsums_...". Such a migration calls uninstall() first and install() and
rebuild() after. And migration insights 0012 installs them with today's code: a later change of a
column they read makes its step do nothing and installs them in a migration of its own.
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
    """SQL adding `rows` to the sums: new rows, or additions to the rows of their keys (in key order,
    within the statement)."""
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


def _lock_patients(*rows):
    """PL/pgSQL locking the patients of the follow-up rows `rows` (transition tables), by key, before
    their districts are read: a move of one of them to another district waits, or is waited for."""
    patients = " UNION ".join(f"SELECT patient_id FROM {r}" for r in rows)
    return f"PERFORM 1 FROM {PATIENT} WHERE id IN ({patients}) ORDER BY id FOR NO KEY UPDATE"


def _summed_columns(district, rows):
    """The columns _summed() reads: the `district`, and the rest from the follow-up rows `rows`."""
    return f"{district} AS district_id, " + ", ".join(
        f"{rows}.{column}" for column in ("visit_date", "visit_number", "weight_kg", "haemoglobin_g_dl")
    )


def _with_district(rows):
    """SQL: follow-up rows (`rows`, aliased r) not voided, with their patient's district."""
    return (
        f"SELECT {_summed_columns('p.district_id', 'r')} "
        f"FROM {rows} r JOIN {PATIENT} p ON p.id = r.patient_id WHERE r.voided_at IS NULL"
    )


def _moved(district, moved, patient):
    """SQL: the follow-ups (not voided) of the patients moved to another district (`moved`: a FROM
    clause, her primary key `patient`), with the `district` she left or the one she joined."""
    return (
        f"SELECT {_summed_columns(district, 'f')} FROM {moved} "
        f"JOIN {FOLLOWUP} f ON f.patient_id = {patient} WHERE f.voided_at IS NULL"
    )


def _postgresql():
    changed = f"ROW({', '.join(f'o.{c}' for c in SUMMED)}) IS DISTINCT FROM ROW({', '.join(f'n.{c}' for c in SUMMED)})"
    updated = f"old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}"
    old, new = _with_district(f"(SELECT o.* FROM {updated})"), _with_district(f"(SELECT n.* FROM {updated})")
    moved = "old_rows o JOIN new_rows n ON n.id = o.id AND n.district_id <> o.district_id"
    left, joined = (_moved(f"{side}.district_id", moved, "o.id") for side in ("o", "n"))
    followups, patients = FUNCTIONS
    return [
        f"""CREATE OR REPLACE FUNCTION {followups}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            IF TG_OP = 'INSERT' THEN  -- only adds: one statement, in key order
                {_lock_patients("new_rows")};
                {_add(_with_district("new_rows"))};
            ELSIF TG_OP = 'DELETE' THEN
                {_lock_patients("old_rows")};
                {_lock(_with_district("old_rows"))};
                {_take_away(_with_district("old_rows"))};
            ELSE
                {_lock_patients(f"(SELECT o.patient_id FROM {updated}) o", f"(SELECT n.patient_id FROM {updated}) n")};
                {_lock(old, new)};
                {_take_away(old)};
                {_add(new)};
            END IF;
            RETURN NULL;
        END
        $body$""",
        f"""CREATE OR REPLACE FUNCTION {patients}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            {_lock(left, joined)};
            {_take_away(left)};
            {_add(joined)};
            RETURN NULL;
        END
        $body$""",
        *(
            f"CREATE OR REPLACE TRIGGER {name} AFTER {event} ON {FOLLOWUP} REFERENCING {tables} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {followups}()"
            for (event, name), tables in zip(
                FOLLOWUP_TRIGGERS.items(),
                ("NEW TABLE AS new_rows", "OLD TABLE AS old_rows NEW TABLE AS new_rows", "OLD TABLE AS old_rows"),
                strict=True,
            )
        ),
        f"CREATE OR REPLACE TRIGGER {PATIENT_TRIGGER} AFTER UPDATE ON {PATIENT} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {patients}()",
    ]


def _sqlite():
    def row(side):  # the follow-up row OLD or NEW, as a one-row table
        return f"(SELECT {', '.join(f'{side}.{c} AS {c}' for c in SUMMED)})"

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SUMMED)

    def moved(side):  # her follow-ups, with the district she left (OLD) or joined (NEW)
        return _moved(f"{side}.district_id", "(SELECT NEW.id AS id) her", "her.id")

    insert, update, delete = FOLLOWUP_TRIGGERS.values()
    return [
        f"CREATE TRIGGER {insert} AFTER INSERT ON {FOLLOWUP} BEGIN {_add(_with_district(row('NEW')))}; END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON {FOLLOWUP} BEGIN {_take_away(_with_district(row('OLD')))}; END",
        f"CREATE TRIGGER {update} AFTER UPDATE ON {FOLLOWUP} WHEN {changed} BEGIN "
        f"{_take_away(_with_district(row('OLD')))}; {_add(_with_district(row('NEW')))}; END",
        f"CREATE TRIGGER {PATIENT_TRIGGER} AFTER UPDATE OF district_id ON {PATIENT} "
        f"WHEN OLD.district_id IS NOT NEW.district_id BEGIN {_take_away(moved('OLD'))}; {_add(moved('NEW'))}; END",
    ]


def _drop():
    """SQL dropping the triggers (and on PostgreSQL their functions), if there."""
    triggers = [*((name, FOLLOWUP) for name in FOLLOWUP_TRIGGERS.values()), (PATIENT_TRIGGER, PATIENT)]
    if connection.vendor == "postgresql":
        return [
            *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in triggers),
            *(f"DROP FUNCTION IF EXISTS {name}()" for name in FUNCTIONS),
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name, _ in triggers]


def install():
    """Create the triggers, or replace them (then rebuild() the sums). On PostgreSQL the writers of
    the two tables wait meanwhile, and the readers go on (no trigger is dropped first: that would
    lock out the readers too)."""
    statements = _postgresql() if connection.vendor == "postgresql" else [*_drop(), *_sqlite()]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def uninstall():
    with connection.cursor() as cursor:
        for sql in _drop():
            cursor.execute(sql)


def rebuild():
    """Sum every follow-up afresh (after writes the triggers did not see: a restore with triggers
    off; or to clear the drift of floating-point sums). On PostgreSQL the writers wait meanwhile:
    each follow-up's trigger waits at her patient's row, which the lock on the table holds off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {PATIENT} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {SUMS}")
        cursor.execute(_add(_with_district(FOLLOWUP)))


def _next_month(day):
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def cells(district=None, date_from=None, date_to=None):
    """SQL and parameters: the follow-ups in scope (insights.sql.Scope's `fu`) summed per month and
    visit number, as rows of (month, visit_number, and AGGREGATES' columns), several rows to a key.
    The months wholly in the range are read from VisitSums; the days of a month only partly in it
    (a range starting or ending inside a month) from the follow-ups themselves. The dates may be
    given as ISO text (YYYY-MM-DD), as the SQL of the other analyses takes them."""
    date_from, date_to = (datetime.date.fromisoformat(d) if isinstance(d, str) else d for d in (date_from, date_to))
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
