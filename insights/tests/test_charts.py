"""The chart functions: rows in, a Plotly figure's JSON out, with its n, units, scope and empty state."""

import json

import pytest

from insights import charts
from patients.models import DeliveryType

DELIVERY_TYPES = [code for code, _ in DeliveryType.choices]

DISTRICTS = [
    {"district": "Kaski", "n_patients": 40, "n_deliveries": 30, "n_caesarean": 9, "caesarean_rate": 0.3,
     "n_with_haemoglobin": 38, "n_anaemic": 19, "n_mild": 10, "n_moderate": 8, "n_severe": 1,
     "n_with_blood_pressure": 20, "n_high_blood_pressure": 5, "n_severe_blood_pressure": 2},
    {"district": "Doti", "n_patients": 2, "n_deliveries": 0, "n_caesarean": 0, "caesarean_rate": None,
     "n_with_haemoglobin": 0, "n_anaemic": 0, "n_mild": 0, "n_moderate": 0, "n_severe": 0,
     "n_with_blood_pressure": 0, "n_high_blood_pressure": 0, "n_severe_blood_pressure": 0},
]  # fmt: skip


def test_nothing_to_draw_gives_none_so_the_page_says_so():
    assert charts.average_weight_chart([]) is None
    assert charts.anaemia_chart([DISTRICTS[1]]) is None
    assert charts.caesarean_chart([DISTRICTS[1]]) is None
    assert charts.blood_pressure_chart([DISTRICTS[1]]) is None
    assert charts.deliveries_by_month_chart([]) is None
    assert charts.visit_trends_chart([]) is None


def test_the_caesarean_chart_draws_the_who_band_and_carries_its_counts():
    figure = charts.caesarean_chart(DISTRICTS, "Kaski, 2024")
    assert figure["layout"]["title"]["text"] == "Caesarean rate by district (Kaski, 2024)"
    band, *edges = figure["layout"]["shapes"]
    assert (band["y0"], band["y1"]) == (10, 15) and band["layer"] == "below"  # behind the bars
    assert [edge["y0"] for edge in edges] == [10, 15]  # its edges over them, dashed
    bar, key = figure["data"]
    assert key["name"] == "WHO reference 10-15%" and key["y"] == [None]  # named in the legend, not over the bars
    assert figure["layout"]["xaxis"]["type"] == "category"
    assert bar["x"] == ["Kaski"] and bar["y"] == [30.0]  # a district without deliveries has no rate to draw
    assert bar["customdata"] == [[9, 30]] and "deliveries" in bar["hovertemplate"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "Caesarean deliveries (%)"


def test_anaemia_is_stacked_by_severity_as_shares_of_patients_with_a_reading():
    figure = charts.anaemia_chart(DISTRICTS)
    assert [trace["name"] for trace in figure["data"]] == ["Mild anaemia", "Moderate anaemia", "Severe anaemia"]
    assert "%{x}, mild anaemia: " in figure["data"][0]["hovertemplate"]
    assert [round(trace["y"][0], 2) for trace in figure["data"]] == [26.32, 21.05, 2.63]
    assert figure["layout"]["barmode"] == "stack"
    assert all(trace["marker"]["color"] in charts.PALETTE for trace in figure["data"])


def test_deliveries_by_month_fill_missing_months_with_zero_per_type():
    rows = [{"month": "2024-01", "delivery_type": "normal", "n_deliveries": 3},
            {"month": "2024-02", "delivery_type": "c_section", "n_deliveries": 1}]  # fmt: skip
    figure = charts.deliveries_by_month_chart(rows)
    by_name = {trace["name"]: trace["y"] for trace in figure["data"]}
    assert by_name == {"Normal vaginal": [3, 0], "Assisted (vacuum/forceps)": [0, 0], "Caesarean section": [0, 1]}
    assert figure["data"][2]["hovertemplate"] == "%{x|%b %Y}, Caesarean section: %{y} deliveries<extra></extra>"
    assert figure["layout"]["xaxis"]["type"] == "date" and figure["data"][0]["xperiod"] == "M1"


def test_blood_pressure_is_stacked_high_then_severe_as_shares_of_patients_with_a_reading():
    figure = charts.blood_pressure_chart(DISTRICTS, "Kaski")
    high, severe = figure["data"]
    assert (high["name"], severe["name"]) == ("140/90 to below 160/110 mmHg", "160/110 mmHg or above")
    assert (high["x"], high["y"], high["customdata"]) == (["Kaski"], [15.0], [[3, 20]])  # 5 high, 2 of them severe
    assert (severe["y"], severe["customdata"]) == ([10.0], [[2, 20]])
    assert "patients with a reading" in severe["hovertemplate"] and figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["title"]["text"] == "High blood pressure at the latest reading, by district (Kaski)"


def test_no_chart_names_a_code():
    """Legends, axis titles and hovers are in words: no delivery type, severity or reason code."""
    import re

    from patients import clinical

    by_month = [{"month": "2024-01", "delivery_type": code, "n_deliveries": 1} for code in DELIVERY_TYPES]
    figures = [charts.anaemia_chart(DISTRICTS), charts.caesarean_chart(DISTRICTS),
               charts.blood_pressure_chart(DISTRICTS), charts.deliveries_by_month_chart(by_month)]  # fmt: skip
    text = json.dumps(figures)
    codes = [*DELIVERY_TYPES, *clinical.REASON_CODES, "n_mild", "n_severe", "n_with"]
    assert not [code for code in codes if re.search(rf"\b{code}\b", text)]
    assert not re.search(r'"name": "(mild|moderate|severe)"', text)


def test_a_figure_is_plain_json_for_json_script():
    figure = charts.visit_trends_chart([{"visit_number": 1, "n_visits": 4, "n_weight": 4, "mean_weight_kg": 55.0,
                                         "n_haemoglobin": 3, "mean_haemoglobin_g_dl": 10.5}])  # fmt: skip
    assert json.loads(json.dumps(figure)) == figure
    assert [trace["customdata"] for trace in figure["data"]] == [[3], [3], [4], [4]]


def test_means_of_few_patients_are_drawn_apart_and_grey():
    sizes = ((1, 40), (2, 25), (3, charts.SMALL_GROUP - 1))
    rows = [{"visit_number": v, "n_visits": n, "n_weight": n, "mean_weight_kg": 50.0 + v, "n_haemoglobin": n,
             "mean_haemoglobin_g_dl": 10.0 + v} for v, n in sizes]  # fmt: skip
    figure = charts.visit_trends_chart(rows)
    line, few = figure["data"][:2]
    assert line["y"] == [11.0, 12.0, None] and few["y"] == [None, None, 13.0]  # the line stops where n is small
    assert few["name"] == f"haemoglobin (g/dL), fewer than {charts.SMALL_GROUP} patients"
    assert few["mode"] == "markers" and few["marker"]["line"]["color"] == charts.SMALL_GROUP_COLOUR
    assert len(charts.visit_trends_chart(rows[:2])["data"]) == 2  # no grey trace when every group is large


def test_group_charts_put_groups_on_a_category_axis_with_their_size_on_each_bar():
    sizes = (("0", 90), ("1", 40), ("2-3", 30), ("8 or more", 8))
    rows = [{"label": label, "n_patients": n, "n_resolved": n // 3, "n_anaemic_at_first": n // 2,
             "resolved_share": 1 / 3} for label, n in sizes]  # fmt: skip
    figure = charts.followup_effect_chart(rows, "number of follow-ups")
    bar, key = figure["data"]
    assert figure["layout"]["xaxis"]["type"] == "category"  # "2-3" is a group, not a number
    assert bar["text"] == ["n = 45", "n = 20", "n = 15", "n = 4"]
    colours = bar["marker"]["color"]
    assert colours[-1] == charts.SMALL_GROUP_COLOUR and colours[0] != charts.SMALL_GROUP_COLOUR
    assert key["name"] == f"fewer than {charts.SMALL_GROUP} patients"


def test_a_chart_is_drawn_once_for_the_same_rows_and_again_when_they_change():
    first = charts.caesarean_chart(DISTRICTS, "all districts")
    assert charts.caesarean_chart([dict(row) for row in DISTRICTS], "all districts") is first  # equal rows
    changed = [{**DISTRICTS[0], "n_caesarean": 12, "caesarean_rate": 0.4}, DISTRICTS[1]]
    redrawn = charts.caesarean_chart(changed, "all districts")
    assert redrawn is not first and redrawn["data"][0]["y"] == [40.0]
    assert charts.caesarean_chart(DISTRICTS, "Kaski") is not first  # other words, another figure
    for n in range(charts.REMEMBERED_FIGURES):  # the oldest are forgotten, the memory stays bounded
        charts.caesarean_chart(DISTRICTS, f"scope {n}")
    assert charts.caesarean_chart(DISTRICTS, "all districts") is not first


def test_plotly_checks_every_figure_the_suite_draws():
    from patients import figures

    assert figures.CHECK_FIGURES  # conftest.py: pages skip the check, the suite does not
    with pytest.raises(ValueError, match="no_such_property"):
        figures.figure([], "A title", "x", "y", xaxis={"no_such_property": 1})
    with pytest.raises(ValueError):
        figures.figure([], "A title", "x", "y", barmode="sideways")
