from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from openpyxl import load_workbook

from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_followup, make_patient
from patients.workbook import DELIVERY_COLUMNS, FOLLOWUP_COLUMNS, PATIENT_COLUMNS, write_workbook

FIXTURES = Path(settings.BASE_DIR) / "fixtures"


def read_sheets(path):
    workbook = load_workbook(path, read_only=True)
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook}


@pytest.mark.django_db
def test_demo_json_loads_into_an_empty_database_and_again_without_duplicates():
    call_command("loaddata", FIXTURES / "demo.json", verbosity=0)
    counts = (Patient.objects.count(), Delivery.objects.count(), FollowUp.objects.count())
    assert counts[0] == 25 and counts[1] >= 25 and counts[2] > 0
    call_command("loaddata", FIXTURES / "demo.json", verbosity=0)
    assert (Patient.objects.count(), Delivery.objects.count(), FollowUp.objects.count()) == counts


def test_demo_workbook_has_the_three_sheets_in_the_import_format():
    sheets = read_sheets(FIXTURES / "demo_workbook.xlsx")
    assert list(sheets) == ["patients", "deliveries", "followups"]
    assert sheets["patients"][0] == PATIENT_COLUMNS
    assert sheets["deliveries"][0] == DELIVERY_COLUMNS
    assert sheets["followups"][0] == FOLLOWUP_COLUMNS
    patient_ids = {row[0] for row in sheets["patients"][1:]}
    assert len(patient_ids) == len(sheets["patients"]) - 1 == 200
    assert {row[0] for row in sheets["deliveries"][1:]} <= patient_ids
    assert {row[0] for row in sheets["followups"][1:]} <= patient_ids


@pytest.mark.django_db
def test_export_writes_names_not_keys_and_formula_like_text_as_text(tmp_path):
    patient = make_patient(patient_id="X1", condition='=HYPERLINK("http://evil")')
    make_delivery(patient, type_of_delivery="c_section")
    make_followup(patient, diagnosis="Low Hb")
    make_patient(patient_id="X2")
    path = tmp_path / "export.xlsx"
    write_workbook(path, Patient.objects.filter(patient_id="X1"))

    sheets = read_sheets(path)
    assert [row[0] for row in sheets["patients"][1:]] == ["X1"]
    row = dict(zip(PATIENT_COLUMNS, sheets["patients"][1], strict=True))
    assert row["district"] == "Kaski"
    # Kept as text, not turned into a formula that a spreadsheet would run.
    assert row["condition"] == '=HYPERLINK("http://evil")'
    assert load_workbook(path)["patients"]["N2"].data_type == "s"
    delivery = dict(zip(DELIVERY_COLUMNS, sheets["deliveries"][1], strict=True))
    assert (delivery["patient_id"], delivery["type_of_delivery"]) == ("X1", "c_section")
    assert sheets["followups"][1][0] == "X1" and sheets["followups"][1][-1] == "Low Hb"
