from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights"

    def ready(self):
        from insights import facts
        from patients import writes

        # Every announced write to the records refreshes what is worked out from them, in its transaction.
        writes.written.connect(facts.records_written, dispatch_uid="insights-records-written")
