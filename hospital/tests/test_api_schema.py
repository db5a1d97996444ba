"""schemathesis against the served OpenAPI schema: generated requests to every endpoint (as a data
manager, who may call all of them) never get a 500, nor a response the schema does not describe;
and a list the API streams is spelled as DRF renders one."""

import datetime

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer

from hospital.api import STREAM_ITEMS, streamed_json_array
from patients.tests.factories import make_delivery, make_followup, make_patient


@pytest.fixture
def token(db, data_manager):
    patient = make_patient(patient_id="P001", condition="anaemia")
    make_delivery(patient)
    make_followup(patient)
    return Token.objects.create(user=data_manager).key


@pytest.fixture
def wsgi_app():
    # Django's test client keeps the test database connection open the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(token, wsgi_app):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", wsgi_app, headers={"Authorization": f"Token {token}"}
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_endpoint_answers_as_documented(case, token):
    # Rules the schema cannot state (ages in order, systolic above diastolic, a visit number not
    # yet taken) refuse some schema-valid bodies with a 400: that check is left out.
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"}, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    from django.core.management import call_command

    # --fail-on-warn: a colliding operation id or an undescribed view fails here.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/patients/{patient_id}:" in (tmp_path / "schema.yml").read_text()


@pytest.mark.parametrize("count", [0, 1, STREAM_ITEMS, 2 * STREAM_ITEMS + 7])
def test_a_streamed_json_array_is_spelled_as_drf_renders_the_whole_list(count):
    items = [
        {"n": n, "day": datetime.date(2024, 1, 1 + n % 28), "text": f"Sita {n} \u2028 ऋ", "none": None, "hb": 9.5}
        for n in range(count)
    ]
    response = streamed_json_array(iter(items))
    assert response.streaming and response["Content-Type"] == "application/json"
    assert response.getvalue() == JSONRenderer().render(items)
