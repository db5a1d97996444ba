"""The dashboard's charts: pure functions from an insight's rows to a Plotly figure as JSON data.

The page writes each figure with `json_script` and static/js/charts.js draws it (no inline script,
so a strict Content-Security-Policy holds). Every chart says what it shows and for whom in its
title, labels its axes with units, carries the n behind each bar in its hover, and uses the
Okabe-Ito palette (safe for colour-blind readers). A function returns None when there is nothing
to draw, and the page says so instead of showing an empty frame.

Plotly draws text with its own subset of HTML (<a href>, <b>, <br>, <span style>, ...), so every
string in a figure is escaped for it in one place, `_figure`: a district called '<a href="...">'
reads as typed instead of becoming a link. Only the hover templates, which we write, keep their
markup; the values they show (%{x}, %{customdata}) come from the escaped data. So text from the
records goes into a figure's data, titles and names, never into a hovertemplate.
"""

import html
import json

import plotly.graph_objects as go

from patients import clinical, labels
from patients.models import DeliveryType

# Okabe & Ito (2008), "Color Universal Design".
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
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
# A second y axis, on the right, for weight beside haemoglobin.
WEIGHT_AXIS = {"title": {"text": "Weight (kg)"}, "overlaying": "y", "side": "right", "tickformat": ".1f"}


def _figure(traces, title, x_title, y_title, **layout):
    figure = go.Figure(traces)
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "yref": "container", "y": 0.98, "yanchor": "top"},
        template="none", colorway=PALETTE,
        xaxis_title=x_title, yaxis_title=y_title, margin={"l": 70, "r": 70, "t": 110, "b": 60},
        # Long district names on the axis make room for themselves (the axis title below them); the
        # legend sits between the title and the plot.
        xaxis_automargin=True, yaxis_automargin=True, xaxis_title_standoff=10,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, hovermode="closest", **layout,
    )  # fmt: skip
    return _plotly_text(json.loads(figure.to_json()))


# Figure keys whose text is ours and meant as Plotly's markup.
MARKUP_KEYS = {"hovertemplate"}


def _plotly_text(value, key=None):
    """Every string in a figure's JSON with & < > escaped (Plotly shows &amp; &lt; &gt; as & < >),
    but for the templates in MARKUP_KEYS."""
    if isinstance(value, str):
        return value if key in MARKUP_KEYS else html.escape(value, quote=False)
    if isinstance(value, list):
        return [_plotly_text(item, key) for item in value]
    if isinstance(value, dict):
        return {name: _plotly_text(item, name) for name, item in value.items()}
    return value


def _for(scope):
    return f" ({scope})" if scope else ""


def average_weight_chart(rows, scope=""):
    rows = [row for row in rows if row["average_weight"] is not None]
    if not rows:
        return None
    bar = go.Bar(
        x=[row["district"] for row in rows], y=[row["average_weight"] for row in rows],
        customdata=[row["n_patients"] for row in rows], marker_color=PALETTE[0], name="mean weight",
        hovertemplate="%{x}: %{y:.1f} kg<br>n = %{customdata} patients<extra></extra>",
    )  # fmt: skip
    return _figure([bar], f"Mean recorded weight by district{_for(scope)}", "District", "Weight (kg)")


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
                   "Anaemic by current Hb (% of patients)", barmode="stack")  # fmt: skip


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
    low, high = WHO_CAESAREAN_BAND
    band = {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": low, "y1": high,
            "fillcolor": "#009E73", "opacity": 0.15, "line": {"width": 0}, "layer": "below"}  # fmt: skip
    note = {"xref": "paper", "x": 1, "y": high, "yref": "y", "text": "WHO 10-15% reference", "showarrow": False,
            "xanchor": "right", "yanchor": "bottom", "font": {"size": 11}}  # fmt: skip
    return _figure([bar], f"Caesarean rate by district{_for(scope)}", "District", "Caesarean deliveries (%)",
                   shapes=[band], annotations=[note])  # fmt: skip


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
                   "Patients with a reading (%)", barmode="stack", yaxis={"rangemode": "tozero"})  # fmt: skip


def deliveries_by_month_chart(rows, scope=""):
    if not rows:
        return None
    months = sorted({row["month"] for row in rows})
    counts = {(row["month"], row["delivery_type"]): row["n_deliveries"] for row in rows}
    bars = [
        go.Bar(x=months, y=[counts.get((month, code), 0) for month in months], name=label,
               marker_color=DELIVERY_COLOURS[code], hovertemplate=f"%{{x}}, {label}: %{{y}} deliveries<extra></extra>")
        for code, label in DeliveryType.choices
    ]  # fmt: skip
    return _figure(bars, f"Deliveries per month by type{_for(scope)}", "Month of delivery", "Deliveries",
                   barmode="stack", xaxis={"type": "category"})  # fmt: skip


def visit_trends_chart(by_visit, scope=""):
    rows = [row for row in by_visit if row["n_visits"]]
    if not rows:
        return None
    visits = [row["visit_number"] for row in rows]
    haemoglobin = go.Scatter(
        x=visits, y=[row["mean_haemoglobin_g_dl"] for row in rows], customdata=[row["n_haemoglobin"] for row in rows],
        name="haemoglobin (g/dL)", mode="lines+markers", marker_color=PALETTE[3], line_color=PALETTE[3],
        hovertemplate="visit %{x}: %{y:.2f} g/dL<br>n = %{customdata}<extra></extra>",
    )  # fmt: skip
    weight = go.Scatter(
        x=visits, y=[row["mean_weight_kg"] for row in rows], customdata=[row["n_weight"] for row in rows],
        name="weight (kg)", mode="lines+markers", marker_color=PALETTE[0], line_color=PALETTE[0], yaxis="y2",
        line_dash="dot",
        hovertemplate="visit %{x}: %{y:.1f} kg<br>n = %{customdata}<extra></extra>",
    )  # fmt: skip
    return _figure([haemoglobin, weight], f"Mean haemoglobin and weight by visit number{_for(scope)}",
                   "Visit number", "Haemoglobin (g/dL)",
                   yaxis2=WEIGHT_AXIS,
                   xaxis={"dtick": 1})  # fmt: skip


def monthly_trends_chart(by_month, scope=""):
    rows = [row for row in by_month if row["n_visits"]]
    if not rows:
        return None
    months = [row["month"] for row in rows]
    haemoglobin = go.Scatter(
        x=months, y=[row["mean_haemoglobin_g_dl"] for row in rows], customdata=[row["n_haemoglobin"] for row in rows],
        name="haemoglobin (g/dL)", mode="lines+markers", line_color=PALETTE[3], marker_color=PALETTE[3],
        hovertemplate="%{x}: %{y:.2f} g/dL<br>n = %{customdata}<extra></extra>",
    )  # fmt: skip
    weight = go.Scatter(
        x=months, y=[row["mean_weight_kg"] for row in rows], customdata=[row["n_weight"] for row in rows],
        name="weight (kg)", mode="lines+markers", line_color=PALETTE[0], marker_color=PALETTE[0], line_dash="dot",
        yaxis="y2", hovertemplate="%{x}: %{y:.1f} kg<br>n = %{customdata}<extra></extra>",
    )  # fmt: skip
    return _figure([haemoglobin, weight], f"Mean haemoglobin and weight at follow-up by month{_for(scope)}",
                   "Month of visit", "Haemoglobin (g/dL)", xaxis={"type": "category"},
                   yaxis2=WEIGHT_AXIS)  # fmt: skip


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
            y=[100 * (row[rate] or 0) for row in rows],
            customdata=[[row[numerator], row[denominator]] for row in rows],
            name=f"anaemic {when}",
            marker_color=colour,
            hovertemplate=f"%{{x}}, anaemic {when}: %{{y:.1f}}%<br>"
            "%{customdata[0]} of %{customdata[1]}<extra></extra>",
        )  # fmt: skip
        for rate, numerator, denominator, when, colour in measures
    ]
    return _figure(bars, f"Anaemia by delivery type{_for(scope)}", "Delivery type",
                   "Anaemic (% of those with a reading)", barmode="group")  # fmt: skip


def followup_effect_chart(rows, grouping_title, scope=""):
    rows = [row for row in rows if row["n_patients"]]
    if not rows:
        return None
    bar = go.Bar(
        x=[row["label"] for row in rows], y=[100 * (row["resolved_share"] or 0) for row in rows],
        customdata=[[row["n_resolved"], row["n_anaemic_at_first"], row["n_patients"]] for row in rows],
        marker_color=PALETTE[2], name="anaemia resolved",
        hovertemplate="%{x}: %{y:.1f}% resolved<br>%{customdata[0]} of %{customdata[1]} anaemic at first"
        "<br>%{customdata[2]} patients in the group<extra></extra>",
    )  # fmt: skip
    return _figure([bar], f"Anaemia resolved by the latest reading, by {grouping_title}{_for(scope)}",
                   grouping_title.capitalize(), "Resolved (% of those anaemic at first)")  # fmt: skip


def patient_timeline_chart(rows, patient_id, cutoff):
    """One patient's haemoglobin and weight over time, the anaemia cut-off drawn, deliveries marked."""
    haemoglobin = [row for row in rows if row["haemoglobin_g_dl"] is not None]
    weight = [row for row in rows if row["weight_kg"] is not None]
    if not haemoglobin and not weight:
        return None

    def label(row):
        return "delivery" if row["record"] == "delivery" else f"visit {row['visit_number']}"

    traces = [
        go.Scatter(
            x=[row["date"].isoformat() for row in haemoglobin], y=[row["haemoglobin_g_dl"] for row in haemoglobin],
            text=[label(row) for row in haemoglobin], name="haemoglobin (g/dL)", mode="lines+markers",
            line_color=PALETTE[3], marker={"color": PALETTE[3], "size": 9, "symbol": [
                "diamond" if row["record"] == "delivery" else "circle" for row in haemoglobin]},
            hovertemplate="%{x}, %{text}: %{y:.1f} g/dL<extra></extra>",
        ),
        go.Scatter(
            x=[row["date"].isoformat() for row in weight], y=[row["weight_kg"] for row in weight],
            text=[label(row) for row in weight], name="weight (kg)", mode="lines+markers", yaxis="y2",
            line_color=PALETTE[0], line_dash="dot", marker_color=PALETTE[0],
            hovertemplate="%{x}, %{text}: %{y:.1f} kg<extra></extra>",
        ),
    ]  # fmt: skip
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": cutoff, "y1": cutoff,
               "line": {"color": PALETTE[3], "dash": "dash", "width": 1}}]  # fmt: skip
    shapes += [
        {"type": "line", "xref": "x", "x0": row["date"].isoformat(), "x1": row["date"].isoformat(), "yref": "paper",
         "y0": 0, "y1": 1, "line": {"color": PALETTE[4], "width": 1}}
        for row in rows if row["record"] == "delivery"
    ]  # fmt: skip
    notes = [{"xref": "paper", "x": 0, "y": cutoff, "yref": "y", "text": f"anaemia below {cutoff:g} g/dL",
              "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"size": 11}}]  # fmt: skip
    return _figure(traces, f"Haemoglobin and weight of {patient_id} (deliveries marked)", "Date",
                   "Haemoglobin (g/dL)", shapes=shapes, annotations=notes,
                   yaxis2=WEIGHT_AXIS)  # fmt: skip
