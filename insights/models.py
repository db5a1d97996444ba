"""
Stored facts: what the analyses need to know of each patient, delivery and follow-up, worked out
from all her records and kept current by insights.facts on every write.

They let the analyses without a date range read one row per patient (100,000) instead of ordering
a million follow-ups per request. The SQL that computes them is the same that the analyses run
live when a date range is chosen (insights.sql.Scope), so the two cannot disagree in meaning; the
tests hold the stored rows equal to a fresh computation after every kind of write.

Nothing here is edited by hand, and nothing depends on a setting: the anaemia cut-off is applied
when the analyses read the stored values. The visit-jump limits and the triage priorities'
thresholds are clinical constants; if one changes, `manage.py refresh_insights` rebuilds the
stored jumps and triage levels.
"""

from django.db import models

from patients import clinical
from patients.models import Delivery, District, FollowUp, Patient

# PostgreSQL's collation that orders text by its characters, as Python and SQLite order it, whatever
# the server's locale (insights.sql.sql_dialect's "by_characters" reads it too).
BY_CHARACTERS = "C"


class CharactersOrderedField(models.CharField):
    """Text ordered by its characters on every database: on PostgreSQL in the BY_CHARACTERS
    collation (SQLite, which has no such name, always orders so). Part of the field, not of a
    migration's SQL, so that any later change of the column keeps it."""

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = BY_CHARACTERS
        return parameters


# The recorded values screened for outliers against their district (insights.queries.anomalies),
# by record: for each, a patient's facts hold how many she has, their sum and sum of squares (her
# district's mean and SD add these up) and her lowest and highest (whether any can be beyond it).
SCREENED_VALUES = {
    "followup": ("weight_kg", "haemoglobin_g_dl", "bp_systolic", "bp_diastolic"),
    "delivery": ("weight_at_delivery", "haemoglobin_at_delivery", "placental_weight"),
}
VALUE_SUMMARY = ("n", "sum", "squares", "lowest", "highest")
# Her own values screened against her district's patients: her facts copy them from her patient row
# (as `patient_<field>`), so that her district's sums follow her facts when they change.
SCREENED_PATIENT_VALUES = ("weight_kg", "height_cm")
# Every value her facts copy from her patient row (`patient_<field>`): the screened ones, and what
# else the rules counted per district read (DISTRICT_COUNTS: her age at her first pregnancy).
COPIED_PATIENT_VALUES = (*SCREENED_PATIENT_VALUES, "age_at_first_pregnancy")
# Every screened value, by record.
SCREENED = {**SCREENED_VALUES, "patient": SCREENED_PATIENT_VALUES}
# What DistrictSums keeps of each screened value: what its mean and standard deviation need.
DISTRICT_SUMS = ("n", "sum", "squares")
# What else DistrictSums keeps of its patients' facts, added up (insights.sql.district_totals_select
# spells each): what the average weights, the trends' change and the district metrics read without
# a date range, instead of every patient's facts (a million rows at ten million follow-ups).
DISTRICT_TOTALS = {
    "patients": "Patients (not voided).",
    "latest_followup_weight_kg_n": "Patients with a follow-up weight.",
    "latest_followup_weight_kg_sum": "The sum of their latest follow-up weights, kg.",
    "weight_change_n": "Patients with two or more follow-up weights.",
    "weight_change_sum": "The sum of their changes from the first to the latest, kg.",
    "haemoglobin_change_n": "Patients with two or more follow-up haemoglobins.",
    "haemoglobin_change_sum": "The sum of their changes from the first to the latest, g/dL.",
    "n_deliveries": "Their deliveries.",
    "n_caesarean": "Their Caesarean deliveries.",
    "n_followups": "Their follow-ups.",
    "n_with_haemoglobin": "Patients with a current haemoglobin.",
    "current_haemoglobin_g_dl_sum": "The sum of their current haemoglobins, g/dL.",
    "n_with_blood_pressure": "Patients with a blood pressure.",
}
# The patients the district metrics count (insights.queries.district_metrics), by column: the
# clinical rule each counts over her facts, "haemoglobin_g_dl" being her current haemoglobin.
# DistrictSums keeps each count; one whose rule reads a setting (the anaemia cut-off) holds for the
# cut-off it was made with (DistrictSums.anaemia_cutoff_g_dl), and is NULL when it cannot be trusted.
DISTRICT_COUNTS = {
    "n_anaemic": clinical.ANAEMIC,
    **{f"n_{band.code}": band.test for band in reversed(clinical.SEVERITY_BANDS)},
    "n_high_blood_pressure": clinical.HIGH_BLOOD_PRESSURE_TEST,
    "n_severe_blood_pressure": clinical.SEVERE_BLOOD_PRESSURE_TEST,
    **{f"n_{factor.code}": factor.test for factor in clinical.RISK_FACTORS},
}
# The follow-up effect's groups of patients (insights.queries.followup_effect), by the column prefix
# DistrictSums keeps each under: (grouping, label, lowest, highest); by her number of follow-ups,
# and, patients with a delivery, by the days from her latest delivery to her first follow-up on or
# after it (clinical.NO_FOLLOWUP, with no bounds: none).
EFFECT_GROUPS = {
    **{f"effect_count_{n}": ("count", *group) for n, group in enumerate(clinical.FOLLOWUP_COUNT_GROUPS)},
    **{
        f"effect_timing_{n}": ("timing", *group)
        for n, group in enumerate([*clinical.FOLLOWUP_TIMING_GROUPS, (clinical.NO_FOLLOWUP, None, None)])
    },
}
# What DistrictSums keeps of each group (columns `<prefix>_<outcome>`; insights.sql.followup_effect_select
# spells each).
EFFECT_OUTCOMES = {
    "patients": "Patients in the group.",
    "with_change": "Of them, with two or more haemoglobin readings.",
    "change_sum": "The sum of their changes from the first reading to the latest, g/dL.",
    "anaemic_at_first": "Of those, anaemic at their first reading.",
    "resolved": "Of those, no longer anaemic at their latest.",
}
# The outcomes that read the anaemia cut-off.
EFFECT_SETTING_OUTCOMES = ("anaemic_at_first", "resolved")
EFFECT_COLUMNS = [f"{prefix}_{outcome}" for prefix in EFFECT_GROUPS for outcome in EFFECT_OUTCOMES]
# The DistrictSums columns counted by rules that read a setting (the anaemia cut-off): they hold for
# the cut-off they were made with (DistrictSums.anaemia_cutoff_g_dl), NULL where that is unknown.
SETTING_COUNTS = (
    *(name for name, test in DISTRICT_COUNTS.items() if clinical.reads_a_setting(test)),
    *(f"{prefix}_{outcome}" for prefix in EFFECT_GROUPS for outcome in EFFECT_SETTING_OUTCOMES),
)


def summary_column(record, field, summary):
    """The column holding a VALUE_SUMMARY (in PatientFacts) or DISTRICT_SUMS (in DistrictSums)
    summary of the SCREENED[record] `field`."""
    return f"{record}_{field}_{summary}"


def patient_value_column(field):
    """The PatientFacts column holding her own SCREENED_PATIENT_VALUES `field`."""
    return f"patient_{field}"


class PatientFacts(models.Model):
    """One patient's facts, from all her deliveries and follow-ups; also, for each of
    SCREENED_VALUES, the VALUE_SUMMARY columns `<record>_<field>_<summary>` added below."""

    # DO_NOTHING: a deleted patient's facts stay until her deletion is announced (patients.writes),
    # which takes her sums out of her district's (DistrictSums) before deleting them; the foreign key
    # is checked at the commit, so a deletion nobody announces fails.
    patient = models.OneToOneField(Patient, on_delete=models.DO_NOTHING, primary_key=True, related_name="+")
    # Her patient row's: the outlier screen sums each district's values from her facts alone.
    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="+", db_index=False)
    n_followups = models.PositiveIntegerField()
    n_deliveries = models.PositiveIntegerField()
    n_caesarean = models.PositiveIntegerField()
    latest_delivery_date = models.DateField(null=True)
    latest_delivery_type = models.CharField(max_length=10, null=True)  # noqa: DJ001 (NULL: no delivery, as live)
    n_preterm = models.PositiveIntegerField(db_default=0, help_text="Her deliveries recorded as preterm.")
    anaemia_keyword = models.BooleanField(help_text="Her condition or a follow-up's diagnosis mentions anaemia.")
    hypertension_keyword = models.BooleanField(
        db_default=False, help_text="Her condition or a follow-up's diagnosis names a hypertensive disorder."
    )
    current_haemoglobin_g_dl = models.FloatField(null=True, help_text="Her latest reading (clinical.latest_reading).")
    current_haemoglobin_date = models.DateField(null=True)
    latest_bp_systolic = models.PositiveSmallIntegerField(
        null=True, help_text="Her latest blood pressure (clinical.latest_blood_pressure), mmHg."
    )
    latest_bp_diastolic = models.PositiveSmallIntegerField(null=True)
    latest_bp_date = models.DateField(null=True)
    latest_visit_date = models.DateField(null=True, help_text="Her latest follow-up's date.")
    first_haemoglobin_g_dl = models.FloatField(null=True)
    n_haemoglobin_readings = models.PositiveIntegerField(help_text="At deliveries and follow-ups.")
    first_followup_weight_kg = models.FloatField(null=True)
    latest_followup_weight_kg = models.FloatField(null=True)
    n_followup_weights = models.PositiveIntegerField()
    first_followup_haemoglobin_g_dl = models.FloatField(null=True)
    latest_followup_haemoglobin_g_dl = models.FloatField(null=True)
    n_followup_haemoglobin = models.PositiveIntegerField()
    days_to_first_followup = models.IntegerField(
        null=True, help_text="From her latest delivery to her first follow-up on or after it."
    )
    # What the high-risk list's default order reads (insights.queries.HIGH_RISK_ORDERS), kept so
    # that on PostgreSQL an index hands over every high-risk patient in that order without a sort
    # (TRIAGE_INDEX, built by migration 0011). The high-risk lists order by her patient ID from here
    # too, by its characters whatever the server's locale (a locale's rules also sorted 789,307 IDs
    # four times slower).
    triage_level = models.PositiveSmallIntegerField(
        help_text="Her triage priority were she high-risk (clinical.PRIORITIES: constants, no setting)."
    )
    latest_reading_date = models.DateField(
        null=True, help_text="The later of her current haemoglobin's date and her latest blood pressure's."
    )
    patient_code = CharactersOrderedField(
        max_length=Patient._meta.get_field("patient_id").max_length, help_text="Her patient ID (Patient.patient_id)."
    )

    class Meta:
        verbose_name_plural = "patient facts"

    def __str__(self):
        return f"Facts of patient #{self.patient_id}"


for _record, _fields in SCREENED_VALUES.items():
    for _field in _fields:
        for _summary in VALUE_SUMMARY:
            _column = models.PositiveIntegerField() if _summary == "n" else models.FloatField(null=True)
            PatientFacts.add_to_class(summary_column(_record, _field, _summary), _column)
for _field in SCREENED_PATIENT_VALUES:
    PatientFacts.add_to_class(patient_value_column(_field), models.FloatField(null=True))
PatientFacts.add_to_class(
    patient_value_column("age_at_first_pregnancy"),
    models.PositiveSmallIntegerField(null=True, help_text="Counted per district (clinical.RISK_FACTORS)."),
)


# The high-risk list's default order, with what its filters read, on PostgreSQL: read without the
# table (an index-only scan, where vacuum keeps the visibility map) instead of sorting every
# high-risk patient per request (a tenth of the time at a million follow-ups). Whether she is
# high-risk depends on a setting (the anaemia cut-off), so every patient is indexed and the test is
# applied as the index is read. Not a Meta index: SQLite takes neither NULLS LAST nor INCLUDE in
# an index. insights/tests/test_high_risk_index.py holds it to the order and to the rules.
TRIAGE_INDEX = "insights_facts_triage_idx"


class DistrictSums(models.Model):
    """A district's DISTRICT_SUMS of every SCREENED value (columns `<record>_<field>_<sum>`, added
    below), over its patients' facts: what the outlier screen's means and standard deviations need;
    and its DISTRICT_TOTALS, DISTRICT_COUNTS and EFFECT_COLUMNS (columns of those names).
    insights.facts adds each write's change to them in the writer's transaction, so that the screen
    reads a row per district instead of adding up a million patients' facts (0.25 s at ten million
    follow-ups). Floating-point sums: a change is added and taken away again, so they may drift by a
    few units in the last place from a fresh sum, which `manage.py refresh_insights` gives."""

    district = models.OneToOneField(District, on_delete=models.CASCADE, primary_key=True, related_name="+")
    anaemia_cutoff_g_dl = models.FloatField(
        null=True,
        help_text="The anaemia cut-off (settings.ANAEMIA_HB_CUTOFF_G_DL) its SETTING_COUNTS were counted with; "
        "a write under another makes it and them NULL until `manage.py refresh_insights` counts them again.",
    )

    class Meta:
        verbose_name_plural = "district sums"

    def __str__(self):
        return f"Sums of district #{self.district_id}"


for _record, _fields in SCREENED.items():
    for _field in _fields:
        for _sum in DISTRICT_SUMS:
            _column = models.BigIntegerField() if _sum == "n" else models.FloatField()
            DistrictSums.add_to_class(summary_column(_record, _field, _sum), _column)
for _name, _help in DISTRICT_TOTALS.items():
    _column = models.FloatField if _name.endswith("_sum") else models.BigIntegerField
    DistrictSums.add_to_class(_name, _column(help_text=_help))
for _name in DISTRICT_COUNTS:
    _help = f"Patients counted as {_name} (DISTRICT_COUNTS)."
    DistrictSums.add_to_class(_name, models.BigIntegerField(null=_name in SETTING_COUNTS, help_text=_help))
for _prefix, (_grouping, _label, *_) in EFFECT_GROUPS.items():
    for _outcome, _help in EFFECT_OUTCOMES.items():
        _name = f"{_prefix}_{_outcome}"
        _column = models.FloatField if _outcome.endswith("_sum") else models.BigIntegerField
        _help = f"Follow-up effect, by {_grouping} {_label}: {_help}"
        DistrictSums.add_to_class(_name, _column(null=_name in SETTING_COUNTS, help_text=_help))


class DeliveryFacts(models.Model):
    """A delivery's haemoglobin at the following visit: the first follow-up with a reading on or
    after the delivery and before her next one."""

    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # Her facts are refreshed together: the index on this foreign key finds them.
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    next_visit_haemoglobin_g_dl = models.FloatField(null=True)

    class Meta:
        verbose_name_plural = "delivery facts"

    def __str__(self):
        return f"Facts of delivery #{self.delivery_id}"


class VisitJump(models.Model):
    """A follow-up whose weight or haemoglobin changed from her previous reading of it by more than
    the limit (clinical.WEIGHT_JUMP_KG, clinical.HAEMOGLOBIN_JUMP_G_DL)."""

    followup = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="+")
    # Her jumps are refreshed together: the index on this foreign key finds them.
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=20)
    value = models.FloatField()
    previous = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["followup", "field"], name="insights_visitjump_unique")]

    def __str__(self):
        return f"{self.field} jump at follow-up #{self.followup_id}"


class DataVersion(models.Model):
    """The records' version, for the insights cache (insights.cache): one row, given a new random
    token by every announced write, in the writer's transaction. A result cached under a token was
    computed from the records as they were when that token was current."""

    token = models.CharField(max_length=32)

    def __str__(self):
        return self.token
