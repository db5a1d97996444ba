import pytest
from django.contrib.contenttypes.models import ContentType

from patients import figures, roles, writes
from patients.models import AccessLog, BulkExport, ImportBatch, ValueAlias
from patients.tests.factories import make_delivery, make_followup, make_patient, make_user

# Browser tests live in their own module; these settings apply to them (pytest-playwright).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test fails when what it runs writes the records without announcing it (patients.writes):
    every write path the suite drives is checked, on the test's own connection."""
    if item.get_closest_marker("unannounced_writes"):
        return (yield)
    with writes.Watch() as watch:
        result = yield
    watch.check()
    return result


@pytest.fixture(scope="session", autouse=True)
def exact_insights():
    """Insight pages exact after every write (INSIGHTS_MAX_AGE_SECONDS = 0): most tests read a page
    just after writing its records. insights/tests/test_as_of.py tests pages behind the records,
    with the `settings` fixture. Session-scoped: Hypothesis refuses function-scoped fixtures."""
    from django.conf import settings

    settings.INSIGHTS_MAX_AGE_SECONDS = 0


@pytest.fixture(scope="session", autouse=True)
def checked_figures():
    """Plotly checks every figure the suite draws (patients.figures.CHECK_FIGURES); pages do not."""
    figures.CHECK_FIGURES = True


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # The system's Chromium: a browser download cannot work on the hospital's offline machines.
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture
def console_errors(page):
    """The browser console's errors and the page's uncaught exceptions, as they happen."""
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def clinician(db):
    return make_user("clinician", roles.CLINICIAN)


@pytest.fixture
def data_manager(db):
    return make_user("datamanager", roles.DATA_MANAGER, is_staff=True)


@pytest.fixture
def administrator(db):
    return make_user("administrator", roles.ADMINISTRATOR, is_staff=True)


@pytest.fixture
def no_role_user(db):
    """Logged in, but in no role group: may see nothing clinical."""
    return make_user("norole")


@pytest.fixture
def users(clinician, data_manager, administrator, no_role_user):
    return {
        "clinician": clinician,
        "data_manager": data_manager,
        "administrator": administrator,
        "no_role": no_role_user,
    }


@pytest.fixture
def world(users):
    """One patient with a delivery and a follow-up, an import, an access-log row and history: the ids
    of each, for tests that walk every URL of the site."""
    patient = make_patient(patient_id="P001", name="Sunita Leakcheck", condition="marker-condition anaemia")
    delivery, followup = make_delivery(patient), make_followup(patient)
    batch = ImportBatch.objects.create(source="command", file_name="x.xlsx", file_sha256="0" * 64)
    log = AccessLog.objects.create(kind="view", patient=patient, patient_ref="P001", what="Record page")
    alias = ValueAlias(column="type_of_delivery", spelling="Norml vag", code="normal")
    alias.save()
    ids = {"patients.valuealias": alias.pk,
           "patients.patient": patient.pk, "patients.delivery": delivery.pk, "patients.followup": followup.pk,
           "patients.district": patient.district_id, "patients.importbatch": batch.pk, "patients.accesslog": log.pk,
           "auth.user": users["clinician"].pk, "auth.group": users["clinician"].groups.get().pk}  # fmt: skip
    for record in (patient, delivery, followup):  # a version of each in its history
        ids[f"patients.{record._meta.model_name}.version"] = record.history.first().history_id
    ids["content_type"] = ContentType.objects.get_for_model(patient).pk
    # The administrator's FHIR bulk export, whose status and files only she may read.
    export = BulkExport.objects.create(
        requested_by=users["administrator"], resource_types=["Patient"], request_url="http://testserver/fhir/$export"
    )
    ids["patients.bulkexport"] = export.pk
    return ids
