"""Planning an import: check every row with the models' own rules and compare it with the
database, writing nothing. The plan says what is new, changed, unchanged and invalid."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from patients import vocabulary
from patients.importing.checking import (
    CHECK_ON_RECORD,
    NOT_CHECKED,
    SETTLED_DAYS,
    Column,
    blank_records,
    field_messages,
)
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
from patients.importing.reading import UnknownValue, checksum, open_workbook, parse_text, read_sheet
from patients.models import (
    District,
    Patient,
    district_key,
    normalise_district_name,
    patient_id_key,
)
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
        # District key (district_key) -> District: known, aliased, mapped or new.
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
                district = self.districts.get(district_key(district_name))
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
            key = district_key(name)
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
        unmatched = self.plan.unmatched[("district", district_key(name))]
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
