"""
What a patient's record leads with: her triage priority, each reason she is high-risk in words with
the value and date behind it, where her written condition and her numbers disagree, and her risk
factors. Built from her clinical.Risk (Patient.risk()) and the records it was read from.
"""

from typing import NamedTuple

from django.utils.formats import date_format

from patients import clinical, labels


class Attention(NamedTuple):
    priority: int | None
    reasons: list  # sentences, one per reason, in clinical.REASONS' order
    disagreements: list  # sentences
    factors: list  # sentences, one per risk factor

    def __bool__(self):
        return bool(self.reasons or self.disagreements or self.factors)


def _day(value):
    return date_format(value, "j M Y")


def _quoted(text, limit=60):
    text = " ".join(text.split())
    return f"'{text if len(text) <= limit else text[: limit - 1] + '…'}'"


def _where_written(patient, followups, mentions):
    """Where the notes say it: "condition reads 'Anaemia'", or the first follow-up whose diagnosis does."""
    if mentions(patient.condition):
        return f"condition reads {_quoted(patient.condition)}"
    for followup in followups:
        if mentions(followup.diagnosis):
            return f"visit {followup.visit_number} on {_day(followup.visit_date)} reads {_quoted(followup.diagnosis)}"
    return ""


def haemoglobin_in_words(reading):
    """ "Haemoglobin 6.9 g/dL on 3 Mar 2025, severe anaemia"."""
    severity = labels.words(clinical.anaemia_severity(reading.value), "severity").lower()
    where = "at delivery" if reading.source == clinical.DELIVERY else f"at visit {reading.sequence}"
    return f"Haemoglobin {reading.value:g} g/dL {where} on {_day(reading.date)}, {severity}"


def blood_pressure_in_words(bp):
    """ "Blood pressure 162/104 mmHg at visit 3 on 3 Mar 2025, severe"."""
    band = labels.words(clinical.blood_pressure_band(bp.systolic, bp.diastolic), "bp_band").lower()
    return f"Blood pressure {bp.systolic}/{bp.diastolic} mmHg at visit {bp.sequence} on {_day(bp.date)}, {band}"


def needs_attention(patient, risk, deliveries, followups):
    """Her Attention: from her Risk and the deliveries and follow-ups it was computed from."""
    reasons = []
    for code in risk.reasons:
        if code == clinical.ANAEMIA_KEYWORD:
            reasons.append(
                f"Anaemia written in the notes: {_where_written(patient, followups, clinical.mentions_anaemia)}"
            )
        elif code == clinical.HYPERTENSION_KEYWORD:
            where = _where_written(patient, followups, clinical.mentions_hypertension)
            reasons.append(f"Hypertension written in the notes: {where}")
        elif code == clinical.LOW_HAEMOGLOBIN:
            reasons.append(haemoglobin_in_words(risk.current))
        elif code == clinical.HIGH_BLOOD_PRESSURE:
            reasons.append(blood_pressure_in_words(risk.blood_pressure))
        elif code == clinical.C_SECTION:
            dates = [d.date_of_delivery for d in deliveries if d.is_caesarean]
            reasons.append(f"Caesarean delivery on {', '.join(_day(day) for day in sorted(dates))}")
        else:  # a new reason reads as its words until it is given its value here
            reasons.append(clinical.label(code))
    return Attention(risk.priority, reasons, _disagreements(patient, risk), _factors(patient, risk, deliveries))


def _disagreements(patient, risk):
    """Where her written condition and her latest numbers disagree."""
    found = []
    condition = _quoted(patient.condition) if patient.condition else ""
    if clinical.mentions_anaemia(patient.condition):
        hb = risk.current
        if hb is None:
            found.append(f"Condition reads {condition}; no haemoglobin is recorded.")
        elif not clinical.is_anaemic(hb.value):
            found.append(f"Condition reads {condition}; latest haemoglobin {hb.value:g} g/dL on {_day(hb.date)} "
                         "is not anaemic.")  # fmt: skip
    if clinical.mentions_hypertension(patient.condition):
        bp = risk.blood_pressure
        if bp is None:
            found.append(f"Condition reads {condition}; no blood pressure is recorded.")
        elif risk.blood_pressure_band == clinical.BloodPressureBand.NORMAL:
            found.append(
                f"Condition reads {condition}; latest blood pressure {bp.systolic}/{bp.diastolic} mmHg on "
                f"{_day(bp.date)} is {labels.words(clinical.BloodPressureBand.NORMAL, 'bp_band').lower()}."
            )
    return found


def _factors(patient, risk, deliveries):
    values = {
        "adolescent_pregnancy": lambda: f"at {patient.age_at_first_pregnancy}",
        "short_stature": lambda: f"{patient.height_cm:g} cm",
        "underweight": lambda: (
            f"{clinical.body_mass_index(patient.height_cm, patient.weight_kg):.1f}, "
            f"from {patient.height_cm:g} cm and {patient.weight_kg:g} kg"
        ),
        "preterm_delivery": lambda: ", ".join(
            _day(d.date_of_delivery) for d in deliveries if d.term_of_delivery == d.Term.PRETERM
        ),
    }
    return [
        f"{clinical.label(code)} ({values[code]()})" if code in values else clinical.label(code)
        for code in risk.factors
    ]
