"""Migrations that change what existing rows mean: run on rows made in the schema before them."""

import datetime

import pytest
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# Migrations write as the schema of their day, not as the app's writers.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.unannounced_writes]

BEFORE_VOID_IDS = "0013_free_text_without_control_characters"
VOID_IDS = "0014_void_ids"
PATIENT_ID_IGNORING_CASE = "0015_patient_id_unique_ignoring_case"
BEFORE_TRENDS_INDEX = "0019_records_written"
TRENDS_INDEX = "0020_followup_trends_index"


@pytest.fixture
def migrate_to():
    """Migrate the patients app to a migration and return the models as they were there; the
    database is migrated to the latest again afterwards."""

    def migrate(name):
        executor = MigrationExecutor(connection)
        executor.migrate([("patients", name)])
        return executor.loader.project_state([("patients", name)]).apps

    yield migrate
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def kept_facts(apps, patient, **values):
    """A patient's facts row as the schema of `apps` keeps it, zeros where not given (a later
    migration works them out again: these numbers do not matter)."""
    model = apps.get_model("insights", "PatientFacts")
    required = [f for f in model._meta.concrete_fields if not f.null and not f.primary_key and not f.has_db_default()]
    zeros = {f.attname: False if f.get_internal_type() == "BooleanField" else 0 for f in required}
    return model._default_manager.create(**{**zeros, "patient_id": patient.pk, **values})


def managers(apps):
    return [
        apps.get_model("patients", name)._default_manager for name in ("District", "Patient", "Delivery", "FollowUp")
    ]


def test_void_ids_link_her_records_voided_at_her_moment_and_no_others(migrate_to):
    districts, patients, deliveries, followups = managers(migrate_to(BEFORE_VOID_IDS))
    moment = timezone.now()
    kaski = districts.create(name="Kaski")
    voided = {"voided_at": moment, "void_reason": "test record"}
    sita = patients.create(patient_id="P001", district=kaski, **voided)
    with_her = deliveries.create(patient=sita, date_of_delivery=datetime.date(2024, 3, 1), type_of_delivery="normal",
                                 **voided)  # fmt: skip
    alone = followups.create(patient=sita, visit_number=1, visit_date=datetime.date(2024, 3, 5),
                             voided_at=moment - datetime.timedelta(days=2), void_reason="entered twice")  # fmt: skip
    gita = patients.create(patient_id="P002", district=kaski)
    in_use = followups.create(patient=gita, visit_number=1, visit_date=datetime.date(2024, 3, 5))
    alone_too = followups.create(patient=gita, visit_number=2, visit_date=datetime.date(2024, 4, 5), **voided)

    districts, patients, deliveries, followups = managers(migrate_to(VOID_IDS))

    void_id = patients.get(pk=sita.pk).void_id
    assert void_id is not None and deliveries.get(pk=with_her.pk).void_id == void_id
    own = [followups.get(pk=alone.pk).void_id, followups.get(pk=alone_too.pk).void_id]
    assert None not in own and len({void_id, *own}) == 3
    assert (patients.get(pk=gita.pk).void_id, followups.get(pk=in_use.pk).void_id) == (None, None)


def test_patient_ids_equal_but_for_case_are_named_before_the_constraint_is_added(migrate_to):
    districts, patients, _, _ = managers(migrate_to(VOID_IDS))
    kaski = districts.create(name="Kaski")
    for patient_id in ("P000030", "p000030", "P000031", "x1", "X1"):
        patients.create(patient_id=patient_id, district=kaski)

    with pytest.raises(CommandError) as refused:
        migrate_to(PATIENT_ID_IGNORING_CASE)

    message = str(refused.value)
    assert "P000030, p000030" in message and "X1, x1" in message and "P000031" not in message
    assert "Give each of these patients an ID of her own" in message

    patients.filter(patient_id="p000030").update(patient_id="P000032")
    patients.filter(patient_id="x1").delete()
    migrate_to(PATIENT_ID_IGNORING_CASE)
    assert sorted(patients.values_list("patient_id", flat=True)) == ["P000030", "P000031", "P000032", "X1"]


def test_the_risk_facts_migration_works_out_the_new_facts_of_patients_already_recorded():
    """insights 0003 remakes the stored facts table on a database that holds patients (the
    migration-time Patient has no `objects` manager: it must not be asked for one)."""
    executor = MigrationExecutor(connection)
    executor.migrate([("insights", "0002_stored_facts")])
    apps = executor.loader.project_state([("insights", "0002_stored_facts")]).apps
    districts, patients, deliveries, followups = managers(apps)
    try:
        kaski = districts.create(name="Kaski")
        sita = patients.create(patient_id="P001", district=kaski, condition="PIH")
        followups.create(patient=sita, visit_number=1, visit_date=datetime.date(2024, 3, 5), bp_systolic=150,
                         bp_diastolic=95)  # fmt: skip
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        from insights.models import PatientFacts

        facts = PatientFacts.objects.get(patient_id=sita.pk)
        assert (facts.hypertension_keyword, facts.latest_bp_systolic, facts.latest_bp_diastolic) == (True, 150, 95)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_facts_kept_by_an_earlier_release_are_worked_out_again_with_her_district():
    """A database whose writers kept the stored facts before they named a district (insights 0004)
    migrates: 0005 clears those rows, which 0006 would refuse, and 0015 works them out again, with
    her district's sums, totals (0012) and counts (0014) and her triage level, latest reading date
    and patient ID (0009)."""
    before = [("insights", "0004_data_version")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    districts, patients, _, followups = managers(apps)
    try:
        kaski = districts.create(name="Kaski")
        sita = patients.create(patient_id="P001", district=kaski, weight_kg=50.0, age_at_first_pregnancy=19)
        followups.create(patient=sita, visit_number=1, visit_date=datetime.date(2024, 3, 5), haemoglobin_g_dl=9.0)
        kept_facts(apps, sita)  # her facts as that release kept them
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        from insights.models import DistrictSums, PatientFacts

        facts = PatientFacts.objects.get(patient_id=sita.pk)
        assert (facts.district_id, facts.n_followups, facts.current_haemoglobin_g_dl) == (kaski.pk, 1, 9.0)
        assert (facts.triage_level, facts.latest_reading_date, facts.patient_code) == (
            2,
            datetime.date(2024, 3, 5),
            "P001",
        )  # haemoglobin below 10 g/dL: priority 2
        sums = DistrictSums.objects.get(district_id=kaski.pk)
        assert (sums.patient_weight_kg_n, sums.patient_weight_kg_sum, sums.followup_haemoglobin_g_dl_n) == (1, 50.0, 1)
        assert (sums.patients, sums.latest_followup_weight_kg_n) == (1, 0)  # her totals (0012)
        assert (sums.anaemia_cutoff_g_dl, sums.n_anaemic, sums.n_moderate, sums.n_adolescent_pregnancy) == (
            11.0, 1, 1, 1)  # her counts (0014): 9.0 g/dL, her first pregnancy at 19  # fmt: skip
        assert (sums.n_followups, sums.n_with_haemoglobin, sums.current_haemoglobin_g_dl_sum) == (1, 1, 9.0)
        assert (sums.effect_count_1_patients, sums.effect_count_1_with_change) == (1, 0)  # one visit, one reading
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_district_whose_patients_all_left_keeps_no_counts_of_an_unknown_cutoff():
    """A district all of whose patients left keeps a row of zero sums, whose anaemia counts 0014 adds
    empty, with no cut-off: 0015 works the sums out again though no patient is left, so that no row
    is left whose counts the analyses could never trust (every later write would keep them empty)."""
    before = [("insights", "0013_compute_facts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    districts = apps.get_model("patients", "District")._default_manager
    sums = apps.get_model("insights", "DistrictSums")
    try:
        kaski = districts.create(name="Kaski")
        required = [f for f in sums._meta.concrete_fields if not f.null and not f.primary_key]
        sums._default_manager.create(district_id=kaski.pk, **{f.attname: 0 for f in required})
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        from insights.models import DistrictSums

        assert not DistrictSums.objects.filter(anaemia_cutoff_g_dl__isnull=True).exists()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CREATE INDEX CONCURRENTLY: PostgreSQL only")
def test_the_trends_index_is_built_after_a_concurrent_build_failed_halfway(migrate_to):
    districts, patients, _, followups = managers(migrate_to(BEFORE_TRENDS_INDEX))
    sita = patients.create(patient_id="P001", district=districts.create(name="Kaski"))
    for number in (1, 2):
        followups.create(patient=sita, visit_number=number, visit_date=datetime.date(2024, 3, 5))

    def trends_index():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indexrelid = to_regclass('patients_followup_trends_idx')"
            )
            return cursor.fetchone()

    # A concurrent build that fails leaves an invalid index of its name behind (here a unique one,
    # over two visits on the same day), and the migration unapplied.
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY patients_followup_trends_idx ON patients_followup (visit_date)"
        )
    assert trends_index()[0] is False

    migrate_to(TRENDS_INDEX)
    valid, definition = trends_index()
    assert valid and "INCLUDE (weight_kg, haemoglobin_g_dl) WHERE (voided_at IS NULL)" in definition


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CREATE INDEX CONCURRENTLY: PostgreSQL only")
def test_the_triage_index_is_built_after_a_concurrent_build_failed_halfway():
    from insights.models import TRIAGE_INDEX

    before, after = [("insights", "0010_compute_facts")], [("insights", "0011_triage_index")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)

    def triage_index():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid = to_regclass(%s)",
                [TRIAGE_INDEX],
            )
            return cursor.fetchone()

    try:
        apps = executor.loader.project_state(before).apps
        districts, patients, _, _ = managers(apps)
        kaski = districts.create(name="Kaski")
        for patient_id in ("P001", "P002"):  # their facts: two rows of one district
            patient = patients.create(patient_id=patient_id, district=kaski)
            kept_facts(apps, patient, district_id=kaski.pk, patient_code=patient_id)
        # A concurrent build that fails (a unique index over two patients of one district) leaves an
        # invalid index of its name behind, and the migration unapplied.
        with pytest.raises(IntegrityError), connection.cursor() as cursor:
            cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {TRIAGE_INDEX} ON insights_patientfacts (district_id)")
        assert triage_index()[0] is False
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        valid, definition = triage_index()
        assert valid and "(triage_level, latest_reading_date DESC NULLS LAST, patient_code)" in definition
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_triggers_of_the_reverted_trends_sums_are_dropped():
    """A database migrated while an earlier insights 0012 stood (commits 00ae047 and ba5a910) holds
    its table of trends' sums and its triggers on the follow-ups: 0012 drops them."""
    before = [("insights", "0011_triage_index")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE insights_visitsums (id integer)")
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION insights_visitsums_followups() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN INSERT INTO insights_visitsums VALUES (1); RETURN NULL; END $$"
                )
                cursor.execute(
                    "CREATE TRIGGER insights_visitsums_insert AFTER INSERT ON patients_followup "
                    "FOR EACH STATEMENT EXECUTE FUNCTION insights_visitsums_followups()"
                )
            else:
                cursor.execute(
                    "CREATE TRIGGER insights_visitsums_insert AFTER INSERT ON patients_followup "
                    "BEGIN INSERT INTO insights_visitsums VALUES (1); END"
                )
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        with connection.cursor() as cursor:
            assert "insights_visitsums" not in connection.introspection.table_names(cursor)
        from patients.tests.factories import make_followup, make_patient
        from patients.writes import records_written

        # With the table gone, a trigger left behind would fail this insert.
        with transaction.atomic():
            followup = make_followup(make_patient(), visit_number=1, visit_date=datetime.date(2024, 3, 5))
            records_written([followup.patient_id])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
