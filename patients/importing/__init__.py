"""
Workbook import: read a workbook, check every row, show what would change, then write it whole.

One code path for the admin's upload and `manage.py import_workbook`:

    plan = plan_import(path_or_file, file_name="register.xlsx")   # reads, checks, compares
    plan.counts(), plan.errors                                     # what a preview shows
    batch = apply_import(plan, user=..., source=..., skip_invalid=False)  # writes, in one transaction

Rows are matched on natural keys: patients by patient_id, deliveries by (patient_id,
date_of_delivery), follow-ups by (patient_id, visit_number), so importing a workbook twice
changes nothing the second time. Every row is checked with the models' own field validators and
`clean()` (the rules of the database constraints, with friendly messages); the database's
constraints remain the last guard. Validation runs in Python without a query per row, and rows
are written with bulk_create, which keeps 100,000 rows to seconds.

The package, in the order an import runs:

    reading.py     open the workbook (after patients/workbook_guard.py), match headers, read cells
    checking.py    check each cell as Model.clean_fields() does, once per distinct cell of a column
    mapping.py     what a person said unknown values mean (--map, the preview's mappings)
    planning.py    check each row with the models' rules, compare it with the database
    duplicates.py  new patients who may be someone already known (a flag, not an error)
    writing.py     write a plan whole, in turn with other imports; the errors workbook
    background.py  the admin's uploads, checked and written in the request or by the worker
    plans.py       the shapes a plan is made of (ImportPlan, SheetPlan, RowPlan, RowError)
"""

from patients.importing.planning import DISTRICT_NAME_LENGTH, plan_import
from patients.importing.plans import ImportFileError, ImportPlan, ImportRefused, RowError
from patients.importing.reading import parse_text, parser_for
from patients.importing.writing import apply_import, import_turn, write_error_workbook

__all__ = [
    "DISTRICT_NAME_LENGTH",
    "ImportFileError",
    "ImportPlan",
    "ImportRefused",
    "RowError",
    "apply_import",
    "import_turn",
    "parse_text",
    "parser_for",
    "plan_import",
    "write_error_workbook",
]
