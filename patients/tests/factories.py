"""Tiny factory functions for tests: sensible defaults, any field overridable. Each announces its
write (patients.writes), as the app's own writers do."""

import datetime
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from patients.models import Delivery, District, FollowUp, Patient
from patients.writes import records_written

_numbers = itertools.count(1)


def make_district(name="Kaski"):
    district = District.objects.get_or_create_by_name(name)
    records_written([])
    return district


def make_patient(**overrides):
    overrides.setdefault("patient_id", f"T{next(_numbers):05d}")
    overrides.setdefault("name", "Sita Gurung")
    if "district" not in overrides:
        overrides["district"] = make_district()
    overrides.setdefault("height_cm", 152.0)
    overrides.setdefault("weight_kg", 52.0)
    overrides.setdefault("age_at_menarche", 13)
    overrides.setdefault("age_at_marriage", 19)
    overrides.setdefault("age_at_first_pregnancy", 20)
    overrides.setdefault("village", "Deurali")
    patient = Patient.objects.create(**overrides)
    records_written([patient.pk])
    return patient


def make_delivery(patient=None, **overrides):
    overrides.setdefault("date_of_delivery", datetime.date(2024, 3, 12))
    overrides.setdefault("type_of_delivery", Delivery.Type.NORMAL)
    overrides.setdefault("term_of_delivery", Delivery.Term.TERM)
    overrides.setdefault("haemoglobin_at_delivery", 11.5)
    delivery = Delivery.objects.create(patient=patient or make_patient(), **overrides)
    records_written([delivery.patient_id])
    return delivery


def make_followup(patient=None, **overrides):
    patient = patient or make_patient()
    if "visit_number" not in overrides:
        overrides["visit_number"] = patient.followups(manager="all_objects").count() + 1
    overrides.setdefault("visit_date", datetime.date(2024, 3, 20))
    overrides.setdefault("weight_kg", 55.0)
    overrides.setdefault("haemoglobin_g_dl", 11.2)
    overrides.setdefault("bp_systolic", 115)
    overrides.setdefault("bp_diastolic", 75)
    followup = FollowUp.objects.create(patient=patient, **overrides)
    records_written([patient.pk])
    return followup


def make_user(username, role=None, is_staff=False, **fields):
    user = get_user_model().objects.create_user(username=username, password="not-used", is_staff=is_staff, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
