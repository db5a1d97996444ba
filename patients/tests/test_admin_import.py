"""The admin's upload -> preview -> confirm flow, and workbook export, through the test client."""

import io
import stat

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from patients.importing import plan_import
from patients.models import FollowUp, ImportBatch, Patient
from patients.tests.factories import make_user
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets

UPLOAD = reverse("admin:patients_patient_import_workbook")
CHANGELIST = reverse("admin:patients_patient_changelist")


@pytest.fixture(autouse=True)
def upload_dir(tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    return settings.IMPORT_UPLOAD_DIR


def upload(client, path, name=None):
    content = path.read_bytes()
    return client.post(UPLOAD, {"workbook": SimpleUploadedFile(name or path.name, content)})


def test_upload_preview_confirm_writes_everything_once(client, data_manager, tmp_path, upload_dir):
    client.force_login(data_manager)
    path = make_workbook(tmp_path / "register.xlsx", standard_sheets())
    response = upload(client, path)
    assert response.status_code == 302
    preview_url = response.url

    stored = list(upload_dir.iterdir())
    assert len(stored) == 1
    assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(upload_dir.stat().st_mode) == 0o700

    preview = client.get(preview_url)
    assert preview.status_code == 200
    assert not Patient.objects.exists()
    html = preview.content.decode()
    assert "register.xlsx" in html and "New districts to be added: Kaski" in html
    assert [sheet["counts"] for sheet in preview.context["plan"]["sheets"]] == [
        {"new": 1, "updated": 0, "unchanged": 0, "invalid": 0}
    ] * 3

    response = client.post(preview_url, {"confirm": "Confirm import"})
    assert response.status_code == 302 and response.url == CHANGELIST
    assert Patient.objects.count() == 1 and FollowUp.objects.count() == 1
    batch = ImportBatch.objects.get()
    assert (batch.imported_by, batch.source, batch.file_name) == (data_manager, "admin", "register.xlsx")
    assert list(upload_dir.iterdir()) == []
    assert client.get(preview_url).status_code == 404  # the file is gone


def test_cancel_forgets_the_file_and_writes_nothing(client, data_manager, tmp_path, upload_dir):
    client.force_login(data_manager)
    preview_url = upload(client, make_workbook(tmp_path / "w.xlsx", standard_sheets())).url
    response = client.post(preview_url, {"cancel": "Cancel"})
    assert response.status_code == 302
    assert not Patient.objects.exists() and not ImportBatch.objects.exists()
    assert list(upload_dir.iterdir()) == []


def test_invalid_rows_are_listed_and_block_the_import_unless_skipped(client, data_manager, tmp_path):
    client.force_login(data_manager)
    sheets = standard_sheets(
        patients=[patient_row("P001"), patient_row("P002")],
        followups=[followup_row("P001", 1), followup_row("P002", 1, haemoglobin_g_dl=112)],
    )
    preview_url = upload(client, make_workbook(tmp_path / "w.xlsx", sheets)).url
    preview = client.get(preview_url)
    [group] = preview.context["error_groups"]
    assert (group["sheet"], group["column"], group["rows"]) == ("followups", "haemoglobin_g_dl", [[3, 112]])
    assert "looks like g/L" in preview.content.decode()

    refused = client.post(preview_url, {"confirm": "Confirm import"}, follow=True)  # back to the preview, saying why
    assert refused.status_code == 200
    assert refused.content.decode().count("1 rows are invalid; nothing was imported") == 1
    assert not Patient.objects.exists()

    errors_file = client.get(
        reverse("admin:patients_patient_import_workbook_errors", args=[preview_url.rstrip("/").split("/")[-1]])
    )
    assert errors_file.status_code == 200
    sheet = load_workbook(io.BytesIO(errors_file.getvalue()))["followups"]
    assert sheet["A2"].value == 3 and "looks like g/L" in sheet.cell(2, sheet.max_column).value

    client.post(preview_url, {"confirm": "Confirm import", "skip_invalid": "on"})
    assert Patient.objects.count() == 2 and FollowUp.objects.count() == 1
    assert ImportBatch.objects.get().skipped_invalid


def test_a_file_that_is_not_a_workbook_is_refused_with_a_message(client, data_manager, tmp_path, upload_dir):
    client.force_login(data_manager)
    response = client.post(UPLOAD, {"workbook": SimpleUploadedFile("notes.txt", b"hello")})
    assert response.status_code == 200
    assert "notes.txt is not a workbook" in response.content.decode()

    renamed_csv = tmp_path / "register.xlsx"
    renamed_csv.write_text("patient_id,district\nP1,Kaski\n")
    response = client.get(upload(client, renamed_csv).url)
    assert response.status_code == 400
    assert "not a workbook that can be read" in response.content.decode()
    assert list(upload_dir.iterdir()) == []


def test_an_upload_belongs_to_the_session_that_made_it(client, data_manager, administrator, tmp_path):
    client.force_login(data_manager)
    preview_url = upload(client, make_workbook(tmp_path / "w.xlsx", standard_sheets())).url
    client.force_login(administrator)  # a new session
    assert client.get(preview_url).status_code == 404
    assert client.post(preview_url, {"confirm": "Confirm import"}).status_code == 404
    assert not Patient.objects.exists()


@pytest.mark.parametrize("role", ["clinician", "no_role"])
def test_only_data_managers_and_administrators_import_and_export(client, users, role, db):
    client.force_login(users[role])
    for url in (UPLOAD, reverse("admin:patients_patient_export_workbook")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))  # not staff


def test_staff_without_the_import_permission_gets_403(client, db, tmp_path):
    client.force_login(make_user("staffonly", is_staff=True))
    assert client.get(UPLOAD).status_code == 403
    assert client.get(reverse("admin:patients_patient_export_workbook")).status_code == 403


def test_buttons_show_on_the_patient_changelist_for_data_managers(client, data_manager):
    client.force_login(data_manager)
    html = client.get(CHANGELIST).content.decode()
    assert UPLOAD in html and reverse("admin:patients_patient_export_workbook") in html


def test_export_workbook_imports_back_unchanged(client, administrator, tmp_path):
    from django.core.management import call_command

    call_command("seed_demo", patients=30, seed=4, verbosity=0)
    client.force_login(administrator)
    response = client.get(reverse("admin:patients_patient_export_workbook"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="patients-')
    path = tmp_path / "export.xlsx"
    path.write_bytes(response.content)
    plan = plan_import(path)
    assert plan.changes_count == 0 and plan.invalid_count == 0
    assert plan.counts()["patients"]["unchanged"] == 30


def test_import_history_is_read_only_in_the_admin(client, data_manager, tmp_path):
    client.force_login(data_manager)
    preview_url = upload(client, make_workbook(tmp_path / "w.xlsx", standard_sheets())).url
    client.post(preview_url, {"confirm": "Confirm import"})
    batch = ImportBatch.objects.get()
    assert client.get(reverse("admin:patients_importbatch_changelist")).status_code == 200
    page = client.get(reverse("admin:patients_importbatch_change", args=[batch.pk]))
    assert page.status_code == 200 and "w.xlsx" in page.content.decode()
    assert (
        client.post(reverse("admin:patients_importbatch_delete", args=[batch.pk]), {"post": "yes"}).status_code == 403
    )
    assert ImportBatch.objects.count() == 1


def test_export_of_one_district_holds_and_logs_that_district_only(client, administrator):
    from patients.models import AccessLog
    from patients.tests.factories import make_district, make_patient

    kaski = make_patient(patient_id="K1", district=make_district("Kaski")).district
    make_patient(patient_id="J1", district=make_district("Jhapa"))
    client.force_login(administrator)
    export = reverse("admin:patients_patient_export_workbook")
    response = client.get(export, {"district__id__exact": kaski.pk})
    assert response.status_code == 200
    patients = load_workbook(io.BytesIO(response.content))["patients"]
    assert [row[0] for row in patients.iter_rows(min_row=2, values_only=True)] == ["K1"]
    assert AccessLog.objects.get().what == "Workbook of patients, deliveries and follow-ups of Kaski district"

    # An unknown or malformed district is not found: never a workbook of everyone logged as one district's.
    for value in ("99999", "abc", "1" * 30, "٣"):
        assert client.get(export, {"district__id__exact": value}).status_code == 404
    assert AccessLog.objects.count() == 1
