from django.core.management.base import BaseCommand, CommandError

from hospital.backup import BackupError, restore


class Command(BaseCommand):
    help = "Replace the whole database with a backup written by backup_database. Stop the app first."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file to restore.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, path, yes, **options):
        if not yes and input(f"Replace every record in the database with {path}? Type 'yes': ").strip() != "yes":
            raise CommandError("Nothing restored.")
        try:
            restore(path)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Restored {path}."))
