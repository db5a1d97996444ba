"""The insights over REST: the prototype's two, with the same district and date filters as the pages."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hospital.api import QueryParameters, error_responses, streamed_json_array
from insights import queries
from insights.forms import not_accepted, split_codes
from patients import clinical
from patients.models import DeliveryType, District

InsightFilters = type(
    "InsightFilters",
    (QueryParameters,),
    {
        "district": serializers.CharField(required=False, max_length=100, help_text="A district's name."),
        # "from" and "to" are Python keywords, hence type(): the query parameters keep the prototype's names.
        "from": serializers.DateField(required=False, help_text="First day (YYYY-MM-DD), included."),
        "to": serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD), included."),
        "validate_district": lambda self, name: _district(name),
    },
)


def _district(name):
    """The District named `name` (any case and spacing), or NO_SUCH_DISTRICT: a filter that matches nothing."""
    return District.objects.named(name) or NO_SUCH_DISTRICT


NO_SUCH_DISTRICT = object()


class InsightView(APIView):
    """An insight: parse the filters, call its query function, return its rows."""

    permission_model = "patient"
    query = None

    def get(self, request):
        filters = InsightFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(type(self).query(**_insight_filters(filters.validated_data)))


def _insight_filters(data):
    """The query functions' filters from checked query parameters."""
    district = data.get("district")
    if district is NO_SUCH_DISTRICT:
        district = District(pk=0)  # an unknown district is a filter that matches nothing, not an error
    # An empty date range (from after to) matches nothing by itself.
    return {"district": district, "date_from": data.get("from"), "date_to": data.get("to")}


class AverageWeightRow(serializers.Serializer):
    district = serializers.CharField()
    average_weight = serializers.FloatField(allow_null=True, help_text="Mean recorded weight, kg, 2 decimals.")
    n_patients = serializers.IntegerField(help_text="Patients with a recorded weight.")
    average_latest_followup_weight = serializers.FloatField(allow_null=True)
    n_latest_followup_weight = serializers.IntegerField()


class HighRiskRow(serializers.Serializer):
    patient_id = serializers.CharField()
    name = serializers.CharField()
    condition = serializers.CharField()
    delivery_type = serializers.CharField(allow_null=True, help_text="Her latest delivery's type.")
    reasons = serializers.ListField(child=serializers.ChoiceField(clinical.REASON_CODES))
    haemoglobin_g_dl = serializers.FloatField(allow_null=True, help_text="Her current reading, g/dL.")
    severity = serializers.ChoiceField(clinical.Severity.ALL, allow_null=True)
    district = serializers.CharField()
    priority = serializers.ChoiceField(
        clinical.PRIORITY_LEVELS, help_text="Triage priority: 1 (urgent), 2 (soon) or 3 (routine)."
    )
    priority_label = serializers.CharField(help_text='In words, e.g. "Priority 1 (urgent)".')
    reason_labels = serializers.ListField(child=serializers.CharField(), help_text="The reasons in words, in order.")
    haemoglobin_date = serializers.DateField(allow_null=True, help_text="The date of her current haemoglobin.")
    bp_systolic = serializers.IntegerField(allow_null=True, help_text="Her latest blood pressure, mmHg.")
    bp_diastolic = serializers.IntegerField(allow_null=True)
    bp_date = serializers.DateField(allow_null=True)
    bp_band = serializers.ChoiceField(clinical.BloodPressureBand.ALL, allow_null=True)


class OneOrMore(serializers.ListField):
    """A query parameter taking one or more codes, repeated (?reason=a&reason=b) or comma-separated
    (?reason=a,b); each unknown code is a 400 naming the accepted ones."""

    def __init__(self, choices, what, **kwargs):
        self.accepted, self.what = [str(choice) for choice in choices], what
        listed = ", ".join(self.accepted)
        kwargs.setdefault("help_text", f"One or more of: {listed} (repeat the parameter or separate by commas).")
        super().__init__(child=serializers.ChoiceField(self.accepted), required=False, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) or not hasattr(data, "__iter__"):
            data = [data]
        values = split_codes(data)
        unknown = list(dict.fromkeys(value for value in values if value not in self.accepted))[:10]  # the first ten
        if unknown:
            raise serializers.ValidationError([not_accepted(value, self.what, self.accepted) for value in unknown])
        return list(dict.fromkeys(values))


class HighRiskFilters(InsightFilters):
    reason = OneOrMore(clinical.REASON_CODES, "reason")
    priority = OneOrMore(clinical.PRIORITY_LEVELS, "priority")


class AverageWeightByDistrictView(InsightView):
    query = staticmethod(queries.average_weight_by_district)

    @extend_schema(
        summary="Average patient weight per district (the prototype's insight)",
        parameters=[InsightFilters],
        responses={200: AverageWeightRow(many=True), **error_responses(400)},
    )
    def get(self, request):
        return super().get(request)


class HighRiskPatientsView(InsightView):
    @extend_schema(
        summary="High-risk patients, once each, with every reason and a triage priority, most urgent first",
        description=(
            "Ordered by triage priority, then her most recent reading (haemoglobin or blood pressure) first. "
            "Filter by reason and priority: a patient is listed when she has any of the given reasons."
        ),
        parameters=[HighRiskFilters],
        responses={200: HighRiskRow(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = HighRiskFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        rows = queries.stream_high_risk_patients(
            **_insight_filters(data),
            reasons=data.get("reason"),
            priorities=[int(level) for level in data["priority"]] if "priority" in data else None,
        )
        return streamed_json_array(rows)  # 80,000 rows at a million follow-ups: written as they are read


# --- The other five analyses ---------------------------------------------------------------------


def _counts(*names):
    return {name: serializers.IntegerField() for name in names}


def _means(*names):
    return {name: serializers.FloatField(allow_null=True) for name in names}


def _row(name, fields):
    return type(name, (serializers.Serializer,), fields)


DistrictMetricsRow = _row("DistrictMetricsRow", {
    "district": serializers.CharField(),
    **_counts("n_patients", "n_deliveries", "n_caesarean", "n_with_haemoglobin", "n_anaemic", "n_mild", "n_moderate",
              "n_severe", "n_with_weight", "n_followups"),
    **_counts("n_with_blood_pressure", "n_high_blood_pressure", "n_severe_blood_pressure",
              *(f"n_{code}" for code in clinical.RISK_FACTOR_CODES)),
    **_means("caesarean_rate", "anaemia_prevalence", "hypertension_prevalence", "mean_haemoglobin_g_dl",
             "mean_weight_kg", "followups_per_patient"),
})  # fmt: skip
_TREND_MEASURES = {
    **_counts("n_visits", "n_weight", "n_haemoglobin"),
    **_means("mean_weight_kg", "mean_haemoglobin_g_dl"),
}
TrendsResult = _row("TrendsResult", {
    "by_visit": _row("TrendByVisit", {"visit_number": serializers.IntegerField(), **_TREND_MEASURES})(many=True),
    "by_month": _row("TrendByMonth", {"month": serializers.CharField(help_text="YYYY-MM"), **_TREND_MEASURES})(
        many=True),
    "change": _row("TrendChange", {
        **_counts("n_weight", "n_haemoglobin"), **_means("mean_weight_change_kg", "mean_haemoglobin_change_g_dl"),
    })(help_text="Mean change from each patient's first to her latest visit (two or more readings)."),
})  # fmt: skip
DeliveryOutcomesResult = _row("DeliveryOutcomesResult", {
    "by_delivery_type": _row("DeliveryOutcomeRow", {
        "delivery_type": serializers.ChoiceField(DeliveryType.values),
        "label": serializers.CharField(),
        **_counts("n_deliveries", "n_haemoglobin_at_delivery", "n_anaemic_at_delivery", "n_haemoglobin_next_visit",
                  "n_anaemic_next_visit", "n_term_recorded", "n_preterm"),
        **_means("mean_haemoglobin_at_delivery", "mean_haemoglobin_next_visit", "anaemia_at_delivery_rate",
                 "anaemia_next_visit_rate", "preterm_share"),
    })(many=True),
    "chi_square": _row("ChiSquare", {
        "statistic": serializers.FloatField(), "degrees_of_freedom": serializers.IntegerField(),
        "p_value": serializers.FloatField(), "min_expected_count": serializers.FloatField(),
    })(allow_null=True, help_text="Delivery type against anaemia at delivery; null when nothing to compare."),
})  # fmt: skip
_EFFECT_ROW = _row(
    "FollowUpEffectRow",
    {
        "label": serializers.CharField(),
        **_counts("n_patients", "n_with_change", "n_anaemic_at_first", "n_resolved"),
        **_means("mean_haemoglobin_change_g_dl", "resolved_share"),
    },
)
FollowUpEffectResult = _row(
    "FollowUpEffectResult",
    {
        "by_followup_count": _EFFECT_ROW(many=True),
        "by_first_followup_timing": _EFFECT_ROW(many=True),
    },
)
AnomalyRow = _row(
    "AnomalyRow",
    {
        "patient_id": serializers.CharField(),
        "record": serializers.ChoiceField(["patient", "delivery", "follow-up"]),
        "date": serializers.DateField(allow_null=True),
        "visit_number": serializers.IntegerField(allow_null=True),
        "field": serializers.CharField(),
        "value": serializers.FloatField(),
        "rule": serializers.ChoiceField([clinical.DISTRICT_SD, clinical.VISIT_JUMP]),
        "score": serializers.FloatField(
            help_text="The z-score in its district, or the change since the previous visit."
        ),
        "reference": serializers.FloatField(help_text="The district's mean, or the previous visit's value."),
    },
)


def insight_view(query, summary, response):
    """An InsightView for `query`, documented with its summary and response shape."""

    class View(InsightView):
        @extend_schema(summary=summary, parameters=[InsightFilters], responses={200: response, **error_responses(400)})
        def get(self, request):
            return super().get(request)

    View.query = staticmethod(query)
    View.__name__ = View.__qualname__ = f"{query.__name__.title().replace('_', '')}View"
    return View


DistrictMetricsView = insight_view(
    queries.district_metrics,
    "District metrics: Caesarean rate, anaemia prevalence, means, follow-ups",
    DistrictMetricsRow(many=True),
)
TrendsView = insight_view(
    queries.trends, "Weight and haemoglobin across follow-ups: by visit, by month, first to latest", TrendsResult
)
DeliveryOutcomesView = insight_view(
    queries.delivery_outcomes,
    "Delivery type against anaemia (at delivery, at the next visit) and preterm births",
    DeliveryOutcomesResult,
)
FollowUpEffectView = insight_view(
    queries.followup_effect,
    "Follow-up frequency and timing against haemoglobin change and anaemia resolved",
    FollowUpEffectResult,
)
AnomaliesView = insight_view(
    queries.anomalies, "Values to review: 3 SD from the district mean, or jumps between visits", AnomalyRow(many=True)
)
