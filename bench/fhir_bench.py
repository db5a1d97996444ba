"""
The FHIR API on a large database: $everything for one patient, and a bulk export of every patient.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital_bench .venv/bin/python bench/insights_bench.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital_bench .venv/bin/python bench/fhir_bench.py

(insights_bench seeds 100,000 patients and tops the follow-ups up to a million.) Requests go through
Django's test client as an administrator, with DEBUG off (no query log growing in memory), so the
figures are the app's and the database's time, without a network.

- $everything: median and 95th percentile over --samples random patients, with her resources.
- Export ($export, its status, then each NDJSON file read to the end): per file the resources,
  megabytes, seconds and resources per second, and the process's resident memory when the file
  began and at its highest while it streamed. Flat memory: the second stays near the first however
  large the file.
- Export `_since` yesterday, when --changed patients (1,000) were written since and the others
  long before: what a register pulling each night reads. It rewrites the bench database's
  RecordsWritten times to stage that.
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from patients import roles  # noqa: E402
from patients.models import Delivery, FollowUp, Patient, RecordsWritten  # noqa: E402

# How often the export's memory is read (in lines).
SAMPLE_EVERY = 50_000


def resident_mb():
    """This process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def everything(client, samples):
    pks = list(Patient.objects.values_list("pk", flat=True))
    chosen = random.Random(1).sample(pks, min(samples, len(pks)))
    client.get(f"/fhir/Patient/{chosen[0]}/$everything")  # warm up
    timings, sizes = [], []
    for pk in chosen:
        started = time.perf_counter()
        response = client.get(f"/fhir/Patient/{pk}/$everything")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        sizes.append(response.json()["total"])
    timings.sort()
    print(f"$everything, {len(chosen)} patients: median {statistics.median(timings):.1f} ms, "
          f"p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms; resources per patient median "
          f"{statistics.median(sizes):.0f}, most {max(sizes)}")  # fmt: skip


def export(client, query=""):
    started = time.perf_counter()
    kick_off = client.get(f"/fhir/$export{query}", HTTP_ACCEPT="application/fhir+json", HTTP_PREFER="respond-async")
    assert kick_off.status_code == 202, kick_off.content[:300]
    status = client.get(kick_off["Content-Location"].removeprefix("http://testserver"))
    print(f"export kick-off and status: {(time.perf_counter() - started) * 1000:.1f} ms")
    print(f"{'file':<24} {'resources':>11} {'MB':>8} {'s':>7} {'per s':>8} {'RSS MB at start':>16} {'highest':>8}")
    totals = [0, 0, 0.0]
    for output in status.json()["output"]:
        before = highest = resident_mb()
        started = time.perf_counter()
        response = client.get(output["url"].removeprefix("http://testserver"), HTTP_ACCEPT="application/fhir+ndjson")
        assert response.status_code == 200
        lines = size = 0
        sampled = 0
        for piece in response.streaming_content:
            lines += piece.count(b"\n")
            size += len(piece)
            if lines - sampled >= SAMPLE_EVERY:
                highest, sampled = max(highest, resident_mb()), lines
        response.close()
        seconds = time.perf_counter() - started
        highest = max(highest, resident_mb())
        totals = [totals[0] + lines, totals[1] + size, totals[2] + seconds]
        print(f"{output['type'] + '.ndjson':<24} {lines:>11,} {size / 1e6:>8.1f} {seconds:>7.1f} "
              f"{lines / seconds:>8,.0f} {before:>16.0f} {highest:>8.0f}")  # fmt: skip
    print(f"{'all':<24} {totals[0]:>11,} {totals[1] / 1e6:>8.1f} {totals[2]:>7.1f} {totals[0] / totals[2]:>8,.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="patients whose $everything is timed")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--changed", type=int, default=1000, help="patients written since yesterday")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver"]

    user, _ = get_user_model().objects.get_or_create(username="bench_administrator", defaults={"is_staff": True})
    user.groups.set([Group.objects.get(name=roles.ADMINISTRATOR)])
    client = Client()
    client.force_login(user)
    print(f"{connection.vendor}: {Patient.objects.count():,} patients, {Delivery.objects.count():,} deliveries, "
          f"{FollowUp.objects.count():,} follow-ups")  # fmt: skip
    everything(client, args.samples)
    if not args.skip_export:
        export(client)
        now = timezone.now()
        RecordsWritten.objects.update(written_at=now - datetime.timedelta(days=2))
        pks = list(Patient.objects.values_list("pk", flat=True))
        changed = random.Random(2).sample(pks, min(args.changed, len(pks)))
        RecordsWritten.objects.filter(patient__in=changed).update(written_at=now)
        since = (now - datetime.timedelta(days=1)).isoformat().replace("+00:00", "Z")
        print(f"\nexport _since yesterday, {len(changed):,} patients written since:")
        export(client, f"?_since={since}")


if __name__ == "__main__":
    main()
