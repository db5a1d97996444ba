"""
The records as FHIR R4 resources: plain dicts, ready for JSON, built from patients.fhir.mapping.

Ids are stable and never reused: a patient's is her primary key (her hospital patient ID may be
corrected; it is her identifier), a record's is its kind and primary key (`followup-12`), and an
Observation's adds its measure (`followup-12-haemoglobin`). Voided records are never built: the
callers read them through the managers that leave them out.
"""

import datetime
import re

from django.conf import settings

from patients import clinical, labels
from patients.fhir import mapping
from patients.models import DeliveryQuerySet, FollowUpQuerySet

# A resource id of ours: the record and its primary key, then for an Observation or Condition what of it.
_RECORD_ID = re.compile(r"^(patient|delivery|followup)-([0-9]+)(?:-[a-z-]+)?$")


def parse_record_id(resource_id):
    """(record, pk) of an id built here; None if it is not one of ours."""
    match = _RECORD_ID.match(resource_id)
    pk = None if match is None else as_pk(match[2])
    return None if pk is None else (match[1], pk)


def as_pk(text):
    """A primary key written in an id or a search, or None: digits only, and small enough for a
    database's 64-bit integer (a longer number is nobody's)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def reference(resource_type, resource_id):
    return {"reference": f"{resource_type}/{resource_id}"}


def patient(record):
    """A Patient: her hospital ID as identifier, her name, her district and village as address."""
    resource = {
        "resourceType": "Patient",
        "id": str(record.pk),
        "identifier": [{"use": "usual", "system": settings.FHIR_PATIENT_ID_SYSTEM, "value": record.patient_id}],
        "active": True,
        # A maternal-health register: every patient is a woman who has been pregnant.
        "gender": "female",
    }
    if record.name:
        resource["name"] = [{"text": record.name}]
    address = {"use": "home"}
    if record.village:
        address["city"] = record.village  # FHIR's city: "city, town, suburb, village or other community"
    if record.district_id is not None:
        address["district"] = record.district.name
    if len(address) > 1:
        resource["address"] = [address]
    return resource


# The record types other than Patient, each with the kinds of record (patient, delivery, followup)
# it is built from: an export of one type reads only these.
RECORDS_READ = {
    "Encounter": tuple(mapping.ENCOUNTERS),
    "Procedure": ("delivery",),
    "Observation": tuple(dict.fromkeys(measure.record for measure in mapping.MEASURES)),
    "Condition": tuple(dict.fromkeys(record_name for record_name, *_ in mapping.CONDITIONS)),
}
# The order of a patient's records of each kind, and so of their resources: by date.
RECORD_ORDER = {"delivery": ("date_of_delivery", "pk"), "followup": ("visit_date", "visit_number", "pk")}


def record_resources(patient_record, deliveries, followups, types=RECORDS_READ):
    """The resources of `types` (all but the Patient by default) of a patient's records: her
    Encounters, Procedures, Observations and Conditions, each kind in her records' RECORD_ORDER."""
    subject = reference("Patient", patient_record.pk)
    records = {"patient": [patient_record], "delivery": list(deliveries), "followup": list(followups)}
    resources = []
    if "Encounter" in types:
        for record_name, rows in records.items():
            if record_name in mapping.ENCOUNTERS:
                resources += [_encounter(record_name, row, subject) for row in rows]
    if "Procedure" in types:
        resources += [_procedure(row, subject) for row in records["delivery"]]
    if "Observation" in types:
        for measure in mapping.MEASURES:
            for row in records[measure.record]:
                if any(getattr(row, column) is not None for column in measure.columns):
                    resources.append(_observation(measure, row, subject))
    if "Condition" in types:
        for record_name, column, category, display in mapping.CONDITIONS:
            for row in records[record_name]:
                if getattr(row, column).strip():
                    resources.append(_condition(record_name, column, category, display, row, subject))
    return resources


# The date of each kind of record (its resources' date), as its queryset's between() reads it.
RECORD_DATES = {"delivery": DeliveryQuerySet.date_field, "followup": FollowUpQuerySet.date_field}


def record_date(record_name, row):
    """The date of a record's resources (None for the patient's own)."""
    column = RECORD_DATES.get(record_name)
    return None if column is None else getattr(row, column)


def _encounter(record_name, row, subject):
    code, display, kind = mapping.ENCOUNTERS[record_name]
    day = record_date(record_name, row).isoformat()
    text = f"{kind} {row.visit_number}" if record_name == "followup" else kind
    return {
        "resourceType": "Encounter",
        "id": f"{record_name}-{row.pk}",
        "status": "finished",
        "class": {"system": mapping.ACT_CODE, "code": code, "display": display},
        "type": [{"text": text}],
        "subject": subject,
        "period": {"start": day, "end": day},
    }


def _procedure(row, subject):
    code, display = mapping.DELIVERY_PROCEDURES[row.type_of_delivery]
    return {
        "resourceType": "Procedure",
        "id": f"delivery-{row.pk}",
        "status": "completed",
        "code": {"coding": [{"system": mapping.SNOMED, "code": code, "display": display}],
                 "text": row.get_type_of_delivery_display()},
        "subject": subject,
        "encounter": reference("Encounter", f"delivery-{row.pk}"),
        "performedDateTime": row.date_of_delivery.isoformat(),
    }  # fmt: skip


def resource_date(resource):
    """The date a record's resource is dated by (as written by the builders here), or None."""
    text = resource.get("effectiveDateTime") or resource.get("performedDateTime") or resource.get("recordedDate")
    if text is None and "period" in resource:
        text = resource["period"]["start"]
    return None if text is None else datetime.date.fromisoformat(text)


def _quantity(value, unit):
    return {"value": value, "unit": mapping.UNIT_WORDS.get(unit, unit), "system": mapping.UCUM, "code": unit}


def _observation(measure, row, subject):
    record_id, kind = f"{measure.record}-{row.pk}", measure.code
    resource = {
        "resourceType": "Observation",
        "id": f"{record_id}-{measure.name}",
        "status": "final",
        "category": [{"coding": [{"system": mapping.OBSERVATION_CATEGORY, "code": kind.category,
                                  "display": mapping.OBSERVATION_CATEGORIES[kind.category]}]}],
        "code": _loinc(kind.code, kind.display),
        "subject": subject,
    }  # fmt: skip
    if measure.record != "patient":
        resource["encounter"] = reference("Encounter", record_id)
        resource["effectiveDateTime"] = record_date(measure.record, row).isoformat()
    if kind.components:
        resource["component"] = [
            {"code": _loinc(code, display), "valueQuantity": _quantity(getattr(row, column), kind.unit)}
            for column, code, display in kind.components
            if getattr(row, column) is not None
        ]
        return resource
    value = getattr(row, measure.column)
    resource["valueQuantity"] = _quantity(value, kind.unit)
    if measure.name == mapping.HAEMOGLOBIN:
        resource.update(_haemoglobin_reading(value))
    return resource


def _loinc(code, display):
    return {"coding": [{"system": mapping.LOINC, "code": code, "display": display}], "text": display}


def _haemoglobin_reading(value):
    """Her haemoglobin against the anaemia cut-off (clinical.ANAEMIC) and WHO's severity bands."""
    cutoff = clinical.anaemia_cutoff_g_dl()
    reading = {
        "referenceRange": [{
            "low": _quantity(cutoff, "g/dL"),
            "text": f"Anaemia below {cutoff:g} g/dL (WHO, pregnancy; the hospital's cut-off). WHO severity: "
                    f"severe below {clinical.SEVERE_BELOW_G_DL:g}, moderate {clinical.SEVERE_BELOW_G_DL:g} to "
                    f"below {clinical.MODERATE_BELOW_G_DL:g}, mild {clinical.MODERATE_BELOW_G_DL:g} to below "
                    f"{cutoff:g} g/dL.",
        }],
    }  # fmt: skip
    if clinical.is_anaemic(value):
        words = labels.SEVERITY[clinical.anaemia_severity(value)]
        reading["interpretation"] = [{"coding": [{"system": mapping.INTERPRETATION, "code": "L", "display": "Low"}],
                                      "text": words}]  # fmt: skip
    return reading


def _condition(record_name, column, category, display, row, subject):
    resource = {
        "resourceType": "Condition",
        "id": f"{record_name}-{row.pk}-{column}",
        "category": [{"coding": [{"system": mapping.CONDITION_CATEGORY, "code": category, "display": display}]}],
        "code": {"text": getattr(row, column).strip()},
        "subject": subject,
    }
    if record_name != "patient":
        resource["encounter"] = reference("Encounter", f"{record_name}-{row.pk}")
        resource["recordedDate"] = record_date(record_name, row).isoformat()
    return resource
