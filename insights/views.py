"""The dashboard's pages: each renders what the insights' query functions return."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from insights import charts, queries
from insights.cache import cached
from insights.forms import InsightFilterForm
from patients.views import staff_permission


def _rate(numerator, denominator):
    return numerator / denominator if denominator else None


@require_GET
@staff_permission("patients.view_patient")
def overview(request):
    form = InsightFilterForm(request.GET or None)
    context = {"form": form, "scope": ""}
    if form.is_bound and not form.is_valid():
        return render(request, "insights/overview.html", context)
    filters, scope = form.filters(), form.scope()
    districts, n_high_risk, weights, by_visit, by_month = cached(
        (queries.district_metrics, filters),
        (queries.count_high_risk_patients, filters),
        (queries.average_weight_by_district, filters),
        (queries.trends_by_visit, filters),
        (queries.deliveries_by_month, filters),
    )
    totals = {key: sum(row[key] for row in districts) for key in (
        "n_patients", "n_deliveries", "n_caesarean", "n_anaemic", "n_with_haemoglobin", "n_followups")}  # fmt: skip
    totals["caesarean_rate"] = _rate(totals["n_caesarean"], totals["n_deliveries"])
    totals["anaemia_prevalence"] = _rate(totals["n_anaemic"], totals["n_with_haemoglobin"])
    totals["n_high_risk"] = n_high_risk
    context.update(
        scope=scope,
        totals=totals,
        charts=[
            _chart("weight", charts.average_weight_chart(weights, scope), weights,
                   ["district", "average_weight", "n_patients", "average_latest_followup_weight"]),
            _chart("anaemia", charts.anaemia_chart(districts, scope), districts,
                   ["district", "n_with_haemoglobin", "n_anaemic", "n_mild", "n_moderate", "n_severe",
                    "anaemia_prevalence"]),
            _chart("caesarean", charts.caesarean_chart(districts, scope), districts,
                   ["district", "n_deliveries", "n_caesarean", "caesarean_rate"]),
            _chart("deliveries", charts.deliveries_by_month_chart(by_month, scope), by_month,
                   ["month", "delivery_type", "n_deliveries"]),
            _chart("visits", charts.visit_trends_chart(by_visit, scope), by_visit,
                   ["visit_number", "n_visits", "mean_haemoglobin_g_dl", "n_haemoglobin", "mean_weight_kg",
                    "n_weight"]),
        ],
    )  # fmt: skip
    return render(request, "insights/overview.html", context)


def _chart(name, figure, rows, columns):
    """A chart for the page: its figure (None draws the empty state) and its numbers as a table."""
    return {
        "id": f"chart-{name}",
        "data_id": f"chart-{name}-data",
        "figure": figure,
        "header": [column.replace("_", " ") for column in columns],
        "rows": [[_cell(row[column]) for column in columns] for row in rows],
    }


def _cell(value):
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return value
