"""Every API route, each with and without a trailing slash."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

from hospital.api import api_path
from insights import api as insights_api
from patients import api as patients_api

app_name = "api"

urlpatterns = [
    *api_path("patients", patients_api.PatientListView.as_view(), "patients"),
    *api_path("patients/<str:patient_id>", patients_api.PatientDetailView.as_view(), "patient"),
    *api_path("patients/<str:patient_id>/deliveries", patients_api.DeliveryListView.as_view(), "deliveries"),
    *api_path("patients/<str:patient_id>/followups", patients_api.FollowUpListView.as_view(), "followups"),
    *api_path("patients/<str:patient_id>/void", patients_api.PatientVoidView.as_view(), "patient_void"),
    *api_path("patients/<str:patient_id>/deliveries/<int:delivery_id>/void", patients_api.DeliveryVoidView.as_view(),
              "delivery_void"),
    *api_path("patients/<str:patient_id>/followups/<int:followup_id>/void", patients_api.FollowUpVoidView.as_view(),
              "followup_void"),
    *api_path("insights/average_weight_by_district", insights_api.AverageWeightByDistrictView.as_view(),
              "average_weight_by_district"),
    *api_path("insights/high_risk_patients", insights_api.HighRiskPatientsView.as_view(), "high_risk_patients"),
    *api_path("insights/district_metrics", insights_api.DistrictMetricsView.as_view(), "district_metrics"),
    *api_path("insights/trends", insights_api.TrendsView.as_view(), "trends"),
    *api_path("insights/delivery_outcomes", insights_api.DeliveryOutcomesView.as_view(), "delivery_outcomes"),
    *api_path("insights/followup_effect", insights_api.FollowUpEffectView.as_view(), "followup_effect"),
    *api_path("insights/anomalies", insights_api.AnomaliesView.as_view(), "anomalies"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="schema"),
    # The split view serves its start-up script as a file, so the Content-Security-Policy allows it.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[IsAuthenticated]),
         name="docs"),
]  # fmt: skip
