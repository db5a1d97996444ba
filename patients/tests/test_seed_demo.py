import collections

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from patients import clinical
from patients.models import Delivery, District, FollowUp, Patient


def fingerprint():
    """Every generated value, independent of primary keys."""
    return (
        list(
            Patient.objects.order_by("patient_id").values_list(
                "patient_id", "name", "height_cm", "weight_kg", "age_at_first_pregnancy", "district__name", "condition"
            )
        ),
        list(
            Delivery.objects.order_by("patient__patient_id", "date_of_delivery").values_list(
                "patient__patient_id", "date_of_delivery", "type_of_delivery", "haemoglobin_at_delivery"
            )
        ),
        list(
            FollowUp.objects.order_by("patient__patient_id", "visit_number").values_list(
                "patient__patient_id", "visit_number", "visit_date", "haemoglobin_g_dl", "diagnosis"
            )
        ),
    )


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_records_and_another_seed_does_not():
    call_command("seed_demo", patients=150, seed=7, verbosity=0)
    first = fingerprint()
    call_command("seed_demo", patients=150, seed=7, flush=True, verbosity=0)
    assert fingerprint() == first
    call_command("seed_demo", patients=150, seed=8, flush=True, verbosity=0)
    assert fingerprint() != first


@pytest.mark.django_db
def test_refuses_to_mix_with_existing_records_unless_asked():
    call_command("seed_demo", patients=5, verbosity=0)
    with pytest.raises(CommandError, match="already holds 5 patients"):
        call_command("seed_demo", patients=5, verbosity=0)
    call_command("seed_demo", patients=9, if_empty=True, verbosity=0)
    assert Patient.objects.count() == 5


@pytest.mark.django_db
def test_records_are_plausible_and_anaemia_is_as_common_as_in_south_asian_cohorts():
    call_command("seed_demo", patients=2000, seed=3, verbosity=0)
    patients = Patient.objects.count()
    assert patients == 2000
    assert District.objects.count() >= 15

    per_patient = collections.Counter(Patient.objects.annotate(n=Count("deliveries")).values_list("n", flat=True))
    assert set(per_patient) <= {1, 2, 3} and per_patient[1] > per_patient[3] > 0
    followups = collections.Counter(Patient.objects.annotate(n=Count("followups")).values_list("n", flat=True))
    assert set(followups) <= set(range(11)) and followups[0] > 0 and followups[10] > 0

    caesarean_share = (
        Delivery.objects.filter(type_of_delivery=Delivery.Type.C_SECTION).count() / Delivery.objects.count()
    )
    assert 0.2 < caesarean_share < 0.4

    # Every row passes model validation, not only the database's constraints.
    for model in (Patient, Delivery, FollowUp):
        for record in model.objects.order_by("?")[:200]:
            record.full_clean()

    readings = collections.defaultdict(list)
    for patient, day, hb in Delivery.objects.values_list("patient", "date_of_delivery", "haemoglobin_at_delivery"):
        readings[patient].append((day, clinical.DELIVERY, hb))
    for patient, day, hb in FollowUp.objects.values_list("patient", "visit_date", "haemoglobin_g_dl"):
        readings[patient].append((day, clinical.FOLLOW_UP, hb))
    current = [clinical.latest_reading(r) for r in readings.values()]
    anaemic_share = sum(clinical.is_anaemic(r.value) for r in current) / len(current)
    assert 0.40 <= anaemic_share <= 0.50

    written = FollowUp.objects.exclude(diagnosis="").values_list("diagnosis", flat=True)
    assert {"anaemia", "anemia", "low hb"} <= {
        keyword for text in written for keyword in ("anaemia", "anemia", "low hb") if keyword in text.lower()
    }

    # Women whose notes name a hypertensive disorder mostly read high; the others rarely do.
    def high_share(patients):
        risks = [patient.risk() for patient in patients.prefetch_related("deliveries", "followups")]
        with_bp = [risk for risk in risks if risk.blood_pressure]
        return sum(clinical.HIGH_BLOOD_PRESSURE in risk.reasons for risk in with_bp) / len(with_bp)

    hypertensive = Patient.objects.filter(condition__in=["Pre-eclampsia", "Chronic hypertension"])
    assert high_share(hypertensive) > 0.5
    assert high_share(Patient.objects.filter(condition="")[:400]) < 0.15


@pytest.mark.django_db
def test_flush_removes_records_and_their_history(data_manager):
    call_command("seed_demo", patients=3, verbosity=0)
    Patient.objects.first().save()  # one history row
    call_command("seed_demo", patients=2, flush=True, verbosity=0)
    assert Patient.objects.count() == 2
    assert Patient.history.count() == 0
