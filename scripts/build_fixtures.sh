#!/usr/bin/env bash
# Regenerate fixtures/ from seed_demo, in a throwaway SQLite database (yours is not touched):
#   fixtures/demo.json           25 patients with their records, for `manage.py loaddata`
#   fixtures/demo_workbook.xlsx  200 patients in the three-sheet import format
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DEBUG=1 DATABASE_URL="sqlite:///$scratch/fixtures.sqlite3"
manage() { .venv/bin/python manage.py "$@"; }

manage migrate -v0
manage seed_demo --patients 200 --seed 2026 -v0
manage export_workbook fixtures/demo_workbook.xlsx
manage seed_demo --patients 25 --seed 2026 --flush -v0
manage dumpdata patients.district patients.patient patients.delivery patients.followup \
  --natural-foreign --natural-primary --indent 1 -o fixtures/demo.json
echo "Wrote fixtures/demo.json and fixtures/demo_workbook.xlsx"
