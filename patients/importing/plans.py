"""What an import would do: a plan per sheet, its rows to write and its errors, before anything is written."""

from dataclasses import dataclass, field

from django.db import models

from patients.models import Delivery, FollowUp, Patient

SHEET_ORDER = ["patients", "deliveries", "followups"]
SHEET_MODELS = {"patients": Patient, "deliveries": Delivery, "followups": FollowUp}
# The second part of each record's natural key (the first is always patient_id).
RECORD_KEY = {"deliveries": "date_of_delivery", "followups": "visit_number"}
# SQLite allows 32,766 parameters per statement; keep IN lists well below.
LOOKUP_CHUNK = 5000


def in_chunks(queryset, lookup, values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield from queryset.filter(**{f"{lookup}__in": values[start : start + LOOKUP_CHUNK]})


class ImportFileError(Exception):
    """The file cannot be imported at all (not a workbook, no known sheet, a missing column)."""


class ImportRefused(Exception):
    """apply_import was asked to write a plan with invalid rows, without skip_invalid."""


@dataclass(frozen=True)
class RowError:
    sheet: str  # the sheet's title as typed in the workbook
    row: int  # the row number as Excel shows it
    column: str  # the header as typed, or the field name
    value: object
    reason: str
    field: str = ""  # the model field, where the error is about one


@dataclass
class RowPlan:
    """One row to write. Patients and updated rows keep their model instance; a new delivery or
    follow-up keeps only its values (a million model instances would not fit in memory)."""

    row: int
    key: tuple
    instance: models.Model | None = None
    values: tuple | None = None  # (patient, *values of SheetPlan.record_fields), for new records
    changes: dict = field(default_factory=dict)  # field -> (old, new), for updated rows


@dataclass
class SheetPlan:
    kind: str
    title: str
    columns: dict  # field -> header as typed
    ignored_columns: list
    new: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unchanged: int = 0
    invalid_rows: dict = field(default_factory=dict)  # row -> raw values (for the errors workbook)
    errors: list = field(default_factory=list)
    record_fields: list = field(default_factory=list)  # the attnames in RowPlan.values, after the patient

    def counts(self):
        return {
            "new": len(self.new),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "invalid": len(self.invalid_rows),
        }

    def shown(self, row, column):
        """A column's value on a planned row, as the workbook had it (for previews)."""
        if row.values is not None:
            if column == "patient_id":
                return row.values[0].patient_id
            value = row.values[1 + self.record_fields.index(column)]
        elif column == "patient_id" and self.kind != "patients":
            return row.instance.patient.patient_id  # on a delivery, patient_id is the foreign key
        else:
            value = getattr(row.instance, column)
        return "" if value is None else value


@dataclass(frozen=True)
class PossibleDuplicate:
    """A new patient who may be someone already known under another patient_id: a flag, not an error."""

    row: int
    patient_id: str
    name: str
    other_patient_id: str
    other_row: int | None  # the other's row in this workbook, or None when she is in the database
    reason: str


@dataclass
class Unmatched:
    """A value of a coded column (delivery type, term, district) that names nothing known: one per
    spelling, with every row that has it and the nearest known values, for a person to map."""

    column: str  # the field: type_of_delivery, term_of_delivery or district
    key: str  # the spelling as values are compared (vocabulary.alias_key)
    typed: str  # the spelling as first typed
    rows: list = field(default_factory=list)  # (sheet title, row number)
    suggestions: list = field(default_factory=list)  # vocabulary.Suggestion, best first


@dataclass
class ErrorGroup:
    """Rows with the same problem: one sheet, one column, one reason."""

    sheet: str
    column: str
    reason: str
    errors: list = field(default_factory=list)  # RowError, in row order

    @property
    def rows(self):
        return [error.row for error in self.errors]


# Row numbers shown in a group's line ("rows 4, 9, 12 and 219 more"); all are a click away.
GROUP_ROWS_SHOWN = 10


@dataclass
class ImportPlan:
    file_name: str
    file_sha256: str
    sheets: dict = field(default_factory=dict)  # kind -> SheetPlan
    ignored_sheets: list = field(default_factory=list)
    new_districts: list = field(default_factory=list)  # names, as they will be created
    possible_duplicates: list = field(default_factory=list)
    unmatched: dict = field(default_factory=dict)  # (column, key) -> Unmatched
    mappings: object = None  # mapping.Mappings: saved as aliases when the plan is written

    @property
    def errors(self):
        return [error for sheet in self.sheets.values() for error in sheet.errors]

    def error_groups(self):
        """The errors grouped by sheet, column and reason, in the order they first occur."""
        groups = {}
        for error in self.errors:
            key = (error.sheet, error.column, error.reason)
            if key not in groups:
                groups[key] = ErrorGroup(*key)
            groups[key].errors.append(error)
        return list(groups.values())

    @property
    def invalid_count(self):
        return sum(len(sheet.invalid_rows) for sheet in self.sheets.values())

    @property
    def changes_count(self):
        return sum(len(sheet.new) + len(sheet.updated) for sheet in self.sheets.values())

    def counts(self):
        return {kind: sheet.counts() for kind, sheet in self.sheets.items()}
