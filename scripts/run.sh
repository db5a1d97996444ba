#!/usr/bin/env bash
# Set up and start the app with demo data: one demo login per role is printed below.
# Environment: PORT (default 8000), DEMO_PATIENTS (default 500), DATABASE_URL (default SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt

# Development server: DEBUG on, unless the caller says otherwise.
export DEBUG=${DEBUG:-1}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo --patients "${DEMO_PATIENTS:-500}" --if-empty
.venv/bin/python manage.py create_demo_users
# The background worker beside the server: it checks and writes large workbook imports.
.venv/bin/python manage.py db_worker --no-startup-delay &
worker=$!
trap 'kill "$worker" 2>/dev/null' EXIT
echo
echo "Open http://127.0.0.1:${PORT:-8000}/ and log in with one of the demo logins above."
.venv/bin/python manage.py runserver "127.0.0.1:${PORT:-8000}"
