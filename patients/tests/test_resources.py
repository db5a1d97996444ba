"""Single-sheet import and export with django-import-export, in the workbook's column names."""

import datetime

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from import_export.formats import base_formats

from patients.models import Delivery, District, FollowUp, ImportBatch
from patients.resources import DeliveryResource, FollowUpResource, PatientResource
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.workbook import DELIVERY_COLUMNS, FOLLOWUP_COLUMNS, PATIENT_COLUMNS

pytestmark = pytest.mark.django_db


def test_exports_use_the_workbook_columns_and_natural_keys():
    patient = make_patient(patient_id="E1")
    make_delivery(patient, type_of_delivery="c_section")
    make_followup(patient, diagnosis="Low Hb")
    patients, deliveries, followups = (r().export() for r in (PatientResource, DeliveryResource, FollowUpResource))
    assert patients.headers == PATIENT_COLUMNS and deliveries.headers == DELIVERY_COLUMNS
    assert followups.headers == FOLLOWUP_COLUMNS
    assert dict(zip(patients.headers, patients[0], strict=True))["district"] == "Kaski"
    delivery = dict(zip(deliveries.headers, deliveries[0], strict=True))
    assert (delivery["patient_id"], delivery["date_of_delivery"], delivery["type_of_delivery"]) == (
        "E1", "2024-03-12", "c_section")  # fmt: skip


def test_exported_formulas_are_escaped(settings):
    make_patient(patient_id="E2", condition='=HYPERLINK("http://x","click")')
    exported = base_formats.CSV().export_data(PatientResource().export())
    assert "=HYPERLINK" not in exported.replace("'=HYPERLINK", "")


def test_a_sheet_of_follow_ups_imports_through_the_same_rules(data_manager):
    patient = make_patient(patient_id="S1")
    dataset = tablib.Dataset(headers=FOLLOWUP_COLUMNS)
    dataset.append(["S1", 1, "05/03/2024", 118, 76, "54.5", 10.2, "anaemia"])
    dataset.append(["S1", 2, "2024-04-05", "", "", "", "", ""])
    result = FollowUpResource().import_data(dataset, dry_run=False, file_name="visits.csv", user=data_manager)
    assert not result.has_errors() and not result.has_validation_errors()
    assert patient.followups.get(visit_number=1).visit_date == datetime.date(2024, 3, 5)
    batch = ImportBatch.objects.get()
    assert (batch.source, batch.file_name, batch.counts["followup"]["new"]) == ("admin_sheet", "visits.csv", 2)
    assert set(FollowUp.objects.values_list("import_batch", flat=True)) == {batch.pk}

    again = FollowUpResource().import_data(dataset, dry_run=False, file_name="visits.csv", user=data_manager)
    assert again.totals["skip"] == 2
    assert ImportBatch.objects.count() == 1  # an import that changed nothing is not recorded


def test_bad_rows_are_refused_with_their_reasons_and_nothing_is_written(data_manager):
    make_patient(patient_id="S1")
    dataset = tablib.Dataset(headers=DELIVERY_COLUMNS)
    dataset.append(["S1", "2024-01-01", "", "", 105, "", "term", "LSCS"])
    dataset.append(["NOPE", "2024-01-01", "", "", 10, "", "term", "NVD"])
    dataset.append(["S1", "2024-02-01", "", "", 10, "", "term", "Breech"])
    result = DeliveryResource().import_data(dataset, dry_run=False, use_transactions=True)
    # A bad cell is an "invalid row" (field: messages); an unknown key patient is a row error.
    text = " ".join(str(row.error_dict) for row in result.invalid_rows)
    text += " ".join(str(error.error) for _, errors in result.row_errors() for error in errors)
    assert "looks like g/L" in text
    assert "unknown patient NOPE" in text
    assert "unknown delivery type" in text
    assert not Delivery.objects.exists() and not ImportBatch.objects.exists()


def test_admin_single_sheet_import_of_a_csv(client, data_manager):
    make_patient(patient_id="C1")
    client.force_login(data_manager)
    csv = b"patient_id,visit_number,visit_date,haemoglobin_g_dl\nC1,1,2024-05-01,11.4\n"
    url = reverse("admin:patients_followup_import")
    form = client.get(url).context["form"]
    csv_format = next(i for i, f in form.fields["format"].choices if f == "csv")
    confirm = client.post(url, {"import_file": SimpleUploadedFile("visits.csv", csv), "format": csv_format})
    assert confirm.status_code == 200
    assert not confirm.context["result"].has_errors()
    assert not FollowUp.objects.exists()  # the preview writes nothing
    data = dict(confirm.context["confirm_form"].initial)
    response = client.post(reverse("admin:patients_followup_process_import"), data)
    assert response.status_code == 302
    assert FollowUp.objects.get().haemoglobin_g_dl == 11.4
    assert ImportBatch.objects.get().imported_by == data_manager


def test_patients_sheet_finds_districts_by_name_and_adds_none(data_manager):
    make_district("Dolakha")
    dataset = tablib.Dataset(headers=["patient_id", "district", "height_cm"])
    dataset.append(["D1", "  dolakha ", 150])
    dataset.append(["D2", "Dolakhaa", 150])
    result = PatientResource().import_data(dataset, dry_run=False)
    [error] = [e.error for _, errors in result.row_errors() for e in errors] or [
        e for row in result.invalid_rows for e in row.error_dict.get("district", [])
    ]
    assert "Unknown district 'Dolakhaa'. Did you mean 'Dolakha'?" in str(error)
    assert District.objects.count() == 1
