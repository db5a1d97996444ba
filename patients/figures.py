"""Plotly figures in the house style, as JSON data: the staff pages' patient timeline and the
insights' charts (insights.charts) are drawn by these.

A page writes each figure with `json_script` and static/js/charts.js draws it (no inline script,
so a strict Content-Security-Policy holds). The title is in the figure (for a downloaded image);
the page shows it as the chart's caption, where it wraps, and charts.js leaves it out of the plot.
Every chart labels its axes with units, carries the n behind each mark in its hover, and uses the
Okabe-Ito palette (safe for colour-blind readers).

Plotly draws text with its own subset of HTML (<a href>, <b>, <br>, <span style>, ...), so every
string in a figure is escaped for it in one place, `figure`: a district called '<a href="...">'
reads as typed instead of becoming a link. Only the hover templates, which we write, keep their
markup; the values they show (%{x}, %{customdata}) come from the escaped data. So text from the
records goes into a figure's data, titles and names, never into a hovertemplate.
"""

import functools
import html
import json

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

# Okabe & Ito (2008), "Color Universal Design".
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# A second y axis, on the right, for weight beside haemoglobin.
# Its own ticks ("auto"), not ticks synced to the haemoglobin grid's (41.7, 44.7, ...).
WEIGHT_AXIS = {
    "title": {"text": "Weight (kg)"}, "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto",
}  # fmt: skip
# Groups, districts and delivery types are names, never numbers: "2-3" and "8 or more" stay bars.
CATEGORY_AXIS = {"type": "category", "tickmode": "linear", "dtick": 1}
# Months as dates: ticks that Plotly spaces as the width allows, bars centred on their month.
MONTH_AXIS = {"type": "date", "tickformat": "%b %Y"}
# Figure keys whose text is ours and meant as Plotly's markup.
MARKUP_KEYS = {"hovertemplate"}


# Plotly checks every property of every figure when this is on: the test suite turns it on
# (conftest.py); pages do not pay for it (a patient's timeline, with its shapes and notes, cost
# 20 ms of checking, half of her page).
CHECK_FIGURES = False


def figure(traces, title, x_title, y_title, **layout):
    """Traces and words in the house style: a figure as plain JSON data for `json_script`. The
    layout's keyword arguments are plain JSON (no "xaxis_title" shorthands), laid on as given."""
    drawn = go.Figure(traces)
    drawn.update_layout(template="none", title_text=title, xaxis_title_text=x_title, yaxis_title_text=y_title)
    drawn = json.loads(drawn.to_json())
    given = json.loads(json.dumps(layout, cls=PlotlyJSONEncoder))
    drawn["layout"] = _merged(_merged(_house_layout(), drawn["layout"]), given)
    if CHECK_FIGURES:
        go.Figure(drawn)  # raises ValueError naming any property Plotly does not know, or a bad value
    return plotly_text(drawn)


@functools.cache
def _house_layout():
    """What every figure's layout holds, as Plotly's JSON: checked by Plotly once, not for every
    figure (8 ms a figure: a third of a patient's page)."""
    house = go.Layout(
        title={"x": 0, "xanchor": "left", "yref": "container", "y": 0.98, "yanchor": "top"},
        colorway=PALETTE, margin={"l": 70, "r": 70, "t": 110, "b": 60},
        # Long district names on the axis make room for themselves (the axis title below them); the
        # legend sits between the title and the plot.
        xaxis={"automargin": True, "title": {"standoff": 10}}, yaxis={"automargin": True},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, hovermode="closest",
    )  # fmt: skip
    return json.loads(house.to_json())


def _merged(base, over):
    """`over` laid on `base` as Plotly's update_layout lays one layout on another: objects merged
    key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = (
            _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return merged


def plotly_text(value, key=None):
    """Every string in a figure's JSON with & < > escaped (Plotly shows &amp; &lt; &gt; as & < >),
    but for the templates in MARKUP_KEYS."""
    if isinstance(value, str):
        return value if key in MARKUP_KEYS else html.escape(value, quote=False)
    if isinstance(value, list):
        return [plotly_text(item, key) for item in value]
    if isinstance(value, dict):
        return {name: plotly_text(item, name) for name, item in value.items()}
    return value


def title(drawn):
    """A figure's title as typed, for the page's caption (the template escapes it for HTML)."""
    return html.unescape(drawn["layout"]["title"]["text"])


def for_page(name, drawn, **more):
    """A figure for a page's chart include: its element ids, caption and figure (None: nothing to draw)."""
    return {"id": f"chart-{name}", "data_id": f"chart-{name}-data", "figure": drawn,
            "title": title(drawn) if drawn else "", **more}  # fmt: skip
