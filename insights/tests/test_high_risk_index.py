"""On PostgreSQL the high-risk list's default order is read from an index of the facts
(insights.models.TRIAGE_INDEX, migration 0011), without the table and without a sort, whatever
reasons and priorities are chosen: the index holds the order and every column the rules read."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from insights import queries
from insights.models import TRIAGE_INDEX
from patients import clinical
from patients.models import DeliveryType
from patients.tests.factories import make_delivery, make_followup, make_patient

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's"),
]


def plan_of_keys(**filters):
    """The plan of high_risk_patient_pks(**filters), with sorts and table scans priced out: a few
    test rows would be sorted anyway, so ask whether the index *can* answer in order."""
    with CaptureQueriesContext(connection) as captured:
        queries.high_risk_patient_pks(**filters)
    (query,) = captured.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {query['sql']}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "chosen",
    [
        {},
        {"reasons": [clinical.C_SECTION, clinical.LOW_HAEMOGLOBIN]},
        {"priorities": [1, 3]},
        {"reasons": list(clinical.REASON_CODES), "priorities": [2]},
    ],
    ids=["everyone", "some reasons", "some priorities", "both"],
)
def test_the_default_order_is_read_from_the_index_alone(chosen):
    caesarean, urgent = make_patient(patient_id="P001"), make_patient(patient_id="P002")
    make_delivery(caesarean, type_of_delivery=DeliveryType.C_SECTION, haemoglobin_at_delivery=12.0)
    make_followup(urgent, haemoglobin_g_dl=6.5)
    assert queries.high_risk_patient_pks() == [urgent.pk, caesarean.pk]  # priority 1, then 3
    plan = plan_of_keys(**chosen)
    assert f"Index Only Scan using {TRIAGE_INDEX}" in plan, plan
    assert "Sort" not in plan, plan


def test_the_index_is_built_and_valid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", [TRIAGE_INDEX])
        assert cursor.fetchall() == [(True,)]


def test_patient_ids_order_by_their_characters_whatever_the_locale():
    """As Python sorts them (the oracle), and three to four times quicker than a locale's rules."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = 'insights_patientfacts' AND column_name = 'patient_code'"
        )
        assert cursor.fetchall() == [("C",)]
    for patient_id in ("p10", "P2", "a1", "Z9"):
        make_delivery(make_patient(patient_id=patient_id), type_of_delivery=DeliveryType.C_SECTION)
    in_order = [row["patient_id"] for row in queries.high_risk_patients(order="patient")]
    assert in_order == sorted(["p10", "P2", "a1", "Z9"]) == ["P2", "Z9", "a1", "p10"]
    dated = queries.high_risk_patients(order="patient", date_from=datetime.date(2000, 1, 1))  # the live facts
    assert [row["patient_id"] for row in dated] == in_order
