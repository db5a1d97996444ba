"""The dashboard's charts: pure functions from an insight's rows to a Plotly figure as JSON data,
in the house style of patients.figures (escaping, palette, the title as the page's caption).

Every chart says what it shows and for whom in its title, labels its axes with units, and carries
the n behind each mark in its hover. Groups, districts and delivery types sit on category axes
(a group called "2-3" is a name, not a number), months on a date axis. A mean or a share of fewer
than SMALL_GROUP patients is drawn grey and said so in the legend. A function returns None when
there is nothing to draw, and the page says so instead of showing an empty frame.
"""

import functools
import pickle

import plotly.graph_objects as go

from patients import clinical, labels
from patients.figures import CATEGORY_AXIS, MONTH_AXIS, PALETTE, WEIGHT_AXIS
from patients.figures import figure as _figure
from patients.models import DeliveryType

SEVERITY_COLOURS = {
    clinical.Severity.MILD: "#F0E442", clinical.Severity.MODERATE: "#E69F00", clinical.Severity.SEVERE: "#D55E00",
}  # fmt: skip
DELIVERY_COLOURS = {DeliveryType.NORMAL: "#009E73", DeliveryType.ASSISTED: "#56B4E9", DeliveryType.C_SECTION: "#CC79A7"}
# Her latest blood pressure: high but not severe, and severe (clinical.blood_pressure_band).
BLOOD_PRESSURE_BARS = (
    (f"{clinical.HIGH_SYSTOLIC_MMHG}/{clinical.HIGH_DIASTOLIC_MMHG} to below "
     f"{clinical.SEVERE_SYSTOLIC_MMHG}/{clinical.SEVERE_DIASTOLIC_MMHG} mmHg", "#E69F00"),
    (f"{clinical.SEVERE_SYSTOLIC_MMHG}/{clinical.SEVERE_DIASTOLIC_MMHG} mmHg or above", "#D55E00"),
)  # fmt: skip
# WHO statement on caesarean section rates (2015): no population benefit above about 10-15%.
WHO_CAESAREAN_BAND = (10, 15)
# Fewer patients than this behind a mean or a share: drawn grey, not joined to the line, and said so.
SMALL_GROUP = 10
SMALL_GROUP_COLOUR = "#8C8C8C"
SMALL_GROUP_NAME = f"fewer than {SMALL_GROUP} patients"


# Figures each chart function keeps, per process (insights.charts._drawn_once).
REMEMBERED_FIGURES = 32


def _drawn_once(chart):
    """`chart`, remembering its latest figures in this process: a cached result shown on view after
    view is drawn once, not on every view (Plotly checks each property it is given: 10-30 ms a
    figure, half of a cached page's time). Rows are lists of dicts, which lru_cache cannot hash:
    their pickle is the key. A figure handed out is shared: read it, never change it."""

    @functools.lru_cache(maxsize=REMEMBERED_FIGURES)
    def draw(arguments):
        args, kwargs = pickle.loads(arguments)
        return chart(*args, **kwargs)

    @functools.wraps(chart)
    def remembering(*args, **kwargs):
        return draw(pickle.dumps((args, kwargs)))

    return remembering


def _for(scope):
    return f" ({scope})" if scope else ""


def _few(n):
    """Fewer than SMALL_GROUP patients (or readings) behind a mean or a share."""
    return (n or 0) < SMALL_GROUP


def _colours(colour, counts):
    """Each mark's colour: grey where fewer than SMALL_GROUP patients stand behind it."""
    return [SMALL_GROUP_COLOUR if _few(n) else colour for n in counts]


def _small_group_key():
    """A legend entry, with no marks, saying what grey means."""
    return go.Bar(x=[None], y=[None], name=SMALL_GROUP_NAME, marker_color=SMALL_GROUP_COLOUR, hoverinfo="skip")


@_drawn_once
def average_weight_chart(rows, scope=""):
    rows = [row for row in rows if row["average_weight"] is not None]
    if not rows:
        return None
    bar = go.Bar(
        x=[row["district"] for row in rows], y=[row["average_weight"] for row in rows],
        customdata=[row["n_patients"] for row in rows], marker_color=PALETTE[0], name="mean weight",
        hovertemplate="%{x}: %{y:.1f} kg<br>n = %{customdata} patients<extra></extra>",
    )  # fmt: skip
    return _figure([bar], f"Mean recorded weight by district{_for(scope)}", "District", "Weight (kg)",
                   xaxis=CATEGORY_AXIS)  # fmt: skip


@_drawn_once
def anaemia_chart(district_rows, scope=""):
    rows = [row for row in district_rows if row["n_with_haemoglobin"]]
    if not rows:
        return None
    bars = [
        go.Bar(
            x=[row["district"] for row in rows],
            y=[100 * row[f"n_{band}"] / row["n_with_haemoglobin"] for row in rows],
            customdata=[[row[f"n_{band}"], row["n_with_haemoglobin"]] for row in rows],
            name=labels.words(band, "severity"),
            marker_color=colour,
            hovertemplate=f"%{{x}}, {labels.words(band, 'severity').lower()}: %{{y:.1f}}%<br>"
            "%{customdata[0]} of %{customdata[1]} patients with a reading<extra></extra>",
        )  # fmt: skip
        for band, colour in SEVERITY_COLOURS.items()
    ]
    return _figure(bars, f"Anaemia by district and WHO severity{_for(scope)}", "District",
                   "Anaemic by current Hb (%)", barmode="stack", xaxis=CATEGORY_AXIS)  # fmt: skip


@_drawn_once
def caesarean_chart(district_rows, scope=""):
    rows = [row for row in district_rows if row["n_deliveries"]]
    if not rows:
        return None
    bar = go.Bar(
        x=[row["district"] for row in rows], y=[100 * row["caesarean_rate"] for row in rows],
        customdata=[[row["n_caesarean"], row["n_deliveries"]] for row in rows], marker_color=PALETTE[4],
        name="Caesarean rate",
        hovertemplate="%{x}: %{y:.1f}%<br>%{customdata[0]} of %{customdata[1]} deliveries<extra></extra>",
    )  # fmt: skip
    # The reference range: a light band behind the bars and its two edges dashed over them, named in
    # the legend (a label inside the plot would sit over the bars).
    low, high = WHO_CAESAREAN_BAND
    band = {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": low, "y1": high,
            "fillcolor": "#009E73", "opacity": 0.15, "line": {"width": 0}, "layer": "below"}  # fmt: skip
    edges = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
              "line": {"color": "#009E73", "dash": "dash", "width": 1.5}} for y in (low, high)]  # fmt: skip
    key = go.Scatter(x=[None], y=[None], mode="lines", line={"color": "#009E73", "dash": "dash"},
                     name=f"WHO reference {low}-{high}%", hoverinfo="skip")  # fmt: skip
    return _figure([bar, key], f"Caesarean rate by district{_for(scope)}", "District", "Caesarean deliveries (%)",
                   shapes=[band, *edges], xaxis=CATEGORY_AXIS,
                   yaxis={"rangemode": "tozero", "range": [0, max(high + 5, *bar.y) * 1.05]})  # fmt: skip


@_drawn_once
def blood_pressure_chart(district_rows, scope=""):
    """Hypertension by district: her latest blood pressure high, stacked as high but not severe and
    severe, as shares of the patients with a reading."""
    rows = [row for row in district_rows if row["n_with_blood_pressure"]]
    if not rows:
        return None
    counts = [
        [row["n_high_blood_pressure"] - row["n_severe_blood_pressure"] for row in rows],
        [row["n_severe_blood_pressure"] for row in rows],
    ]
    bars = [
        go.Bar(
            x=[row["district"] for row in rows],
            y=[100 * n / row["n_with_blood_pressure"] for n, row in zip(numbers, rows, strict=True)],
            customdata=[[n, row["n_with_blood_pressure"]] for n, row in zip(numbers, rows, strict=True)],
            name=name,
            marker_color=colour,
            hovertemplate=f"%{{x}}, {name}: %{{y:.1f}}%<br>"
            "%{customdata[0]} of %{customdata[1]} patients with a reading<extra></extra>",
        )  # fmt: skip
        for numbers, (name, colour) in zip(counts, BLOOD_PRESSURE_BARS, strict=True)
    ]
    return _figure(bars, f"High blood pressure at the latest reading, by district{_for(scope)}", "District",
                   "Patients with a reading (%)", barmode="stack", yaxis={"rangemode": "tozero"},
                   xaxis=CATEGORY_AXIS)  # fmt: skip


@_drawn_once
def deliveries_by_month_chart(rows, scope=""):
    if not rows:
        return None
    months = sorted({row["month"] for row in rows})
    counts = {(row["month"], row["delivery_type"]): row["n_deliveries"] for row in rows}
    bars = [
        go.Bar(x=months, y=[counts.get((month, code), 0) for month in months], name=label,
               marker_color=DELIVERY_COLOURS[code], xperiod="M1", xperiodalignment="middle",
               hovertemplate=f"%{{x|%b %Y}}, {label}: %{{y}} deliveries<extra></extra>")
        for code, label in DeliveryType.choices
    ]  # fmt: skip
    return _figure(bars, f"Deliveries per month by type{_for(scope)}", "Month of delivery", "Deliveries",
                   barmode="stack", xaxis=MONTH_AXIS)  # fmt: skip


def _means(x, rows, mean, n, name, colour, axis, dash, hover):
    """A line of means over `x` and, apart and grey, the means of fewer than SMALL_GROUP readings."""
    big = [not _few(row[n]) for row in rows]
    line = go.Scatter(
        x=x, y=[row[mean] if ok else None for row, ok in zip(rows, big, strict=True)],
        customdata=[row[n] for row in rows], name=name, mode="lines+markers", marker_color=colour, line_color=colour,
        line_dash=dash, yaxis=axis, hovertemplate=hover,
    )  # fmt: skip
    few = go.Scatter(
        x=x, y=[None if ok else row[mean] for row, ok in zip(rows, big, strict=True)],
        customdata=[row[n] for row in rows], name=f"{name}, {SMALL_GROUP_NAME}", mode="markers", yaxis=axis,
        # Hollow and grey; a circle for haemoglobin, a diamond for weight (the two axes).
        marker={"color": "white", "line": {"color": SMALL_GROUP_COLOUR, "width": 2}, "size": 8,
                "symbol": "circle" if axis == "y" else "diamond"},
        hovertemplate=hover,
    )  # fmt: skip
    return [line, few] if not all(big) else [line]


@_drawn_once
def visit_trends_chart(by_visit, scope=""):
    rows = [row for row in by_visit if row["n_visits"]]
    if not rows:
        return None
    visits = [row["visit_number"] for row in rows]
    traces = _means(visits, rows, "mean_haemoglobin_g_dl", "n_haemoglobin", "haemoglobin (g/dL)", PALETTE[3], "y",
                    "solid", "visit %{x}: %{y:.2f} g/dL<br>n = %{customdata}<extra></extra>")  # fmt: skip
    traces += _means(visits, rows, "mean_weight_kg", "n_weight", "weight (kg)", PALETTE[0], "y2", "dot",
                     "visit %{x}: %{y:.1f} kg<br>n = %{customdata}<extra></extra>")  # fmt: skip
    return _figure(traces, f"Mean haemoglobin and weight by visit number{_for(scope)}",
                   "Visit number", "Haemoglobin (g/dL)", yaxis2=WEIGHT_AXIS)  # fmt: skip


@_drawn_once
def monthly_trends_chart(by_month, scope=""):
    rows = [row for row in by_month if row["n_visits"]]
    if not rows:
        return None
    months = [row["month"] for row in rows]
    traces = _means(months, rows, "mean_haemoglobin_g_dl", "n_haemoglobin", "haemoglobin (g/dL)", PALETTE[3], "y",
                    "solid", "%{x|%b %Y}: %{y:.2f} g/dL<br>n = %{customdata}<extra></extra>")  # fmt: skip
    traces += _means(months, rows, "mean_weight_kg", "n_weight", "weight (kg)", PALETTE[0], "y2", "dot",
                     "%{x|%b %Y}: %{y:.1f} kg<br>n = %{customdata}<extra></extra>")  # fmt: skip
    return _figure(traces, f"Mean haemoglobin and weight at follow-up by month{_for(scope)}",
                   "Month of visit", "Haemoglobin (g/dL)", xaxis=MONTH_AXIS, yaxis2=WEIGHT_AXIS)  # fmt: skip


@_drawn_once
def delivery_outcomes_chart(rows, scope=""):
    rows = [row for row in rows if row["n_deliveries"]]
    if not rows:
        return None
    measures = [
        ("anaemia_at_delivery_rate", "n_anaemic_at_delivery", "n_haemoglobin_at_delivery", "at delivery", PALETTE[3]),
        ("anaemia_next_visit_rate", "n_anaemic_next_visit", "n_haemoglobin_next_visit", "at the next visit",
         PALETTE[1]),
    ]  # fmt: skip
    bars = [
        go.Bar(
            x=[row["label"] for row in rows],
            y=[None if row[rate] is None else 100 * row[rate] for row in rows],  # no rate of nobody
            customdata=[[row[numerator], row[denominator]] for row in rows],
            text=[f"n = {row[denominator]}" for row in rows],
            textposition="outside",
            cliponaxis=False,
            name=f"anaemic {when}",
            marker_color=_colours(colour, [row[denominator] for row in rows]),
            hovertemplate=f"%{{x}}, anaemic {when}: %{{y:.1f}}%<br>"
            "%{customdata[0]} of %{customdata[1]}<extra></extra>",
        )  # fmt: skip
        for rate, numerator, denominator, when, colour in measures
    ]
    small = any(_few(row[denominator]) for row in rows for _, _, denominator, _, _ in measures)
    return _figure(bars + ([_small_group_key()] if small else []), f"Anaemia by delivery type{_for(scope)}",
                   "Delivery type", "Anaemic (% of those with a reading)", barmode="group",
                   xaxis=CATEGORY_AXIS)  # fmt: skip


@_drawn_once
def followup_effect_chart(rows, grouping_title, scope=""):
    rows = [row for row in rows if row["n_patients"]]
    if not rows:
        return None
    bar = go.Bar(
        x=[row["label"] for row in rows],
        y=[None if row["resolved_share"] is None else 100 * row["resolved_share"] for row in rows],  # no rate of nobody
        customdata=[[row["n_resolved"], row["n_anaemic_at_first"], row["n_patients"]] for row in rows],
        text=[f"n = {row['n_anaemic_at_first']}" for row in rows], textposition="outside", cliponaxis=False,
        marker_color=_colours(PALETTE[2], [row["n_anaemic_at_first"] for row in rows]), name="anaemia resolved",
        hovertemplate="%{x}: %{y:.1f}% resolved<br>%{customdata[0]} of %{customdata[1]} anaemic at first"
        "<br>%{customdata[2]} patients in the group<extra></extra>",
    )  # fmt: skip
    small = any(_few(row["n_anaemic_at_first"]) for row in rows)
    return _figure([bar] + ([_small_group_key()] if small else []),
                   f"Anaemia resolved by the latest reading, by {grouping_title}{_for(scope)}",
                   grouping_title.capitalize(), "Resolved (% of those anaemic at first)", xaxis=CATEGORY_AXIS,
                   yaxis={"range": [0, 110]}, showlegend=True)  # fmt: skip
