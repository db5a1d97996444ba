"""Tables downloaded from the dashboard, as xlsx or csv."""

from django.http import HttpResponse

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
