"""
The clinical definitions, in one place: plausible ranges, anaemia, delivery-type spellings.

Plain constants and functions with no ORM, so that the models' constraints, the forms, the
import, the API and the insights all read the same numbers. Each cites its source so a clinician
can check it.
"""

import re
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


def anaemia_cutoff_g_dl():
    return settings.ANAEMIA_HB_CUTOFF_G_DL


def is_anaemic(haemoglobin_g_dl):
    """True when a haemoglobin value lies below the configured cut-off; None when unknown."""
    if haemoglobin_g_dl is None:
        return None
    return haemoglobin_g_dl < anaemia_cutoff_g_dl()


def anaemia_severity(haemoglobin_g_dl):
    """WHO's severity band for a haemoglobin value: none, mild, moderate or severe (None if unknown)."""
    if haemoglobin_g_dl is None:
        return None
    if haemoglobin_g_dl < SEVERE_BELOW_G_DL:
        return Severity.SEVERE
    if haemoglobin_g_dl < MODERATE_BELOW_G_DL:
        return Severity.MODERATE
    if haemoglobin_g_dl < anaemia_cutoff_g_dl():
        return Severity.MILD
    return Severity.NONE


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
_ANAEMIA_KEYWORD_RE = re.compile("|".join(re.escape(k) for k in ANAEMIA_KEYWORDS), re.IGNORECASE)


def mentions_anaemia(text):
    """True when free text names anaemia by one of ANAEMIA_KEYWORDS."""
    return bool(text) and _ANAEMIA_KEYWORD_RE.search(text) is not None


# --- Delivery types ---------------------------------------------------------------------------
# The spellings people type in registers and spreadsheets, mapped to the three codes. Keys are
# compared after lower-casing and dropping everything but letters.

DELIVERY_TYPE_SYNONYMS = {
    "normal": (
        "normal",
        "nvd",
        "svd",
        "vaginal",
        "normal vaginal delivery",
        "spontaneous vaginal delivery",
        "spontaneous",
    ),
    "assisted": (
        "assisted",
        "vacuum",
        "ventouse",
        "forceps",
        "instrumental",
        "assisted vaginal delivery",
        "avd",
    ),
    "c_section": (
        "c_section",
        "c-section",
        "c section",
        "csection",
        "c/s",
        "cs",
        "lscs",
        "caesarean",
        "cesarean",
        "caesarean section",
        "cesarean section",
        "emergency lscs",
        "elective lscs",
        "emergency c-section",
        "elective c-section",
        "emergency caesarean",
        "elective caesarean",
    ),
}


def _letters(text):
    return re.sub(r"[^a-z]", "", text.lower())


_DELIVERY_TYPE_LOOKUP = {
    _letters(spelling): code for code, spellings in DELIVERY_TYPE_SYNONYMS.items() for spelling in spellings
}


def delivery_type_code(text):
    """The delivery-type code for a typed spelling ("LSCS" -> "c_section"), or None if unknown."""
    if text is None:
        return None
    return _DELIVERY_TYPE_LOOKUP.get(_letters(str(text)))


DELIVERY_TERM_SYNONYMS = {
    "term": ("term", "full term", "fullterm", "at term"),
    "preterm": ("preterm", "pre-term", "premature"),
    "post_term": ("post_term", "post-term", "post term", "postterm", "postdate", "post-dated", "overdue"),
}
_DELIVERY_TERM_LOOKUP = {
    _letters(spelling): code for code, spellings in DELIVERY_TERM_SYNONYMS.items() for spelling in spellings
}


def delivery_term_code(text):
    """The term code for a typed spelling ("Post-term" -> "post_term"), or None if unknown."""
    if text is None:
        return None
    return _DELIVERY_TERM_LOOKUP.get(_letters(str(text)))


# --- High-risk patients ------------------------------------------------------------------------
# A patient is high-risk for every reason that applies: anaemia written in her condition or a
# follow-up's diagnosis, a current haemoglobin below the cut-off, or any Caesarean delivery.

ANAEMIA_KEYWORD = "anaemia_keyword"
LOW_HAEMOGLOBIN = "low_haemoglobin"
C_SECTION = "c_section"


def risk_reasons(anaemia_keyword, current_haemoglobin_g_dl, had_caesarean):
    """The reasons, in a fixed order, why a patient is high-risk (empty when she is not)."""
    reasons = []
    if anaemia_keyword:
        reasons.append(ANAEMIA_KEYWORD)
    if is_anaemic(current_haemoglobin_g_dl):
        reasons.append(LOW_HAEMOGLOBIN)
    if had_caesarean:
        reasons.append(C_SECTION)
    return reasons


class Risk(NamedTuple):
    """A patient's risk: her reasons (risk_reasons) and her current haemoglobin Reading (or None)."""

    reasons: list
    current: Reading | None

    @property
    def high_risk(self):
        return bool(self.reasons)

    @property
    def haemoglobin_g_dl(self):
        return self.current.value if self.current else None

    @property
    def severity(self):
        return anaemia_severity(self.haemoglobin_g_dl)


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
# delivery with no later follow-up is "none". Frequency follows WHO's antenatal care model (2016),
# which asks for at least 8 contacts. Each group is (label, lowest, highest), both included.

FOLLOWUP_TIMING_GROUPS = (("0-3 days", 0, 3), ("4-14 days", 4, 14), ("15-42 days", 15, 42), ("after 42 days", 43, None))
NO_FOLLOWUP = "none"
FOLLOWUP_COUNT_GROUPS = (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3), ("4-7", 4, 7), ("8 or more", 8, None))


def group_label(groups, value):
    """The label of the (label, lowest, highest) group holding `value`."""
    for label, lowest, highest in groups:
        if value >= lowest and (highest is None or value <= highest):
            return label
    raise ValueError(f"{value} is in none of the groups")
