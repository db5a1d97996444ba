"""
The workbook format: three sheets, `patients`, `deliveries` and `followups`, whose column headers
are the models' field names (the original prototype's). Export writes it; import reads it.
"""

from openpyxl import Workbook

from patients.models import Delivery, FollowUp, Patient

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

# Lookups that turn a model's foreign keys into the workbook's readable columns.
_PATIENT_VALUES = [c if c != "district" else "district__name" for c in PATIENT_COLUMNS]
_RECORD_VALUES = {
    "deliveries": ["patient__patient_id"] + DELIVERY_COLUMNS[1:],
    "followups": ["patient__patient_id"] + FOLLOWUP_COLUMNS[1:],
}


def _safe(value):
    # A text cell that starts like a formula would run as one in a spreadsheet (CSV/formula injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def write_workbook(target, patients=None):
    """Write the patients (a queryset; all by default) with their deliveries and follow-ups.

    `target` is a path or a binary file. Streams rows (openpyxl write-only), so memory stays flat.
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
    for title, columns, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append(columns)
        for row in rows.iterator(chunk_size=5000):
            sheet.append([_safe(value) for value in row])
    workbook.save(target)
