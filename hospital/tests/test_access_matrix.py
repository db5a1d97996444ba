"""Every URL of the site x every role, in one table: who gets in, who is refused, and that no
clinical data reaches anyone refused (pages, API, exports, the OpenAPI docs, error pages)."""

import io
import re
import zipfile

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "clinician", "data_manager", "administrator", "no_role"]
# Who may see any clinical data at all: never the anonymous visitor, nor a user without a role.
NO_CLINICAL_DATA = {"anonymous", "no_role"}

# What each role gets, in the order of ROLES.
PUBLIC = (200, 200, 200, 200, 200)
LOGGED_IN = (302, 200, 200, 200, 200)  # any logged-in user (their own password, the API's schema)
READ = (302, 200, 200, 200, 403)  # every role (staff pages; anonymous visitors go to the login page)
WRITE = (302, 403, 200, 200, 403)  # data managers and administrators
API_READ = (401, 200, 200, 200, 403)
API_LOGGED_IN = (401, 200, 200, 200, 200)
ADMIN = (302, 302, 200, 200, 302)  # the admin: staff only; others go to its login page
ADMIN_ONLY = (302, 302, 403, 200, 302)  # the admin, administrators only
ADMIN_NOBODY = (302, 302, 403, 403, 302)  # nobody through the admin (tamper-proof, or a superuser's)
ADMIN_NOT_FOUND = (302, 302, 404, 404, 302)
ADMIN_REDIRECT = (302, 302, 302, 302, 302)  # the admin's own redirects (to a change page, to login)
ADMIN_METHOD = (302, 302, 405, 405, 302)  # a POST-only admin view, asked with GET
ADMIN_LOGIN = (200, 200, 302, 302, 200)
METHOD = (405, 405, 405, 405, 405)
REDIRECT = (301, 301, 301, 301, 301)

# Every route of the site: the first rule whose pattern matches the route (as the resolver writes
# it) gives what each role gets. A route no rule matches fails the test: classify it here.
RULES = [
    (r"favicon\.ico", REDIRECT),
    (r"accounts/(login|password_reset|password_reset/done|reset/<uidb64>/<token>|reset/done)/", PUBLIC),
    (r"accounts/logout/", METHOD),
    (r"accounts/password_change/(done/)?", LOGGED_IN),
    (r"insights/[\w-]+/|", READ),
    (r"patients/|patients/<str:patient_id>/|patients/<str:patient_id>/followups/new/", READ),
    (r"patients/.*", WRITE),
    (r"admin/login/", ADMIN_LOGIN),
    (r"admin/logout/", ADMIN_METHOD),
    (r"admin/autocomplete/", (302, 302, 403, 403, 302)),  # without a field to complete
    (r"admin/r/.*|admin/.*<path:object_id>/|admin/\(\?P<url>.*", ADMIN_REDIRECT),
    (r"admin/(|password_change/|password_change/done/|jsi18n/|\^\(\?P<app_label>.*)", ADMIN),
    (r"admin/auth/.*", ADMIN_ONLY),
    # API tokens (administrators) and the login-throttling records (a superuser's; administrators
    # unlock with manage.py axes_reset_username). Their pages here name an object that does not
    # exist: a history page redirects before it checks permissions, the others refuse or redirect.
    (r"admin/(authtoken|axes|django_tasks_database)/\w+/<path:object_id>/history/", ADMIN_REDIRECT),
    (r"admin/authtoken/\w+/<path:object_id>/(change|delete)/", (302, 302, 403, 302, 302)),
    (r"admin/authtoken/.*", ADMIN_ONLY),
    (r"admin/axes/.*", ADMIN_NOBODY),
    # The background worker's task results (a superuser's: their tracebacks may quote a workbook's values).
    (r"admin/django_tasks_database/.*", ADMIN_NOBODY),
    (r"admin/patients/(patient|delivery|followup|district|valuealias)/<path:object_id>/delete/", ADMIN_ONLY),
    (r"admin/patients/\w+/process_import/", ADMIN_METHOD),
    (r"admin/patients/patient/import-workbook/<str:token>/.*", ADMIN_NOT_FOUND),
    (r"admin/patients/importbatch/(add/|<path:object_id>/delete/)", ADMIN_NOBODY),
    (r"admin/patients/accesslog/(add/|<path:object_id>/delete/)", ADMIN_NOBODY),
    (r"admin/patients/accesslog/.*", ADMIN_ONLY),
    (r"admin/patients/.*", ADMIN),
    (r"api/(schema|docs)/", API_LOGGED_IN),
    (r"api/patients/.*/void/?", (401, 405, 405, 405, 403)),  # POST only (test_api covers who may)
    (r"api/.*", API_READ),
    (r"fhir/metadata", API_LOGGED_IN),
    # A bulk export of every record: administrators only, and its status and files hers alone.
    (r"fhir/\$export", (401, 403, 403, 202, 403)),
    (r"fhir/\$export-(status|file)/.*", (401, 403, 403, 200, 403)),
    (r"fhir/(<path:path>)?", (401, 404, 404, 404, 404)),  # nothing there: an OperationOutcome
    (r"fhir/.*", API_READ),
]

# Downloads and error pages, beyond each route's page: (URL, what each role gets).
EXTRA_REQUESTS = [
    ("/insights/high-risk/?format=csv", READ),
    ("/insights/high-risk/?format=xlsx", READ),
    ("/admin/patients/patient/export-workbook/", ADMIN),
    ("/patients/P999/", (302, 404, 404, 404, 403)),
    ("/api/patients/P999", (401, 404, 404, 404, 403)),
    ("/no-such-page/", (404, 404, 404, 404, 404)),
]
NO_SUCH_OBJECT = 999_999  # in admin pages of other apps' models (API tokens, login attempts)
# Her name and condition are on every page, export and API answer that shows her record.
MARKERS = ["Leakcheck", "marker-condition"]


def routes(patterns=None, prefix=""):
    """Every route of the site, as its pattern text (with converters and regexes)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


def concrete(route, ids):
    """A URL for `route`, naming the test's records."""
    model = re.match(r"admin/(\w+)/(\w+)/", route)
    model = ".".join(model.groups()) if model else None
    url = route.replace("<str:patient_id>", "P001")
    # The FHIR API: her Patient (a read and $everything), her Observations (a search), the
    # administrator's bulk export (its Patient file), and a path that names nothing.
    url = url.replace("<uuid:export_id>", str(ids["patients.bulkexport"]))
    url = url.replace("<fhir_type:resource_type>.ndjson", "Patient.ndjson")
    url = url.replace("<fhir_type:resource_type>/<fhir_id:resource_id>", "Patient/<fhir_id:resource_id>")
    url = url.replace("<fhir_id:resource_id>", str(ids["patients.patient"]))
    url = url.replace("<fhir_type:resource_type>", f"Observation?patient={ids['patients.patient']}")
    url = url.replace("<path:path>", "no-such-thing")
    url = re.sub(r"deliveries/<int:(pk|delivery_id)>", f"deliveries/{ids['patients.delivery']}", url)
    url = re.sub(r"followups/<int:(pk|followup_id)>", f"followups/{ids['patients.followup']}", url)
    url = url.replace("<path:content_type_id>/<path:object_id>", f"{ids['content_type']}/{ids['patients.patient']}")
    url = url.replace("<path:object_id>", str(ids.get(model, NO_SUCH_OBJECT)))
    url = url.replace("<id>", str(ids["auth.user"]))
    url = url.replace("<uidb64>/<token>", "MQ/set-password")
    url = url.replace("<str:token>", "unknown-upload").replace("<int:group>", "0")
    url = url.replace(
        "^([^/]+)/history/([^/]+)/$", f"{ids.get(model, NO_SUCH_OBJECT)}/history/{ids.get(f'{model}.version')}/"
    )
    url = re.sub(r"\^\(\?P<app_label>[\w|]+\)/\$", "patients/", url)  # its labels in registration order
    url = url.replace("(?P<url>.*)$", "patients/patient/no-such-page/")
    assert "<" not in url and "(" not in url, route
    return "/" + url


def expected(route):
    for pattern, statuses in RULES:
        if re.fullmatch(pattern, route):
            return statuses
    pytest.fail(f"No rule in RULES for the route {route!r}: say who may reach it.")


def shown_text(response):
    """What a response shows: its body, or the text inside an xlsx download."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if body[:2] == b"PK":  # an xlsx workbook is a zip of XML files
        with zipfile.ZipFile(io.BytesIO(body)) as workbook:
            return " ".join(workbook.read(name).decode() for name in workbook.namelist() if name.endswith(".xml"))
    return body.decode(errors="replace")


def test_every_url_allows_exactly_its_roles_and_leaks_nothing(client, users, world):
    requests = []
    for route in routes():
        requests.append((concrete(route, world), expected(route)))
    assert len(requests) > 140  # every route of the site, not a few
    problems = []
    for role_index, role in enumerate(ROLES):
        client.logout()
        if role != "anonymous":
            client.force_login(users[role])
        for url, statuses in requests + EXTRA_REQUESTS:
            response = client.get(url)
            if response.status_code != statuses[role_index]:
                problems.append(f"{role} GET {url}: {response.status_code}, expected {statuses[role_index]}")
            if response.status_code == 302 and role == "anonymous":
                assert "/login/" in response.url or response.url == "/admin/", url
            text = shown_text(response)
            refused = response.status_code != 200 or role in NO_CLINICAL_DATA
            if refused and any(marker in text for marker in MARKERS):
                problems.append(f"{role} GET {url} ({response.status_code}) shows her clinical data")
    assert problems == []


def test_the_leak_check_can_see_her_data(client, users, world):
    """The markers are on her record page, in the xlsx export and in the API: the check above looks
    where the data would be."""
    client.force_login(users["data_manager"])
    fhir = [f"/fhir/Patient/{world['patients.patient']}/$everything"]
    for url in ("/patients/P001/", "/admin/patients/patient/export-workbook/", "/api/patients/P001", *fhir):
        assert all(marker in shown_text(client.get(url)) for marker in MARKERS), url
