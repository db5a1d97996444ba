"""
What every spreadsheet we write does with text, in one place: the workbook export (admin and
`manage.py export_workbook`), the import's error workbook, the high-risk download, `manage.py
export_insights`, and the admin's single-sheet export (the django-import-export formats below).

- Text a spreadsheet would run as a formula (CSV injection: text starting with = + - @, a tab or a
  carriage return, the triggers OWASP lists) is written as text. In xlsx it is a string cell, which
  no spreadsheet runs and which reads back exactly as stored. In csv, where every cell is text until
  a spreadsheet guesses, it gets the leading apostrophe OWASP recommends: spreadsheets show the cell
  as text. Our csv import (the CSV format below) takes that apostrophe off again, so a sheet of
  corrections exported, edited and imported comes back unchanged.
- Numbers stay numbers (int, float, Decimal): numeric cells in xlsx, bare in csv; -3 is a number.
- Characters XML 1.0 cannot hold (patients/text.py: control characters but tab, line feed and
  carriage return; lone surrogates; U+FFFE and U+FFFF) are dropped from text. openpyxl refuses them, or writes a file
  nothing opens, and one such record stored before the forms refused them must not break an export.
"""

import csv
import io

import tablib
from django.conf import settings
from import_export.formats import base_formats
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from patients.text import strip_control_characters
from patients.workbook_guard import Extent, check_workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value):
    """Whether a spreadsheet would run `value` as a formula (a number never is, -3 included)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _cleaned(value):
    return strip_control_characters(value) if isinstance(value, str) else value


def text_cells(sheet, row):
    """`row`'s values for `sheet.append` on an openpyxl write-only sheet, by the rule above:
    formula-like text becomes a string cell (openpyxl would make it a formula)."""
    cells = []
    for value in map(_cleaned, row):
        if is_formula_like(value):
            value = WriteOnlyCell(sheet, value)
            value.data_type = "s"
        cells.append(value)
    return cells


def csv_cells(row):
    """`row`'s values for a csv writer, by the rule above: formula-like text behind an apostrophe."""
    return ["'" + value if is_formula_like(value) else value for value in map(_cleaned, row)]


def write_xlsx(target, title, header, rows):
    """Write a workbook of one sheet, `title`, with `header` and then `rows` (any iterable: openpyxl's
    write-only mode writes each row out as it comes, so a long list needs no more memory than a short
    one) to `target`, a path or a binary file."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(text_cells(sheet, header))
    for row in rows:
        sheet.append(text_cells(sheet, row))
    workbook.save(target)


def xlsx_bytes(title, header, rows):
    """A workbook of one sheet, `title`, with `header` and then `rows`."""
    buffer = io.BytesIO()
    write_xlsx(buffer, title, header, rows)
    return buffer.getvalue()


class _Line:
    """A file for csv.writer that hands back each line instead of keeping it."""

    def write(self, line):
        return line


def csv_lines(header, rows):
    """A csv file's lines, one at a time, as they are read (a streaming response): `header`, then `rows`."""
    writer = csv.writer(_Line())
    yield writer.writerow(csv_cells(header))
    for row in rows:
        yield writer.writerow(csv_cells(row))


def csv_text(header, rows):
    """A csv file's text: `header`, then `rows`."""
    return "".join(csv_lines(header, rows))


def _unquoted(value):
    """A csv cell as it was before csv_cells quoted it."""
    if isinstance(value, str) and value.startswith("'") and is_formula_like(value[1:]):
        return value[1:]
    return value


# The admin's single-sheet import and export (django-import-export) in these formats: its own
# escaping (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT) only drops a leading "=", so "==1+1" is still
# a formula, csv's + - @ are left alone, and every number becomes text.


class XLSX(base_formats.XLSX):
    """django-import-export's xlsx, written by the rule above, and read only once the file has kept
    the limits of patients/workbook_guard.py (openpyxl pads each row to the sheet's declared width)."""

    def create_dataset(self, in_stream):
        # Raises WorkbookRefused, which the admin shows as it is. openpyxl and tablib build a Python
        # object per cell: this path takes a sheet of corrections, far smaller than a register.
        extent = Extent(rows=settings.IMPORT_MAX_ROWS, cells=settings.IMPORT_SINGLE_SHEET_MAX_CELLS)
        check_workbook(io.BytesIO(in_stream), extent)
        return super().create_dataset(in_stream)

    def export_data(self, dataset, **kwargs):
        return xlsx_bytes(dataset.title or "export", dataset.headers or [], dataset)


class CSV(base_formats.CSV):
    """django-import-export's csv, written by the rule above and read back without its apostrophes."""

    def export_data(self, dataset, **kwargs):
        return csv_text(dataset.headers or [], dataset)

    def create_dataset(self, in_stream, **kwargs):
        dataset = super().create_dataset(in_stream, **kwargs)
        return tablib.Dataset(*([_unquoted(value) for value in row] for row in dataset), headers=dataset.headers)
