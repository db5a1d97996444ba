from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("insights/districts/", views.districts, name="districts"),
    path("insights/high-risk/", views.high_risk, name="high_risk"),
    path("insights/trends/", views.trends, name="trends"),
    path("insights/deliveries/", views.deliveries, name="deliveries"),
    path("insights/follow-ups/", views.followups, name="followups"),
    path("insights/review/", views.anomalies, name="anomalies"),
]
