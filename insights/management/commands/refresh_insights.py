import time

from django.core.cache import cache as django_cache
from django.core.management.base import BaseCommand
from django.db import transaction

from insights import cache, facts
from patients.models import Patient


class Command(BaseCommand):
    help = (
        "Rebuild the stored facts the insights read (insights.models) from every record. Needed only after "
        "writing the record tables by other means than the app (raw SQL, a partial restore), and after changing "
        "ANAEMIA_HB_CUTOFF_G_DL (the districts' anaemia counts are made with it; cached results are dropped too)."
    )

    def handle(self, *args, verbosity, **options):
        started = time.perf_counter()
        with transaction.atomic():
            facts.refresh()
            cache.new_version()
        django_cache.clear()  # results cached before the rebuild are not served again, even behind the records
        if verbosity:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Facts of {Patient.objects.count()} patients rebuilt in {time.perf_counter() - started:.1f} s."
                )
            )
