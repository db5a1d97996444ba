"""
How the records read as FHIR R4 resources: the one table of which column becomes which element,
under which code. patients.fhir.resources builds the resources from it, the CapabilityStatement
lists what it names, and the tests and the README's table read it too.
"""

from dataclasses import dataclass

from patients.models import DeliveryType

FHIR_VERSION = "4.0.1"
# When what this server does last changed (the CapabilityStatement's date).
CAPABILITY_DATE = "2026-12-01"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


OBSERVATION_CATEGORIES = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
# How a UCUM unit is written for people (valueQuantity.unit); any other is written as its code.
UNIT_WORDS = {"mm[Hg]": "mmHg"}


@dataclass(frozen=True)
class Code:
    """A kind of Observation: its LOINC code and long name, its UCUM unit, its category, and for a
    panel its components' (column, LOINC code, LOINC name)."""

    code: str
    display: str
    unit: str
    category: str  # observation-category: vital-signs or laboratory
    components: tuple = ()


HAEMOGLOBIN = "haemoglobin"
# By name: the last part of an Observation's id.
CODES = {
    HAEMOGLOBIN: Code("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "laboratory"),
    "weight": Code("29463-7", "Body weight", "kg", "vital-signs"),
    "height": Code("8302-2", "Body height", "cm", "vital-signs"),
    "blood-pressure": Code("85354-9", "Blood pressure panel with all children optional", "mm[Hg]", "vital-signs", (
        ("bp_systolic", "8480-6", "Systolic blood pressure"),
        ("bp_diastolic", "8462-4", "Diastolic blood pressure"),
    )),
}  # fmt: skip


@dataclass(frozen=True)
class Measure:
    """Where one kind of Observation (CODES[name]) is recorded: a column of one kind of record
    (patient, delivery or followup), or a panel's columns (its components)."""

    name: str
    record: str
    column: str | None = None  # None for a panel

    @property
    def code(self):
        return CODES[self.name]

    @property
    def columns(self):
        return tuple(column for column, _, _ in self.code.components) or (self.column,)


# Every measurement, by the record that holds it. A patient's own weight and height are as recorded
# on her registration (no date: the Observation has no effective date).
MEASURES = (
    Measure(HAEMOGLOBIN, "followup", "haemoglobin_g_dl"),
    Measure("weight", "followup", "weight_kg"),
    Measure("blood-pressure", "followup"),
    Measure(HAEMOGLOBIN, "delivery", "haemoglobin_at_delivery"),
    Measure("weight", "delivery", "weight_at_delivery"),
    Measure("weight", "patient", "weight_kg"),
    Measure("height", "patient", "height_cm"),
)

# The mode of a delivery as a Procedure's code (SNOMED CT), as the German maternity record
# (KBV Mutterpass, birth mode) codes the same three.
DELIVERY_PROCEDURES = {
    DeliveryType.NORMAL: ("177184002", "Normal delivery procedure"),
    DeliveryType.ASSISTED: ("236974004", "Instrumental delivery"),
    DeliveryType.C_SECTION: ("11466000", "Cesarean section"),
}

# The Encounter of each record: its class (v3 ActCode) and type, as text.
ENCOUNTERS = {
    "followup": ("AMB", "ambulatory", "Follow-up visit"),
    "delivery": ("IMP", "inpatient encounter", "Delivery"),
}

# The written conditions, as Condition resources with the text alone (no code: the text is free):
# (record, column, condition-category code, its display).
CONDITIONS = (
    ("patient", "condition", "problem-list-item", "Problem List Item"),
    ("followup", "diagnosis", "encounter-diagnosis", "Encounter Diagnosis"),
)

# The resource types served, with the search parameters each takes (besides _count and _offset).
SEARCH_PARAMETERS = {
    "Patient": {
        "_id": ("token", "The patient's FHIR id"),
        "identifier": ("token", "Her hospital patient ID (system|value, or the value alone)"),
        "name": ("string", "Her name starts with this (name:contains, name:exact too)"),
        "address-district": ("string", "Her district starts with this"),
    },
    "Observation": {
        "patient": ("reference", "Required (or subject): Patient/<id> or <id>"),
        "subject": ("reference", "The same as patient"),
        "code": ("token", "LOINC code, system|code or code; several separated by commas"),
        "date": (
            "date",
            "Date of the reading (YYYY, YYYY-MM or YYYY-MM-DD) after eq, ne, ge, gt, le or lt; may repeat",
        ),
    },
    "Encounter": {
        "patient": ("reference", "Required (or subject): Patient/<id> or <id>"),
        "subject": ("reference", "The same as patient"),
        "date": ("date", "Date of the visit or delivery, with a prefix; may repeat"),
    },
    "Procedure": {
        "patient": ("reference", "Required (or subject): Patient/<id> or <id>"),
        "subject": ("reference", "The same as patient"),
        "date": ("date", "Date of the delivery, with a prefix; may repeat"),
    },
    "Condition": {
        "patient": ("reference", "Required (or subject): Patient/<id> or <id>"),
        "subject": ("reference", "The same as patient"),
    },
}
