"""Her timeline chart: axes a clinician can read."""

import datetime

from patients import timeline


def row(day, haemoglobin=None, weight=None, record="follow-up"):
    return {"date": datetime.date(2024, 5, day), "record": record, "visit_number": day,
            "haemoglobin_g_dl": haemoglobin, "weight_kg": weight}  # fmt: skip


def test_the_haemoglobin_axis_shows_the_cut_off_with_room_around_it():
    figure = timeline.chart([row(1, 11.4, 50.0), row(20, 11.8, 50.5)], "P1", 11.0)
    low, high = figure["layout"]["yaxis"]["range"]
    assert low < 11.0 - 0.4 and high > 11.8  # the cut-off line is inside the plot, not on its edge
    assert high - low >= 2  # a steady 11.4 to 11.8 does not fill the chart as a swing
    assert figure["layout"]["yaxis2"]["tickmode"] == "auto"  # weight ticks of its own, not 41.7, 44.7


def test_one_day_of_readings_spans_two_months_and_no_weight_means_no_weight_axis():
    figure = timeline.chart([row(12, 9.5, record="delivery")], "P1", 11.0)
    assert figure["layout"]["xaxis"]["range"] == ["2024-04-12", "2024-06-11"]
    assert "yaxis2" not in figure["layout"] and len(figure["data"]) == 1
