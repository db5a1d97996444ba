"""
Voiding and restoring records: staff never delete a patient, delivery or follow-up.

A voided record keeps its row, its identifier (a patient_id, a delivery's date, a visit number stay
taken) and its history; it records who voided it, when and why, and leaves every page, export, API
answer and insight. Voiding a patient voids her deliveries and follow-ups with her, at the same
moment, for the same reason and under the same void ID; restoring her restores the records that
carry that ID and only those (not records voided on their own before her, even in the same clock
tick). A delivery or follow-up of a voided patient is restored with her.

Each void and restore is one transaction that locks the rows it may change and her patient's row,
then re-reads the record: two at once (a double click, two clerks) take turns, and the second, finding
the first's work done, is refused. On SQLite the transaction itself takes the database's write lock
(transaction_mode IMMEDIATE, hospital/settings.py), which does the same. Both announce the write
(patients.writes) before they commit.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.models import Delivery, FollowUp, Patient, history_reason
from patients.text import validate_no_control_characters
from patients.writes import patient_pk, records_written

MAX_REASON = Patient._meta.get_field("void_reason").max_length
VOID_FIELDS = ["voided_at", "voided_by", "void_reason", "void_id"]


class VoidRefused(Exception):
    """Why a record cannot be voided or restored, in words for the user."""


def void(record, user, reason):
    """Void a patient (and her records still in use) or one delivery or follow-up.

    `record` is re-read under a lock first: a copy read before someone else voided it is refused.
    """
    reason = _checked_reason(reason)
    with transaction.atomic():
        her_records = _lock_and_reread(record)
        if record.is_voided:
            raise VoidRefused(f"{record} is already voided.")
        void_id, now = uuid.uuid4(), timezone.now()
        if isinstance(record, Patient):
            in_use = [r for r in her_records if not r.is_voided]
            _set_in_bulk(in_use, user, now, reason, void_id, f"Voided with the patient: {reason}")
        _set(record, user, now, reason, void_id, f"Voided: {reason}")
        records_written([patient_pk(record)])


def restore(record, user):
    """Restore a voided record (a patient with the records voided with her); re-read first, as void()."""
    with transaction.atomic():
        her_records = _lock_and_reread(record)
        if not record.is_voided:
            raise VoidRefused(f"{record} is not voided.")
        if isinstance(record, Patient):
            with_her = [r for r in her_records if r.void_id == record.void_id]
            _set_in_bulk(with_her, user, None, "", None, "Restored with the patient")
        elif record.patient.is_voided:
            raise VoidRefused(f"{record.patient.patient_id} is voided: restore the patient, and her records with her.")
        _set(record, None, None, "", None, "Restored", history_user=user)
        records_written([patient_pk(record)])


def _checked_reason(reason):
    typed = str(reason or "").strip()
    try:
        validate_no_control_characters(typed)
    except ValidationError as invalid:
        raise VoidRefused(invalid.messages[0]) from None
    reason = " ".join(typed.split())
    if not reason:
        raise VoidRefused("Say why the record is voided.")
    if len(reason) > MAX_REASON:
        raise VoidRefused(f"The reason is {len(reason)} characters long; keep it within {MAX_REASON}.")
    return reason


def _lock_and_reread(record):
    """Lock and re-read `record` and her patient (`record.patient` for a delivery or follow-up); for a
    patient, also lock and return all her deliveries and follow-ups. Three queries.

    Records are locked before the patient's row, in the order of their keys, as an edit takes them
    (its save locks the record, then its insights refresh locks her row): a void, a restore and an
    edit of hers at once wait for each other, and never deadlock. (select_for_update does nothing
    on SQLite, whose transactions take turns anyway.)
    """
    patients = Patient.all_objects.select_for_update(no_key=True)
    if not isinstance(record, Patient):
        record.refresh_from_db(from_queryset=type(record).all_objects.select_for_update(no_key=True))
        record.patient = patients.get(pk=record.patient_id)
        return []
    her_records = [
        *Delivery.all_objects.select_for_update(no_key=True).filter(patient=record).order_by("pk"),
        *FollowUp.all_objects.select_for_update(no_key=True).filter(patient=record).order_by("pk"),
    ]
    record.refresh_from_db(from_queryset=patients)
    return her_records


def _set(record, voided_by, voided_at, reason, void_id, change_reason, history_user=None):
    record.voided_at, record.voided_by, record.void_reason, record.void_id = voided_at, voided_by, reason, void_id
    record._change_reason = history_reason(change_reason)  # the whole reason is in void_reason
    record._history_user = history_user or voided_by
    record.save(update_fields=VOID_FIELDS)


def _set_in_bulk(records, user, voided_at, reason, void_id, change_reason):
    """A patient's records, one UPDATE per kind and their history in bulk (a patient may have many)."""
    for model in (Delivery, FollowUp):
        rows = [r for r in records if isinstance(r, model)]
        if not rows:
            continue
        for row in rows:
            row.voided_at, row.voided_by, row.void_reason = voided_at, (user if voided_at else None), reason
            row.void_id = void_id
        model.all_objects.bulk_update(rows, VOID_FIELDS)
        model.history.bulk_history_create(
            rows, update=True, default_user=user, default_change_reason=history_reason(change_reason)
        )
