import datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients import admin as patients_admin
from patients.models import Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

CHANGELISTS = ["patient", "delivery", "followup", "district"]


@pytest.fixture
def records(db):
    districts = [make_district(name) for name in ("Kaski", "Chitwan", "Jhapa")]
    patients = [make_patient(district=districts[n % 3]) for n in range(50)]
    for n, patient in enumerate(patients):
        make_delivery(
            patient,
            date_of_delivery=datetime.date(2023, 1 + n % 12, 1 + n % 28),
            type_of_delivery=["normal", "c_section", "assisted"][n % 3],
        )
        make_followup(patient)
    return patients


@pytest.mark.parametrize("model", CHANGELISTS)
def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(client, clinician, model, db):
    url = reverse(f"admin:patients_{model}_changelist")
    assert client.get(url).url.startswith(reverse("admin:login"))
    client.force_login(clinician)
    assert client.get(url).url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("role", ["data_manager", "administrator"])
@pytest.mark.parametrize("model", CHANGELISTS)
def test_data_managers_and_administrators_use_every_changelist(client, users, records, role, model):
    client.force_login(users[role])
    response = client.get(reverse(f"admin:patients_{model}_changelist"))
    assert response.status_code == 200


def test_staff_without_a_role_is_refused(client, django_user_model, db):
    user = django_user_model.objects.create_user("staffonly", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:patients_patient_changelist")).status_code == 403


def test_only_administrators_may_delete(client, data_manager, administrator, records):
    patient = records[0]
    url = reverse("admin:patients_patient_delete", args=[patient.pk])
    client.force_login(data_manager)
    assert client.get(url).status_code == 403
    client.force_login(administrator)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("model", ["patient", "delivery", "followup"])
def test_changelist_query_count_does_not_grow_with_rows(
    client, data_manager, records, model, django_assert_num_queries
):
    # session, user, permissions, districts for the filter, count, the page of rows; on PostgreSQL
    # the planner's estimate of the rows (a few: then counted), and the date hierarchy adds its date
    # range and its distinct months.
    model_admin = admin.site._registry[apps.get_model("patients", model)]
    queries = 6 + (1 if connection.vendor == "postgresql" else 0) + (2 if model_admin.date_hierarchy else 0)
    client.force_login(data_manager)
    with django_assert_num_queries(queries):
        response = client.get(reverse(f"admin:patients_{model}_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50


def test_changelist_does_not_count_the_whole_table(client, data_manager, records):
    client.force_login(data_manager)
    response = client.get(reverse("admin:patients_patient_changelist"), {"q": "T0000"})
    assert response.context["cl"].show_full_result_count is False
    assert "total" not in response.content.decode().split('id="changelist-search"')[1].split("</form>")[0]


def test_a_whole_big_table_is_counted_by_the_planners_estimate_on_postgresql(
    client, data_manager, records, monkeypatch
):
    monkeypatch.setattr(patients_admin, "ESTIMATE_COUNT_ABOVE", 10)  # 50 patients are "big" here
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner's statistics: every row of tables this small
    client.force_login(data_manager)
    url = reverse("admin:patients_patient_changelist")
    with CaptureQueriesContext(connection) as queries:
        whole = client.get(url, {"o": "1"})  # in an order of its own: still the whole table
    counted = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    searched = client.get(url, {"q": "Sita"})
    paginator = whole.context["cl"].paginator
    monkeypatch.setattr(admin.site._registry[Patient], "list_per_page", 20)  # three pages of 50 patients
    past_the_end = client.get(url, {"p": "4"})
    if connection.vendor == "postgresql":
        assert paginator.estimated and paginator.count == 50 and counted == []
        assert "about 50 patients" in " ".join(whole.text.split())
        # An estimate may fall short of the rows: a page past it is shown, empty here.
        assert past_the_end.status_code == 200 and list(past_the_end.context["cl"].result_list) == []
    else:  # SQLite counts: no planner's estimate to ask
        assert not paginator.estimated and counted
        assert "about 50" not in whole.text
        assert past_the_end.status_code == 302  # Django's answer to a page that is not there
    assert not searched.context["cl"].paginator.estimated  # a search or a filter is counted
    assert "about 50" not in searched.text and searched.context["cl"].result_count == 50


def test_search_by_patient_id_name_and_village(client, data_manager, db):
    make_patient(patient_id="A17", name="Bimala Rai", village="Belbari")
    make_patient(patient_id="B20", name="Tara Magar", village="Rampur")
    client.force_login(data_manager)
    url = reverse("admin:patients_patient_changelist")

    def found(q):
        return [p.patient_id for p in client.get(url, {"q": q}).context["cl"].result_list]

    assert found("A1") == ["A17"]
    assert found("magar") == ["B20"]
    assert found("belbari") == ["A17"]


def test_filters_by_delivery_type_and_district(client, data_manager, records):
    client.force_login(data_manager)
    url = reverse("admin:patients_delivery_changelist")
    caesareans = client.get(url, {"type_of_delivery__exact": "c_section"}).context["cl"].result_list
    assert len(caesareans) == 17 and {d.type_of_delivery for d in caesareans} == {"c_section"}
    kaski = make_district("Kaski")
    in_kaski = client.get(url, {"patient__district__id__exact": kaski.pk}).context["cl"].result_list
    assert len(in_kaski) == 17


def test_patient_change_page_shows_deliveries_and_follow_ups_inline(client, data_manager, records):
    client.force_login(data_manager)
    response = client.get(reverse("admin:patients_patient_change", args=[records[0].pk]))
    assert response.status_code == 200
    inlines = {
        inline.opts.model._meta.model_name: len(inline.formset.forms)
        for inline in response.context["inline_admin_formsets"]
    }
    assert inlines == {"delivery": 1, "followup": 1}


def test_history_page_shows_who_changed_what(client, data_manager, db):
    client.force_login(data_manager)
    patient = make_patient(patient_id="H1")
    change_url = reverse("admin:patients_patient_change", args=[patient.pk])
    form = client.get(change_url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()}
    data.update(
        {
            "weight_kg": "61.5",
            "district": patient.district_id,
            "deliveries-TOTAL_FORMS": 0,
            "deliveries-INITIAL_FORMS": 0,
            "followups-TOTAL_FORMS": 0,
            "followups-INITIAL_FORMS": 0,
        }
    )
    response = client.post(change_url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Patient.objects.get(pk=patient.pk).weight_kg == 61.5

    history = client.get(reverse("admin:patients_patient_history", args=[patient.pk]))
    html = history.content.decode()
    assert history.status_code == 200
    assert "datamanager" in html
    assert "61.5" in html
