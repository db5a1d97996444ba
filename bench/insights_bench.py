"""
Time every insight on a large database: 100,000 patients and 1,000,000 follow-ups by default.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital_bench .venv/bin/python bench/insights_bench.py
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python bench/insights_bench.py

Creates (PostgreSQL) and migrates the database, seeds --patients demo patients when it has none
(seed_demo), then tops the follow-ups up to --followups by copying existing visits under new visit
numbers (one INSERT ... SELECT per round, so loading stays in the database) and rebuilds the stored
facts the copies bypassed, timing that rebuild. Then prints the median of --repeat runs of each
analysis, without a date range (read from the stored facts) and for one district and year
(computed live). Target (#17): each at most 300 ms at 1,000,000 follow-ups, 1 s at 10,000,000.
The two lists count as their pages (what the pages compute); the whole lists, which the API and
the downloads read, are timed last (the high-risk list to its first row and to its last).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Max  # noqa: E402

from insights import facts, queries  # noqa: E402
from insights.views import ANOMALIES_PER_PAGE, HIGH_RISK_PER_PAGE  # noqa: E402
from patients.models import Delivery, District, FollowUp, Patient  # noqa: E402


def high_risk_page(**filters):
    """What the high-risk page reads: every high-risk patient's key in order, then its first page."""
    pks = queries.high_risk_patient_pks(**filters)
    return queries.high_risk_rows(pks[:HIGH_RISK_PER_PAGE], **filters)


def review_page(**filters):
    """What the values-to-review page reads: its first page, with how many there are in all."""
    return queries.anomalies_page(**filters, limit=ANOMALIES_PER_PAGE)["rows"]


# What each insight page computes when nothing is cached: the target applies to these. The two
# lists are paged: the high-risk page reads the ordered keys and 50 rows, the review page 50 rows.
ANALYSES = [
    ("average_weight_by_district", queries.average_weight_by_district),
    ("high-risk page (first 50)", high_risk_page),
    ("trends", queries.trends),
    ("district_metrics", queries.district_metrics),
    ("values-to-review page", review_page),
    ("delivery_outcomes", queries.delivery_outcomes),
    ("followup_effect", queries.followup_effect),
]


def whole_high_risk_list(**filters):
    """The downloads and the API's whole list, as they stream it: (ms to the first row, ms to the
    last, rows)."""
    started = time.perf_counter()
    rows = queries.stream_high_risk_patients(**filters)
    first, n = None, 0
    for _ in rows:
        n += 1
        if first is None:
            first = (time.perf_counter() - started) * 1000
    return first or 0.0, (time.perf_counter() - started) * 1000, n


def top_up_followups(target):
    """Copy existing visits under visit numbers above every patient's last until `target` rows."""
    table = FollowUp._meta.db_table
    started = time.perf_counter()
    topped_up = False
    while (count := FollowUp.objects.count()) < target:
        topped_up = True
        offset = FollowUp.objects.aggregate(last=Max("visit_number"))["last"]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (patient_id, visit_number, visit_date, weight_kg, haemoglobin_g_dl, "
                "bp_systolic, bp_diastolic, diagnosis) "
                f"SELECT patient_id, visit_number + %s, visit_date, weight_kg, haemoglobin_g_dl, bp_systolic, "
                f"bp_diastolic, diagnosis FROM {table} ORDER BY id LIMIT %s",
                [offset, target - count],
            )
    topped = time.perf_counter() - started
    started = time.perf_counter()
    if topped_up:
        facts.refresh()  # the INSERT ... SELECT told nobody
    rebuilt = time.perf_counter() - started
    with connection.cursor() as cursor:
        # The rebuild deleted every stored fact: without VACUUM (a server with autovacuum off) the
        # analyses would read a table twice its size.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return topped, rebuilt


def create_database():
    """Create the PostgreSQL database DATABASE_URL names, if it does not exist yet."""
    settings = connection.settings_dict
    if connection.vendor != "postgresql":
        return
    admin = connection.Database.connect(
        dbname="postgres",
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"],
        password=settings["PASSWORD"],
    )
    admin.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{settings["NAME"]}"')
    finally:
        admin.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--followups", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    create_database()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    call_command("seed_demo", patients=args.patients, if_empty=True, verbosity=0)
    seeded = time.perf_counter() - started
    topped, rebuilt = top_up_followups(args.followups)
    print(
        f"{connection.vendor}: {Patient.objects.count():,} patients, {Delivery.objects.count():,} deliveries, "
        f"{FollowUp.objects.count():,} follow-ups (seed {seeded:.1f} s, top-up {topped:.1f} s, "
        f"facts rebuilt in {rebuilt:.1f} s); median of {args.repeat}"
    )
    district = District.objects.order_by("name").first()
    cases = [("all districts", {}), (f"{district.name}, 2024", {
        "district": district, "date_from": "2024-01-01", "date_to": "2024-12-31"})]  # fmt: skip
    print(f"{'analysis':<28} {'filters':<20} {'ms':>8} {'rows':>8}")
    for name, query in ANALYSES:
        for label, filters in cases:
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = query(**filters)
                timings.append((time.perf_counter() - started) * 1000)
            rows = (
                len(result) if isinstance(result, list) else sum(len(v) for v in result.values() if isinstance(v, list))
            )
            print(f"{name:<28} {label:<20} {statistics.median(timings):>8.0f} {rows:>8,}")
    # The whole lists, as the API and the downloads read them: the high-risk list streams (what
    # counts is how soon it starts), the values to review come whole.
    for label, filters in cases:
        runs = [whole_high_risk_list(**filters) for _ in range(args.repeat)]
        first, last = statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)
        print(f"{'high-risk list, streamed':<28} {label:<20} {last:>8.0f} {runs[0][2]:>8,}  (first row {first:.0f} ms)")
    for label, filters in cases:
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            rows = queries.anomalies(**filters)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{'values to review, whole':<28} {label:<20} {statistics.median(timings):>8.0f} {len(rows):>8,}")


if __name__ == "__main__":
    main()
