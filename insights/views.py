"""The dashboard's pages: each renders what the insights' query functions return."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from hospital import replica
from insights import charts, queries
from insights.cache import Results
from insights.export import HIGH_RISK_HEADER, download, high_risk_cells
from insights.forms import HighRiskFilterForm, InsightFilterForm
from patients import audit, clinical, figures, labels
from patients.views import staff_permission

# The dashboard's pages, in the order of its navigation (templates/insights/nav.html).
INSIGHT_PAGES = [
    ("insights:overview", "Overview"),
    ("insights:districts", "Districts"),
    ("insights:high_risk", "High-risk patients"),
    ("insights:trends", "Weight and haemoglobin"),
    ("insights:deliveries", "Delivery type"),
    ("insights:followups", "Follow-ups"),
    ("insights:anomalies", "Values to review"),
]


@require_GET
@staff_permission("patients.view_patient")
def overview(request):
    form = InsightFilterForm(request.GET or None)
    context = {"form": form, "scope": "", "insight_pages": INSIGHT_PAGES}
    if form.is_bound and not form.is_valid():
        return render(request, "insights/overview.html", context)
    filters, scope, results = form.filters(), form.scope(), _results(request)
    districts, n_high_risk, weights, visits, by_month = results(
        (queries.district_metrics, filters),
        (queries.count_high_risk_patients, filters),
        (queries.average_weight_by_district, filters),
        (queries.trends_by_visit_and_month, filters),  # as the trends page: one result for both
        (queries.deliveries_by_month, filters),
    )
    by_visit = visits["by_visit"]
    totals = {key: sum(row[key] for row in districts) for key in (
        "n_patients", "n_deliveries", "n_caesarean", "n_anaemic", "n_with_haemoglobin", "n_high_blood_pressure",
        "n_with_blood_pressure", "n_followups")}  # fmt: skip
    totals["n_high_risk"] = n_high_risk
    context.update(
        scope=scope,
        as_of=results.as_of,
        totals=totals,
        charts=[
            _chart("weight", charts.average_weight_chart(weights, scope), weights,
                   ["district", "average_weight", "n_patients", "average_latest_followup_weight"]),
            _chart("anaemia", charts.anaemia_chart(districts, scope), districts,
                   ["district", "anaemia_prevalence", "mild_share", "moderate_share", "severe_share"]),
            _chart("caesarean", charts.caesarean_chart(districts, scope), districts, ["district", "caesarean_rate"]),
            _chart("deliveries", charts.deliveries_by_month_chart(by_month, scope), by_month,
                   ["month", "delivery_type", "n_deliveries"]),
            _chart("visits", charts.visit_trends_chart(by_visit, scope), by_visit,
                   ["visit_number", "n_visits", "mean_haemoglobin_g_dl", "n_haemoglobin", "mean_weight_kg",
                    "n_weight"]),
        ],
    )  # fmt: skip
    return render(request, "insights/overview.html", context)


def _results(request):
    """The page's insight results: exact when the reader asks for the current figures (?current=1)
    or, with a replica, wrote lately (her next page shows her change); else at most
    INSIGHTS_MAX_AGE_SECONDS behind the records (insights.cache)."""
    return Results(exact=request.GET.get("current") == "1" or replica.wrote_lately(request))


def _chart(name, figure, rows, columns, numbers_in=""):
    """A chart for the page: its figure (None draws the empty state) and its numbers, as a table of
    `columns` of `rows` under it, or in the page's table titled `numbers_in`."""
    where = f'the table "{numbers_in}"' if numbers_in else ""
    return figures.for_page(
        name, figure, numbers_in=where, numbers_href=f"#{_anchor(numbers_in)}", **_rows(rows, columns)
    )


def heading(column):
    """A table column's heading in words with its unit (patients.labels.column): a row key, or a
    (row key, heading) pair for a heading of its own."""
    return column[1] if isinstance(column, tuple) else labels.column(column)


def _cell(row, column):
    """A row's value as a person reads it: a rate as "54.6% (120 of 220)", a code in words, a
    number rounded."""
    key = column[0] if isinstance(column, tuple) else column
    if key in labels.RATES:
        numerator, denominator = labels.RATES[key]
        return labels.percent(row[numerator], row[denominator])
    value = labels.cell_words(row, key)
    return f"{round(value, 2):g}" if isinstance(value, float) else value


def _rows(rows, columns, links=None):
    """`columns` (see heading()) of `rows` for a table: its header and its cells; `links` maps a
    column to a function of the row giving the URL its cell links to."""
    links = links or {}
    return {
        "header": [heading(column) for column in columns],
        "rows": [
            [{"text": _cell(row, c), "url": links[c](row)} if c in links else _cell(row, c) for c in columns]
            for row in rows
        ],
    }


def _anchor(title):
    """The id of the page's table titled `title`, for its section and the charts that link to it."""
    return f"table-{slugify(title)}"


def _table(title, rows, columns, links=None, note=""):
    """A table for the page, with a `note` under its title that says how to read it."""
    return {"title": title, "id": _anchor(title), "note": note, **_rows(rows, columns, links)}


def _analysis_page(request, title, build):
    """Filters, then `build(results, filters, scope)` -> (charts, tables, summary) for the analysis
    template, reading its insight results with `results` (insights.cache.Results)."""
    form = InsightFilterForm(request.GET or None)
    context = {"form": form, "title": title, "scope": "", "insight_pages": INSIGHT_PAGES}
    if not form.is_bound or form.is_valid():
        context["scope"], results = form.scope(), _results(request)
        context["charts"], context["tables"], context["summary"] = build(results, form.filters(), context["scope"])
        context["as_of"] = results.as_of
    return render(request, "insights/analysis.html", context)


# The districts page's tables: (title, columns, note). One wide table would not be read.
DISTRICT_TABLES = [
    ("Deliveries and anaemia", [
        "district", "n_patients", "n_deliveries", "caesarean_rate", "anaemia_prevalence", "n_mild", "n_moderate",
        "n_severe", "mean_haemoglobin_g_dl",
    ], "Anaemia by her current haemoglobin (her latest reading, at delivery or follow-up), over the patients "
       "with a reading; WHO's severity bands."),
    ("Blood pressure", ["district", "n_with_blood_pressure", "hypertension_prevalence", "severe_blood_pressure_share"],
     "Hypertension by her latest blood pressure reading, over the patients with a reading."),
    ("Risk factors", ["district", "n_patients", *(f"{factor.code}_share" for factor in clinical.RISK_FACTORS)],
     "Patients with each risk factor, as a share of the district's patients. Risk factors are worth knowing "
     "but do not make a patient high-risk by themselves."),
    ("Weight and follow-ups", ["district", "mean_weight_kg", "n_with_weight", "n_followups", "followups_per_patient"],
     "Mean of the patients' recorded weight; follow-ups per patient over all the district's patients."),
]  # fmt: skip


@require_GET
@staff_permission("patients.view_patient")
def districts(request):
    def build(results, filters, scope):
        (rows,) = results((queries.district_metrics, filters))
        charts_ = [
            _chart("anaemia", charts.anaemia_chart(rows, scope), [], [], "Deliveries and anaemia"),
            _chart("caesarean", charts.caesarean_chart(rows, scope), [], [], "Deliveries and anaemia"),
            _chart("blood-pressure", charts.blood_pressure_chart(rows, scope), [], [], "Blood pressure"),
        ]
        tables = [_table(title, rows, columns, note=note) for title, columns, note in DISTRICT_TABLES]
        return charts_, tables, ""

    return _analysis_page(request, "Districts", build)


TREND_COLUMNS = ["n_visits", "n_weight", "mean_weight_kg", "n_haemoglobin", "mean_haemoglobin_g_dl"]


@require_GET
@staff_permission("patients.view_patient")
def trends(request):
    def build(results, filters, scope):
        visits, change = results((queries.trends_by_visit_and_month, filters), (queries.trends_change, filters))
        by_visit, by_month = visits["by_visit"], visits["by_month"]
        charts_ = [
            _chart("visits", charts.visit_trends_chart(by_visit, scope), [], [], "By visit number"),
            _chart("months", charts.monthly_trends_chart(by_month, scope), [], [], "By month of visit"),
        ]
        tables = [
            _table("Change from each patient's first visit to her latest", [change],
                   [("n_weight", "Patients with two or more weights (n)"), "mean_weight_change_kg",
                    ("n_haemoglobin", "Patients with two or more haemoglobin readings (n)"),
                    "mean_haemoglobin_change_g_dl"]),
            _table("By visit number", by_visit, ["visit_number", *TREND_COLUMNS]),
            _table("By month of visit", by_month, ["month", *TREND_COLUMNS]),
        ]  # fmt: skip
        return charts_, tables, ""

    return _analysis_page(request, "Weight and haemoglobin over follow-ups", build)


OUTCOME_COLUMNS = [
    "delivery_type", "n_deliveries", "anaemia_at_delivery_rate", "mean_haemoglobin_at_delivery",
    "anaemia_next_visit_rate", "mean_haemoglobin_next_visit", "preterm_share",
]  # fmt: skip


def chi_square_in_words(result):
    """The chi-square test of delivery type against anaemia at delivery, for a clinician."""
    if result is None:
        return "Too few deliveries with a haemoglobin reading to compare delivery types."
    verdict = (
        "differs between delivery types more than chance would explain"
        if result["p_value"] < 0.05
        else "shows no clear difference between delivery types"
    )
    words = (
        f"Anaemia at delivery {verdict} (chi-square {result['statistic']:.2f}, "
        f"{result['degrees_of_freedom']} degrees of freedom, p = {result['p_value']:.3g}). "
        "An association, not a cause."
    )
    if result["min_expected_count"] < 5:
        words += " Some groups are small (an expected count below 5): read the p-value with care."
    return words


@require_GET
@staff_permission("patients.view_patient")
def deliveries(request):
    def build(results, filters, scope):
        (outcomes,) = results((queries.delivery_outcomes, filters))
        rows = outcomes["by_delivery_type"]
        charts_ = [_chart("outcomes", charts.delivery_outcomes_chart(rows, scope), [], [], "By delivery type")]
        table = _table("By delivery type", rows, OUTCOME_COLUMNS, note=(
            "Anaemic: haemoglobin below the cut-off, over the deliveries with a reading at delivery, or at the "
            "first follow-up after it (the next visit)."))  # fmt: skip
        return charts_, [table], chi_square_in_words(outcomes["chi_square"])

    return _analysis_page(request, "Delivery type and anaemia", build)


EFFECT_COLUMNS = ["n_patients", "n_with_change", "mean_haemoglobin_change_g_dl", "resolved_share"]


@require_GET
@staff_permission("patients.view_patient")
def followups(request):
    def build(results, filters, scope):
        (effect,) = results((queries.followup_effect, filters))
        by_count, by_timing = effect["by_followup_count"], effect["by_first_followup_timing"]
        charts_ = [
            _chart(
                "count",
                charts.followup_effect_chart(by_count, "number of follow-ups", scope),
                [],
                [],
                "By number of follow-ups",
            ),
            _chart(
                "timing",
                charts.followup_effect_chart(by_timing, "days to the first follow-up", scope),
                [],
                [],
                "By days from her latest delivery to the first follow-up after it",
            ),
        ]
        tables = [
            _table("By number of follow-ups", by_count, [("label", "Follow-ups"), *EFFECT_COLUMNS]),
            _table("By days from her latest delivery to the first follow-up after it", by_timing,
                   [("label", "Days to the first follow-up"), *EFFECT_COLUMNS]),
        ]  # fmt: skip
        return charts_, tables, ""

    return _analysis_page(request, "Follow-up frequency and timing", build)


ANOMALIES_PER_PAGE = 50
# Page numbers above this are read as the first page, then shown as Django's paginator says (the
# last): the offset of any page read stays a small number for the database.
LAST_PAGE_GUESSED = 100_000


def _page_guess(asked):
    """The page asked for (`?page=`), as a number to read that page before the count is known: 1
    when it is not a whole number from 1 to LAST_PAGE_GUESSED."""
    try:
        number = int(asked)
    except ValueError:
        return 1
    return number if 1 <= number <= LAST_PAGE_GUESSED else 1


ANOMALY_COLUMNS = ["patient_id", "record", "date", "visit_number", "field", "value", "rule", "score", "reference"]


@require_GET
@staff_permission("patients.view_patient")
def anomalies(request):
    def build(results, filters, scope):
        # The database orders the values and hands over one page, with how many there are in all.
        # Each page is cached on its own (served behind the records, two pages may come from
        # different versions of them). The page asked for is read first; Django's paginator then
        # decides which page is shown, and one past the last (rare: a list that shrank, an edited
        # address) is read again as the last.
        def listed(number):
            return queries.anomalies_page, {**filters, "offset": (number - 1) * ANOMALIES_PER_PAGE,
                                            "limit": ANOMALIES_PER_PAGE}  # fmt: skip

        asked = request.GET.get("page", "")
        guess = _page_guess(asked)
        (found,) = results(listed(guess))
        page = Paginator(range(found["count"]), ANOMALIES_PER_PAGE).get_page(asked)
        if page.number != guess:
            (found,) = results(listed(page.number))
        table = _table(
            f"{found['count']} values to review, largest first", found["rows"], ANOMALY_COLUMNS,
            links={"patient_id": lambda row: reverse("patients:detail", args=[row["patient_id"]])},
        )  # fmt: skip
        table["page"] = page
        return [], [table], (
            f"Values inside their plausible range that deserve a second look: more than {clinical.OUTLIER_SD:g} "
            f"standard deviations from their district's mean (score: the z-score), or a change since the previous "
            f"visit of more than {clinical.WEIGHT_JUMP_KG:g} kg or {clinical.HAEMOGLOBIN_JUMP_G_DL:g} g/dL (score: "
            "the change). Flagged for review, never removed."
        )  # fmt: skip

    return _analysis_page(request, "Values to review", build)


HIGH_RISK_PER_PAGE = 50
HIGH_RISK_SORTS = {
    "priority": "Priority, latest reading first",
    "patient": "Patient ID",
    "district": "District",
    "haemoglobin": "Haemoglobin, lowest first",
}


@require_GET
@staff_permission("patients.view_patient")
def high_risk(request):
    form = HighRiskFilterForm(request.GET or None)
    context = {"form": form, "title": "High-risk patients", "scope": "", "insight_pages": INSIGHT_PAGES,
               "sorts": list(HIGH_RISK_SORTS.items()), "reasons": clinical.REASONS,
               "priorities": clinical.PRIORITIES}  # fmt: skip
    if form.is_bound and not form.is_valid():
        return render(request, "insights/high_risk.html", context, status=400)
    filters, sort = form.filters(), request.GET.get("sort", "priority")
    if sort not in HIGH_RISK_SORTS:
        sort = "priority"
    if request.GET.get("format") in ("csv", "xlsx"):
        # Written as the rows are read (insights.export): the count for the audit comes first.
        (count,) = Results(exact=True)((queries.count_high_risk_patients, filters))  # as the rows that follow
        audit.log_export(request, f"High-risk patients ({request.GET['format']}): {form.scope()}", count)
        rows = high_risk_cells(queries.stream_high_risk_patients(**filters, order=sort))
        return download(HIGH_RISK_HEADER, rows, "high-risk-patients", request.GET["format"])
    # The ordered list of who is high-risk is cached; each page reads only its own 50 patients, as
    # they are now (one no longer high-risk, or voided, since the list was computed is left out).
    results = _results(request)
    (pks,) = results((queries.high_risk_patient_pks, {**filters, "order": sort}))
    page = Paginator(pks, HIGH_RISK_PER_PAGE).get_page(request.GET.get("page"))
    patients = queries.high_risk_rows(page.object_list, **filters)
    context.update(scope=form.scope(), sort=sort, page=page, count=len(pks), patients=patients, as_of=results.as_of)
    return render(request, "insights/high_risk.html", context)
