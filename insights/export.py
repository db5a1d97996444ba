"""Tables downloaded from the dashboard, as xlsx or csv, written as their rows are read."""

import tempfile

from django.http import FileResponse, StreamingHttpResponse

from patients import labels
from patients.spreadsheet import csv_lines, write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(header, rows, name, file_format):
    """A download of `rows` (lists of values in `header`'s order; any iterable, read once) as a csv
    file or an xlsx workbook, in memory that does not grow with the rows. A csv is sent line by line
    as the rows are read. An xlsx is a zip whose index comes last: its rows go to a temporary file
    as they are read, and the file is sent from there. Formula-like text is written as text and
    numbers as numbers (patients.spreadsheet)."""
    if file_format == "csv":
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    workbook = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it, and the file is gone)
    write_xlsx(workbook, name[:31], header, rows)
    workbook.seek(0)
    return FileResponse(workbook, as_attachment=True, filename=f"{name}.xlsx", content_type=XLSX)


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
HIGH_RISK_HEADER = [heading for heading, _ in HIGH_RISK_DOWNLOAD]


def high_risk_cells(rows):
    """High-risk rows (insights.queries) as download rows, in HIGH_RISK_HEADER's order, one by one."""
    for row in rows:
        yield [value(row) for _, value in HIGH_RISK_DOWNLOAD]
