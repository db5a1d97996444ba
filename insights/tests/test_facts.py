"""The stored facts stay equal to a fresh computation after every kind of write: saves and deletes
announced as the app's writers announce them (patients.writes), moves between patients, workbook
imports, demo data, and the rebuild command. test_writers drives each writer of the app itself."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from insights import facts, queries
from insights.models import DeliveryFacts, DistrictSums, PatientFacts, VisitJump
from patients.bulk import insert_values
from patients.importing import apply_import, plan_import
from patients.models import Delivery, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets
from patients.voiding import restore, void
from patients.writes import patient_pk, records_written

pytestmark = pytest.mark.django_db
D = datetime.date


def stored():
    """Every stored fact, comparable."""
    return (
        sorted(PatientFacts.objects.values_list(), key=str),
        sorted(DeliveryFacts.objects.values_list(), key=str),
        sorted(VisitJump.objects.values_list("followup_id", "patient_id", "field", "value", "previous"), key=str),
    )


def district_sums():
    """Each district's sums (DistrictSums), by district primary key."""
    columns = facts.DISTRICT_COLUMNS
    rows = DistrictSums.objects.values_list("pk", *columns)
    return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}


def assert_sums_equal(kept, fresh):
    """The districts' sums kept by the writes equal fresh ones: counts exactly, sums but for the last
    digits of floating point; a district all of whose patients left keeps a row of zeros."""
    zeros = dict.fromkeys(facts.DISTRICT_COLUMNS, 0)
    for district in kept.keys() | fresh.keys():
        got, expected = kept.get(district, zeros), fresh.get(district, zeros)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6), district


def assert_current():
    """The stored facts equal what a rebuild from every record gives, with one row per patient; so
    do the districts' sums and totals."""
    before, sums_before = stored(), district_sums()
    facts.refresh()
    assert stored() == before
    assert_sums_equal(sums_before, district_sums())
    assert PatientFacts.objects.count() == Patient.objects.count()
    assert DeliveryFacts.objects.count() == Delivery.objects.count()


def save(record, moved_from=None):
    """Save a record as a writer of the app does: the write, then its announcement."""
    with transaction.atomic():
        record.save()
        records_written([patient_pk(record), moved_from])


def delete(record):
    patient = patient_pk(record)  # before the delete, which empties a patient's pk
    with transaction.atomic():
        record.delete()
        records_written([patient])


def her_facts(patient):
    return PatientFacts.objects.get(patient=patient)


def test_a_new_patient_has_facts_with_nothing_recorded():
    patient = make_patient(condition="known anaemia")
    row = her_facts(patient)
    assert (row.n_followups, row.n_deliveries, row.current_haemoglobin_g_dl) == (0, 0, None)
    assert row.anaemia_keyword
    assert_current()


def test_each_new_record_updates_her_facts():
    patient = make_patient()
    make_delivery(patient, date_of_delivery=D(2024, 3, 1), haemoglobin_at_delivery=10.2, type_of_delivery="c_section")
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), haemoglobin_g_dl=9.1, weight_kg=60.0)
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), haemoglobin_g_dl=12.5, weight_kg=52.0)
    row = her_facts(patient)
    assert (row.n_followups, row.n_deliveries, row.n_caesarean) == (2, 1, 1)
    assert (row.first_haemoglobin_g_dl, row.current_haemoglobin_g_dl, row.n_haemoglobin_readings) == (10.2, 12.5, 3)
    assert row.days_to_first_followup == 4
    assert row.latest_followup_weight_kg == 52.0
    assert VisitJump.objects.filter(patient=patient, field="weight_kg").exists()  # 60 -> 52 kg
    assert DeliveryFacts.objects.get(patient=patient).next_visit_haemoglobin_g_dl == 9.1
    assert_current()


def test_editing_and_deleting_records_keeps_her_facts_current():
    patient = make_patient()
    delivery = make_delivery(patient, date_of_delivery=D(2024, 3, 1))
    first = make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), haemoglobin_g_dl=9.0)
    make_followup(patient, visit_number=2, visit_date=D(2024, 3, 9), haemoglobin_g_dl=9.5, diagnosis="Anaemia")
    first.haemoglobin_g_dl = 8.0
    save(first)
    assert her_facts(patient).first_haemoglobin_g_dl == 11.5  # her delivery's reading comes first
    assert her_facts(patient).anaemia_keyword
    assert_current()
    delete(FollowUp.objects.filter(visit_number=2).get())
    assert (her_facts(patient).n_followups, her_facts(patient).anaemia_keyword) == (1, False)
    delete(delivery)
    assert her_facts(patient).n_deliveries == 0
    assert her_facts(patient).current_haemoglobin_g_dl == 8.0
    assert_current()


def test_a_record_moved_to_another_patient_changes_both_patients_facts():
    first, second = make_patient(), make_patient()
    followup = make_followup(first, visit_number=1)
    delivery = make_delivery(first)
    followup.patient, delivery.patient = second, second
    save(followup, moved_from=first.pk)
    save(delivery, moved_from=first.pk)
    assert (her_facts(first).n_followups, her_facts(first).n_deliveries) == (0, 0)
    assert (her_facts(second).n_followups, her_facts(second).n_deliveries) == (1, 1)
    assert_current()


def test_a_patient_edit_changes_her_keyword_and_a_deleted_patient_leaves_no_facts():
    patient = make_patient()
    make_followup(patient)
    make_delivery(patient)
    patient.condition = "low Hb since her first pregnancy"
    save(patient)
    assert her_facts(patient).anaemia_keyword
    delete(patient)
    assert not PatientFacts.objects.exists() and not DeliveryFacts.objects.exists()
    assert_current()


def test_a_patient_whose_id_is_corrected_is_ordered_by_the_new_one():
    patient, other = make_patient(patient_id="P001"), make_patient(patient_id="P050")
    for anaemic in (patient, other):
        make_followup(anaemic, haemoglobin_g_dl=9.5)
    assert queries.high_risk_patient_pks(order="patient") == [patient.pk, other.pk]
    patient.patient_id = "P100"
    save(patient)
    assert (her_facts(patient).patient_code, her_facts(patient).triage_level) == ("P100", 2)
    assert queries.high_risk_patient_pks(order="patient") == [other.pk, patient.pk]
    assert_current()


def test_a_patient_moved_to_another_district_has_her_facts_there():
    patient = make_patient(district=make_district("Kaski"))
    make_followup(patient)
    patient.district = make_district("Jhapa")
    save(patient)
    assert her_facts(patient).district.name == "Jhapa"  # the outlier screen sums her values there
    assert_current()


def test_a_district_all_of_whose_patients_left_has_no_averages_or_changes():
    """Her district keeps a row of zeros in DistrictSums: the analyses that read its totals leave it
    out, or count no one in it."""
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    patient = make_patient(district=kaski, weight_kg=52.0)
    make_followup(patient, visit_number=1, weight_kg=53.0)
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), weight_kg=55.5)
    patient.district = jhapa
    save(patient)
    assert DistrictSums.objects.get(district=kaski).patients == 0
    assert [row["district"] for row in queries.average_weight_by_district()] == ["Jhapa"]
    assert queries.average_weight_by_district(district=kaski) == []
    assert queries.trends_change(district=kaski) == {
        "n_weight": 0, "mean_weight_change_kg": None, "n_haemoglobin": 0, "mean_haemoglobin_change_g_dl": None
    }  # fmt: skip
    assert queries.trends_change(district=jhapa)["mean_weight_change_kg"] == pytest.approx(2.5)
    assert_current()


def test_a_workbook_import_refreshes_the_patients_it_wrote(tmp_path):
    known = make_patient(patient_id="K1")
    make_followup(known, visit_number=1, haemoglobin_g_dl=12.0)
    sheets = standard_sheets(
        patients=[patient_row("NEW1")],
        deliveries=[],
        followups=[followup_row("NEW1", 1), followup_row("K1", 2, haemoglobin_g_dl=8.5, visit_date=D(2024, 6, 1))],
    )
    apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", sheets)))
    assert her_facts(known).current_haemoglobin_g_dl == 8.5
    assert her_facts(Patient.objects.get(patient_id="NEW1")).n_followups == 1
    assert_current()


def test_demo_data_and_its_flush_leave_the_facts_current():
    call_command("seed_demo", patients=60, seed=3, verbosity=0)
    assert_current()
    call_command("seed_demo", patients=20, seed=4, flush=True, verbosity=0)
    assert PatientFacts.objects.count() == 20
    assert_current()


@pytest.mark.unannounced_writes
def test_refresh_insights_rebuilds_after_writes_the_app_did_not_see():
    patient = make_patient()
    # A write that tells nobody (as raw SQL or a partial restore would).
    insert_values(FollowUp, ["patient_id", "visit_number", "visit_date", "haemoglobin_g_dl", "diagnosis"],
                  [[patient.pk, 1, D(2024, 1, 2), 7.5, ""]])  # fmt: skip
    assert her_facts(patient).n_followups == 0
    call_command("refresh_insights", verbosity=0)
    assert (her_facts(patient).n_followups, her_facts(patient).current_haemoglobin_g_dl) == (1, 7.5)


def test_the_districts_anaemia_counts_hold_for_the_cutoff_they_were_made_with(settings, django_assert_num_queries):
    """The district metrics and the follow-up effect read the districts' kept counts under the
    cut-off they were counted with; under another (the setting changed) they add up the facts
    again, a write under another makes the counts and their cut-off NULL rather than mix two
    cut-offs, and `manage.py refresh_insights` counts them afresh."""
    kaski = make_district("Kaski")
    sita, gita = make_patient(district=kaski), make_patient(district=kaski)
    make_followup(sita, visit_number=1, haemoglobin_g_dl=10.5)  # mild at 11 g/dL
    make_followup(sita, visit_number=2, haemoglobin_g_dl=11.5)  # resolved at 11, not at 12
    make_followup(gita, visit_number=1, haemoglobin_g_dl=11.5)  # anaemic only at 12
    kept = DistrictSums.objects.get(district=kaski)
    assert (kept.anaemia_cutoff_g_dl, kept.n_anaemic, kept.n_mild) == (11.0, 0, 0)

    def counted(queries_run):
        with django_assert_num_queries(queries_run * 2):
            (metrics,) = queries.district_metrics()
            effect = queries.followup_effect()["by_followup_count"]
        two = next(row for row in effect if row["label"] == "2-3")  # sita's two visits
        return (metrics["n_anaemic"], metrics["n_mild"], metrics["n_moderate"]), (
            two["n_anaemic_at_first"], two["n_resolved"])  # fmt: skip

    assert counted(1) == ((0, 0, 0), (1, 1))
    settings.ANAEMIA_HB_CUTOFF_G_DL = 12.0
    assert counted(2) == ((2, 2, 0), (1, 0))  # the kept counts are 11 g/dL's: the facts are counted
    make_followup(gita, visit_number=2, haemoglobin_g_dl=9.5)  # a write under 12 g/dL: moderate at both
    kept.refresh_from_db()
    assert (kept.anaemia_cutoff_g_dl, kept.n_anaemic, kept.n_mild, kept.n_moderate) == (None, None, None, 1)
    assert kept.effect_count_2_anaemic_at_first is None
    assert counted(2) == ((2, 1, 1), (2, 0))
    call_command("refresh_insights", verbosity=0)
    kept.refresh_from_db()
    assert (kept.anaemia_cutoff_g_dl, kept.n_anaemic, kept.n_mild, kept.effect_count_2_anaemic_at_first) == (
        12.0, 2, 1, 2)  # fmt: skip
    assert counted(1) == ((2, 1, 1), (2, 0))
    settings.ANAEMIA_HB_CUTOFF_G_DL = 11.0
    assert counted(2) == ((1, 0, 1), (1, 1))  # 11.5 (not anaemic) and 9.5 (moderate); sita's resolved


def test_a_write_refreshed_in_several_chunks_adds_each_chunk_to_the_districts_sums(monkeypatch):
    kaski, jhapa = make_district("Kaski"), make_district("Jhapa")
    patients = [make_patient(district=[kaski, jhapa][n % 3 == 0], weight_kg=45.0 + n) for n in range(40)]
    monkeypatch.setattr(facts, "CHUNK", 3)  # ten patients of forty: four chunks, not a rebuild
    with transaction.atomic():
        for n, patient in enumerate(patients[:10]):
            patient.weight_kg, patient.district = 70.0 + n, [kaski, jhapa][n % 2]
            patient.save()
            FollowUp.objects.create(patient=patient, visit_number=1, visit_date=D(2024, 3, 5), weight_kg=60.0 + n)
        records_written([patient.pk for patient in patients[:10]])  # one announcement for the ten
    assert_current()


def test_saving_a_followup_refreshes_her_facts_in_a_fixed_number_of_queries(django_assert_num_queries):
    patient = make_patient()
    make_followup(patient, visit_number=1)
    followup = FollowUp(patient=patient, visit_number=2, visit_date=D(2024, 5, 1), haemoglobin_g_dl=10.0)
    # The writer's savepoint and its release, the insert and its history row; then the announcement:
    # three deletes and inserts of her facts (after the lock on her row, on PostgreSQL), her part of
    # her district's sums read before and after them and the change added to its sums, the new data
    # version, and when her records were written (RecordsWritten).
    with django_assert_num_queries(16 if connection.vendor == "postgresql" else 15):
        save(followup)


def test_a_follow_up_with_a_blood_pressure_updates_her_latest_reading():
    patient = make_patient()
    row = her_facts(patient)
    assert (row.latest_bp_systolic, row.latest_bp_diastolic, row.latest_bp_date, row.hypertension_keyword) == (
        None, None, None, False)  # fmt: skip
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), bp_systolic=118, bp_diastolic=76)
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), bp_systolic=152, bp_diastolic=96)
    row = her_facts(patient)
    assert (row.latest_bp_systolic, row.latest_bp_diastolic, row.latest_bp_date) == (152, 96, D(2024, 4, 5))
    assert row.latest_visit_date == D(2024, 4, 5)
    # A later visit with one value only leaves her latest reading as it was; its date is her latest visit.
    make_followup(patient, visit_number=3, visit_date=D(2024, 5, 5), bp_systolic=170, bp_diastolic=None)
    row = her_facts(patient)
    assert (row.latest_bp_systolic, row.latest_bp_diastolic, row.latest_bp_date) == (152, 96, D(2024, 4, 5))
    assert row.latest_visit_date == D(2024, 5, 5)
    assert_current()
    # Completing it makes it her latest; deleting it brings back the one before.
    third = FollowUp.objects.get(patient=patient, visit_number=3)
    third.bp_diastolic = 112
    save(third)
    assert (her_facts(patient).latest_bp_systolic, her_facts(patient).latest_bp_diastolic) == (170, 112)
    assert_current()
    delete(third)
    assert (her_facts(patient).latest_bp_systolic, her_facts(patient).latest_bp_date) == (152, D(2024, 4, 5))
    assert_current()


def test_editing_her_condition_or_a_diagnosis_sets_the_hypertension_keyword():
    patient = make_patient(condition="")
    followup = make_followup(patient, visit_number=1, diagnosis="routine")
    assert not her_facts(patient).hypertension_keyword
    patient.condition = "PIH"
    save(patient)
    assert her_facts(patient).hypertension_keyword
    assert_current()
    patient.condition = "pihu"  # not the whole word
    save(patient)
    assert not her_facts(patient).hypertension_keyword
    followup.diagnosis = "suspected pre-eclampsia"
    save(followup)
    assert her_facts(patient).hypertension_keyword
    assert_current()
    followup.diagnosis = "HELLP ruled out"  # still names it: the words are not read for negation
    save(followup)
    assert her_facts(patient).hypertension_keyword
    delete(followup)
    assert not her_facts(patient).hypertension_keyword
    assert_current()


def test_deliveries_update_her_preterm_count_and_readings_their_date():
    patient = make_patient()
    preterm = make_delivery(patient, date_of_delivery=D(2024, 1, 3), term_of_delivery="preterm",
                            haemoglobin_at_delivery=9.5)  # fmt: skip
    row = her_facts(patient)
    assert (row.n_preterm, row.current_haemoglobin_g_dl, row.current_haemoglobin_date) == (1, 9.5, D(2024, 1, 3))
    make_delivery(patient, date_of_delivery=D(2025, 2, 3), term_of_delivery="term", haemoglobin_at_delivery=None)
    make_followup(patient, visit_number=1, visit_date=D(2024, 2, 1), haemoglobin_g_dl=10.4)
    row = her_facts(patient)
    assert (row.n_preterm, row.current_haemoglobin_g_dl, row.current_haemoglobin_date) == (1, 10.4, D(2024, 2, 1))
    preterm.term_of_delivery = "term"
    save(preterm)
    assert her_facts(patient).n_preterm == 0
    assert_current()


@pytest.mark.unannounced_writes
def test_visits_left_live_under_a_voided_patient_count_in_no_dated_change_or_weight(data_manager):
    """Two writers at once may leave a follow-up live under a patient voided as it was written: with a
    date range, as without, the trends' change and the average weights count only the patients in
    scope (not voided), though they no longer read her whole facts."""
    patient = make_patient(weight_kg=50.0)
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), weight_kg=50.0, haemoglobin_g_dl=9.0)
    make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), weight_kg=55.0, haemoglobin_g_dl=11.0)
    void(patient, data_manager, "registered twice")
    FollowUp.all_objects.filter(patient=patient).update(voided_at=None, void_reason="", void_id=None)
    for district in (None, patient.district):
        change = queries.trends_change(district, D(2024, 1, 1), D(2024, 12, 31))
        assert (change["n_weight"], change["n_haemoglobin"]) == (0, 0), district
        assert queries.average_weight_by_district(district, D(2024, 1, 1), D(2024, 12, 31)) == [], district


def test_voiding_refreshes_the_new_facts(data_manager):
    patient = make_patient(condition="")
    make_followup(patient, visit_number=1, visit_date=D(2024, 3, 5), bp_systolic=150, bp_diastolic=95)
    latest = make_followup(patient, visit_number=2, visit_date=D(2024, 4, 5), bp_systolic=165, bp_diastolic=112,
                           diagnosis="HTN")  # fmt: skip
    delivery = make_delivery(patient, term_of_delivery="preterm")
    void(latest, data_manager, "wrong patient")
    void(delivery, data_manager, "entered twice")
    row = her_facts(patient)
    assert (row.latest_bp_systolic, row.latest_bp_diastolic, row.hypertension_keyword, row.n_preterm) == (
        150, 95, False, 0)  # fmt: skip
    assert_current()
    restore(FollowUp.all_objects.get(pk=latest.pk), data_manager)
    assert (her_facts(patient).latest_bp_systolic, her_facts(patient).hypertension_keyword) == (165, True)
    assert_current()
