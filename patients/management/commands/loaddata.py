"""Django's loaddata, announcing what it wrote (patients.writes): the insights' facts of the patients in
a fixture are worked out as for any other write. A fixture names rows, not patients: everyone's are
rebuilt, in the same transaction (seconds at a million follow-ups; a fixture is small)."""

from django.core.management.commands import loaddata
from django.db import transaction

from patients.writes import records_written


class Command(loaddata.Command):
    def loaddata(self, fixture_labels):
        with transaction.atomic(using=self.using):
            super().loaddata(fixture_labels)
            if self.loaded_object_count:
                records_written(None)
