"""manage.py backup_database and restore_database: a backup restores every record, on both databases."""

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.writes import records_written


def _snapshot():
    return (
        sorted(Patient.objects.values_list("patient_id", "name", "district__name", "weight_kg")),
        sorted(Delivery.objects.values_list("patient__patient_id", "date_of_delivery", "type_of_delivery")),
        sorted(FollowUp.objects.values_list("patient__patient_id", "visit_number", "haemoglobin_g_dl")),
    )


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_every_record_and_nothing_written_after_it(tmp_path):
    for n in range(5):
        patient = make_patient(
            patient_id=f"B{n}", district=make_district("Kaski" if n % 2 else "Doti"), weight_kg=50 + n
        )
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1 + n, 2))
        make_followup(patient, haemoglobin_g_dl=9.5 + n / 10)
    before = _snapshot()
    path = tmp_path / "hospital.backup"

    call_command("backup_database", str(path), verbosity=0)
    assert path.stat().st_size > 0
    with transaction.atomic():  # written after the backup, as the app writes
        everyone = list(Patient.objects.values_list("pk", flat=True))
        FollowUp.objects.all().delete()
        Patient.objects.filter(patient_id="B1").delete()
        records_written(everyone)
    make_patient(patient_id="AFTER")
    call_command("restore_database", str(path), yes=True, verbosity=0)

    assert _snapshot() == before
    assert not Patient.objects.filter(patient_id="AFTER").exists()


@pytest.mark.django_db
def test_restoring_a_missing_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="No backup at"):
        call_command("restore_database", str(tmp_path / "missing"), yes=True)
