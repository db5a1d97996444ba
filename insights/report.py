"""Every insight as a workbook, one sheet per table, for analysts who live in Excel."""

from openpyxl import Workbook

from insights import queries
from patients.spreadsheet import text_cells


def report_sheets(district=None, date_from=None, date_to=None):
    """(sheet name, rows as dicts) for every table the insights produce, in reading order."""
    filters = {"district": district, "date_from": date_from, "date_to": date_to}
    trends = queries.trends(**filters)
    outcomes = queries.delivery_outcomes(**filters)
    effect = queries.followup_effect(**filters)
    chi_square = outcomes["chi_square"]
    high_risk = [{**row, "reasons": ", ".join(row["reasons"])} for row in queries.high_risk_patients(**filters)]
    return [
        ("district metrics", queries.district_metrics(**filters)),
        ("average weight", queries.average_weight_by_district(**filters)),
        ("high-risk patients", high_risk),
        ("trends by visit", trends["by_visit"]),
        ("trends by month", trends["by_month"]),
        ("change first to latest", [trends["change"]]),
        ("delivery outcomes", outcomes["by_delivery_type"]),
        ("chi-square", [chi_square] if chi_square else []),
        ("follow-up count", effect["by_followup_count"]),
        ("follow-up timing", effect["by_first_followup_timing"]),
        ("anomalies", queries.anomalies(**filters)),
    ]


def write_report(target, district=None, date_from=None, date_to=None, filters_text=""):
    """Write the report to `target` (a path or a binary file): a sheet saying what was asked for,
    then one sheet per table with its column names in the first row."""
    workbook = Workbook(write_only=True)
    about = workbook.create_sheet("about")
    about.append(["Maternal health insights"])
    about.append(text_cells(about, ["Filters", filters_text or "all districts, all dates"]))  # names a district
    sheets = report_sheets(district, date_from, date_to)
    for name, rows in sheets:
        sheet = workbook.create_sheet(name)
        if not rows:
            sheet.append(["(no rows for these filters)"])
            continue
        columns = list(rows[0])
        sheet.append(columns)
        for row in rows:
            sheet.append(text_cells(sheet, [row[column] for column in columns]))
    workbook.save(target)
    return sheets
