from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_save


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights"

    def ready(self):
        from insights import facts
        from insights.cache import data_changed
        from patients.models import Delivery, District, FollowUp, Patient
        from patients.signals import records_changed

        # Any write to a patient or her records refreshes her stored facts, in the same transaction.
        post_save.connect(facts.patient_saved, sender=Patient, dispatch_uid="insights-facts-patient-saved")
        for model in (Delivery, FollowUp):
            name = model.__name__
            pre_save.connect(facts.record_saving, sender=model, dispatch_uid=f"insights-facts-{name}-saving")
            post_save.connect(facts.record_saved, sender=model, dispatch_uid=f"insights-facts-{name}-saved")
            post_delete.connect(facts.record_deleted, sender=model, dispatch_uid=f"insights-facts-{name}-deleted")
        records_changed.connect(facts.records_changed, dispatch_uid="insights-facts-records-changed")

        # Any write to the records starts a new data version for the cached insights.
        for model in (District, Patient, Delivery, FollowUp):
            post_save.connect(data_changed, sender=model, dispatch_uid=f"insights-{model.__name__}-saved")
            post_delete.connect(data_changed, sender=model, dispatch_uid=f"insights-{model.__name__}-deleted")
        records_changed.connect(data_changed, dispatch_uid="insights-records-changed")
