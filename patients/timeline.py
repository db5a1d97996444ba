"""One patient's haemoglobin and weight over time, for her record page: her readings, and the
chart that draws them with the anaemia cut-off and her deliveries marked."""

import datetime

import plotly.graph_objects as go

from patients.figures import PALETTE, WEIGHT_AXIS, figure
from patients.models import Delivery, FollowUp


def readings(patient, date_from=None, date_to=None):
    """Her deliveries and follow-ups in the range as rows of date, record, visit number, weight and
    haemoglobin, oldest first (on one day a delivery before a follow-up). Two queries."""
    deliveries = Delivery.objects.filter(patient=patient).between(date_from, date_to)
    followups = FollowUp.objects.filter(patient=patient).between(date_from, date_to)
    rows = [
        {"date": d["date_of_delivery"], "record": "delivery", "visit_number": None,
         "weight_kg": d["weight_at_delivery"], "haemoglobin_g_dl": d["haemoglobin_at_delivery"]}
        for d in deliveries.values("date_of_delivery", "weight_at_delivery", "haemoglobin_at_delivery")
    ] + [
        {"date": f["visit_date"], "record": "follow-up", "visit_number": f["visit_number"],
         "weight_kg": f["weight_kg"], "haemoglobin_g_dl": f["haemoglobin_g_dl"]}
        for f in followups.values("visit_date", "visit_number", "weight_kg", "haemoglobin_g_dl")
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row["date"], row["record"] == "follow-up", row["visit_number"] or 0))


def haemoglobin_range(values, cutoff):
    """The haemoglobin axis: her readings and the cut-off, with room around them (at least 2 g/dL
    shown, so a steady 11.2 does not look like a swing)."""
    low, high = min(*values, cutoff), max(*values, cutoff)
    pad = max(0.5, (high - low) * 0.15, (2 - (high - low)) / 2)
    return [round(low - pad, 1), round(high + pad, 1)]


def chart(rows, patient_id, cutoff):
    """Her haemoglobin and weight over time, the anaemia cut-off drawn, deliveries marked; None
    when she has no reading."""
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
    # The cut-off's label sits just above its line, inside the plot, on a white ground.
    notes = [{"xref": "paper", "x": 0.01, "y": cutoff, "yref": "y", "text": f"anaemia below {cutoff:g} g/dL",
              "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"size": 11},
              "bgcolor": "rgba(255,255,255,0.8)"}]  # fmt: skip
    values = [row["haemoglobin_g_dl"] for row in haemoglobin]
    layout = {"yaxis": {"range": haemoglobin_range(values, cutoff)} if values else {}}
    if weight:
        layout["yaxis2"] = WEIGHT_AXIS
    else:
        traces.pop()  # no weight recorded: no empty weight axis
    days = sorted({row["date"] for row in rows})
    if days[0] == days[-1]:  # one day: a month either side, not hours
        month = datetime.timedelta(days=30)
        layout["xaxis"] = {"range": [(days[0] - month).isoformat(), (days[0] + month).isoformat()]}
    return figure(traces, f"Haemoglobin and weight of {patient_id} (deliveries marked)", "Date",
                  "Haemoglobin (g/dL)", shapes=shapes, annotations=notes, **layout)  # fmt: skip
