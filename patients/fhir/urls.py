"""The FHIR API's routes (patients.fhir.views), under /fhir/."""

from django.urls import path, register_converter

from patients.fhir import views


class ResourceType:
    """A FHIR resource type's name: Patient, Observation, ..."""

    regex = "[A-Z][A-Za-z]{0,63}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class ResourceId(ResourceType):
    """A FHIR id: letters, digits, '-' and '.', at most 64."""

    regex = r"[A-Za-z0-9\-.]{1,64}"


register_converter(ResourceType, "fhir_type")
register_converter(ResourceId, "fhir_id")

app_name = "fhir"

urlpatterns = [
    path("", views.NotFoundView.as_view(), {"path": ""}, name="base"),
    path("metadata", views.CapabilityStatementView.as_view(), name="metadata"),
    path("$export", views.ExportView.as_view(), name="export"),
    path("$export-status/<uuid:export_id>", views.ExportStatusView.as_view(), name="export_status"),
    path(
        "$export-file/<uuid:export_id>/<fhir_type:resource_type>.ndjson",
        views.ExportFileView.as_view(),
        name="export_file",
    ),  # fmt: skip
    path("Patient/<fhir_id:resource_id>/$everything", views.EverythingView.as_view(), name="everything"),
    path("<fhir_type:resource_type>", views.SearchView.as_view(), name="search"),
    path("<fhir_type:resource_type>/<fhir_id:resource_id>", views.ReadView.as_view(), name="read"),
    path("<path:path>", views.NotFoundView.as_view(), name="not_found"),
]
