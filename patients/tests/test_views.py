import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.views import PATIENTS_PER_PAGE
from patients.voiding import void
from patients.writes import records_written

ROLES = ["clinician", "data_manager", "administrator", "no_role"]
READERS = {"clinician", "data_manager", "administrator"}
WRITERS = {"data_manager", "administrator"}


@pytest.fixture
def record(db):
    """One patient with a delivery and a follow-up, for the pages that need a record."""
    patient = make_patient(patient_id="P001")
    return {"patient": patient, "delivery": make_delivery(patient), "followup": make_followup(patient)}


def page_urls(record):
    """Every staff page, with the roles allowed on it."""
    p, d, f = record["patient"].patient_id, record["delivery"].pk, record["followup"].pk
    return [
        (reverse("patients:list"), READERS),
        (reverse("patients:detail", args=[p]), READERS),
        (reverse("patients:create"), WRITERS),
        (reverse("patients:edit", args=[p]), WRITERS),
        (reverse("patients:delivery_create", args=[p]), WRITERS),
        (reverse("patients:delivery_edit", args=[p, d]), WRITERS),
        (reverse("patients:followup_create", args=[p]), READERS),
        (reverse("patients:followup_edit", args=[p, f]), WRITERS),
        (reverse("patients:void", args=[p]), WRITERS),
        (reverse("patients:delivery_void", args=[p, d]), WRITERS),
        (reverse("patients:followup_void", args=[p, f]), WRITERS),
    ]


def test_every_page_sends_anonymous_visitors_to_login(client, record):
    for url, _ in page_urls(record):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


@pytest.mark.parametrize("role", ROLES)
def test_every_page_allows_exactly_its_roles(client, users, record, role):
    client.force_login(users[role])
    for url, allowed in page_urls(record):
        response = client.get(url)
        assert response.status_code == (200 if role in allowed else 403), (url, role)


def test_forbidden_post_writes_nothing(client, clinician, record):
    client.force_login(clinician)
    url = reverse("patients:delivery_create", args=["P001"])
    response = client.post(url, {"date_of_delivery": "2024-05-01", "type_of_delivery": "normal"})
    assert response.status_code == 403
    assert Delivery.objects.count() == 1


def test_unknown_patient_is_404(client, clinician, db):
    client.force_login(clinician)
    assert client.get(reverse("patients:detail", args=["NOPE"])).status_code == 404
    assert client.get(reverse("patients:followup_create", args=["NOPE"])).status_code == 404


def test_a_delivery_is_only_reached_through_its_own_patient(client, data_manager, record):
    other = make_patient(patient_id="P002")
    client.force_login(data_manager)
    url = reverse("patients:delivery_edit", args=[other.patient_id, record["delivery"].pk])
    assert client.get(url).status_code == 404


def test_read_pages_refuse_post(client, clinician, record):
    client.force_login(clinician)
    assert client.post(reverse("patients:list")).status_code == 405
    assert client.post(reverse("patients:detail", args=["P001"])).status_code == 405


def test_login_page_logs_in_and_out(client, db, django_user_model, settings):
    django_user_model.objects.create_user("nurse", password="a-long-Passphrase-1")
    response = client.post(reverse("login"), {"username": "nurse", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    response = client.post(reverse("login"), {"username": "nurse", "password": "a-long-Passphrase-1"})
    assert response.status_code == 302
    assert response.url == reverse("insights:overview")
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("patients:list")).status_code == 302


class TestPatientList:
    def test_lists_search_and_filters(self, client, clinician, db):
        kaski, chitwan = make_district("Kaski"), make_district("Chitwan")
        make_patient(patient_id="K1", name="Sita Gurung", district=kaski, village="Deurali")
        make_patient(patient_id="K2", name="Gita Thapa", district=kaski, village="Pokhariya")
        make_patient(patient_id="C1", name="Rita Tharu", district=chitwan, village="Deurali")
        client.force_login(clinician)

        def ids(**params):
            response = client.get(reverse("patients:list"), params)
            assert response.status_code == 200
            return [p.patient_id for p in response.context["page"].object_list]

        assert ids() == ["C1", "K1", "K2"]
        assert ids(q="deurali") == ["C1", "K1"]
        assert ids(q="gita") == ["K2"]
        assert ids(q="k") == ["K1", "K2"]
        assert ids(district=kaski.pk) == ["K1", "K2"]
        assert ids(q="deurali", district=kaski.pk) == ["K1"]
        assert ids(q="nobody") == []
        assert "No patients match" in client.get(reverse("patients:list"), {"q": "nobody"}).content.decode()

    def test_an_unknown_district_is_reported_not_a_crash(self, client, clinician, db):
        client.force_login(clinician)
        response = client.get(reverse("patients:list"), {"district": "999999"})
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()

    def test_paginates_and_keeps_the_search_in_page_links(self, client, clinician, db):
        district = make_district()
        Patient.objects.bulk_create(Patient(patient_id=f"P{n:03d}", name="Sita", district=district) for n in range(60))
        records_written(None)
        client.force_login(clinician)
        response = client.get(reverse("patients:list"), {"q": "sita", "page": 3})
        page = response.context["page"]
        assert page.number == 3
        assert [p.patient_id for p in page.object_list] == [f"P{n:03d}" for n in range(50, 60)]
        assert "?q=sita&amp;page=2" in response.content.decode()
        assert client.get(reverse("patients:list"), {"page": "x"}).context["page"].number == 1

    def test_query_count_does_not_grow_with_the_patients_shown(self, client, clinician, django_assert_num_queries):
        districts = [make_district(name) for name in ("Kaski", "Chitwan", "Jhapa")]
        for n in range(50):
            make_patient(district=districts[n % 3])
        client.force_login(clinician)
        # session, user, permissions, count, page of patients with districts, their latest readings,
        # districts for the filter; sorted by priority, the same
        for params in ({"page": 2}, {"page": 2, "sort": "priority"}):
            with django_assert_num_queries(7):
                response = client.get(reverse("patients:list"), params)
            assert response.status_code == 200
            assert len(response.context["page"].object_list) == 25

    def test_shows_what_a_clinician_scans_for_and_sorts_by_priority(self, client, clinician, db):
        urgent = make_patient(patient_id="P003", condition="")
        make_followup(urgent, visit_date=datetime.date(2024, 5, 2), haemoglobin_g_dl=6.8, bp_systolic=120,
                      bp_diastolic=80)  # fmt: skip
        soon = make_patient(patient_id="P002", condition="")
        make_followup(soon, visit_date=datetime.date(2024, 6, 9), haemoglobin_g_dl=12.1, bp_systolic=150,
                      bp_diastolic=85)  # fmt: skip
        make_followup(make_patient(patient_id="P001", condition=""), haemoglobin_g_dl=12.5)  # not high-risk
        make_patient(patient_id="P004", condition="Caesarean last year")  # nothing recorded: not high-risk
        client.force_login(clinician)
        response = client.get(reverse("patients:list"))
        assert [p.patient_id for p in response.context["page"].object_list] == ["P001", "P002", "P003", "P004"]
        html = response.content.decode()
        assert "<strong>6.8</strong> severe anaemia" in html and "<strong>150/85</strong> high" in html
        assert "Priority 1 (urgent)" in html and "Priority 2 (soon)" in html and "Not high-risk" in html
        assert "9 Jun 2024" in html  # her last visit
        response = client.get(reverse("patients:list"), {"sort": "priority"})
        assert [p.patient_id for p in response.context["page"].object_list] == ["P003", "P002", "P001", "P004"]
        assert client.get(reverse("patients:list"), {"sort": "nonsense"}).context["sort"] == "patient"


class TestPatientDetail:
    def test_shows_her_deliveries_followups_and_current_haemoglobin(self, client, clinician, db):
        patient = make_patient(patient_id="P001", name="Sita Gurung")
        make_delivery(
            patient,
            date_of_delivery=datetime.date(2024, 1, 10),
            type_of_delivery="c_section",
            haemoglobin_at_delivery=10.1,
        )
        make_followup(patient, visit_date=datetime.date(2024, 1, 20), haemoglobin_g_dl=9.4, diagnosis="Low Hb")
        make_followup(patient, visit_date=datetime.date(2024, 2, 20), haemoglobin_g_dl=None)
        client.force_login(clinician)
        response = client.get(reverse("patients:detail", args=["P001"]))
        assert response.status_code == 200
        html = response.content.decode()
        assert "Caesarean section" in html
        assert "Low Hb" in html
        # The latest visit has no reading, so the 20 January reading is her current one.
        assert response.context["current_hb"].value == 9.4
        assert "moderate anaemia" in html
        assert "20 Jan 2024" in html

    def test_leads_with_what_needs_attention_in_words(self, client, clinician, db):
        patient = make_patient(patient_id="P001", condition="Anaemia", age_at_menarche=12, age_at_marriage=16,
                               age_at_first_pregnancy=17, height_cm=142.0, weight_kg=36.0)  # fmt: skip
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1, 10), type_of_delivery="c_section",
                      term_of_delivery="preterm", haemoglobin_at_delivery=10.0)  # fmt: skip
        make_followup(patient, visit_number=1, visit_date=datetime.date(2024, 2, 1), haemoglobin_g_dl=11.8,
                      bp_systolic=162, bp_diastolic=104, diagnosis="PIH, labetalol")  # fmt: skip
        client.force_login(clinician)
        response = client.get(reverse("patients:detail", args=["P001"]))
        attention = response.context["attention"]
        assert attention.priority == 1
        assert attention.reasons == [
            "Anaemia written in the notes: condition reads 'Anaemia'",
            "Caesarean delivery on 10 Jan 2024",
            "Blood pressure 162/104 mmHg at visit 1 on 1 Feb 2024, severe",
            "Hypertension written in the notes: visit 1 on 1 Feb 2024 reads 'PIH, labetalol'",
        ]
        assert attention.disagreements == [
            "Condition reads 'Anaemia'; latest haemoglobin 11.8 g/dL on 1 Feb 2024 is not anaemic."
        ]
        assert attention.factors == [
            "First pregnancy before 20 (at 17)",
            "Height below 145 cm (142 cm)",
            "Body-mass index below 18.5 (17.9, from 142 cm and 36 kg)",
            "A preterm delivery (10 Jan 2024)",
        ]
        html = response.content.decode()
        assert html.index("Needs attention") < html.index("Latest readings") < html.index("Details")
        assert "Priority 1 (urgent)" in html and "162/104 mmHg at visit 1 on 1 Feb 2024, severe" in html

    def test_a_patient_with_nothing_to_flag_has_no_attention_panel(self, client, clinician, db):
        make_followup(make_patient(patient_id="P001", condition="", height_cm=160.0, weight_kg=55.0),
                      haemoglobin_g_dl=12.5, bp_systolic=118, bp_diastolic=76)  # fmt: skip
        client.force_login(clinician)
        response = client.get(reverse("patients:detail", args=["P001"]))
        assert not response.context["attention"]
        html = response.content.decode()
        assert "Needs attention" not in html and "<strong>118/76 mmHg</strong>" in html

    def test_clinician_sees_add_follow_up_but_not_edit_buttons(self, client, clinician, record):
        client.force_login(clinician)
        html = client.get(reverse("patients:detail", args=["P001"])).content.decode()
        assert reverse("patients:followup_create", args=["P001"]) in html
        assert reverse("patients:edit", args=["P001"]) not in html
        assert reverse("patients:delivery_create", args=["P001"]) not in html

    def test_query_count_does_not_grow_with_her_records(self, client, clinician, django_assert_num_queries):
        patient = make_patient(patient_id="P001")
        for year in range(2019, 2022):
            make_delivery(patient, date_of_delivery=datetime.date(year, 5, 1))
        for _ in range(10):
            make_followup(patient)
        client.force_login(clinician)
        # session, user, permissions, patient with district, the access log's row, deliveries, follow-ups;
        # her timeline's two
        with django_assert_num_queries(9):
            response = client.get(reverse("patients:detail", args=["P001"]))
        assert len(response.context["followups"]) == 10


class TestForms:
    PATIENT = {
        "patient_id": "P100",
        "name": "Laxmi Rai",
        "village": "Belbari",
        "height_cm": "150.5",
        "weight_kg": "49",
        "age_at_menarche": "13",
        "age_at_marriage": "18",
        "age_at_first_pregnancy": "19",
        "education_level": "2",
        "monthly_income": "25000",
        "occupation": "Teacher",
        "diet": "Mixed",
        "condition": "",
    }

    def test_data_manager_adds_a_patient(self, client, data_manager):
        district = make_district("Morang")
        client.force_login(data_manager)
        response = client.post(reverse("patients:create"), {**self.PATIENT, "district": district.pk})
        assert response.status_code == 302
        patient = Patient.objects.get(patient_id="P100")
        assert response.url == patient.get_absolute_url()
        assert (patient.district, patient.height_cm, patient.age_at_first_pregnancy) == (district, 150.5, 19)
        # The change history records who made it.
        assert patient.history.get().history_user == data_manager

    def test_bad_patient_keeps_what_was_typed_and_names_each_bad_field(self, client, data_manager):
        district = make_district("Morang")
        client.force_login(data_manager)
        typed = {**self.PATIENT, "district": district.pk, "height_cm": "15.05", "age_at_first_pregnancy": "17"}
        response = client.post(reverse("patients:create"), typed)
        assert response.status_code == 200
        assert not Patient.objects.exists()
        form = response.context["form"]
        assert "height_cm" in form.errors
        assert "before age at marriage (18)" in form.errors["age_at_first_pregnancy"][0]
        html = response.content.decode()
        assert 'value="15.05"' in html
        assert 'value="Laxmi Rai"' in html
        assert 'value="Belbari"' in html

    def test_duplicate_patient_id_is_named(self, client, data_manager):
        make_patient(patient_id="P100")
        client.force_login(data_manager)
        response = client.post(reverse("patients:create"), {**self.PATIENT, "district": make_district().pk})
        assert response.status_code == 200
        assert "already exists" in response.context["form"].errors["patient_id"][0]

    def test_data_manager_edits_a_patient(self, client, data_manager, record):
        client.force_login(data_manager)
        url = reverse("patients:edit", args=["P001"])
        data = {**self.PATIENT, "patient_id": "P001", "district": record["patient"].district_id, "weight_kg": "58"}
        response = client.post(url, data)
        assert response.status_code == 302
        record["patient"].refresh_from_db()
        assert record["patient"].weight_kg == 58
        assert record["patient"].history.count() == 2

    def test_clinician_adds_the_next_follow_up(self, client, clinician, record):
        client.force_login(clinician)
        url = reverse("patients:followup_create", args=["P001"])
        form = client.get(url).context["form"]
        assert form.initial["visit_number"] == 2
        response = client.post(
            url,
            {
                "visit_number": "2",
                "visit_date": "2024-04-02",
                "weight_kg": "54.2",
                "haemoglobin_g_dl": "10.4",
                "bp_systolic": "118",
                "bp_diastolic": "76",
                "diagnosis": "mild anaemia",
            },
        )
        assert response.status_code == 302
        assert response.url == reverse("patients:detail", args=["P001"])
        followup = FollowUp.objects.get(patient=record["patient"], visit_number=2)
        assert (followup.haemoglobin_g_dl, followup.diagnosis) == (10.4, "mild anaemia")
        assert followup.history.get().history_user == clinician

    def test_the_next_visit_number_offered_skips_a_voided_visit(self, client, clinician, data_manager, record):
        # A voided visit keeps its number: offering it would only earn the form an error.
        void(make_followup(record["patient"], visit_number=2), data_manager, "Entered twice.")
        client.force_login(clinician)
        form = client.get(reverse("patients:followup_create", args=["P001"])).context["form"]
        assert form.initial["visit_number"] == 3

    def test_bad_follow_up_keeps_what_was_typed(self, client, clinician, record):
        client.force_login(clinician)
        response = client.post(
            reverse("patients:followup_create", args=["P001"]),
            {
                "visit_number": "1",
                "visit_date": "2024-04-02",
                "haemoglobin_g_dl": "104",
                "bp_systolic": "70",
                "bp_diastolic": "90",
                "diagnosis": "typed by a nurse",
            },
        )
        assert response.status_code == 200
        assert FollowUp.objects.count() == 1
        errors = response.context["form"].errors
        assert set(errors) == {"visit_number", "haemoglobin_g_dl", "bp_diastolic"}
        assert "looks like g/L" in errors["haemoglobin_g_dl"][0]
        html = response.content.decode()
        assert "typed by a nurse" in html
        assert 'value="104"' in html

    def test_data_manager_adds_and_edits_a_delivery(self, client, data_manager, record):
        client.force_login(data_manager)
        response = client.post(
            reverse("patients:delivery_create", args=["P001"]),
            {
                "date_of_delivery": "2025-02-01",
                "type_of_delivery": "c_section",
                "term_of_delivery": "preterm",
                "haemoglobin_at_delivery": "9.8",
                "age_at_delivery": "24",
            },
        )
        assert response.status_code == 302
        delivery = Delivery.objects.get(patient=record["patient"], date_of_delivery="2025-02-01")
        assert delivery.type_of_delivery == Delivery.Type.C_SECTION

        url = reverse("patients:delivery_edit", args=["P001", delivery.pk])
        response = client.post(url, {"date_of_delivery": "2025-02-01", "type_of_delivery": "assisted"})
        assert response.status_code == 302
        delivery.refresh_from_db()
        assert delivery.type_of_delivery == Delivery.Type.ASSISTED

    def test_editing_a_follow_up_keeps_its_own_visit_number(self, client, data_manager, record):
        client.force_login(data_manager)
        followup = record["followup"]
        url = reverse("patients:followup_edit", args=["P001", followup.pk])
        response = client.post(url, {"visit_number": followup.visit_number, "visit_date": "2024-03-21"})
        assert response.status_code == 302
        followup.refresh_from_db()
        assert followup.visit_date == datetime.date(2024, 3, 21)


@pytest.mark.django_db
def test_the_patient_list_asks_for_a_whole_page_even_when_fewer_match(client, clinician):
    """A LIMIT of the rows left (1 here) made PostgreSQL walk the patient_id index until one matched
    (0.45 s at a million patients); a page's LIMIT reads the search's indexes (WholePagePaginator)."""
    make_patient(patient_id="P001")
    make_patient(patient_id="P002", name="Gita Rai")
    client.force_login(clinician)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/patients/?q=P001")
    assert [patient.patient_id for patient, _ in response.context["rows"]] == ["P001"]
    assert response.context["page"].end_index() == 1
    listed = [
        q["sql"] for q in queries.captured_queries if 'FROM "patients_patient"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    assert listed and all(sql.rstrip().endswith(f"LIMIT {PATIENTS_PER_PAGE}") for sql in listed), listed
