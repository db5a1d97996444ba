import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from patients import demo
from patients.models import Delivery, FollowUp, Patient
from patients.writes import records_written


class Command(BaseCommand):
    help = (
        "Generate realistic synthetic patients with their deliveries and follow-ups (deterministic for a given --seed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=500, help="How many patients (default 500).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed gives the same records.")
        parser.add_argument("--flush", action="store_true", help="Delete every patient record first.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when patients already exist.")
        parser.add_argument("--batch-size", type=int, default=2000, help="Patients written per batch.")

    def handle(self, *args, patients, seed, flush, if_empty, batch_size, verbosity, **options):
        if patients < 1:
            raise CommandError("--patients must be at least 1.")
        existing = Patient.objects.count()
        if existing and if_empty:
            self.stdout.write(f"The database already holds {existing} patients; no demo data added.")
            return
        if existing and not flush:
            raise CommandError(f"The database already holds {existing} patients; use --flush to replace them.")

        started = time.perf_counter()
        with transaction.atomic():
            if flush:
                demo.delete_all_records()
            generator = demo.CohortGenerator(seed, demo.ensure_districts())
            with tqdm(total=patients, unit=" patients", disable=verbosity < 1, file=self.stderr) as progress:
                for start in range(0, patients, batch_size):
                    batch = demo.Batch()
                    for number in range(start + 1, min(patients, start + batch_size) + 1):
                        generator.patient(f"P{number:06d}", batch)
                    demo.write_batch(batch)
                    progress.update(len(batch.patients))
            records_written(None)  # everyone is new
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {Patient.objects.count()} patients, {Delivery.objects.count()} deliveries and "
                f"{FollowUp.objects.count()} follow-ups in {elapsed:.1f} s (seed {seed})."
            )
        )
