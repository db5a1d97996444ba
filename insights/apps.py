from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights"

    def ready(self):
        from insights.cache import data_changed
        from patients.models import Delivery, District, FollowUp, Patient
        from patients.signals import records_changed

        # Any write to the records starts a new data version for the cached insights.
        for model in (District, Patient, Delivery, FollowUp):
            post_save.connect(data_changed, sender=model, dispatch_uid=f"insights-{model.__name__}-saved")
            post_delete.connect(data_changed, sender=model, dispatch_uid=f"insights-{model.__name__}-deleted")
        records_changed.connect(data_changed, dispatch_uid="insights-records-changed")
