"""
Workbook import speed, three ways, on the reference workbook (bench/reference_workbook.py):

1. our command:     manage.py import_workbook (a separate process, Django start-up included)
2. our admin path:  upload -> preview -> confirm through Django's test client
3. the baseline:    django-import-export's default ModelResource.import_data of the same sheets
                    (on the first --baseline-patients patients, as it is far slower; compared in rows/s;
                    its xlsx reading is left out, which flatters it)

    .venv/bin/python bench/import_bench.py                                 # SQLite, in a temp folder
    .venv/bin/python bench/import_bench.py --postgres postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/import_bench.py --million                       # + peak memory, 1M follow-ups
    .venv/bin/python bench/import_bench.py --command-only 3                # the command alone, 3 times

With --postgres, a scratch database `hospital_bench_import` is created on that server and dropped after.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reference_workbook import build  # noqa: E402

SCRATCH_DB = "hospital_bench_import"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--followups", type=int, default=100_000)
    parser.add_argument("--baseline-patients", type=int, default=2_000)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (instead of SQLite)")
    parser.add_argument(
        "--million", action="store_true", help="also import 1,000,000 follow-ups and report peak memory"
    )
    parser.add_argument(
        "--command-only",
        type=int,
        metavar="N",
        default=0,
        help="time only manage.py import_workbook, N times (into an emptied database each time)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    database_url = _scratch_database(args.postgres, work)
    os.environ.update(DATABASE_URL=database_url, DEBUG="1", DJANGO_SETTINGS_MODULE="hospital.settings")
    _manage("migrate", "-v0")

    workbook = work / "reference.xlsx"
    started = time.perf_counter()
    build(workbook, args.patients, args.followups)
    rows = args.patients * 2 + args.followups
    size_mb, seconds = workbook.stat().st_size / 1e6, time.perf_counter() - started
    print(f"reference workbook: {args.patients:,} patients, {args.patients:,} deliveries, {args.followups:,} "
          f"follow-ups ({rows:,} rows, {size_mb:.1f} MB), built in {seconds:.1f} s")  # fmt: skip
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}\n")

    import django

    django.setup()
    results = {}
    try:
        if args.command_only:
            for run in range(args.command_only):
                if run:
                    _flush()
                print(f"our command (whole workbook): {_time_command(workbook):.2f} s")
            return
        results["command"] = _time_command(workbook)
        _flush()
        results["admin"] = _time_admin(workbook, work)
        _flush()
        baseline_rows, baseline_seconds = _time_baseline(
            workbook, args.baseline_patients, args.followups // args.patients
        )
        _report(results, rows, baseline_rows, baseline_seconds)
        if args.million:
            _flush()
            _million(work)
    finally:
        from django.db import connections

        connections.close_all()
        if args.postgres:
            _drop_scratch(args.postgres)


def _scratch_database(postgres_url, work):
    if not postgres_url:
        return f"sqlite:///{work / 'bench.sqlite3'}"
    import psycopg2

    connection = psycopg2.connect(postgres_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        cursor.execute(f"CREATE DATABASE {SCRATCH_DB}")
    connection.close()
    return postgres_url.rsplit("/", 1)[0] + "/" + SCRATCH_DB


def _drop_scratch(postgres_url):
    import psycopg2

    connection = psycopg2.connect(postgres_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
    connection.close()


def _manage(*args):
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=False, capture_output=True, text=True)


def _time_command(workbook):
    started = time.perf_counter()
    done = _manage("import_workbook", str(workbook), "-v0")
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Imported as import #" in done.stdout, done.stdout
    return seconds


def _flush():
    from patients import demo
    from patients.models import ImportBatch

    demo.delete_all_records()
    ImportBatch.objects.all().delete()


def data_manager_client(work):
    """Django's test client, logged in as a data manager, uploads kept under `work`."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from patients import roles

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.IMPORT_UPLOAD_DIR = work / "uploads"
    user, _ = get_user_model().objects.get_or_create(username="bench_manager", defaults={"is_staff": True})
    user.groups.set([Group.objects.get(name=roles.DATA_MANAGER)])
    client = Client()
    client.force_login(user)
    return client


def _time_admin(workbook, work):
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from patients.models import FollowUp

    client = data_manager_client(work)
    settings.IMPORT_BACKGROUND_MB = 1_000_000  # in the request; bench/background_import_bench.py times the worker
    started = time.perf_counter()
    upload = SimpleUploadedFile(workbook.name, workbook.read_bytes())
    preview_url = client.post(reverse("admin:patients_patient_import_workbook"), {"workbook": upload}).url
    preview = client.get(preview_url)
    previewed = time.perf_counter()
    assert preview.status_code == 200 and b'id="import-errors"' not in preview.content
    confirmed = client.post(preview_url, {"confirm": "Confirm import"})
    finished = time.perf_counter()
    assert confirmed.status_code == 302 and FollowUp.objects.exists()
    return finished - started, previewed - started, finished - previewed


def _time_baseline(workbook, patients, followups_per_patient):
    """django-import-export's default path: tablib reads the xlsx, ModelResource.import_data writes."""
    import tablib
    from import_export import fields, resources, widgets

    from patients import vocabulary
    from patients.models import Delivery, District, FollowUp, Patient

    class PatientResource(resources.ModelResource):
        district = fields.Field(attribute="district", column_name="district",
                                widget=widgets.ForeignKeyWidget(District, field="name"))  # fmt: skip

        class Meta:
            model = Patient
            import_id_fields = ["patient_id"]
            clean_model_instances = True

    class RecordResource(resources.ModelResource):
        patient_id = fields.Field(attribute="patient", column_name="patient_id",
                                  widget=widgets.ForeignKeyWidget(Patient, field="patient_id"))  # fmt: skip

    class DeliveryResource(RecordResource):
        class Meta:
            model = Delivery
            import_id_fields = ["patient_id", "date_of_delivery"]
            clean_model_instances = True

    class FollowUpResource(RecordResource):
        class Meta:
            model = FollowUp
            import_id_fields = ["patient_id", "visit_number"]
            clean_model_instances = True

    started = time.perf_counter()
    from openpyxl import load_workbook

    # tablib reads whole workbooks; take the first sheet's worth of rows of each kind, as a data
    # manager would give import-export one sheet at a time.
    book = load_workbook(workbook, read_only=True)
    sheets = {title: list(book[title].iter_rows(values_only=True)) for title in book.sheetnames}
    limits = {"patients": patients, "deliveries": patients, "followups": patients * followups_per_patient}
    total = 0
    for title, resource_class in [("patients", PatientResource), ("deliveries", DeliveryResource),
                                  ("followups", FollowUpResource)]:  # fmt: skip
        header, *rows = sheets[title]
        rows = rows[: limits[title]]
        if title == "patients":
            for name in {row[header.index("district")] for row in rows}:
                District.objects.get_or_create_by_name(name)
        # The rows go in as a tablib Dataset directly: the baseline's own xlsx reading (tablib via
        # openpyxl, about 15x slower than calamine) is left out, which flatters it.
        # Empty cells as "" (what a CSV gives): None would be refused by the text columns. The default
        # knows no delivery-type spellings ("LSCS"), so those are given as codes.
        padded = [[("" if v is None else v) for v in row] + [""] * (len(header) - len(row)) for row in rows]
        if "type_of_delivery" in header:
            column = header.index("type_of_delivery")
            for row in padded:
                row[column] = vocabulary.DELIVERY_TYPES.known(row[column])
        dataset = tablib.Dataset(*padded, headers=header)
        result = resource_class().import_data(dataset, dry_run=False)
        problems = [r.error_dict for r in result.invalid_rows[:3]] + [
            str(e.error) for _, es in result.row_errors()[:3] for e in es
        ]
        assert not problems, (title, problems)
        total += len(rows)
    return total, time.perf_counter() - started


def _report(results, rows, baseline_rows, baseline_seconds):
    command = results["command"]
    admin, preview, confirm = results["admin"]
    baseline_rate = baseline_rows / baseline_seconds
    print(f"{'path':<44} {'seconds':>8} {'rows/s':>9} {'vs baseline':>12}")
    for name, seconds in [("our command (whole workbook)", command),
                          (f"our admin (preview {preview:.1f} s + confirm {confirm:.1f} s)", admin)]:  # fmt: skip
        rate = rows / seconds
        print(f"{name:<44} {seconds:>8.1f} {rate:>9,.0f} {rate / baseline_rate:>11.0f}x")
    name = f"django-import-export default ({baseline_rows:,} rows)"
    print(f"{name:<44} {baseline_seconds:>8.1f} {baseline_rate:>9,.0f} {1:>11}x")
    print(f"admin path / command: {admin / command:.2f}")


def _million(work):
    """Peak memory of importing a 1,000,000-row follow-up sheet (all new) for 100,000 existing patients."""
    patients_book, followups_book = work / "patients-100k.xlsx", work / "followups-1m.xlsx"
    started = time.perf_counter()
    build(patients_book, 100_000, 0)
    done = _manage("import_workbook", str(patients_book), "-v0")
    assert done.returncode == 0, done.stdout + done.stderr
    build(followups_book, 100_000, 1_000_000, only_followups=True)
    print(f"\n1M follow-ups: workbooks built and 100k patients imported in {time.perf_counter() - started:.0f} s")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = _manage("import_workbook", str(followups_book), "-v0")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout.strip())
    print(f"1,000,000 follow-up rows: {seconds:.0f} s, peak memory {peak_mb:,.0f} MB"
          f"{'' if peak_mb > before / 1024 else ' (peak of an earlier step)'}")  # fmt: skip


if __name__ == "__main__":
    main()
