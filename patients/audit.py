"""
The access audit: every view of a patient's record (staff page, API, admin) and every export of
records is logged as one AccessLog row, in the request's transaction. The change history
(django-simple-history) says who changed what; this says who saw what.
"""

from axes.helpers import get_client_ip_address

from patients.models import AccessKind, AccessLog


def log_view(request, patient, what):
    """`request.user` saw `patient`'s record through `what` (e.g. "record page")."""
    _log(request, AccessKind.VIEW, what, patient=patient)


def log_views(request, patients, what):
    """`request.user` saw each of `patients` (e.g. in a search's answer): one row each, one INSERT."""
    rows = [_row(request, AccessKind.VIEW, what, patient=patient) for patient in patients]
    AccessLog.objects.bulk_create(rows)


def log_export(request, what, rows=None, patient=None):
    """`request.user` (or a command, when request is None) exported `rows` records through `what`;
    the AccessLog row."""
    return _log(request, AccessKind.EXPORT, what, rows=rows, patient=patient)


def _log(request, kind, what, patient=None, rows=None):
    row = _row(request, kind, what, patient=patient, rows=rows)
    row.save()
    return row


def _row(request, kind, what, patient=None, rows=None):
    user = getattr(request, "user", None)
    user = user if user is not None and user.is_authenticated else None
    return AccessLog(
        user=user,
        username=user.get_username() if user else "",
        kind=kind,
        patient=patient,
        patient_ref=patient.patient_id if patient else "",
        what=what[:255],
        rows=rows,
        path=request.get_full_path()[:500] if request is not None else "",
        # The client's address as the login throttling sees it (behind a proxy too, when configured).
        ip_address=(get_client_ip_address(request) or None) if request is not None else None,
    )
