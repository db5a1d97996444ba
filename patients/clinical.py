"""
The clinical definitions, in one place: plausible ranges, anaemia, delivery-type spellings.

Plain constants and functions with no ORM, so that the models' constraints, the forms, the
import, the API and the insights all read the same numbers. Each cites its source so a clinician
can check it.
"""

import re
import string
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Range:
    """An inclusive plausible range with its unit; values outside it are refused at entry."""

    low: float
    high: float
    unit: str

    def __contains__(self, value):
        return self.low <= value <= self.high

    def __str__(self):
        return f"{self.low:g}-{self.high:g} {self.unit}".rstrip()


# Plausible ranges for adult women (the brief's cohort). Outside them a value is almost surely a
# typing or unit error; inside them an unusual value is flagged for review, never refused.
HEIGHT_CM = Range(100, 200, "cm")
WEIGHT_KG = Range(25, 200, "kg")
HAEMOGLOBIN_G_DL = Range(3, 20, "g/dL")
BLOOD_PRESSURE_MMHG = Range(40, 260, "mmHg")
AGE_YEARS = Range(8, 60, "years")
PLACENTAL_WEIGHT_G = Range(100, 1500, "g")
MONTHLY_INCOME = Range(0, 100_000_000, "")
EDUCATION_LEVEL = Range(0, 20, "")

# The earliest date a record may carry; anything before it is a typing error (e.g. 1023 for 2023).
EARLIEST_DATE_ISO = "1950-01-01"


def haemoglobin_range_error(value):
    """The message for a haemoglobin outside the plausible range, hinting at g/L where it fits.

    Haemoglobin is often reported in g/L (e.g. 105); in g/dL the same value is 10.5.
    """
    if value > HAEMOGLOBIN_G_DL.high and value / 10 in HAEMOGLOBIN_G_DL:
        return (
            f"{value:g} is above {HAEMOGLOBIN_G_DL.high:g} g/dL: it looks like g/L. Enter it in g/dL ({value / 10:g})."
        )
    return f"{value:g} is outside the plausible range {HAEMOGLOBIN_G_DL}."


def validate_haemoglobin_g_dl(value):
    if value is not None and value not in HAEMOGLOBIN_G_DL:
        raise ValidationError(haemoglobin_range_error(value), code="haemoglobin_range")


# --- Anaemia ----------------------------------------------------------------------------------
# WHO (2011), "Haemoglobin concentrations for the diagnosis of anaemia and assessment of
# severity" (WHO/NMH/NHD/MNM/11.1), Table 1, pregnant women: anaemia below 11.0 g/dL;
# mild 10.0-10.9, moderate 7.0-9.9, severe below 7.0. WHO gives no postpartum cut-off, so the
# cut-off is a setting (ANAEMIA_HB_CUTOFF_G_DL); the severity bands stay WHO's.

SEVERE_BELOW_G_DL = 7.0
MODERATE_BELOW_G_DL = 10.0


class Severity:
    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    ALL = (NONE, MILD, MODERATE, SEVERE)


def anaemia_cutoff_g_dl():
    return settings.ANAEMIA_HB_CUTOFF_G_DL


def is_anaemic(haemoglobin_g_dl):
    """True when a haemoglobin value lies below the configured cut-off (ANAEMIC); None when unknown."""
    if haemoglobin_g_dl is None:
        return None
    return ANAEMIC.holds({"haemoglobin_g_dl": haemoglobin_g_dl})


def anaemia_severity(haemoglobin_g_dl):
    """WHO's severity band (SEVERITY_BANDS) of a haemoglobin value: none, mild, moderate or severe
    (None if unknown)."""
    if haemoglobin_g_dl is None:
        return None
    value = {"haemoglobin_g_dl": haemoglobin_g_dl}
    return next((band.code for band in SEVERITY_BANDS if band.holds(value)), Severity.NONE)


# Where a haemoglobin reading was taken. On the same day a follow-up reading counts as later than
# the delivery's: a postnatal check on the day of birth follows the birth.
DELIVERY = 0
FOLLOW_UP = 1


class Reading(NamedTuple):
    date: object
    source: int
    value: float
    sequence: int = 0  # the visit number: of two visits on one day, the later-numbered is later


def latest_reading(readings):
    """A patient's current haemoglobin: her most recent reading by date, at delivery or follow-up.

    `readings` are (date, source, value[, sequence]) tuples; those without a value are passed over.
    Returns a Reading, or None when she has no reading at all.
    """
    known = [Reading(*r) for r in readings if r[2] is not None]
    return max(known, key=lambda r: (r.date, r.source, r.sequence), default=None)


# The brief's rule: anaemia written in free text. Matched case-insensitively in the patient's
# condition and in any follow-up's diagnosis.
ANAEMIA_KEYWORDS = ("anemia", "anaemia", "anemic", "anaemic", "low hb", "hb low")
_ANAEMIA_KEYWORD_RE = re.compile("|".join(re.escape(k) for k in ANAEMIA_KEYWORDS))
# Case is ignored for the ASCII letters only, as the SQL's LIKE does: "PİH" or "anaemıa" (a dotted
# capital I, a dotless i) name no keyword in Python either.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def mentions_anaemia(text):
    """True when free text names anaemia by one of ANAEMIA_KEYWORDS."""
    return bool(text) and _ANAEMIA_KEYWORD_RE.search(text.translate(_ASCII_LOWER)) is not None


# --- Hypertension ------------------------------------------------------------------------------
# WHO (2011), "Recommendations for prevention and treatment of pre-eclampsia and eclampsia", and
# ISSHP (2021), "The 2021 International Society for the Study of Hypertension in Pregnancy
# classification, diagnosis & management recommendations": hypertension at or above 140 systolic or
# 90 diastolic mmHg; severe at or above 160 or 110. Her latest reading is the latest follow-up (by
# visit date, then visit number) that has both values.

HIGH_SYSTOLIC_MMHG = 140
HIGH_DIASTOLIC_MMHG = 90
SEVERE_SYSTOLIC_MMHG = 160
SEVERE_DIASTOLIC_MMHG = 110


class BloodPressure(NamedTuple):
    date: object
    sequence: int  # the visit number
    systolic: int
    diastolic: int


def latest_blood_pressure(readings):
    """Her latest blood pressure: of (date, visit number, systolic, diastolic) tuples, the latest by
    date then visit number among those with both values. A BloodPressure, or None."""
    known = [BloodPressure(*r) for r in readings if r[2] is not None and r[3] is not None]
    return max(known, key=lambda r: (r.date, r.sequence), default=None)


class BloodPressureBand:
    NORMAL = "normal"
    HIGH = "high"
    SEVERE = "severe"
    ALL = (NORMAL, HIGH, SEVERE)


def blood_pressure_band(systolic, diastolic):
    """normal, high (HIGH_BLOOD_PRESSURE_TEST: >= 140 or >= 90) or severe (SEVERE_BLOOD_PRESSURE_TEST:
    >= 160 or >= 110); None without both values."""
    if systolic is None or diastolic is None:
        return None
    reading = {"latest_bp_systolic": systolic, "latest_bp_diastolic": diastolic}
    if SEVERE_BLOOD_PRESSURE_TEST.holds(reading):
        return BloodPressureBand.SEVERE
    if HIGH_BLOOD_PRESSURE_TEST.holds(reading):
        return BloodPressureBand.HIGH
    return BloodPressureBand.NORMAL


# Hypertensive disorders written in free text (condition, diagnosis), case-insensitive: word parts
# ("hypertens" for hypertension and hypertensive, "eclampsia" for pre-eclampsia and eclampsia) match
# anywhere; the abbreviations only as whole words (PIH, not "pihu"; HTN, HELLP).
HYPERTENSION_WORD_PARTS = ("hypertens", "eclampsia")
HYPERTENSION_WHOLE_WORDS = ("pih", "htn", "hellp")
_HYPERTENSION_RE = re.compile(
    "|".join([*HYPERTENSION_WORD_PARTS, *(rf"\b{word}\b" for word in HYPERTENSION_WHOLE_WORDS)])
)


def mentions_hypertension(text):
    """True when free text names a hypertensive disorder (HYPERTENSION_WORD_PARTS, _WHOLE_WORDS)."""
    return bool(text) and _HYPERTENSION_RE.search(text.translate(_ASCII_LOWER)) is not None


# --- Rules over a patient's facts ---------------------------------------------------------------
# Each rule below is written once, as a small expression over a patient's facts (named values such
# as current_haemoglobin_g_dl, from insights.models.PatientFacts or worked out in Python for one
# patient). `holds(facts)` decides it in Python; `sql(columns)` writes it as an SQL condition, given
# the SQL expression of each fact. A missing value (None, NULL) satisfies no comparison, alike in both.


def _limit(limit):
    return limit() if callable(limit) else limit


def reads_a_setting(test):
    """Whether a rule's test reads a setting (a limit given as a function, as the anaemia cut-off):
    what it decides may change when the settings do, so a count of it kept in the database holds
    only for the setting it was made with (insights.models.DistrictSums)."""
    if isinstance(test, (AnyOf, AllOf)):
        return any(reads_a_setting(rule) for rule in test.rules)
    return callable(getattr(test, "limit", None))


def _sql_number(limit):
    """A limit as an SQL literal: an integer as an integer (PostgreSQL would otherwise compare every
    integer column as numeric), anything else as a float."""
    limit = _limit(limit)
    return str(limit) if isinstance(limit, int) else repr(float(limit))


@dataclass(frozen=True)
class Below:
    fact: str
    limit: object  # a number, or a function giving it (a setting)

    def holds(self, facts):
        value = facts.get(self.fact)
        return value is not None and value < _limit(self.limit)

    def sql(self, columns):
        return f"{columns[self.fact]} < {_sql_number(self.limit)}"


@dataclass(frozen=True)
class AtLeast:
    fact: str
    limit: object

    def holds(self, facts):
        value = facts.get(self.fact)
        return value is not None and value >= _limit(self.limit)

    def sql(self, columns):
        return f"{columns[self.fact]} >= {_sql_number(self.limit)}"


@dataclass(frozen=True)
class IsTrue:
    fact: str

    def holds(self, facts):
        return bool(facts.get(self.fact))

    def sql(self, columns):
        return f"{columns[self.fact]} = TRUE"  # a stored 1 on SQLite, where TRUE is 1


@dataclass(frozen=True)
class AnyOf:
    rules: tuple

    def holds(self, facts):
        return any(rule.holds(facts) for rule in self.rules)

    def sql(self, columns):
        return "(" + " OR ".join(rule.sql(columns) for rule in self.rules) + ")"


class Rule(NamedTuple):
    """A clinical rule with a name: `code` for machines (the API, exports' code columns), `words`
    for people (formatted with the cut-off: "{cutoff:g}"), and the `test` that decides it."""

    code: str
    words: str
    test: object
    explained: str = ""  # when it applies, in words (for the pages that list it)

    @property
    def label(self):
        return self.words.format(cutoff=anaemia_cutoff_g_dl())

    def holds(self, facts):
        return self.test.holds(facts)


@dataclass(frozen=True)
class AllOf:
    rules: tuple

    def holds(self, facts):
        return all(rule.holds(facts) for rule in self.rules)

    def sql(self, columns):
        return "(" + " AND ".join(rule.sql(columns) for rule in self.rules) + ")"


# --- Anaemia by value, as rules over a haemoglobin value (the fact "haemoglobin_g_dl") ------------
# is_anaemic() and anaemia_severity() decide them in Python; the insights count them in SQL.

ANAEMIC = Below("haemoglobin_g_dl", anaemia_cutoff_g_dl)
SEVERITY_BANDS = (  # most severe first: the first that holds names the band
    Rule(Severity.SEVERE, "Severe anaemia", Below("haemoglobin_g_dl", SEVERE_BELOW_G_DL)),
    Rule(Severity.MODERATE, "Moderate anaemia", AllOf((
        Below("haemoglobin_g_dl", MODERATE_BELOW_G_DL), AtLeast("haemoglobin_g_dl", SEVERE_BELOW_G_DL),
    ))),
    Rule(Severity.MILD, "Mild anaemia", AllOf((
        Below("haemoglobin_g_dl", anaemia_cutoff_g_dl), AtLeast("haemoglobin_g_dl", MODERATE_BELOW_G_DL),
    ))),
)  # fmt: skip


# --- High-risk patients ------------------------------------------------------------------------
# A patient is high-risk for every reason that applies (DESIGN.md, "High-risk patient"). The order
# of REASONS is the order reasons are listed in. A new reason is one row here plus its fact.

ANAEMIA_KEYWORD = "anaemia_keyword"
LOW_HAEMOGLOBIN = "low_haemoglobin"
C_SECTION = "c_section"
HIGH_BLOOD_PRESSURE = "high_blood_pressure"
HYPERTENSION_KEYWORD = "hypertension_keyword"

HIGH_BLOOD_PRESSURE_TEST = AnyOf((
    AtLeast("latest_bp_systolic", HIGH_SYSTOLIC_MMHG), AtLeast("latest_bp_diastolic", HIGH_DIASTOLIC_MMHG),
))  # fmt: skip
SEVERE_BLOOD_PRESSURE_TEST = AnyOf((
    AtLeast("latest_bp_systolic", SEVERE_SYSTOLIC_MMHG), AtLeast("latest_bp_diastolic", SEVERE_DIASTOLIC_MMHG),
))  # fmt: skip

REASONS = (
    Rule(ANAEMIA_KEYWORD, "Anaemia written in the notes", IsTrue("anaemia_keyword")),
    Rule(LOW_HAEMOGLOBIN, "Haemoglobin below {cutoff:g} g/dL", Below("current_haemoglobin_g_dl", anaemia_cutoff_g_dl)),
    Rule(C_SECTION, "Caesarean delivery", AtLeast("n_caesarean", 1)),
    Rule(
        HIGH_BLOOD_PRESSURE,
        f"Blood pressure {HIGH_SYSTOLIC_MMHG}/{HIGH_DIASTOLIC_MMHG} or above",
        HIGH_BLOOD_PRESSURE_TEST,
    ),
    Rule(HYPERTENSION_KEYWORD, "Hypertension written in the notes", IsTrue("hypertension_keyword")),
)
REASON_CODES = tuple(reason.code for reason in REASONS)
HIGH_RISK_TEST = AnyOf(tuple(reason.test for reason in REASONS))


def risk_reasons(facts):
    """The codes of REASONS that hold for a patient's facts, in REASONS' order (empty: not high-risk)."""
    return [reason.code for reason in REASONS if reason.holds(facts)]


# Triage priority of a high-risk patient, most urgent first (DESIGN.md, "Triage priority"): the
# first whose test holds. Lists of high-risk patients are ordered by it.
PRIORITIES = (
    Rule(
        1, "Urgent", AnyOf((Below("current_haemoglobin_g_dl", SEVERE_BELOW_G_DL), SEVERE_BLOOD_PRESSURE_TEST)),
        f"haemoglobin below {SEVERE_BELOW_G_DL:g} g/dL, or blood pressure "
        f"{SEVERE_SYSTOLIC_MMHG}/{SEVERE_DIASTOLIC_MMHG} or above",
    ),
    Rule(
        2, "Soon", AnyOf((
            Below("current_haemoglobin_g_dl", MODERATE_BELOW_G_DL), HIGH_BLOOD_PRESSURE_TEST,
            IsTrue("hypertension_keyword"),
        )),
        f"haemoglobin below {MODERATE_BELOW_G_DL:g} g/dL, blood pressure {HIGH_SYSTOLIC_MMHG}/{HIGH_DIASTOLIC_MMHG} "
        "or above, or hypertension written in the notes",
    ),
    Rule(3, "Routine", AnyOf(()), "every other high-risk patient"),
)  # fmt: skip
PRIORITY_LEVELS = tuple(priority.code for priority in PRIORITIES)


def triage_priority(facts):
    """The priority (1, 2 or 3) of a high-risk patient from her facts; None when she is not high-risk."""
    if not HIGH_RISK_TEST.holds(facts):
        return None
    return next((p.code for p in PRIORITIES[:-1] if p.holds(facts)), PRIORITIES[-1].code)


def triage_priority_sql(columns):
    """triage_priority as an SQL expression (for a patient already known to be high-risk)."""
    whens = " ".join(f"WHEN {p.test.sql(columns)} THEN {p.code}" for p in PRIORITIES[:-1])
    return f"CASE {whens} ELSE {PRIORITIES[-1].code} END"


def priority_label(level):
    """ "Priority 1 (urgent)" for a priority level; "" for None."""
    if level is None:
        return ""
    words = next(p.words for p in PRIORITIES if p.code == level)
    return f"Priority {level} ({words.lower()})"


# --- Risk factors --------------------------------------------------------------------------------
# Shown on her record and counted per district; they do not make a patient high-risk by themselves.
# WHO: adolescent pregnancy (first pregnancy before 20); short stature (height below 145 cm);
# underweight (body-mass index below 18.5 kg/m2 from her recorded height and weight); and a
# preterm delivery (before 37 weeks) in her history.

ADOLESCENT_PREGNANCY_BELOW_YEARS = 20
SHORT_STATURE_BELOW_CM = 145
UNDERWEIGHT_BMI_BELOW = 18.5
BMI_TOLERANCE = 1e-9

RISK_FACTORS = (
    Rule(
        "adolescent_pregnancy",
        f"First pregnancy before {ADOLESCENT_PREGNANCY_BELOW_YEARS}",
        Below("age_at_first_pregnancy", ADOLESCENT_PREGNANCY_BELOW_YEARS),
    ),
    Rule("short_stature", f"Height below {SHORT_STATURE_BELOW_CM} cm", Below("height_cm", SHORT_STATURE_BELOW_CM)),
    # From one-decimal heights and weights a BMI below 18.5 is below it by more than 1e-7; a BMI of
    # exactly 18.5 (160 cm, 47.36 kg) computes as 18.499999999999996: it is not underweight.
    Rule(
        "underweight",
        f"Body-mass index below {UNDERWEIGHT_BMI_BELOW:g}",
        Below("bmi", UNDERWEIGHT_BMI_BELOW - BMI_TOLERANCE),
    ),
    Rule("preterm_delivery", "A preterm delivery", AtLeast("n_preterm", 1)),
)
RISK_FACTOR_CODES = tuple(factor.code for factor in RISK_FACTORS)


def body_mass_index(height_cm, weight_kg):
    """Weight (kg) over height (m) squared; None without both. BMI_SQL is the same in SQL."""
    if height_cm is None or weight_kg is None:
        return None
    metres = height_cm / 100.0
    return weight_kg / (metres * metres)


BMI_SQL = "({weight} / (({height} / 100.0) * ({height} / 100.0)))"


def risk_factors(facts):
    """The codes of RISK_FACTORS that hold for a patient's facts, in their order."""
    return [factor.code for factor in RISK_FACTORS if factor.holds(facts)]


_RULES_BY_CODE = {rule.code: rule for rule in (*REASONS, *RISK_FACTORS)}


def label(code):
    """The words for a reason's or a risk factor's code ("low_haemoglobin" -> "Haemoglobin below 11 g/dL")."""
    return _RULES_BY_CODE[code].label


class Risk(NamedTuple):
    """A patient's risk from her facts: her reasons, triage priority and risk factors, her current
    haemoglobin Reading and her latest BloodPressure (either None when she has none)."""

    reasons: list
    priority: int | None
    factors: list
    current: Reading | None
    blood_pressure: BloodPressure | None

    @property
    def high_risk(self):
        return bool(self.reasons)

    @property
    def haemoglobin_g_dl(self):
        return self.current.value if self.current else None

    @property
    def severity(self):
        return anaemia_severity(self.haemoglobin_g_dl)

    @property
    def blood_pressure_band(self):
        bp = self.blood_pressure
        return blood_pressure_band(bp.systolic, bp.diastolic) if bp else None


def assess(facts, current=None, blood_pressure=None):
    """A patient's Risk from her facts (and the readings behind them, for the record page)."""
    return Risk(risk_reasons(facts), triage_priority(facts), risk_factors(facts), current, blood_pressure)


# --- Outliers ----------------------------------------------------------------------------------
# A value inside its plausible range is flagged for review (never dropped) when it lies more than
# OUTLIER_SD population standard deviations from its district's mean (the usual 3-sigma rule), or
# when it jumps between a patient's consecutive readings by more than a change that cannot be
# physiological over a few weeks: 5 kg of weight, 3 g/dL of haemoglobin (a unit or typing error,
# a transfusion, or a haemorrhage: all worth a look).

OUTLIER_SD = 3.0
WEIGHT_JUMP_KG = 5.0
HAEMOGLOBIN_JUMP_G_DL = 3.0

DISTRICT_SD = "district_sd"
VISIT_JUMP = "visit_jump"


# --- Follow-up frequency and timing -------------------------------------------------------------
# WHO recommendations on maternal and newborn care for a positive postnatal experience (2022):
# postnatal contacts within 24 hours, on day 3 (48-72 hours), between days 7-14 and at week 6.
# Days from a delivery to the first follow-up on or after it are grouped by those windows; a
# delivery with no later follow-up is "no follow-up". Frequency follows WHO's antenatal care model (2016),
# which asks for at least 8 contacts. Each group is (label, lowest, highest), both included.

FOLLOWUP_TIMING_GROUPS = (("0-3 days", 0, 3), ("4-14 days", 4, 14), ("15-42 days", 15, 42), ("after 42 days", 43, None))
NO_FOLLOWUP = "no follow-up"
FOLLOWUP_COUNT_GROUPS = (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3), ("4-7", 4, 7), ("8 or more", 8, None))


def group_label(groups, value):
    """The label of the (label, lowest, highest) group holding `value`."""
    for label, lowest, highest in groups:
        if value >= lowest and (highest is None or value <= highest):
            return label
    raise ValueError(f"{value} is in none of the groups")
