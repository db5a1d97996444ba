"""In the system's Chromium: a district named like a link is drawn as text, not as a live link."""

import datetime

from patients import roles
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user
from patients.tests.test_browser import (  # noqa: F401 (fixtures and marks shared with the staff pages)
    log_in,
    pytestmark,
    role_groups,
)

LINK = '<a href="https://evil.example/">Kaski</a>'


def test_a_district_named_like_a_link_is_drawn_as_text(page, live_server, console_errors):
    district = make_district(LINK)
    for n in range(2):
        patient = make_patient(district=district, weight_kg=50 + n, condition="anaemia")
        make_delivery(patient, date_of_delivery=datetime.date(2024, 3, 5), type_of_delivery="c_section")
        make_followup(patient, visit_date=datetime.date(2024, 6, 1), haemoglobin_g_dl=9.5)
    nurse = make_user("nurse", roles.CLINICIAN)
    nurse.set_password("a-long-Passphrase-1")
    nurse.save()

    log_in(page, live_server, "nurse", "a-long-Passphrase-1")
    page.get_by_role("combobox", name="District").select_option(label=LINK)
    page.get_by_role("button", name="Show").click()
    for name in ("weight", "anaemia", "caesarean"):
        page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
        assert page.locator(f"#chart-{name} svg a").count() == 0, name  # Plotly draws <a> as an SVG link
        assert page.locator(f"#chart-{name} .xtick text").first.text_content() == LINK, name
        assert LINK in page.locator(f"#chart-{name}-caption").text_content(), name  # the title, as its caption
    assert page.locator('a[href="https://evil.example/"]').count() == 0
    assert console_errors == []
