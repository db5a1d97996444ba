"""
Words for people, codes for machines: what each code reads as on a page, a chart, a table header
or a spreadsheet column. The API's JSON keeps the codes (and may add these words beside them).

One table per kind of code; templates read them through the `words` filter (patients.templatetags
.labels), views and downloads through `words()`. A code with no words is an error, not shown bare.
The insights' columns have their headings here too (`column()`), and their rates the counts they
are read with (`RATES`, `percent()`): the pages, the insights workbook and the notebook share them.
"""

from django.utils.text import capfirst

from patients import clinical
from patients.models import Delivery, DeliveryTerm, DeliveryType, FollowUp, Patient

SEVERITY = {clinical.Severity.NONE: "Not anaemic", **{band.code: band.words for band in clinical.SEVERITY_BANDS}}
BLOOD_PRESSURE_BAND = {
    clinical.BloodPressureBand.NORMAL: f"Below {clinical.HIGH_SYSTOLIC_MMHG}/{clinical.HIGH_DIASTOLIC_MMHG}",
    clinical.BloodPressureBand.HIGH: "High",
    clinical.BloodPressureBand.SEVERE: "Severe",
}
REVIEW_RULE = {
    clinical.DISTRICT_SD: f"More than {clinical.OUTLIER_SD:g} SD from the district's mean",
    clinical.VISIT_JUMP: "Large change since the previous visit",
}
RECORD = {"patient": "Patient", "delivery": "Delivery", "follow-up": "Follow-up"}
_MODELS = {"patient": Patient, "delivery": Delivery, "follow-up": FollowUp, "followup": FollowUp}


def field(name, record="follow-up"):
    """A recorded field in words with its unit: ("bp_systolic", "follow-up") -> "Systolic BP (mmHg)"."""
    return capfirst(_MODELS[record]._meta.get_field(name).verbose_name)


# The kinds of code the `words` filter knows, each a function of the code.
KINDS = {
    "reason": clinical.label,
    "risk_factor": clinical.label,
    "priority": clinical.priority_label,
    "severity": SEVERITY.__getitem__,
    "bp_band": BLOOD_PRESSURE_BAND.__getitem__,
    "delivery_type": lambda code: DeliveryType(code).label,
    "term": lambda code: DeliveryTerm(code).label,
    "review_rule": REVIEW_RULE.__getitem__,
    "record": RECORD.__getitem__,
}


def words(code, kind):
    """The words for `code` of this kind ("reason", "delivery_type", ...); "" for None or ""."""
    if code is None or code == "":
        return ""
    return KINDS[kind](code)


# --- Rates ------------------------------------------------------------------------------------
# Each rate the insights show, by column name: (numerator, denominator), both row keys. A page shows
# it as "54.6% (120 of 220)", a spreadsheet as a percentage beside its counts. Those ending in
# "_share" are not in the queries' rows: pages work them out from the counts.
RATES = {
    "caesarean_rate": ("n_caesarean", "n_deliveries"),
    "anaemia_prevalence": ("n_anaemic", "n_with_haemoglobin"),
    **{f"{band}_share": (f"n_{band}", "n_with_haemoglobin") for band in (
        clinical.Severity.MILD, clinical.Severity.MODERATE, clinical.Severity.SEVERE)},
    "hypertension_prevalence": ("n_high_blood_pressure", "n_with_blood_pressure"),
    "severe_blood_pressure_share": ("n_severe_blood_pressure", "n_with_blood_pressure"),
    **{f"{factor.code}_share": (f"n_{factor.code}", "n_patients") for factor in clinical.RISK_FACTORS},
    "anaemia_at_delivery_rate": ("n_anaemic_at_delivery", "n_haemoglobin_at_delivery"),
    "anaemia_next_visit_rate": ("n_anaemic_next_visit", "n_haemoglobin_next_visit"),
    "preterm_share": ("n_preterm", "n_term_recorded"),
    "resolved_share": ("n_resolved", "n_anaemic_at_first"),
}  # fmt: skip


def percentage(numerator, denominator):
    """ "12.5%": a rate as people read it; "—" without a denominator."""
    if not denominator:
        return "—"
    return f"{100 * numerator / denominator:.1f}%"


def percent(numerator, denominator):
    """ "12.5% (5 of 40)": a rate with the counts behind it; "—" without a denominator."""
    if not denominator:
        return "—"
    return f"{percentage(numerator, denominator)} ({numerator:,} of {denominator:,})"


# --- Columns ----------------------------------------------------------------------------------
# The insights' row keys (insights.queries) as table headings and spreadsheet headers: in words,
# with units. Keys not here read by column()'s rule ("mean_weight_kg" -> "Mean weight (kg)").
_HIGH_BP = f"{clinical.HIGH_SYSTOLIC_MMHG}/{clinical.HIGH_DIASTOLIC_MMHG}"
_SEVERE_BP = f"{clinical.SEVERE_SYSTOLIC_MMHG}/{clinical.SEVERE_DIASTOLIC_MMHG}"
COLUMNS = {
    "label": "Group",
    "field": "Measurement",
    "value": "Value",
    "rule": "Why flagged",
    "score": "Score (z-score, or change since the previous visit)",
    "reference": "Reference (district mean, or previous value)",
    "delivery_type": "Delivery type",
    "severity": "Anaemia",
    "bp_band": "Blood pressure",
    "bp_date": "Blood pressure date",
    "haemoglobin_date": "Haemoglobin date",
    "n_patients": "Patients (n)",
    "n_caesarean": "Caesarean deliveries (n)",
    "n_with_weight": "With a recorded weight (n)",
    "n_weight": "With a weight (n)",
    "n_haemoglobin": "With a haemoglobin reading (n)",
    "average_weight": "Mean recorded weight (kg)",
    "average_latest_followup_weight": "Mean latest follow-up weight (kg)",
    "n_latest_followup_weight": "With a follow-up weight (n)",
    "mean_weight_kg": "Mean weight (kg)",
    "n_with_blood_pressure": "With a blood pressure reading (n)",
    "hypertension_prevalence": f"Hypertension prevalence (latest reading {_HIGH_BP} mmHg or above)",
    "severe_blood_pressure_share": f"Severe: {_SEVERE_BP} mmHg or above",
    "n_severe_blood_pressure": f"Severe blood pressure, {_SEVERE_BP} mmHg or above (n)",
    "n_haemoglobin_at_delivery": "With a haemoglobin at delivery (n)",
    "n_haemoglobin_next_visit": "With a haemoglobin at the next visit (n)",
    "n_anaemic_next_visit": "Anaemic at the next visit (n)",
    "n_with_haemoglobin": "With a haemoglobin reading (n)",
    "mean_haemoglobin_at_delivery": "Mean haemoglobin at delivery (g/dL)",
    "mean_haemoglobin_next_visit": "Mean haemoglobin at the next visit (g/dL)",
    "anaemia_at_delivery_rate": "Anaemic at delivery",
    "anaemia_next_visit_rate": "Anaemic at the next visit",
    "n_term_recorded": "With a term recorded (n)",
    "preterm_share": "Preterm (of deliveries with a term recorded)",
    "n_with_change": "With two or more haemoglobin readings (n)",
    "resolved_share": "Anaemia resolved (of those anaemic at first)",
    "statistic": "Chi-square statistic",
    "p_value": "p-value",
    "min_expected_count": "Smallest expected count",
}
_UNITS = (("_g_dl", "g/dL"), ("_kg", "kg"), ("_cm", "cm"), ("_mmhg", "mmHg"))


def _rule_words(code):
    """The words of a reason, a risk factor or an anaemia severity band; None for other codes."""
    if code in clinical.REASON_CODES or code in clinical.RISK_FACTOR_CODES:
        return clinical.label(code)
    return SEVERITY.get(code)


def column(name):
    """A column of the insights' rows in words: "n_followups" -> "Follow-ups (n)", "mean_haemoglobin_g_dl"
    -> "Mean haemoglobin (g/dL)", "n_short_stature" -> "Height below 145 cm (n)", "short_stature_share"
    -> "Height below 145 cm"."""
    if name in COLUMNS:
        return COLUMNS[name]
    for record in ("follow-up", "delivery", "patient"):  # a recorded field, as the forms name it
        if any(f.name == name for f in _MODELS[record]._meta.fields):
            return field(name, record)
    if name.startswith("n_") and _rule_words(name.removeprefix("n_")):
        return f"{_rule_words(name.removeprefix('n_'))} (n)"
    if name.endswith("_share") and _rule_words(name.removesuffix("_share")):
        return _rule_words(name.removesuffix("_share"))
    suffix = ""
    for ending, unit in _UNITS:
        if name.endswith(ending):
            name, suffix = name.removesuffix(ending), f" ({unit})"
    if name.startswith("n_"):
        name, suffix = name.removeprefix("n_"), " (n)"
    text = name.replace("_", " ").replace("followup", "follow-up")
    return capfirst(text) + suffix


# Row keys whose values are codes, and the kind of code each holds (for words()).
CODE_COLUMNS = {
    "record": "record",
    "rule": "review_rule",
    "delivery_type": "delivery_type",
    "severity": "severity",
    "bp_band": "bp_band",
    "reasons": "reason",
    "factors": "risk_factor",
    "priority": "priority",
}


def cell_words(row, name):
    """A row's value under column `name`, in words where it is a code (a list of codes joined by
    commas; a recorded field with its unit); any other value as it is."""
    value = row[name]
    if name == "field":
        return field(value, row.get("record", "follow-up"))
    if name in CODE_COLUMNS:
        if isinstance(value, list | tuple):
            return ", ".join(words(code, CODE_COLUMNS[name]) for code in value)
        return words(value, CODE_COLUMNS[name])
    return value
