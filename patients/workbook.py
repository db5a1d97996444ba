"""
The workbook format: three sheets, `patients`, `deliveries` and `followups`, whose column headers
are the models' field names (the original prototype's). Export writes it; import reads it, and
forgives the ways people type sheet names and headers.
"""

import re

from openpyxl import Workbook

from patients.models import Delivery, FollowUp, Patient
from patients.spreadsheet import text_cells  # the rule every spreadsheet we write follows

PATIENT_COLUMNS = [
    "patient_id", "name", "height_cm", "weight_kg", "education_level", "monthly_income", "age_at_menarche",
    "age_at_marriage", "age_at_first_pregnancy", "district", "village", "occupation", "diet", "condition",
]  # fmt: skip
DELIVERY_COLUMNS = [
    "patient_id", "date_of_delivery", "age_at_delivery", "weight_at_delivery", "haemoglobin_at_delivery",
    "placental_weight", "term_of_delivery", "type_of_delivery",
]  # fmt: skip
FOLLOWUP_COLUMNS = [
    "patient_id", "visit_number", "visit_date", "bp_systolic", "bp_diastolic", "weight_kg", "haemoglobin_g_dl",
    "diagnosis",
]  # fmt: skip

SHEET_COLUMNS = {"patients": PATIENT_COLUMNS, "deliveries": DELIVERY_COLUMNS, "followups": FOLLOWUP_COLUMNS}

# A sheet or row cannot be imported without these.
REQUIRED_COLUMNS = {
    "patients": ["patient_id", "district"],
    "deliveries": ["patient_id", "date_of_delivery", "type_of_delivery"],
    "followups": ["patient_id", "visit_number", "visit_date"],
}

# The prototype's serial keys: accepted and ignored (our keys are natural ones).
IGNORED_COLUMNS = {"deliveries": {"deliveryid"}, "followups": {"followupid", "followupsid"}}

SHEET_ALIASES = {
    "patients": {"patients", "patient", "patientdetails", "mothers"},
    "deliveries": {"deliveries", "delivery", "deliverydetails", "births"},
    "followups": {"followups", "followup", "followupvisits", "visits", "pncvisits"},
}

# Common clinical spellings of a column, beyond the field name itself (normalised: see `header_key`).
COLUMN_ALIASES = {
    "patients": {
        "patient_id": {"id", "patientno", "patientnumber", "hospitalid", "hospitalno"},
        "name": {"patientname", "fullname"},
        "height_cm": {"height"},
        "weight_kg": {"weight"},
        "education_level": {"education", "educationcode"},
        "monthly_income": {"income", "householdincome"},
        "age_at_menarche": {"menarche", "menarcheage"},
        "age_at_marriage": {"marriageage", "ageofmarriage"},
        "age_at_first_pregnancy": {"firstpregnancyage", "ageoffirstpregnancy"},
        "district": {"districtname"},
        "village": {"villagename", "address"},
        "condition": {"conditions", "medicalcondition", "medicalconditions"},
    },
    "deliveries": {
        "patient_id": {"id", "patientno", "patientnumber", "hospitalid"},
        "date_of_delivery": {"deliverydate", "date", "dateofbirth", "birthdate"},
        "age_at_delivery": {"age", "maternalage"},
        "weight_at_delivery": {"weight", "weightkg", "maternalweight"},
        "haemoglobin_at_delivery": {
            "hb", "hbatdelivery", "haemoglobin", "hemoglobin", "hemoglobinatdelivery", "hbgdl",
        },
        "placental_weight": {"placentaweight", "placenta", "placentalweightg"},
        "term_of_delivery": {"term", "deliveryterm", "gestation"},
        "type_of_delivery": {"deliverytype", "type", "modeofdelivery", "mode", "deliverymode"},
    },
    "followups": {
        "patient_id": {"id", "patientno", "patientnumber", "hospitalid"},
        "visit_number": {"visit", "visitno", "followupnumber", "followupno"},
        "visit_date": {"date", "followupdate", "dateofvisit"},
        "bp_systolic": {"systolic", "systolicbp", "sbp", "systolicbloodpressure"},
        "bp_diastolic": {"diastolic", "diastolicbp", "dbp", "diastolicbloodpressure"},
        "weight_kg": {"weight"},
        "haemoglobin_g_dl": {"hb", "haemoglobin", "hemoglobin", "hbgdl", "hemoglobingdl"},
        "diagnosis": {"dx", "diagnoses"},
    },
}  # fmt: skip


def header_key(text):
    """Case, spaces, punctuation and units in brackets ignored: "Height (cm)" -> "height"."""
    text = re.sub(r"\(.*?\)|\[.*?\]", "", str(text).lower())
    return re.sub(r"[^a-z0-9]", "", text)


def sheet_kind(title):
    """Which of the three sheets a tab's title means ("Follow Ups" -> "followups"), or None."""
    key = header_key(title)
    return next((kind for kind, aliases in SHEET_ALIASES.items() if key in aliases), None)


def column_lookup(kind):
    """Normalised header -> field name, for one kind of sheet."""
    lookup = {header_key(column): column for column in SHEET_COLUMNS[kind]}
    for column, aliases in COLUMN_ALIASES[kind].items():
        lookup.update(dict.fromkeys(aliases, column))
    return lookup


# Lookups that turn a model's foreign keys into the workbook's readable columns.
_PATIENT_VALUES = [c if c != "district" else "district__name" for c in PATIENT_COLUMNS]
_RECORD_VALUES = {
    "deliveries": ["patient__patient_id"] + DELIVERY_COLUMNS[1:],
    "followups": ["patient__patient_id"] + FOLLOWUP_COLUMNS[1:],
}


def write_workbook(target, patients=None):
    """Write the patients (a queryset; all by default) with their deliveries and follow-ups.

    `target` is a path or a binary file. Streams rows (openpyxl write-only), so memory stays flat.
    Returns the number of rows written, over all sheets.
    """
    patients = Patient.objects.all() if patients is None else patients
    workbook = Workbook(write_only=True)
    sheets = [
        ("patients", PATIENT_COLUMNS, patients.order_by("patient_id").values_list(*_PATIENT_VALUES)),
        ("deliveries", DELIVERY_COLUMNS, Delivery.objects.filter(patient__in=patients)
         .order_by("patient__patient_id", "date_of_delivery").values_list(*_RECORD_VALUES["deliveries"])),
        ("followups", FOLLOWUP_COLUMNS, FollowUp.objects.filter(patient__in=patients)
         .order_by("patient__patient_id", "visit_number").values_list(*_RECORD_VALUES["followups"])),
    ]  # fmt: skip
    written = 0
    for title, columns, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append(columns)
        for row in rows.iterator(chunk_size=5000):
            sheet.append(text_cells(sheet, row))
            written += 1
    workbook.save(target)
    return written
