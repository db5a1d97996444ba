"""
The insights, one function each: plain rows out, aggregated in the database, a fixed number of
queries whatever the data size. The clinical definitions are in patients.clinical.

Every function takes the same filters:
- `district`: a District (or its primary key); None for all districts.
- `date_from`, `date_to`: dates, both included, either may be None. With a range, only patients
  with a delivery or follow-up dated in it are counted, and only their records dated in it:
  her current haemoglobin is her latest reading in the range, a Caesarean counts if it was in it.
"""

from django.db.models import Avg, Count, OuterRef, Subquery

from patients import clinical
from patients.models import FollowUp, Patient


def _patients(district=None, date_from=None, date_to=None):
    return Patient.objects.in_district(district).active_between(date_from, date_to)


def average_weight_by_district(district=None, date_from=None, date_to=None):
    """The mean of the patients' recorded weight per district (the prototype's definition), with
    the number of patients behind it and the mean of their latest follow-up weights; heaviest
    first. One query."""
    latest_weight = (
        FollowUp.objects.filter(patient=OuterRef("pk"), weight_kg__isnull=False)
        .between(date_from, date_to)
        .order_by("-visit_date", "-visit_number")
        .values("weight_kg")[:1]
    )
    rows = (
        _patients(district, date_from, date_to)
        .annotate(latest_followup_weight=Subquery(latest_weight))
        .values("district__name")
        .annotate(
            average_weight=Avg("weight_kg"),
            n_patients=Count("weight_kg"),
            average_latest_followup_weight=Avg("latest_followup_weight"),
            n_latest_followup_weight=Count("latest_followup_weight"),
        )
        .order_by("-average_weight", "district__name")
    )
    return [
        {
            "district": row["district__name"],
            "average_weight": _round(row["average_weight"]),
            "n_patients": row["n_patients"],
            "average_latest_followup_weight": _round(row["average_latest_followup_weight"]),
            "n_latest_followup_weight": row["n_latest_followup_weight"],
        }
        for row in rows
    ]


def high_risk_patients(district=None, date_from=None, date_to=None):
    """Every high-risk patient once, with all her reasons (clinical.risk_reasons), her current
    haemoglobin and its WHO severity, and her latest delivery's type. One query."""
    patients = (
        _patients(district, date_from, date_to)
        .high_risk(date_from, date_to)
        .values(
            "patient_id", "name", "condition", "district__name", "latest_delivery_type", "anaemia_keyword",
            "current_haemoglobin_g_dl", "had_caesarean",
        )
        .order_by("patient_id")
    )  # fmt: skip
    return [
        {
            "patient_id": row["patient_id"],
            "name": row["name"],
            "condition": row["condition"],
            "delivery_type": row["latest_delivery_type"],
            "reasons": clinical.risk_reasons(
                row["anaemia_keyword"], row["current_haemoglobin_g_dl"], row["had_caesarean"]
            ),
            "haemoglobin_g_dl": row["current_haemoglobin_g_dl"],
            "severity": clinical.anaemia_severity(row["current_haemoglobin_g_dl"]),
            "district": row["district__name"],
        }
        for row in patients
    ]


def _round(value):
    return None if value is None else round(value, 2)
