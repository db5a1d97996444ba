"""Build real xlsx files for import tests (openpyxl, as a spreadsheet application would save them)."""

from openpyxl import Workbook

PATIENT_HEADER = ["patient_id", "name", "district", "village", "height_cm", "weight_kg", "age_at_menarche",
                  "age_at_marriage", "age_at_first_pregnancy", "condition"]  # fmt: skip
DELIVERY_HEADER = ["patient_id", "date_of_delivery", "type_of_delivery", "term_of_delivery", "haemoglobin_at_delivery"]
FOLLOWUP_HEADER = ["patient_id", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp_systolic",
                   "bp_diastolic", "diagnosis"]  # fmt: skip


def patient_row(patient_id="P001", **overrides):
    row = {"patient_id": patient_id, "name": "Sita Gurung", "district": "Kaski", "village": "Deurali",
           "height_cm": 152, "weight_kg": 50.5, "age_at_menarche": 13, "age_at_marriage": 19,
           "age_at_first_pregnancy": 20, "condition": ""}  # fmt: skip
    row.update(overrides)
    return [row[column] for column in PATIENT_HEADER]


def delivery_row(patient_id="P001", **overrides):
    row = {"patient_id": patient_id, "date_of_delivery": "2024-03-12", "type_of_delivery": "NVD",
           "term_of_delivery": "term", "haemoglobin_at_delivery": 10.8}  # fmt: skip
    row.update(overrides)
    return [row[column] for column in DELIVERY_HEADER]


def followup_row(patient_id="P001", visit_number=1, **overrides):
    row = {"patient_id": patient_id, "visit_number": visit_number, "visit_date": "2024-03-20", "weight_kg": 55,
           "haemoglobin_g_dl": 10.9, "bp_systolic": 118, "bp_diastolic": 76, "diagnosis": ""}  # fmt: skip
    row.update(overrides)
    return [row[column] for column in FOLLOWUP_HEADER]


def standard_sheets(patients=None, deliveries=None, followups=None):
    return {
        "patients": [PATIENT_HEADER, *(patients if patients is not None else [patient_row()])],
        "deliveries": [DELIVERY_HEADER, *(deliveries if deliveries is not None else [delivery_row()])],
        "followups": [FOLLOWUP_HEADER, *(followups if followups is not None else [followup_row()])],
    }


def make_workbook(path, sheets):
    """Write {sheet title: rows} (the first row is the header) to an xlsx file; return the path."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path
