import datetime

from django.core.management.base import BaseCommand, CommandError

from insights.report import write_report
from patients.models import District


def _date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date: use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Write every insight to an .xlsx workbook, one sheet per table."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Where to write the workbook (.xlsx).")
        parser.add_argument("--district", help="Only this district's patients.")
        parser.add_argument("--from", dest="date_from", help="First day (YYYY-MM-DD) of records counted.")
        parser.add_argument("--to", dest="date_to", help="Last day (YYYY-MM-DD) of records counted.")

    def handle(self, *args, out, district, date_from, date_to, **options):
        filters = []
        if district:
            try:
                district = District.objects.get_by_natural_key(district)
            except District.DoesNotExist:
                raise CommandError(f"No district called {district!r}.") from None
            filters.append(f"district {district.name}")
        date_from, date_to = (_date(text) if text else None for text in (date_from, date_to))
        if date_from and date_to and date_from > date_to:
            raise CommandError(f"--from {date_from} is after --to {date_to}.")
        if date_from or date_to:
            filters.append(f"records from {date_from or 'the start'} to {date_to or 'today'}")
        sheets = write_report(out, district or None, date_from, date_to, ", ".join(filters))
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(sheets)} tables to {out}."))
