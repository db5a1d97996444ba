from django.apps import AppConfig


class HospitalConfig(AppConfig):
    """The project's own app: settings-level pieces (middleware, backends) that need start-up hooks."""

    name = "hospital"
    verbose_name = "Hospital"

    def ready(self):
        # Connects the login signal that starts a session's idle clock, before any request.
        from hospital import middleware  # noqa: F401
