"""Text in the charts is shown as typed: Plotly draws its own HTML subset (<a href>, <b>, <br>, ...)
from unescaped text, so a district called '<a href="...">' must not become a live link."""

import datetime
import json

import pytest
from django.urls import reverse

from insights import charts
from patients import timeline
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

LINK = '<a href="https://evil.example/">Kaski & Co</a>'
# As Plotly reads it: it turns &lt; &gt; &amp; back into < > & and draws them as text.
LINK_FOR_PLOTLY = '&lt;a href="https://evil.example/"&gt;Kaski &amp; Co&lt;/a&gt;'
# As Django's templates write it: the tables beside the charts, escaped once.
LINK_IN_HTML = "&lt;a href=&quot;https://evil.example/&quot;&gt;Kaski &amp; Co&lt;/a&gt;"


def strings(value, key=None):
    """Every (key, string) in a figure's JSON."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from strings(item, name)


def assert_shown_as_typed(figure):
    for key, text in strings(figure):
        if key == "hovertemplate":  # ours: its markup (<br>, <extra>) is meant
            assert "<a" not in text and "evil.example" not in text, text
        else:
            assert "<" not in text and ">" not in text, (key, text)


@pytest.fixture
def records(db):
    district = make_district(LINK)
    for n in range(4):
        patient = make_patient(district=district, weight_kg=48 + n, condition="anaemia" if n % 2 else "")
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n, 5), haemoglobin_at_delivery=9 + n,
                      type_of_delivery="c_section" if n % 2 else "normal")  # fmt: skip
        make_followup(patient, visit_date=datetime.date(2024, 6, 1), haemoglobin_g_dl=9.5 + n, weight_kg=50 + n)
        make_followup(patient, visit_date=datetime.date(2024, 8, 1), haemoglobin_g_dl=11 + n, weight_kg=51 + n)
    return district


@pytest.mark.parametrize("page_name", ["overview", "districts", "trends", "deliveries", "followups"])
def test_every_chart_shows_a_district_name_as_typed(client, clinician, records, page_name):
    client.force_login(clinician)
    response = client.get(reverse(f"insights:{page_name}"), {"district": records.pk})
    assert response.status_code == 200
    figures = [chart["figure"] for chart in response.context["charts"] if chart["figure"]]
    assert figures
    for figure in figures:
        assert_shown_as_typed(figure)
        assert LINK_FOR_PLOTLY in figure["layout"]["title"]["text"]  # the filter, in the title
    html = response.content.decode()
    assert LINK_IN_HTML in html  # the page's own text: escaped once by the template
    assert "&amp;lt;" not in html and "\\u0026amp;lt;" not in html  # and nothing escaped twice


def test_district_axes_and_hovers_carry_the_escaped_name(client, clinician, records):
    client.force_login(clinician)
    response = client.get(reverse("insights:overview"))
    by_id = {chart["id"]: chart for chart in response.context["charts"]}
    for name in ("chart-weight", "chart-anaemia", "chart-caesarean"):
        for trace in by_id[name]["figure"]["data"]:
            if trace.get("hoverinfo") == "skip":
                continue  # a legend entry with no marks (the WHO reference range)
            assert trace["x"] == [LINK_FOR_PLOTLY], name
            assert "%{x}" in trace["hovertemplate"]  # the hover shows the axis value, escaped
    # The data table under the chart is Django's: the name as typed, escaped once.
    assert f"<td>{LINK_IN_HTML}</td>" in response.content.decode()


def test_legend_names_category_labels_and_a_patient_id_are_escaped_too():
    rows = [{"label": "<b>normal</b>", "n_deliveries": 3, "anaemia_at_delivery_rate": 0.5, "n_anaemic_at_delivery": 1,
             "n_haemoglobin_at_delivery": 2, "anaemia_next_visit_rate": None, "n_anaemic_next_visit": 0,
             "n_haemoglobin_next_visit": 0}]  # fmt: skip
    figure = charts.delivery_outcomes_chart(rows, scope="<i>Doti</i>")
    assert_shown_as_typed(figure)
    assert figure["data"][0]["x"] == ["&lt;b&gt;normal&lt;/b&gt;"]
    assert figure["layout"]["title"]["text"] == "Anaemia by delivery type (&lt;i&gt;Doti&lt;/i&gt;)"

    rows = [{"record": "followup", "visit_number": 1, "date": datetime.date(2024, 5, 1), "haemoglobin_g_dl": 10.0,
                 "weight_kg": 50.0}]  # fmt: skip
    figure = timeline.chart(rows, "<b>P1</b>", 11.0)
    assert_shown_as_typed(figure)
    assert figure["layout"]["title"]["text"].startswith("Haemoglobin and weight of &lt;b&gt;P1&lt;/b&gt;")


def test_plain_text_and_the_hover_markup_are_unchanged():
    figure = charts.caesarean_chart([{"district": "Kaski", "n_deliveries": 4, "n_caesarean": 1,
                                      "caesarean_rate": 0.25}], "Kaski, 1 Jan 2024 to today")  # fmt: skip
    bar, _reference = figure["data"]
    assert bar["x"] == ["Kaski"]
    assert bar["hovertemplate"].endswith("deliveries<extra></extra>") and "<br>" in bar["hovertemplate"]
    assert figure["layout"]["title"]["text"] == "Caesarean rate by district (Kaski, 1 Jan 2024 to today)"
    assert json.loads(json.dumps(figure)) == figure
