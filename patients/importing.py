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
"""

import datetime
import decimal
import hashlib
import re
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from openpyxl import Workbook
from python_calamine import CalamineError, CalamineWorkbook

from patients import clinical
from patients.bulk import insert_instances, insert_values
from patients.models import (
    Delivery,
    District,
    FollowUp,
    ImportBatch,
    Patient,
    history_reason,
    normalise_district_name,
    patient_id_key,
)
from patients.signals import records_changed
from patients.text import strip_control_characters
from patients.workbook import (
    IGNORED_COLUMNS,
    REQUIRED_COLUMNS,
    column_lookup,
    header_key,
    sheet_kind,
    text_cells,
)
from patients.workbook_guard import WorkbookRefused, check_workbook

SHEET_ORDER = ["patients", "deliveries", "followups"]
SHEET_MODELS = {"patients": Patient, "deliveries": Delivery, "followups": FollowUp}
# The second part of each record's natural key (the first is always patient_id).
RECORD_KEY = {"deliveries": "date_of_delivery", "followups": "visit_number"}
# SQLite allows 32,766 parameters per statement; keep IN lists well below.
LOOKUP_CHUNK = 5000
BLANKS = {"", "-", "--", "na", "n/a", "nil", "none", "null", "not done", "nd"}
ACCEPTED_DELIVERY_TYPES = "normal (NVD, SVD), assisted (vacuum, forceps), c_section (LSCS, C/S, CS, Caesarean)"


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
class ImportPlan:
    file_name: str
    file_sha256: str
    sheets: dict = field(default_factory=dict)  # kind -> SheetPlan
    ignored_sheets: list = field(default_factory=list)
    new_districts: list = field(default_factory=list)
    possible_duplicates: list = field(default_factory=list)

    @property
    def errors(self):
        return [error for sheet in self.sheets.values() for error in sheet.errors]

    @property
    def invalid_count(self):
        return sum(len(sheet.invalid_rows) for sheet in self.sheets.values())

    @property
    def changes_count(self):
        return sum(len(sheet.new) + len(sheet.updated) for sheet in self.sheets.values())

    def counts(self):
        return {kind: sheet.counts() for kind, sheet in self.sheets.items()}


# --- Reading cells ------------------------------------------------------------------------------


def _is_blank(value):
    return value is None or (isinstance(value, str) and value.strip().lower() in BLANKS)


def parse_text(value):
    if value is None:
        return ""
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        raise ValueError("a date or time, where text was expected")
    # Control characters (pasted from other systems) are never meant: dropped, not refused.
    return strip_control_characters(str(value)).strip()


def parse_number(value):
    if _is_blank(value):
        return None
    if isinstance(value, (bool, datetime.date, datetime.time, datetime.timedelta)):
        raise ValueError("not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # a decimal comma
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not a number")
    return number


def parse_integer(value):
    number = parse_number(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError("not a whole number")
    return int(number)


def parse_decimal(value):
    number = parse_number(value)
    return None if number is None else decimal.Decimal(str(round(number, 2)))


_TEXT_DATE_FORMATS = {
    "DMY": ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"],
    "MDY": ["%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y"],
}
_NAMED_MONTH_FORMATS = ["%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y"]


def parse_date(value):
    """A real Excel date, an ISO date, or a text date in the configured order (12/03/2023 is 12 March)."""
    if _is_blank(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, (int, float)):
        raise ValueError("a number, not a date: format the cell as a date or type it as 2023-03-12")
    text = str(value).strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?", text)
    if iso:
        try:
            return datetime.date(*map(int, iso.groups()))
        except ValueError:
            raise ValueError("not a real date") from None
    order = settings.IMPORT_DATE_ORDER
    for date_format in _TEXT_DATE_FORMATS[order] + _NAMED_MONTH_FORMATS:
        try:
            return datetime.datetime.strptime(text, date_format).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{1,4}", text):
        if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{1,2}", text):
            raise ValueError("write the year in full (e.g. 12/03/2023)")
        raise ValueError(f"not a real date (read as {'day/month/year' if order == 'DMY' else 'month/day/year'})")
    raise ValueError("not a date (use 2023-03-12 or 12/03/2023)")


def parse_delivery_type(value):
    if _is_blank(value):
        return ""
    code = clinical.delivery_type_code(parse_text(value))
    if code is None:
        raise ValueError(f"unknown delivery type; accepted: {ACCEPTED_DELIVERY_TYPES}")
    return code


def parse_term(value):
    if _is_blank(value):
        return ""
    code = clinical.delivery_term_code(parse_text(value))
    if code is None:
        raise ValueError("unknown term; accepted: term, preterm, post-term")
    return code


def parser_for(model, name):
    """The function that reads a workbook cell for a model field (raises ValueError with the reason)."""
    if name in ("district", "patient_id"):
        return parse_text
    if name == "type_of_delivery":
        return parse_delivery_type
    if name == "term_of_delivery":
        return parse_term
    model_field = model._meta.get_field(name)
    if isinstance(model_field, models.DateField):
        return parse_date
    if isinstance(model_field, models.DecimalField):
        return parse_decimal
    if isinstance(model_field, models.IntegerField):
        return parse_integer
    if isinstance(model_field, models.FloatField):
        return parse_number
    return parse_text


# --- Reading the workbook -------------------------------------------------------------------------


def _whole(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _open_workbook(source):
    try:
        check_workbook(source)  # before the reader builds any grid: see patients/workbook_guard.py
    except WorkbookRefused as refused:
        raise ImportFileError(str(refused)) from None
    try:
        if hasattr(source, "read"):
            source.seek(0)
            return CalamineWorkbook.from_filelike(source)
        return CalamineWorkbook.from_path(str(source))
    except (CalamineError, OSError, ValueError) as error:
        raise ImportFileError(
            "This file is not a workbook that can be read (xlsx or ods expected). "
            f"A CSV or PDF renamed to .xlsx will not do. ({error})"
        ) from None


def _checksum(source):
    digest = hashlib.sha256()
    if hasattr(source, "read"):
        source.seek(0)
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
        source.seek(0)
    else:
        with open(source, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _match_columns(kind, title, header):
    """Map the typed headers to fields; raise ImportFileError naming what is missing or doubled."""
    lookup = column_lookup(kind)
    columns, positions, ignored = {}, {}, []
    for position, typed in enumerate(header):
        typed_text = str(typed).strip()
        if not typed_text:
            continue
        key = header_key(typed_text)
        name = lookup.get(key)
        if name is None:
            if key not in IGNORED_COLUMNS.get(kind, ()):
                ignored.append(typed_text)
            continue
        if name in columns:
            raise ImportFileError(
                f"Sheet '{title}': columns '{columns[name]}' and '{typed_text}' both mean {name}; keep one."
            )
        columns[name], positions[name] = typed_text, position
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in columns]
    if missing:
        raise ImportFileError(
            f"Sheet '{title}' has no column {', '.join(missing)} (its header row is: "
            f"{', '.join(str(h) for h in header if str(h).strip()) or 'empty'})."
        )
    return columns, positions, ignored


def _read_sheet(workbook, title, kind):
    """The sheet's columns, a function yielding its non-blank rows as (row number, {field: raw value}),
    and a row count."""
    try:
        sheet = workbook.get_sheet_by_name(title)
    except CalamineError as error:  # the reader parses a sheet's XML only now
        raise ImportFileError(f"Sheet '{title}' cannot be read: {error}") from None
    rows = sheet.iter_rows()
    header, header_row = None, 0
    for number, cells in enumerate(rows, start=1):
        if any(str(cell).strip() for cell in cells):
            header, header_row = cells, number
            break
    if header is None:
        raise ImportFileError(f"Sheet '{title}' is empty.")
    columns, positions, ignored = _match_columns(kind, title, header)

    def records():
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            if number <= header_row:
                continue
            # Spreadsheets store every number as a float: 26.0 is shown, and reported, as 26.
            raw = {name: _whole(cells[i]) if i < len(cells) else "" for name, i in positions.items()}
            if all(value == "" or value is None for value in raw.values()):
                continue
            yield number, raw

    # A function, not a generator: a large sheet is read twice (keys first) rather than held in memory.
    return columns, ignored, records, max(sheet.total_height - header_row + 1, 0)


# --- Planning ---------------------------------------------------------------------------------------


def _no_progress(kind, records, total):
    return records


def plan_import(source, file_name=None, progress=_no_progress):
    """Read and check a workbook against the database, writing nothing.

    `source` is a path or a binary file. Raises ImportFileError when the file as a whole cannot be
    imported; row problems are collected in the plan's sheets. `progress(kind, rows, total)` may
    wrap each sheet's rows (the command shows a progress bar).
    """
    file_name = file_name or getattr(source, "name", None) or str(source)
    workbook = _open_workbook(source)
    plan = ImportPlan(file_name=str(file_name), file_sha256=_checksum(source))
    found = {}
    for title in workbook.sheet_names:
        kind = sheet_kind(title)
        if kind is None or kind in found:
            plan.ignored_sheets.append(title)
        else:
            found[kind] = title
    if not found:
        names = ", ".join(f"'{t}'" for t in workbook.sheet_names) or "none"
        raise ImportFileError(f"No sheet named patients, deliveries or followups (the sheets are: {names}).")

    sheets = {kind: (found[kind], *_read_sheet(workbook, found[kind], kind)) for kind in SHEET_ORDER if kind in found}
    planner = _Planner(plan)
    for kind, (title, columns, ignored, read_records, total) in sheets.items():
        sheet = SheetPlan(kind=kind, title=title, columns=columns, ignored_columns=ignored)
        plan.sheets[kind] = sheet
        if kind == "patients":
            planner.plan_patients(sheet, progress(kind, read_records(), total))
        else:
            planner.plan_records(sheet, read_records, lambda records: progress(kind, records, total))  # noqa: B023
    plan.possible_duplicates = _possible_duplicates(planner.workbook_patients, planner.patient_rows)
    return plan


class _Planner:
    """Checks rows and compares them with the database, remembering what later sheets need."""

    def __init__(self, plan):
        self.plan = plan
        self.districts = {d.name.lower(): d for d in District.objects.all()}
        # Keyed by patient_id_key(patient_id):
        self.workbook_patients = {}  # -> Patient (every valid row of the patients sheet)
        self.patient_rows = {}  # -> row number of her valid row
        self.invalid_patients = {}  # -> row number

    def _parse(self, sheet, parsers, number, raw):
        values, errors = {}, []
        for name, value in raw.items():
            try:
                values[name] = parsers[name](value)
            except ValueError as problem:
                errors.append(RowError(sheet.title, number, sheet.columns[name], value, str(problem), name))
        return values, errors

    def _validate(self, sheet, instance, number, raw, exclude, unreadable):
        """The model's field validators and clean(): the rules of its constraints, without queries.

        Foreign keys (`exclude`) are checked by the planner; values that could not be read
        (`unreadable`) are already reported, and clean()'s cross-field rules wait until they are.
        """
        errors = []
        try:
            _clean_fields(instance, [name for name in raw if name not in exclude and name not in unreadable])
            if not unreadable:
                instance.clean()
        except ValidationError as invalid:
            for name, messages in invalid.message_dict.items():
                column = sheet.columns.get(name, name)
                for message in messages:
                    errors.append(RowError(sheet.title, number, column, raw.get(name, ""), message))
        return errors

    def _reject(self, sheet, number, raw, errors):
        sheet.invalid_rows[number] = raw
        sheet.errors.extend(errors)

    @staticmethod
    def _classify(sheet, number, key, instance, changes, new_values=None):
        if new_values is not None:
            sheet.new.append(RowPlan(number, key, values=new_values))
        elif changes is None:
            sheet.new.append(RowPlan(number, key, instance=instance))
        elif changes:
            sheet.updated.append(RowPlan(number, key, instance=instance, changes=changes))
        else:
            sheet.unchanged += 1

    def plan_patients(self, sheet, records):
        records = list(records)
        ids = {_key_text(raw.get("patient_id")) for _, raw in records}
        known = _patients_by_id(Patient.all_objects.select_related("district"), ids)
        existing = {patient_id_key(p.patient_id): p for p in known}
        fields = [name for name in sheet.columns if name != "district"]
        parsers = {name: parser_for(Patient, name) for name in sheet.columns}
        seen = {}
        for number, raw in records:
            values, errors = self._parse(sheet, parsers, number, raw)
            patient_id = values.get("patient_id", "")
            if patient_id_key(patient_id) in seen:
                reason = f"duplicate: patient_id {patient_id} is also on row {seen[patient_id_key(patient_id)]}"
                errors.append(RowError(sheet.title, number, sheet.columns["patient_id"], patient_id, reason))
            seen.setdefault(patient_id_key(patient_id), number)
            old = existing.get(patient_id_key(patient_id))
            if old is not None and old.is_voided:
                errors.append(_voided_error(sheet, number, "patient_id", raw, old))
            instance = Patient(**_field_values(old, Patient)) if old else Patient()
            for name in fields:
                if name in values:
                    setattr(instance, name, values[name])
            if old is not None:
                instance.patient_id = old.patient_id  # "p0030" names P0030: her ID keeps its recorded spelling
            district_name = normalise_district_name(values.get("district", ""))
            if not district_name and "district" in values:
                errors.append(RowError(sheet.title, number, sheet.columns["district"], raw["district"],
                                       "a district is required"))  # fmt: skip
            elif len(district_name) > DISTRICT_NAME_LENGTH:
                reason = f"a district name of {len(district_name)} characters: at most {DISTRICT_NAME_LENGTH}"
                errors.append(RowError(sheet.title, number, sheet.columns["district"], raw["district"], reason))
            elif district_name:
                instance.district = self._district(district_name)
            exclude = ["id", "district", "import_batch"]
            errors += self._validate(sheet, instance, number, raw, exclude, unparsed(errors))
            if errors:
                self.invalid_patients[patient_id_key(patient_id)] = number
                self._reject(sheet, number, raw, errors)
                continue
            changes = None if old is None else _changes(sheet.columns, old, instance)
            self._classify(sheet, number, (instance.patient_id,), instance, changes)
            self.workbook_patients[patient_id_key(patient_id)] = instance
            self.patient_rows[patient_id_key(patient_id)] = number

    def _district(self, name):
        district = self.districts.get(name.lower())
        if district is None:
            district = District(name=name)
            self.districts[name.lower()] = district
            self.plan.new_districts.append(name)
        return district

    def plan_records(self, sheet, read_records, progress):
        """Deliveries or follow-ups: each row names its patient, in this workbook or the database.

        The sheet is read twice: once for the patient IDs, to look patients and their existing
        records up in bulk, then row by row.
        """
        model, key_field = SHEET_MODELS[sheet.kind], RECORD_KEY[sheet.kind]
        wanted = {_key_text(raw.get("patient_id")) for _, raw in read_records()}
        wanted = {patient_id for patient_id in wanted if patient_id_key(patient_id) not in self.workbook_patients}
        patients = {patient_id_key(p.patient_id): p for p in _patients_by_id(Patient.all_objects.all(), wanted)}
        patients.update(self.workbook_patients)
        known_pks = [p.pk for p in patients.values() if p.pk is not None]
        # Existing rows as plain dicts: far lighter than model instances, and a copy is made only to update.
        existing = {
            (record["patient_id"], record[key_field]): record
            for record in _in_chunks(model.all_objects.values(), "patient_id", known_pks)
        }
        fields = [name for name in sheet.columns if name != "patient_id"]
        sheet.record_fields = [f.attname for f in model._meta.concrete_fields if f.attname not in _NOT_WRITTEN]
        parsers = {name: parser_for(model, name) for name in sheet.columns}
        seen = {}
        for number, raw in progress(read_records()):
            values, errors = self._parse(sheet, parsers, number, raw)
            patient_id = values.get("patient_id", "")
            patient = patients.get(patient_id_key(patient_id))
            if patient is None or patient.is_voided:
                errors.append(_voided_error(sheet, number, "patient_id", raw, patient) if patient
                              else self._unknown_patient(sheet, number, raw, patient_id))  # fmt: skip
                self._reject(sheet, number, raw, errors)
                continue
            key = (patient.patient_id, values.get(key_field))
            if key in seen and key[1] is not None:
                reason = f"duplicate: {patient_id} has the same {key_field} on row {seen[key]}"
                errors.append(RowError(sheet.title, number, sheet.columns[key_field], raw.get(key_field), reason))
            seen.setdefault(key, number)
            old = existing.get((patient.pk, values.get(key_field))) if patient.pk else None
            instance = model(**old) if old else model()
            instance.patient = patient
            if instance.is_voided:
                errors.append(_voided_error(sheet, number, key_field, raw, instance))
            for name in fields:
                if name in values:
                    setattr(instance, name, values[name])
            exclude = ["id", "patient_id", "import_batch"]
            errors += self._validate(sheet, instance, number, raw, exclude, unparsed(errors))
            if errors:
                self._reject(sheet, number, raw, errors)
            elif old is None:
                new_values = (patient, *(getattr(instance, name) for name in sheet.record_fields))
                self._classify(sheet, number, key, None, None, new_values)
            else:
                self._classify(sheet, number, key, instance, _changes(fields, old, instance))

    def _unknown_patient(self, sheet, number, raw, patient_id):
        if patient_id_key(patient_id) in self.invalid_patients:
            row = self.invalid_patients[patient_id_key(patient_id)]
            reason = f"patient {patient_id} is not imported: her row {row} has errors"
        elif patient_id:
            reason = f"unknown patient {patient_id}: not in the patients sheet nor in the database"
        else:
            reason = "a patient_id is required"
        return RowError(sheet.title, number, sheet.columns["patient_id"], raw.get("patient_id"), reason)


def _voided_error(sheet, number, field, raw, record):
    """A row naming a voided record: the import neither revives nor duplicates it."""
    reason = (
        f"{record} was voided on {timezone.localtime(record.voided_at):%d %b %Y} ({record.void_reason}): "
        "an administrator can restore it, or leave this row out"
    )
    return RowError(sheet.title, number, sheet.columns.get(field, field), raw.get(field, ""), reason, field)


DISTRICT_NAME_LENGTH = District._meta.get_field("name").max_length

# Columns an import fills itself rather than from the sheet's values (voiding is not imported).
_NOT_WRITTEN = ("id", "patient_id", "import_batch_id", "voided_at", "voided_by_id", "void_reason")


def _changes(fields, old, instance):
    """field -> (old, new) for the sheet's fields whose value differs; `old` a row dict or instance."""
    changes = {}
    for name in fields:
        before = old[name] if isinstance(old, dict) else _comparable(old, name)
        after = _comparable(instance, name)
        if before != after:
            changes[name] = (before, after)
    return changes


def _possible_duplicates(workbook_patients, patient_rows):
    """New patients who may be someone already known under another patient_id, each flagged once.

    Another patient (in the workbook or the database) with her name and either her village, or her
    district and an age at first pregnancy within a year. Patients are indexed by name and village,
    and by name and district in order of age, so a workbook of 4,000 women of one name costs 4,000
    look-ups, not 16 million comparisons.
    """
    new = [p for p in workbook_patients.values() if p.pk is None and p.name]
    if not new:
        return []
    known = Patient.objects.annotate(lower_name=Lower("name")).select_related("district")
    others = [
        (patient, None)
        for patient in _in_chunks(known, "lower_name", {p.name.lower() for p in new})
        if patient_id_key(patient.patient_id) not in workbook_patients
    ]
    others += [(patient, patient_rows[key]) for key, patient in workbook_patients.items() if patient.name]
    by_village, by_district = {}, {}
    for order, (patient, row) in enumerate(others):
        name = patient.name.lower()
        if patient.village:
            same = by_village.setdefault((name, patient.village.lower()), [])
            if len(same) < 2:  # she may be one of them; one other is all a flag names
                same.append((patient, row))
        if patient.age_at_first_pregnancy is not None:
            entry = (patient.age_at_first_pregnancy, order, patient, row)
            by_district.setdefault((name, patient.district.name.lower()), []).append(entry)
    for ages in by_district.values():
        ages.sort(key=lambda entry: entry[:2])
    flagged = []
    for patient in new:
        found = _other_in(by_village.get((patient.name.lower(), (patient.village or "").lower()), []), patient)
        reason = "same name and village"
        if found is None and patient.age_at_first_pregnancy is not None:
            ages = by_district.get((patient.name.lower(), patient.district.name.lower()), [])
            age = patient.age_at_first_pregnancy
            nearby = ages[bisect_left(ages, (age - 1,)) : bisect_right(ages, (age + 1, len(others)))]
            found = _other_in([(other, row) for _, _, other, row in nearby[:2]], patient)
            reason = "same name and district, age at first pregnancy within a year"
        if found is not None:
            other, other_row = found
            row = patient_rows[patient_id_key(patient.patient_id)]
            flagged.append(PossibleDuplicate(row, patient.patient_id, patient.name, other.patient_id, other_row,
                                             reason))  # fmt: skip
    return flagged


def _other_in(candidates, patient):
    return next(((other, row) for other, row in candidates if other.patient_id != patient.patient_id), None)


def _clean_fields(instance, names):
    """Model.clean_fields() for the fields a sheet has (the others keep their defaults or stored values).

    The same checks field by field (blank, choices, max length, the plausible-range validators),
    without visiting the fields the sheet cannot have changed: an import runs this for every row.
    """
    errors = {}
    for name in names:
        model_field = instance._meta.get_field(name)
        value = getattr(instance, model_field.attname)
        if model_field.blank and value in model_field.empty_values:
            continue
        try:
            model_field.clean(value, instance)
        except ValidationError as invalid:
            errors[name] = invalid.error_list
    if errors:
        raise ValidationError(errors)


def unparsed(errors):
    """The fields of a row whose cells could not be read (their errors are already reported)."""
    return [error.field for error in errors if error.field]


def _comparable(instance, name):
    """A field's value as the import compares it: a district by its name, whatever its case."""
    if name == "district":
        return instance.district.name.lower()
    return getattr(instance, name)


def _key_text(value):
    try:
        return parse_text(value)
    except ValueError:
        return None


def _field_values(instance, model):
    """A copy's constructor arguments: every concrete field's stored value (foreign keys as ids)."""
    return {f.attname: getattr(instance, f.attname) for f in model._meta.concrete_fields}


def _patients_by_id(queryset, patient_ids):
    """The patients whose IDs are among `patient_ids`, whatever their case, a few thousand a query."""
    patient_ids = list(patient_ids)
    for start in range(0, len(patient_ids), LOOKUP_CHUNK):
        yield from queryset.holding_ids(patient_ids[start : start + LOOKUP_CHUNK])


def _in_chunks(queryset, lookup, values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield from queryset.filter(**{f"{lookup}__in": values[start : start + LOOKUP_CHUNK]})


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
        if "patients" in plan.sheets:
            for row in plan.sheets["patients"].new + plan.sheets["patients"].updated:
                if row.instance.district.pk is None:
                    row.instance.district = created[row.instance.district.name.lower()]
        written = set()
        for kind in SHEET_ORDER:
            if kind in plan.sheets:
                written |= _write_sheet(plan.sheets[kind], batch, user)
        records_changed.send(sender=Patient, patient_pks=written)
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
        for patient_id, pk in _in_chunks(Patient.all_objects.values_list("patient_id", "pk"), "patient_id", by_id):
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
