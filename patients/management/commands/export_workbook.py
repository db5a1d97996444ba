from django.core.management.base import BaseCommand, CommandError

from patients import audit
from patients.models import District, Patient
from patients.workbook import write_workbook


class Command(BaseCommand):
    help = "Write patients, deliveries and follow-ups to an .xlsx workbook in the import format."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Where to write the workbook (.xlsx).")
        parser.add_argument("--district", help="Only this district's patients.")

    def handle(self, *args, path, district, **options):
        patients = Patient.objects.all()
        if district:
            try:
                patients = patients.in_district(District.objects.get_by_natural_key(district))
            except District.DoesNotExist:
                raise CommandError(f"No district called {district!r}.") from None
        rows = write_workbook(path, patients)
        audit.log_export(None, f"manage.py export_workbook {path}{f' --district {district}' if district else ''}", rows)
        self.stdout.write(self.style.SUCCESS(f"Wrote {patients.count()} patients to {path}."))
