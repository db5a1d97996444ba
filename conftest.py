import pytest

from patients import roles
from patients.tests.factories import make_user

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
