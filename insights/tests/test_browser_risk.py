"""The high-risk list and a patient's record as a ward reads them, in the system's Chromium."""

import datetime

from patients import roles
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user
from patients.tests.test_browser import (  # noqa: F401 (fixtures and marks shared with the staff pages)
    ARTIFACTS,
    log_in,
    pytestmark,
    role_groups,
)


def table_column(page, heading):
    """The texts of one column of the page's high-risk table, by its heading."""
    headings = page.locator("table.high-risk thead th").all_inner_texts()
    index = headings.index(heading) + 1
    return page.locator(f"table.high-risk tbody tr td:nth-child({index})").all_inner_texts()


def test_a_clinician_narrows_the_list_to_blood_pressure_and_reads_what_needs_attention(
    page, live_server, console_errors
):
    kaski = make_district("Kaski")
    severe = make_patient(patient_id="BP162", district=kaski, condition="Chronic hypertension")
    make_followup(severe, visit_number=1, visit_date=datetime.date(2024, 3, 3), bp_systolic=162, bp_diastolic=104,
                  haemoglobin_g_dl=11.9)  # fmt: skip
    high = make_patient(patient_id="BP145", district=kaski, condition="")
    make_followup(high, visit_number=1, visit_date=datetime.date(2024, 4, 1), bp_systolic=145, bp_diastolic=88,
                  haemoglobin_g_dl=12.4)  # fmt: skip
    anaemic = make_patient(patient_id="HB69", district=kaski, condition="Anaemia")
    make_followup(anaemic, visit_number=1, visit_date=datetime.date(2024, 5, 1), haemoglobin_g_dl=6.9,
                  bp_systolic=110, bp_diastolic=70)  # fmt: skip
    make_delivery(make_patient(patient_id="CS1", district=kaski, condition=""), type_of_delivery="c_section")
    nurse = make_user("nurse", roles.CLINICIAN)
    nurse.set_password("a-long-Passphrase-1")
    nurse.save()
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("navigation", name="Insights").get_by_role("link", name="High-risk patients").click()
    page.get_by_role("heading", name="High-risk patients").wait_for()
    # Most urgent first, in words.
    assert table_column(page, "Patient ID") == ["HB69", "BP162", "BP145", "CS1"]
    assert table_column(page, "Priority") == [
        "Priority 1 (urgent)", "Priority 1 (urgent)", "Priority 2 (soon)", "Priority 3 (routine)",
    ]  # fmt: skip
    assert "Caesarean delivery" in table_column(page, "Reasons")[3]

    page.get_by_label("Blood pressure 140/90 or above").check()
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name="blood pressure 140/90 or above").wait_for()
    assert table_column(page, "Patient ID") == ["BP162", "BP145"]
    assert page.get_by_label("Blood pressure 140/90 or above").is_checked()  # the filter is kept
    assert table_column(page, "Blood pressure (mmHg)")[0].startswith("162/104 severe")
    page.screenshot(path=ARTIFACTS / "high-risk-blood-pressure.png", full_page=True)

    page.get_by_role("link", name="BP162").click()
    panel = page.get_by_role("region", name="Needs attention")
    panel.wait_for()
    assert "Priority 1 (urgent)" in panel.inner_text()
    reasons = panel.locator("ul.reasons li").all_inner_texts()
    assert reasons == [
        "Blood pressure 162/104 mmHg at visit 1 on 3 Mar 2024, severe",
        "Hypertension written in the notes: condition reads 'Chronic hypertension'",
    ]
    # The panel leads the record: above her latest readings and details, in the first screen.
    top = panel.bounding_box()["y"]
    assert top < page.get_by_role("heading", name="Latest readings").bounding_box()["y"]
    assert top < page.viewport_size["height"]
    page.screenshot(path=ARTIFACTS / "patient-needs-attention.png", full_page=True)

    page.go_back()
    page.go_back()
    page.get_by_role("link", name="HB69").click()
    panel.wait_for()
    assert panel.locator("ul.reasons li").all_inner_texts()[1] == (
        "Haemoglobin 6.9 g/dL at visit 1 on 1 May 2024, severe anaemia"
    )
    assert console_errors == []
