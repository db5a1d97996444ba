"""
Settings for the maternal-health patient data system.

One file, driven by environment variables. With none set, a fresh clone runs on an SQLite file
next to manage.py (DEBUG stays off unless asked for; `make run` asks).
"""

import datetime
import os
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG")

# A guessable key lets anyone forge sessions, so a development key is only used with DEBUG on (or
# in the tests). With DEBUG off and no SECRET_KEY the key stays empty: the server refuses to start
# (hospital/wsgi.py), while commands that sign nothing (migrate, makemigrations, imports) still run.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and (DEBUG or env_bool("DJANGO_TESTING")):
    SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "import_export",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    # Background tasks (large imports): Django 6's Tasks API as a backport, and its database backend.
    "django_tasks",
    "django_tasks_db",
    "hospital",
    "patients",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Which database the insights read: the replica, or the primary after the user's own write.
    "hospital.replica.ReadYourWritesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "hospital.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the logged-in user as the author of every history entry.
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Login throttling; last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hospital.urls"
WSGI_APPLICATION = "hospital.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default so nothing needs a server; PostgreSQL in production:
#   DATABASE_URL=postgres://user:password@host:5432/hospital

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Sort memory per sort step: the insights order a million follow-ups per patient, which spills
    # to disk under PostgreSQL's default 4MB (and takes twice as long). No JIT compilation: the
    # insight queries are large but quick, and compiling them took longer than running them (0.8 s
    # of a 1.1 s query). A random page read costs about what a sequential one does on an SSD or
    # from memory (PostgreSQL's default of 4 is for spinning disks): with the default, the planner
    # read a whole year of every district's follow-ups to find one district's (a district's analyses
    # for a year at a million follow-ups: 1.2 s instead of 0.26 s).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c work_mem={os.environ.get('DATABASE_WORK_MEM', '64MB')} -c jit=off "
        f"-c random_page_cost={os.environ.get('DATABASE_RANDOM_PAGE_COST', '1.1')}"
    )
# A read replica (PostgreSQL streaming replication) for the insights' reads: hospital/replica.py.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=True,
    )
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests build no second database
DATABASE_ROUTERS = ["hospital.replica.ReplicaRouter"]
# How long a user who wrote reads the insights from the primary, not the replica.
READ_YOUR_WRITES_SECONDS = int(os.environ.get("READ_YOUR_WRITES_SECONDS", "10"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets page views read while an import writes; a busy timeout waits instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The tests' database is a file, not memory, so that a worker process a test starts
    # (`manage.py db_worker`) sees it. One per test run, removed after it.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"hospital-test-{os.getpid()}.sqlite3")}
    # The follow-ups' trends index (patients.models) covers its columns with INCLUDE on PostgreSQL;
    # SQLite builds its key alone, as intended: no warning on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background tasks: a table in our own database (django_tasks_db) that `manage.py db_worker` reads;
# no other server is needed.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Authentication -------------------------------------------------------------------------

# django-axes first (it refuses logins while locked), then ModelBackend with a user's permissions
# read in one query (hospital/backends.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "hospital.backends.RoleBackend"]

# Sessions end after SESSION_IDLE_MINUTES without a request (hospital/middleware.py), when the
# browser closes, and at the latest after a 12-hour shift.
SESSION_IDLE_SECONDS = 60 * int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 3600

# Login throttling: after 5 failures a username is locked *from that address* for 15 minutes. Not
# by address alone: a ward's shared PC or a NAT would lock out every nurse behind it.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind reverse proxies, the client's address is the one they add to X-Forwarded-For: TRUSTED_PROXIES
# says how many there are (the login throttling and the access log both use it).
if os.environ.get("TRUSTED_PROXIES"):
    AXES_IPWARE_PROXY_COUNT = int(os.environ["TRUSTED_PROXIES"])
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "insights:overview"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Kathmandu")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
# Served by whitenoise, so the app needs no separate web server for them and no CDN.

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # static/plotly/plotly.min.js from the installed plotly package (no CDN).
    "hospital.staticfiles.PlotlyFinder",
]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Compressed but not hashed: it works without collectstatic in tests and development.
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Tests and `runserver` without collectstatic still find files in STATICFILES_DIRS.
WHITENOISE_USE_FINDERS = True

# --- Clinical definitions -------------------------------------------------------------------
# WHO has no postpartum anaemia cut-off; programmes that use the non-pregnant 12.0 g/dL set it here.

ANAEMIA_HB_CUTOFF_G_DL = float(os.environ.get("ANAEMIA_HB_CUTOFF_G_DL", "11.0"))
# The FHIR API's system of the hospital's patient IDs (Patient.identifier.system): a URI (or
# urn:oid:) the hospital owns, the same in every system that exchanges them.
FHIR_PATIENT_ID_SYSTEM = os.environ.get("FHIR_PATIENT_ID_SYSTEM", "urn:maternal-health-records:patient-id")

# --- Security headers and HTTPS -------------------------------------------------------------
# Content-Security-Policy: scripts only from our own static files (no inline script: charts are
# JSON drawn by static/js/charts.js). Plotly and the admin set inline styles; its PNG download uses
# data: and blob: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS=1 in production (behind TLS): redirect to HTTPS, HSTS for a year, cookies only over HTTPS.
# `manage.py check --deploy` is then clean (tested in hospital/tests/test_security.py).
HTTPS = env_bool("HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
if env_bool("BEHIND_TLS_PROXY"):
    # The proxy that ends TLS says so in X-Forwarded-Proto (it must overwrite the client's).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Insights cache -------------------------------------------------------------------------
# Insight results are cached (insights/cache.py). The database cache is shared by every worker
# process and needs no extra server; its table comes with `migrate`.

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "hospital_cache",
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    }
}
INSIGHTS_CACHE_SECONDS = int(os.environ.get("INSIGHTS_CACHE_SECONDS", 24 * 3600))
# How far behind the records an insight page may be: a result computed before the latest writes
# is served (the page says how old) while the background worker computes it again. 0: every page
# is exact, computed afresh after each write.
INSIGHTS_MAX_AGE_SECONDS = int(os.environ.get("INSIGHTS_MAX_AGE_SECONDS", "60"))

# --- Workbook import ------------------------------------------------------------------------
# How a text date such as 12/03/2023 is read: "DMY" (12 March, as in Nepal and Europe) or "MDY".

IMPORT_DATE_ORDER = os.environ.get("IMPORT_DATE_ORDER", "DMY").upper()
if IMPORT_DATE_ORDER not in ("DMY", "MDY"):
    raise ImproperlyConfigured("IMPORT_DATE_ORDER must be DMY or MDY.")

# Uploaded workbooks wait here between preview and confirm (readable by the app's user only).
IMPORT_UPLOAD_DIR = Path(os.environ.get("IMPORT_UPLOAD_DIR", BASE_DIR / "var" / "imports"))
IMPORT_MAX_UPLOAD_MB = int(os.environ.get("IMPORT_MAX_UPLOAD_MB", "200"))
# Uploads larger than this are checked and imported by the background worker (`manage.py
# db_worker`), with a progress bar, so that no web request waits on them.
IMPORT_BACKGROUND_MB = float(os.environ.get("IMPORT_BACKGROUND_MB", "2"))
# A background import whose worker has not reported for this long is shown as stopped, to be run again.
IMPORT_WORKER_SILENT_SECONDS = int(os.environ.get("IMPORT_WORKER_SILENT_SECONDS", "120"))
# Limits a workbook must keep before a reader opens it (patients/workbook_guard.py), so that no file
# can make a worker run out of memory: zip parts, unpacked XML, cells one sheet spans from A1 to its
# last cell (a reader builds that grid), rows, and the text its cells expand to. The defaults admit a
# register of a million rows in columns A to Z (calamine takes about 40 bytes a cell of that grid).
IMPORT_MAX_PARTS = int(os.environ.get("IMPORT_MAX_PARTS", "1000"))
IMPORT_MAX_UNPACKED_MB = int(os.environ.get("IMPORT_MAX_UNPACKED_MB", "2048"))
IMPORT_MAX_CELLS = int(os.environ.get("IMPORT_MAX_CELLS", "26000000"))
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "1048576"))
IMPORT_MAX_TEXT_MB = int(os.environ.get("IMPORT_MAX_TEXT_MB", "256"))
# The changelists' single-sheet import (django-import-export) reads with openpyxl, a Python object
# a cell: it takes a sheet of corrections, not a register.
IMPORT_SINGLE_SHEET_MAX_CELLS = int(os.environ.get("IMPORT_SINGLE_SHEET_MAX_CELLS", "500000"))
# Possible duplicate patients a preview lists (the count of all of them is always given).
IMPORT_MAX_DUPLICATES_SHOWN = int(os.environ.get("IMPORT_MAX_DUPLICATES_SHOWN", "200"))

# django-import-export (single-sheet import and export on each admin changelist): only users who
# may change a model may import or export it, and exported text that looks like a formula is
# escaped so a spreadsheet does not run it.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True

# --- REST API -------------------------------------------------------------------------------
# Token first: a request without credentials then gets 401 with a WWW-Authenticate header.

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hospital.api.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, answering 400 to JSON nested too deeply for Python's (a RecursionError).
    "DEFAULT_PARSER_CLASSES": ["hospital.api.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hospital.api.exception_handler",
    # Numbers stay numbers in JSON (the prototype's clients read monthly_income as one).
    "COERCE_DECIMAL_TO_STRING": False,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Maternal health records API",
    "DESCRIPTION": "Patients, deliveries, follow-up visits and insights. Authenticate with a session or "
    "`Authorization: Token <key>` (ask an administrator, or `manage.py issue_api_token`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: Swagger UI puts each operation's link inside the button that opens it, a control
    # within a control that the keyboard and screen readers cannot tell apart (axe: nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["hospital.api.undocumented_slash_twins"],
}

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
