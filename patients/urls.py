from django.urls import path

from patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<str:patient_id>/", views.patient_detail, name="detail"),
    path("<str:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<str:patient_id>/void/", views.patient_void, name="void"),
    path("<str:patient_id>/deliveries/new/", views.delivery_create, name="delivery_create"),
    path("<str:patient_id>/deliveries/<int:pk>/edit/", views.delivery_edit, name="delivery_edit"),
    path("<str:patient_id>/deliveries/<int:pk>/void/", views.delivery_void, name="delivery_void"),
    path("<str:patient_id>/followups/new/", views.followup_create, name="followup_create"),
    path("<str:patient_id>/followups/<int:pk>/edit/", views.followup_edit, name="followup_edit"),
    path("<str:patient_id>/followups/<int:pk>/void/", views.followup_void, name="followup_void"),
]
