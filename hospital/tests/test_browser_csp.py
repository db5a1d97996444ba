"""The Content-Security-Policy in the system's Chromium: the API docs and the admin work under it."""

from patients import roles
from patients.tests.factories import make_user
from patients.tests.test_browser import ARTIFACTS, log_in, pytestmark, role_groups  # noqa: F401 (fixture, marks)


def test_swagger_ui_and_the_admin_run_under_the_policy(page, live_server, console_errors):
    manager = make_user("manager", roles.DATA_MANAGER, is_staff=True)
    manager.set_password("a-long-Passphrase-3")
    manager.save()
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, live_server, "manager", "a-long-Passphrase-3")
    page.get_by_role("heading", name="Overview").wait_for()

    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_text("/api/patients/{patient_id}").first.wait_for()  # Swagger UI drew the operations
    page.screenshot(path=ARTIFACTS / "api-docs.png")

    page.goto(f"{live_server.url}/admin/patients/patient/")
    page.get_by_role("link", name="Import workbook").wait_for()
    page.goto(f"{live_server.url}/admin/patients/followup/add/")
    page.get_by_role("button", name="Save", exact=True).wait_for()
    assert [error for error in console_errors if "Content Security Policy" in error] == []
    assert console_errors == []
