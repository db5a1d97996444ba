"""Import fuzz: hypothesis writes real xlsx workbooks full of bad values (wrong types, huge strings,
control characters, formulas, dates out of range, unicode) mixed with good rows, and drives them
through the admin's upload -> preview -> confirm. The import never answers 500, and it either
writes every valid row or (not told to skip the invalid ones) nothing at all.

At least 10,000 rows in all: 50 workbooks of 210 to 300 rows (FUZZ_EXAMPLES raises the 50)."""

import datetime
import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from patients.importing import plan_import
from patients.models import Delivery, District, FollowUp, ImportBatch, Patient
from patients.tests.factories import make_patient
from patients.tests.workbooks import (
    DELIVERY_HEADER,
    FOLLOWUP_HEADER,
    PATIENT_HEADER,
    delivery_row,
    followup_row,
    make_workbook,
    patient_row,
)

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
ROWS_PER_SHEET = 100  # at most, per sheet: three sheets make up to 300 rows a workbook
MIN_ROWS_PER_SHEET = 70  # at least: 50 workbooks of at least 210 rows make 10,500
UPLOAD = reverse("admin:patients_patient_import_workbook")

# Characters a worksheet cannot hold at all (XML 1.0 forbids them): openpyxl refuses to write them,
# and a spreadsheet application stores them escaped (_x0001_), which the strategies below send.
writable_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=60).map(
    lambda text: ILLEGAL_CHARACTERS_RE.sub("", text)
)

bad_values = st.one_of(
    st.none(),
    writable_text,  # unicode of every kind: names, RTL marks, emoji, combining accents
    st.sampled_from(["", " ", "\t", "\n\r", "_x0001_", "_x0000_", "\u200b", "\ufeff", "NaN", "inf", "-0", "1e309"]),
    st.builds(lambda n, c: c * n, st.integers(256, 32_000), st.sampled_from(["x", "é", "9", "\u0645"])),  # huge
    st.sampled_from(["=1+1", '=HYPERLINK("http://x","y")', "+SUM(A1:A9)", "-2+3", "@A1", "=1/0", "=A1"]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(9999, 12, 31)),
    st.dates(datetime.date(1900, 1, 1), datetime.date(9999, 12, 31)),
    st.times(),
)


def rows_of(header, good_row):
    """Rows that are good, bad in some cells, or bad in every cell."""
    width = len(header)

    def mix(good, bad, mask):
        return [b if m else g for g, b, m in zip(good, bad, mask, strict=True)]

    good = st.builds(good_row, st.sampled_from([f"F{n}" for n in range(40)]))
    row = st.builds(mix, good, st.lists(bad_values, min_size=width, max_size=width),
                    st.lists(st.booleans(), min_size=width, max_size=width))  # fmt: skip
    return st.lists(st.one_of(good, row), min_size=MIN_ROWS_PER_SHEET, max_size=ROWS_PER_SHEET)


workbooks = st.fixed_dictionaries({
    "patients": rows_of(PATIENT_HEADER, lambda pid: patient_row(pid)),
    "deliveries": rows_of(DELIVERY_HEADER, lambda pid: delivery_row(pid)),
    "followups": rows_of(FOLLOWUP_HEADER, lambda pid: followup_row(pid)),
})  # fmt: skip


def snapshot():
    return tuple(model.all_objects.count() if hasattr(model, "all_objects") else model.objects.count()
                 for model in (Patient, Delivery, FollowUp, District, ImportBatch))  # fmt: skip


ROWS_SEEN = []


@pytest.fixture(scope="module", autouse=True)
def enough_rows():
    yield
    if EXAMPLES >= 50:
        assert sum(ROWS_SEEN) >= 10_000, f"only {sum(ROWS_SEEN)} rows were fuzzed"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])  # fmt: skip
@given(sheets=workbooks, skip_invalid=st.booleans())
def test_bad_workbooks_never_crash_nor_land_in_part(client, data_manager, tmp_path, settings, sheets, skip_invalid):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    ROWS_SEEN.append(sum(len(rows) for rows in sheets.values()))
    path = make_workbook(tmp_path / "fuzz.xlsx", {
        "patients": [PATIENT_HEADER, *sheets["patients"]], "deliveries": [DELIVERY_HEADER, *sheets["deliveries"]],
        "followups": [FOLLOWUP_HEADER, *sheets["followups"]],
    })  # fmt: skip
    client.force_login(data_manager)
    with transaction.atomic():  # each example starts from the same records
        make_patient(patient_id="F0", name="Already recorded")
        before = snapshot()
        plan = plan_import(path)
        response = client.post(UPLOAD, {"workbook": SimpleUploadedFile("fuzz.xlsx", path.read_bytes())})
        assert response.status_code == 302
        preview = client.get(response.url)
        assert preview.status_code == 200
        confirmed = client.post(
            response.url, {"confirm": "Confirm import", **({"skip_invalid": "on"} if skip_invalid else {})}
        )
        assert confirmed.status_code in (200, 302)

        after = snapshot()
        if plan.invalid_count and not skip_invalid or not plan.changes_count:
            assert after == before, "an import refused (or with nothing to do) changed the records"
        else:
            counts = plan.counts()
            new = [counts.get(kind, {}).get("new", 0) for kind in ("patients", "deliveries", "followups")]
            assert after[:3] == tuple(b + n for b, n in zip(before[:3], new, strict=True))
            assert after[4] == before[4] + 1  # one import, recorded once
        for patient in Patient.objects.exclude(patient_id="F0"):
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", patient.patient_id)
        transaction.set_rollback(True)
