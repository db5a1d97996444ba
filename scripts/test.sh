#!/usr/bin/env bash
# Set up and run every check: lint, missing migrations, and the whole test suite.
# On SQLite by default; DATABASE_URL=postgres://... runs the same suite on PostgreSQL.
# Extra arguments go to pytest (e.g. scripts/test.sh -k views -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== migrations"
DJANGO_TESTING=1 .venv/bin/python manage.py makemigrations --check --dry-run
echo "== tests on ${DATABASE_URL:-SQLite}"
exec .venv/bin/python -m pytest "$@"
