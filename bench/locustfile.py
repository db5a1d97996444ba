"""
A ward's day in miniature, for bench/load_test.py: each simulated user is a clinician, logged in
beforehand, who mixes page views (patient search, her record, the insight pages), API reads and
follow-up writes, pausing 0.5-2 s between steps as a person at a screen does.

Each user writes follow-ups only for patients of her own slice, numbering each visit after the
patient's latest, so users never race for one visit number: any error is the server's.
Settings come from the environment (bench/load_test.py sets them): LOAD_SESSIONS (one session
cookie per user, from logins made before the load starts: a login is a deliberately slow password
check, and the figures are for the work that follows), LOAD_TOKEN, LOAD_PATIENTS (seed_demo's
patients are P000001, P000002, ...).
"""

import datetime
import itertools
import os
import random

from locust import HttpUser, between, task

PATIENTS = int(os.environ.get("LOAD_PATIENTS", "100000"))
SESSIONS = os.environ.get("LOAD_SESSIONS", "").split(",")
TOKEN = os.environ.get("LOAD_TOKEN", "")
SLICE = 1000  # patients each user writes to
INSIGHT_PAGES = ["/", "/insights/districts/", "/insights/high-risk/", "/insights/trends/", "/insights/deliveries/",
                 "/insights/follow-ups/", "/insights/review/"]  # fmt: skip
_user_numbers = itertools.count()


def patient_id(number):
    return f"P{number:06d}"


class Clinician(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        number = next(_user_numbers)
        self.own_patients = range(1 + number * SLICE, 1 + (number + 1) * SLICE)
        self.api_headers = {"Authorization": f"Token {TOKEN}"}
        self.client.cookies.set("sessionid", SESSIONS[number % len(SESSIONS)])

    @task(4)
    def patient_record_page(self):
        self.client.get(f"/patients/{patient_id(random.randint(1, PATIENTS))}/", name="page: patient record")

    @task(2)
    def patient_search(self):
        self.client.get(f"/patients/?q=P{random.randint(0, 99):02d}", name="page: patient search")

    @task(1)
    def insight_page(self):
        if os.environ.get("LOAD_WITHOUT_INSIGHTS"):
            return  # to see what the rest costs alone
        self.client.get(random.choice(INSIGHT_PAGES), name="page: insights")

    @task(4)
    def api_patient(self):
        self.client.get(f"/api/patients/{patient_id(random.randint(1, PATIENTS))}", headers=self.api_headers,
                        name="api: GET patient")  # fmt: skip

    @task(2)
    def api_followup_write(self):
        pid = patient_id(random.choice(self.own_patients))
        visits = self.client.get(f"/api/patients/{pid}/followups", headers=self.api_headers, name="api: GET follow-ups")
        latest = max((visit["visit_number"] for visit in visits.json()), default=0)
        body = {
            "visit_number": latest + 1,
            "visit_date": datetime.date.today().isoformat(),
            "weight_kg": round(random.uniform(45, 80), 1),
            "haemoglobin_g_dl": round(random.uniform(8, 14), 1),
            "bp_systolic": 118,
            "bp_diastolic": 76,
            "diagnosis": "load test visit",
        }
        self.client.post(f"/api/patients/{pid}/followups", json=body, headers=self.api_headers,
                         name="api: POST follow-up")  # fmt: skip
