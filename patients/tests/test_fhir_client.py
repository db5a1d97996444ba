"""The FHIR API as other systems meet it: fhirpy, a FHIR client library, and a bulk client speaking
plain HTTP (requests), against a live server. patients/tests/test_fhir.py checks each response in
detail; this checks that real clients understand them: their searches, dates, paging and auth."""

import datetime
import json

import pytest
import requests
from django.apps import apps as django_apps
from fhir.resources.R4B import get_fhir_model_class
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound
from rest_framework.authtoken.models import Token

from patients import roles
from patients.fhir import mapping
from patients.roles import sync_role_groups
from patients.tests.factories import make_delivery, make_followup, make_patient, make_user

pytestmark = pytest.mark.django_db(transaction=True)

D = datetime.date


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    # live_server's database is emptied after each test, the migration's role groups with it.
    sync_role_groups(django_apps)


def token_for(role):
    user = make_user(f"fhir-{role.lower().replace(' ', '-')}", role)
    return f"Token {Token.objects.create(user=user).key}"


def test_fhirpy_reads_a_patient_her_observations_by_code_and_date_and_pages(live_server):
    patient = make_patient(patient_id="P100", name="Sita Gurung")
    make_delivery(patient, date_of_delivery=D(2023, 1, 5), haemoglobin_at_delivery=9.8)
    for month, reading in [(2, 10.4), (6, 11.2), (9, 12.1)]:
        make_followup(patient, visit_date=D(2023, month, 10), haemoglobin_g_dl=reading)
    for n in range(7):
        make_patient(patient_id=f"Q{n}", name=f"Kamala {n}")
    client = SyncFHIRClient(f"{live_server.url}/fhir", authorization=token_for(roles.CLINICIAN))

    found = client.resources("Patient").search(identifier="P100").get()
    assert found.id == str(patient.pk) and found["name"][0]["text"] == "Sita Gurung"
    assert client.reference("Patient", found.id).to_resource()["identifier"][0]["value"] == "P100"

    haemoglobin = (
        client.resources("Observation")
        .search(patient=f"Patient/{found.id}", code=f"{mapping.LOINC}|718-7", date__ge="2023-02-10")
        .search(date__lt="2023-09-10")
        .fetch_all()
    )
    assert [(o["effectiveDateTime"], o["valueQuantity"]["value"]) for o in haemoglobin] == [
        ("2023-02-10", 10.4),
        ("2023-06-10", 11.2),
    ]
    assert [o["interpretation"][0]["coding"][0]["code"] for o in haemoglobin if "interpretation" in o] == ["L"]

    # fetch_all follows the `next` links, three patients a page.
    kamalas = client.resources("Patient").search(name="kamala").limit(3).fetch_all()
    assert [p["identifier"][0]["value"] for p in kamalas] == [f"Q{n}" for n in range(7)]
    assert client.resources("Patient").search(name="kamala").count() == 7

    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "999999").to_resource()


def test_a_bulk_client_kicks_off_polls_and_downloads_ndjson(live_server):
    patient = make_patient(patient_id="P100", name="Sita Gurung")
    make_followup(patient, visit_date=D(2024, 3, 20), haemoglobin_g_dl=10.1, diagnosis="Mild anaemia")
    headers = {"Authorization": token_for(roles.ADMINISTRATOR), "Accept": "application/fhir+json"}
    kick_off = requests.get(
        f"{live_server.url}/fhir/$export?_type=Patient,Observation", headers={**headers, "Prefer": "respond-async"}
    )
    assert kick_off.status_code == 202
    status = requests.get(kick_off.headers["Content-Location"], headers=headers)
    assert status.status_code == 200
    outputs = status.json()["output"]
    files = {}
    for output in outputs:
        with requests.get(output["url"], headers={**headers, "Accept": "application/fhir+ndjson"}, stream=True) as got:
            assert got.status_code == 200 and got.headers["Content-Type"] == "application/fhir+ndjson"
            assert "Content-Length" not in got.headers  # streamed as it is written
            files[output["type"]] = [json.loads(line) for line in got.iter_lines() if line]
    for resource in files["Patient"] + files["Observation"]:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert [p["identifier"][0]["value"] for p in files["Patient"]] == ["P100"]
    assert sorted(o["code"]["coding"][0]["code"] for o in files["Observation"]) == sorted(
        ["718-7", "29463-7", "85354-9", "29463-7", "8302-2"]
    )
    # A clinician's token may not export.
    clinician = {"Authorization": token_for(roles.CLINICIAN), "Accept": "application/fhir+json"}
    assert requests.get(f"{live_server.url}/fhir/$export", headers=clinician).status_code == 403
