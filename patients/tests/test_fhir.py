"""The FHIR R4 API (/fhir/): every response validated by fhir.resources' R4B models, values equal
to the records, searches and paging as FHIR clients use them, errors as OperationOutcomes, and the
same logins, roles and audit as /api/."""

import datetime
import json

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from patients import roles, voiding
from patients.fhir import bulk, mapping, views
from patients.models import AccessLog, BulkExport, Delivery, RecordsWritten
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user

pytestmark = pytest.mark.django_db

D = datetime.date
LOINC_HAEMOGLOBIN = f"{mapping.LOINC}|718-7"


def valid(response, status=200):
    """The response's resource, after checking its status, media type and shape (R4B models)."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def entries(bundle, resource_type=None):
    return [e["resource"] for e in bundle["entry"] if resource_type in (None, e["resource"]["resourceType"])]


@pytest.fixture
def sita(data_manager):
    """A patient with two deliveries (one Caesarean) and three follow-ups (one voided)."""
    patient = make_patient(patient_id="P100", name="Sita Gurung", village="Ward 4", condition="Anaemia in pregnancy")
    first = make_delivery(patient, date_of_delivery=D(2023, 1, 5), haemoglobin_at_delivery=9.8, weight_at_delivery=60.5)
    second = make_delivery(patient, date_of_delivery=D(2024, 3, 12), type_of_delivery=Delivery.Type.C_SECTION,
                           haemoglobin_at_delivery=None)  # fmt: skip
    make_followup(patient, visit_date=D(2023, 1, 20), haemoglobin_g_dl=10.4, weight_kg=58.0, bp_systolic=142,
                  bp_diastolic=92, diagnosis="Mild anaemia, iron started")  # fmt: skip
    make_followup(patient, visit_date=D(2024, 3, 20), haemoglobin_g_dl=11.6, weight_kg=None, diagnosis="")
    voided = make_followup(patient, visit_date=D(2024, 4, 2), haemoglobin_g_dl=6.1)
    voiding.void(voided, data_manager, "Entered on the wrong patient")
    return {"patient": patient, "deliveries": (first, second), "voided": voided}


@pytest.fixture
def reader(client, clinician):
    client.force_login(clinician)
    return client


def test_the_capability_statement_lists_exactly_what_is_served(reader):
    statement = valid(reader.get("/fhir/metadata"))
    assert statement["fhirVersion"] == mapping.FHIR_VERSION and statement["kind"] == "instance"
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(served) == set(mapping.SEARCH_PARAMETERS)
    for resource_type, parameters in mapping.SEARCH_PARAMETERS.items():
        named = {p["name"] for p in served[resource_type]["searchParam"]}
        assert named == set(parameters) | {"_count", "_offset"}
    assert [o["name"] for o in served["Patient"]["operation"]] == ["everything"]


def test_a_patient_reads_with_her_identifier_name_and_address(reader, sita, settings):
    settings.FHIR_PATIENT_ID_SYSTEM = "urn:oid:2.16.524.1.99.1"
    patient = sita["patient"]
    resource = valid(reader.get(f"/fhir/Patient/{patient.pk}"))
    assert resource["id"] == str(patient.pk)
    assert resource["identifier"] == [{"use": "usual", "system": "urn:oid:2.16.524.1.99.1", "value": "P100"}]
    assert resource["name"] == [{"text": "Sita Gurung"}] and resource["gender"] == "female"
    assert resource["address"] == [{"use": "home", "city": "Ward 4", "district": "Kaski"}]
    log = AccessLog.objects.get()
    assert (log.patient, log.what, log.user.username) == (patient, f"FHIR: Patient/{patient.pk}", "clinician")


def test_haemoglobin_observations_are_her_readings_low_below_the_cutoff(reader, sita):
    patient = sita["patient"]
    bundle = valid(reader.get(f"/fhir/Observation?patient=Patient/{patient.pk}&code={LOINC_HAEMOGLOBIN}"))
    readings = {(o["effectiveDateTime"], o["valueQuantity"]["value"]) for o in entries(bundle)}
    assert readings == {("2023-01-05", 9.8), ("2023-01-20", 10.4), ("2024-03-20", 11.6)}  # not the voided 6.1
    low = {o["effectiveDateTime"]: o.get("interpretation") for o in entries(bundle)}
    assert low["2024-03-20"] is None
    assert low["2023-01-05"] == [{"coding": [{"system": mapping.INTERPRETATION, "code": "L", "display": "Low"}],
                                  "text": "Moderate anaemia"}]  # fmt: skip
    assert low["2023-01-20"][0]["text"] == "Mild anaemia"
    for observation in entries(bundle):
        assert (
            observation["valueQuantity"]["code"] == "g/dL" and observation["referenceRange"][0]["low"]["value"] == 11.0
        )
        assert observation["encounter"]["reference"].startswith(("Encounter/delivery-", "Encounter/followup-"))


def test_each_measurement_has_its_loinc_code_unit_and_encounter(reader, sita):
    patient = sita["patient"]
    observations = entries(valid(reader.get(f"/fhir/Observation?patient={patient.pk}&_count=100")))
    by_id = {o["id"]: o for o in observations}
    first_delivery = sita["deliveries"][0]
    weight = by_id[f"delivery-{first_delivery.pk}-weight"]
    assert weight["code"]["coding"][0]["code"] == "29463-7"
    assert weight["valueQuantity"] == {"value": 60.5, "unit": "kg", "system": mapping.UCUM, "code": "kg"}
    assert weight["encounter"] == {"reference": f"Encounter/delivery-{first_delivery.pk}"}
    panel = next(o for o in observations if o.get("effectiveDateTime") == "2023-01-20" and "component" in o)
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in panel["component"]] == [("8480-6", 142, "mm[Hg]"), ("8462-4", 92, "mm[Hg]")]  # fmt: skip
    height = by_id[f"patient-{patient.pk}-height"]
    assert height["valueQuantity"]["value"] == 152.0 and "effectiveDateTime" not in height
    # Every measure of the table, and nothing it does not name (the follow-up without a weight has none).
    codes = sorted(o["code"]["coding"][0]["code"] for o in observations)
    assert codes == sorted(["718-7"] * 3 + ["29463-7"] * 3 + ["85354-9"] * 2 + ["8302-2"])


def test_observations_search_by_code_and_date_with_prefixes(reader, sita):
    url = f"/fhir/Observation?patient={sita['patient'].pk}&code=718-7,{mapping.LOINC}|29463-7"
    dates = lambda query: sorted(o["effectiveDateTime"] for o in entries(valid(reader.get(url + query))))  # noqa: E731
    assert dates("&date=ge2023-01-20&date=le2024-03-20") == ["2023-01-20", "2023-01-20", "2024-03-20"]
    assert dates("&date=gt2023-01-20") == ["2024-03-20"]
    assert dates("&date=2023-01-05") == ["2023-01-05", "2023-01-05"]
    assert dates("&date=lt2023-01-05") == []
    assert valid(reader.get(url.replace("718-7,", "http://other.org|"))).get("entry") == []


def test_encounters_procedures_and_conditions_of_her_records(reader, sita):
    patient = sita["patient"]
    everything = valid(reader.get(f"/fhir/Patient/{patient.pk}/$everything"))
    assert everything["type"] == "searchset" and everything["total"] == len(everything["entry"])
    kinds = [r["resourceType"] for r in entries(everything)]
    assert kinds.count("Patient") == 1 and kinds.count("Encounter") == 4 and kinds.count("Procedure") == 2
    procedures = {p["performedDateTime"]: p["code"] for p in entries(everything, "Procedure")}
    assert procedures["2024-03-12"]["coding"] == [{"system": mapping.SNOMED, "code": "11466000",
                                                   "display": "Cesarean section"}]  # fmt: skip
    assert procedures["2024-03-12"]["text"] == "Caesarean section"
    assert procedures["2023-01-05"]["coding"][0]["code"] == "177184002"
    conditions = sorted(c["code"]["text"] for c in entries(everything, "Condition"))
    assert conditions == ["Anaemia in pregnancy", "Mild anaemia, iron started"]
    # A search by type gives the same resources as $everything, and each reads alone.
    for resource_type in ("Encounter", "Procedure", "Condition", "Observation"):
        found = entries(valid(reader.get(f"/fhir/{resource_type}?patient={patient.pk}&_count=200")))
        assert found == entries(everything, resource_type)
        for resource in found:
            assert valid(reader.get(f"/fhir/{resource_type}/{resource['id']}")) == resource


def test_every_delivery_mode_has_its_snomed_procedure(reader):
    patient = make_patient()
    for day, mode in enumerate(Delivery.Type):
        make_delivery(patient, date_of_delivery=D(2024, 1, day + 1), type_of_delivery=mode)
    found = entries(valid(reader.get(f"/fhir/Procedure?patient={patient.pk}")))
    assert [p["code"]["coding"][0]["code"] for p in found] == [mapping.DELIVERY_PROCEDURES[m][0] for m in Delivery.Type]


def test_voided_records_and_patients_are_not_found(reader, sita, data_manager):
    patient, voided = sita["patient"], sita["voided"]
    assert valid(reader.get(f"/fhir/Encounter/followup-{voided.pk}"), 404)["issue"][0]["code"] == "not-found"
    assert valid(reader.get(f"/fhir/Observation/followup-{voided.pk}-haemoglobin"), 404)
    voiding.void(patient, data_manager, "Registered twice")
    assert valid(reader.get(f"/fhir/Patient/{patient.pk}"), 404)
    assert valid(reader.get(f"/fhir/Patient/{patient.pk}/$everything"), 404)
    assert valid(reader.get("/fhir/Patient?identifier=P100"))["total"] == 0
    assert valid(reader.get(f"/fhir/Observation?patient={patient.pk}"))["total"] == 0


def test_patients_search_by_identifier_name_and_district(reader, sita, settings):
    make_patient(patient_id="P200", name="Gita Sitaula")
    make_patient(patient_id="P300", name="Sita Rai", district=make_district("Jhapa"))

    def ids(query):
        return sorted(p["identifier"][0]["value"] for p in entries(valid(reader.get(f"/fhir/Patient?{query}"))))

    assert ids("identifier=P100") == ["P100"]
    assert ids(f"identifier={settings.FHIR_PATIENT_ID_SYSTEM}|P100") == ["P100"]
    assert ids("identifier=http://elsewhere.example|P100") == []
    make_patient(patient_id="P400", name="Anisita Tamang")
    assert ids("name=sita") == ["P100", "P200", "P300"]  # her name or a word of it starts so, any case
    assert ids("name=gurung") == ["P100"]
    assert ids("name:contains=sita") == ["P100", "P200", "P300", "P400"]
    assert ids("name:exact=sita rai") == [] and ids("name:exact=Sita Rai") == ["P300"]
    assert ids("address-district=kas&name=sita") == ["P100", "P200"]
    assert ids("address-district=jha&name=sita") == ["P300"]
    assert ids(f"_id={sita['patient'].pk}") == ["P100"]


def test_a_search_pages_through_every_match_by_its_links(reader):
    for n in range(7):
        make_patient(patient_id=f"Q{n}", name=f"Kamala {n}")
    seen, url = [], "/fhir/Patient?name=kamala&_count=3"
    while url:
        bundle = valid(reader.get(url))
        assert bundle["total"] == 7
        seen += [p["identifier"][0]["value"] for p in entries(bundle)]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = following[0].removeprefix("http://testserver") if following else None
    assert seen == [f"Q{n}" for n in range(7)]
    assert valid(reader.get("/fhir/Patient?name=kamala&_count=0"))["entry"] == []
    most = valid(reader.get("/fhir/Patient?name=kamala&_count=5000"))  # capped at the most a page holds
    assert len(most["entry"]) == 7 and "_count=200" in most["link"][0]["url"]


def test_errors_are_operation_outcomes_with_the_right_status(client, reader, sita, no_role_user):
    patient = sita["patient"]
    assert valid(reader.get("/fhir/Patient/999999"), 404)["issue"][0]["code"] == "not-found"
    assert valid(reader.get("/fhir/Specimen?patient=1"), 404)
    assert valid(reader.get("/fhir/no/such/thing"), 404)
    assert (
        valid(reader.get(f"/fhir/Observation?patient={patient.pk}&date=yesterday"), 400)["issue"][0]["code"]
        == "invalid"
    )
    assert valid(reader.get("/fhir/Observation?code=718-7"), 400)["issue"][0]["code"] == "required"
    assert valid(reader.get("/fhir/Patient?_count=many"), 400)
    assert valid(reader.get("/fhir/Patient?_offset=" + "9" * 19), 400)  # no integer the database holds
    assert valid(reader.get(f"/fhir/Observation/followup-{'9' * 19}-haemoglobin"), 404)
    assert valid(reader.get("/fhir/Encounter/visit-1"), 404)
    assert valid(reader.get(f"/fhir/Encounter?patient={patient.pk}&date=ge01/02/2024"), 400)
    # A patient reference that names nobody: nothing matches.
    assert valid(reader.get("/fhir/Observation?patient=Patient/someone"))["total"] == 0
    # Unknown parameters: ignored, unless the client asks for strict handling.
    assert valid(reader.get("/fhir/Patient?birthdate=2000-01-01"))["total"] == 1
    strict = valid(reader.get("/fhir/Patient?birthdate=2000-01-01", HTTP_PREFER="handling=strict"), 400)
    assert strict["issue"][0]["code"] == "not-supported" and "birthdate" in strict["issue"][0]["diagnostics"]
    assert valid(reader.post("/fhir/Patient", {}, content_type="application/fhir+json"), 405)
    reader.logout()
    assert valid(client.get(f"/fhir/Patient/{patient.pk}"), 401)["issue"][0]["code"] == "login"
    client.force_login(no_role_user)
    refused = valid(client.get(f"/fhir/Patient/{patient.pk}/$everything"), 403)
    assert refused["issue"][0]["code"] == "forbidden" and "Gurung" not in str(refused)


def test_a_token_reads_as_the_api_does_and_json_is_offered_too(client, clinician, sita):
    token = Token.objects.create(user=clinician).key
    response = client.get(f"/fhir/Patient/{sita['patient'].pk}", HTTP_AUTHORIZATION=f"Token {token}",
                          HTTP_ACCEPT="application/json")  # fmt: skip
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["identifier"][0]["value"] == "P100"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("url", "queries"), [
    ("/fhir/Patient/{pk}", 5),  # session, user, her permissions; the patient, the access log
    ("/fhir/Observation?patient={pk}", 7),  # + her deliveries and her follow-ups
    ("/fhir/Patient/{pk}/$everything", 7),
    ("/fhir/Patient?name=sita", 6),  # session, user, permissions; the count, the page, the access log
])  # fmt: skip
def test_each_request_runs_a_fixed_number_of_queries(reader, sita, url, queries, django_assert_num_queries):
    reader.get("/fhir/metadata")  # the session's first read of its user is not the request's own
    with django_assert_num_queries(queries):
        assert reader.get(url.format(pk=sita["patient"].pk)).status_code == 200


reading = st.one_of(st.none(), st.floats(min_value=3.0, max_value=20.0).map(lambda v: round(v, 1)))
day = st.dates(min_value=D(2015, 1, 1), max_value=D(2025, 12, 31))


@given(delivery_readings=st.lists(st.tuples(day, reading), max_size=3, unique_by=lambda r: r[0]),
       followup_readings=st.lists(st.tuples(day, reading), max_size=6))  # fmt: skip
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_her_haemoglobin_observations_are_exactly_her_readings(reader, delivery_readings, followup_readings):
    with transaction.atomic():
        patient = make_patient()
        for when, value in delivery_readings:
            make_delivery(patient, date_of_delivery=when, haemoglobin_at_delivery=value)
        for when, value in followup_readings:
            make_followup(patient, visit_date=when, haemoglobin_g_dl=value)
        bundle = valid(reader.get(f"/fhir/Observation?patient={patient.pk}&code=718-7&_count=200"))
        got = sorted((o["effectiveDateTime"], o["valueQuantity"]["value"]) for o in entries(bundle))
        recorded = sorted((when.isoformat(), value) for when, value in delivery_readings + followup_readings
                          if value is not None)  # fmt: skip
        assert got == recorded and bundle["total"] == len(recorded)
        transaction.set_rollback(True)


# Bulk export ($export): the kick-off, the status, the NDJSON files.


@pytest.fixture
def exporter(client, administrator):
    client.force_login(administrator)
    return client


def kick_off(client, query="", status=202, prefer="respond-async"):
    response = client.get(f"/fhir/$export{query}", HTTP_ACCEPT="application/fhir+json", HTTP_PREFER=prefer)
    body = valid(response, status)
    return response, body


def ndjson(client, url):
    """The resources of an export's file, each validated; the response streams."""
    response = client.get(url.removeprefix("http://testserver"), HTTP_ACCEPT="application/fhir+ndjson")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/fhir+ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    found = [json.loads(line) for line in lines]
    for resource in found:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return found


def test_a_bulk_export_gives_every_resource_of_every_patient_in_rounds(exporter, sita, data_manager, monkeypatch):
    monkeypatch.setattr(bulk, "PATIENTS_PER_ROUND", 2)  # several rounds with five patients
    others = [make_patient(patient_id=f"B{n}") for n in range(4)]
    for n, patient in enumerate(others):
        make_followup(patient, visit_date=D(2024, 5, n + 1), haemoglobin_g_dl=8.0 + n, diagnosis=f"Note {n}")
    voiding.void(others[-1], data_manager, "Registered twice")
    response, outcome = kick_off(exporter)
    assert outcome["issue"][0]["severity"] == "information"
    status_url = response["Content-Location"]
    manifest = exporter.get(status_url.removeprefix("http://testserver"))
    assert manifest.status_code == 200 and manifest["Content-Type"] == "application/json" and manifest["Expires"]
    body = manifest.json()
    assert body["requiresAccessToken"] is True and body["error"] == []
    assert body["request"] == "http://testserver/fhir/$export"
    assert [output["type"] for output in body["output"]] == list(bulk.RESOURCE_TYPES)
    exported = [resource for output in body["output"] for resource in ndjson(exporter, output["url"])]
    # Exactly what $everything gives for each patient not voided, type by type.
    expected = []
    for resource_type in bulk.RESOURCE_TYPES:
        for patient in [sita["patient"], *others[:-1]]:
            everything = valid(exporter.get(f"/fhir/Patient/{patient.pk}/$everything"))
            expected += entries(everything, resource_type)
    assert exported == expected
    assert {r["subject"]["reference"] for r in exported if "subject" in r} == {
        f"Patient/{p.pk}" for p in [sita["patient"], *others[:-1]]
    }
    # The access log: who asked, and each file with the number of resources it held.
    logs = AccessLog.objects.filter(kind=AccessLog.Kind.EXPORT).order_by("at", "pk")
    assert [(log.user.username, log.rows) for log in logs] == [("administrator", None)] + [
        ("administrator", len(entries_of)) for entries_of in
        ([r for r in exported if r["resourceType"] == t] for t in bulk.RESOURCE_TYPES)
    ]  # fmt: skip


def test_an_export_of_some_types_and_its_refusals(exporter, sita):
    response, _ = kick_off(exporter, "?_type=Observation,Patient&_outputFormat=application/fhir%2Bndjson")
    manifest = exporter.get(response["Content-Location"].removeprefix("http://testserver")).json()
    assert [output["type"] for output in manifest["output"]] == ["Patient", "Observation"]
    export_id = response["Content-Location"].rsplit("/", 1)[1]
    assert valid(exporter.get(f"/fhir/$export-file/{export_id}/Encounter.ndjson"), 404)
    # What the spec lets a server refuse, refused by name.
    refusals = [
        ("?_type=Specimen", "Specimen"),
        ("?_elements=id", "_elements"),
        ("?_outputFormat=text/csv", "text/csv"),
        ("?_typeFilter=Observation%3Fcode%3D718-7", "_typeFilter"),
    ]
    for query, named in refusals:
        _, outcome = kick_off(exporter, query, 400)
        assert outcome["issue"][0]["code"] == "not-supported" and named in outcome["issue"][0]["diagnostics"]
    # ... unless the client asks for lenient handling of what the server does not support.
    kick_off(exporter, "?_elements=id", prefer="respond-async, handling=lenient")


def test_an_export_is_for_administrators_and_only_its_own(client, exporter, sita, clinician, data_manager):
    response, _ = kick_off(exporter)
    status_url = response["Content-Location"].removeprefix("http://testserver")
    file_url = exporter.get(status_url).json()["output"][0]["url"].removeprefix("http://testserver")
    other_admin = make_user("second_admin", roles.ADMINISTRATOR)
    # Other roles may not export; another administrator may, but not read this export.
    for user, statuses in [(clinician, (403, 403)), (data_manager, (403, 403)), (other_admin, (202, 404))]:
        client.force_login(user)
        assert client.get("/fhir/$export", HTTP_ACCEPT="application/fhir+json").status_code == statuses[0]
        for url in (status_url, file_url):
            refused = client.get(url, HTTP_ACCEPT="application/fhir+json")
            assert refused.status_code == statuses[1], (user, url)
            assert "Gurung" not in refused.content.decode()
    # ... nor cancel it: it is still there for her.
    assert valid(client.delete(status_url), 404)
    assert BulkExport.objects.filter(requested_by__username="administrator").exists()
    client.logout()
    assert valid(client.get(status_url), 401)
    assert valid(client.delete(status_url), 401)
    # Cancelled: its status and files are gone.
    client.force_login(User.objects.get(username="administrator"))
    assert valid(client.delete(status_url), 202)["issue"][0]["severity"] == "information"
    assert valid(client.get(status_url), 404) and valid(client.get(file_url, HTTP_ACCEPT="application/fhir+json"), 404)


def test_an_export_expires(exporter, sita):
    response, _ = kick_off(exporter)
    status_url = response["Content-Location"].removeprefix("http://testserver")
    BulkExport.objects.update(requested_at=timezone.now() - views.EXPORT_LIFETIME)
    assert "expired" in valid(exporter.get(status_url), 404)["issue"][0]["diagnostics"]


def test_an_export_file_reads_in_rounds_of_three_queries(exporter, sita, monkeypatch, django_assert_num_queries):
    for n in range(5):
        make_followup(make_patient(patient_id=f"R{n}"), visit_date=D(2024, 6, 1))
    monkeypatch.setattr(bulk, "PATIENTS_PER_ROUND", 2)  # six patients: three rounds, and one that finds none
    response, _ = kick_off(exporter, "?_type=Observation")
    file_url = exporter.get(response["Content-Location"].removeprefix("http://testserver")).json()["output"][0]["url"]
    streamed = exporter.get(file_url.removeprefix("http://testserver"))
    # Each round: patients, then their deliveries and follow-ups; at the end, the access log's count.
    with django_assert_num_queries(3 * 3 + 1 + 1):
        # Hers, and for each other patient: her height and weight, and her visit's three readings.
        assert len(b"".join(streamed.streaming_content).splitlines()) == 9 + 5 * 5


def test_the_capability_statement_offers_the_export(reader):
    statement = valid(reader.get("/fhir/metadata"))
    assert [o["name"] for o in statement["rest"][0]["operation"]] == ["export"]


def test_searches_read_as_fhir_defines_them(reader, sita):
    pk = sita["patient"].pk
    url = f"/fhir/Observation?patient={pk}&code=718-7"

    def dates(query, base=url):
        return sorted(o["effectiveDateTime"] for o in entries(valid(reader.get(base + query))))

    # A date covers its year, month or day; a moment counts by its day.
    assert dates("&date=2023") == ["2023-01-05", "2023-01-20"]
    assert dates("&date=2024-03") == ["2024-03-20"]
    assert dates("&date=ge2023-01-20T10:00:00Z") == ["2023-01-20", "2024-03-20"]
    assert dates("&date=gt2023") == dates("&date=ge2024") == ["2024-03-20"]
    assert dates("&date=ne2023-01-20") == ["2023-01-05", "2024-03-20"]
    assert valid(reader.get(url + "&date=2023-02-30"), 400)
    # `subject` names her as `patient` does; two different patients match nothing.
    assert dates("", f"/fhir/Observation?subject=Patient/{pk}&code=718-7") == dates("")
    assert dates(f"&patient={make_patient(patient_id='P900').pk}") == []
    # An empty value is ignored; "system|" is any code of the system; "|code" a code without one.
    assert dates("&date=") == dates("")
    loinc = entries(valid(reader.get(f"/fhir/Observation?patient={pk}&code={mapping.LOINC}|&_count=100")))
    assert len(loinc) == 9
    assert dates("", f"/fhir/Observation?patient={pk}&code=|718-7") == []
    assert valid(reader.get("/fhir/Patient?identifier=|P100"))["total"] == 0
    # A modifier a parameter does not take is refused; so is a value longer than any real one.
    for query in ("/fhir/Patient?name:missing=true", f"/fhir/Observation?patient={pk}&code:text=haemoglobin"):
        assert valid(reader.get(query), 400)["issue"][0]["code"] == "not-supported"
    assert valid(reader.get("/fhir/Patient?name=" + "a" * 50_001), 400)["issue"][0]["code"] == "too-long"
    # _count=0 asks for the total alone: no page to follow.
    counted = valid(reader.get("/fhir/Patient?_count=0"))
    assert counted["total"] == 2 and [link["relation"] for link in counted["link"]] == ["self"]  # she and P900


def test_formats_and_methods(reader, sita):
    pk = sita["patient"].pk
    assert valid(reader.get(f"/fhir/Patient/{pk}?format=xyz"))["id"] == str(pk)  # not DRF's format switch
    assert valid(reader.get(f"/fhir/Patient/{pk}?_format=json"))["id"] == str(pk)
    assert valid(reader.get(f"/fhir/Patient/{pk}?_format=application/fhir+json"))["id"] == str(pk)
    assert valid(reader.get(f"/fhir/Patient/{pk}?_format=xml"), 406)["issue"][0]["code"] == "not-supported"
    paged = valid(reader.get("/fhir/Patient?_format=json&_count=0"))
    assert "_format=json" in paged["link"][0]["url"]
    assert valid(reader.get("/fhir/"), 404)["issue"][0]["code"] == "not-found"
    assert valid(reader.options("/fhir/metadata"), 405)


def test_a_patient_search_logs_each_patient_it_shows(reader, sita):
    make_patient(patient_id="P200", name="Sita Rai")
    valid(reader.get(f"/fhir/Patient?_id={sita['patient'].pk}"))
    valid(reader.get("/fhir/Patient?name=sita&_count=0"))  # the total alone shows nobody
    valid(reader.get("/fhir/Patient?name=sita"))
    logged = [(log.patient_ref, log.what) for log in AccessLog.objects.order_by("pk")]
    assert logged == [
        ("P100", "FHIR: Patient search"),
        ("P100", "FHIR: Patient search"),
        ("P200", "FHIR: Patient search"),
    ]


def test_export_edges_a_bulk_client_meets(exporter, sita):
    # An unencoded "+" in _outputFormat; parameters ignored under lenient handling are named.
    response, outcome = kick_off(exporter, "?_outputFormat=application/fhir+ndjson&_elements=id",
                                 prefer="respond-async, handling=lenient")  # fmt: skip
    assert [(issue["severity"], "_elements" in issue["diagnostics"]) for issue in outcome["issue"]] == [
        ("information", False), ("warning", True)]  # fmt: skip
    file_url = exporter.get(response["Content-Location"].removeprefix("http://testserver")).json()["output"][0]["url"]
    file_url = file_url.removeprefix("http://testserver")
    assert exporter.get("/fhir/$export").status_code == 202 and exporter.head("/fhir/$export").status_code == 405
    before = AccessLog.objects.count()
    head = exporter.head(file_url)
    assert head.status_code == 200 and head["Content-Type"] == "application/fhir+ndjson" and not head.content
    assert AccessLog.objects.count() == before  # nothing was read
    plain = exporter.get(file_url, HTTP_ACCEPT="application/ndjson")
    assert plain.status_code == 200 and b"".join(plain.streaming_content).count(b"\n") == 1


def test_a_download_cut_short_is_logged_as_such(administrator, monkeypatch):
    # What the response does when the client goes away: it closes the pieces it was sending.
    monkeypatch.setattr(bulk, "PIECE_BYTES", 1)  # a piece per line
    access = AccessLog.objects.create(kind=AccessLog.Kind.EXPORT, user=administrator, what="FHIR bulk export: Patient")
    pieces = bulk.in_pieces(views._counted(iter(["{}\n", "{}\n", "{}\n"]), access))
    assert next(pieces) == "{}\n"
    pieces.close()
    access.refresh_from_db()
    assert (access.what, access.rows) == ("FHIR bulk export: Patient (interrupted)", 1)


def test_an_export_since_a_moment_has_the_patients_written_since(exporter, sita, clinician):
    quiet, written = make_patient(patient_id="P200"), make_patient(patient_id="P300")
    long_ago = timezone.now() - datetime.timedelta(days=30)
    RecordsWritten.objects.update(written_at=long_ago)
    # A follow-up through the API notes when her records were written (as every writer does).
    api = Client()
    api.force_login(clinician)
    visit = {"visit_number": 1, "visit_date": "2026-11-30", "weight_kg": 61}
    added = api.post(f"/api/patients/{written.patient_id}/followups", visit, content_type="application/json")
    assert added.status_code == 201, added.content
    assert RecordsWritten.objects.get(patient=written).written_at > long_ago + datetime.timedelta(days=29)
    assert RecordsWritten.objects.get(patient=quiet).written_at == long_ago
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat().replace("+00:00", "Z")

    def exported(query):
        response, _ = kick_off(exporter, query)
        manifest = exporter.get(response["Content-Location"].removeprefix("http://testserver")).json()
        return {output["type"]: ndjson(exporter, output["url"]) for output in manifest["output"]}

    files = exported(f"?_type=Patient,Encounter&_since={since}")
    assert [p["identifier"][0]["value"] for p in files["Patient"]] == ["P300"]
    assert {e["subject"]["reference"] for e in files["Encounter"]} == {f"Patient/{written.pk}"}
    # A moment before anyone's last write: everyone. An unencoded "+" of the zone reads as one.
    everyone = exported(f"?_type=Patient&_since={long_ago.isoformat()}")["Patient"]
    assert sorted(p["identifier"][0]["value"] for p in everyone) == ["P100", "P200", "P300"]
    for not_an_instant in ("yesterday", "2024-01-01", "2024-01-01T08:00:00"):  # an instant has a time and a zone
        _, refused = kick_off(exporter, f"?_since={not_an_instant}", 400)
        assert refused["issue"][0]["code"] == "invalid" and "_since" in refused["issue"][0]["diagnostics"]
