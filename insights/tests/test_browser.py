"""The dashboard in the system's Chromium: every chart draws, filters redraw it, no console errors."""

import datetime

import pytest

from patients import roles
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user
from patients.tests.test_browser import (  # noqa: F401 (fixtures and marks shared with the staff pages)
    ARTIFACTS,
    log_in,
    pytestmark,
    role_groups,
)

CHARTS = ("weight", "anaemia", "caesarean", "deliveries", "visits")


@pytest.fixture
def records():
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    for n in range(12):
        patient = make_patient(district=kaski if n % 2 else jhapa, weight_kg=46 + n, condition="")
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n % 6, 5), haemoglobin_at_delivery=8 + n / 2,
                      type_of_delivery="c_section" if n % 4 == 0 else "normal")  # fmt: skip
        for visit in range(1 + n % 3):
            make_followup(patient, visit_date=datetime.date(2024, 8, 1 + visit), haemoglobin_g_dl=9 + n / 3,
                          weight_kg=50 + n)  # fmt: skip


def drawn_points(page, name):
    """The data points Plotly drew in a chart: bars and markers inside its SVG."""
    return page.locator(f"#chart-{name} svg.main-svg g.point, #chart-{name} svg.main-svg path.point").count()


def test_a_clinician_sees_every_chart_draw_and_narrows_it_by_district(page, live_server, records, console_errors):
    nurse = make_user("nurse", roles.CLINICIAN)
    nurse.set_password("a-long-Passphrase-1")
    nurse.save()
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("heading", name="Overview").wait_for()
    for name in CHARTS:
        page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
        assert drawn_points(page, name) > 0, name
    assert drawn_points(page, "weight") == 2  # one bar per district
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)

    page.get_by_role("combobox", name="District").select_option(label="Kaski")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name="Overview · Kaski").wait_for()
    page.locator("#chart-weight svg.main-svg").first.wait_for()
    assert drawn_points(page, "weight") == 1
    assert page.get_by_role("combobox", name="District").input_value() != ""  # the filter is kept
    page.screenshot(path=ARTIFACTS / "overview-kaski.png", full_page=True)

    page.get_by_label("From").fill("2030-01-01")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("No data for these filters.").first.wait_for()
    assert page.locator("svg.main-svg").count() == 0
    assert console_errors == []


PAGES = [
    ("Districts", ["anaemia", "caesarean"]),
    ("High-risk patients", []),
    ("Weight and haemoglobin", ["visits", "months"]),
    ("Delivery type", ["outcomes"]),
    ("Follow-ups", ["count", "timing"]),
    ("Values to review", []),
]


def test_every_insight_page_draws_and_the_review_list_leads_to_her_timeline(page, live_server, records, console_errors):
    patient = make_patient(patient_id="JUMP1", district=make_district("Kaski"), weight_kg=50, condition="anaemia")
    make_delivery(patient, date_of_delivery=datetime.date(2024, 7, 1), haemoglobin_at_delivery=9.0)
    make_followup(patient, visit_date=datetime.date(2024, 7, 10), weight_kg=52, haemoglobin_g_dl=9.5)
    make_followup(patient, visit_date=datetime.date(2024, 8, 20), weight_kg=53, haemoglobin_g_dl=13.6)  # +4.1 g/dL
    nurse = make_user("nurse", roles.CLINICIAN)
    nurse.set_password("a-long-Passphrase-1")
    nurse.save()
    ARTIFACTS.mkdir(exist_ok=True)

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("combobox", name="District").select_option(label="Kaski")
    page.get_by_role("button", name="Show").click()
    for title, chart_names in PAGES:
        page.get_by_role("navigation", name="Insights").get_by_role("link", name=title).click()
        page.get_by_role("heading", name="· Kaski").wait_for()  # the filter came along
        for name in chart_names:
            page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
            assert drawn_points(page, name) > 0, (title, name)
        page.screenshot(path=ARTIFACTS / f"insights-{title.lower().replace(' ', '-')}.png", full_page=True)
    assert page.get_by_role("link", name="JUMP1").count() >= 1  # flagged: haemoglobin up 4.1 g/dL
    # From the high-risk table to her page and her timeline.
    page.get_by_role("navigation", name="Insights").get_by_role("link", name="High-risk patients").click()
    page.get_by_role("link", name="JUMP1").click()
    page.get_by_role("heading", name="JUMP1").wait_for()
    page.locator("#chart-timeline svg.main-svg").first.wait_for()
    assert drawn_points(page, "timeline") >= 5  # three haemoglobin readings and two weights
    page.screenshot(path=ARTIFACTS / "patient-timeline.png", full_page=True)
    assert console_errors == []


def test_a_clinician_pages_through_the_values_to_review_in_one_district(page, live_server, console_errors):
    kaski = make_district("Kaski")
    make_followup(make_patient(patient_id="JHAPA1", district=make_district("Jhapa")), weight_kg=50.0)
    for n in range(53):  # a weight jump each, largest last: 10.0 kg, 10.1 kg, ...
        patient = make_patient(patient_id=f"J{n:02d}", district=kaski, condition="")
        make_followup(patient, visit_number=1, visit_date=datetime.date(2024, 3, 1), weight_kg=50.0)
        make_followup(patient, visit_number=2, visit_date=datetime.date(2024, 4, 1), weight_kg=60.0 + n / 10)
    nurse = make_user("nurse", roles.CLINICIAN)
    nurse.set_password("a-long-Passphrase-1")
    nurse.save()

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("combobox", name="District").select_option(label="Kaski")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("navigation", name="Insights").get_by_role("link", name="Values to review").click()
    page.get_by_role("heading", name="· Kaski").wait_for()
    page.get_by_text("53 values to review, largest first").wait_for()
    pages = page.get_by_role("navigation", name="Pages")
    assert pages.get_by_text("Page 1 of 2").count() == 1
    assert page.get_by_role("link", name="J52").count() == 1  # the largest change first
    assert page.get_by_role("link", name="J02").count() == 0

    pages.get_by_role("link", name="Next ›").click()
    page.get_by_text("Page 2 of 2").wait_for()
    page.get_by_role("heading", name="· Kaski").wait_for()  # the district came along
    assert [page.get_by_role("link", name=f"J{n:02d}").count() for n in (0, 1, 2, 52)] == [1, 1, 1, 0]
    assert page.get_by_role("link", name="JHAPA1").count() == 0
    page.screenshot(path=ARTIFACTS / "values-to-review-page-2.png", full_page=True)

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="« First").click()
    page.get_by_text("Page 1 of 2").wait_for()
    assert page.get_by_role("link", name="J52").count() == 1
    assert console_errors == []
