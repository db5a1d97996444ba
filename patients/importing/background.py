"""
An upload from the admin, checked and written: in the request for a small file, by the background
worker for a large one (`manage.py db_worker`, django-tasks' database backend), with the same code.

    check(upload)   read and check the workbook; keep the preview (`preview_data`) and the errors workbook
    write(upload)   plan again and write, in its turn, in one transaction (as the command does)

The worker reports its progress on the ImportUpload row as it reads rows, and touches a heartbeat
file beside the upload every few seconds (a file, not a row: while the import's transaction holds
SQLite's write lock no other connection can write a row). A worker killed mid-import commits
nothing (its transaction is never committed); the page sees the heartbeat stop, says so, and
offers to run it again.
"""

import math
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_tasks import task

from patients import vocabulary
from patients.importing.mapping import NEW_DISTRICT, Mappings
from patients.importing.planning import plan_import
from patients.importing.plans import GROUP_ROWS_SHOWN, ImportFileError, ImportRefused
from patients.importing.writing import apply_import, import_turn, write_error_workbook
from patients.models import ImportBatch, ImportUpload, ValueAlias

# What the preview keeps of each group of errors (a million bad rows must not make a huge row).
GROUP_ROWS_KEPT = 10_000
NEW_ROWS_SHOWN = 10
PROGRESS_EVERY_ROWS = 2_000
HEARTBEAT_SECONDS = 5


def upload_path(token):
    return Path(settings.IMPORT_UPLOAD_DIR) / token


def errors_path(token):
    return Path(settings.IMPORT_UPLOAD_DIR) / f"{token}.errors.xlsx"


def heartbeat_path(token):
    return Path(settings.IMPORT_UPLOAD_DIR) / f"{token}.alive"


def mappings_of(upload):
    """The districts confirmed as new in this upload's preview (mappings to known values are saved
    aliases, which every plan reads)."""
    mappings = Mappings()
    for name in upload.new_districts:
        mappings.add(ValueAlias.Column.DISTRICT, name, NEW_DISTRICT)
    return mappings


# --- The tasks the worker runs -----------------------------------------------------------------


@task()
def check_in_background(upload_id):
    with _heartbeat(upload_id) as upload:
        check(upload)


@task()
def write_in_background(upload_id):
    with _heartbeat(upload_id) as upload:
        write(upload)


def stalled(upload):
    """True when a background upload is waiting on a worker that has not reported for
    IMPORT_WORKER_SILENT_SECONDS: killed, or never started."""
    if not upload.background or upload.state not in (ImportUpload.State.CHECKING, ImportUpload.State.WRITING):
        return False
    beat = heartbeat_path(upload.token)
    last = beat.stat().st_mtime if beat.exists() else (upload.heartbeat or upload.uploaded_at).timestamp()
    return time.time() - last > settings.IMPORT_WORKER_SILENT_SECONDS


# --- Checking and writing ------------------------------------------------------------------------


def check(upload):
    """Read and check the upload, writing no records: keep its preview and its errors workbook."""
    _report(upload, state=ImportUpload.State.CHECKING, phase="Opening the workbook", rows_done=0, rows_total=0)
    try:
        plan = plan_import(
            upload_path(upload.token),
            file_name=upload.file_name,
            progress=_Progress(upload),
            mappings=mappings_of(upload),
        )
    except ImportFileError as error:
        _report(upload, state=ImportUpload.State.FAILED, phase="", outcome=f"{upload.file_name}: {error}")
        return None
    if plan.invalid_count:
        write_error_workbook(plan, errors_path(upload.token))
    else:
        errors_path(upload.token).unlink(missing_ok=True)
    preview = _storable(preview_data(plan))
    _report(upload, state=ImportUpload.State.CHECKED, phase="", outcome="", preview=preview)
    return plan


def write(upload):
    """Plan again and write, in this import's turn (an import written meanwhile is seen, not
    doubled). Refused (invalid rows without skip_invalid, a clash): back to the preview, checked
    again, with why."""
    phase = "Checking again and writing, in one transaction"
    _report(upload, state=ImportUpload.State.WRITING, phase=phase, rows_done=0, rows_total=0)
    try:
        with import_turn():
            plan = plan_import(upload_path(upload.token), file_name=upload.file_name, mappings=mappings_of(upload))
            batch = apply_import(
                plan, user=upload.uploaded_by, source=ImportBatch.Source.ADMIN, skip_invalid=upload.skip_invalid
            )
    except (ImportFileError, ImportRefused) as refused:
        check(upload)
        _report(upload, outcome=str(refused))
        return None
    if batch is None:
        outcome = f"Nothing to import from {upload.file_name}: every row is already in the records."
    else:
        outcome = f"Imported {upload.file_name} as import #{batch.pk}: {summary(plan)}."
    _report(upload, state=ImportUpload.State.DONE, phase="", outcome=outcome, batch=batch)
    for path in (upload_path(upload.token), errors_path(upload.token)):
        path.unlink(missing_ok=True)
    return batch


def summary(plan):
    return "; ".join(
        f"{kind} {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged"
        + (f", {c['invalid']} skipped" if c["invalid"] else "")
        for kind, c in plan.counts().items()
    )


def preview_data(plan):
    """What the preview page shows of a plan, as JSON: counts, values to map, errors by kind (with
    their rows, up to GROUP_ROWS_KEPT each), possible duplicates, the first new and updated rows."""
    groups = plan.error_groups()
    return {
        "file_name": plan.file_name,
        "file_sha256": plan.file_sha256,
        "changes": plan.changes_count,
        "invalid": plan.invalid_count,
        "errors": sum(len(group.errors) for group in groups),
        "new_districts": plan.new_districts,
        "ignored_sheets": plan.ignored_sheets,
        "sheets": [_sheet_data(sheet) for sheet in plan.sheets.values()],
        "unmatched": [
            {
                "column": u.column,
                "typed": u.typed,
                "rows": len(u.rows),
                "first_rows": [row for _, row in u.rows[:GROUP_ROWS_SHOWN]],
                "suggestions": [[s.value, s.label] for s in u.suggestions],
            }
            for u in plan.unmatched.values()
        ],  # fmt: skip
        "error_groups": [
            {
                "sheet": g.sheet,
                "column": g.column,
                "reason": g.reason,
                "count": len(g.errors),
                "rows": [[e.row, _text(e.value)] for e in g.errors[:GROUP_ROWS_KEPT]],
            }
            for g in groups
        ],  # fmt: skip
        "duplicates": [
            {
                "row": d.row,
                "patient_id": d.patient_id,
                "name": d.name,
                "other_patient_id": d.other_patient_id,
                "other_row": d.other_row,
                "reason": d.reason,
            }
            for d in plan.possible_duplicates[: settings.IMPORT_MAX_DUPLICATES_SHOWN]
        ],  # fmt: skip
        "duplicates_count": len(plan.possible_duplicates),
        "duplicates_more": max(0, len(plan.possible_duplicates) - settings.IMPORT_MAX_DUPLICATES_SHOWN),
    }


def _sheet_data(sheet):
    columns = list(sheet.columns)
    return {
        "kind": sheet.kind,
        "title": sheet.title,
        "counts": sheet.counts(),
        "ignored_columns": sheet.ignored_columns,
        "columns": columns,
        "new": [
            [row.row, [_words(name, sheet.shown(row, name)) for name in columns]] for row in sheet.new[:NEW_ROWS_SHOWN]
        ],
        "updated": [
            [
                row.row,
                list(row.key),
                {name: [_words(name, old), _words(name, new)] for name, (old, new) in row.changes.items()},
            ]
            for row in sheet.updated[:NEW_ROWS_SHOWN]
        ],
    }


def _words(column, value):
    """A value as the preview shows it: a delivery type or term in the app's words."""
    coded = vocabulary.CODED_COLUMNS.get(column)
    return coded.label(value) if coded is not None and value else _text(value)


def _text(value):
    """A cell's value as JSON keeps it: numbers and text as they are, anything else (a date, a NaN
    or an infinity, which JSON cannot hold) as its text."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)


def _storable(data):
    """`data` with every text storable in a JSON column: NUL (which PostgreSQL's jsonb refuses) and
    lone surrogates (which neither database accepts) written as visible escapes."""
    if isinstance(data, str):
        return data.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(data, dict):
        return {key: _storable(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_storable(value) for value in data]
    return data


# --- Progress ----------------------------------------------------------------------------------------


class _Progress:
    """plan_import's `progress`: counts a sheet's rows onto the upload's row, now and then."""

    def __init__(self, upload):
        self.upload = upload
        self.sheet = 0

    def __call__(self, kind, rows, total):
        self.sheet += 1
        phase = f"Checking {kind} (sheet {self.sheet})"
        _report(self.upload, phase=phase, rows_done=0, rows_total=total)
        for done, row in enumerate(rows, start=1):
            if done % PROGRESS_EVERY_ROWS == 0:
                _report(self.upload, rows_done=done)
            yield row
        _report(self.upload, rows_done=total)


def _report(upload, **values):
    """Save what changed on the upload's row at once (outside any import transaction)."""
    for name, value in values.items():
        setattr(upload, name, value)
    upload.heartbeat = timezone.now()
    ImportUpload.objects.filter(pk=upload.pk).update(heartbeat=upload.heartbeat, **values)


class _heartbeat:
    """A task's upload, with its heartbeat file touched every HEARTBEAT_SECONDS while the task runs,
    and an unexpected error recorded on it (the worker records the traceback)."""

    def __init__(self, upload_id):
        self.upload = ImportUpload.objects.get(pk=upload_id)
        self.path = heartbeat_path(self.upload.token)
        self.stop = threading.Event()

    def __enter__(self):
        self.path.touch()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()
        return self.upload

    def _beat(self):
        while not self.stop.wait(HEARTBEAT_SECONDS):
            self.path.touch()

    def __exit__(self, kind, error, traceback):
        self.stop.set()
        self.thread.join()
        self.path.unlink(missing_ok=True)
        if error is not None:
            outcome = f"The import stopped on an error and wrote nothing ({kind.__name__}: {error})."
            _report(self.upload, state=ImportUpload.State.FAILED, phase="", outcome=outcome[:2000])
        close_old_connections()
