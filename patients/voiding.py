"""
Voiding and restoring records: staff never delete a patient, delivery or follow-up.

A voided record keeps its row, its identifier (a patient_id, a delivery's date, a visit number stay
taken) and its history; it records who voided it, when and why, and leaves every page, export, API
answer and insight. Voiding a patient voids her deliveries and follow-ups with her, at the same
moment and for the same reason; restoring her restores those and only those (not records voided
on their own before her). A delivery or follow-up of a voided patient is restored with her.

Both run in one transaction, and refresh the insights through the records' own signals.
"""

from django.db import transaction
from django.utils import timezone

from patients.models import Delivery, FollowUp, Patient, history_reason

MAX_REASON = Patient._meta.get_field("void_reason").max_length


class VoidRefused(Exception):
    """Why a record cannot be voided or restored, in words for the user."""


def void(record, user, reason):
    """Void a patient (and her records still in use) or one delivery or follow-up."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise VoidRefused("Say why the record is voided.")
    if len(reason) > MAX_REASON:
        raise VoidRefused(f"The reason is {len(reason)} characters long; keep it within {MAX_REASON}.")
    if record.is_voided:
        raise VoidRefused(f"{record} is already voided.")
    now = timezone.now()
    with transaction.atomic():
        if isinstance(record, Patient):
            _set_in_bulk(_her_records(record, voided_at=None), user, now, reason, f"Voided with the patient: {reason}")
        _set(record, user, now, reason, f"Voided: {reason}")


def restore(record, user):
    """Restore a voided record (a patient with the records voided with her)."""
    if not record.is_voided:
        raise VoidRefused(f"{record} is not voided.")
    if not isinstance(record, Patient) and record.patient.is_voided:
        raise VoidRefused(f"{record.patient.patient_id} is voided: restore the patient, and her records with her.")
    with transaction.atomic():
        if isinstance(record, Patient):
            _set_in_bulk(_her_records(record, voided_at=record.voided_at), user, None, "", "Restored with the patient")
        _set(record, None, None, "", "Restored", history_user=user)


def _her_records(patient, voided_at):
    return [
        *Delivery.all_objects.filter(patient=patient, voided_at=voided_at),
        *FollowUp.all_objects.filter(patient=patient, voided_at=voided_at),
    ]


def _set(record, voided_by, voided_at, reason, change_reason, history_user=None):
    record.voided_at, record.voided_by, record.void_reason = voided_at, voided_by, reason
    record._change_reason = history_reason(change_reason)  # the whole reason is in void_reason
    record._history_user = history_user or voided_by
    # save() sends post_save: the stored facts and the insights cache hear it.
    record.save(update_fields=["voided_at", "voided_by", "void_reason"])


def _set_in_bulk(records, user, voided_at, reason, change_reason):
    """A patient's records, one UPDATE per kind and their history in bulk (a patient may have many)."""
    for model in (Delivery, FollowUp):
        rows = [r for r in records if isinstance(r, model)]
        if not rows:
            continue
        for row in rows:
            row.voided_at, row.voided_by, row.void_reason = voided_at, (user if voided_at else None), reason
        model.all_objects.bulk_update(rows, ["voided_at", "voided_by", "void_reason"])
        model.history.bulk_history_create(
            rows, update=True, default_user=user, default_change_reason=history_reason(change_reason)
        )
    # No records_changed here: the patient's own save, which always follows in the same
    # transaction, refreshes her stored facts (these records included) and the insights cache.
