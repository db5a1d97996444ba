"""manage.py export_insights: every insight in a workbook that opens in a spreadsheet."""

import datetime

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from insights import queries
from patients import clinical, labels
from patients.models import Delivery, FollowUp, Patient
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
    expected = [{labels.column(key): value for key, value in row.items()} for row in queries.district_metrics()]
    assert [dict(zip(header, row, strict=True)) for row in rows] == expected
    header, *rows = sheet_rows(path, "high-risk patients")
    assert len(rows) == 8 and header[2:6] == ("Patient ID", "Name", "District", "Reasons")
    assert sheet_rows(path, "about")[1] == ("Filters", "all districts, all dates")


def test_headers_and_codes_are_in_words_and_rates_are_percentages(records, tmp_path):
    make_followup(Patient.objects.get(patient_id="X1"), visit_date=datetime.date(2024, 11, 1),
                  haemoglobin_g_dl=14.5)  # up 4.25 g/dL since her previous visit  # fmt: skip
    path = tmp_path / "report.xlsx"
    call_command("export_insights", out=str(path))
    workbook = openpyxl.load_workbook(path)
    headers = {name: [cell.value for cell in workbook[name][1]] for name in workbook.sheetnames[1:]}
    field_names = {f.name for model in (Patient, Delivery, FollowUp) for f in model._meta.fields if "_" in f.name}
    codes = {*clinical.REASON_CODES, *clinical.RISK_FACTOR_CODES, *field_names, clinical.DISTRICT_SD,
             clinical.VISIT_JUMP, "c_section", "post_term"}  # fmt: skip
    for name, header in headers.items():
        assert not [h for h in header if h in codes or "_" in h], (name, header)
    district = dict(zip(headers["district metrics"], workbook["district metrics"][2], strict=True))
    assert district["Caesarean rate"].number_format == "0.0%" and district["Caesarean deliveries (n)"].value == 2
    assert district["Caesarean rate"].value == 2 / 4  # Jhapa: deliveries of X0, X2, X4, X6; Caesareans X0, X6
    assert "Height below 145 cm (n)" in headers["district metrics"]
    outcomes = [[cell.value for cell in row] for row in workbook["delivery outcomes"].iter_rows(min_row=2)]
    assert [row[0] for row in outcomes] == ["Normal vaginal", "Assisted (vacuum/forceps)", "Caesarean section"]
    anomalies = [dict(zip(headers["anomalies"], [c.value for c in row], strict=True))
                 for row in workbook["anomalies"].iter_rows(min_row=2)]  # fmt: skip
    jump = next(row for row in anomalies if row["Patient ID"] == "X1")
    assert (jump["Record"], jump["Measurement"], jump["Why flagged"]) == (
        "Follow-up", "Haemoglobin (g/dL)", "Large change since the previous visit")  # fmt: skip
    high_risk = [[cell.value for cell in row] for row in workbook["high-risk patients"].iter_rows()]
    reasons, codes_column = high_risk[0].index("Reasons"), high_risk[0].index("Reason codes")
    assert {row[reasons] for row in high_risk[1:]} >= {"Anaemia written in the notes"}
    assert {row[codes_column] for row in high_risk[1:]} >= {"anaemia_keyword"}  # codes in a column of their own


def test_text_that_looks_like_a_formula_stays_text(records, tmp_path):
    path = tmp_path / "report.xlsx"
    call_command("export_insights", out=str(path))
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["high-risk patients"]
    header = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("Condition") + 1)
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
