"""A clinician's path through the staff pages, in the system's Chromium (Playwright)."""

import datetime
import os
import re
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from patients import roles
from patients.models import Delivery, FollowUp, Patient
from patients.roles import sync_role_groups
from patients.tests.factories import make_delivery, make_followup, make_patient, make_user
from patients.tests.workbooks import delivery_row, followup_row, make_workbook, patient_row, standard_sheets

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("REQUIRE_BROWSER"),
        reason="no /usr/bin/chromium (Debian package chromium); CI installs it and sets REQUIRE_BROWSER=1",
    ),
]


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    # live_server's database is emptied after each test, the migration's role groups with it.
    sync_role_groups(django_apps)


def log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_clinician_finds_a_patient_and_records_a_follow_up(page, live_server, console_errors):
    clinician = make_user("nurse", roles.CLINICIAN)
    clinician.set_password("a-long-Passphrase-1")
    clinician.save()
    patient = make_patient(patient_id="P042", name="Kamala Tamang", village="Naubise")
    make_delivery(patient, date_of_delivery=datetime.date(2024, 6, 1), haemoglobin_at_delivery=9.2)
    make_patient(patient_id="P043", name="Gita Thapa")
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("heading", name="Overview").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("heading", name="Patients").wait_for()
    page.get_by_role("searchbox").fill("naubise")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name="P043").count() == 0
    page.screenshot(path=ARTIFACTS / "patient-list.png", full_page=True)

    page.get_by_role("link", name="P042").click()
    page.get_by_role("region", name="Needs attention").get_by_text("moderate anaemia").wait_for()
    page.get_by_role("link", name="Add follow-up").click()

    # A haemoglobin typed in g/L is refused with a hint, and nothing typed is lost.
    page.get_by_label("Visit date").fill("2024-06-09")
    page.get_by_label("Haemoglobin (g/dL)").fill("104")
    page.get_by_label("Diagnosis").fill("mild anaemia, iron started")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("looks like g/L").wait_for()
    assert page.get_by_label("Diagnosis").input_value() == "mild anaemia, iron started"
    page.screenshot(path=ARTIFACTS / "follow-up-error.png", full_page=True)

    page.get_by_label("Haemoglobin (g/dL)").fill("10.4")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved Follow-up 1 of P042").wait_for()
    assert page.get_by_role("cell", name="mild anaemia, iron started", exact=True).is_visible()
    page.screenshot(path=ARTIFACTS / "patient-detail.png", full_page=True)

    followup = FollowUp.objects.get(patient=patient)
    assert (followup.visit_number, followup.haemoglobin_g_dl) == (1, 10.4)
    assert console_errors == []


def test_clinician_cannot_reach_the_add_patient_page(page, live_server):
    clinician = make_user("nurse2", roles.CLINICIAN)
    clinician.set_password("a-long-Passphrase-2")
    clinician.save()
    log_in(page, live_server, "nurse2", "a-long-Passphrase-2")
    page.get_by_role("heading", name="Overview").wait_for()
    assert page.get_by_role("link", name="Add patient").count() == 0
    response = page.goto(f"{live_server.url}/patients/new/")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()


def test_data_manager_imports_a_workbook_through_the_admin(page, live_server, console_errors, tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    manager = make_user("manager", roles.DATA_MANAGER, is_staff=True)
    manager.set_password("a-long-Passphrase-3")
    manager.save()
    sheets = standard_sheets(
        patients=[patient_row("W1"), patient_row("W2", name="Gita Thapa")],
        deliveries=[delivery_row("W1")],
        followups=[followup_row("W1", 1), followup_row("W2", 1, haemoglobin_g_dl=104)],
    )
    workbook = make_workbook(tmp_path / "ward-register.xlsx", sheets)
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "manager", "a-long-Passphrase-3")
    page.goto(f"{live_server.url}/admin/patients/patient/")
    page.get_by_role("link", name="Import workbook").click()
    page.get_by_label("Workbook:").set_input_files(workbook)
    page.get_by_role("button", name="Upload and preview").click()

    page.get_by_role("heading", name="What the import would do").wait_for()
    assert page.locator("#import-counts tr[data-sheet=patients] td").nth(1).inner_text() == "2"
    assert "looks like g/L" in page.locator("#import-errors").inner_text()
    page.screenshot(path=ARTIFACTS / "import-preview.png", full_page=True)

    page.get_by_label("Import the valid rows and skip the 1 invalid one").check()
    page.get_by_role("button", name="Confirm import").click()
    page.get_by_text("Imported ward-register.xlsx as import #").wait_for()
    assert sorted(Patient.objects.values_list("patient_id", flat=True)) == ["W1", "W2"]
    assert FollowUp.objects.count() == 1 and Delivery.objects.count() == 1
    assert list((tmp_path / "uploads").iterdir()) == []
    assert console_errors == []


def test_data_manager_voids_a_follow_up_and_an_administrator_restores_it(page, live_server, console_errors):
    for username, role in (("manager", roles.DATA_MANAGER), ("admin1", roles.ADMINISTRATOR)):
        user = make_user(username, role, is_staff=True)
        user.set_password("a-long-Passphrase-4")
        user.save()
    patient = make_patient(patient_id="P007")
    followup = FollowUp.objects.create(patient=patient, visit_number=1, visit_date=datetime.date(2024, 5, 2))

    log_in(page, live_server, "manager", "a-long-Passphrase-4")
    page.goto(f"{live_server.url}/patients/P007/")
    page.get_by_role("link", name="Void", exact=True).click()
    page.get_by_role("button", name="Void").click()
    assert "This field is required." in page.locator("#id_reason_errors").inner_text()
    page.get_by_label("Reason").fill("entered for the wrong patient")
    page.get_by_role("button", name="Void").click()
    page.get_by_text("Voided Follow-up 1 of P007. An administrator can restore it.").wait_for()
    assert page.get_by_text("No follow-up visits recorded.").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "voided.png", full_page=True)

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "admin1", "a-long-Passphrase-4")
    page.goto(f"{live_server.url}/admin/patients/followup/?status=voided")
    page.locator(f"input[name=_selected_action][value='{followup.pk}']").check()
    page.locator("select[name=action]").select_option("restore_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_text("Restored 1 follow-ups.").wait_for()
    assert FollowUp.objects.filter(pk=followup.pk).exists()
    assert console_errors == []


def test_data_manager_maps_an_unknown_spelling_in_the_preview_and_the_next_file_needs_none(
    page, live_server, console_errors, tmp_path, settings
):
    """A register saved by LibreOffice Calc with "Norml vag" on four rows: one mapping in the
    preview, and the import lands; the same file again needs no mapping."""
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    manager = make_user("mapper", roles.DATA_MANAGER, is_staff=True)
    manager.set_password("a-long-Passphrase-5")
    manager.save()
    register = Path(settings.BASE_DIR) / "fixtures" / "libreoffice" / "unknown_spelling.xlsx"
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "mapper", "a-long-Passphrase-5")
    page.goto(f"{live_server.url}/admin/patients/patient/import-workbook/")
    page.get_by_label("Workbook:").set_input_files(register)
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="1 value to map").wait_for()
    row = page.locator("#unmatched + p + form tr[data-value='Norml vag']")
    assert "4 rows" in row.inner_text()
    assert "4 rows" in page.locator("#import-errors tbody tr").first.inner_text()
    # Confirm sits above the values and the errors, where a long preview cannot push it away.
    confirm = page.get_by_role("button", name="Confirm import").bounding_box()
    assert confirm["y"] < page.locator("#unmatched").bounding_box()["y"] < 768
    page.screenshot(path=ARTIFACTS / "import-mapping.png", full_page=True)

    select = page.get_by_label("What “Norml vag” means")
    assert select.locator("optgroup[label=Closest] option").first.inner_text() == "Normal vaginal"
    select.select_option("normal")
    page.get_by_role("button", name="Save these mappings and check again").click()
    page.get_by_text("1 value mapped").wait_for()
    assert page.locator("#unmatched").count() == 0 and page.locator("#import-errors").count() == 0
    page.screenshot(path=ARTIFACTS / "import-mapped.png", full_page=True)
    page.get_by_role("button", name="Confirm import").click()
    page.get_by_text("Imported unknown_spelling.xlsx as import #").wait_for()
    assert Delivery.objects.count() == 12 and Delivery.objects.filter(type_of_delivery="normal").count() >= 4

    # The same spelling in the next file: no mapping asked for.
    page.goto(f"{live_server.url}/admin/patients/patient/import-workbook/")
    page.get_by_label("Workbook:").set_input_files(register)
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="What the import would do").wait_for()
    assert page.locator("#unmatched").count() == 0 and page.locator("#import-errors").count() == 0
    assert page.locator("#import-counts tr[data-sheet=deliveries] td").nth(3).inner_text() == "12"  # unchanged
    assert console_errors == []


def test_a_patient_record_prints_on_one_a4_page(page, live_server, console_errors):
    """Printed for a referral letter: no navigation or buttons, her chart as drawn, her latest
    visits, all on one A4 page (counted in the PDF Chromium prints)."""
    clinician = make_user("nurse", roles.DATA_MANAGER, is_staff=True)
    clinician.set_password("a-long-Passphrase-1")
    clinician.save()
    patient = make_patient(patient_id="PRINT1", name="Kamala Tamang", condition="anaemia; " * 20)
    make_delivery(patient, date_of_delivery=datetime.date(2023, 2, 1), haemoglobin_at_delivery=9.1)
    make_delivery(patient, date_of_delivery=datetime.date(2024, 6, 1), haemoglobin_at_delivery=9.6)
    for visit in range(1, 13):
        make_followup(patient, visit_date=datetime.date(2024, 6, 1) + datetime.timedelta(days=14 * visit),
                      haemoglobin_g_dl=9 + visit / 5, weight_kg=50 + visit / 3, diagnosis="iron continued")  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.goto(f"{live_server.url}/patients/PRINT1/")
    page.locator("#chart-timeline[data-drawn]").wait_for()
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible()
    assert not page.get_by_role("link", name="Add follow-up").is_visible()
    assert page.locator("#chart-timeline svg.main-svg").first.is_visible()
    assert page.locator("#followups tbody tr").filter(visible=True).count() == 6  # views.PRINTED_VISITS
    assert page.get_by_text("The latest 6 of 12 visits").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    (ARTIFACTS / "patient-record-print.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    assert console_errors == []
