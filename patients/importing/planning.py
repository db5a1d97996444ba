"""Planning an import: check every row with the models' own rules and compare it with the
database, writing nothing. The plan says what is new, changed, unchanged and invalid."""

import datetime

from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.base import ModelState
from django.utils import timezone

from patients import clinical, vocabulary
from patients.importing.duplicates import possible_duplicates
from patients.importing.mapping import NEW_DISTRICT, Mappings
from patients.importing.plans import (
    LOOKUP_CHUNK,
    RECORD_KEY,
    SHEET_MODELS,
    SHEET_ORDER,
    ImportFileError,
    ImportPlan,
    RowError,
    RowPlan,
    SheetPlan,
    Unmatched,
    in_chunks,
)
from patients.importing.reading import UnknownValue, checksum, open_workbook, parse_text, parser_for, read_sheet
from patients.models import (
    District,
    Patient,
    PlausibleRange,
    normalise_district_name,
    patient_id_key,
    validate_not_before_earliest,
    validate_not_in_future,
)
from patients.text import validate_no_control_characters
from patients.workbook import sheet_kind

# --- Planning ---------------------------------------------------------------------------------------


def _no_progress(kind, records, total):
    return records


def plan_import(source, file_name=None, progress=_no_progress, mappings=None):
    """Read and check a workbook against the database, writing nothing.

    `source` is a path or a binary file. Raises ImportFileError when the file as a whole cannot be
    imported; row problems are collected in the plan's sheets. `progress(kind, rows, total)` may
    wrap each sheet's rows (the command shows a progress bar). `mappings` (mapping.Mappings) says
    what this import's unknown values mean, beside the saved aliases.
    """
    file_name = file_name or getattr(source, "name", None) or str(source)
    workbook = open_workbook(source)
    plan = ImportPlan(file_name=str(file_name), file_sha256=checksum(source))
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

    sheets = {kind: (found[kind], *read_sheet(workbook, found[kind], kind)) for kind in SHEET_ORDER if kind in found}
    plan.mappings = mappings or Mappings()
    planner = _Planner(plan, plan.mappings)
    for kind, (title, columns, ignored, read_records, total) in sheets.items():
        sheet = SheetPlan(kind=kind, title=title, columns=columns, ignored_columns=ignored)
        plan.sheets[kind] = sheet
        if kind == "patients":
            planner.plan_patients(sheet, progress(kind, read_records(), total))
        else:
            planner.plan_records(sheet, read_records, lambda records: progress(kind, records, total))  # noqa: B023
    plan.possible_duplicates = possible_duplicates(planner.workbook_patients, planner.patient_rows)
    for unmatched in plan.unmatched.values():
        if unmatched.column in vocabulary.CODED_COLUMNS:
            unmatched.suggestions = vocabulary.CODED_COLUMNS[unmatched.column].suggestions(unmatched.typed)
    return plan


class _Planner:
    """Checks rows and compares them with the database, remembering what later sheets need."""

    def __init__(self, plan, mappings):
        self.plan, self.mappings = plan, mappings
        self.known_districts = {d.name.lower(): d for d in District.objects.all()}
        # District key (vocabulary.district_key) -> District: known, aliased, mapped or new.
        self.districts = {**vocabulary.district_aliases(), **self.known_districts}
        self.aliases = {name: coded.saved_aliases() for name, coded in vocabulary.CODED_COLUMNS.items()}
        for name, mapped in mappings.codes().items():
            self.aliases[name].update(mapped)
        # Keyed by patient_id_key(patient_id):
        self.workbook_patients = {}  # -> Patient (every valid row of the patients sheet)
        self.patient_rows = {}  # -> row number of her valid row
        self.invalid_patients = {}  # -> row number
        # Dates before this are past the not-in-future check whenever it runs (see Column).
        self.settled_before = datetime.date.today() - SETTLED_DAYS

    def _columns(self, model, sheet, exclude):
        """A Column for each of the sheet's fields; those in `exclude` are read but not checked."""
        return {
            name: Column(model, name, name not in exclude, self.settled_before, self.aliases) for name in sheet.columns
        }

    def _parse(self, sheet, columns, number, raw):
        """The row's values read, the errors of cells that cannot be read, and the field checks'
        messages of each checked field read (see Column.read)."""
        values, errors, checked = {}, [], {}
        for name, cell in raw.items():
            column = columns[name]
            # A cell met before (Column.read remembers only cells that an equal cell is the same as).
            found = None if column.remembered is None else column.remembered.get((cell.__class__, cell))
            value, problem, messages = found or column.read(cell)
            if problem is None:
                values[name] = value
                if messages is not NOT_CHECKED:
                    checked[name] = messages
            else:
                errors.append(RowError(sheet.title, number, sheet.columns[name], cell, str(problem), name))
                if isinstance(problem, UnknownValue):  # noted for each of its rows, also when remembered
                    self._unmatched(problem.column, problem.typed, sheet.title, number)
        return values, errors, checked

    def _unmatched(self, column, typed, title, number):
        key = vocabulary.alias_key(column, typed)
        unmatched = self.plan.unmatched.setdefault((column, key), Unmatched(column, key, typed))
        unmatched.rows.append((title, number))

    def _validate(self, sheet, instance, number, raw, checked, unreadable):
        """The model's field validators and clean(): the rules of its constraints, without queries.

        Model.clean_fields() for the fields the sheet has (foreign keys excepted: the planner checks
        those): `checked`, the messages each column found on its value (or CHECK_ON_RECORD), in
        the sheet's order. Values that could not be read (`unreadable`) are already reported, and
        clean()'s cross-field rules wait until they are, and until every field is valid.
        """
        failed = {}
        for name, messages in checked.items():
            if name in unreadable:
                continue
            if messages is CHECK_ON_RECORD:
                model_field = instance._meta.get_field(name)
                messages = field_messages(model_field, getattr(instance, model_field.attname), instance)
            if messages:
                failed[name] = messages
        if not failed:
            if unreadable:
                return []
            try:
                instance.clean()
                return []
            except ValidationError as invalid:
                failed = invalid.message_dict
        errors = []
        for name, messages in failed.items():
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
        exclude = ["id", "district", "import_batch"]
        columns = self._columns(Patient, sheet, exclude)
        if "district" in sheet.columns:
            self._plan_districts(records)
        seen = {}
        for number, raw in records:
            values, errors, checked = self._parse(sheet, columns, number, raw)
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
                if "patient_id" in checked:
                    checked["patient_id"] = CHECK_ON_RECORD  # checked as recorded
            district_name = normalise_district_name(values.get("district", ""))
            if not district_name and "district" in values:
                errors.append(RowError(sheet.title, number, sheet.columns["district"], raw["district"],
                                       "a district is required"))  # fmt: skip
            elif len(district_name) > DISTRICT_NAME_LENGTH:
                reason = f"a district name of {len(district_name)} characters: at most {DISTRICT_NAME_LENGTH}"
                errors.append(RowError(sheet.title, number, sheet.columns["district"], raw["district"], reason))
            elif district_name:
                district = self.districts.get(vocabulary.district_key(district_name))
                if district is None:
                    errors.append(self._undecided_district(sheet, number, raw, district_name))
                else:
                    instance.district = district
            errors += self._validate(sheet, instance, number, raw, checked, unparsed(errors))
            if errors:
                self.invalid_patients[patient_id_key(patient_id)] = number
                self._reject(sheet, number, raw, errors)
                continue
            changes = None if old is None else _changes(sheet.columns, old, instance)
            self._classify(sheet, number, (instance.patient_id,), instance, changes)
            self.workbook_patients[patient_id_key(patient_id)] = instance
            self.patient_rows[patient_id_key(patient_id)] = number

    def _plan_districts(self, records):
        """Decide what each district name in the patients sheet means, before the rows are checked.

        A known name (any case or spacing) or a saved alias is that district. Any other name is a new
        district, spelled as the file most often spells it, in title case, unless it is close to a
        known district or to a more common new name (a typo, perhaps): then it waits for a person
        to map it or to confirm it as new (`mappings`), and its rows are errors until then.
        """
        spellings = {}  # key -> {spelling: rows}
        for _, raw in records:
            try:
                name = normalise_district_name(parse_text(raw.get("district")))
            except ValueError:
                continue
            key = vocabulary.district_key(name)
            if key and key not in self.districts and len(name) <= DISTRICT_NAME_LENGTH:
                counts = spellings.setdefault(key, {})
                counts[name] = counts.get(name, 0) + 1
        names = [district.name for district in self.known_districts.values()]
        for key, counts in sorted(spellings.items(), key=lambda item: -sum(item[1].values())):
            mapped = self.mappings.district(key)
            if mapped not in (None, NEW_DISTRICT):
                self.districts[key] = mapped
                continue
            display = vocabulary.display_spelling(counts)
            nearest = vocabulary.district_suggestions(display, names)
            if mapped is None and nearest and nearest[0].score >= vocabulary.NEAR_DISTRICT_SCORE:
                unmatched = Unmatched("district", key, max(counts, key=counts.get), suggestions=nearest)
                self.plan.unmatched[("district", key)] = unmatched
                continue
            self.districts[key] = District(name=display)
            self.plan.new_districts.append(display)
            names.append(display)

    def _undecided_district(self, sheet, number, raw, name):
        unmatched = self.plan.unmatched[("district", vocabulary.district_key(name))]
        unmatched.rows.append((sheet.title, number))
        nearest = " or ".join(f"'{s.label}'" for s in unmatched.suggestions)
        reason = (
            f"unknown district '{unmatched.typed}', close to {nearest}: map it to a known district, "
            "or confirm it as a new one"
        )
        return RowError(sheet.title, number, sheet.columns["district"], raw["district"], reason, "district")

    def plan_records(self, sheet, read_records, progress):
        """Deliveries or follow-ups: each row names its patient, in this workbook or the database.

        The sheet is read twice: once for the patient IDs, to look patients and their existing
        records up in bulk, then row by row.
        """
        model, key_field = SHEET_MODELS[sheet.kind], RECORD_KEY[sheet.kind]
        wanted = {_key_text(raw.get("patient_id")) for _, raw in read_records(only=("patient_id",))}
        wanted = {patient_id for patient_id in wanted if patient_id_key(patient_id) not in self.workbook_patients}
        patients = {patient_id_key(p.patient_id): p for p in _patients_by_id(Patient.all_objects.all(), wanted)}
        patients.update(self.workbook_patients)
        known_pks = [p.pk for p in patients.values() if p.pk is not None]
        # Existing rows as plain dicts: far lighter than model instances, and a copy is made only to update.
        existing = {
            (record["patient_id"], record[key_field]): record
            for record in in_chunks(model.all_objects.values(), "patient_id", known_pks)
        }
        fields = [name for name in sheet.columns if name != "patient_id"]
        sheet.record_fields = [f.attname for f in model._meta.concrete_fields if f.attname not in _NOT_WRITTEN]
        exclude = ["id", "patient_id", "import_batch"]
        columns = self._columns(model, sheet, exclude)
        new_record = blank_records(model)
        seen = {}
        for number, raw in progress(read_records()):
            values, errors, checked = self._parse(sheet, columns, number, raw)
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
            instance = model(**old) if old else new_record()
            instance.patient = patient
            if instance.is_voided:
                errors.append(_voided_error(sheet, number, key_field, raw, instance))
            for name in fields:
                if name in values:
                    setattr(instance, name, values[name])
            errors += self._validate(sheet, instance, number, raw, checked, unparsed(errors))
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


def field_messages(model_field, value, instance):
    """One field's part of Model.clean_fields() (blank, choices, max length, the plausible-range
    validators): the messages of its errors on `value`, or None."""
    if model_field.blank and value in model_field.empty_values:
        return None
    try:
        model_field.clean(value, instance)
    except ValidationError as invalid:
        return list(ValidationError({model_field.name: invalid.error_list}).message_dict[model_field.name])
    return None


NOT_CHECKED = "not checked"  # Column.read's messages for a column read but not checked (a key, a foreign key)
CHECK_ON_RECORD = "check on the record"  # ... for a field checked on each row's record (field_messages)
# A column remembers what it made of at most this many distinct cells: a register repeats its
# dates, readings and words; a column of names stops there.
REMEMBERED_CELLS = 10_000
# Dates this many days before today or earlier pass the not-in-future check whenever it runs.
SETTLED_DAYS = datetime.timedelta(days=2)

# Validators whose verdict depends on the value alone. (Min/Max/Length validators are, unless
# their limit is a callable: Column looks.)
_PURE_VALIDATOR_TYPES = (
    PlausibleRange,
    validators.MinValueValidator,
    validators.MaxValueValidator,
    validators.MinLengthValidator,
    validators.MaxLengthValidator,
    validators.RegexValidator,
    validators.DecimalValidator,
    validators.ProhibitNullCharactersValidator,
)
_PURE_VALIDATORS = (validate_no_control_characters, clinical.validate_haemoglobin_g_dl, validate_not_before_earliest)
# Validators that also read the clock, on dates: their verdicts on settled dates are remembered.
_CLOCK_VALIDATORS = (validate_not_in_future,)
_STOCK_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.FloatField, models.DecimalField,
                 models.DateField)  # fmt: skip


class Column:
    """One column of a sheet, checked once per distinct cell: read (the field's parser), then, if
    `checked`, checked as Model.clean_fields() checks the field (field_messages).

    Both are functions of the cell alone (a coded column's parser reads the aliases loaded once
    for the plan), and a register repeats its cells (a few hundred readings, dates and words in
    100,000 rows), so the column remembers what it made of each cell and answers a cell met
    before from memory. It does so only where that is exact:
    - the field is one of Django's own (its to_python, choices, null and blank checks look at the
      value alone; not a foreign key, which looks at the database), and each of its validators is
      known to look at the value alone, or at the clock for dates (validate_not_in_future), whose
      verdicts are remembered only for dates at least SETTLED_DAYS before the import began.
      Otherwise each row's field is checked on its record (CHECK_ON_RECORD), as Django does;
    - the cell is one of which an equal cell is the same cell (_cell_key): text, whole numbers,
      non-zero floats (0.0 == -0.0 but they read apart), dates and naive datetimes.
    """

    def __init__(self, model, name, checked, settled_before, aliases=None):
        self.parse = parser_for(model, name, aliases)
        self.model_field = model._meta.get_field(name) if checked else None
        self.settled_before = settled_before
        self.remembered = {} if checked and _remembers(self.model_field) else None

    def read(self, cell):
        """(value, None, messages) for a cell read: messages is None when the value is valid, a list of
        messages, NOT_CHECKED or CHECK_ON_RECORD; (None, the ValueError, None) when the cell cannot
        be read (an UnknownValue names the value to map: the planner notes it on each row)."""
        remembered = self.remembered
        key = None if remembered is None else _cell_key(cell)
        if key is not None and (found := remembered.get(key)) is not None:
            return found
        try:
            value = self.parse(cell)
        except ValueError as problem:
            found = (None, problem, None)
        else:
            if self.model_field is None:
                messages = NOT_CHECKED
            elif remembered is None:
                messages = CHECK_ON_RECORD
            else:
                # A stock field's check does not look at the record (see _remembers).
                messages = field_messages(self.model_field, value, None)
                if value.__class__ is datetime.date and value >= self.settled_before:
                    key = None  # the not-in-future check may answer otherwise tomorrow
            found = (value, None, messages)
        if key is not None and len(remembered) < REMEMBERED_CELLS:
            remembered[key] = found
        return found


def _remembers(model_field):
    """Whether the field's checks look at the value alone (see Column)."""
    stock = isinstance(model_field, _STOCK_FIELDS) and type(model_field).__module__ == models.Field.__module__
    if not stock or model_field.is_relation or isinstance(model_field, models.DateTimeField):
        return False
    for validator in model_field.validators:
        if any(validator is known for known in _PURE_VALIDATORS):
            continue
        if any(validator is known for known in _CLOCK_VALIDATORS) and isinstance(model_field, models.DateField):
            continue
        if isinstance(validator, _PURE_VALIDATOR_TYPES) and not callable(getattr(validator, "limit_value", None)):
            continue
        return False
    return True


def _cell_key(cell):
    """A key under which a cell is remembered, or None: only a cell that any cell equal to it is the same as."""
    cls = cell.__class__
    if cls is str or cls is int or cls is datetime.date or (cls is float and cell):
        return (cls, cell)
    if cls is datetime.datetime and cell.tzinfo is None:
        return (cls, cell)
    return None


def blank_records(model):
    """A function giving what `model()` gives, a new record with every field at its default,
    without building one per row: one record, put back to its defaults each time (a million
    model instances cost seconds). The caller is done with the record before asking again.
    A model with a callable default gets a new instance each time."""
    if any(f.has_default() and callable(f.default) for f in model._meta.concrete_fields):
        return model
    record = model()
    defaults = {name: value for name, value in record.__dict__.items() if name != "_state"}

    def new_record():
        attributes = record.__dict__
        attributes.clear()  # also whatever a clean() may have added
        attributes.update(defaults)
        attributes["_state"] = ModelState()  # as Model.__init__ makes it: adding, no database, nothing cached
        return record

    return new_record


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
