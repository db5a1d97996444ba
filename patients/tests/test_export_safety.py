"""Every export that writes a spreadsheet, of records holding text a spreadsheet would run as a
formula or that XML cannot hold: each still answers, formula-like text stays text, numbers stay
numbers (patients.spreadsheet holds the rule)."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from openpyxl import Workbook

from patients.models import District, FollowUp, Patient
from patients.spreadsheet import csv_cells, text_cells
from patients.tests.factories import make_district, make_followup, make_patient
from patients.tests.workbooks import PATIENT_HEADER, patient_row

pytestmark = pytest.mark.django_db

# Text a spreadsheet would run, as OWASP lists the triggers: each is exported exactly as stored.
FORMULAS = [
    "==1+1",
    '==HYPERLINK("https://evil.example/","open")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1+1",
]
# Stored diagnosis -> exported diagnosis: characters XML 1.0 cannot hold are dropped.
DIAGNOSES = {
    **{text: text for text in FORMULAS},
    "mild\x0b anaemia": "mild anaemia",
    "iron\ufffe started": "iron started",
    "\x0b=1+1": "=1+1",
}
CONDITION = '=HYPERLINK("https://evil.example/","anaemia")'


@pytest.fixture
def stored():
    """One high-risk patient (her condition names anaemia) whose text was stored before any entry
    point refused such characters: written with update(), past every validator."""
    patient = make_patient(patient_id="H1", district=make_district("Kaski"), condition=CONDITION,
                           village="@SUM(1+1)", monthly_income=Decimal("2500.50"))  # fmt: skip
    for visit_number, diagnosis in enumerate(DIAGNOSES, start=1):
        make_followup(patient, visit_number=visit_number, haemoglobin_g_dl=haemoglobin(visit_number))
        FollowUp.objects.filter(patient=patient, visit_number=visit_number).update(diagnosis=diagnosis)
    Patient.objects.filter(pk=patient.pk).update(name="Sita\x01 Gurung")
    District.objects.filter(pk=patient.district_id).update(name="Kas\x01ki")
    return patient


def haemoglobin(visit_number):
    return 10 + visit_number / 4


def rows_of(sheet):
    """A sheet's rows as {header: cell}."""
    header, *rows = sheet.iter_rows()
    names = [cell.value for cell in header]
    return [dict(zip(names, row, strict=True)) for row in rows]


def check_patient_cells(rows):
    (row,) = rows
    assert (row["name"].value, row["district"].value) == ("Sita Gurung", "Kaski")
    for column, text in (("condition", CONDITION), ("village", "@SUM(1+1)")):
        assert (row[column].value, row[column].data_type) == (text, "s"), column
    for column, number in (("height_cm", 152.0), ("monthly_income", 2500.5), ("age_at_marriage", 19)):
        assert (row[column].value, row[column].data_type) == (number, "n"), column


def check_followup_cells(rows):
    diagnoses = {row["visit_number"].value: row["diagnosis"] for row in rows}
    assert {number: cell.value for number, cell in diagnoses.items()} == dict(enumerate(DIAGNOSES.values(), start=1))
    assert {cell.data_type for cell in diagnoses.values()} == {"s"}
    for row in rows:
        assert row["visit_number"].data_type == "n"
        hb = row["haemoglobin_g_dl"]
        assert (hb.value, hb.data_type) == (haemoglobin(row["visit_number"].value), "n")
        assert (row["bp_systolic"].value, row["bp_systolic"].data_type) == (115, "n")


def quoted(text):
    """The OWASP escape for csv: a leading apostrophe before text a spreadsheet would run."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def admin_export(client, model, file_format):
    url = reverse(f"admin:patients_{model}_export")
    form = client.get(url).context["form"]
    chosen = next(index for index, title in form.fields["format"].choices if title == file_format)
    columns = {name: "on" for name in form.fields if name.startswith(f"{model}resource_")}
    return client.post(url, {"resource": "0", "format": chosen, **columns})


# --- The rule itself ------------------------------------------------------------------------------


def written_and_read_back(values):
    """`values` through text_cells into a real xlsx file, and its cells read back."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("rule")
    sheet.append(text_cells(sheet, values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return list(openpyxl.load_workbook(buffer)["rule"].iter_rows())[0]


@pytest.mark.parametrize("text", [*FORMULAS, "=1+1", "+1", "-", "@", "\r=1+1"])
def test_formula_like_text_is_a_text_cell_in_xlsx_and_quoted_in_csv(text):
    (cell,) = written_and_read_back([text])
    assert cell.data_type == "s"
    if "\r" not in text:  # XML reads a carriage return back as a line feed
        assert cell.value == text
    buffer = io.StringIO()
    csv.writer(buffer).writerow(csv_cells([text]))
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'" + text]


def test_numbers_stay_numbers_even_negative_ones():
    values = [-3, 2.5, Decimal("-1.50"), 0]
    assert [(cell.value, cell.data_type) for cell in written_and_read_back(values)] == [
        (-3, "n"), (2.5, "n"), (-1.5, "n"), (0, "n")]  # fmt: skip
    assert csv_cells(values) == values
    assert csv_cells(["-3"]) == ["'-3"]  # text that looks like a number is still text


def test_characters_xml_cannot_hold_are_dropped_and_the_rest_kept():
    text = "a\x00b\x08c\x0bd\x0ce\x1ff\ud800g\udfffh\ufffei\uffffj"
    (cell,) = written_and_read_back([text])
    assert cell.value == "abcdefghij"
    assert csv_cells([text]) == ["abcdefghij"]
    kept = "tab\there, line\nbreak, ü, 中文, \U0001f600"
    assert [cell.value for cell in written_and_read_back([kept])] == [kept]
    assert csv_cells([kept]) == [kept]


# --- Every export, through its real entry point ---------------------------------------------------


def test_the_admin_export_workbook_answers(client, data_manager, stored):
    client.force_login(data_manager)
    response = client.get(reverse("admin:patients_patient_export_workbook"))
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.getvalue()))
    check_patient_cells(rows_of(workbook["patients"]))
    check_followup_cells(rows_of(workbook["followups"]))


def test_manage_py_export_workbook_writes_the_file(tmp_path, stored):
    call_command("export_workbook", str(tmp_path / "all.xlsx"), stdout=io.StringIO())
    workbook = openpyxl.load_workbook(tmp_path / "all.xlsx")
    check_patient_cells(rows_of(workbook["patients"]))
    check_followup_cells(rows_of(workbook["followups"]))


def test_the_admin_single_sheet_xlsx_exports_answer(client, data_manager, stored):
    client.force_login(data_manager)
    for model, check in (("patient", check_patient_cells), ("followup", check_followup_cells)):
        response = admin_export(client, model, "xlsx")
        assert response.status_code == 200, model
        assert response["Content-Disposition"].startswith("attachment"), response.content[:300]
        check(rows_of(openpyxl.load_workbook(io.BytesIO(response.getvalue())).active))


def test_the_admin_single_sheet_csv_exports_quote_formula_like_text(client, data_manager, stored):
    client.force_login(data_manager)
    response = admin_export(client, "patient", "csv")
    assert response.status_code == 200
    (patient,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert (patient["name"], patient["district"]) == ("Sita Gurung", "Kaski")
    assert (patient["condition"], patient["village"]) == (quoted(CONDITION), "'@SUM(1+1)")
    assert (patient["height_cm"], patient["monthly_income"]) == ("152.0", "2500.50")  # numbers are not quoted

    response = admin_export(client, "followup", "csv")
    assert response.status_code == 200
    followups = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["visit_number"]: row["diagnosis"] for row in followups} == {
        str(number): quoted(text) for number, text in enumerate(DIAGNOSES.values(), start=1)
    }
    assert {row["visit_number"]: row["haemoglobin_g_dl"] for row in followups} == {
        str(number): str(haemoglobin(number)) for number in range(1, len(DIAGNOSES) + 1)
    }


def test_an_admin_csv_export_imports_back_unchanged(client, data_manager):
    patient = make_patient(patient_id="R1")
    formulas = [text for text in FORMULAS if not text[0].isspace()]  # the import trims spaces and tabs
    for visit_number, diagnosis in enumerate(formulas, start=1):
        make_followup(patient, visit_number=visit_number, diagnosis=diagnosis)
    client.force_login(data_manager)
    exported = admin_export(client, "followup", "csv").content

    url = reverse("admin:patients_followup_import")
    form = client.get(url).context["form"]
    chosen = next(index for index, title in form.fields["format"].choices if title == "csv")
    confirm = client.post(url, {"import_file": SimpleUploadedFile("followups.csv", exported), "format": chosen})
    assert confirm.status_code == 200
    result = confirm.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["skip"] == len(formulas)  # the apostrophes came off: nothing changed
    response = client.post(reverse("admin:patients_followup_process_import"), confirm.context["confirm_form"].initial)
    assert response.status_code == 302
    assert list(patient.followups.order_by("visit_number").values_list("diagnosis", flat=True)) == formulas


def test_the_high_risk_downloads_answer(client, clinician, stored):
    client.force_login(clinician)
    response = client.get(reverse("insights:high_risk"), {"format": "xlsx"})
    assert response.status_code == 200
    (row,) = rows_of(openpyxl.load_workbook(io.BytesIO(response.getvalue())).active)
    assert (row["Patient ID"].value, row["Name"].value, row["District"].value) == ("H1", "Sita Gurung", "Kaski")
    assert (row["Condition"].value, row["Condition"].data_type) == (CONDITION, "s")
    latest = haemoglobin(len(DIAGNOSES))
    assert (row["Haemoglobin (g/dL)"].value, row["Haemoglobin (g/dL)"].data_type) == (latest, "n")

    response = client.get(reverse("insights:high_risk"), {"format": "csv"})
    assert response.status_code == 200
    (row,) = csv.DictReader(io.StringIO(response.getvalue().decode()))
    assert (row["Name"], row["District"], row["Condition"]) == ("Sita Gurung", "Kaski", quoted(CONDITION))
    assert row["Haemoglobin (g/dL)"] == str(latest)


def test_manage_py_export_insights_writes_the_file(tmp_path, stored):
    call_command("export_insights", "--out", str(tmp_path / "insights.xlsx"), "--district", "Kas\x01ki",
                 stdout=io.StringIO())  # fmt: skip
    workbook = openpyxl.load_workbook(tmp_path / "insights.xlsx")
    assert workbook["about"]["B2"].value == "district Kaski"
    (row,) = rows_of(workbook["high-risk patients"])
    assert (row["Name"].value, row["District"].value) == ("Sita Gurung", "Kaski")
    assert (row["Condition"].value, row["Condition"].data_type) == (CONDITION, "s")
    (row,) = rows_of(workbook["district metrics"])
    assert (row["District"].value, row["Patients (n)"].value, row["Patients (n)"].data_type) == ("Kaski", 1, "n")


def error_workbook(client, tmp_path, settings, header, row):
    """The admin's workbook of invalid rows, for an uploaded patients sheet of `header` and `row`;
    formula-like text in them is stored as a string cell, as a spreadsheet program would."""
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "patients"
    for values in (header, row):
        sheet.append(values)
    for cell in (*sheet[1], *sheet[2]):
        if isinstance(cell.value, str):
            cell.data_type = "s"
    workbook.save(tmp_path / "register.xlsx")
    upload = SimpleUploadedFile("register.xlsx", (tmp_path / "register.xlsx").read_bytes())
    preview_url = client.post(reverse("admin:patients_patient_import_workbook"), {"workbook": upload}).url
    token = preview_url.rstrip("/").split("/")[-1]
    return client.get(reverse("admin:patients_patient_import_workbook_errors", args=[token]))


def test_the_import_error_workbook_answers(client, data_manager, tmp_path, settings):
    # A spreadsheet program stores a control character as _x0001_; the reader gives it back.
    row = patient_row("P1", name="Sita_x0001_ Gurung", condition=CONDITION, village="@SUM(1+1)", height_cm=9999)
    client.force_login(data_manager)
    response = error_workbook(client, tmp_path, settings, PATIENT_HEADER, row)
    assert response.status_code == 200
    (row,) = rows_of(openpyxl.load_workbook(io.BytesIO(response.getvalue()))["patients"])
    assert row["name"].value == "Sita Gurung"
    assert (row["condition"].value, row["condition"].data_type) == (CONDITION, "s")
    assert (row["village"].value, row["village"].data_type) == ("@SUM(1+1)", "s")
    assert (row["height_cm"].value, row["height_cm"].data_type) == (9999, "n")


def test_the_import_error_workbook_writes_headers_as_text(client, data_manager, tmp_path, settings):
    # Brackets are ignored when a header is matched, so this header still means "name".
    header = ['=name(HYPERLINK("https://evil.example/","open"))' if h == "name" else h for h in PATIENT_HEADER]
    client.force_login(data_manager)
    response = error_workbook(client, tmp_path, settings, header, patient_row("P1", height_cm=9999))
    assert response.status_code == 200
    cells = next(openpyxl.load_workbook(io.BytesIO(response.getvalue()))["patients"].iter_rows())
    assert [(cell.value, cell.data_type) for cell in cells if cell.value.startswith("=")] == [(header[1], "s")]
