"""
Hostile workbooks through the admin and the command: time, peak memory, the refusal, rows written.

Each file of patients/tests/hostile_workbooks.py (plus a 300 MB shared string and a register of
4,000 women of one name) goes through `manage.py import_workbook` and through the admin's upload ->
preview, each in a fresh process, so that its peak memory is its own. Targets: every hostile file
refused in under 2 s with under 300 MB of memory, nothing written.

    .venv/bin/python bench/hostile_workbooks_bench.py
    .venv/bin/python bench/hostile_workbooks_bench.py --without-guard   # what the files do to the readers

--without-guard skips the checks (in the measured process only, capped at 4 GB of address space and
60 s), to show what each file does to an unguarded reader: an abort, a timeout, gigabytes.
"""

import argparse
import json
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

TARGET_SECONDS, TARGET_MB = 2.0, 300
UNGUARDED_LIMIT_BYTES, UNGUARDED_TIMEOUT = 4 << 30, 60


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--without-guard", action="store_true", help="skip the checks, to see what the readers do")
    parser.add_argument("--one", nargs=3, metavar=("PATH", "VIA", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return _measure_one(Path(args.one[0]), args.one[1], Path(args.one[2]), args.without_guard)

    work = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    os.environ.update(DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}", DEBUG="1",
                      DJANGO_SETTINGS_MODULE="hospital.settings")  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)
    files = _corpus(work)
    print(f"{'file':<30} {'size':>9} {'via':<8} {'seconds':>8} {'peak MB':>8} {'rows':>5}  outcome")
    failures = 0
    for path in files:
        for via in ("command", "admin"):
            result = _run_one(path, via, work, args.without_guard)
            ok = result["seconds"] < TARGET_SECONDS and result["peak_mb"] < TARGET_MB and result["written"] == 0
            failures += not ok and not args.without_guard and "same_name" not in path.name
            print(f"{path.name:<30} {path.stat().st_size:>9,} {via:<8} {result['seconds']:>8.2f} "
                  f"{result['peak_mb']:>8.0f} {result['written']:>5}  {result['outcome'][:110]}")  # fmt: skip
    if not args.without_guard:
        print(f"\ntargets: refused in < {TARGET_SECONDS} s with < {TARGET_MB} MB, nothing written: "
              f"{'met by every hostile file' if not failures else f'{failures} misses'}")  # fmt: skip


def _corpus(work):
    import django

    django.setup()
    from patients.tests import hostile_workbooks

    folder = work / "corpus"
    folder.mkdir()
    files = [build(folder) for build in hostile_workbooks.REFUSED]
    files.insert(3, hostile_workbooks.long_shared_string(folder, megabytes=300))
    files.append(hostile_workbooks.same_name_patients(folder, count=4_000))  # valid: previewed, not refused
    return files


def _run_one(path, via, work, without_guard):
    command = [sys.executable, __file__, "--one", str(path), via, str(work)]
    if without_guard:
        command.append("--without-guard")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=UNGUARDED_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        return {"seconds": float(UNGUARDED_TIMEOUT), "peak_mb": 0, "written": 0, "outcome": "killed: timeout"}
    if done.returncode != 0 and not done.stdout.strip():
        reason = f"process died ({_signal_name(done.returncode)})"
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        last = (done.stderr.strip().splitlines() or [""])[0][:60]
        return {"seconds": 0.0, "peak_mb": peak, "written": 0, "outcome": f"{reason}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _signal_name(code):
    import signal

    return signal.Signals(-code).name if code < 0 else f"exit {code}"


def _measure_one(path, via, work, without_guard):
    import django

    django.setup()
    from django.db import connection

    from patients import importing
    from patients.models import ImportBatch, Patient

    if without_guard:
        resource.setrlimit(resource.RLIMIT_AS, (UNGUARDED_LIMIT_BYTES, UNGUARDED_LIMIT_BYTES))
        resource.setrlimit(resource.RLIMIT_CPU, (UNGUARDED_TIMEOUT, UNGUARDED_TIMEOUT))
        importing.reading.check_workbook = lambda source: None
    connection.ensure_connection()
    before = Patient.all_objects.count() + ImportBatch.objects.count()
    through = _through_command if via == "command" else _admin_client(work)
    started = time.perf_counter()
    try:
        outcome = through(path)
    except MemoryError:
        outcome = "MemoryError"
    seconds = time.perf_counter() - started
    written = Patient.all_objects.count() + ImportBatch.objects.count() - before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "written": written, "outcome": outcome}))


def _through_command(path):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    try:
        call_command("import_workbook", str(path), "--dry-run", stdout=out, stderr=StringIO(), verbosity=0)
    except CommandError as refused:
        return f"refused: {refused}"
    lines = [line.strip() for line in out.getvalue().splitlines() if "possible duplicate" in line or "new," in line]
    return "dry run: " + "; ".join(lines)


def _admin_client(work):
    """A data manager's logged-in client, warmed up (the admin's templates and URLs loaded), so that
    only the file's own upload and preview are measured."""
    import html
    import re

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse
    from import_bench import data_manager_client

    client = data_manager_client(work)
    settings.IMPORT_BACKGROUND_MB = 1_000_000  # checked in the request, whose cost this bench measures
    upload_url = reverse("admin:patients_patient_import_workbook")
    client.get(upload_url)
    client.post(upload_url, {"workbook": SimpleUploadedFile("empty.txt", b"")})

    def through_admin(path):
        stored = client.post(upload_url, {"workbook": SimpleUploadedFile(path.name, path.read_bytes())})
        page = client.get(stored.url) if stored.status_code == 302 else stored
        text = page.content.decode()
        error = re.search(r'class="errorlist[^"]*"[^>]*>\s*<li>(.*?)</li>|<p class="errornote">(.*?)</p>', text, re.S)
        if error:
            return f"{page.status_code} refused: {html.unescape(' '.join((error.group(1) or error.group(2)).split()))}"
        duplicates = re.search(r"(\d[\d,]*) possible duplicate patients?", text)
        kilobytes = len(text) // 1024
        return f"{page.status_code} preview ({kilobytes:,} KB){f', {duplicates.group(0)}' if duplicates else ''}"

    return through_admin


if __name__ == "__main__":
    main()
