"""
Server time of the staff pages and admin changelists on a large database.

    DATABASE_URL=... .venv/bin/python manage.py seed_demo --patients 100000
    DATABASE_URL=... .venv/bin/python bench/pages_bench.py [--repeat 5]

(bench/insights_bench.py tops the follow-ups up to a million.) Every page is requested once to warm
the process up; then the insight pages' cache is cleared before each page, so the "first ms"
column is a page's time right after a write.

Requests go through Django's test client (no network, no browser): the figure is the time the
app and the database take for one page. Prints the median of --repeat runs, the query count, and
the first view's time (for the insight pages, the time to compute before the cache holds them),
each against its page's budget (BUDGETS); exits 1 when a page is over its budget.
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

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from patients import roles  # noqa: E402
from patients.models import Delivery, FollowUp, Patient  # noqa: E402

# (cached ms, nothing cached ms) per kind of page, on a 2-core machine with PostgreSQL and 100,000
# patients. An insight page computes when nothing is cached (insights/cache.py); the others have no
# cache, so both figures are the same page.
BUDGETS = {"insights": (300, 2000), "staff": (300, 300), "admin": (500, 500)}


def kind(name):
    return "insights" if name.startswith(("overview", "insights")) else "admin" if name.startswith("admin") else "staff"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver"]

    user, _ = get_user_model().objects.get_or_create(username="bench_datamanager", defaults={"is_staff": True})
    user.groups.set([Group.objects.get(name=roles.DATA_MANAGER)])
    client = Client()
    client.force_login(user)

    middle = Patient.objects.order_by("patient_id").values_list("patient_id", flat=True)[Patient.objects.count() // 2]
    district = Patient.objects.filter(patient_id=middle).values_list("district", flat=True).get()
    pages = [
        ("overview", "/"),
        ("overview, one district in 2024", f"/?district={district}&from=2024-01-01&to=2024-12-31"),
        ("insights: districts", "/insights/districts/"),
        ("insights: high-risk patients", "/insights/high-risk/"),
        ("insights: high-risk by haemoglobin", "/insights/high-risk/?sort=haemoglobin"),
        ("insights: weight and haemoglobin", "/insights/trends/"),
        ("insights: delivery type", "/insights/deliveries/"),
        ("insights: follow-ups", "/insights/follow-ups/"),
        ("insights: values to review", "/insights/review/"),
        ("patient detail with timeline", f"/patients/{middle}/"),
        ("patient list", "/patients/"),
        ("patient list, page 2000", "/patients/?page=2000"),
        ("patient list, search by name", "/patients/?q=sita"),
        ("patient list, search by ID", f"/patients/?q={middle}"),
        ("patient list, one district", f"/patients/?district={district}"),
        ("admin patients", "/admin/patients/patient/"),
        ("admin patients, search", "/admin/patients/patient/?q=gurung"),
        ("admin patients, one district", f"/admin/patients/patient/?district__id__exact={district}"),
        ("admin deliveries", "/admin/patients/delivery/"),
        ("admin deliveries, caesareans", "/admin/patients/delivery/?type_of_delivery__exact=c_section"),
        ("admin follow-ups", "/admin/patients/followup/"),
        ("admin follow-ups, this year", "/admin/patients/followup/?visit_date__gte=2026-01-01"),
    ]
    print(
        f"{connection.vendor}: {Patient.objects.count():,} patients, {Delivery.objects.count():,} deliveries, "
        f"{FollowUp.objects.count():,} follow-ups; median of {args.repeat}"
    )
    print(f"{'page':<36} {'ms':>8} {'queries':>8} {'first ms':>9}  budget (ms, first ms)")
    for _, url in pages:  # warm the process up (imports, templates), as a running server is
        client.get(url)
    over_budget = 0
    for name, url in pages:
        timings = []
        cache.clear()  # the insights cache: the first view computes (as after a write with INSIGHTS_MAX_AGE_SECONDS=0)
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        # The first view of a page fills the insights cache (insights/cache.py); the median is what
        # staff see until the records change.
        median, budget = statistics.median(timings), BUDGETS[kind(name)]
        over = median > budget[0] or timings[0] > budget[1]
        over_budget += over
        print(f"{name:<36} {median:>8.1f} {len(queries):>8} {timings[0]:>9.1f}  {budget[0]}, {budget[1]}"
              f"{'  OVER BUDGET' if over else ''}")  # fmt: skip
    return 1 if over_budget else 0


if __name__ == "__main__":
    sys.exit(main())
