"""Bad input never makes a 500: ids that are not numbers, unknown or out of range, or hold a NUL, in
every URL of the admin, the staff pages and the API; JSON nested too deeply for the parser."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from hospital.tests.test_access_matrix import routes
from patients.models import Delivery, FollowUp, Patient

pytestmark = pytest.mark.django_db

# Not a number, a number nobody has, past every integer column, a NUL (PostgreSQL refuses it in any
# text), a path separator.
BAD_IDS = ["abc", "999999", "-1", "1.5", "99999999999999999999", "a%00b", "a%2Fb"]


HISTORY_VERSION = "^([^/]+)/history/([^/]+)/$"  # simple-history's page of one version: object id, version id


def bad_urls(route, good, bad):
    """`route` naming `bad` in each of its ids in turn, the others naming records that exist
    (`good`: the id for each slot, by its converter, else "pk")."""
    route = route.replace(HISTORY_VERSION, "<object_id>/history/<version_id>/")
    slots = re.findall(r"<[^>]+>", route)
    urls = set()
    for index in range(len(slots)):
        url = route
        for slot_index, slot in enumerate(slots):
            url = url.replace(slot, bad if slot_index == index else good.get(slot, good["pk"]), 1)
        urls.add("/" + url)
    return urls


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="not-used")


@pytest.fixture
def ids(world):
    """The id of one record of each model the admin shows, and of a version of each patient record
    in its history (P001's)."""
    return {name: str(value) for name, value in world.items()}


def routes_with_ids(prefix):
    return [route for route in routes() if route.startswith(prefix) and ("<" in route or "(" in route)]


class ServerError(Exception):
    pass


def get_each(client, urls):
    """The URLs whose GET answered a server error. Each in a savepoint: on PostgreSQL a failed
    query would otherwise fail every query after it."""
    client.raise_request_exception = False
    problems = []
    for url in sorted(urls):
        try:
            with transaction.atomic():
                status = client.get(url).status_code
                if status >= 500:
                    raise ServerError(f"GET {url}: {status}")
        except ServerError as error:
            problems.append(str(error))
    return problems


@pytest.mark.parametrize("role", ["administrator", "superuser"])
def test_admin_pages_answer_bad_ids_without_a_500(client, users, superuser, ids, role):
    client.force_login(superuser if role == "superuser" else users[role])
    urls = set()
    for route in routes_with_ids("admin/"):
        model = re.match(r"admin/(\w+)/(\w+)/", route)
        model = ".".join(model.groups()) if model else None
        good = {"pk": ids.get(model, "1"), "<version_id>": ids.get(f"{model}.version", "1")}
        for bad in BAD_IDS:
            urls |= bad_urls(route, good, bad)
    assert len(urls) > 200
    problems = get_each(client, urls)
    assert problems == [], "\n".join(problems)


def test_staff_pages_and_the_api_answer_bad_ids_without_a_500(client, data_manager, ids):
    client.force_login(data_manager)
    urls = set()
    for route in routes_with_ids("patients/") + routes_with_ids("api/patients/"):
        record = ids["patients.delivery" if "deliver" in route else "patients.followup"]
        for bad in BAD_IDS:
            urls |= bad_urls(route, {"<str:patient_id>": "P001", "pk": record}, bad)
    assert len(urls) > 100
    problems = get_each(client, urls)
    assert problems == [], "\n".join(problems)


# Filters, sorting, pages and the admin's other query parameters, each with a value that no record
# can have or the database cannot run.
BAD_QUERIES = [
    "q=a%00b", "district__id__exact=abc", "district__id__exact=a%00b", "patient__district__id__exact=abc",
    "patient__district__id__exact=99999999999999999999", "kind__exact=a%00b", "source__exact=a%00b",
    "type_of_delivery__exact=a%00b", "groups__id__exact=abc", "imported_by__id__exact=abc", "status=a%00b",
    "date_of_delivery__year=99999", "date_of_delivery__month=13", "visit_date__gte=2024-99-99",
    "visit_date__lt=a%00b", "at__gte=abc", "is_staff__exact=abc", "o=99", "o=abc", "p=-1", "p=abc",
    "_to_field=abc", "_changelist_filters=a%00b", "_popup=1",
]  # fmt: skip


def test_admin_query_parameters_no_record_can_have_answer_without_a_500(client, superuser, ids):
    changelists = {"/" + route for route in routes() if re.fullmatch(r"admin/(patients|auth|authtoken)/\w+/", route)}
    adds = {"/" + route for route in routes() if re.fullmatch(r"admin/(patients|auth|authtoken)/\w+/add/", route)}
    pickers = {f"/admin/autocomplete/?app_label=patients&model_name={model}&field_name={field}&{query}"
               for model, field in (("delivery", "patient"), ("followup", "patient"), ("patient", "district"))
               for query in ("term=a%00b", "page=abc", "term=99999999999999999999")}  # fmt: skip
    client.force_login(superuser)
    urls = {f"{url}?{query}" for url in changelists for query in BAD_QUERIES} | pickers
    urls |= {f"{url}?{query}" for url in adds for query in ("patient=a%00b", "district=abc", "groups=1,abc")}
    problems = get_each(client, urls)
    assert len(changelists) > 8 and len(adds) > 6
    assert problems == [], "\n".join(problems)


def test_searches_with_a_nul_answer_without_a_500(client, users, ids):
    client.force_login(users["clinician"])
    problems = get_each(client, {"/patients/?q=a%00b", "/api/patients?q=a%00b&district=a%00b"})
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(("method", "url"), [
    ("post", "/api/patients"),
    ("patch", "/api/patients/P001"),
    ("post", "/api/patients/P001/deliveries"),
    ("post", "/api/patients/P001/followups"),
    ("post", "/api/patients/P001/void"),
])  # fmt: skip
def test_json_nested_too_deeply_is_a_400_and_writes_nothing(client, data_manager, ids, method, url):
    client.raise_request_exception = False
    client.force_login(data_manager)
    depth = 50_000
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {"error": "JSON nested too deeply."}
    assert Patient.all_objects.get(patient_id="P001").voided_at is None
    assert (Patient.all_objects.count(), Delivery.all_objects.count(), FollowUp.all_objects.count()) == (1, 1, 1)


def test_admin_actions_on_ids_no_record_can_have_are_refused_without_a_500(client, superuser, ids):
    changelists = {"/" + route for route in routes() if re.fullmatch(r"admin/(patients|auth|authtoken)/\w+/", route)}
    client.force_login(superuser)
    posts = set()
    for url in changelists:
        action_form = client.get(url).context.get("action_form")
        for action in dict(action_form.fields["action"].choices) if action_form else []:
            posts |= {(url, action, bad) for bad in ("abc", "a\x00b", "99999999999999999999") if action}
    assert {action for _, action, _ in posts} == {"delete_selected", "restore_selected"}
    client.raise_request_exception = False
    problems = []
    for url, action, bad in sorted(posts):
        try:
            with transaction.atomic():
                status = client.post(url, {"action": action, "_selected_action": [bad], "index": 0}).status_code
                if status != 302:
                    raise ServerError(f"POST {url} {action} {bad!r}: {status}")
        except ServerError as error:
            problems.append(str(error))
    assert problems == [], "\n".join(problems)
    assert (Patient.all_objects.count(), Delivery.all_objects.count(), FollowUp.all_objects.count()) == (1, 1, 1)


# Not "page": that name is Playwright's browser page, and would make this a browser test.
@pytest.mark.parametrize("view", ["change", "simple_history"])
@pytest.mark.parametrize("value", ["abc", "99999999999999999999", "1\x00"])
def test_an_autocomplete_value_no_record_can_have_is_a_form_error(client, administrator, view, value):
    """The follow-up's patient box looks the posted value up to show it again (found by the page fuzz)."""
    from django.urls import reverse

    from patients.tests.factories import make_followup

    followup = make_followup()
    args = [followup.pk]
    if view == "simple_history":
        args.append(FollowUp.history.filter(id=followup.pk).get().history_id)
    client.force_login(administrator)
    response = client.post(reverse(f"admin:patients_followup_{view}", args=args), {"patient": value})
    assert response.status_code == 200
    assert "patient" in response.context["adminform"].form.errors
