"""
No request to /fhir/ gives a 500, and every FHIR answer is valid FHIR: hypothesis builds requests
from the API's own vocabulary (its types, ids, search parameters with modifiers and prefixes, the
bulk export's parameters, Prefer and Accept headers, methods) mixed with hostile text, as a
clinician and as an administrator. The FHIR API has no OpenAPI schema for schemathesis (FHIR
describes itself by its CapabilityStatement), so this walk is its fuzz.
"""

import uuid
from urllib.parse import quote, urlencode

import pytest
from django.db import connection
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hospital.tests.test_fuzz_pages import nasty, typed_text
from patients.fhir import bulk, mapping
from patients.fhir.views import DATE_PREFIXES
from patients.models import BulkExport
from patients.tests.factories import make_delivery, make_followup, make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(users):
    patient = make_patient(patient_id="P001", condition="Anaemia")
    delivery, followup = make_delivery(patient), make_followup(patient, diagnosis="Low hb")
    export = BulkExport.objects.create(
        requested_by=users["administrator"], resource_types=list(bulk.RESOURCE_TYPES), request_url="x"
    )
    ids = [str(patient.pk), f"delivery-{delivery.pk}", f"followup-{followup.pk}", f"followup-{followup.pk}-haemoglobin",
           f"patient-{patient.pk}-height", f"followup-{followup.pk}-diagnosis"]  # fmt: skip
    return {"ids": ids, "patient": patient.pk, "export": str(export.pk)}


TYPES = sorted({*mapping.SEARCH_PARAMETERS, *bulk.RESOURCE_TYPES, "Specimen", "Bundle", "OperationOutcome"})
PARAMETER_NAMES = sorted({name for parameters in mapping.SEARCH_PARAMETERS.values() for name in parameters}
                         | {"_count", "_offset", "_format", "_type", "_outputFormat", "_since", "_elements", "_sort",
                            "_typeFilter", "patient", "subject"})  # fmt: skip
MODIFIERS = ["", ":contains", ":exact", ":missing", ":not", ":text", ":"]
fhir_value = st.one_of(
    nasty,
    typed_text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.tuples(st.sampled_from(["", "eq", "ge", "gt", "le", "lt", "ne", "sa", "xx"]),
              st.sampled_from(["2024-01-01", "2024-13-40", "2024", "2024-01-01T10:00:00Z", "", "0001-01-01"]))
    .map("".join),
    st.sampled_from([f"{mapping.LOINC}|718-7", "|718-7", "718-7,8302-2", "|", "a|b|c", "Patient/1", "Patient/",
                     "http://x/fhir/Patient/1", ",", "Observation,Patient", "application/fhir+ndjson"]),
)  # fmt: skip
any_parameter_name = st.tuples(st.sampled_from(PARAMETER_NAMES), st.sampled_from(MODIFIERS)).map("".join) | typed_text


# Values of each kind of search parameter, as clients write them, right and wrong.
dates = st.tuples(
    st.sampled_from(["", "eq", "ge", "gt", "le", "lt", "ne", "sa", "xx"]),
    st.dates().map(str) | st.sampled_from(["2024-13-40", "2024", "2024-01-01T10:00:00Z", "", "0001-01-01"]),
).map("".join)
tokens = st.sampled_from(["718-7", f"{mapping.LOINC}|718-7", f"{mapping.LOINC}|85354-9", "|29463-7", "8302-2,718-7",
                          "|", "a|b|c", ",", "P001", "p001"])  # fmt: skip
KIND_VALUES = {"date": dates, "token": tokens, "reference": st.sampled_from(["Patient/", "Patient/x", "1"]),
               "string": typed_text | st.sampled_from(["Kaski", "sita", "%", "_"])}  # fmt: skip
KINDS = {name: kind for parameters in mapping.SEARCH_PARAMETERS.values() for name, (kind, _) in parameters.items()}


def fhir_query(resource_type, patient_pk):
    """Search parameters: mostly the type's own with values of their kind (so the walk gets past
    the first checks to the values), a `patient` that names her more often than not, and any other."""
    own = sorted(mapping.SEARCH_PARAMETERS.get(resource_type, {})) or PARAMETER_NAMES
    own_parameter = st.sampled_from(own).flatmap(
        lambda name: st.tuples(st.just(name), KIND_VALUES[KINDS[name]] | fhir_value if name in KINDS else fhir_value)
    )
    her = st.sampled_from([[("patient", str(patient_pk))], [("patient", f"Patient/{patient_pk}")], []])
    others = st.lists(own_parameter | own_parameter | st.tuples(any_parameter_name, fhir_value), max_size=5)
    return st.tuples(others, her).map(lambda parts: parts[0] + parts[1])  # hers last: the one read


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_fhir_request_answers_500_and_every_answer_is_valid_fhir(client, users, records, data):
    role = data.draw(st.sampled_from(["clinician", "administrator"]), label="role")
    served = sorted(mapping.SEARCH_PARAMETERS)
    resource_type = data.draw(st.sampled_from(served * 4 + TYPES) | typed_text, label="type")
    resource_id = data.draw(st.sampled_from(records["ids"]) | nasty | typed_text, label="id")
    export_id = data.draw(st.sampled_from([records["export"], str(uuid.uuid4()), "not-a-uuid"]), label="export")
    segment = lambda text: quote(text, safe="")  # noqa: E731
    paths = {
        "metadata": "/fhir/metadata",
        "search": f"/fhir/{segment(resource_type)}",
        "read": f"/fhir/{segment(resource_type)}/{segment(resource_id)}",
        "everything": f"/fhir/Patient/{segment(resource_id)}/$everything",
        "export": "/fhir/$export",
        "export status": f"/fhir/$export-status/{export_id}",
        "export file": f"/fhir/$export-file/{export_id}/{segment(resource_type)}.ndjson",
    }
    # Searches most often: they read the most parameters.
    path = paths[data.draw(st.sampled_from(["search"] * 6 + list(paths)), label="path")]
    params = data.draw(fhir_query(resource_type, records["patient"]), label="query")
    headers = {}
    for header, choices in [
        ("HTTP_PREFER", ["handling=strict", "handling=lenient", "respond-async", "respond-async, handling=lenient"]),
        ("HTTP_ACCEPT", ["application/fhir+json", "application/json", "application/fhir+ndjson", "text/html", "*/*",
                         "application/xml", ";;;"]),
    ]:  # fmt: skip
        chosen = data.draw(st.none() | st.none() | st.sampled_from(choices), label=header)
        if chosen is not None:
            headers[header] = chosen
    method = data.draw(st.sampled_from(["get", "get", "get", "head", "delete", "post"]), label="method")
    client.force_login(users[role])
    target = f"{path}?{urlencode(params)}" if params else path
    response = getattr(client, method)(target, **headers)
    assert response.status_code < 500, (role, method, target, headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response["Content-Type"].startswith("application/fhir+json") and body:
        resource = response.json()
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert connection.connection is None or not connection.needs_rollback


# Well-formed values of each kind of parameter: any of them gives a 200.
WELL_FORMED = {
    "date": st.tuples(st.sampled_from(["", *DATE_PREFIXES]), st.dates().map(str)).map("".join),
    "token": st.sampled_from(["718-7", f"{mapping.LOINC}|718-7", f"{mapping.LOINC}|85354-9", "|29463-7",
                              "8302-2,718-7", "http://elsewhere.example|718-7", "P001", "1"]),
    "string": typed_text,
    "reference": st.nothing(),  # hers, below
}  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_well_formed_searches_answer_with_valid_bundles(client, users, records, data):
    resource_type = data.draw(st.sampled_from(sorted(mapping.SEARCH_PARAMETERS)), label="type")
    own = {name: kind for name, (kind, _) in mapping.SEARCH_PARAMETERS[resource_type].items() if kind != "reference"}
    parameter = st.sampled_from(sorted(own)).flatmap(lambda name: st.tuples(st.just(name), WELL_FORMED[own[name]]))
    params = data.draw(st.lists(parameter, max_size=4) if own else st.just([]), label="query")
    params += [("_count", data.draw(st.integers(0, 300))), ("_offset", data.draw(st.integers(0, 5)))]
    if "patient" in mapping.SEARCH_PARAMETERS[resource_type]:
        params.append(("patient", data.draw(st.sampled_from([records["patient"], f"Patient/{records['patient']}"]))))
    client.force_login(users["clinician"])
    response = client.get(f"/fhir/{resource_type}?{urlencode(params)}")
    assert response.status_code == 200, (resource_type, params, response.content[:300])
    bundle = response.json()
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert {entry["resource"]["resourceType"] for entry in bundle.get("entry", [])} <= {resource_type}
