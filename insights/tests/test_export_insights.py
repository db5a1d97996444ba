"""manage.py export_insights: every insight in a workbook that opens in a spreadsheet."""

import datetime

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from insights import queries
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

pytestmark = pytest.mark.django_db

SHEETS = [
    "about", "district metrics", "average weight", "high-risk patients", "trends by visit", "trends by month",
    "change first to latest", "delivery outcomes", "chi-square", "follow-up count", "follow-up timing", "anomalies",
]  # fmt: skip


@pytest.fixture
def records():
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    for n in range(8):
        patient = make_patient(patient_id=f"X{n}", district=kaski if n % 2 else jhapa, weight_kg=50 + n,
                               condition="=HYPERLINK(\"http://example.com\")" if n == 0 else "anaemia")  # fmt: skip
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n, 3), haemoglobin_at_delivery=9 + n / 2,
                      type_of_delivery="c_section" if n % 3 == 0 else "normal")  # fmt: skip
        make_followup(patient, visit_date=datetime.date(2024, 10, 1), haemoglobin_g_dl=10 + n / 4)


def sheet_rows(path, name):
    return list(openpyxl.load_workbook(path, read_only=True)[name].values)


def test_every_table_gets_a_sheet_with_the_query_functions_numbers(records, tmp_path):
    path = tmp_path / "report.xlsx"
    call_command("export_insights", out=str(path))
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == SHEETS
    header, *rows = sheet_rows(path, "district metrics")
    expected = queries.district_metrics()
    assert [dict(zip(header, row, strict=True)) for row in rows] == expected
    header, *rows = sheet_rows(path, "high-risk patients")
    assert len(rows) == 8 and "reasons" in header
    assert sheet_rows(path, "about")[1] == ("Filters", "all districts, all dates")


def test_text_that_looks_like_a_formula_stays_text(records, tmp_path):
    path = tmp_path / "report.xlsx"
    call_command("export_insights", out=str(path))
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["high-risk patients"]
    header = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("condition") + 1)
    assert cell.value == '=HYPERLINK("http://example.com")' and cell.data_type == "s"


def test_filters_narrow_every_sheet(records, tmp_path):
    path = tmp_path / "kaski.xlsx"
    call_command("export_insights", out=str(path), district="kaski", date_from="2024-03-01", date_to="2024-12-31")
    header, *rows = sheet_rows(path, "district metrics")
    assert [row[0] for row in rows] == ["Kaski"]
    assert sheet_rows(path, "about")[1][1] == "district Kaski, records from 2024-03-01 to 2024-12-31"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"district": "Nowhere"}, "No district called 'Nowhere'"),
        ({"date_from": "March"}, "'March' is not a date"),
        ({"date_from": "2024-05-01", "date_to": "2024-01-01"}, "is after --to"),
    ],
)
def test_bad_options_are_named(records, tmp_path, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_insights", out=str(tmp_path / "r.xlsx"), **options)
    assert not (tmp_path / "r.xlsx").exists()
