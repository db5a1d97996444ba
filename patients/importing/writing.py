"""Writing a plan: in one transaction, as one ImportBatch, in turn with other imports; and the
invalid rows as a workbook to fix and import again."""

import datetime
from contextlib import contextmanager

from django.db import IntegrityError, connection, transaction
from openpyxl import Workbook

from patients.bulk import insert_instances, insert_values
from patients.importing.mapping import save_alias
from patients.importing.plans import LOOKUP_CHUNK, SHEET_MODELS, SHEET_ORDER, ImportRefused, in_chunks
from patients.models import District, ImportBatch, Patient, history_reason
from patients.workbook import text_cells
from patients.writes import records_written

# --- Writing ------------------------------------------------------------------------------------------


# The key of the PostgreSQL advisory lock imports take turns on (any number no other lock uses).
IMPORT_LOCK_KEY = 7_100_401


@contextmanager
def import_turn():
    """A transaction in which one import plans and writes while no other import can.

    Two imports of overlapping workbooks at once would each plan against records without the
    other's rows, and the second to write would fail on a unique key (or, for a changed value,
    overwrite the first). Taking turns, the second waits, then plans against what the first wrote:
    the result is the same as running them one after the other. On PostgreSQL the turn is a
    transaction-level advisory lock; on SQLite every transaction begins IMMEDIATE (settings), which
    already lets one in at a time.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
        yield


def apply_import(plan, *, user=None, source=ImportBatch.Source.COMMAND, skip_invalid=False):
    """Write a plan in one transaction and record it as one ImportBatch.

    With invalid rows and skip_invalid False, raises ImportRefused and writes nothing. A plan that
    changes nothing is not recorded (returns None). Rows it updates keep their previous values in
    their history ("before import #N").
    """
    if plan.invalid_count and not skip_invalid:
        raise ImportRefused(
            f"{plan.invalid_count} rows are invalid; nothing was imported. Fix them, or choose to skip them."
        )
    if not plan.changes_count:
        return None
    try:
        return _write_plan(plan, user, source, skip_invalid)
    except IntegrityError as clash:
        # A record with one of the plan's keys was written by someone else (a form, the API) after
        # the plan was made: the import is refused whole, and planning again will see that record.
        raise ImportRefused(
            "Nothing was imported: a record this workbook adds was recorded by someone else while the import "
            f"was being checked ({str(clash).splitlines()[0][:200]}). Import the workbook again."
        ) from None


def _write_plan(plan, user, source, skip_invalid):
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            imported_by=user if user and user.is_authenticated else None,
            source=source,
            file_name=plan.file_name[:255],
            file_sha256=plan.file_sha256,
            skipped_invalid=bool(skip_invalid and plan.invalid_count),
            counts=plan.counts(),
        )
        created = {name.lower(): District.objects.get_or_create_by_name(name) for name in plan.new_districts}
        for column, spelling, meaning in plan.mappings.to_save() if plan.mappings else ():
            save_alias(column, spelling, meaning, batch.imported_by)
        if "patients" in plan.sheets:
            for row in plan.sheets["patients"].new + plan.sheets["patients"].updated:
                if row.instance.district.pk is None:
                    row.instance.district = created[row.instance.district.name.lower()]
        written = set()
        for kind in SHEET_ORDER:
            if kind in plan.sheets:
                written |= _write_sheet(plan.sheets[kind], batch, user)
        records_written(written)
    return batch


def _write_sheet(sheet, batch, user):
    """Write a sheet's new and updated rows; the primary keys of the patients they belong to."""
    model = SHEET_MODELS[sheet.kind]
    if sheet.kind == "patients":
        new = [row.instance for row in sheet.new]
        for patient in new:
            patient.import_batch = batch
        insert_instances(Patient, new)
        # The deliveries and follow-ups to come need the new patients' primary keys.
        by_id = {patient.patient_id: patient for patient in new}
        for patient_id, pk in in_chunks(Patient.all_objects.values_list("patient_id", "pk"), "patient_id", by_id):
            by_id[patient_id].pk = pk
        written = {patient.pk for patient in new} | {row.instance.pk for row in sheet.updated}
    else:
        # A patient created by this import has her primary key now.
        rows = [(row.values[0].pk, *row.values[1:], batch.pk) for row in sheet.new]
        insert_values(model, ["patient_id", *sheet.record_fields, "import_batch_id"], rows)
        written = {row[0] for row in rows} | {row.instance.patient_id for row in sheet.updated}

    if not sheet.updated:
        return written
    reason = f"import #{batch.pk} ({batch.file_name})"
    fields = sorted({name for row in sheet.updated for name in row.changes} | {"import_batch"})
    # In chunks, so that a large update keeps a few thousand rows and their history in memory.
    for start in range(0, len(sheet.updated), LOOKUP_CHUNK):
        updated = [row.instance for row in sheet.updated[start : start + LOOKUP_CHUNK]]
        previous = list(model.all_objects.filter(pk__in=[instance.pk for instance in updated]))
        model.history.bulk_history_create(
            previous, update=True, default_user=user, default_change_reason=history_reason(f"Values before {reason}")
        )
        for instance in updated:
            instance.import_batch = batch
        model.all_objects.bulk_update(updated, fields, batch_size=500)
        model.history.bulk_history_create(
            updated, update=True, default_user=user, default_change_reason=history_reason(reason)
        )
    return written


def write_error_workbook(plan, target):
    """The invalid rows of each sheet, with their original headers and a reason column, as xlsx.

    Fixed in a spreadsheet, the file can be imported again as it is.
    """
    workbook = Workbook(write_only=True)
    for sheet in plan.sheets.values():
        if not sheet.invalid_rows:
            continue
        reasons = {}
        for error in sheet.errors:
            reasons.setdefault(error.row, []).append(f"{error.column}: {error.reason}")
        out = workbook.create_sheet(sheet.title)
        columns = list(sheet.columns)
        out.append(text_cells(out, ["source row", *(sheet.columns[name] for name in columns), "reason"]))
        for number, raw in sorted(sheet.invalid_rows.items()):
            values = [_cell(raw.get(name, "")) for name in columns]
            out.append(text_cells(out, [number, *values, "; ".join(reasons.get(number, []))]))
    if not workbook.worksheets:
        workbook.create_sheet("no errors")
    workbook.save(target)


def _cell(value):
    return value if isinstance(value, (int, float, datetime.date, datetime.datetime)) else str(value)
