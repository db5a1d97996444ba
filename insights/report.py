"""Every insight as a workbook, one sheet per table, for analysts who live in Excel.

Analysts read it as people do the pages: headers in words with units (patients.labels.column),
codes in words (a high-risk patient's reasons also as codes, in a column of their own), and each
rate a number shown as a percentage, beside the counts it comes from.
"""

import itertools
from typing import NamedTuple

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from insights import queries
from insights.export import HIGH_RISK_HEADER, high_risk_cells
from patients import labels
from patients.spreadsheet import text_cells

PERCENT_FORMAT = "0.0%"


class Sheet(NamedTuple):
    name: str
    header: list  # in words
    rows: list  # lists of values, in the header's order (an iterator, read once, for the long list)
    rates: frozenset = frozenset()  # the positions of the columns of rates (fractions, shown as percentages)


def _sheet(name, rows, leave_out=()):
    """A Sheet of an insight's rows (dicts): every column but `leave_out`, headed and valued in words."""
    keys = [key for key in rows[0] if key not in leave_out] if rows else []
    return Sheet(
        name,
        [labels.column(key) for key in keys],
        [[labels.cell_words(row, key) for key in keys] for row in rows],
        frozenset(position for position, key in enumerate(keys) if key in labels.RATES),
    )


def report_sheets(district=None, date_from=None, date_to=None):
    """A Sheet for every table the insights produce, in reading order."""
    filters = {"district": district, "date_from": date_from, "date_to": date_to}
    trends = queries.trends(**filters)
    outcomes = queries.delivery_outcomes(**filters)
    effect = queries.followup_effect(**filters)
    chi_square = outcomes["chi_square"]
    # The high-risk list as the dashboard downloads it: reasons in words, and their codes beside them;
    # its rows read as they are written (the longest list by far).
    high_risk = Sheet(
        "high-risk patients", HIGH_RISK_HEADER, high_risk_cells(queries.stream_high_risk_patients(**filters))
    )
    return [
        _sheet("district metrics", queries.district_metrics(**filters)),
        _sheet("average weight", queries.average_weight_by_district(**filters)),
        high_risk,
        _sheet("trends by visit", trends["by_visit"]),
        _sheet("trends by month", trends["by_month"]),
        _sheet("change first to latest", [trends["change"]]),
        # The delivery type in words is its "label" too: one column of it is enough.
        _sheet("delivery outcomes", outcomes["by_delivery_type"], leave_out=["label"]),
        _sheet("chi-square", [chi_square] if chi_square else []),
        _sheet("follow-up count", effect["by_followup_count"]),
        _sheet("follow-up timing", effect["by_first_followup_timing"]),
        _sheet("anomalies", queries.anomalies(**filters)),
    ]


def _cells(sheet, values, rates):
    """A row's cells for a write-only sheet: text as patients.spreadsheet.text_cells writes it, and
    the rates as percentages."""
    cells = text_cells(sheet, values)
    for position in rates:
        if isinstance(cells[position], float | int):
            cells[position] = WriteOnlyCell(sheet, cells[position])
            cells[position].number_format = PERCENT_FORMAT
    return cells


def write_report(target, district=None, date_from=None, date_to=None, filters_text=""):
    """Write the report to `target` (a path or a binary file): a sheet saying what was asked for,
    then one sheet per table with its column headings in the first row."""
    workbook = Workbook(write_only=True)
    about = workbook.create_sheet("about")
    about.append(["Maternal health insights"])
    about.append(text_cells(about, ["Filters", filters_text or "all districts, all dates"]))  # names a district
    sheets = report_sheets(district, date_from, date_to)
    for name, header, rows, rates in sheets:
        sheet = workbook.create_sheet(name)
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            sheet.append(["(no rows for these filters)"])
            continue
        sheet.append(header)
        for row in itertools.chain([first], rows):
            sheet.append(_cells(sheet, row, rates))
    workbook.save(target)
    return sheets
