"""
Memory and time of the long downloads: the high-risk list as csv and xlsx (the dashboard's download
links) and `manage.py export_insights`, for every district and for one, on a large database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital_bench .venv/bin/python bench/downloads_bench.py
    ... bench/downloads_bench.py --root /path/to/another/checkout   # the same cases on other code

Run bench/insights_bench.py first: it fills the database (100,000 patients, 1,000,000 follow-ups).
Each case runs in a process of its own, which reports how much its peak memory (maximum resident
set) grew over what it held once Django was loaded and one small download had run: memory flat in
the number of rows means the same growth for 78,000 rows as for a district's 4,000.
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
CASES = ["csv", "xlsx", "export_insights"]


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(case, district_name):
    """In this process: run one download, print what it cost as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
    os.environ.setdefault("DEBUG", "0")  # DEBUG would keep every query's text in memory
    os.environ.setdefault("SECRET_KEY", "downloads-bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from patients import roles
    from patients.models import District

    user, _ = get_user_model().objects.get_or_create(username="downloads-bench")
    user.groups.set([Group.objects.get(name=roles.CLINICIAN)])
    client = Client()
    client.force_login(user)
    district = District.objects.get(name=district_name) if district_name else None

    def run(district):
        if case == "export_insights":
            with tempfile.NamedTemporaryFile(suffix=".xlsx") as out:
                extra = ["--district", district.name] if district else []
                call_command("export_insights", "--out", out.name, *extra, stdout=open(os.devnull, "w"))  # noqa: SIM115
                return os.path.getsize(out.name)
        params = {"format": case, **({"district": district.pk} if district else {})}
        response = client.get("/insights/high-risk/", params)
        assert response.status_code == 200, response.status_code
        size = 0
        for chunk in response.streaming_content if response.streaming else [response.content]:
            size += len(chunk)
        response.close()
        return size

    smallest = District.objects.order_by("name").last()
    run(smallest)  # everything imported and warmed up: what follows is the download's own
    before = peak_mb()
    started = time.perf_counter()
    size = run(district)
    print(json.dumps({"seconds": time.perf_counter() - started, "grew_mb": peak_mb() - before, "bytes": size}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="The checkout whose code runs the downloads.")
    parser.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--district", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, str(args.root))
        os.chdir(args.root)
        one(args.one, args.district)
        return

    sys.path.insert(0, str(args.root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
    import django

    django.setup()
    from insights import queries
    from patients.models import District

    district = District.objects.order_by("name").first()
    counts = {"": queries.count_high_risk_patients(), district.name: queries.count_high_risk_patients(district)}
    print(f"code: {args.root}")
    print(f"{'download':<16} {'district':<14} {'high-risk rows':>14} {'s':>6} {'MB':>8} {'peak grew MB':>13}")
    for case in CASES:
        for name in (district.name, ""):
            command = [sys.executable, __file__, "--root", str(args.root), "--one", case, "--district", name]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(
                f"{case:<16} {name or 'all':<14} {counts[name]:>14,} {result['seconds']:>6.1f} "
                f"{result['bytes'] / 1e6:>8.1f} {result['grew_mb']:>13.1f}"
            )


if __name__ == "__main__":
    main()
