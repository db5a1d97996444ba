"""
Throughput of GET /api/patients/<patient_id> behind gunicorn, measured with wrk.

    bench/api_bench.py --database-url postgres://postgres@127.0.0.1:5432/hospital_bench

Creates the database if needed, migrates it and seeds --patients demo patients when it is empty,
issues a token for a clinician, starts gunicorn (--workers, DEBUG off) and lets wrk
(`apt-get install wrk`) ask for random patients for --duration seconds over --connections
connections, after a short warm-up. Prints requests per second, latency percentiles and errors.
Target (the API issue): at least 250 requests/s with 2 workers, p99 under 50 ms, no errors.
"""

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# wrk runs this per request: a random seeded patient (seed_demo numbers them P000001, P000002, ...).
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Token %(token)s"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", string.format("/api/patients/P%%06d", math.random(1, %(patients)d)))
end
"""


def manage(env, *args):
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def ensure_database(url):
    """Create the database named in `url` if the server does not have it yet."""
    server_url, name = url.rsplit("/", 1)
    exists = subprocess.run(
        ["psql", f"{server_url}/postgres", "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", f"{server_url}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)


# Longer than any client (or proxy) leaves a connection idle: with gunicorn's default of 2 s a client
# reusing a connection just as the server closes it gets "connection reset by peer".
KEEP_ALIVE_SECONDS = 75


def start_gunicorn(env, port, workers, threads=1):
    """gunicorn serving the app as in production: DEBUG off (no query log), a real secret,
    persistent connections. Returns the process and its base URL."""
    server_env = {
        **env, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "600",
    }  # fmt: skip
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "hospital.wsgi", f"--workers={workers}", f"--threads={threads}",
         f"--bind=127.0.0.1:{port}", "--log-level=warning", f"--keep-alive={KEEP_ALIVE_SECONDS}"],
        cwd=ROOT, env=server_env,
    )  # fmt: skip
    return server, f"http://127.0.0.1:{port}"


def wait_until_up(url, token, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # refused while it starts (URLError), or slow to answer its first request
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout} s")


def run_wrk(base_url, script, connections, duration):
    # One wrk thread drives all the connections (it is event-driven): on a 2-core machine a second
    # thread only takes CPU from the workers being measured. (gthread workers with 2 threads each
    # measured worse: 236 req/s, p99 128 ms.)
    output = subprocess.run(
        ["wrk", "--threads=1", f"--connections={connections}", f"--duration={duration}s",
         "--latency", f"--script={script}", base_url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return output


def parse_wrk(output):
    def ms(text):
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    percentiles = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "percentiles": percentiles,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="A PostgreSQL URL; the database is created if new.")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk).")

    env = {**os.environ, "DATABASE_URL": args.database_url, "DEBUG": "1"}
    ensure_database(args.database_url)
    manage(env, "migrate", "--no-input")
    manage(env, "seed_demo", "--patients", str(args.patients), "--if-empty")
    manage(env, "shell", "--no-imports", "-c", _CREATE_BENCH_USER)
    token = manage(env, "issue_api_token", "bench_clinician")
    count = int(manage(env, "shell", "--no-imports", "-c", _COUNT_PATIENTS))
    if count < args.patients:
        raise SystemExit(f"The database holds {count:,} patients, fewer than --patients {args.patients:,}.")

    server, base_url = start_gunicorn(env, args.port, args.workers)
    try:
        wait_until_up(f"{base_url}/api/patients/P000001", token)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(WRK_SCRIPT % {"token": token, "patients": args.patients})
            script.flush()
            run_wrk(base_url, script.name, args.connections, 3)  # warm-up: connections, caches
            result = parse_wrk(run_wrk(base_url, script.name, args.connections, args.duration))
    finally:
        server.terminate()
        server.wait(timeout=10)

    p = result["percentiles"]
    print(
        f"GET /api/patients/<random of {count:,}>, gunicorn {args.workers} workers, PostgreSQL, "
        f"wrk {args.connections} connections x {args.duration} s"
    )
    print(f"requests      {result['requests']:,}")
    print(f"requests/s    {result['rps']:.0f}")
    print(f"latency p50   {p['50']:.1f} ms   p90 {p['90']:.1f} ms   p99 {p['99']:.1f} ms")
    print(f"errors        {result['errors']}")
    met = result["rps"] >= 250 and p["99"] < 50 and result["errors"] == 0
    print("target (>= 250 req/s, p99 < 50 ms, no errors):", "met" if met else "NOT met")


_CREATE_BENCH_USER = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from patients import roles
user, _ = get_user_model().objects.get_or_create(username="bench_clinician")
user.groups.set([Group.objects.get(name=roles.CLINICIAN)])
"""

_COUNT_PATIENTS = "from patients.models import Patient; print(Patient.objects.count())"


if __name__ == "__main__":
    main()
