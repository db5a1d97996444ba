from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Maternal health records: administration"
admin.site.site_title = "Maternal health records"
admin.site.index_title = "Records, imports and users"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="patients:list"), name="home"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("patients/", include("patients.urls")),
    path("admin/", admin.site.urls),
]
