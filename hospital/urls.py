from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Maternal health records: administration"
admin.site.site_title = "Maternal health records"
admin.site.index_title = "Records, imports and users"

urlpatterns = [
    path("", include("insights.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("patients/", include("patients.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("hospital.api_urls")),
    path("fhir/", include("patients.fhir.urls")),
]

# Errors answer JSON under /api/ and the site's pages elsewhere.
handler400 = "hospital.api.bad_request"
handler403 = "hospital.api.permission_denied"
handler404 = "hospital.api.not_found"
handler500 = "hospital.api.server_error"
