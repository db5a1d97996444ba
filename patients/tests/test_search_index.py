"""The patient search is answered from the trigram indexes on PostgreSQL (migration 0012)."""

import pytest
from django.db import connection

from patients.models import Patient
from patients.tests.factories import make_patient

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's"),
]


def plan_of(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A few test rows would be scanned anyway: ask whether the indexes *can* answer.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_by_id_name_or_village_uses_the_indexes():
    make_patient(patient_id="P001", name="Sita Gurung", village="Deurali")
    # Unordered, as the page's count asks (ordered, a tiny table is walked by its patient_id index).
    plan = plan_of(Patient.objects.search("gur").order_by())
    for column in ("patient_id", "name", "village"):
        assert f"patients_patient_{column}_trgm" in plan, plan
    assert list(Patient.objects.search("GUR").values_list("patient_id", flat=True)) == ["P001"]
