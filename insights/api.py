"""The insights over REST: the prototype's two, with the same district and date filters as the pages."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hospital.api import QueryParameters, error_responses
from insights import queries
from patients import clinical
from patients.models import District

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
    return District.objects.filter(name__iexact=" ".join(name.split())).first() or NO_SUCH_DISTRICT


NO_SUCH_DISTRICT = object()


class InsightView(APIView):
    """An insight: parse the filters, call its query function, return its rows."""

    permission_model = "patient"
    query = None

    def get(self, request):
        filters = InsightFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        if data.get("district") is NO_SUCH_DISTRICT or (
            data.get("from") and data.get("to") and data["from"] > data["to"]
        ):
            return Response([])  # a filter that matches nothing (an unknown district, an empty date range)
        rows = type(self).query(district=data.get("district"), date_from=data.get("from"), date_to=data.get("to"))
        return Response(rows)


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
    reasons = serializers.ListField(
        child=serializers.ChoiceField([clinical.ANAEMIA_KEYWORD, clinical.LOW_HAEMOGLOBIN, clinical.C_SECTION])
    )
    haemoglobin_g_dl = serializers.FloatField(allow_null=True, help_text="Her current reading, g/dL.")
    severity = serializers.ChoiceField(["none", "mild", "moderate", "severe"], allow_null=True)
    district = serializers.CharField()


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
    query = staticmethod(queries.high_risk_patients)

    @extend_schema(
        summary="High-risk patients, once each, with every reason (the prototype's insight)",
        parameters=[InsightFilters],
        responses={200: HighRiskRow(many=True), **error_responses(400)},
    )
    def get(self, request):
        return super().get(request)
