from django.core.management.base import BaseCommand, CommandError

from hospital.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Back up the whole database to a file: SQLite through its online backup API (safe while the app runs), "
        "PostgreSQL with pg_dump's custom format."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file to write.")

    def handle(self, *args, path, **options):
        try:
            backup(path)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Backed up to {path}."))
