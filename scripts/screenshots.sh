#!/usr/bin/env bash
# Regenerates the README's screenshots (static/screenshots/) from the browser check's own run:
# hospital/tests/test_browser_glance.py walks every page for each role and saves what it saw in
# test-artifacts/glance/. Only a passing check's pictures are copied. Needs /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh requirements-dev.txt
REQUIRE_BROWSER=1 .venv/bin/pytest hospital/tests/test_browser_glance.py -q -p no:cacheprovider
mkdir -p static/screenshots
shots=test-artifacts/glance
cp "$shots/clinician-desktop-insights-overview.png" static/screenshots/overview.png
cp "$shots/clinician-desktop-patients-detail.png" static/screenshots/patient-record.png
cp "$shots/clinician-desktop-insights-high_risk.png" static/screenshots/high-risk.png
cp "$shots"/data-manager-desktop-admin-patients_patient_import_workbook_preview-*.png static/screenshots/import-preview.png
echo "Screenshots written to static/screenshots/"
