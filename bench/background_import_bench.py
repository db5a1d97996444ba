"""
A large workbook through the admin, in the background: how long each web request takes (none should
wait on the import), the worker's progress as the page would show it, its time and peak memory.

    .venv/bin/python bench/background_import_bench.py                       # 100,000 patients, 1,000,000 follow-ups
    .venv/bin/python bench/background_import_bench.py --patients 20000 --followups 100000
    .venv/bin/python bench/background_import_bench.py --postgres postgres://postgres@127.0.0.1:5432/postgres

The workbook is bench/reference_workbook.py's (one delivery per patient). The worker is the real
`manage.py db_worker --batch`, once to check and once to write; its peak memory is its maximum
resident set (getrusage of the child).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from import_bench import _drop_scratch, _manage, _scratch_database, data_manager_client  # noqa: E402
from reference_workbook import build  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--followups", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (instead of SQLite)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="background-import-bench-"))
    database_url = _scratch_database(args.postgres, work)
    os.environ.update(DATABASE_URL=database_url, DEBUG="1", DJANGO_SETTINGS_MODULE="hospital.settings",
                      IMPORT_UPLOAD_DIR=str(work / "uploads"), IMPORT_BACKGROUND_MB="0")  # fmt: skip
    done = _manage("migrate", "-v0")
    assert done.returncode == 0, done.stderr
    workbook = work / "register.xlsx"
    started = time.perf_counter()
    build(workbook, args.patients, args.followups)
    rows = 2 * args.patients + args.followups
    size_mb, seconds = workbook.stat().st_size / 1e6, time.perf_counter() - started
    print(f"workbook: {rows:,} rows, {size_mb:.1f} MB, built in {seconds:.0f} s")
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}\n")

    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from patients.models import FollowUp, ImportUpload

    try:
        client = data_manager_client(work)
        started = time.perf_counter()
        with workbook.open("rb") as stream:
            upload = SimpleUploadedFile(workbook.name, stream.read())
        preview_url = client.post(reverse("admin:patients_patient_import_workbook"), {"workbook": upload}).url
        print(f"upload request: {time.perf_counter() - started:.2f} s (stores the file, queues the check)")

        seconds, peak = _worker_run(ImportUpload)
        print(f"worker, checking: {seconds:.0f} s, peak memory {peak:,.0f} MB")
        started = time.perf_counter()
        preview = client.get(preview_url)
        assert b'id="import-counts"' in preview.content, preview.content[:500]
        print(f"preview request: {time.perf_counter() - started:.2f} s (reads the stored preview)")

        started = time.perf_counter()
        client.post(preview_url, {"confirm": "Confirm import"})
        print(f"confirm request: {time.perf_counter() - started:.2f} s (queues the write)")
        seconds, peak = _worker_run(ImportUpload)
        print(f"worker, checking again and writing: {seconds:.0f} s, peak memory {peak:,.0f} MB")
        outcome = ImportUpload.objects.get().outcome
        print(outcome)
        assert FollowUp.objects.count() == args.followups, outcome
    finally:
        from django.db import connections

        connections.close_all()
        if args.postgres:
            _drop_scratch(args.postgres)


def _worker_run(ImportUpload):
    """Run `db_worker --batch` until the queue is empty, printing the progress the page shows."""
    stop = threading.Event()

    def watch():
        last = None
        while not stop.wait(5):
            upload = ImportUpload.objects.get()
            shown = (upload.phase, upload.rows_done, upload.rows_total)
            if shown != last and upload.phase:
                print(f"  progress: {upload.phase}: {upload.rows_done:,} of {upload.rows_total:,} rows")
                last = shown

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "db_worker", "--batch", "--no-reload", "--no-startup-delay"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    assert done.returncode == 0, done.stdout + done.stderr
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


if __name__ == "__main__":
    main()
