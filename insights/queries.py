"""
The insights, one function each: plain rows out, aggregated in the database, a fixed number of
queries whatever the data size. The clinical definitions are in patients.clinical.

Every function takes the same filters:
- `district`: a District (or its primary key); None for all districts.
- `date_from`, `date_to`: dates, both included, either may be None. With a range, only patients
  with a delivery or follow-up dated in it are counted, and only their records dated in it:
  her current haemoglobin is her latest reading in the range, a Caesarean counts if it was in it.

The per-patient steps (her current haemoglobin, her first and latest readings, the visit after a
delivery, jumps between visits) are the `facts` of insights.sql.Scope: stored and kept current
without a date range, computed live with one. The functions below only aggregate them.
"""

import datetime

import scipy.stats
from django.db import connection

from insights.models import (
    DISTRICT_COUNTS,
    EFFECT_COLUMNS,
    EFFECT_GROUPS,
    EFFECT_OUTCOMES,
    SCREENED,
    DistrictSums,
    PatientFacts,
    patient_value_column,
    summary_column,
)
from insights.sql import (
    DISTRICT,
    FOLLOWUP_CHANGES,
    MATERIALIZED,
    NOT_MATERIALIZED,
    Scope,
    district_sums_select,
    district_totals_select,
    fact_columns,
    fetch,
    fetch_values,
    followup_change,
    followup_effect_select,
    followup_ends,
    patient_code,
    sql_dialect,
    stream_values,
    value_summary,
)
from patients import clinical
from patients.models import DeliveryTerm, DeliveryType


def average_weight_by_district(district=None, date_from=None, date_to=None):
    """The mean of the patients' recorded weight per district (the prototype's definition), with
    the number of patients behind it and the mean of their latest follow-up weights; heaviest
    first. One query: without a date range, over the districts' sums (DistrictSums)."""
    scope = Scope(district, date_from, date_to)
    if scope.dated:  # the patients active in the range, and their latest follow-up weight in it
        ctes, params = scope.ctes("weight_ends")  # not the rest of her facts
        averages = """SELECT scope.district_id, AVG(scope.weight_kg) AS average_weight,
            COUNT(scope.weight_kg) AS n_patients,
            AVG(weight_ends.latest) AS average_latest_followup_weight,
            COUNT(weight_ends.latest) AS n_latest_followup_weight
            FROM scope LEFT JOIN weight_ends ON weight_ends.patient_id = scope.id GROUP BY scope.district_id"""
    else:  # every patient of the district: what its sums add up
        weight_sum, weight_n = (summary_column("patient", "weight_kg", total) for total in ("sum", "n"))
        ctes, params = "", []
        averages = f"""SELECT district_id, {weight_sum} / NULLIF({weight_n}, 0) AS average_weight,
            {weight_n} AS n_patients,
            latest_followup_weight_kg_sum / NULLIF(latest_followup_weight_kg_n, 0) AS average_latest_followup_weight,
            latest_followup_weight_kg_n AS n_latest_followup_weight
            FROM {DistrictSums._meta.db_table} WHERE patients > 0"""
        if district is not None:
            averages, params = f"{averages} AND district_id = %s", [scope.district_pk]
    rows = fetch(
        f"""{ctes}
        SELECT district.name AS district, averages.average_weight, averages.n_patients,
            averages.average_latest_followup_weight, averages.n_latest_followup_weight
        FROM ({averages}) averages
        JOIN {DISTRICT} district ON district.id = averages.district_id
        ORDER BY averages.average_weight IS NULL, averages.average_weight DESC, district.name""",
        params,
    )
    for row in rows:
        row["average_weight"] = _round(row["average_weight"])
        row["average_latest_followup_weight"] = _round(row["average_latest_followup_weight"])
    return rows


# The orders of high-risk lists (SQL over _high_risk_sql's columns; missing values last). The
# first is the default: triage priority, then her most recent reading first.
HIGH_RISK_ORDERS = {
    "priority": "priority, latest_reading_date DESC NULLS LAST, patient_id",
    "patient": "patient_id",
    "district": "district__name, patient_id",
    "haemoglobin": "current_haemoglobin_g_dl ASC NULLS LAST, patient_id",
}
# What HIGH_RISK_ORDERS sort on, as both high-risk queries select it: from the facts (the district's
# name from `district`, joined where it is needed).
_HIGH_RISK_SORT_COLUMNS = {
    "priority": "facts.triage_level", "latest_reading_date": "facts.latest_reading_date",
    "current_haemoglobin_g_dl": "facts.current_haemoglobin_g_dl", "patient_id": "facts.patient_code",
    "district__name": "district.name",
}  # fmt: skip
# The columns of _high_risk_sql, in order: the sort keys first (PostgreSQL sorts whole rows, and
# compares the keys quicker at their start than behind the text), then what a row shows.
_HIGH_RISK_COLUMNS = (
    "priority", "latest_reading_date", "current_haemoglobin_g_dl", "pk", "patient_id", "name", "condition",
    "district__name", "latest_delivery_type", "current_haemoglobin_date", "latest_bp_systolic",
    "latest_bp_diastolic", "latest_bp_date", "reason_mask",
)  # fmt: skip


def high_risk_patient_pks(district=None, date_from=None, date_to=None, reasons=None, priorities=None, order="priority"):
    """The high-risk patients' primary keys in one of HIGH_RISK_ORDERS, for a table to page through
    (cache this list, then read each page's rows with high_risk_rows()). One query, of the facts
    alone: without a date range, on PostgreSQL, the default order is read from an index
    (insights.models.TRIAGE_INDEX) instead of sorted (789,307 patients at ten million follow-ups)."""
    ctes, params = Scope(district, date_from, date_to).ctes("facts")
    # The district's name only where it is sorted on: a join would lose the index's order.
    named = "district__name" in HIGH_RISK_ORDERS[order]
    columns = {**_HIGH_RISK_SORT_COLUMNS, **({} if named else {"district__name": "NULL"})}
    sql = f"""{ctes}
    SELECT pk FROM (
        SELECT facts.patient_id AS pk, {", ".join(f"{sql} AS {name}" for name, sql in columns.items())}
        FROM facts {f"JOIN {DISTRICT} district ON district.id = facts.district_id" if named else ""}
        WHERE {_high_risk_test(reasons, priorities)}
    ) listed ORDER BY {HIGH_RISK_ORDERS[order]}"""
    return [pk for (pk,) in fetch_values(sql, params)]


def high_risk_rows(pks, district=None, date_from=None, date_to=None, reasons=None, priorities=None):
    """The high-risk rows (as high_risk_patients() gives them) of these patients, in this order,
    that match the filters now: a page of a table whose list may be older than the records
    (insights.cache). One query (the facts of just these patients)."""
    if not pks:  # an empty page: there is no SQL for "none of no patients"
        return []
    sql, params = _high_risk_sql(district, date_from, date_to, patients=pks, reasons=reasons, priorities=priorities)
    pk = _HIGH_RISK_COLUMNS.index("pk")
    found = {row[pk]: row for row in fetch_values(sql, params)}
    return list(_as_high_risk_rows(found[key] for key in pks if key in found))


def _as_high_risk_rows(rows):
    """Rows of _high_risk_sql (tuples) as the API and pages show them, one by one: the prototype's
    keys (codes), and the priority and reasons in words. 80,000 rows at a million follow-ups: the
    words, the reasons of each mask (one list shared by the rows with the same reasons: read them,
    do not change them) and each value's severity are worked out once, not per row."""
    reasons = {}
    for mask in range(1 << len(clinical.REASONS)):
        chosen = [reason for bit, reason in enumerate(clinical.REASONS) if mask & (1 << bit)]
        reasons[mask] = ([reason.code for reason in chosen], [reason.label for reason in chosen])
    priority_labels = {level: clinical.priority_label(level) for level in clinical.PRIORITY_LEVELS}
    severities, bands = {}, {}
    for (priority, _, hb, _, patient_id, name, condition, district, delivery_type, hb_date, systolic, diastolic,
         bp_date, mask) in rows:  # fmt: skip
        if hb not in severities:
            severities[hb] = clinical.anaemia_severity(hb)
        if (systolic, diastolic) not in bands:
            bands[systolic, diastolic] = clinical.blood_pressure_band(systolic, diastolic)
        codes, words = reasons[mask]
        yield {
            "patient_id": patient_id, "name": name, "condition": condition, "delivery_type": delivery_type,
            "reasons": codes, "haemoglobin_g_dl": hb, "severity": severities[hb], "district": district,
            "priority": priority, "priority_label": priority_labels[priority], "reason_labels": words,
            "haemoglobin_date": _as_date(hb_date), "bp_systolic": systolic, "bp_diastolic": diastolic,
            "bp_date": _as_date(bp_date), "bp_band": bands[systolic, diastolic],
        }  # fmt: skip


def _high_risk_test(reasons=None, priorities=None):
    """SQL over `facts`: she is high-risk for one of `reasons` (codes; any reason when None) and her
    triage level is one of `priorities` (any when None)."""
    columns = fact_columns()
    chosen = [reason for reason in clinical.REASONS if reasons is None or reason.code in reasons]
    test = clinical.AnyOf(tuple(reason.test for reason in chosen)).sql(columns) if chosen else "1 = 0"
    if priorities is not None:  # none of no priorities: nobody
        levels = [int(level) for level in priorities] or [0]
        test = f"{test} AND facts.triage_level IN ({', '.join(str(level) for level in levels)})"
    return test


def _high_risk_sql(district, date_from, date_to, patients=None, reasons=None, priorities=None):
    """SQL for every high-risk patient in scope (or among `patients`), _HIGH_RISK_COLUMNS: her
    facts, her reasons as a bit mask (bit n: clinical.REASONS[n]), her triage priority and the date
    of her latest reading; only those with one of `reasons` (codes) and one of `priorities`, when
    given. The many-patient twin of Patient.risk(): both read clinical.REASONS and PRIORITIES."""
    ctes, params = Scope(district, date_from, date_to, patients=patients).ctes("facts")
    columns = fact_columns()
    mask = " + ".join(
        f"CASE WHEN {reason.test.sql(columns)} THEN {1 << bit} ELSE 0 END"
        for bit, reason in enumerate(clinical.REASONS)
    )
    sql = f"""{ctes}
    SELECT {", ".join(f"{sql} AS {name}" for name, sql in _HIGH_RISK_SORT_COLUMNS.items())},
        scope.id AS pk, scope.name, scope.condition, facts.latest_delivery_type, facts.current_haemoglobin_date,
        facts.latest_bp_systolic, facts.latest_bp_diastolic, facts.latest_bp_date, {mask} AS reason_mask
    FROM scope JOIN facts ON facts.patient_id = scope.id JOIN {DISTRICT} district ON district.id = scope.district_id
    WHERE {_high_risk_test(reasons, priorities)}
    """
    return f"SELECT {', '.join(_HIGH_RISK_COLUMNS)} FROM ({sql}) high_risk", params


def high_risk_patients(district=None, date_from=None, date_to=None, reasons=None, priorities=None, order="priority"):
    """Every high-risk patient once (or those with one of `reasons`, codes, and of `priorities`),
    with all her reasons (clinical.REASONS), triage priority, current haemoglobin and its WHO
    severity, latest blood pressure and her latest delivery's type; in one of HIGH_RISK_ORDERS,
    most urgent first by default. One query."""
    return list(stream_high_risk_patients(district, date_from, date_to, reasons, priorities, order))


def stream_high_risk_patients(
    district=None, date_from=None, date_to=None, reasons=None, priorities=None, order="priority"
):
    """high_risk_patients(), one row at a time as the database sends them: on PostgreSQL from a
    server-side cursor, a chunk at a time, so that a list of any length takes the same memory (the
    downloads). Read it to the end, or close it. One query, sent when the first row is read."""
    sql, params = _high_risk_sql(district, date_from, date_to, reasons=reasons, priorities=priorities)
    return _as_high_risk_rows(stream_values(f"{sql} ORDER BY {HIGH_RISK_ORDERS[order]}", params))


def count_high_risk_patients(district=None, date_from=None, date_to=None, reasons=None, priorities=None):
    """How many patients high_risk_patients() lists. One query."""
    sql, params = _high_risk_sql(district, date_from, date_to, reasons=reasons, priorities=priorities)
    ((count,),) = fetch_values(f"SELECT COUNT(*) FROM ({sql}) counted", params)
    return count


# --- The patient list's columns, from the stored facts ---


def priority_sql(patient_table_alias):
    """SQL giving the triage priority of the patient row `patient_table_alias` from her stored facts
    (NULL when she is not high-risk): to order a list of patients by it."""
    table = PatientFacts._meta.db_table
    columns = fact_columns()  # priority reads only the stored facts, not the patient row's (scope)
    return (
        f"(SELECT CASE WHEN {clinical.HIGH_RISK_TEST.sql(columns)} THEN facts.triage_level END "
        f"FROM {table} facts WHERE facts.patient_id = {patient_table_alias}.id)"
    )


def latest_readings(patient_pks):
    """For a page of patients (primary keys), what the patient list shows of each: her current
    haemoglobin and its severity, latest blood pressure and its band, last visit date and triage
    priority (None when not high-risk). {pk: dict}. One query."""
    rows = PatientFacts.objects.filter(patient_id__in=list(patient_pks)).values()
    found = {}
    for facts in rows:
        found[facts["patient_id"]] = {
            "haemoglobin_g_dl": facts["current_haemoglobin_g_dl"],
            "haemoglobin_date": facts["current_haemoglobin_date"],
            "severity": clinical.anaemia_severity(facts["current_haemoglobin_g_dl"]),
            "bp_systolic": facts["latest_bp_systolic"],
            "bp_diastolic": facts["latest_bp_diastolic"],
            "bp_date": facts["latest_bp_date"],
            "bp_band": clinical.blood_pressure_band(facts["latest_bp_systolic"], facts["latest_bp_diastolic"]),
            "last_visit_date": facts["latest_visit_date"],
            "priority": clinical.triage_priority(facts),  # the rules the high-risk lists read
        }
    return found


def _round(value):
    return None if value is None else round(value, 2)


def _rate(numerator, denominator):
    return None if not denominator else numerator / denominator


def _anaemic_sql(column):
    """SQL: the haemoglobin `column` is below the cut-off (clinical.ANAEMIC)."""
    return clinical.ANAEMIC.sql({"haemoglobin_g_dl": column})


def district_metrics(district=None, date_from=None, date_to=None):
    """Per district: patients, deliveries and the Caesarean rate, anaemia prevalence by her current
    haemoglobin (overall and per WHO severity), the mean current haemoglobin, hypertension prevalence
    (her latest blood pressure high, over patients with a reading; and how many severe), the patients
    with each risk factor (n_<code> of clinical.RISK_FACTORS), the mean recorded weight and follow-ups
    per patient. Every rate comes with its numerator and denominator. One query: without a date
    range, over the districts' totals (DistrictSums); where those that read the anaemia cut-off were
    counted with another (the setting changed), a second adds up the facts."""
    scope = Scope(district, date_from, date_to)
    rows = None
    if not scope.dated:
        totals, params = f"SELECT * FROM {DistrictSums._meta.db_table} WHERE patients > 0", []
        if district is not None:
            totals, params = f"{totals} AND district_id = %s", [scope.district_pk]
        rows = fetch(_district_metrics_sql(totals, "totals.anaemia_cutoff_g_dl"), params)
        cutoff = clinical.anaemia_cutoff_g_dl()  # NULL where a write came under another
        if [row.pop("anaemia_cutoff_g_dl") for row in rows] != [cutoff] * len(rows):
            rows = None
    if rows is None:  # the same totals, added up over the facts of the patients in scope
        ctes, params = scope.ctes("facts")
        weight = [summary_column("patient", "weight_kg", total) for total in ("n", "sum")]
        totals = f"""SELECT scope.district_id, {district_totals_select("facts")},
            {district_sums_select("facts", weight)}
            FROM scope JOIN facts ON facts.patient_id = scope.id GROUP BY scope.district_id"""
        rows = fetch(f"{ctes} {_district_metrics_sql(totals)}", params)
    for row in rows:
        row["caesarean_rate"] = _rate(row["n_caesarean"], row["n_deliveries"])
        row["anaemia_prevalence"] = _rate(row["n_anaemic"], row["n_with_haemoglobin"])
        row["hypertension_prevalence"] = _rate(row["n_high_blood_pressure"], row["n_with_blood_pressure"])
        row["followups_per_patient"] = _rate(row["n_followups"], row["n_patients"])
    return rows


def _district_metrics_sql(totals, *also):
    """SQL of district_metrics' rows, by district name, from `totals`: SQL of rows of a district's
    DISTRICT_TOTALS, DISTRICT_COUNTS and sums of her own weight (DistrictSums' columns); with the
    SQL columns `also` after them."""
    weight_n, weight_sum = (summary_column("patient", "weight_kg", total) for total in ("n", "sum"))
    counts = list(DISTRICT_COUNTS)
    blood_pressure = counts.index("n_high_blood_pressure")  # before it, the anaemia counts
    columns = {
        "n_patients": "totals.patients",
        **{name: f"totals.{name}" for name in ("n_deliveries", "n_caesarean", "n_with_haemoglobin")},
        **{name: f"totals.{name}" for name in counts[:blood_pressure]},
        "mean_haemoglobin_g_dl": "totals.current_haemoglobin_g_dl_sum / NULLIF(totals.n_with_haemoglobin, 0)",
        "n_with_blood_pressure": "totals.n_with_blood_pressure",
        **{name: f"totals.{name}" for name in counts[blood_pressure:]},
        "n_with_weight": f"totals.{weight_n}",
        "mean_weight_kg": f"totals.{weight_sum} / NULLIF(totals.{weight_n}, 0)",
        "n_followups": "totals.n_followups",
    }
    # Grouped by the district's key, and named after: a name per row would widen what is grouped.
    return f"""SELECT district.name AS district, {", ".join(f"{sql} AS {name}" for name, sql in columns.items())}
        {"".join(f", {column}" for column in also)}
    FROM ({totals}) totals JOIN {DISTRICT} district ON district.id = totals.district_id
    ORDER BY district.name"""


def trends_by_visit_and_month(district=None, date_from=None, date_to=None):
    """Follow-ups' mean weight and haemoglobin, with their counts, by visit number (the prototype's
    third query) and by month of the visit (YYYY-MM): {"by_visit": rows, "by_month": rows}. One
    query, one pass over the follow-ups.

    The follow-ups are summed per day and visit number first (90,000 cells at ten million
    follow-ups: on PostgreSQL, in parallel and in the order of the trends index, patients.models),
    then the cells per visit and per month: the month is worked out per cell, not per visit. At
    ten million follow-ups the trends took 1.35 s (a pass per grouping) to 0.75 s."""
    ctes, params = Scope(district, date_from, date_to).ctes("fu")
    month = sql_dialect()["month"].format("visit_date")
    cells = """SELECT visit_date, visit_number, COUNT(*) AS n, COUNT(weight_kg) AS n_weight, SUM(weight_kg) AS weight,
        COUNT(haemoglobin_g_dl) AS n_haemoglobin, SUM(haemoglobin_g_dl) AS haemoglobin
        FROM fu GROUP BY visit_date, visit_number"""
    sums = """SUM(n) AS n_visits,
        SUM(n_weight) AS n_weight, SUM(weight) / NULLIF(SUM(n_weight), 0) AS mean_weight_kg,
        SUM(n_haemoglobin) AS n_haemoglobin,
        SUM(haemoglobin) / NULLIF(SUM(n_haemoglobin), 0) AS mean_haemoglobin_g_dl"""
    if connection.vendor == "postgresql":
        sql = f"""{ctes}
        SELECT CASE WHEN GROUPING(visit_number) = 0 THEN 'visit' ELSE 'month' END AS kind, visit_number,
            {month} AS month, {sums}
        FROM ({cells}) cells GROUP BY GROUPING SETS ((visit_number), ({month}))"""
    else:  # SQLite has no GROUPING SETS: the cells once, grouped twice
        sql = f"""{ctes}, cells AS {MATERIALIZED()}({cells})
        SELECT 'visit' AS kind, visit_number, NULL AS month, {sums} FROM cells GROUP BY visit_number
        UNION ALL
        SELECT 'month', NULL, {month}, {sums} FROM cells GROUP BY {month}"""
    found = {"visit": [], "month": []}
    for row in fetch(f"{sql} ORDER BY kind, visit_number, month", params):
        kind = row.pop("kind")
        del row["month" if kind == "visit" else "visit_number"]
        found[kind].append(row)
    return {"by_visit": found["visit"], "by_month": found["month"]}


def trends_change(district=None, date_from=None, date_to=None):
    """The mean change in weight and in haemoglobin from each patient's first visit to her latest
    (patients with two or more readings of it), with those numbers of patients. One query: without
    a date range, over the districts' sums (DistrictSums); with one, over each patient's first and
    latest readings alone (not the rest of her facts: at ten million follow-ups, one district's
    year took 0.76-0.87 s before, 0.5 s after)."""
    scope = Scope(district, date_from, date_to)
    parts = []
    for measure, n_out, mean_out in (
        ("weight", "n_weight", "mean_weight_change_kg"),
        ("haemoglobin", "n_haemoglobin", "mean_haemoglobin_change_g_dl"),
    ):
        if scope.dated:  # her first and latest readings in the range, as her facts would hold them
            counted, change = followup_change("facts", measure)
            # Of the patients in scope, as her facts would be: one with a reading in the range is
            # active in it, so the members (not voided) suffice, without the deliveries `scope` reads.
            parts.append(
                f"(SELECT COALESCE(SUM({counted}), 0) AS {n_out}, AVG({change}) AS {mean_out} "
                f"FROM ({followup_ends(measure)}) facts WHERE facts.patient_id IN (SELECT id FROM members)) {measure}"
            )
        else:
            n, total = f"{measure}_change_n", f"{measure}_change_sum"
            parts.append(f"COALESCE(SUM({n}), 0) AS {n_out}, SUM({total}) / NULLIF(SUM({n}), 0) AS {mean_out}")
    if scope.dated:
        ctes, params = scope.ctes(*(ends for *_, ends in FOLLOWUP_CHANGES.values()))
        sql = f"{ctes} SELECT * FROM {' CROSS JOIN '.join(parts)}"
    else:
        sql, params = f"SELECT {', '.join(parts)} FROM {DistrictSums._meta.db_table}", []
        if district is not None:
            sql, params = f"{sql} WHERE district_id = %s", [scope.district_pk]
    (change,) = fetch(sql, params)
    return change


def trends(district=None, date_from=None, date_to=None):
    """Weight and haemoglobin across follow-ups: by visit number, by month, and the change from
    first to latest visit (trends_by_visit_and_month, trends_change). Two queries."""
    return {
        **trends_by_visit_and_month(district, date_from, date_to),
        "change": trends_change(district, date_from, date_to),
    }


def delivery_outcomes(district=None, date_from=None, date_to=None):
    """Delivery type against conditions. Per delivery type: the deliveries; anaemia at delivery
    (haemoglobin at delivery below the cut-off: prevalence and mean); anaemia at the following visit
    (the first follow-up with a haemoglobin on or after the delivery and before her next one); the
    preterm share of deliveries with a recorded term. Every rate with its counts; and a chi-square
    test of independence between delivery type and anaemia at delivery. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("dl", "delivery_facts")
    next_visit = "delivery_facts.next_visit_haemoglobin_g_dl"
    sql = f"""{ctes}
    SELECT dl.type_of_delivery AS delivery_type, COUNT(*) AS n_deliveries,
        COUNT(dl.haemoglobin_at_delivery) AS n_haemoglobin_at_delivery,
        SUM(CASE WHEN {_anaemic_sql("dl.haemoglobin_at_delivery")} THEN 1 ELSE 0 END) AS n_anaemic_at_delivery,
        AVG(dl.haemoglobin_at_delivery) AS mean_haemoglobin_at_delivery,
        COUNT({next_visit}) AS n_haemoglobin_next_visit,
        SUM(CASE WHEN {_anaemic_sql(next_visit)} THEN 1 ELSE 0 END) AS n_anaemic_next_visit,
        AVG({next_visit}) AS mean_haemoglobin_next_visit,
        SUM(CASE WHEN dl.term_of_delivery <> '' THEN 1 ELSE 0 END) AS n_term_recorded,
        SUM(CASE WHEN dl.term_of_delivery = '{DeliveryTerm.PRETERM}' THEN 1 ELSE 0 END) AS n_preterm
    FROM dl LEFT JOIN delivery_facts ON delivery_facts.delivery_id = dl.id
    GROUP BY dl.type_of_delivery
    """
    found = {row["delivery_type"]: row for row in fetch(sql, params)}
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
    "no follow-up"). Per group: patients; those with two or more haemoglobin readings and their mean change
    from the first reading to the latest; those anaemic at their first reading (with a later one) and
    how many of them were no longer anaemic at their latest. One query: without a date range, over
    the districts' sums of each group (DistrictSums); where those that read the anaemia cut-off were
    counted with another (the setting changed), a second adds up the facts."""
    scope = Scope(district, date_from, date_to)
    totals = None
    if not scope.dated:
        sums = ", ".join(  # counts as integers: PostgreSQL sums them as numeric
            f"COALESCE(SUM({column}), 0) AS {column}"
            if column.endswith("_sum")
            else f"CAST(COALESCE(SUM({column}), 0) AS BIGINT) AS {column}"
            for column in EFFECT_COLUMNS
        )
        # Districts with no patients left count no one, whatever their cut-off.
        sql = f"""SELECT {sums}, COUNT(*) FILTER (WHERE patients > 0) AS n_districts,
            COUNT(*) FILTER (WHERE patients > 0 AND anaemia_cutoff_g_dl = %s) AS n_current
            FROM {DistrictSums._meta.db_table}"""
        params = [clinical.anaemia_cutoff_g_dl()]
        if district is not None:
            sql, params = f"{sql} WHERE district_id = %s", [*params, scope.district_pk]
        (totals,) = fetch(sql, params)
        if totals.pop("n_districts") != totals.pop("n_current"):
            totals = None
    if totals is None:  # the same sums over the facts of the patients in scope
        ctes, params = scope.ctes("facts")
        (totals,) = fetch(f"{ctes} SELECT {followup_effect_select('facts')} FROM facts", params)
    result = {"by_followup_count": [], "by_first_followup_timing": []}
    for prefix, (grouping, label, *_) in EFFECT_GROUPS.items():
        group = {outcome: totals[f"{prefix}_{outcome}"] for outcome in EFFECT_OUTCOMES}
        result["by_followup_count" if grouping == "count" else "by_first_followup_timing"].append({
            "label": label, "n_patients": group["patients"], "n_with_change": group["with_change"],
            "mean_haemoglobin_change_g_dl": _rate(group["change_sum"], group["with_change"]),
            "n_anaemic_at_first": group["anaemic_at_first"], "n_resolved": group["resolved"],
            "resolved_share": _rate(group["resolved"], group["anaemic_at_first"]),
        })  # fmt: skip
    return result


# The records whose values are screened for outliers: (record, its SCREENED key, its CTE, date
# column, visit column). A patient's own values (SCREENED["patient"]) are her facts' copies.
OUTLIER_RECORDS = (
    ("follow-up", "followup", "fu", "visit_date", "visit_number"),
    ("delivery", "delivery", "dl", "date_of_delivery", None),
)


# The order of the values to review, largest first (SQL over _flags_sql's columns): the rule, then
# how far the value lies from its reference, then who and where (so that pages do not overlap).
ANOMALY_ORDER = "rule, ABS(score) DESC, patient_id, record, field, day, visit_number"


def anomalies(district=None, date_from=None, date_to=None):
    """Values to review (clinical.OUTLIER_SD and the jump limits): each recorded value more than 3
    standard deviations (population) from the mean of the same field in the patient's district, and
    each follow-up whose weight or haemoglobin changed from her previous reading of it by more than
    its limit. One row per flag: patient, record, date, visit, field, value, rule, score (the z-score
    or the change) and reference (the district mean or the previous value); largest first
    (ANOMALY_ORDER). One query (_flags_sql)."""
    sql, params = _flags_sql(district, date_from, date_to)
    return [_as_flag(row) for row in fetch_values(f"{sql} ORDER BY {ANOMALY_ORDER}", params)]


def anomalies_page(district=None, date_from=None, date_to=None, *, limit, offset=0):
    """One page of anomalies(): {"count": all the flags, "rows": at most `limit` of them from
    `offset` on}. The database orders the flags and hands over the page alone: at ten million
    follow-ups, 180,000 flags are not sent to Python, nor cached, to show 50. One query (two for a
    page past the last)."""
    sql, params = _flags_sql(district, date_from, date_to)
    rows = fetch_values(
        f"SELECT *, COUNT(*) OVER () FROM ({sql}) flags ORDER BY {ANOMALY_ORDER} LIMIT %s OFFSET %s",
        [*params, int(limit), int(offset)],
    )
    if rows or not offset:
        count = rows[0][-1] if rows else 0
    else:  # past the last: count them on their own
        ((count,),) = fetch_values(f"SELECT COUNT(*) FROM ({sql}) flags", params)
    return {"count": count, "rows": [_as_flag(row[:-1]) for row in rows]}


def _as_flag(row):
    """A row of _flags_sql (its columns in order) as anomalies() gives it."""
    rule, record, patient_id, day, visit_number, field, value, reference, score = row
    return {
        "record": record, "patient_id": patient_id, "date": _as_date(day), "visit_number": visit_number,
        "field": field, "value": value, "rule": rule, "reference": reference, "score": score,
    }  # fmt: skip


def _flags_sql(district, date_from, date_to):
    """SQL for every value to review, a row each: rule, record, patient_id, day, visit_number,
    field, value, reference, score; and its parameters.

    The records in scope are read once (with a district and a date range, reading them once per
    kind of value took 1.0-1.1 s against 0.6 s at ten million follow-ups): follow-ups and
    deliveries, the patients' own values and the jumps between visits are rows of the same columns
    (`outlier_rows`: a value's group of columns per field, _value_columns), then a row per flagged
    value (`flags`). Each district's means and SDs come from its sums: kept by the writes
    (DistrictSums) without a date range, else added up from each patient's sums (her facts). Only
    the records of patients whose lowest or highest value is beyond them are read.
    """
    scope = Scope(district, date_from, date_to)
    ctes, params = scope.ctes("fu", "dl", "summaries", "jumps")
    keys = {(record, field): f"{record}_{field}" for record, fields in SCREENED.items() for field in fields}
    columns = _stats_columns(keys)
    if scope.live:  # added up from each patient's sums in the range, once
        added = district_sums_select("summaries")
        stats = (
            f"sums AS {MATERIALIZED()}(SELECT summaries.district_id, {added} FROM summaries "
            f"GROUP BY summaries.district_id), stats AS {MATERIALIZED()}(SELECT sums.district_id, {columns} FROM sums)"
        )
    else:
        # Kept by the writes, and read where they are needed, so that PostgreSQL can look for the
        # candidates in parallel (a CTE it reads keeps that scan in one process). GROUP BY their
        # primary key keeps the statistics a row per district, worked out once each, rather than
        # once per patient compared with them (0.9 s at ten million follow-ups).
        chosen = ""
        if district is not None:
            chosen, params = "WHERE sums.district_id = %s", [*params, scope.district_pk]
        stats = (
            f"stats AS {NOT_MATERIALIZED()}(SELECT sums.district_id, {columns} "
            f"FROM {DistrictSums._meta.db_table} sums {chosen} GROUP BY sums.district_id)"
        )
    # A patient is a candidate for a record when her lowest or highest value of one of its fields
    # lies beyond that field's bounds (plain comparisons: 100,000 patients at a million follow-ups).
    near = {}
    for (record, field), key in keys.items():
        summary = value_summary("summaries", record, field)
        near.setdefault(record, []).append(
            f"{summary['lowest']} < stats.low_{key} OR {summary['highest']} > stats.high_{key}"
        )
    near = {record: " OR ".join(conditions) for record, conditions in near.items()}
    # Every row has the same columns: the values of its record's fields by position (_value_columns).
    width = max(len(fields) for fields in SCREENED.values())
    branches = []
    for record, key, table, day, visit in OUTLIER_RECORDS:
        value = {keys[key, f]: f"CAST({table}.{f} AS DOUBLE PRECISION)" for f in SCREENED[key]}
        branches.append(
            f"""SELECT '{record}' AS record, candidates.patient_code AS patient_id, {table}.{day} AS day,
            {f"{table}.{visit}" if visit else "NULL"} AS visit_number, NULL AS jumped, {_outlier_columns(value, width)}
            FROM (SELECT * FROM candidates WHERE candidates.{key} = 1) candidates
            {scope.records_of("candidates", table)}
            JOIN stats ON stats.district_id = candidates.district_id
            WHERE {" OR ".join(_beyond(sql, k) for k, sql in value.items())}"""
        )
    # Her own weight and height, against her district's patients.
    value = {
        keys["patient", f]: f"CAST(candidates.{patient_value_column(f)} AS DOUBLE PRECISION)"
        for f in SCREENED["patient"]
    }
    branches.append(
        f"""SELECT 'patient', candidates.patient_code, NULL, NULL, NULL, {_outlier_columns(value, width)}
        FROM (SELECT * FROM candidates WHERE candidates.patient = 1) candidates
        JOIN stats ON stats.district_id = candidates.district_id
        WHERE {" OR ".join(_beyond(sql, k) for k, sql in value.items())}"""
    )
    # A jump: its field, then its value and the previous one where a value and its mean would be.
    branches.append(
        f"""SELECT 'follow-up', {patient_code()}, fu.visit_date, fu.visit_number, jumps.field,
        {_value_columns([("jumps.value", "jumps.previous", "NULL", "1")], width)}
        FROM jumps JOIN fu ON fu.id = jumps.followup_id JOIN scope ON scope.id = jumps.patient_id"""
    )
    fields_of = {
        **{record: SCREENED[key] for record, key, _, _, _ in OUTLIER_RECORDS},
        "patient": SCREENED["patient"],
    }
    slot = {
        part: "CASE slots.n " + " ".join(f"WHEN {n} THEN outlier_rows.{part}{n}" for n in range(width)) + " END"
        for part in ("value", "mean", "square", "flag")
    }
    field = "CASE " + " ".join(
        f"WHEN outlier_rows.record = '{record}' AND slots.n = {n} THEN '{name}'"
        for record, names in fields_of.items()
        for n, name in enumerate(names)
    ) + " END"  # fmt: skip
    # The candidates' test is written as CASE ... = 1: PostgreSQL cannot tell how few patients pass a
    # comparison with another table's column, expected all million to, and so looked for them in one
    # process (sending a million rows back from parallel workers looked dear): at ten million
    # follow-ups that scan took 1.1-1.5 s in one process, 0.46 s in three (EXPLAIN ANALYZE).
    sql = f"""{ctes},
    {stats},
    candidates AS {MATERIALIZED()}(
        SELECT summaries.patient_id AS id, summaries.district_id, summaries.patient_code,
            {", ".join(f"CASE WHEN {near[key]} THEN 1 ELSE 0 END AS {key}" for key in SCREENED)},
            {", ".join(f"summaries.{patient_value_column(f)}" for f in SCREENED["patient"])}
        FROM summaries JOIN stats ON stats.district_id = summaries.district_id
        WHERE CASE WHEN {" OR ".join(near.values())} THEN 1 ELSE 0 END = 1
    ),
    outlier_rows AS ({" UNION ALL ".join(branches)}),
    slots AS ({" UNION ALL ".join(f"SELECT {n} AS n" for n in range(width))}),
    picked AS (
        SELECT outlier_rows.record, outlier_rows.patient_id, outlier_rows.day, outlier_rows.visit_number,
            COALESCE(outlier_rows.jumped, {field}) AS field, {slot["value"]} AS value, {slot["mean"]} AS mean_value,
            {slot["square"]} AS square_value, {slot["flag"]} AS flag, outlier_rows.jumped
        FROM outlier_rows CROSS JOIN slots
    ),
    flags AS (
        SELECT CASE WHEN jumped IS NULL THEN '{clinical.DISTRICT_SD}' ELSE '{clinical.VISIT_JUMP}' END AS rule,
            record, patient_id, day, visit_number, field, value, mean_value AS reference,
            CASE WHEN jumped IS NULL THEN (value - mean_value) / SQRT({_variance("mean_value", "square_value")})
                ELSE value - mean_value END
                AS score
        FROM picked WHERE flag = 1
    )
    SELECT rule, record, patient_id, day, visit_number, field, value, reference, score FROM flags"""
    return sql, params


def _beyond(value, key):
    """SQL: `value` lies more than clinical.OUTLIER_SD standard deviations from the district's mean
    of the screened value `key` (`<record>_<field>`: `stats.mean_<key>`, `stats.square_<key>`, the
    means of the values and of their squares). Compared squared, so no square root is taken in SQL.
    Where every value is the same the variance is zero, or a hair below it in floating point (11.2 is
    not exact): nothing lies beyond."""
    mean, variance = f"stats.mean_{key}", _variance(f"stats.mean_{key}", f"stats.square_{key}")
    return f"({variance} > 0 AND ({value} - {mean}) * ({value} - {mean}) > {clinical.OUTLIER_SD**2} * {variance})"


def _variance(mean, square):
    """SQL: the population variance of a value from its mean and mean square (SQL of each): the
    3 SD test, its bounds and the z-scores read it."""
    return f"({square} - {mean} * {mean})"


# Bounds are loosened by this share of the mean and spread, so that a patient whose value _beyond()
# flags is always a candidate, whatever the rounding of a square root: _beyond() decides.
BOUNDS_SLACK = 1e-9


def _stats_columns(keys):
    """SQL columns of a district's statistics from its sums (`sums`: DistrictSums' columns), for
    each screened value ((record, field): its `key`, as in _beyond): its mean and mean square (`mean_<key>`,
    `square_<key>`), and the values below and above which a value may lie beyond the district's
    OUTLIER_SD (`low_<key>`, `high_<key>`, loosened by BOUNDS_SLACK; NULL, so no candidate, where
    the variance is not above zero)."""
    columns = []
    for (record, field), key in keys.items():
        n = f"NULLIF(sums.{summary_column(record, field, 'n')}, 0)"
        mean, square = (f"(sums.{summary_column(record, field, total)} / {n})" for total in ("sum", "squares"))
        variance = _variance(mean, square)
        spread = f"{clinical.OUTLIER_SD} * SQRT({variance})"
        margin = f"{BOUNDS_SLACK} * (ABS({mean}) + {spread})"
        columns += [
            f"{mean} AS mean_{key}",
            f"{square} AS square_{key}",
            f"CASE WHEN {variance} > 0 THEN {mean} - {spread} + {margin} END AS low_{key}",
            f"CASE WHEN {variance} > 0 THEN {mean} + {spread} - {margin} END AS high_{key}",
        ]
    return ", ".join(columns)


def _outlier_columns(values, width):
    """SQL columns for each of `values` (screened value key, as in _beyond: its SQL) in turn: the
    value, its district's mean and mean square, and whether it lies beyond (1 or 0); NULLs and 0
    after them, up to `width` fields."""
    groups = [
        (value, f"stats.mean_{key}", f"stats.square_{key}", f"CASE WHEN {_beyond(value, key)} THEN 1 ELSE 0 END")
        for key, value in values.items()
    ]
    return _value_columns(groups, width)


def _value_columns(groups, width):
    """SQL columns of _flags_sql's outlier rows after the first five: `groups` of (value, mean or
    previous value, mean square, flag), padded with empty groups up to `width`, as value<n>,
    mean<n>, square<n> and flag<n>."""
    groups = [*groups, *[("CAST(NULL AS DOUBLE PRECISION)", "NULL", "NULL", "0")] * (width - len(groups))]
    return ", ".join(
        f"{value} AS value{n}, {mean} AS mean{n}, {square} AS square{n}, {flag} AS flag{n}"
        for n, (value, mean, square, flag) in enumerate(groups)
    )


def _as_date(value):
    """A date from the database: SQLite returns the dates of a UNION as ISO text."""
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def deliveries_by_month(district=None, date_from=None, date_to=None):
    """Deliveries per month of delivery and type: rows of month (YYYY-MM), delivery_type, n. One query."""
    ctes, params = Scope(district, date_from, date_to).ctes("dl")
    month = sql_dialect()["month"].format("date_of_delivery")
    # By day first, then by month: the month is worked out per day, not per delivery.
    return fetch(
        f"{ctes}, by_day AS (SELECT date_of_delivery, type_of_delivery, COUNT(*) AS n FROM dl "
        "GROUP BY date_of_delivery, type_of_delivery) "
        f"SELECT {month} AS month, type_of_delivery AS delivery_type, SUM(n) AS n_deliveries FROM by_day "
        f"GROUP BY {month}, type_of_delivery ORDER BY month, delivery_type",
        params,
    )
