"""
FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html): every patient's resources as
NDJSON, one file per resource type, written as the file is downloaded. A thousand patients at a
time, with their deliveries and follow-ups, by primary key: memory stays flat in the number of
patients, and no query or transaction stays open between two rounds.
"""

import datetime

from rest_framework.utils.encoders import JSONEncoder

from patients.fhir import resources
from patients.models import Delivery, FollowUp, Patient, RecordsWritten

NDJSON = "application/fhir+ndjson"
# The _outputFormat values the Bulk Data spec asks a server to take: all mean NDJSON.
OUTPUT_FORMATS = (NDJSON, "application/ndjson", "ndjson")
# The resource types an export writes, in this order when it asks for all of them.
RESOURCE_TYPES = ("Patient", *resources.RECORDS_READ)
# Patients per round of queries (each round reads them, then their deliveries and follow-ups).
PATIENTS_PER_ROUND = 1000
# An export `_since` a moment reads the patients written from this long before it: a write notes
# its time (RecordsWritten) just before it commits, so one still uncommitted at that moment is not
# missed. A client pulling each day gets the last minutes of the day before again (its upserts
# make them no matter).
SINCE_OVERLAP = datetime.timedelta(minutes=5)
# Lines are sent in pieces of about this many bytes: a write per line would cost a system call each.
PIECE_BYTES = 64 * 1024

_RECORD_MODELS = {"delivery": Delivery, "followup": FollowUp}
_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def ndjson_lines(resource_type, since=None):
    """Every resource of `resource_type` not voided, one JSON text and newline each, patient by
    patient (her resources in the order of $everything); with `since`, of the patients whose
    records were written since then (all her resources of the type: the record's own time is not
    kept)."""
    reads = resources.RECORDS_READ.get(resource_type, ())
    exported = Patient.objects.select_related("district").order_by("pk")
    if since is not None:
        written = RecordsWritten.objects.filter(written_at__gte=since - SINCE_OVERLAP)
        exported = exported.filter(pk__in=written.values("patient_id"))
    last_pk = 0
    while True:
        patients = list(exported.filter(pk__gt=last_pk)[:PATIENTS_PER_ROUND])
        if not patients:
            return
        last_pk = patients[-1].pk
        records = {
            name: _by_patient(model, patients) if name in reads else {} for name, model in _RECORD_MODELS.items()
        }
        for patient in patients:
            if resource_type == "Patient":
                built = [resources.patient(patient)]
            else:
                deliveries, followups = (records[name].get(patient.pk, ()) for name in _RECORD_MODELS)
                built = resources.record_resources(patient, deliveries, followups, {resource_type})
            for resource in built:
                yield _encoder.encode(resource) + "\n"


def _by_patient(model, patients):
    """{patient pk: her records of `model`, in RECORD_ORDER} for these patients (one query)."""
    grouped = {}
    order = resources.RECORD_ORDER[model._meta.model_name]
    for row in model.objects.filter(patient_id__in=[patient.pk for patient in patients]).order_by("patient_id", *order):
        grouped.setdefault(row.patient_id, []).append(row)
    return grouped


def in_pieces(lines):
    """The lines joined into pieces of about PIECE_BYTES, for the response to send. Closed early
    (the client went away), it closes `lines` too."""
    piece, size = [], 0
    try:
        for line in lines:
            piece.append(line)
            size += len(line)
            if size >= PIECE_BYTES:
                yield "".join(piece)
                piece, size = [], 0
        if piece:
            yield "".join(piece)
    finally:
        lines.close()
