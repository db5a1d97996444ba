"""
The insights, one function each: plain rows out, aggregated in the database, a fixed number of
queries whatever the data size. The clinical definitions are in patients.clinical.

Every function takes the same filters:
- `district`: a District (or its primary key); None for all districts.
- `date_from`, `date_to`: dates, both included, either may be None. With a range, only patients
  with a delivery or follow-up dated in it are counted, and only their records dated in it:
  her current haemoglobin is her latest reading in the range, a Caesarean counts if it was in it.
"""

import datetime
import math
import sqlite3
from decimal import Decimal

import scipy.stats
from django.db import connection
from django.db.models import Avg, Count, OuterRef, Subquery

from patients import clinical
from patients.models import Delivery, DeliveryTerm, DeliveryType, District, FollowUp, Patient


def _patients(district=None, date_from=None, date_to=None):
    return Patient.objects.in_district(district).active_between(date_from, date_to)


def average_weight_by_district(district=None, date_from=None, date_to=None):
    """The mean of the patients' recorded weight per district (the prototype's definition), with
    the number of patients behind it and the mean of their latest follow-up weights; heaviest
    first. One query."""
    latest_weight = (
        FollowUp.objects.filter(patient=OuterRef("pk"), weight_kg__isnull=False)
        .between(date_from, date_to)
        .order_by("-visit_date", "-visit_number")
        .values("weight_kg")[:1]
    )
    rows = (
        _patients(district, date_from, date_to)
        .annotate(latest_followup_weight=Subquery(latest_weight))
        .values("district__name")
        .annotate(
            average_weight=Avg("weight_kg"),
            n_patients=Count("weight_kg"),
            average_latest_followup_weight=Avg("latest_followup_weight"),
            n_latest_followup_weight=Count("latest_followup_weight"),
        )
        .order_by("-average_weight", "district__name")
    )
    return [
        {
            "district": row["district__name"],
            "average_weight": _round(row["average_weight"]),
            "n_patients": row["n_patients"],
            "average_latest_followup_weight": _round(row["average_latest_followup_weight"]),
            "n_latest_followup_weight": row["n_latest_followup_weight"],
        }
        for row in rows
    ]


# The orders the dashboard's high-risk table offers (SQL over high_risk's columns; missing
# haemoglobin last).
HIGH_RISK_ORDERS = {
    "patient": "patient_id",
    "district": "district__name, patient_id",
    "haemoglobin": "current_haemoglobin_g_dl IS NULL, current_haemoglobin_g_dl, patient_id",
}


def high_risk_patient_pks(district=None, date_from=None, date_to=None, order="patient"):
    """The high-risk patients' primary keys in one of HIGH_RISK_ORDERS, for a table to page through
    (cache this list, then read each page's rows with high_risk_rows()). One query."""
    sql, params = _high_risk_sql(district, date_from, date_to)
    return [
        pk for (pk,) in _fetch_values(f"SELECT pk FROM ({sql}) high_risk ORDER BY {HIGH_RISK_ORDERS[order]}", params)
    ]


def high_risk_rows(pks, date_from=None, date_to=None):
    """The high-risk rows (as high_risk_patients() gives them) of these patients, in this order:
    a page of a table. One query (PatientQuerySet.with_risk over just these patients)."""
    found = {
        row["pk"]: high_risk_row(row)
        for row in Patient.objects.filter(pk__in=pks).with_risk(date_from, date_to).values(
            "pk", "patient_id", "name", "condition", "district__name", "latest_delivery_type", "anaemia_keyword",
            "current_haemoglobin_g_dl", "had_caesarean",
        )
    }  # fmt: skip
    return [found[pk] for pk in pks if pk in found]


def high_risk_row(row):
    """A row of risk facts (_high_risk_sql() or PatientQuerySet.with_risk()) as the API and pages show it."""
    return {
        "patient_id": row["patient_id"],
        "name": row["name"],
        "condition": row["condition"],
        "delivery_type": row["latest_delivery_type"],
        "reasons": clinical.risk_reasons(row["anaemia_keyword"], row["current_haemoglobin_g_dl"], row["had_caesarean"]),
        "haemoglobin_g_dl": row["current_haemoglobin_g_dl"],
        "severity": clinical.anaemia_severity(row["current_haemoglobin_g_dl"]),
        "district": row["district__name"],
    }


def _keyword_sql(column):
    """clinical.mentions_anaemia as SQL on a text column (the keywords are plain lower-case words)."""
    # SQLite's LIKE already ignores the case of ASCII letters (LOWER() on every row would double the
    # scan); on PostgreSQL LOWER() LIKE measured faster than ILIKE. %% is a literal % once the driver
    # has put in the parameters.
    text = f"LOWER({column})" if connection.vendor == "postgresql" else column
    return "(" + " OR ".join(f"{text} LIKE '%%{keyword}%%'" for keyword in clinical.ANAEMIA_KEYWORDS) + ")"


def _high_risk_sql(district, date_from, date_to):
    """SQL for every high-risk patient in scope with her risk facts, the SQL twin of Patient.risk().

    Her latest follow-up reading is an index probe per patient (patients_followup_latest_idx); the
    delivery facts come from one pass over the (smaller) deliveries; follow-ups mentioning anaemia
    from one scan. Each is computed once per patient (a MATERIALIZED step), then compared.
    """
    scope = Scope(district, date_from, date_to)
    ctes, params = scope.ctes("fu", "dl")
    dates, date_params = scope.date_conditions("f.visit_date")
    latest_followup = (
        f"FROM {FOLLOWUP} f WHERE f.patient_id = scope.id AND f.haemoglobin_g_dl IS NOT NULL{dates} "
        "ORDER BY f.visit_date DESC, f.visit_number DESC LIMIT 1"
    )
    sql = f"""{ctes},
    latest_delivery AS (
        SELECT patient_id, type_of_delivery,
            ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY date_of_delivery DESC) AS n
        FROM dl
    ),
    delivery_reading AS (
        SELECT patient_id, date_of_delivery AS day, haemoglobin_at_delivery AS hb,
            ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY date_of_delivery DESC) AS n
        FROM dl WHERE haemoglobin_at_delivery IS NOT NULL
    ),
    caesarean AS (SELECT DISTINCT patient_id FROM dl WHERE type_of_delivery = '{DeliveryType.C_SECTION}'),
    keyword AS (SELECT DISTINCT patient_id FROM fu WHERE {_keyword_sql("diagnosis")}),
    facts AS {_MATERIALIZED()}(
        SELECT scope.id AS pk, scope.patient_id, scope.name, scope.condition, district.name AS district__name,
            latest_delivery.type_of_delivery AS latest_delivery_type,
            CASE WHEN keyword.patient_id IS NOT NULL OR {_keyword_sql("scope.condition")} THEN 1 ELSE 0 END
                AS anaemia_keyword,
            CASE WHEN caesarean.patient_id IS NULL THEN 0 ELSE 1 END AS had_caesarean,
            (SELECT f.visit_date {latest_followup}) AS followup_day,
            (SELECT f.haemoglobin_g_dl {latest_followup}) AS followup_hb,
            delivery_reading.day AS delivery_day, delivery_reading.hb AS delivery_hb
        FROM scope
        JOIN {DISTRICT} district ON district.id = scope.district_id
        LEFT JOIN latest_delivery ON latest_delivery.patient_id = scope.id AND latest_delivery.n = 1
        LEFT JOIN delivery_reading ON delivery_reading.patient_id = scope.id AND delivery_reading.n = 1
        LEFT JOIN caesarean ON caesarean.patient_id = scope.id
        LEFT JOIN keyword ON keyword.patient_id = scope.id
    ),
    risk AS (
        SELECT pk, patient_id, name, condition, district__name, latest_delivery_type, anaemia_keyword, had_caesarean,
            CASE WHEN followup_day IS NULL THEN delivery_hb
                WHEN delivery_day IS NULL THEN followup_hb
                WHEN followup_day >= delivery_day THEN followup_hb
                ELSE delivery_hb END AS current_haemoglobin_g_dl
        FROM facts
    )
    SELECT * FROM risk
    WHERE anaemia_keyword = 1 OR had_caesarean = 1 OR current_haemoglobin_g_dl < {float(clinical.anaemia_cutoff_g_dl())}
    """
    return sql, [*params, *date_params, *date_params]


def high_risk_patients(district=None, date_from=None, date_to=None):
    """Every high-risk patient once, with all her reasons (clinical.risk_reasons), her current
    haemoglobin and its WHO severity, and her latest delivery's type; by patient_id. One query."""
    sql, params = _high_risk_sql(district, date_from, date_to)
    return [high_risk_row(row) for row in _fetch(f"{sql} ORDER BY patient_id", params)]


def count_high_risk_patients(district=None, date_from=None, date_to=None):
    """How many patients high_risk_patients() lists. One query."""
    sql, params = _high_risk_sql(district, date_from, date_to)
    ((count,),) = _fetch_values(f"SELECT COUNT(*) FROM ({sql}) high_risk", params)
    return count


def _round(value):
    return None if value is None else round(value, 2)


# --- The analyses that need per-patient steps: SQL with common table expressions -----------------
# Latest and first readings, consecutive visits and "the first visit after a delivery" are window
# functions over a patient's rows, which the ORM cannot aggregate over. The records in scope are
# chosen by the same QuerySet methods as above (see Scope); the SQL below works on both SQLite
# and PostgreSQL (window functions, CTEs), with the two date expressions that differ in _sql_dialect.

PATIENT = Patient._meta.db_table
DELIVERY = Delivery._meta.db_table
FOLLOWUP = FollowUp._meta.db_table
DISTRICT = District._meta.db_table


class Scope:
    """The records an analysis reads, as SQL CTEs: `scope` (the patients: in the district and, with
    a date range, active in it), `fu` and `dl` (their follow-ups and deliveries dated in the range),
    `readings` (every haemoglobin reading among them), `hb_latest` and `hb_ends` (each patient's
    readings numbered from her latest, or from her first with their count, by the order of
    clinical.latest_reading)."""

    def __init__(self, district=None, date_from=None, date_to=None):
        self.filtered = district is not None or date_from is not None or date_to is not None
        self.district, self.date_from, self.date_to = district, date_from, date_to

    def ctes(self, *names):
        """`WITH ...` holding the named CTEs and those they need, and its parameters."""
        needed = []

        def need(name):
            for dependency in _CTE_NEEDS[name]:
                need(dependency)
            if name not in needed:
                needed.append(name)

        for name in names:
            need(name)
        parts, params = [], []
        for name in needed:
            sql, cte_params = getattr(self, f"_{name}")()
            # The records are inlined, so the planner reads the tables (and their indexes) instead of a
            # copy; the patients in scope are worked out once.
            inline = _NOT_MATERIALIZED() if name in ("fu", "dl") else ""
            parts.append(f"{name} AS {inline}({sql})")
            params += cte_params
        return "WITH " + ",\n".join(parts), params

    def _scope(self):
        sql = (
            f"SELECT p.id, p.patient_id, p.name, p.condition, p.district_id, p.weight_kg, p.height_cm FROM {PATIENT} p"
        )
        if not self.filtered:
            return sql, []
        chosen = _patients(self.district, self.date_from, self.date_to).order_by().values("pk")
        chosen_sql, params = chosen.query.sql_with_params()
        return f"{sql} WHERE p.id IN ({chosen_sql})", list(params)

    def _records(self, table, alias, date_column, columns):
        sql = f"SELECT {', '.join(f'{alias}.{c}' for c in columns)} FROM {table} {alias}"
        params, where = [], []
        if self.district is not None:
            # Only the district needs the join: a patient with a record in the range is active in it.
            sql += f" JOIN scope ON scope.id = {alias}.patient_id"
        if self.date_from is not None:
            where.append(f"{alias}.{date_column} >= %s")
            params.append(self.date_from)
        if self.date_to is not None:
            where.append(f"{alias}.{date_column} <= %s")
            params.append(self.date_to)
        return sql + (" WHERE " + " AND ".join(where) if where else ""), params

    def _fu(self):
        return self._records(FOLLOWUP, "f", "visit_date", (
            "id", "patient_id", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp_systolic",
            "bp_diastolic", "diagnosis",
        ))  # fmt: skip

    def _dl(self):
        return self._records(DELIVERY, "d", "date_of_delivery", (
            "id", "patient_id", "date_of_delivery", "type_of_delivery", "term_of_delivery", "haemoglobin_at_delivery",
            "weight_at_delivery", "placental_weight",
        ))  # fmt: skip

    def date_conditions(self, column):
        """SQL (starting with AND) and parameters keeping `column` inside the date range."""
        sql, params = "", []
        if self.date_from is not None:
            sql, params = f"{sql} AND {column} >= %s", [*params, self.date_from]
        if self.date_to is not None:
            sql, params = f"{sql} AND {column} <= %s", [*params, self.date_to]
        return sql, params

    def _readings(self):
        # Source 0 = delivery, 1 = follow-up: on one day the follow-up is the later reading.
        return (
            f"SELECT patient_id, visit_date AS day, {clinical.FOLLOW_UP} AS source, visit_number AS seq, "
            "haemoglobin_g_dl AS hb FROM fu WHERE haemoglobin_g_dl IS NOT NULL "
            f"UNION ALL SELECT patient_id, date_of_delivery, {clinical.DELIVERY}, 0, haemoglobin_at_delivery "
            "FROM dl WHERE haemoglobin_at_delivery IS NOT NULL"
        ), []

    def _hb_latest(self):
        # One ordering (one sort, or an index walk) per window: her latest reading is number 1.
        return (
            "SELECT patient_id, hb, "
            "ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY day DESC, source DESC, seq DESC) AS from_latest "
            "FROM readings"
        ), []

    def _hb_ends(self):
        # Her first reading is number 1, her latest number n_readings: one ordering, not two.
        return (
            "SELECT patient_id, hb, "
            "ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY day, source, seq) AS from_first, "
            "COUNT(*) OVER (PARTITION BY patient_id) AS n_readings FROM readings"
        ), []


_CTE_NEEDS = {
    "scope": (),
    "fu": ("scope",),
    "dl": ("scope",),
    "readings": ("fu", "dl"),
    "hb_latest": ("readings",),
    "hb_ends": ("readings",),
}


def _MATERIALIZED():  # noqa: N802 (reads as the SQL it returns)
    """Computed once, even where the query refers to its columns twice (PostgreSQL would inline it)."""
    return _NOT_MATERIALIZED().replace("NOT ", "")


def _fetch_values(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _NOT_MATERIALIZED():  # noqa: N802 (reads as the SQL it returns)
    if connection.vendor == "postgresql" or (connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)):
        return "NOT MATERIALIZED "
    return ""


def _fetch(sql, params):
    """The rows as dicts. PostgreSQL sums integers as numeric: counts (n_...) come back as int,
    other numbers as float."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for column, value in row.items():
            if isinstance(value, Decimal):
                row[column] = int(value) if column.startswith("n_") else float(value)
    return rows


def _sql_dialect():
    """The two date expressions SQLite and PostgreSQL spell differently (SQLite keeps dates as
    ISO text, so its month is a prefix, not Django's TruncMonth, which is a Python call per row)."""
    if connection.vendor == "postgresql":
        return {"month": "to_char({}, 'YYYY-MM')", "days": "({} - {})"}
    return {"month": "substr({}, 1, 7)", "days": "CAST(julianday({}) - julianday({}) AS INTEGER)"}


def _rate(numerator, denominator):
    return None if not denominator else numerator / denominator


def _severity_counts_sql(column):
    """SQL sums counting a haemoglobin column's values below the cut-off and in each of
    clinical.anaemia_severity's bands."""
    cutoff = float(clinical.anaemia_cutoff_g_dl())
    moderate, severe = clinical.MODERATE_BELOW_G_DL, clinical.SEVERE_BELOW_G_DL
    return (
        f"SUM(CASE WHEN {column} < {cutoff} THEN 1 ELSE 0 END) AS n_anaemic, "
        f"SUM(CASE WHEN {column} < {cutoff} AND {column} >= {moderate} THEN 1 ELSE 0 END) AS n_mild, "
        f"SUM(CASE WHEN {column} < {moderate} AND {column} >= {severe} THEN 1 ELSE 0 END) AS n_moderate, "
        f"SUM(CASE WHEN {column} < {severe} THEN 1 ELSE 0 END) AS n_severe"
    )


def district_metrics(district=None, date_from=None, date_to=None):
    """Per district: patients, deliveries and the Caesarean rate, anaemia prevalence by her current
    haemoglobin (overall and per WHO severity), the mean current haemoglobin, the mean recorded
    weight and follow-ups per patient. Every rate comes with its numerator and denominator. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("hb_latest")
    sql = f"""{ctes}
    SELECT district.name AS district, COUNT(*) AS n_patients,
        COALESCE(SUM(deliveries.n), 0) AS n_deliveries, COALESCE(SUM(deliveries.n_caesarean), 0) AS n_caesarean,
        COUNT(current.hb) AS n_with_haemoglobin, {_severity_counts_sql("current.hb")},
        AVG(current.hb) AS mean_haemoglobin_g_dl,
        COUNT(scope.weight_kg) AS n_with_weight, AVG(scope.weight_kg) AS mean_weight_kg,
        COALESCE(SUM(followups.n), 0) AS n_followups
    FROM scope
    JOIN {DISTRICT} district ON district.id = scope.district_id
    LEFT JOIN (
        SELECT patient_id, COUNT(*) AS n,
            SUM(CASE WHEN type_of_delivery = '{DeliveryType.C_SECTION}' THEN 1 ELSE 0 END) AS n_caesarean
        FROM dl GROUP BY patient_id
    ) deliveries ON deliveries.patient_id = scope.id
    LEFT JOIN (SELECT patient_id, COUNT(*) AS n FROM fu GROUP BY patient_id) followups
        ON followups.patient_id = scope.id
    LEFT JOIN (SELECT patient_id, hb FROM hb_latest WHERE from_latest = 1) current ON current.patient_id = scope.id
    GROUP BY district.name
    ORDER BY district.name
    """
    rows = _fetch(sql, params)
    for row in rows:
        row["caesarean_rate"] = _rate(row["n_caesarean"], row["n_deliveries"])
        row["anaemia_prevalence"] = _rate(row["n_anaemic"], row["n_with_haemoglobin"])
        row["followups_per_patient"] = _rate(row["n_followups"], row["n_patients"])
    return rows


_TREND_MEASURES = (
    "COUNT(*) AS n_visits, COUNT(weight_kg) AS n_weight, AVG(weight_kg) AS mean_weight_kg, "
    "COUNT(haemoglobin_g_dl) AS n_haemoglobin, AVG(haemoglobin_g_dl) AS mean_haemoglobin_g_dl"
)


def trends_by_visit(district=None, date_from=None, date_to=None):
    """Follow-ups' mean weight and haemoglobin, with their counts, by visit number (the prototype's
    third query). One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("fu")
    return _fetch(
        f"{ctes} SELECT visit_number, {_TREND_MEASURES} FROM fu GROUP BY visit_number ORDER BY visit_number", params
    )


def trends_by_month(district=None, date_from=None, date_to=None):
    """Follow-ups' mean weight and haemoglobin, with their counts, by month of the visit (YYYY-MM). One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("fu")
    month = _sql_dialect()["month"].format("visit_date")
    return _fetch(f"{ctes} SELECT {month} AS month, {_TREND_MEASURES} FROM fu GROUP BY {month} ORDER BY month", params)


def trends_change(district=None, date_from=None, date_to=None):
    """The mean change in weight and in haemoglobin from each patient's first visit to her latest
    (patients with two or more readings of it), with those numbers of patients. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("fu")
    changes = []
    for column in ("weight_kg", "haemoglobin_g_dl"):
        changes.append(f"""
        (SELECT COUNT(*) AS n, AVG(change) AS mean_change FROM (
            SELECT SUM(CASE WHEN from_first = n THEN value ELSE 0 END)
                - SUM(CASE WHEN from_first = 1 THEN value ELSE 0 END) AS change
            FROM (
                SELECT patient_id, {column} AS value,
                    ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY visit_date, visit_number) AS from_first,
                    COUNT(*) OVER (PARTITION BY patient_id) AS n
                FROM fu WHERE {column} IS NOT NULL
            ) numbered WHERE from_first = 1 OR from_first = n GROUP BY patient_id HAVING MAX(n) >= 2
        ) per_patient) {column}_change""")
    (change,) = _fetch(
        f"{ctes} SELECT weight_kg_change.n AS n_weight, weight_kg_change.mean_change AS mean_weight_change_kg, "
        "haemoglobin_g_dl_change.n AS n_haemoglobin, "
        "haemoglobin_g_dl_change.mean_change AS mean_haemoglobin_change_g_dl "
        f"FROM {changes[0]} CROSS JOIN {changes[1]}",
        params,
    )
    return change


def trends(district=None, date_from=None, date_to=None):
    """Weight and haemoglobin across follow-ups: by visit number, by month, and the change from
    first to latest visit (trends_by_visit, trends_by_month, trends_change). Three queries."""
    filters = {"district": district, "date_from": date_from, "date_to": date_to}
    return {
        "by_visit": trends_by_visit(**filters),
        "by_month": trends_by_month(**filters),
        "change": trends_change(**filters),
    }


def patient_timeline(patient, date_from=None, date_to=None):
    """One patient's weight and haemoglobin over time: her deliveries and follow-ups in the range,
    oldest first (on one day a delivery before a follow-up). Two queries."""
    deliveries = Delivery.objects.filter(patient=patient).between(date_from, date_to)
    followups = FollowUp.objects.filter(patient=patient).between(date_from, date_to)
    rows = [
        {"date": d["date_of_delivery"], "record": "delivery", "visit_number": None,
         "weight_kg": d["weight_at_delivery"], "haemoglobin_g_dl": d["haemoglobin_at_delivery"]}
        for d in deliveries.values("date_of_delivery", "weight_at_delivery", "haemoglobin_at_delivery")
    ] + [
        {"date": f["visit_date"], "record": "follow-up", "visit_number": f["visit_number"],
         "weight_kg": f["weight_kg"], "haemoglobin_g_dl": f["haemoglobin_g_dl"]}
        for f in followups.values("visit_date", "visit_number", "weight_kg", "haemoglobin_g_dl")
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row["date"], row["record"] == "follow-up", row["visit_number"] or 0))


def delivery_outcomes(district=None, date_from=None, date_to=None):
    """Delivery type against conditions. Per delivery type: the deliveries; anaemia at delivery
    (haemoglobin at delivery below the cut-off: prevalence and mean); anaemia at the following visit
    (the first follow-up with a haemoglobin on or after the delivery and before her next one); the
    preterm share of deliveries with a recorded term. Every rate with its counts; and a chi-square
    test of independence between delivery type and anaemia at delivery. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("fu", "dl")
    cutoff = float(clinical.anaemia_cutoff_g_dl())
    sql = f"""{ctes},
    spans AS (
        SELECT id, patient_id, date_of_delivery, type_of_delivery, term_of_delivery, haemoglobin_at_delivery,
            LEAD(date_of_delivery) OVER (PARTITION BY patient_id ORDER BY date_of_delivery) AS next_delivery
        FROM dl
    ),
    next_visit AS (
        SELECT spans.id AS delivery_id, fu.haemoglobin_g_dl AS hb,
            ROW_NUMBER() OVER (PARTITION BY spans.id ORDER BY fu.visit_date, fu.visit_number) AS n
        FROM spans JOIN fu ON fu.patient_id = spans.patient_id AND fu.visit_date >= spans.date_of_delivery
            AND (spans.next_delivery IS NULL OR fu.visit_date < spans.next_delivery)
        WHERE fu.haemoglobin_g_dl IS NOT NULL
    )
    SELECT spans.type_of_delivery AS delivery_type, COUNT(*) AS n_deliveries,
        COUNT(spans.haemoglobin_at_delivery) AS n_haemoglobin_at_delivery,
        SUM(CASE WHEN spans.haemoglobin_at_delivery < {cutoff} THEN 1 ELSE 0 END) AS n_anaemic_at_delivery,
        AVG(spans.haemoglobin_at_delivery) AS mean_haemoglobin_at_delivery,
        COUNT(next_visit.hb) AS n_haemoglobin_next_visit,
        SUM(CASE WHEN next_visit.hb < {cutoff} THEN 1 ELSE 0 END) AS n_anaemic_next_visit,
        AVG(next_visit.hb) AS mean_haemoglobin_next_visit,
        SUM(CASE WHEN spans.term_of_delivery <> '' THEN 1 ELSE 0 END) AS n_term_recorded,
        SUM(CASE WHEN spans.term_of_delivery = '{DeliveryTerm.PRETERM}' THEN 1 ELSE 0 END) AS n_preterm
    FROM spans LEFT JOIN next_visit ON next_visit.delivery_id = spans.id AND next_visit.n = 1
    GROUP BY spans.type_of_delivery
    """
    found = {row["delivery_type"]: row for row in _fetch(sql, params)}
    rows = []
    for code, label in DeliveryType.choices:
        row = found.get(code) or dict.fromkeys(_DELIVERY_OUTCOME_COUNTS, 0) | {
            "mean_haemoglobin_at_delivery": None, "mean_haemoglobin_next_visit": None,
        }  # fmt: skip
        row.update(delivery_type=code, label=label)
        row["anaemia_at_delivery_rate"] = _rate(row["n_anaemic_at_delivery"], row["n_haemoglobin_at_delivery"])
        row["anaemia_next_visit_rate"] = _rate(row["n_anaemic_next_visit"], row["n_haemoglobin_next_visit"])
        row["preterm_share"] = _rate(row["n_preterm"], row["n_term_recorded"])
        rows.append(row)
    table = [
        [row["n_anaemic_at_delivery"], row["n_haemoglobin_at_delivery"] - row["n_anaemic_at_delivery"]] for row in rows
    ]
    return {"by_delivery_type": rows, "chi_square": chi_square_independence(table)}


_DELIVERY_OUTCOME_COUNTS = (
    "n_deliveries", "n_haemoglobin_at_delivery", "n_anaemic_at_delivery", "n_haemoglobin_next_visit",
    "n_anaemic_next_visit", "n_term_recorded", "n_preterm",
)  # fmt: skip


def chi_square_independence(table):
    """Pearson's chi-square test of independence on a contingency table (rows x columns of counts),
    without Yates' correction; rows and columns that are all zero are left out. None when fewer
    than two rows or columns remain (nothing to compare)."""
    rows = [row for row in table if any(row)]
    columns = [c for c in range(len(rows[0]) if rows else 0) if any(row[c] for row in rows)]
    rows = [[row[c] for c in columns] for row in rows]
    if len(rows) < 2 or len(columns) < 2:
        return None
    statistic, p_value, dof, expected = scipy.stats.chi2_contingency(rows, correction=False)
    return {
        "statistic": float(statistic),
        "degrees_of_freedom": int(dof),
        "p_value": float(p_value),
        "min_expected_count": float(expected.min()),
    }


def followup_effect(district=None, date_from=None, date_to=None):
    """Follow-up frequency and timing against haemoglobin. Patients are grouped by their number of
    follow-ups (clinical.FOLLOWUP_COUNT_GROUPS) and, those with a delivery, by the days from their
    latest delivery to the first follow-up on or after it (clinical.FOLLOWUP_TIMING_GROUPS, or
    "none"). Per group: patients; those with two or more haemoglobin readings and their mean change
    from the first reading to the latest; those anaemic at their first reading (with a later one) and
    how many of them were no longer anaemic at their latest. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("hb_ends")
    cutoff = float(clinical.anaemia_cutoff_g_dl())
    days = _sql_dialect()["days"].format("first_after.day", "latest_delivery.day")
    count_group = _group_case("COALESCE(visits.n, 0)", clinical.FOLLOWUP_COUNT_GROUPS)
    timing_group = _group_case(days, clinical.FOLLOWUP_TIMING_GROUPS)
    outcomes = f"""COUNT(*) AS n_patients,
        SUM(CASE WHEN n_readings >= 2 THEN 1 ELSE 0 END) AS n_with_change,
        AVG(CASE WHEN n_readings >= 2 THEN latest_hb - first_hb END) AS mean_haemoglobin_change_g_dl,
        SUM(CASE WHEN n_readings >= 2 AND first_hb < {cutoff} THEN 1 ELSE 0 END) AS n_anaemic_at_first,
        SUM(CASE WHEN n_readings >= 2 AND first_hb < {cutoff} AND latest_hb >= {cutoff} THEN 1 ELSE 0 END)
            AS n_resolved"""
    sql = f"""{ctes},
    visits AS (SELECT patient_id, COUNT(*) AS n FROM fu GROUP BY patient_id),
    latest_delivery AS (SELECT patient_id, MAX(date_of_delivery) AS day FROM dl GROUP BY patient_id),
    first_after AS (
        SELECT latest_delivery.patient_id, MIN(fu.visit_date) AS day
        FROM latest_delivery JOIN fu ON fu.patient_id = latest_delivery.patient_id
            AND fu.visit_date >= latest_delivery.day
        GROUP BY latest_delivery.patient_id
    ),
    ends AS (
        SELECT patient_id, MAX(CASE WHEN from_first = 1 THEN hb END) AS first_hb,
            MAX(CASE WHEN from_first = n_readings THEN hb END) AS latest_hb, MAX(n_readings) AS n_readings
        FROM hb_ends WHERE from_first = 1 OR from_first = n_readings GROUP BY patient_id
    ),
    per_patient AS (
        SELECT {count_group} AS count_group,
            CASE WHEN latest_delivery.day IS NULL THEN NULL
                WHEN first_after.day IS NULL THEN '{clinical.NO_FOLLOWUP}'
                ELSE {timing_group} END AS timing_group,
            COALESCE(ends.n_readings, 0) AS n_readings, ends.first_hb, ends.latest_hb
        FROM scope
        LEFT JOIN visits ON visits.patient_id = scope.id
        LEFT JOIN latest_delivery ON latest_delivery.patient_id = scope.id
        LEFT JOIN first_after ON first_after.patient_id = scope.id
        LEFT JOIN ends ON ends.patient_id = scope.id
    )
    SELECT 'count' AS grouping, count_group AS label, {outcomes} FROM per_patient GROUP BY count_group
    UNION ALL
    SELECT 'timing', timing_group, {outcomes} FROM per_patient WHERE timing_group IS NOT NULL GROUP BY timing_group
    """
    found = {(row.pop("grouping"), row["label"]): row for row in _fetch(sql, params)}
    labels = {
        "by_followup_count": ("count", [label for label, _, _ in clinical.FOLLOWUP_COUNT_GROUPS]),
        "by_first_followup_timing": (
            "timing", [label for label, _, _ in clinical.FOLLOWUP_TIMING_GROUPS] + [clinical.NO_FOLLOWUP]
        ),
    }  # fmt: skip
    result = {}
    for key, (grouping, group_labels) in labels.items():
        result[key] = []
        for label in group_labels:
            row = found.get((grouping, label)) or {
                "label": label, "n_patients": 0, "n_with_change": 0, "mean_haemoglobin_change_g_dl": None,
                "n_anaemic_at_first": 0, "n_resolved": 0,
            }  # fmt: skip
            row["resolved_share"] = _rate(row["n_resolved"], row["n_anaemic_at_first"])
            result[key].append(row)
    return result


def _group_case(expression, groups):
    """SQL naming the (label, lowest, highest) group that `expression` falls in."""
    whens = " ".join(
        f"WHEN {expression} >= {lowest}" + (f" AND {expression} <= {highest}" if highest is not None else "")
        + f" THEN '{label}'"
        for label, lowest, highest in groups
    )  # fmt: skip
    return f"CASE {whens} END"


# The values screened for outliers, per record: (record, its CTE, fields, date column, visit column).
OUTLIER_FIELDS = (
    ("follow-up", "fu", ("weight_kg", "haemoglobin_g_dl", "bp_systolic", "bp_diastolic"), "visit_date", "visit_number"),
    ("delivery", "dl", ("weight_at_delivery", "haemoglobin_at_delivery", "placental_weight"), "date_of_delivery", None),
    ("patient", "scope", ("weight_kg", "height_cm"), None, None),
)
# Consecutive follow-ups: (field, the largest plausible change between two visits).
JUMP_FIELDS = (("weight_kg", clinical.WEIGHT_JUMP_KG), ("haemoglobin_g_dl", clinical.HAEMOGLOBIN_JUMP_G_DL))
# Differences of one-decimal values carry binary noise (55.1 - 50.1 = 5.000000000000004): a jump
# must exceed its limit by more than this to count.
_JUMP_TOLERANCE = 1e-9


def anomalies(district=None, date_from=None, date_to=None):
    """Values to review (clinical.OUTLIER_SD and the jump limits): each recorded value more than 3
    standard deviations (population) from the mean of the same field in the patient's district, and
    each follow-up whose weight or haemoglobin changed from her previous reading of it by more than
    its limit. One row per flag: patient, record, date, visit, field, value, rule, score (the z-score
    or the change) and reference (the district mean or the previous value); largest first.

    Four queries: per record type, one pass for the districts' sums and one to pick the values
    beyond 3 SD (hash joins, no sorting); then the jumps between visits.
    """
    scope = Scope(district, date_from, date_to)
    flagged = []
    for record, table, fields, day, visit in OUTLIER_FIELDS:
        ctes, params = scope.ctes(table)
        rows = table if table == "scope" else f"{table} JOIN scope ON scope.id = {table}.patient_id"
        value = {field: f"CAST({table}.{field} AS DOUBLE PRECISION)" for field in fields}
        sums = ", ".join(f"AVG({value[f]}) AS mean_{f}, AVG({value[f]} * {value[f]}) AS square_{f}" for f in fields)
        beyond = {
            f: f"({value[f]} - stats.mean_{f}) * ({value[f]} - stats.mean_{f}) "
            f"> {clinical.OUTLIER_SD**2} * (stats.square_{f} - stats.mean_{f} * stats.mean_{f})"
            for f in fields
        }
        columns = ", ".join(
            f"{value[f]} AS value_{f}, stats.mean_{f}, stats.square_{f}, "
            f"CASE WHEN {beyond[f]} THEN 1 ELSE 0 END AS flag_{f}"
            for f in fields
        )
        sql = f"""{ctes},
        stats AS (SELECT scope.district_id, {sums} FROM {rows} GROUP BY scope.district_id)
        SELECT scope.patient_id, {f"{table}.{day}" if day else "NULL"} AS day,
            {f"{table}.{visit}" if visit else "NULL"} AS visit_number, {columns}
        FROM {rows} JOIN stats ON stats.district_id = scope.district_id
        WHERE {" OR ".join(f"({condition})" for condition in beyond.values())}
        """
        for row in _fetch(sql, params):
            for field in fields:
                if row[f"flag_{field}"]:
                    mean, variance = row[f"mean_{field}"], row[f"square_{field}"] - row[f"mean_{field}"] ** 2
                    flagged.append({
                        "record": record, "patient_id": row["patient_id"], "date": _as_date(row["day"]),
                        "visit_number": row["visit_number"], "field": field, "value": row[f"value_{field}"],
                        "rule": clinical.DISTRICT_SD, "reference": mean,
                        "score": (row[f"value_{field}"] - mean) / math.sqrt(variance),
                    })  # fmt: skip
    ctes, params = scope.ctes("fu")
    jumps = " UNION ALL ".join(
        f"SELECT scope.patient_id, fu.visit_date AS day, fu.visit_number, '{field}' AS field, fu.{field} AS value, "
        f"LAG(fu.{field}) OVER (PARTITION BY fu.patient_id ORDER BY fu.visit_date, fu.visit_number) AS previous, "
        f"{limit} AS limit_ FROM fu JOIN scope ON scope.id = fu.patient_id WHERE fu.{field} IS NOT NULL"
        for field, limit in JUMP_FIELDS
    )
    sql = f"""{ctes}, consecutive AS ({jumps})
    SELECT patient_id, day, visit_number, field, value, previous FROM consecutive
    WHERE previous IS NOT NULL AND ABS(value - previous) > limit_ + {_JUMP_TOLERANCE}
    """
    for row in _fetch(sql, params):
        flagged.append({
            "record": "follow-up", "patient_id": row["patient_id"], "date": _as_date(row["day"]),
            "visit_number": row["visit_number"], "field": row["field"], "value": row["value"],
            "rule": clinical.VISIT_JUMP, "reference": row["previous"], "score": row["value"] - row["previous"],
        })  # fmt: skip
    flagged.sort(key=lambda row: (row["rule"], -abs(row["score"]), row["patient_id"], row["record"], row["field"]))
    return flagged


def _as_date(value):
    """A date from the database: SQLite returns the dates of a UNION as ISO text."""
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def deliveries_by_month(district=None, date_from=None, date_to=None):
    """Deliveries per month of delivery and type: rows of month (YYYY-MM), delivery_type, n. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("dl")
    month = _sql_dialect()["month"].format("date_of_delivery")
    return _fetch(
        f"{ctes} SELECT {month} AS month, type_of_delivery AS delivery_type, COUNT(*) AS n_deliveries FROM dl "
        f"GROUP BY {month}, type_of_delivery ORDER BY month, delivery_type",
        params,
    )
