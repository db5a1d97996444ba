"""Tables downloaded from the dashboard, as xlsx or csv."""

from django.http import HttpResponse

from patients import labels
from patients.spreadsheet import csv_text, xlsx_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _flat(value):
    return ", ".join(value) if isinstance(value, list) else value


def export_rows(rows, columns, name, file_format):
    """A download of `rows` (dicts) with `columns`, as an xlsx workbook or a csv file. Formula-like
    text is written as text and numbers as numbers (patients.spreadsheet)."""
    table = [[_flat(row[column]) for column in columns] for row in rows]
    if file_format == "csv":
        response = HttpResponse(csv_text(columns, table), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(xlsx_bytes(name[:31], columns, table), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}.{file_format}"'
    return response


# The high-risk list's columns in every download (the page's xlsx and csv, the insights workbook):
# (heading in words, the row's value). Codes keep a column of their own for the systems that read them.
HIGH_RISK_DOWNLOAD = [
    ("Priority", lambda row: row["priority"]),
    ("Priority in words", lambda row: row["priority_label"]),
    ("Patient ID", lambda row: row["patient_id"]),
    ("Name", lambda row: row["name"]),
    ("District", lambda row: row["district"]),
    ("Reasons", lambda row: "; ".join(row["reason_labels"])),
    ("Haemoglobin (g/dL)", lambda row: row["haemoglobin_g_dl"]),
    ("Haemoglobin date", lambda row: row["haemoglobin_date"]),
    ("Anaemia", lambda row: labels.words(row["severity"], "severity")),
    ("Systolic BP (mmHg)", lambda row: row["bp_systolic"]),
    ("Diastolic BP (mmHg)", lambda row: row["bp_diastolic"]),
    ("Blood pressure date", lambda row: row["bp_date"]),
    ("Blood pressure", lambda row: labels.words(row["bp_band"], "bp_band")),
    ("Latest delivery", lambda row: labels.words(row["delivery_type"], "delivery_type")),
    ("Condition", lambda row: row["condition"]),
    ("Reason codes", lambda row: ", ".join(row["reasons"])),
]
