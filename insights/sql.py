"""
The SQL the analyses share: which records are in scope, and each patient's facts, as common table
expressions (CTEs) that work on both SQLite and PostgreSQL.

Latest and first readings, consecutive visits and "the first visit after a delivery" are window
functions over a patient's rows, which the ORM cannot aggregate over. `Scope` writes them once.
Without a date range, the facts are read from the tables insights.facts keeps current on every
write (one row per patient); with a date range, or to refresh those tables, the same facts are
computed live from the records in scope. The analyses (insights.queries) aggregate over either
without knowing which.
"""

import sqlite3
from decimal import Decimal

from django.db import connection, connections
from django.db.models import AutoField

from hospital.replica import insights_database
from insights.models import (
    BY_CHARACTERS,
    COPIED_PATIENT_VALUES,
    DISTRICT_COUNTS,
    DISTRICT_SUMS,
    DISTRICT_TOTALS,
    EFFECT_GROUPS,
    EFFECT_OUTCOMES,
    SCREENED,
    SCREENED_PATIENT_VALUES,
    SCREENED_VALUES,
    VALUE_SUMMARY,
    DeliveryFacts,
    PatientFacts,
    VisitJump,
    patient_value_column,
    summary_column,
)
from patients import clinical
from patients.models import Delivery, DeliveryTerm, DeliveryType, District, FollowUp, Patient

PATIENT = Patient._meta.db_table
DELIVERY = Delivery._meta.db_table
FOLLOWUP = FollowUp._meta.db_table
DISTRICT = District._meta.db_table

# The stored facts by the name of the CTE that computes them live: (table, columns in order).
# (A jump's own id is the database's to number.)
STORED_FACTS = {
    name: (model._meta.db_table, [f.column for f in model._meta.concrete_fields if not isinstance(f, AutoField)])
    for name, model in (("facts", PatientFacts), ("delivery_facts", DeliveryFacts), ("jumps", VisitJump))
}

# Consecutive follow-ups: (field, the largest plausible change between two visits).
JUMP_FIELDS = (("weight_kg", clinical.WEIGHT_JUMP_KG), ("haemoglobin_g_dl", clinical.HAEMOGLOBIN_JUMP_G_DL))
# Differences of one-decimal values carry binary noise (55.1 - 50.1 = 5.000000000000004): a jump
# must exceed its limit by more than this to count.
JUMP_TOLERANCE = 1e-9


class Scope:
    """The records an analysis reads, as SQL CTEs.

    Always (voided records left out): `members` (the patients in the district, among `patients` if
    given), `fu` and `dl` (their follow-ups and deliveries dated in the range) and `scope` (the
    members, with a date range only those active in it: Patient.objects.active_between).
    The facts, with the columns of the models in insights.models: `facts` (one row per patient in
    scope), `delivery_facts` (one per delivery in scope), `jumps` (the follow-ups that jumped); and
    `summaries`, the facts' VALUE_SUMMARY columns alone (and her district and patient ID).
    They are read from the stored tables unless the scope is `live`: with a date range, or when
    asked (to refresh the stored tables).
    """

    def __init__(self, district=None, date_from=None, date_to=None, patients=None, live=False):
        self.district, self.date_from, self.date_to, self.patients = district, date_from, date_to, patients
        self.dated = date_from is not None or date_to is not None
        self.chosen = district is not None or patients is not None
        self.filtered = self.chosen or self.dated
        self.live = live or self.dated
        # One district's (or a few patients') records in a date range: read once through each
        # patient's index and kept, rather than read again by each fact that needs them (her
        # counts, her first and latest readings, her latest delivery, whether she is active). At
        # 10 million follow-ups, one district's year: district metrics 1.05 s to 0.5 s, the
        # high-risk list 2.0 s to 0.96 s.
        self.few_records = self.chosen and self.dated

    @property
    def district_pk(self):
        """The chosen district's primary key (it may be given as a District or its key)."""
        return getattr(self.district, "pk", self.district)

    def ctes(self, *names):
        """`WITH ...` holding the named CTEs and those they need, and its parameters."""
        needs = _LIVE_NEEDS if self.live else {**_LIVE_NEEDS, **_STORED_NEEDS}
        if self.dated:  # only the members active in the range: with a record in it
            needs = {**needs, "scope": ("members", "fu", "dl") if self.few_records else ("members",)}
        needed = []

        def need(name):
            for dependency in needs[name]:
                need(dependency)
            if name not in needed:
                needed.append(name)

        for name in ("scope", *names):  # every analysis may read the patients in scope
            need(name)
        parts, params = [], []
        for name in needed:
            stored = not self.live and name in _STORED_NEEDS
            sql, cte_params = self._stored(name) if stored else getattr(self, f"_{name}")()
            # The records and stored facts are inlined, so the planner reads the tables (and their
            # indexes) instead of a copy; the patients in scope are worked out once, unless they are
            # simply everyone (then the planner may hash the patients, not a million follow-ups, and
            # in parallel).
            everyone = {"members": not self.chosen, "scope": not self.dated}
            records = name in ("fu", "dl") and not self.few_records
            inline = stored or records or everyone.get(name, False)
            inline = NOT_MATERIALIZED() if inline else ""
            parts.append(f"{name} AS {inline}({sql})")
            params += cte_params
        return "WITH " + ",\n".join(parts), params

    def date_conditions(self, column):
        """SQL (starting with AND) and parameters keeping `column` inside the date range."""
        sql, params = "", []
        if self.date_from is not None:
            sql, params = f"{sql} AND {column} >= %s", [*params, self.date_from]
        if self.date_to is not None:
            sql, params = f"{sql} AND {column} <= %s", [*params, self.date_to]
        return sql, params

    def records_of(self, patients, table):
        """SQL joining `table` (the CTE fu or dl) to the rows of `patients` (a few of the patients in
        scope), through the index on its patient. PostgreSQL would hash the whole table when it
        misjudges how few patients there are: a LATERAL subquery that it cannot flatten (OFFSET 0)
        makes it look up each patient's records instead. SQLite looks them up anyway; records
        already read (few_records) are simply joined."""
        if connection.vendor == "postgresql" and not self.few_records:
            return (
                f"CROSS JOIN LATERAL (SELECT * FROM {table} WHERE {table}.patient_id = {patients}.id OFFSET 0) {table}"
            )
        return f"JOIN {table} ON {table}.patient_id = {patients}.id"

    # --- The records in scope ---

    def _members(self):
        sql = (
            "SELECT p.id, p.patient_id, p.name, p.condition, p.district_id, p.weight_kg, p.height_cm, "
            f"p.age_at_first_pregnancy FROM {PATIENT} p"
        )
        if not self.chosen:
            return f"{sql} WHERE p.voided_at IS NULL", []
        # Patient.objects leaves voided patients out.
        chosen = Patient.objects.in_district(self.district)
        if self.patients is not None:
            chosen = chosen.filter(pk__in=self.patients)
        chosen_sql, params = chosen.order_by().values("pk").query.sql_with_params()
        return f"{sql} WHERE p.id IN ({chosen_sql})", list(params)

    def _scope(self):
        if not self.dated:
            return "SELECT * FROM members", []
        if self.few_records:  # Patient.objects.active_between, from the records already read
            return (
                "SELECT * FROM members WHERE members.id IN (SELECT patient_id FROM fu UNION SELECT patient_id FROM dl)"
            ), []
        active = Patient.objects.in_district(self.district).active_between(self.date_from, self.date_to)
        active_sql, params = active.order_by().values("pk").query.sql_with_params()
        return f"SELECT * FROM members WHERE members.id IN ({active_sql})", list(params)

    def _records(self, table, alias, date_column, columns):
        listed = ", ".join(f"{alias}.{c}" for c in columns)
        conditions, params = self.date_conditions(f"{alias}.{date_column}")
        # Voided records are left out; a voided patient's records are voided with her (patients.voiding).
        conditions = f"{alias}.voided_at IS NULL{conditions}"
        if self.patients is not None:
            # Named patients are looked up by the index on the patient (SQLite would scan the table
            # for a join with a CTE).
            placeholders = ", ".join(["%s"] * len(self.patients))
            conditions, params = f"{conditions} AND {alias}.patient_id IN ({placeholders})", [*params, *self.patients]
        elif self.district is not None:
            # The district's records through their patient rows (the planner can then look them up
            # by patient rather than hash a copy of the patients in scope): a voided patient's
            # records are voided with her, and one with a record in the range is active in it.
            owner = f"JOIN {PATIENT} owner ON owner.id = {alias}.patient_id"
            conditions, params = (
                f"owner.district_id = %s AND {conditions}",
                [self.district_pk, *params],
            )
            return f"SELECT {listed} FROM {table} {alias} {owner} WHERE {conditions}", params
        return f"SELECT {listed} FROM {table} {alias} WHERE {conditions}", params

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

    # --- Each patient's facts, computed live ---

    def _readings(self):
        # Source 0 = delivery, 1 = follow-up: on one day the follow-up is the later reading.
        return (
            f"SELECT patient_id, visit_date AS day, {clinical.FOLLOW_UP} AS source, visit_number AS seq, "
            "haemoglobin_g_dl AS value FROM fu WHERE haemoglobin_g_dl IS NOT NULL "
            f"UNION ALL SELECT patient_id, date_of_delivery, {clinical.DELIVERY}, 0, haemoglobin_at_delivery "
            "FROM dl WHERE haemoglobin_at_delivery IS NOT NULL"
        ), []

    def _hb_ends(self):
        # Her readings by the order of clinical.latest_reading: the last is her current one.
        return _ends("readings", "day, source, seq"), []

    def _weight_ends(self):
        return _ends(_visit_values("weight_kg"), _VISIT_ORDER), []

    def _fu_hb_ends(self):
        return _ends(_visit_values("haemoglobin_g_dl"), _VISIT_ORDER), []

    def _fu_counts(self):
        return (
            f"SELECT patient_id, COUNT(*) AS n, {_value_summaries('followup')}, MAX(visit_date) AS latest, "
            f"MAX(CASE WHEN bp_systolic IS NOT NULL AND bp_diastolic IS NOT NULL THEN {_bp_key()} END) AS bp_key, "
            f"MAX(CASE WHEN {keyword_sql('diagnosis')} THEN 1 ELSE 0 END) AS keyword, "
            f"MAX(CASE WHEN {hypertension_sql('diagnosis')} THEN 1 ELSE 0 END) AS hypertension "
            "FROM fu GROUP BY patient_id"
        ), []

    def _dl_counts(self):
        return (
            f"SELECT patient_id, COUNT(*) AS n, {_value_summaries('delivery')}, "
            f"SUM(CASE WHEN type_of_delivery = '{DeliveryType.C_SECTION}' THEN 1 ELSE 0 END) AS n_caesarean, "
            f"SUM(CASE WHEN term_of_delivery = '{DeliveryTerm.PRETERM}' THEN 1 ELSE 0 END) AS n_preterm, "
            "MAX(date_of_delivery) AS latest FROM dl GROUP BY patient_id"
        ), []

    def _first_after(self):
        # Her first follow-up on or after her latest delivery.
        return (
            "SELECT dl_counts.patient_id, MIN(fu.visit_date) AS day FROM dl_counts "
            "JOIN fu ON fu.patient_id = dl_counts.patient_id AND fu.visit_date >= dl_counts.latest "
            "GROUP BY dl_counts.patient_id"
        ), []

    def _summaries(self):
        # Only what the outlier screen needs: cheaper than all the facts when they are computed live.
        return (
            f"SELECT scope.id AS patient_id, scope.district_id, {_patient_code_select()}, {_summary_select()}, "
            f"{_patient_values_select()} "
            "FROM scope "
            "LEFT JOIN fu_counts ON fu_counts.patient_id = scope.id "
            "LEFT JOIN dl_counts ON dl_counts.patient_id = scope.id"
        ), []

    def _facts(self):
        days = sql_dialect()["days"].format("first_after.day", "dl_counts.latest")
        systolic, diastolic, bp_date = _bp_from_key("fu_counts.bp_key")
        # Her triage level and latest reading's date, from the facts below (clinical.PRIORITIES).
        base = {field.column: f"base.{field.column}" for field in PatientFacts._meta.concrete_fields}
        hb_date, bp_date_of = base["current_haemoglobin_date"], base["latest_bp_date"]
        latest_reading = (
            f"CASE WHEN {hb_date} IS NULL THEN {bp_date_of} "
            f"WHEN {bp_date_of} IS NULL OR {hb_date} >= {bp_date_of} THEN {hb_date} ELSE {bp_date_of} END"
        )
        return (
            f"""SELECT base.*, {clinical.triage_priority_sql(base)} AS triage_level,
            {latest_reading} AS latest_reading_date
        FROM (SELECT scope.id AS patient_id, scope.district_id,
            {_patient_code_select()},
            COALESCE(fu_counts.n, 0) AS n_followups,
            COALESCE(dl_counts.n, 0) AS n_deliveries,
            COALESCE(dl_counts.n_caesarean, 0) AS n_caesarean,
            COALESCE(dl_counts.n_preterm, 0) AS n_preterm,
            dl_counts.latest AS latest_delivery_date,
            latest_delivery.type_of_delivery AS latest_delivery_type,
            CASE WHEN fu_counts.keyword = 1 OR {keyword_sql("scope.condition")} THEN TRUE ELSE FALSE END
                AS anaemia_keyword,
            CASE WHEN fu_counts.hypertension = 1 OR {hypertension_sql("scope.condition")} THEN TRUE ELSE FALSE END
                AS hypertension_keyword,
            hb.latest AS current_haemoglobin_g_dl, hb.latest_day AS current_haemoglobin_date,
            hb.earliest AS first_haemoglobin_g_dl,
            {systolic} AS latest_bp_systolic, {diastolic} AS latest_bp_diastolic, {bp_date} AS latest_bp_date,
            fu_counts.latest AS latest_visit_date,
            COALESCE(hb.n, 0) AS n_haemoglobin_readings,
            weight.earliest AS first_followup_weight_kg, weight.latest AS latest_followup_weight_kg,
            COALESCE(weight.n, 0) AS n_followup_weights,
            fu_hb.earliest AS first_followup_haemoglobin_g_dl, fu_hb.latest AS latest_followup_haemoglobin_g_dl,
            COALESCE(fu_hb.n, 0) AS n_followup_haemoglobin,
            {days} AS days_to_first_followup,
            {_summary_select()}, {_patient_values_select()}
        FROM scope
        LEFT JOIN fu_counts ON fu_counts.patient_id = scope.id
        LEFT JOIN dl_counts ON dl_counts.patient_id = scope.id
        LEFT JOIN dl latest_delivery ON latest_delivery.patient_id = scope.id
            AND latest_delivery.date_of_delivery = dl_counts.latest
        LEFT JOIN hb_ends hb ON hb.patient_id = scope.id
        LEFT JOIN weight_ends weight ON weight.patient_id = scope.id
        LEFT JOIN fu_hb_ends fu_hb ON fu_hb.patient_id = scope.id
        LEFT JOIN first_after ON first_after.patient_id = scope.id) base""",
            [],
        )

    def _spans(self):
        return (
            "SELECT id, patient_id, date_of_delivery, "
            "LEAD(date_of_delivery) OVER (PARTITION BY patient_id ORDER BY date_of_delivery) AS next_delivery FROM dl"
        ), []

    def _next_visit(self):
        # The follow-ups with a reading from each delivery until her next: number 1 is the first.
        return (
            "SELECT spans.id AS delivery_id, fu.haemoglobin_g_dl AS value, "
            "ROW_NUMBER() OVER (PARTITION BY spans.id ORDER BY fu.visit_date, fu.visit_number) AS n "
            "FROM spans JOIN fu ON fu.patient_id = spans.patient_id AND fu.visit_date >= spans.date_of_delivery "
            "AND (spans.next_delivery IS NULL OR fu.visit_date < spans.next_delivery) "
            "WHERE fu.haemoglobin_g_dl IS NOT NULL"
        ), []

    def _delivery_facts(self):
        return (
            "SELECT spans.id AS delivery_id, spans.patient_id, next_visit.value AS next_visit_haemoglobin_g_dl "
            "FROM spans LEFT JOIN next_visit ON next_visit.delivery_id = spans.id AND next_visit.n = 1"
        ), []

    def _jumps(self):
        consecutive = " UNION ALL ".join(
            f"SELECT id AS followup_id, patient_id, '{field}' AS field, {field} AS value, "
            f"LAG({field}) OVER (PARTITION BY patient_id ORDER BY {_VISIT_ORDER}) AS previous, {limit} AS limit_ "
            f"FROM fu WHERE {field} IS NOT NULL"
            for field, limit in JUMP_FIELDS
        )
        return (
            f"SELECT followup_id, patient_id, field, value, previous FROM ({consecutive}) consecutive "
            f"WHERE previous IS NOT NULL AND ABS(value - previous) > limit_ + {JUMP_TOLERANCE}"
        ), []

    # --- Each patient's facts, as stored ---

    def _stored(self, name):
        if name == "summaries":
            table = STORED_FACTS["facts"][0]
            columns = [
                "patient_id", "district_id", "patient_code", *summary_columns("followup"), *summary_columns("delivery"),
                *(patient_value_column(field) for field in SCREENED_PATIENT_VALUES),
            ]  # fmt: skip
        else:
            table, columns = STORED_FACTS[name]
        sql = f"SELECT {', '.join(f'stored.{c}' for c in columns)} FROM {table} stored"
        if self.chosen:  # unchosen, every stored row is a patient in scope (a voided patient has none)
            sql += " JOIN scope ON scope.id = stored.patient_id"
        return sql, []


_VISIT_ORDER = "visit_date, visit_number"


# Her latest blood pressure (clinical.latest_blood_pressure) is found in the pass that counts her
# follow-ups, with no window of its own: each complete reading becomes one integer that orders as
# (visit date, visit number) and carries both values, so the largest is her latest reading. Days
# since 1900 (dates start in 1950) * 2^35 + visit number (< 2^15) * 2^20 + systolic * 2^10 +
# diastolic (each at most 260 mmHg, < 2^10): below 2^52, exact in 64-bit integers. (%% is a % once
# the driver has put in the parameters.)
_BP_DAY, _BP_VISIT, _BP_VALUE = 2**35, 2**20, 2**10


def _bp_key():
    """SQL: a follow-up row's blood-pressure key."""
    day = sql_dialect()["day_number"].format("visit_date")
    return (
        f"(CAST({day} AS BIGINT) * {_BP_DAY} + CAST(visit_number AS BIGINT) * {_BP_VISIT} "
        f"+ bp_systolic * {_BP_VALUE} + bp_diastolic)"
    )


def _bp_from_key(key):
    """SQL: (systolic, diastolic, date) of a blood-pressure key."""
    date = sql_dialect()["from_day_number"].format(f"({key} / {_BP_DAY})")
    return f"(({key} / {_BP_VALUE}) %% {_BP_VALUE})", f"({key} %% {_BP_VALUE})", date


_LIVE_NEEDS = {
    "members": (),
    "scope": ("members",),
    "fu": (),
    "dl": (),
    "readings": ("fu", "dl"),
    "hb_ends": ("readings",),
    "weight_ends": ("fu",),
    "fu_hb_ends": ("fu",),
    "fu_counts": ("fu",),
    "dl_counts": ("dl",),
    "first_after": ("dl_counts", "fu"),
    "facts": ("fu_counts", "dl_counts", "hb_ends", "weight_ends", "fu_hb_ends", "first_after"),
    "summaries": ("fu_counts", "dl_counts"),
    "spans": ("dl",),
    "next_visit": ("spans", "fu"),
    "delivery_facts": ("spans", "next_visit"),
    "jumps": ("fu",),
}
_STORED_NEEDS = {"facts": ("scope",), "summaries": ("scope",), "delivery_facts": ("scope",), "jumps": ("scope",)}


def summary_columns(record, field=None):
    """The facts' VALUE_SUMMARY columns of SCREENED_VALUES[record] (of one field, if given)."""
    fields = SCREENED_VALUES[record] if field is None else [field]
    return [summary_column(record, f, summary) for f in fields for summary in VALUE_SUMMARY]


def _summary_select():
    """The VALUE_SUMMARY columns of a patient's facts, from fu_counts and dl_counts (none: n is 0)."""
    columns = []
    for record, counts in (("followup", "fu_counts"), ("delivery", "dl_counts")):
        for column in summary_columns(record):
            value = f"{counts}.{column}"
            columns.append(f"{f'COALESCE({value}, 0)' if column.endswith('_n') else value} AS {column}")
    return ", ".join(columns)


def patient_code():
    """SQL: her patient ID (of `scope`) as her facts' `patient_code` orders it, by its characters."""
    return sql_dialect()["by_characters"].format("scope.patient_id")


def _patient_code_select():
    """Her patient ID from her patient row in `scope`, as her facts' `patient_code`."""
    return f"{patient_code()} AS patient_code"


def _patient_values_select():
    """Her COPIED_PATIENT_VALUES, from her patient row in `scope`, as her facts' columns."""
    return ", ".join(f"scope.{field} AS {patient_value_column(field)}" for field in COPIED_PATIENT_VALUES)


def value_summary(row, record, field):
    """SQL for the VALUE_SUMMARY of one patient's values of SCREENED[record] `field`, from her facts
    (or summaries) row `row`, by summary: her own value (patient) counts as one value or none."""
    if record == "patient":
        value = f"{row}.{patient_value_column(field)}"
        n = f"CASE WHEN {value} IS NULL THEN 0 ELSE 1 END"
        return dict(zip(VALUE_SUMMARY, (n, value, f"{value} * {value}", value, value), strict=True))
    return dict(zip(VALUE_SUMMARY, (f"{row}.{c}" for c in summary_columns(record, field)), strict=True))


def district_sum_columns():
    """insights.models.DistrictSums' columns of sums, in order: (record, field, sum, column)."""
    return [
        (record, field, total, summary_column(record, field, total))
        for record, fields in SCREENED.items()
        for field in fields
        for total in DISTRICT_SUMS
    ]


def district_sums_select(rows, columns=None):
    """SQL columns adding up every district sum (or those of these `columns`) over `rows` (facts or
    summaries rows, grouped by district), named as DistrictSums' columns (0 where nothing is recorded)."""
    return ", ".join(
        f"COALESCE(SUM({value_summary(rows, record, field)[total]}), 0) AS {column}"
        for record, field, total, column in district_sum_columns()
        if columns is None or column in columns
    )


# The change of a follow-up value from her first reading to her latest, by measure: her facts'
# count of readings, the column of the value (`first_<column>`, `latest_<column>`), and the CTE of
# Scope that finds her first and latest (`earliest`, `latest`, `n`).
FOLLOWUP_CHANGES = {
    "weight": ("n_followup_weights", "followup_weight_kg", "weight_ends"),
    "haemoglobin": ("n_followup_haemoglobin", "followup_haemoglobin_g_dl", "fu_hb_ends"),
}


def followup_change(row, measure):
    """SQL over one patient's facts row `row`: (1 when she has two or more readings of the measure,
    else 0; her change from the first to the latest, NULL without two readings)."""
    n, column, _ = FOLLOWUP_CHANGES[measure]
    return (
        f"CASE WHEN {row}.{n} >= 2 THEN 1 ELSE 0 END",
        f"CASE WHEN {row}.{n} >= 2 THEN {row}.latest_{column} - {row}.first_{column} END",
    )


def followup_ends(measure):
    """SQL of rows named as facts' columns of the measure's readings (FOLLOWUP_CHANGES), one per
    patient with a reading in the records in scope (and her `patient_id`), from its Scope CTE
    alone: what followup_change reads, without the rest of her facts."""
    n, column, ends = FOLLOWUP_CHANGES[measure]
    return f"SELECT patient_id, n AS {n}, earliest AS first_{column}, latest AS latest_{column} FROM {ends}"


def district_totals_select(row):
    """SQL columns adding up each of DISTRICT_TOTALS and DISTRICT_COUNTS over the facts rows `row`
    (grouped by district), named as DistrictSums' columns (0 where nothing is recorded): what the
    refresh keeps, and what the district metrics add up live with a date range."""
    latest, current = f"{row}.latest_followup_weight_kg", f"{row}.current_haemoglobin_g_dl"
    totals = {
        "patients": "COUNT(*)",
        "latest_followup_weight_kg_n": f"COUNT({latest})",
        "latest_followup_weight_kg_sum": f"COALESCE(SUM({latest}), 0)",
        "n_deliveries": f"COALESCE(SUM({row}.n_deliveries), 0)",
        "n_caesarean": f"COALESCE(SUM({row}.n_caesarean), 0)",
        "n_followups": f"COALESCE(SUM({row}.n_followups), 0)",
        "n_with_haemoglobin": f"COUNT({current})",
        "current_haemoglobin_g_dl_sum": f"COALESCE(SUM({current}), 0)",
        "n_with_blood_pressure": f"COUNT({row}.latest_bp_systolic)",
    }
    for measure in FOLLOWUP_CHANGES:
        counted, change = followup_change(row, measure)
        totals[f"{measure}_change_n"] = f"COALESCE(SUM({counted}), 0)"
        totals[f"{measure}_change_sum"] = f"COALESCE(SUM({change}), 0)"
    columns = {**fact_columns(row), "haemoglobin_g_dl": current}
    for name, test in DISTRICT_COUNTS.items():
        totals[name] = f"COUNT(*) FILTER (WHERE {test.sql(columns)})"
    return ", ".join(f"{totals[name]} AS {name}" for name in (*DISTRICT_TOTALS, *DISTRICT_COUNTS))


def in_group(expression, lowest, highest):
    """SQL: `expression` lies in the group from `lowest` to `highest` (None: no limit), both included
    (clinical.group_label's groups)."""
    return f"{expression} >= {lowest}" + (f" AND {expression} <= {highest}" if highest is not None else "")


def followup_effect_select(row):
    """SQL columns adding up the follow-up effect's outcomes of each of its groups over the facts
    rows `row` (insights.models.EFFECT_GROUPS, EFFECT_OUTCOMES), named as DistrictSums' columns: what
    the refresh keeps per district, and what insights.queries.followup_effect adds up live."""
    delivered, days = f"{row}.latest_delivery_date IS NOT NULL", f"{row}.days_to_first_followup"
    groups = {}  # each group's test
    for prefix, (grouping, label, lowest, highest) in EFFECT_GROUPS.items():
        if grouping == "count":
            groups[prefix] = in_group(f"{row}.n_followups", lowest, highest)
        elif label == clinical.NO_FOLLOWUP:
            groups[prefix] = f"{delivered} AND {days} IS NULL"
        else:
            groups[prefix] = f"{delivered} AND {in_group(days, lowest, highest)}"
    first, latest = f"{row}.first_haemoglobin_g_dl", f"{row}.current_haemoglobin_g_dl"
    changed = f"{row}.n_haemoglobin_readings >= 2"
    anaemic_at_first = f"{changed} AND {clinical.ANAEMIC.sql({'haemoglobin_g_dl': first})}"
    resolved = f"{anaemic_at_first} AND NOT {clinical.ANAEMIC.sql({'haemoglobin_g_dl': latest})}"
    outcomes = {  # the SQL of each outcome, for a group's test
        "patients": lambda test: f"COUNT(*) FILTER (WHERE {test})",
        "with_change": lambda test: f"COUNT(*) FILTER (WHERE {test} AND {changed})",
        "change_sum": lambda test: f"COALESCE(SUM({latest} - {first}) FILTER (WHERE {test} AND {changed}), 0)",
        "anaemic_at_first": lambda test: f"COUNT(*) FILTER (WHERE {test} AND {anaemic_at_first})",
        "resolved": lambda test: f"COUNT(*) FILTER (WHERE {test} AND {resolved})",
    }
    return ", ".join(
        f"{outcomes[outcome](f'({test})')} AS {prefix}_{outcome}"
        for prefix, test in groups.items()
        for outcome in EFFECT_OUTCOMES
    )


def _value_summaries(record):
    """SQL aggregating each of a patient's SCREENED_VALUES[record] to her VALUE_SUMMARY columns."""
    parts = []
    for field in SCREENED_VALUES[record]:
        value = f"CAST({field} AS DOUBLE PRECISION)"
        n, total, squares, lowest, highest = summary_columns(record, field)
        parts += [
            f"COUNT({field}) AS {n}", f"SUM({value}) AS {total}", f"SUM({value} * {value}) AS {squares}",
            f"MIN({value}) AS {lowest}", f"MAX({value}) AS {highest}",
        ]  # fmt: skip
    return ", ".join(parts)


def _visit_values(column):
    return f"(SELECT patient_id, visit_date, visit_date AS day, visit_number, {column} AS value FROM fu)"


def _ends(rows, order):
    """SQL for each patient's first and latest non-empty `value` of `rows` by `order`, the `day` of
    the latest and how many there are (`earliest`, `latest`, `latest_day`, `n`): one ordering,
    numbered from the first with the count."""
    return (
        "SELECT patient_id, MAX(CASE WHEN from_first = 1 THEN value END) AS earliest, "
        "MAX(CASE WHEN from_first = n THEN value END) AS latest, "
        "MAX(CASE WHEN from_first = n THEN day END) AS latest_day, MAX(n) AS n FROM ("
        f"SELECT patient_id, value, day, ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY {order}) AS from_first, "
        f"COUNT(*) OVER (PARTITION BY patient_id) AS n FROM {rows} numbered_rows WHERE value IS NOT NULL"
        ") numbered WHERE from_first = 1 OR from_first = n GROUP BY patient_id"
    )


def fact_columns(row="facts"):
    """The SQL expression of each fact the clinical rules read (clinical.REASONS, PRIORITIES,
    RISK_FACTORS), over a facts row `row`: her own values from its copies of her patient row's."""
    columns = {field.column: f"{row}.{field.column}" for field in PatientFacts._meta.concrete_fields}
    weight, height = (
        f"CAST({row}.{patient_value_column(field)} AS DOUBLE PRECISION)" for field in ("weight_kg", "height_cm")
    )
    columns.update(
        age_at_first_pregnancy=f"{row}.{patient_value_column('age_at_first_pregnancy')}",
        height_cm=f"{row}.{patient_value_column('height_cm')}",
        bmi=clinical.BMI_SQL.format(weight=weight, height=height),
    )
    return columns


def keyword_sql(column):
    """clinical.mentions_anaemia as SQL on a text column."""
    return _mentions_sql(column, clinical.ANAEMIA_KEYWORDS)


def hypertension_sql(column):
    """clinical.mentions_hypertension as SQL on a text column."""
    return _mentions_sql(column, clinical.HYPERTENSION_WORD_PARTS, clinical.HYPERTENSION_WHOLE_WORDS)


def _mentions_sql(column, parts, whole_words=()):
    """SQL: a text column holds one of `parts` anywhere or one of `whole_words` as a word, ignoring
    the case of ASCII letters (the keywords are plain lower-case words). A whole word is found by a
    regular expression tried only where LIKE found its letters (a regular expression on every row
    would cost a Python call a row on SQLite)."""
    # SQLite's LIKE already ignores the case of ASCII letters (LOWER() on every row would double the
    # scan); on PostgreSQL LOWER() LIKE measured faster than ILIKE. %% is a literal % once the driver
    # has put in the parameters.
    text = f"LOWER({column})" if connection.vendor == "postgresql" else column
    tests = [f"{text} LIKE '%%{part}%%'" for part in parts]
    for word in whole_words:
        # PostgreSQL's \m and \M are a word's start and end; on SQLite, Django's REGEXP is Python's re.
        whole = (
            rf"{column} ~* '\m{word}\M'" if connection.vendor == "postgresql" else rf"{column} REGEXP '(?i)\b{word}\b'"
        )
        tests.append(f"({text} LIKE '%%{word}%%' AND {whole})")
    return "(" + " OR ".join(tests) + ")"


def NOT_MATERIALIZED():  # noqa: N802 (reads as the SQL it returns)
    if connection.vendor == "postgresql" or (connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)):
        return "NOT MATERIALIZED "
    return ""


def MATERIALIZED():  # noqa: N802 (reads as the SQL it returns)
    """Computed once, before the query that uses it (PostgreSQL would inline it and plan around it)."""
    return NOT_MATERIALIZED().replace("NOT ", "")


def sql_dialect():
    """The date expressions SQLite and PostgreSQL spell differently (SQLite keeps dates as ISO text,
    so its month is a prefix, not Django's TruncMonth, which is a Python call per row); a day
    number counts days since 1900-01-01. `by_characters`: text that orders by its characters, as
    Python orders it, whatever the server's locale (SQLite always does): patient IDs, which a
    locale's rules would also sort several times slower (789,307 of them: 1.6 s against 0.4 s)."""
    if connection.vendor == "postgresql":
        return {
            "by_characters": f'{{}} COLLATE "{BY_CHARACTERS}"',
            "month": "to_char({}, 'YYYY-MM')",
            "days": "({} - {})",
            "day_number": "({} - DATE '1900-01-01')",
            "from_day_number": "(DATE '1900-01-01' + CAST({} AS INTEGER))",
        }
    return {
        "by_characters": "{}",
        "month": "substr({}, 1, 7)",
        "days": "CAST(julianday({}) - julianday({}) AS INTEGER)",
        "day_number": "CAST(julianday({}) - 2415020.5 AS INTEGER)",  # 2415020.5: 1900-01-01
        "from_day_number": "date(2415020.5 + {})",
    }


def fetch_values(sql, params):
    with reading().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Rows a server-side cursor hands over at a time: memory for a few thousand rows, not for all of them.
STREAM_CHUNK = 2000


def reading():
    """The connection the insights read from: the replica if there is one (hospital.replica)."""
    return connections[insights_database()]


def stream_values(sql, params):
    """The rows (tuples) one at a time, fetched STREAM_CHUNK at a time from a server-side cursor on
    PostgreSQL (Django's chunked cursor; SQLite steps through its rows anyway), unless the settings
    turn them off (DISABLE_SERVER_SIDE_CURSORS, behind a transaction-pooling PgBouncer). The database
    is chosen now, while the request is known; the rows are read later, as a response streams."""
    return _streamed(reading(), sql, params)


def _streamed(database, sql, params):
    chunked = not database.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with database.chunked_cursor() if chunked else database.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(STREAM_CHUNK):
            yield from rows


def fetch(sql, params):
    """The rows as dicts. PostgreSQL sums integers as numeric: counts (n_...) come back as int,
    other numbers as float."""
    with reading().cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for column, value in row.items():
            if isinstance(value, Decimal):
                row[column] = int(value) if column.startswith("n_") else float(value)
    return rows


def execute(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
