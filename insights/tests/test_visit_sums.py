"""The trends' sums (VisitSums) that every write's refresh keeps (insights.facts, insights.visit_sums):
exact after every kind of write, and the trends read from them equal the oracle's over any date
range, whole months or not."""

import datetime
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights import queries, visit_sums
from insights.models import VisitSums
from insights.tests import oracle
from insights.tests.oracle import close
from insights.tests.test_facts import assert_current, assert_visit_sums_current
from insights.tests.test_facts import visit_sums as kept_sums
from insights.tests.test_oracle import FIRST_DAY, build, patient_spec
from patients.bulk import insert_values
from patients.models import District, FollowUp, Patient
from patients.tests.factories import make_district, make_followup, make_patient
from patients.voiding import restore, void
from patients.writes import records_written

pytestmark = pytest.mark.django_db
D = datetime.date


def test_every_kind_of_write_keeps_the_sums_exact(data_manager):
    """Each write as its writer does it: the write, then its announcement naming the patients."""
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    sita, gita = make_patient(patient_id="P1", district=kaski), make_patient(patient_id="P2", district=jhapa)
    first = make_followup(sita, visit_number=1, visit_date=D(2024, 1, 31), weight_kg=50.5, haemoglobin_g_dl=10.1)
    second = make_followup(sita, visit_number=2, visit_date=D(2024, 2, 1), weight_kg=None, haemoglobin_g_dl=9.4)
    assert_visit_sums_current()
    assert kept_sums()[kaski.pk, D(2024, 1, 1), 1] == pytest.approx(
        {"n": 1, "n_weight": 1, "weight": 50.5, "n_haemoglobin": 1, "haemoglobin": 10.1}
    )

    def updated(model, pk, patients, **values):
        model.all_objects.filter(pk=pk).update(**values)
        records_written(patients)

    steps = {
        "a new weight": lambda: updated(FollowUp, second.pk, [sita.pk], weight_kg=51.0),
        "a visit moved to another month": lambda: updated(FollowUp, first.pk, [sita.pk], visit_date=D(2024, 3, 2)),
        "a renumbered visit": lambda: updated(FollowUp, first.pk, [sita.pk], visit_number=3),
        "a visit moved to a patient of another district": lambda: updated(
            FollowUp, first.pk, [sita.pk, gita.pk], patient=gita
        ),
        "a patient moved to another district": lambda: updated(Patient, gita.pk, [gita.pk], district=kaski),
        "a patient voided with her records": lambda: void(sita, data_manager, "entered twice"),
        "a patient restored with her records": lambda: restore(Patient.all_objects.get(pk=sita.pk), data_manager),
        "a follow-up voided": lambda: void(FollowUp.objects.get(pk=first.pk), data_manager, "entered in error"),
        "many at once": lambda: (
            FollowUp.objects.bulk_create(
                [
                    FollowUp(
                        patient=patient,
                        visit_number=10 + n,
                        visit_date=D(2024, n, 10 + n),
                        weight_kg=60 + n / 10,
                        haemoglobin_g_dl=None if n % 3 else 11.2,
                    )
                    for patient in (sita, gita)
                    for n in range(1, 12)
                ]
            ),
            records_written([sita.pk, gita.pk]),
        ),
        "rows inserted by SQL": lambda: (
            insert_values(
                FollowUp,
                ["patient_id", "visit_number", "visit_date", "weight_kg", "diagnosis"],
                [[gita.pk, 7, D(2024, 7, 1), 70.2, ""]],
            ),
            records_written([gita.pk]),
        ),
        "every follow-up of a month edited at once, announced for anyone": lambda: (
            FollowUp.objects.filter(visit_date__month=5).update(haemoglobin_g_dl=12.5),
            records_written(None),
        ),
        "a follow-up deleted": lambda: (FollowUp.all_objects.filter(pk=second.pk).delete(), records_written([sita.pk])),
        "a patient deleted with her records": lambda: (
            Patient.all_objects.filter(pk=gita.pk).delete(),
            records_written([gita.pk]),
        ),
    }
    for step, write in steps.items():
        with transaction.atomic():
            write()
        assert_visit_sums_current(after=step)
    assert_current()
    connection.check_constraints()  # PostgreSQL checks its foreign keys at the commit


@pytest.mark.unannounced_writes  # deleting a district writes no patient's records
def test_a_district_deleted_once_its_patients_are_leaves_no_sums_behind():
    kaski = make_district("Kaski")
    patient = make_patient(district=kaski)
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), weight_kg=55.0)
    with transaction.atomic():
        Patient.all_objects.filter(pk=patient.pk).delete()
        records_written([patient.pk])
    assert VisitSums.objects.get().n == 0  # a row of zeros, until the district goes
    District.objects.filter(pk=kaski.pk).delete()
    assert not VisitSums.objects.exists()
    connection.check_constraints()


def test_an_edit_of_nothing_summed_writes_no_row():
    """A diagnosis or a blood pressure is not summed: no row of the sums is written (or locked)."""
    followup = make_followup(make_patient(), visit_number=1, visit_date=D(2024, 3, 5), weight_kg=55.0)
    VisitSums.objects.all().delete()  # any row written would show again
    with transaction.atomic():
        FollowUp.objects.filter(pk=followup.pk).update(diagnosis="mild anaemia", bp_systolic=120, bp_diastolic=80)
        records_written([followup.patient_id])
    assert not VisitSums.objects.exists()
    with transaction.atomic():
        FollowUp.objects.filter(pk=followup.pk).update(weight_kg=56.0)  # summed: 55 taken away, 56 added
        records_written([followup.patient_id])
    assert VisitSums.objects.get().weight == pytest.approx(1.0)


def test_refresh_insights_rebuilds_the_sums():
    make_followup(make_patient(), visit_number=1, visit_date=D(2024, 3, 5), weight_kg=55.0)
    VisitSums.objects.update(n=99, weight=1.0)  # as after rows written without a refresh
    call_command("refresh_insights", verbosity=0)
    assert_visit_sums_current()


def test_many_keys_changed_at_once_are_written_in_several_statements():
    """More rows of the sums than one statement takes (visit_sums.ROWS_PER_STATEMENT), all exact."""
    sita = make_patient(district=make_district("Kaski"))
    rows = [[sita.pk, n, FIRST_DAY + datetime.timedelta(days=31 * n), 50.0 + n / 10, ""] for n in range(1, 251)]
    with transaction.atomic():
        insert_values(FollowUp, ["patient_id", "visit_number", "visit_date", "weight_kg", "diagnosis"], rows)
        records_written([sita.pk])
    assert VisitSums.objects.count() == 250 > visit_sums.ROWS_PER_STATEMENT
    assert_visit_sums_current()


def assert_trends_agree(filters):
    expected = oracle.trends(oracle.Records(**filters))
    got = queries.trends_by_visit_and_month(**filters)
    for grouping, key in (("by_visit", "visit_number"), ("by_month", "month")):
        rows = {row[key]: row for row in got[grouping]}
        assert list(rows) == sorted(expected[grouping]), (filters, grouping)
        for group, values in expected[grouping].items():
            assert all(close(rows[group][k], v) for k, v in values.items()), (filters, grouping, group)


day = st.integers(0, 720).map(lambda n: FIRST_DAY + datetime.timedelta(days=n))


@st.composite
def date_range(draw):
    """A range open at either end or not, starting and ending on any day or on a month's edges."""
    if draw(st.booleans()):  # whole months
        start, end = sorted([draw(day), draw(day)])
        return start.replace(day=1), visit_sums.next_month(end) - datetime.timedelta(days=1)
    start, end = draw(st.none() | day), draw(st.none() | day)
    if start is not None and end is not None and start > end:
        start, end = end, start
    return start, end


@given(
    specs=st.lists(patient_spec, min_size=1, max_size=15),
    ranges=st.lists(date_range(), min_size=1, max_size=4),
    district=st.sampled_from([None, "Kaski", "Jhapa"]),
    moved_days=st.lists(st.integers(-40, 40), max_size=6),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])  # fmt: skip
def test_the_trends_agree_with_the_oracle_over_any_date_range(data_manager, specs, ranges, district, moved_days):
    with transaction.atomic():
        build(specs)
        # Some visits moved by days (across months, too) after they were summed, and one voided.
        followups = list(FollowUp.objects.order_by("pk")[: len(moved_days)])
        for followup, days in zip(followups, moved_days, strict=False):
            followup.visit_date += datetime.timedelta(days=days)
            followup.save(update_fields=["visit_date"])
            if days % 7 == 0:
                void(followup, data_manager, "entered in error")
        records_written([followup.patient_id for followup in followups])
        chosen = District.objects.filter(name=district).first() if district else None
        for date_from, date_to in ranges:
            assert_trends_agree({"district": chosen, "date_from": date_from, "date_to": date_to})
        transaction.set_rollback(True)


def test_ranges_at_the_ends_of_the_calendar():
    """A range ending inside December 9999 or starting inside January of year 1 has no month after
    or before it to work out: those days are read from the follow-ups."""
    make_followup(make_patient(), visit_number=1, visit_date=D(2024, 3, 5), weight_kg=55.0)
    for date_from, date_to in ((None, D(9999, 12, 30)), (D(1, 1, 5), None), (D(1, 1, 5), D(9999, 12, 30))):
        assert_trends_agree({"district": None, "date_from": date_from, "date_to": date_to})


def test_a_visit_left_live_under_a_voided_patient_counts_in_no_month_whole_or_part():
    """A follow-up written as her patient was voided stays live under a voided patient: the trends
    leave it out whether its month is read from the sums or, in part, from the follow-ups."""
    patient = make_patient()
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), weight_kg=55.0)
    with transaction.atomic():
        Patient.all_objects.filter(pk=patient.pk).update(
            voided_at=datetime.datetime(2024, 4, 1, tzinfo=datetime.UTC),
            void_reason="entered twice",
            void_id=uuid.uuid4(),
        )  # her alone, as a void that did not see the follow-up
        records_written([patient.pk])
    for date_from, date_to in ((D(2024, 3, 1), D(2024, 3, 31)), (D(2024, 3, 2), D(2024, 3, 31))):
        assert queries.trends_by_visit_and_month(date_from=date_from, date_to=date_to)["by_month"] == []
