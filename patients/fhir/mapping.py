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


@dataclass(frozen=True)
class Measure:
    """One kind of Observation: a recorded value (or, for a panel, values: `components`) of one kind
    of record (`record`: patient, delivery or followup), under its LOINC code, in its UCUM unit."""

    name: str  # the last part of the Observation's id, and its code's text
    record: str
    column: str | None  # None for a panel
    code: str
    display: str  # LOINC's long name
    unit: str  # UCUM
    category: str  # observation-category: vital-signs or laboratory
    components: tuple = ()  # a panel's (column, LOINC code, LOINC name)

    @property
    def columns(self):
        return tuple(column for column, _, _ in self.components) if self.components else (self.column,)


OBSERVATION_CATEGORIES = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}

HAEMOGLOBIN = "haemoglobin"
_HAEMOGLOBIN = (HAEMOGLOBIN, "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "laboratory")
_WEIGHT = ("weight", "29463-7", "Body weight", "kg", "vital-signs")
_BLOOD_PRESSURE_PANEL = ("85354-9", "Blood pressure panel with all children optional", "mm[Hg]", "vital-signs")

# Every measurement, by the record that holds it. A patient's own weight and height are as recorded
# on her registration (no date: the Observation has no effective date).
MEASURES = (
    Measure(_HAEMOGLOBIN[0], "followup", "haemoglobin_g_dl", *_HAEMOGLOBIN[1:]),
    Measure(_WEIGHT[0], "followup", "weight_kg", *_WEIGHT[1:]),
    Measure("blood-pressure", "followup", None, *_BLOOD_PRESSURE_PANEL, components=(
        ("bp_systolic", "8480-6", "Systolic blood pressure"),
        ("bp_diastolic", "8462-4", "Diastolic blood pressure"),
    )),
    Measure(_HAEMOGLOBIN[0], "delivery", "haemoglobin_at_delivery", *_HAEMOGLOBIN[1:]),
    Measure(_WEIGHT[0], "delivery", "weight_at_delivery", *_WEIGHT[1:]),
    Measure(_WEIGHT[0], "patient", "weight_kg", *_WEIGHT[1:]),
    Measure("height", "patient", "height_cm", "8302-2", "Body height", "cm", "vital-signs"),
)  # fmt: skip

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
        "patient": ("reference", "Required: Patient/<id> or <id>"),
        "code": ("token", "LOINC code, system|code or code; several separated by commas"),
        "date": ("date", "Date of the reading, with the prefix eq, ge, gt, le or lt; may repeat"),
    },
    "Encounter": {
        "patient": ("reference", "Required: Patient/<id> or <id>"),
        "date": ("date", "Date of the visit or delivery, with a prefix; may repeat"),
    },
    "Procedure": {
        "patient": ("reference", "Required: Patient/<id> or <id>"),
        "date": ("date", "Date of the delivery, with a prefix; may repeat"),
    },
    "Condition": {"patient": ("reference", "Required: Patient/<id> or <id>")},
}
