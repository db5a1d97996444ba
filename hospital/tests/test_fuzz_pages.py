"""
No input gives a 500: hypothesis walks every route of the site (staff pages, the admin, the API,
downloads) as each role, with random query strings, random path values and random form bodies.

schemathesis already fuzzes the API against its schema (patients/tests/test_api_schema.py); this
covers what has no schema: the pages and the admin. Django's test client re-raises any exception a
view lets through, so a 500 fails the example with its traceback.
"""

import re
from urllib.parse import quote, urlencode

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hospital.tests.test_access_matrix import concrete, routes

pytestmark = pytest.mark.django_db

# The query parameters our pages, downloads and the admin read, and a few nobody reads.
PARAMETERS = [
    "district", "from", "to", "q", "page", "page_size", "sort", "order", "format", "reason", "priority",
    "district__id__exact", "patient__district__id__exact", "status", "type_of_delivery__exact",
    "date_of_delivery__gte", "visit_date__lt", "o", "p", "e", "all", "_popup", "_to_field",
    "_changelist_filters", "source__exact", "kind__exact", "next", "term", "app_label", "model_name",
    "field_name", "id", "pk", "x",
]  # fmt: skip
# Routes whose POST ends the session or sends mail: the walk would lose its login or its speed.
NOT_POSTED = re.compile(r"accounts/logout/|admin/logout/|accounts/password_reset/")

# Text as people and attackers type it. Lone surrogates cannot be sent in a URL or a form at all.
typed_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
nasty = st.sampled_from([
    "", "0", "-1", "abc", "1.5", "1e309", "nan", "99999999999999999999", "-9223372036854775809", "2024-02-30",
    "0000-00-00", "9999-12-31", "31/12/2024", "\x00", "a\x00b", "\x0b", "%", "%%", "_", "\\", "' OR '1'='1",
    "<a href='//x'>x</a>", "P001", "p001", "../../etc/passwd", "Kaski", "low_haemoglobin", "1,2", "[]", "{}",
    "x" * 5000,
])  # fmt: skip
value = st.one_of(nasty, typed_text, st.integers(min_value=-(2**70), max_value=2**70).map(str))
query = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMETERS), typed_text), value), max_size=4)


def walkable_urls(ids):
    """Every route as a concrete URL, naming the test's records as the access matrix does."""
    return sorted({concrete(route, ids) for route in routes()})


@pytest.fixture
def urls(world):
    return walkable_urls(world)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_page_answers_500_to_any_query_path_or_body(client, users, world, urls, data):
    role = data.draw(st.sampled_from(["clinician", "data_manager", "administrator"]), label="role")
    url = data.draw(st.sampled_from(urls), label="route")
    if data.draw(st.booleans(), label="random path value"):
        # Put typed text where an ID or a patient_id stands in the path.
        segments = url.strip("/").split("/")
        replaceable = [n for n, part in enumerate(segments) if re.fullmatch(r"\d+|P001|unknown-upload", part)]
        if replaceable:
            segments[data.draw(st.sampled_from(replaceable))] = quote(data.draw(value), safe="")
            url = "/" + "/".join(segments) + ("/" if url.endswith("/") else "")
    params = data.draw(query, label="query")
    client.force_login(users[role])
    target = f"{url}?{urlencode(params)}" if params else url
    method = data.draw(st.sampled_from(["GET", "GET", "POST"]), label="method")
    if method == "POST" and not NOT_POSTED.search(url):
        body = dict(data.draw(query, label="body"))
        response = client.post(target, body)
    else:
        response = client.get(target)
    assert response.status_code < 500, (role, method, target)
    assert connection.connection is None or not connection.needs_rollback


def test_the_walk_reaches_every_kind_of_page(urls):
    """The walk above draws from every route: staff pages, insights, the admin, the API, accounts."""
    assert len(urls) > 140
    for prefix in ("/patients/", "/insights/", "/admin/patients/", "/api/patients/", "/api/insights/", "/accounts/"):
        assert any(url.startswith(prefix) for url in urls), prefix
