"""The dashboard's charts: pure functions from an insight's rows to a Plotly figure as JSON data.

The page writes each figure with `json_script` and static/js/charts.js draws it (no inline script,
so a strict Content-Security-Policy holds). Every chart says what it shows and for whom in its
title, labels its axes with units, carries the n behind each bar in its hover, and uses the
Okabe-Ito palette (safe for colour-blind readers). A function returns None when there is nothing
to draw, and the page says so instead of showing an empty frame.
"""

import json

import plotly.graph_objects as go

from patients.models import DeliveryType

# Okabe & Ito (2008), "Color Universal Design".
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEVERITY_COLOURS = {"mild": "#F0E442", "moderate": "#E69F00", "severe": "#D55E00"}
DELIVERY_COLOURS = {"normal": "#009E73", "assisted": "#56B4E9", "c_section": "#CC79A7"}
# WHO statement on caesarean section rates (2015): no population benefit above about 10-15%.
WHO_CAESAREAN_BAND = (10, 15)


def _figure(traces, title, x_title, y_title, **layout):
    figure = go.Figure(traces)
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"}, template="none", colorway=PALETTE,
        xaxis_title=x_title, yaxis_title=y_title, margin={"l": 70, "r": 70, "t": 60, "b": 110},
        legend={"orientation": "h", "y": -0.35, "yanchor": "top"}, hovermode="closest", **layout,
    )  # fmt: skip
    return json.loads(figure.to_json())


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
            name=band,
            marker_color=colour,
            hovertemplate=f"%{{x}}, {band}: %{{y:.1f}}%<br>"
            "%{customdata[0]} of %{customdata[1]} patients<extra></extra>",
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


def deliveries_by_month_chart(rows, scope=""):
    if not rows:
        return None
    months = sorted({row["month"] for row in rows})
    counts = {(row["month"], row["delivery_type"]): row["n_deliveries"] for row in rows}
    bars = [
        go.Bar(x=months, y=[counts.get((month, code), 0) for month in months], name=label,
               marker_color=DELIVERY_COLOURS[code], hovertemplate=f"%{{x}}: %{{y}} {label}<extra></extra>")
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
                   yaxis2={"title": {"text": "Weight (kg)"}, "overlaying": "y", "side": "right"},
                   xaxis={"dtick": 1})  # fmt: skip
