"""
Load test: 50 clinicians at once against gunicorn on PostgreSQL with 100,000 patients, for 60 s.

    .venv/bin/pip install -r bench/requirements.txt   # locust
    .venv/bin/python bench/load_test.py --database-url postgres://postgres@127.0.0.1:5432/hospital_bench

Creates the database if needed, migrates it and seeds --patients demo patients when it is empty,
makes a clinician with a password and an API token, starts gunicorn as README's "Running in
production" says (DEBUG off, --workers x --threads) and the background worker (`manage.py
db_worker`, which refreshes insight results behind the records), and lets locust
(bench/locustfile.py) run --users users for --duration seconds, each mixing page views, API reads
and follow-up writes. Prints each kind of request's count, median, p95 and failures.

Targets: no errors; the insight pages' p95 and the whole run's p95 at most 300 ms. Logins are
aside: the users log in through the login page before the load starts. `--max-age 0` serves every insight
page exact after each write (INSIGHTS_MAX_AGE_SECONDS=0), as before insights/cache.py served
results behind the records: run both for the before and after figures.
"""

import argparse
import csv
import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from api_bench import ensure_database, manage, start_gunicorn, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_CREATE_USER = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from patients import roles
user, _ = get_user_model().objects.get_or_create(username="loadtest")
user.set_password({password!r})
user.save()
user.groups.set([Group.objects.get(name=roles.CLINICIAN)])
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="A PostgreSQL URL; the database is created if new.")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="Seconds of load, after all users started.")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8932)
    parser.add_argument("--max-age", type=int, help="INSIGHTS_MAX_AGE_SECONDS for the server (default: the settings')")
    args = parser.parse_args()

    env = {**os.environ, "DATABASE_URL": args.database_url, "DEBUG": "1"}
    if args.max_age is not None:
        env["INSIGHTS_MAX_AGE_SECONDS"] = str(args.max_age)
    ensure_database(args.database_url)
    manage(env, "migrate", "--no-input")
    manage(env, "seed_demo", "--patients", str(args.patients), "--if-empty")
    password = secrets.token_urlsafe(16)
    manage(env, "shell", "--no-imports", "-c", _CREATE_USER.format(password=password))
    manage(env, "axes_reset_username", "loadtest")
    token = manage(env, "issue_api_token", "loadtest")

    server, base_url = start_gunicorn(env, args.port, args.workers, args.threads)
    worker_env = {**env, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}
    worker = subprocess.Popen([PYTHON, "manage.py", "db_worker", "--no-reload"], cwd=ROOT, env=worker_env)
    # Users start 2 a second; the figures count from when all have started (--reset-stats), for
    # --duration seconds.
    ramp_up = 2
    try:
        wait_until_up(f"{base_url}/api/patients/P000001", token)
        # Each user's login happens before the load, through the login page: logins (a password
        # check of about 0.25 s of CPU each, by design) are left out of the figures.
        sessions = [log_in(base_url, "loadtest", password) for _ in range(args.users)]
        load_env = {**os.environ, "LOAD_SESSIONS": ",".join(sessions), "LOAD_TOKEN": token,
                    "LOAD_PATIENTS": str(args.patients)}  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            subprocess.run(
                [PYTHON, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--only-summary",
                 f"--users={args.users}", f"--spawn-rate={ramp_up}",
                 f"--run-time={args.duration + args.users // ramp_up}s", f"--host={base_url}",
                 f"--csv={out}/load", "--loglevel=WARNING", "--exit-code-on-error=0", "--reset-stats"],
                check=True, env=load_env, capture_output=True, text=True,
            )  # fmt: skip
            with open(f"{out}/load_stats.csv") as stats:
                rows = list(csv.DictReader(stats))
            with open(f"{out}/load_failures.csv") as failures:
                failed = list(csv.DictReader(failures))
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=10)

    print(f"{args.users} users x {args.duration} s against gunicorn {args.workers} workers x {args.threads} threads, "
          f"PostgreSQL, {args.patients:,} patients")  # fmt: skip
    print(f"{'request':28} {'count':>7} {'failed':>6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for row in rows:
        print(f"{row['Name']:28} {row['Request Count']:>7} {row['Failure Count']:>6} {row['50%']:>10} "
              f"{row['95%']:>8} {float(row['Max Response Time']):>8.0f}")  # fmt: skip
    for failure in failed:
        print(f"FAILED {failure['Method']} {failure['Name']}: {failure['Error']} ({failure['Occurrences']}x)")
    total = next(row for row in rows if row["Name"] == "Aggregated")
    insights = next(row for row in rows if row["Name"] == "page: insights")
    print(f"requests/s {float(total['Requests/s']):.1f}; errors {total['Failure Count']}; p95 {total['95%']} ms; "
          f"insight pages p95 {insights['95%']} ms")  # fmt: skip
    met = total["Failure Count"] == "0" and int(total["95%"]) <= 300 and int(insights["95%"]) <= 300
    print("target (zero errors, p95 <= 300 ms overall and on insight pages):", "met" if met else "NOT met")


def log_in(base_url, username, password):
    """A session cookie for `username`, from the login page as a browser gets it."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    page = opener.open(f"{base_url}/accounts/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
    opener.open(f"{base_url}/accounts/login/", form.encode())
    session = next((cookie.value for cookie in cookies if cookie.name == "sessionid"), None)
    if session is None:
        raise SystemExit("the load-test user could not log in")
    return session


if __name__ == "__main__":
    main()
