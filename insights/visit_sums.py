"""
The trends' sums of follow-ups (insights.models.VisitSums): kept by insights.facts.refresh, read by
insights.queries.trends_by_visit_and_month.

A refresh of some patients sums their follow-ups as they are now less their stored visit facts
(VisitFacts: their follow-ups as the sums counted them), before it writes those again; the change
is added to the sums at the end of the refresh, in key order, as the districts' sums are
(insights.facts). An edit that changes nothing summed (a diagnosis, a blood pressure) writes no row
of the sums.
"""

import datetime

from django.db import connection

from insights.models import VisitFacts, VisitSums
from insights.sql import Scope, execute

SUMS = VisitSums._meta.db_table
VISITS = VisitFacts._meta.db_table
KEY = ("district_id", "month", "visit_number")
# Each sum over follow-up rows (with weight_kg and haemoglobin_g_dl), by VisitSums column.
AGGREGATES = {
    "n": "COUNT(*)",
    "n_weight": "COUNT(weight_kg)",
    "weight": "COALESCE(SUM(weight_kg), 0)",
    "n_haemoglobin": "COUNT(haemoglobin_g_dl)",
    "haemoglobin": "COALESCE(SUM(haemoglobin_g_dl), 0)",
}
# A change of a sum smaller than this is the noise of adding floating-point values in another order.
NOISE = 1e-9
# Rows of the sums written per statement (9 parameters each: SQLite's older limit is 999).
ROWS_PER_STATEMENT = 100


def _aggregates():
    return ", ".join(f"{sql} AS {column}" for column, sql in AGGREGATES.items())


def rebuild():
    """Sum every stored visit afresh (the refresh of everyone has just written them)."""
    execute(f"DELETE FROM {SUMS}")
    columns = ", ".join((*KEY, *AGGREGATES))
    execute(
        f"INSERT INTO {SUMS} ({columns}) SELECT {', '.join(KEY)}, {_aggregates()} FROM {VISITS} "
        f"GROUP BY {', '.join(KEY)}"
    )


def change_of(patient_pks):
    """What refreshing these patients changes in the sums: their follow-ups as they are now (live)
    summed, less their stored visit facts (as the sums counted them); read before those are written
    again. Rows of (district, month, visit number, then AGGREGATES' changes), only the keys that
    change: an edit of nothing summed gives none."""
    ctes, params = Scope(patients=patient_pks, live=True).ctes("visits")
    placeholders = ", ".join(["%s"] * len(patient_pks))
    key = ", ".join(KEY)

    def signed(sign, table):
        return (
            f"SELECT {key}, {sign} AS n, CASE WHEN weight_kg IS NULL THEN 0 ELSE {sign} END AS n_weight, "
            f"{sign} * COALESCE(weight_kg, 0) AS weight, "
            f"CASE WHEN haemoglobin_g_dl IS NULL THEN 0 ELSE {sign} END AS n_haemoglobin, "
            f"{sign} * COALESCE(haemoglobin_g_dl, 0) AS haemoglobin FROM {table}"
        )

    sums = ", ".join(f"SUM({column}) AS {column}" for column in AGGREGATES)
    changed = " OR ".join(
        f"ABS(SUM({column})) > {NOISE}" if column in ("weight", "haemoglobin") else f"SUM({column}) <> 0"
        for column in AGGREGATES
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"{ctes} SELECT {key}, {sums} FROM ({signed(1, 'visits')} UNION ALL "
            f"{signed(-1, VISITS)} WHERE patient_id IN ({placeholders})) changes GROUP BY {key} HAVING {changed}",
            [*params, *patient_pks],
        )
        return cursor.fetchall()


def add_up(change, rows):
    """Add these rows (change_of's) to `change`: {key: [AGGREGATES' changes]}."""
    for row in rows:
        key, values = row[:3], row[3:]
        total = change.get(key)
        change[key] = values if total is None else [kept + value for kept, value in zip(total, values, strict=True)]


def add(change):
    """Add each key's change to its row of the sums (a new row, or an addition to it), keys in order:
    writers to the same rows lock them in the same order, and cannot deadlock."""
    rows = [(*key, *values) for key, values in sorted(change.items())]
    columns = (*KEY, *AGGREGATES)
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    added = ", ".join(f"{column} = {SUMS}.{column} + excluded.{column}" for column in AGGREGATES)
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        batch = rows[start : start + ROWS_PER_STATEMENT]
        execute(
            f"INSERT INTO {SUMS} ({', '.join(columns)}) VALUES {', '.join([row] * len(batch))} "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {added}",
            [value for values in batch for value in values],
        )


def next_month(day):
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def _whole_months(date_from, date_to):
    """The first and last day of the months wholly in the range (None: open at that end), or None
    when no month is: from the first of the month after a start inside one, to the last day of the
    month before an end inside one."""
    try:
        whole_from = date_from if date_from is None or date_from.day == 1 else next_month(date_from)
        whole_to = date_to
        if date_to is not None and next_month(date_to) - datetime.timedelta(days=1) != date_to:
            whole_to = date_to.replace(day=1) - datetime.timedelta(days=1)
    except OverflowError:  # a range ending inside December 9999 or starting inside January of year 1
        return None
    if whole_from is not None and whole_to is not None and whole_from > whole_to:
        return None
    return whole_from, whole_to


def cells(district=None, date_from=None, date_to=None):
    """SQL and parameters: the follow-ups in scope summed per month and visit number, as rows of
    (month, visit_number, and AGGREGATES' columns), several rows to a key. The months wholly in the
    range are read from VisitSums; the days of a month only partly in it (a range starting or ending
    inside a month) from the follow-ups themselves, as the visit facts define them (Scope's
    `visits`). Dates may be given as ISO text."""
    date_from, date_to = (datetime.date.fromisoformat(d) if isinstance(d, str) else d for d in (date_from, date_to))
    whole = _whole_months(date_from, date_to)
    if whole is None:  # no whole month: all of it from the follow-ups
        live = [(date_from, date_to)]
    else:
        whole_from, whole_to = whole
        live = []
        if whole_from != date_from:
            live.append((date_from, whole_from - datetime.timedelta(days=1)))
        if whole_to != date_to:
            live.append((whole_to + datetime.timedelta(days=1), date_to))
    parts, params = [], []
    if whole is not None:
        conditions = ["1 = 1"]
        for condition, value in (
            ("district_id = %s", Scope(district).district_pk),
            ("month >= %s", whole_from),
            ("month <= %s", whole_to),
        ):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        parts.append(
            f"SELECT month, visit_number, {', '.join(AGGREGATES)} FROM {SUMS} WHERE {' AND '.join(conditions)}"
        )
    for start, end in live:
        ctes, visit_params = Scope(district, start, end).ctes("visits")
        parts.append(
            f"SELECT month, visit_number, {_aggregates()} FROM ({ctes} SELECT * FROM visits) visits "
            "GROUP BY month, visit_number"
        )
        params += visit_params
    return " UNION ALL ".join(parts), params
