"""Tables downloaded from the dashboard, as xlsx or csv."""

import csv
import io

from django.http import HttpResponse
from openpyxl import Workbook

from patients.workbook import text_cells

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); such text is
# written with a leading apostrophe, which spreadsheets show as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _flat(value):
    return ", ".join(value) if isinstance(value, list) else value


def export_rows(rows, columns, name, file_format):
    """A download of `rows` (dicts) with `columns`, as an xlsx workbook or a csv file."""
    table = [[_flat(row[column]) for column in columns] for row in rows]
    if file_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([[_csv_safe(value) for value in row] for row in table])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(name[:31])
        sheet.append(columns)
        for row in table:
            sheet.append(text_cells(sheet, row))
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response["Content-Disposition"] = f'attachment; filename="{name}.{file_format}"'
    return response
