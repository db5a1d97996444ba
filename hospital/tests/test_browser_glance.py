"""Every page of the site, for each role, as a person sees it in the system's Chromium: measured.

For each role the check starts at the pages a user lands on and follows every link to a page it
has not seen yet (one page per URL pattern), at a desktop's width (1366 px) and a phone's (390 px):
- each chart drew a mark for every row of its data, and no category is lost to its axis;
- nothing is wider than the screen, except inside a scroll container that says so, nothing is cut
  off by its box, and no chart's text falls outside the chart;
- no console error;
and at the desktop's width:
- axe-core finds no serious or critical accessibility violation;
- the Tab key reaches every control on the page.

The measuring is in glance.js. The findings of each page are written to test-artifacts/glance.json
(axe's per page too), so a run's evidence can be read after it.
"""

import datetime
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import Resolver404, resolve
from playwright.sync_api import Error as PlaywrightError

from patients import roles
from patients.models import ImportUpload
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user
from patients.tests.test_browser import (  # noqa: F401 (fixtures and marks shared with the staff pages)
    ARTIFACTS,
    pytestmark,
    role_groups,
)
from patients.tests.workbooks import delivery_row, followup_row, make_workbook, patient_row, standard_sheets

GLANCE_JS = (Path(__file__).parent / "glance.js").read_text()
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
PASSWORD = "a-long-Passphrase-1"

# Pages that are not pages: downloads, the API's JSON, logging out, the admin's helpers.
NOT_PAGES = {
    "logout", "admin:logout", "admin:jsi18n", "admin:autocomplete", "admin:view_on_site",
    "admin:patients_patient_export_workbook", "admin:patients_patient_import_workbook_errors",
}  # fmt: skip
# Controls that the Tab key is not meant to stop at one by one: the radio buttons of a group are
# one stop (arrow keys move within it).
REACHABLE_JS = """() => {
  const controls = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]')]
    .filter((el) => el.tabIndex >= 0 && !el.disabled && !el.closest('[inert]') &&
                    el.checkVisibility({opacityProperty: true, visibilityProperty: true}));
  const seen = new Set();
  controls.filter((el) => {
    if (el.type !== 'radio') return true;
    if (seen.has(el.name)) return false;
    seen.add(el.name);
    return true;
  }).forEach((el, i) => { el.dataset.glanceControl = i; });
  // Every stop of the Tab key, seen or not (a date input has three), bounds the walk.
  return [...document.querySelectorAll('*')].filter((el) => el.tabIndex >= 0).length;
}"""
UNREACHED_JS = """() => [...document.querySelectorAll('[data-glance-control]')]
  .filter((el) => !el.dataset.glanceReached &&
    !(el.type === 'radio' && document.querySelector(`[name="${el.name}"][data-glance-reached]`)))
  .map((el) => el.outerHTML.slice(0, 100))"""


@pytest.fixture
def hospital(role_groups):  # noqa: F811 (the shared fixture, asked for by name)
    """Records enough for every chart and list to draw: several districts (one with a long name),
    every delivery type, every follow-up group and timing group, high-risk patients and values to
    review; one user per role."""
    districts = [make_district(name) for name in ("Kaski", "Jhapa", "Doti", "Nawalparasi Bardaghat Susta East")]
    day = datetime.date(2024, 1, 8)
    for n in range(40):
        patient = make_patient(patient_id=f"G{n:03d}", name=f"Sita {n}", district=districts[n % 4],
                               weight_kg=45 + n % 12, condition="anaemia" if n % 5 == 0 else "")  # fmt: skip
        delivered = day + datetime.timedelta(days=7 * n)
        make_delivery(patient, date_of_delivery=delivered, haemoglobin_at_delivery=8.5 + (n % 7) / 2,
                      type_of_delivery=("normal", "c_section", "assisted")[n % 3])  # fmt: skip
        first_visit = (2, 10, 30, 60)[n % 4]  # every timing group
        for visit in range((0, 1, 2, 5, 9)[n % 5]):  # every follow-up count group
            make_followup(patient, visit_date=delivered + datetime.timedelta(days=first_visit + 30 * visit),
                          haemoglobin_g_dl=9.0 + visit / 2 + (n % 3) / 3, weight_kg=50 + n % 9 + visit / 4,
                          bp_systolic=150 if n % 7 == 0 else 118, bp_diastolic=95 if n % 7 == 0 else 76)  # fmt: skip
    jumper = make_patient(patient_id="JUMP1", district=districts[0], weight_kg=50)
    make_followup(jumper, visit_date=datetime.date(2024, 7, 10), weight_kg=52, haemoglobin_g_dl=9.5)
    make_followup(jumper, visit_date=datetime.date(2024, 8, 20), weight_kg=53, haemoglobin_g_dl=13.6)
    users = {
        "clinician": make_user("nurse", roles.CLINICIAN),
        "data manager": make_user("datamanager", roles.DATA_MANAGER, is_staff=True),
        "administrator": make_user("admin", roles.ADMINISTRATOR, is_staff=True),
        "no role": make_user("norole"),
    }
    for user in users.values():
        user.set_password(PASSWORD)
        user.save()
    # An import the worker is still checking, for its progress page.
    ImportUpload.objects.create(token="glance-progress", file_name="register.xlsx", background=True,
                                uploaded_by=users["data manager"], rows_total=5000, rows_done=2000,
                                phase="Checking the follow-ups")  # fmt: skip
    return users


def view_name(url, origin):
    """The URL pattern a link goes to, or None when it leaves the site or is not a page."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin or "format=" in parts.query:
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    name = match.view_name
    if name in NOT_PAGES or name.startswith("api:") and name != "api:docs" or name == "admin:None":
        return None
    return name


class Walk:
    """A role's walk through the site: each page's findings, in words."""

    def __init__(self, page, origin, role):
        self.page, self.origin, self.role = page, origin, role
        self.problems, self.findings, self.errors = [], {}, []
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", self.response)

    def console(self, message):
        # A failed load is reported with its address by response() instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def response(self, response):
        # The page itself may be an error page on purpose (403 for a user without a role, 404).
        if response.status >= 400 and not response.request.is_navigation_request():
            self.errors.append(f"{response.status} for {response.url}")

    def visit(self, url, viewport):
        self.page.set_viewport_size(VIEWPORTS[viewport])
        self.errors.clear()
        try:
            self.page.goto(url)
        except PlaywrightError as error:
            if "Download is starting" in str(error):
                return None
            raise
        # charts.js marks each chart once Plotly has drawn it.
        self.page.wait_for_function("() => !document.querySelector('[data-figure]:not([data-drawn])')")
        return self.page.evaluate(GLANCE_JS, viewport == "desktop")

    def check(self, name, url, viewport):
        report = self.visit(url, viewport)
        if report is None:
            return
        where = f"{self.role}, {viewport}, {urlsplit(url).path}"
        shot = f"{self.role}-{viewport}-{name}".replace(" ", "-").replace(":", "-")
        self.page.screenshot(path=ARTIFACTS / "glance" / f"{shot}.png", full_page=True)
        found = []
        if report["pageWidth"] > report["width"]:
            found.append(f"the page is {report['pageWidth']} px wide on a {report['width']} px screen")
        found += [f"sticks out: {what}" for what in report["sticksOut"]]
        found += [f"cut off by its box or scrolls sideways unannounced: {what}" for what in report["cut"]]
        found += [f"needs a sideways scroll on a desktop: {what}" for what in report["scrolling"]]
        found += [f"heading cut off: {what}" for what in report["truncated"]]
        for chart in report["charts"]:
            if not chart["drawn"]:
                found.append(f"{chart['id']} not drawn")
            for trace in chart["traces"]:
                if trace["marks"] != trace["rows"]:
                    found.append(f"{chart['id']} '{trace['name']}': {trace['marks']} marks for {trace['rows']} rows")
            if chart["lost"]:
                found.append(f"{chart['id']}: categories lost to the axis: {chart['lost']}")
            if chart["textOutside"]:
                found.append(f"{chart['id']}: text outside the chart: {chart['textOutside']}")
        found += [f"console: {error}" for error in self.errors]
        if viewport == "desktop":
            found += self.accessibility(where)
            found += self.keyboard()
        self.findings[where] = found
        self.problems += [f"{where}: {problem}" for problem in found]

    def accessibility(self, where):
        violations = Axe().run(self.page).response["violations"]
        self.findings[f"{where} (axe, all impacts)"] = [
            f"{v['impact']}: {v['id']} ({len(v['nodes'])})" for v in violations
        ]
        return [
            f"axe {v['impact']}: {v['id']}: {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]

    def keyboard(self):
        stops = self.page.evaluate(REACHABLE_JS)
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        for _ in range(3 * stops + 10):
            self.page.keyboard.press("Tab")
            round_done = self.page.evaluate(
                "() => { const el = document.activeElement; if (!el || el === document.body) return false;"
                " if (el.dataset.glanceFirst) return true;"
                " if (!document.querySelector('[data-glance-first]')) el.dataset.glanceFirst = 1;"
                " el.dataset.glanceReached = 1; return false; }"
            )
            if round_done:
                break  # round the page once
        return [f"the Tab key never reaches {control}" for control in self.page.evaluate(UNREACHED_JS)]

    def links(self):
        return self.page.eval_on_selector_all("a[href]", "links => links.map((a) => a.href)")


def walk_site(page, live_server, role, start):
    """Visit every page `role` can reach from `start` (one per URL pattern) at both widths. Each
    `start` page is visited even when another shares its pattern (an import's progress and its
    preview)."""
    walk = Walk(page, live_server.url, role)
    queue, seen, starting = list(start), set(), list(start)
    only = [path for path in os.environ.get("GLANCE_ONLY", "").split(",") if path]  # to try a fix quickly
    while queue:
        url = queue.pop(0)
        name = view_name(url, live_server.url)
        first_visit_of_a_start = url in starting
        if first_visit_of_a_start:
            starting.remove(url)
        if name is None or name in seen and not first_visit_of_a_start:
            continue
        if name in seen:
            name = f"{name}-{len(seen)}"  # a start page of a pattern already seen: its own screenshot
        path = urlsplit(url).path
        if only and not any(path == prefix or prefix != "/" and path.startswith(prefix) for prefix in only):
            seen.add(name)
            queue += [] if walk.visit(url, "desktop") is None else walk.links()
            continue
        seen.add(name)
        for viewport in VIEWPORTS:
            walk.check(name, url, viewport)
        queue += walk.links()
    return walk, seen


def log_in(page, live_server, username):
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def upload_for_preview(page, live_server, tmp_path, settings):
    """An upload with a new district, an unknown spelling and bad rows: its preview and error pages."""
    rows = standard_sheets(
        patients=[patient_row("N1", district="Kaski"), patient_row("N2", district="Kaskii"),
                  patient_row("N3", district="Mustang", height_cm=9)],
        deliveries=[delivery_row("N1", type_of_delivery="Norml vag"), delivery_row("N2")],
        followups=[followup_row("N1"), followup_row("N2", haemoglobin_g_dl=104)],
    )  # fmt: skip
    workbook = make_workbook(tmp_path / "register.xlsx", rows)
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    page.goto(f"{live_server.url}/admin/patients/patient/import-workbook/")
    page.get_by_label("Workbook:").set_input_files(workbook)
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="What the import would do").wait_for()
    return page.url


def save_findings(walks):
    ARTIFACTS.mkdir(exist_ok=True)
    findings = {where: found for walk in walks for where, found in walk.findings.items()}
    (ARTIFACTS / "glance.json").write_text(json.dumps(findings, indent=1))


def test_every_page_for_every_role_reads_at_a_glance(browser, live_server, hospital, tmp_path, settings):
    walks, problems = [], []
    (ARTIFACTS / "glance").mkdir(parents=True, exist_ok=True)
    starts = {
        "clinician": ["/", "/patients/G004/"],
        "data manager": ["/", "/patients/G005/", "/admin/", "/admin/patients/patient/import-workbook/glance-progress/"],
        "administrator": ["/", "/admin/", "/api/docs/"],
        "no role": ["/", "/patients/"],
    }
    for role, user in hospital.items():
        context = browser.new_context()
        page = context.new_page()
        log_in(page, live_server, user.username)
        start = [f"{live_server.url}{path}" for path in starts[role]]
        if role == "data manager":
            start.append(upload_for_preview(page, live_server, tmp_path, settings))
        walk, _ = walk_site(page, live_server, role, start)
        walks.append(walk)
        problems += walk.problems
        context.close()
    context = browser.new_context()
    walk, _ = walk_site(context.new_page(), live_server, "anonymous",
                        [f"{live_server.url}/", f"{live_server.url}/patients/nobody-here/"])  # fmt: skip
    walks.append(walk)
    problems += walk.problems
    save_findings(walks)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
