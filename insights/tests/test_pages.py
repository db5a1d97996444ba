"""The dashboard's pages through Django's test client: who may see them, filters, query counts."""

import datetime
from pathlib import Path

import pytest
from django.urls import reverse

from insights import queries
from insights.views import HIGH_RISK_PER_PAGE
from patients.bulk import insert_values
from patients.models import DeliveryType, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.voiding import void
from patients.writes import records_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def records():
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    for n in range(10):
        patient = make_patient(district=kaski if n % 2 else jhapa, weight_kg=48 + n, condition="")
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n, 5), haemoglobin_at_delivery=8 + n / 2,
                      type_of_delivery="c_section" if n % 4 == 0 else "normal")  # fmt: skip
        make_followup(patient, visit_date=datetime.date(2024, 11, 1), haemoglobin_g_dl=9.5 + n / 3, weight_kg=50 + n)


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("insights:overview"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_user_without_a_role_is_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(reverse("insights:overview")).status_code == 403


def test_the_overview_shows_totals_and_every_chart(client, clinician, records, django_assert_num_queries):
    client.force_login(clinician)
    client.get(reverse("insights:overview"))  # computes the insights and caches them
    # session, user, permissions; the data version and the cached results; the district filter's choices
    with django_assert_num_queries(6):
        response = client.get(reverse("insights:overview"))
    assert response.status_code == 200
    totals = response.context["totals"]
    assert (totals["n_patients"], totals["n_deliveries"], totals["n_caesarean"]) == (10, 10, 3)
    page = response.content.decode()
    for name in ("weight", "anaemia", "caesarean", "deliveries", "visits"):
        assert f'data-figure="chart-{name}-data"' in page and f'id="chart-{name}-data"' in page
    assert "plotly/plotly.min.js" in page and "js/charts.js" in page
    assert "<script>" not in page.replace("<script id=", "")  # no inline script: the CSP can forbid them


def test_filters_change_the_numbers_and_title(client, clinician, records):
    client.force_login(clinician)
    kaski = make_district("Kaski")
    response = client.get(
        reverse("insights:overview"), {"district": kaski.pk, "from": "2024-03-01", "to": "2024-12-31"}
    )
    assert response.context["totals"]["n_patients"] == 5
    assert response.context["scope"] == "Kaski, 1 Mar 2024 to 31 Dec 2024"
    assert "<title>Overview: Kaski, 1 Mar 2024 to 31 Dec 2024" in response.content.decode()


def test_filters_that_match_nothing_say_so(client, clinician, records):
    client.force_login(clinician)
    response = client.get(reverse("insights:overview"), {"from": "2030-01-01"})
    assert response.context["totals"]["n_patients"] == 0
    assert response.content.decode().count("No data for these filters.") == 5


def test_bad_filters_are_named_and_kept(client, clinician, records):
    client.force_login(clinician)
    response = client.get(reverse("insights:overview"), {"from": "2024-05-01", "to": "2024-01-01"})
    page = response.content.decode()
    assert "To: The last day is before the first." in page
    assert 'value="2024-05-01"' in page and "totals" not in response.context


def _n_followups(client):
    return client.get(reverse("insights:overview")).context["totals"]["n_followups"]


def test_a_new_follow_up_changes_the_next_page_view(client, clinician, records, django_assert_num_queries):
    client.force_login(clinician)
    before = _n_followups(client)
    # The session, user and permissions; the data version, the cached results; the filter's districts.
    with django_assert_num_queries(6):
        assert _n_followups(client) == before  # served from the cache
    patient = Patient.objects.first()
    response = client.post(reverse("patients:followup_create", args=[patient.patient_id]), {
        "visit_number": 9, "visit_date": "2024-12-01", "weight_kg": "54", "haemoglobin_g_dl": "11",
    })  # fmt: skip
    assert response.status_code == 302
    assert _n_followups(client) == before + 1


def test_an_import_a_bulk_insert_and_a_void_each_change_the_next_page_view(
    client, clinician, data_manager, records, tmp_path
):
    from patients.importing import apply_import, plan_import
    from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets

    client.force_login(clinician)
    before = _n_followups(client)
    sheets = standard_sheets(patients=[patient_row("IMP1")], deliveries=[], followups=[followup_row("IMP1", 1)])
    apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", sheets)))
    assert _n_followups(client) == before + 1
    patient = Patient.objects.get(patient_id="IMP1")
    insert_values(FollowUp, ["patient_id", "visit_number", "visit_date", "diagnosis"],
                  [[patient.pk, 2, datetime.date(2024, 12, 2), ""]])  # fmt: skip
    records_written([patient.pk])  # what every bulk writer does
    assert _n_followups(client) == before + 2
    void(patient, data_manager, "entered by mistake")
    assert _n_followups(client) == before


ANALYSIS_PAGES = ["insights:districts", "insights:trends", "insights:deliveries", "insights:followups",
                  "insights:anomalies"]  # fmt: skip


@pytest.mark.parametrize("name", ANALYSIS_PAGES)
def test_each_analysis_page_needs_a_login_and_a_role(client, no_role_user, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(no_role_user)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", ANALYSIS_PAGES)
def test_each_analysis_page_shows_its_numbers_and_keeps_the_filters(
    client, clinician, records, name, django_assert_num_queries
):
    client.force_login(clinician)
    kaski = make_district("Kaski")
    filters = {"district": kaski.pk, "from": "2024-01-01", "to": "2024-12-31"}
    assert client.get(reverse(name), filters).status_code == 200  # computes and caches
    # session, user, permissions, the chosen district, the data version and the cached results, the
    # district filter's choices
    with django_assert_num_queries(7):
        response = client.get(reverse(name), filters)
    page = response.content.decode()
    assert "Kaski, 1 Jan 2024 to 31 Dec 2024" in page
    # every link of the navigation keeps the filters
    assert f'href="{reverse("insights:trends")}?district={kaski.pk}&amp;from=2024-01-01&amp;to=2024-12-31"' in page
    tables = response.context["tables"]
    assert tables and (name == "insights:anomalies" or all(table["rows"] for table in tables))  # nothing odd here


def test_the_districts_page_numbers_come_from_the_query(client, clinician, records):
    client.force_login(clinician)
    table = client.get(reverse("insights:districts")).context["tables"][0]
    assert [row[0] for row in table["rows"]] == ["Jhapa", "Kaski"] and [row[1] for row in table["rows"]] == [5, 5]


def test_the_districts_page_shows_hypertension_and_risk_factors_as_shares_with_their_counts(client, clinician):
    kaski = make_district("Kaski")
    for n, (systolic, diastolic) in enumerate([(120, 80), (145, 85), (165, 100), (150, 112)]):
        patient = make_patient(district=kaski, height_cm=142 if n == 0 else 155, age_at_marriage=16,
                               age_at_first_pregnancy=17 + n)  # fmt: skip
        make_followup(patient, bp_systolic=systolic, bp_diastolic=diastolic)
    make_delivery(patient, term_of_delivery="preterm")
    make_patient(district=kaski)  # no blood pressure reading: not counted in the prevalence
    client.force_login(clinician)
    response = client.get(reverse("insights:districts"))
    assert response.status_code == 200
    tables = {table["title"]: table for table in response.context["tables"]}
    assert list(tables) == ["Deliveries and anaemia", "Blood pressure", "Risk factors", "Weight and follow-ups"]
    blood_pressure = tables["Blood pressure"]
    assert blood_pressure["header"] == [
        "District", "With a blood pressure reading (n)",
        "Hypertension prevalence (latest reading 140/90 mmHg or above)", "Severe: 160/110 mmHg or above",
    ]  # fmt: skip
    assert blood_pressure["rows"] == [["Kaski", 4, "75.0% (3 of 4)", "50.0% (2 of 4)"]]
    factors = tables["Risk factors"]
    assert factors["header"] == ["District", "Patients (n)", "First pregnancy before 20", "Height below 145 cm",
                                 "Body-mass index below 18.5", "A preterm delivery"]  # fmt: skip
    # ages at first pregnancy 17, 18, 19, 20 and the default 20: three of five were adolescents
    assert factors["rows"] == [["Kaski", 5, "60.0% (3 of 5)", "20.0% (1 of 5)", "0.0% (0 of 5)", "20.0% (1 of 5)"]]
    assert "do not make a patient high-risk by themselves" in factors["note"]
    page = response.content.decode()
    assert "<td>75.0% (3 of 4)</td>" in page and "do not make a patient high-risk by themselves" in page
    assert 'id="chart-blood-pressure-data"' in page


def test_every_rate_on_a_page_is_a_percentage_with_its_counts(client, clinician, records):
    client.force_login(clinician)
    page = client.get(reverse("insights:overview")).content.decode()
    # 3 Caesareans in 10 deliveries: the tile and the chart's table
    assert '<span class="value">30.0%</span>' in page and "Caesarean rate (3 of 10 deliveries)" in page
    assert "<tr><td>Jhapa</td><td>60.0% (3 of 5)</td></tr>" in page  # the Caesareans n = 0, 4, 8 are in Jhapa
    assert "<td>Caesarean section</td>" in page and "c_section" not in page  # the deliveries chart's table
    deliveries = client.get(reverse("insights:deliveries")).context["tables"][0]
    assert [row[0] for row in deliveries["rows"]] == [label for _, label in DeliveryType.choices]
    assert deliveries["rows"][2][1:3] == [3, "66.7% (2 of 3)"]  # haemoglobin at delivery 8, 10, 12 below 11
    for name in ("insights:districts", "insights:deliveries", "insights:followups"):
        for table in client.get(reverse(name)).context["tables"]:
            for row in table["rows"]:
                assert not [cell for cell in row if isinstance(cell, float)], (name, table["title"], row)


def test_the_delivery_page_says_the_chi_square_in_words(client, clinician, records):
    client.force_login(clinician)
    summary = client.get(reverse("insights:deliveries")).context["summary"]
    assert "chi-square" in summary and "degrees of freedom" in summary and "not a cause" in summary


def test_the_review_list_pages_through_the_values_largest_first(client, clinician, records):
    from insights.views import ANOMALIES_PER_PAGE

    for n in range(ANOMALIES_PER_PAGE + 2):  # a weight jump each, of 10.0 kg, 10.1 kg, ...
        patient = make_patient(patient_id=f"JUMP-{n:02d}", condition="")
        make_followup(patient, visit_number=1, visit_date=datetime.date(2024, 3, 1), weight_kg=50.0)
        make_followup(patient, visit_number=2, visit_date=datetime.date(2024, 4, 1), weight_kg=60.0 + n / 10)
    expected = [row["patient_id"] for row in queries.anomalies()]
    assert len(expected) > ANOMALIES_PER_PAGE
    client.force_login(clinician)
    asked = ("1", "2", "99", "0", "-1", "9" * 30, "x", "²", "")  # past the last page: the last; not a number: the first
    pages = [client.get(reverse("insights:anomalies"), {"page": number}) for number in asked]
    assert {response.status_code for response in pages} == {200}
    listed = [[row[0]["text"] for row in response.context["tables"][0]["rows"]] for response in pages]
    assert listed[0] == expected[:ANOMALIES_PER_PAGE]
    assert listed[1] == listed[2] == listed[3] == listed[4] == listed[5] == expected[ANOMALIES_PER_PAGE:]
    assert listed[6] == listed[7] == listed[8] == listed[0]
    assert f"{len(expected)} values to review, largest first" in pages[0].content.decode()


def test_the_review_list_links_each_value_to_its_patient(client, clinician, records):
    patient = Patient.objects.first()
    make_followup(patient, visit_date=datetime.date(2024, 12, 1), haemoglobin_g_dl=16.5)  # +jump from ~9.5
    client.force_login(clinician)
    page = client.get(reverse("insights:anomalies")).content.decode()
    assert f'<a href="{reverse("patients:detail", args=[patient.patient_id])}">{patient.patient_id}</a>' in page
    # the record, the field with its unit and the rule, in words
    assert "<td>Follow-up</td>" in page and "<td>Haemoglobin (g/dL)</td>" in page
    assert "<td>Large change since the previous visit</td>" in page
    assert "visit_jump" not in page and "haemoglobin_g_dl" not in page and "<td>follow-up</td>" not in page


class TestHighRiskTable:
    @pytest.fixture
    def risky(self, records):
        make_patient(patient_id="RISK-A", condition="=cmd|' /C calc'!A0 anaemia")
        make_followup(make_patient(patient_id="RISK-B", condition=""), haemoglobin_g_dl=6.5)

    @pytest.mark.parametrize("params", [{}, {"from": "2001-01-01", "to": "2001-12-31"}])
    def test_an_empty_table_says_so(self, client, clinician, params):
        make_followup(make_patient(), haemoglobin_g_dl=13.0)  # nobody at risk
        client.force_login(clinician)
        response = client.get(reverse("insights:high_risk"), params)
        assert response.status_code == 200
        assert response.context["patients"] == []

    def test_lists_each_high_risk_patient_once_with_reasons_and_links(self, client, clinician, risky):
        client.force_login(clinician)
        response = client.get(reverse("insights:high_risk"))
        assert response.status_code == 200
        expected = [row["patient_id"] for row in queries.high_risk_patients()]
        assert response.context["count"] == len(expected)
        assert [row["patient_id"] for row in response.context["patients"]] == expected[:50]
        assert expected[0] == "RISK-B"  # haemoglobin 6.5: priority 1, first
        page = response.content.decode()
        assert f'<a href="{reverse("patients:detail", args=["RISK-B"])}">RISK-B</a>' in page
        assert "Haemoglobin below 11 g/dL" in page and "Priority 1 (urgent)" in page
        assert "low_haemoglobin</td>" not in page

    def test_filters_by_reason_and_priority_and_names_the_accepted_values(self, client, clinician, risky):
        make_followup(make_patient(patient_id="RISK-C", condition="PIH"), bp_systolic=150, bp_diastolic=95)
        client.force_login(clinician)

        def listed(**params):
            response = client.get(reverse("insights:high_risk"), params)
            assert response.status_code == 200
            return [row["patient_id"] for row in response.context["patients"]]

        assert listed(reason="high_blood_pressure") == ["RISK-C"]
        assert listed(reason=["anaemia_keyword", "hypertension_keyword"]) == ["RISK-C", "RISK-A"]
        assert listed(reason="anaemia_keyword,hypertension_keyword") == ["RISK-C", "RISK-A"]
        urgent = listed(priority="1")
        assert "RISK-B" in urgent and "RISK-C" not in urgent
        assert urgent == [row["patient_id"] for row in queries.high_risk_patients(priorities=[1])][:50]
        routine_or_soon = listed(priority=["2", "3"])
        assert "RISK-C" in routine_or_soon and "RISK-B" not in routine_or_soon
        response = client.get(reverse("insights:high_risk"), {"reason": "bp_high", "priority": "4"})
        assert response.status_code == 400
        page = response.content.decode()
        assert "&quot;bp_high&quot; is not a reason. Accepted: anaemia_keyword, low_haemoglobin, c_section" in page
        assert "&quot;4&quot; is not a priority. Accepted: 1, 2, 3." in page
        assert 'name="reason" value="high_blood_pressure"' in page  # the form is there to correct them

    def test_sorts_by_haemoglobin_and_pages_without_counting_again(
        self, client, clinician, risky, django_assert_num_queries
    ):
        client.force_login(clinician)
        client.get(reverse("insights:high_risk"), {"sort": "haemoglobin"})  # caches the ordered list
        # session, user, permissions, the data version and the cached list, this page's 50 patients,
        # the district filter's choices
        with django_assert_num_queries(7):
            response = client.get(reverse("insights:high_risk"), {"sort": "haemoglobin"})
        values = [row["haemoglobin_g_dl"] for row in response.context["patients"]]
        known = [value for value in values if value is not None]
        assert known == sorted(known) and known[0] == 6.5
        assert values[len(known) :] == [None] * (len(values) - len(known))  # patients without a reading last

    def test_pages_through_the_list_in_order(self, client, clinician, records):
        for n in range(HIGH_RISK_PER_PAGE + 3):  # haemoglobin 6.0, 6.05, ...: the order of the haemoglobin sort
            make_followup(make_patient(patient_id=f"LOW-{n:02d}"), haemoglobin_g_dl=round(6 + n / 20, 2))
        expected = [row["patient_id"] for row in queries.high_risk_patients(order="haemoglobin")]
        client.force_login(clinician)
        pages = [
            client.get(reverse("insights:high_risk"), {"sort": "haemoglobin", "page": number})
            for number in ("1", "2", "99", "x")  # past the last page: the last; not a number: the first
        ]
        listed = [[row["patient_id"] for row in response.context["patients"]] for response in pages]
        assert listed[0] == expected[:HIGH_RISK_PER_PAGE] and listed[0][:2] == ["LOW-00", "LOW-01"]
        assert listed[1] == expected[HIGH_RISK_PER_PAGE : 2 * HIGH_RISK_PER_PAGE]
        assert listed[2] == expected[(len(expected) - 1) // HIGH_RISK_PER_PAGE * HIGH_RISK_PER_PAGE :]
        assert listed[3] == listed[0]
        assert {response.context["count"] for response in pages} == {len(expected)}

    def test_downloads_the_whole_list_as_csv_and_xlsx_with_formulas_defused(self, client, clinician, risky):
        import io

        import openpyxl

        client.force_login(clinician)
        response = client.get(reverse("insights:high_risk"), {"format": "csv"})
        assert response.streaming  # written as the rows are read
        csv_text = response.getvalue().decode()
        assert csv_text.splitlines()[0].startswith("Priority,Priority in words,Patient ID,Name,District,Reasons,")
        assert "'=cmd|" in csv_text  # a leading apostrophe: spreadsheets show it as text
        response = client.get(reverse("insights:high_risk"), {"format": "xlsx"})
        assert response["Content-Disposition"] == 'attachment; filename="high-risk-patients.xlsx"'
        sheet = openpyxl.load_workbook(io.BytesIO(response.getvalue())).active
        cells = [cell for row in sheet.iter_rows() for cell in row if str(cell.value).startswith("=cmd")]
        assert cells and all(cell.data_type == "s" for cell in cells)
        assert sheet.max_row == 1 + len(queries.high_risk_patients())


def test_collectstatic_ships_plotly_js_from_the_installed_package(tmp_path, settings):
    import plotly
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", interactive=False, verbosity=0)
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (tmp_path / "plotly" / "plotly.min.js").read_bytes() == shipped.read_bytes()
    assert (tmp_path / "js" / "charts.js").exists()


def test_table_headings_are_words_with_their_units(client, clinician):
    make_followup(make_patient())
    client.force_login(clinician)
    page = client.get(reverse("insights:districts")).content.decode()
    for heading in ("Mean haemoglobin (g/dL)", "Follow-ups per patient", "Mean weight (kg)", "Height below 145 cm"):
        assert f'<th scope="col">{heading}</th>' in page
    assert "mean_haemoglobin_g_dl" not in page.split("<table")[1] and "n_short_stature" not in page


def test_a_chart_links_to_the_table_that_holds_its_numbers(client, clinician):
    client.force_login(clinician)
    response = client.get(reverse("insights:districts"))
    page = response.content.decode()
    charts_ = {chart["id"]: chart for chart in response.context["charts"]}
    href = charts_["chart-blood-pressure"]["numbers_href"]
    assert href == "#table-blood-pressure" and f'id="{href[1:]}"' in page
