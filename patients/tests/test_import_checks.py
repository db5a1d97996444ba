"""The import's quick checking equals the reference: the models' own field validators and clean().

The import reads each cell once per distinct cell (checking.Column remembers what it made of it),
checks new deliveries and follow-ups on one record put back to its defaults each row
(blank_records), and its cell readers, sheet reader and workbook guard take shortcuts. These tests
hold all of it to the plain way, on hypothesis' workbooks (bad values mixed with good rows,
repeated cells, dates around today, delivery types, terms and districts to map, saved aliases and
this import's own mappings, records already on file, a voided patient), on the import fuzz's
workbooks and on the hostile workbooks:

- reading a cell: each parser gives what it gave before its fast paths (the originals are below);
- reading a sheet: the rows and raw values are those of the original reader (below);
- checking a field: Column.read, asked twice (the second time from memory), gives the messages of
  Django's Model.clean_fields() on a new record holding the value;
- a whole plan: plan_import gives the same errors (sheet, row, column, value, reason, field, in the
  same order), counts, invalid rows, new values, changes, values to map, new districts and
  possible duplicates as the reference planner: the planner of e84a145 (a new model instance for
  every row, nothing remembered), checking each row with Django's own Model.clean_fields() and
  clean(), with the original cell readers, sheet reader and workbook guard.
"""

import datetime
import decimal
import re

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import models
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from patients import voiding, workbook_guard
from patients.importing import ImportFileError, checking, plan_import, planning, reading
from patients.importing.checking import Column, blank_records
from patients.importing.mapping import NEW_DISTRICT, Mappings
from patients.importing.planning import (
    _NOT_WRITTEN,
    DISTRICT_NAME_LENGTH,
    RECORD_KEY,
    SHEET_MODELS,
    RowError,
    UnknownValue,
    _changes,
    _field_values,
    _key_text,
    _patients_by_id,
    _voided_error,
    in_chunks,
    unparsed,
)
from patients.importing.reading import (
    CodedParser,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_number,
    parse_text,
    parser_for,
)
from patients.models import Delivery, District, FollowUp, Patient, ValueAlias, normalise_district_name, patient_id_key
from patients.tests import hostile_workbooks
from patients.tests import test_import_fuzz as fuzz
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient, make_user
from patients.tests.workbooks import (
    DELIVERY_HEADER,
    FOLLOWUP_HEADER,
    PATIENT_HEADER,
    delivery_row,
    followup_row,
    make_workbook,
    patient_row,
)
from patients.text import strip_control_characters

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()
NEAR_TODAY = [TODAY + datetime.timedelta(days=d) for d in range(-4, 4)]
# Words of the coded columns and districts: known, saved as aliases (on_file), mapped by this
# import (MAPPINGS), near a known one, or unknown.
DELIVERY_TYPES = ["NVD", "lscs", "Emergency LSCS", "normal", "Vacuum", "sp vag", "vag del", "xyz", "c_section"]
TERMS = ["term", "Preterm", "post dates", "full trm", "early", ""]
DISTRICTS = ["Kaski", " kaski ", "KASKI", "Kaskii", "Kasky", "Lamjung", "lamjung", "Pokhara Vly", "Chitwan", "Chitwn"]
# Cells a register repeats (so that remembered answers are used), and edge cases of equality.
cells = st.one_of(
    fuzz.bad_values,
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, True, False, 26, 26.5, -3, 150, 152.4, 1e-9, 12.345, 99999999999, ""]),
    st.sampled_from(["12/03/2023", "2023-03-12", "31/02/2023", "n/a", " 118 ", "70", "1,5"]),
    st.sampled_from(DELIVERY_TYPES + TERMS + DISTRICTS),
    st.sampled_from(NEAR_TODAY + [datetime.datetime.combine(d, datetime.time(13, 5)) for d in NEAR_TODAY]),
    st.sampled_from([datetime.date(1949, 12, 31), datetime.date(1950, 1, 1), datetime.date(2024, 2, 29)]),
)

# --- The original cell readers, sheet reader and workbook guard (as at e84a145) -------------------


def original_is_blank(value):
    return value is None or (isinstance(value, str) and value.strip().lower() in reading.BLANKS)


def original_parse_text(value):
    if value is None:
        return ""
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        raise ValueError("a date or time, where text was expected")
    return strip_control_characters(str(value)).strip()


def original_parse_number(value):
    if original_is_blank(value):
        return None
    if isinstance(value, (bool, datetime.date, datetime.time, datetime.timedelta)):
        raise ValueError("not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not a number")
    return number


def original_parse_integer(value):
    number = original_parse_number(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError("not a whole number")
    return int(number)


def original_parse_decimal(value):
    number = original_parse_number(value)
    return None if number is None else decimal.Decimal(str(round(number, 2)))


def original_parse_date(value):
    if original_is_blank(value):
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
    order = django_settings.IMPORT_DATE_ORDER
    for date_format in reading._TEXT_DATE_FORMATS[order] + reading._NAMED_MONTH_FORMATS:
        try:
            return datetime.datetime.strptime(text, date_format).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{1,4}", text):
        if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{1,2}", text):
            raise ValueError("write the year in full (e.g. 12/03/2023)")
        raise ValueError(f"not a real date (read as {'day/month/year' if order == 'DMY' else 'month/day/year'})")
    raise ValueError("not a date (use 2023-03-12 or 12/03/2023)")


ORIGINAL_CELL_READERS = {
    "parse_text": original_parse_text,
    "parse_number": original_parse_number,
    "parse_integer": original_parse_integer,
    "parse_decimal": original_parse_decimal,
    "parse_date": original_parse_date,
}


def original_read_sheet(workbook, title, kind):
    """reading.read_sheet as it was: records() reads every column of every row."""
    try:
        sheet = workbook.get_sheet_by_name(title)
    except reading.CalamineError as error:
        raise ImportFileError(f"Sheet '{title}' cannot be read: {error}") from None
    header, header_row = None, 0
    for number, row in enumerate(sheet.iter_rows(), start=1):
        if any(str(cell).strip() for cell in row):
            header, header_row = row, number
            break
    if header is None:
        raise ImportFileError(f"Sheet '{title}' is empty.")
    columns, positions, ignored = reading._match_columns(kind, title, header)

    def whole(value):
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def records():
        for number, row in enumerate(sheet.iter_rows(), start=1):
            if number <= header_row:
                continue
            raw = {name: whole(row[i]) if i < len(row) else "" for name, i in positions.items()}
            if all(value == "" or value is None for value in raw.values()):
                continue
            yield number, raw

    return columns, ignored, records, max(sheet.total_height - header_row + 1, 0)


def original_check_sheet(archive, name, title, text_lengths, extent):
    g = workbook_guard
    plain, cells, declared = True, 0, None
    for number, chunk in enumerate(g._chunks(archive, name)):
        if number == 0 and (dimension := g.DIMENSION.search(chunk)):
            declared = dimension.groups()
        found = chunk.count(b"<c ") + chunk.count(b"<c>") + chunk.count(b"<c/>")
        cells += found
        plain = plain and found == chunk.count(b'<c r="') and not g._odd_cells(chunk)
    if declared and declared[2]:
        first_col, first_row, last_col, last_row = declared
        height = int(last_row) - int(first_row) + 1
        width = g._column_number(last_col) - g._column_number(first_col) + 1
        g._check_extent(title, f"declares the range {g._declared_range(declared)}", height, width, extent)
    if not plain or extent.cells < g.NEAR_ROWS * g.NEAR_COLUMNS:
        height, width, cells = g._measure_sheet(archive, name, title)
        where = f"has cells as far as row {height:,} and column {g._column_name(width)}"
        g._check_extent(title, where, height, width, extent)
    text_used = cells * max(text_lengths, default=0)
    if text_used > django_settings.IMPORT_MAX_TEXT_MB * 1024 * 1024:
        text_used = g._shared_text_used(archive, name, text_lengths)
    return text_used


def original_odd_cells(chunk):
    g = workbook_guard
    return bool(g.FAR_CELL.search(chunk) or g.PREFIXED_CELL.search(chunk) or any(s in chunk for s in g.ODD_CELL_STARTS))


def original_chunks(archive, name):
    g = workbook_guard
    tail = b""
    with archive.open(name) as stream:
        g._check_encoding(name, stream.peek(200)[:200])
        while True:
            block = stream.read(g.CHUNK_BYTES)
            data = tail + block
            if any(marker in data for marker in g.DTD):
                raise g.WorkbookRefused(
                    f"The part {name} of this workbook declares a DTD (entities), which no spreadsheet program "
                    "writes and which can make a reader expand text without end. Save the workbook again."
                )
            if not block:
                if data:
                    yield data
                return
            cut = data.rfind(b"<")
            if cut <= 0:
                tail = data
                if len(tail) > g.MAX_TEXT_BYTES + g.CHUNK_BYTES:
                    raise g._too_long(f"A text in {name}", len(tail), over="over ")
                continue
            yield data[:cut]
            tail = data[cut:]


ORIGINAL_GUARD = {"_check_sheet": original_check_sheet, "_odd_cells": original_odd_cells, "_chunks": original_chunks}


# --- The reference planner -----------------------------------------------------------------------


class ReferencePlanner(planning._Planner):
    """The planner of e84a145, checking each row with Django's own Model.clean_fields() and clean()
    on a new model instance (plan_patients and plan_records are e84a145's, verbatim)."""

    def _parse(self, sheet, parsers, number, raw):
        values, errors = {}, []
        for name, value in raw.items():
            try:
                values[name] = parsers[name](value)
            except ValueError as problem:
                errors.append(RowError(sheet.title, number, sheet.columns[name], value, str(problem), name))
                if isinstance(problem, UnknownValue):
                    self._unmatched(problem.column, problem.typed, sheet.title, number)
        return values, errors

    def _validate(self, sheet, instance, number, raw, exclude, unreadable):
        """Model.clean_fields() for the sheet's fields but `exclude` and `unreadable`, then, if they
        are valid and every cell was read, Model.clean(). Field errors in the sheet's order."""
        checked = [name for name in raw if name not in exclude and name not in unreadable]
        failed = {}
        try:
            instance.clean_fields(exclude=[f.name for f in instance._meta.fields if f.name not in checked])
        except ValidationError as invalid:
            found = invalid.message_dict
            assert set(found) <= set(checked)
            failed = {name: found[name] for name in checked if name in found}
        else:
            if not unreadable:
                try:
                    instance.clean()
                except ValidationError as invalid:
                    failed = invalid.message_dict
        errors = []
        for name, messages in failed.items():
            column = sheet.columns.get(name, name)
            for message in messages:
                errors.append(RowError(sheet.title, number, column, raw.get(name, ""), message))
        return errors

    # --- e84a145, verbatim ---

    def plan_patients(self, sheet, records):
        records = list(records)
        ids = {_key_text(raw.get("patient_id")) for _, raw in records}
        known = _patients_by_id(Patient.all_objects.select_related("district"), ids)
        existing = {patient_id_key(p.patient_id): p for p in known}
        fields = [name for name in sheet.columns if name != "district"]
        parsers = {name: parser_for(Patient, name, self.aliases) for name in sheet.columns}
        if "district" in sheet.columns:
            self._plan_districts(records)
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
                district = self.districts.get(planning.district_key(district_name))
                if district is None:
                    errors.append(self._undecided_district(sheet, number, raw, district_name))
                else:
                    instance.district = district
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

    def plan_records(self, sheet, read_records, progress):
        model, key_field = SHEET_MODELS[sheet.kind], RECORD_KEY[sheet.kind]
        wanted = {_key_text(raw.get("patient_id")) for _, raw in read_records()}
        wanted = {patient_id for patient_id in wanted if patient_id_key(patient_id) not in self.workbook_patients}
        patients = {patient_id_key(p.patient_id): p for p in _patients_by_id(Patient.all_objects.all(), wanted)}
        patients.update(self.workbook_patients)
        known_pks = [p.pk for p in patients.values() if p.pk is not None]
        existing = {
            (record["patient_id"], record[key_field]): record
            for record in in_chunks(model.all_objects.values(), "patient_id", known_pks)
        }
        fields = [name for name in sheet.columns if name != "patient_id"]
        sheet.record_fields = [f.attname for f in model._meta.concrete_fields if f.attname not in _NOT_WRITTEN]
        parsers = {name: parser_for(model, name, self.aliases) for name in sheet.columns}
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


def reference_plan(source, monkeypatch, mappings=None):
    """plan_import the plain way: the reference planner, the original readers and guard."""
    with monkeypatch.context() as patch:
        patch.setattr(planning, "_Planner", ReferencePlanner)
        patch.setattr(planning, "read_sheet", original_read_sheet)
        patch.setattr(planning, "parse_text", original_parse_text)
        for name, original in ORIGINAL_CELL_READERS.items():
            patch.setattr(reading, name, original)  # parser_for and CodedParser read them from here
        for name, original in ORIGINAL_GUARD.items():
            patch.setattr(workbook_guard, name, original)
        return plan_import(source, mappings=mappings)


def outcome(function, value):
    """What a call gives, comparable exactly: the value with its type (1 == 1.0 == True), or the error."""
    try:
        result = function(value)
    except Exception as error:  # noqa: BLE001 - any exception must be the same one
        return ("raised", type(error), str(error))
    return ("gave", type(result), repr(result))


def exactly(rows):
    return [(number, {name: (type(value), repr(value)) for name, value in raw.items()}) for number, raw in rows]


def summary(plan):
    sheets = {}
    for kind, sheet in plan.sheets.items():
        model = SHEET_MODELS[kind]
        if kind == "patients":
            new = [(row.row, row.key, repr(_field_values(row.instance, model))) for row in sheet.new]
        else:
            new = [(row.row, row.values[0].patient_id, repr(row.values[1:])) for row in sheet.new]
        sheets[kind] = {
            "counts": sheet.counts(),
            "errors": [
                (e.sheet, e.row, e.column, type(e.value), repr(e.value), e.reason, e.field) for e in sheet.errors
            ],  # fmt: skip
            "invalid": exactly(sorted(sheet.invalid_rows.items())),
            "new": new,
            "updated": [
                (row.row, row.key, repr(row.changes), repr(_field_values(row.instance, model))) for row in sheet.updated
            ],  # fmt: skip
            "unchanged": sheet.unchanged,
            "record_fields": sheet.record_fields,
        }
    unmatched = [(key, u.column, u.key, u.typed, u.rows, [repr(s) for s in u.suggestions])
                 for key, u in plan.unmatched.items()]  # fmt: skip
    return sheets, plan.new_districts, [repr(d) for d in plan.possible_duplicates], unmatched


def same_plan(source, monkeypatch, mappings=None):
    """plan_import and the reference give the same plan, or refuse the file with the same words."""
    try:
        expected = summary(reference_plan(source, monkeypatch, mappings))
    except ImportFileError as refused:
        with pytest.raises(ImportFileError) as also:
            plan_import(source, mappings=mappings)
        assert str(also.value) == str(refused)
        return None
    assert summary(plan_import(source, mappings=mappings)) == expected
    return expected


# --- Cells ------------------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(value=cells)
def test_each_parser_gives_what_it_gave_before_its_fast_paths(value):
    for fast, original in [(parse_text, original_parse_text), (parse_number, original_parse_number),
                           (parse_integer, original_parse_integer), (parse_decimal, original_parse_decimal),
                           (parse_date, original_parse_date)]:  # fmt: skip
        assert outcome(fast, value) == outcome(original, value), fast.__name__


def django_messages(model, name, value):
    """Model.clean_fields() on a new record holding `value` in field `name`: that field's messages."""
    record = model()
    model_field = model._meta.get_field(name)
    setattr(record, model_field.attname, value)
    try:
        record.clean_fields(exclude=[f.name for f in model._meta.fields if f.name != name])
    except ValidationError as invalid:
        return invalid.message_dict.get(name)
    return None


CHECKED = [(model, name) for model, header, exclude in [
    (Patient, PATIENT_HEADER, {"district"}), (Delivery, DELIVERY_HEADER, {"patient_id"}),
    (FollowUp, FOLLOWUP_HEADER, {"patient_id"})] for name in header if name not in exclude
] + [(Delivery, "age_at_delivery"), (Delivery, "weight_at_delivery"), (Delivery, "placental_weight"),
     (Patient, "education_level"), (Patient, "monthly_income"), (Patient, "occupation"), (Patient, "diet")]  # fmt: skip
ALIASES = {"type_of_delivery": {"spvag": "normal"}, "term_of_delivery": {"fulltrm": "term"}}


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(values=st.lists(cells, min_size=1, max_size=40))
@example(values=[0.0, -0.0, 0, False, 1.0, 1, True, 1.5, "1.5", datetime.date(2024, 2, 29), 1e309, "-0"])
@example(values=["sp vag", "xyz", "NVD", "full trm", "early", "", *NEAR_TODAY])
def test_a_column_checks_each_cell_as_the_models_clean_fields_does_also_from_memory(values):
    for model, name in CHECKED:
        column = Column(model, name, True, TODAY - checking.SETTLED_DAYS, ALIASES)
        parser = parser_for(model, name, ALIASES)
        for value in values + values:  # the second time from memory, where remembered
            expected = outcome(parser, value)
            read, problem, messages = column.read(value)
            if problem is None:
                assert ("gave", type(read), repr(read)) == expected, (model.__name__, name, value)
                if messages is checking.CHECK_ON_RECORD:
                    messages = checking.field_messages(model._meta.get_field(name), read, model())
                assert messages == django_messages(model, name, read), (model.__name__, name, value)
            else:
                assert ("raised", type(problem), str(problem)) == expected, (model.__name__, name, value)


def test_only_cells_that_equal_cells_are_the_same_as_are_remembered():
    column = Column(FollowUp, "weight_kg", True, TODAY - checking.SETTLED_DAYS)
    for cell in [0.0, -0.0, True, False, 1.5, 1, "1,5", datetime.time(1, 2)]:
        column.read(cell)
    assert set(column.remembered) == {(float, 1.5), (int, 1), (str, "1,5")}
    dates = Column(FollowUp, "visit_date", True, TODAY - checking.SETTLED_DAYS)
    for day in NEAR_TODAY:
        dates.read(day)
        dates.read(datetime.datetime.combine(day, datetime.time(9)))
    settled = {d for d in NEAR_TODAY if d < TODAY - checking.SETTLED_DAYS}
    assert settled and {key[1] for key in dates.remembered if key[0] is datetime.date} == settled
    assert {key[1].date() for key in dates.remembered if key[0] is datetime.datetime} == settled


def test_each_new_record_is_a_record_as_the_model_makes_it(db):
    patient = make_patient(patient_id="B1")
    for model in (Delivery, FollowUp):
        new_record = blank_records(model)
        record = new_record()
        record.patient = patient
        for f in model._meta.concrete_fields:
            if not f.primary_key and not f.is_relation and f.attname != "void_id":
                setattr(record, f.attname, f.to_python("7") if not isinstance(f, models.DateField) else TODAY)
        record.voided_at, record.stray = datetime.datetime.now(), "added by a clean()"
        record._state.adding, record._state.db = False, "default"
        again, fresh = new_record(), model()
        assert again is record
        assert {k: v for k, v in vars(again).items() if k != "_state"} == {
            k: v for k, v in vars(fresh).items() if k != "_state"
        }
        assert vars(again._state) == vars(fresh._state)


# --- Sheets and whole plans -------------------------------------------------------------------------


def rows_of(header, good_row, pick=None):
    def mix(good, bad, mask):
        return [b if m else g for g, b, m in zip(good, bad, mask, strict=True)]

    width = len(header)
    ids = st.sampled_from([f"F{n}" for n in range(12)] + ["V1", "f0", "F0"])
    good = st.builds(good_row, ids, st.just({}) if pick is None else pick)
    row = st.builds(mix, good, st.lists(cells, min_size=width, max_size=width),
                    st.lists(st.booleans(), min_size=width, max_size=width))  # fmt: skip
    return st.lists(st.one_of(good, row, st.just([None] * width)), min_size=1, max_size=40)


workbooks = st.fixed_dictionaries({
    "patients": rows_of(PATIENT_HEADER, lambda pid, more: patient_row(pid, **more),
                        st.fixed_dictionaries({"district": st.sampled_from(DISTRICTS)})),
    "deliveries": rows_of(DELIVERY_HEADER, lambda pid, more: delivery_row(pid, **more),
                          st.fixed_dictionaries({"type_of_delivery": st.sampled_from(DELIVERY_TYPES),
                                                 "term_of_delivery": st.sampled_from(TERMS)})),
    "followups": st.one_of(
        rows_of(FOLLOWUP_HEADER, lambda pid, more: followup_row(pid)),
        # the same rows again and again, with visit numbers and values drawn from a few
        st.lists(st.builds(lambda pid, visit, day, bp: followup_row(pid, visit, visit_date=day, bp_systolic=bp),
                           st.sampled_from(["F0", "F1", "F2"]), st.integers(1, 4), st.sampled_from(NEAR_TODAY),
                           st.sampled_from([70, 118, 300])), max_size=40),
    ),
})  # fmt: skip


@pytest.fixture
def on_file(db):
    """Records already on file: a patient with a delivery and follow-ups, a voided patient, districts,
    and aliases saved by earlier imports."""
    patient = make_patient(patient_id="F0", name="Already recorded")
    make_delivery(patient, date_of_delivery=datetime.date(2024, 3, 12))
    make_followup(patient, visit_number=1)
    make_followup(patient, visit_number=2, bp_systolic=None)
    voided = make_patient(patient_id="V1")
    voiding.void(voided, make_user("voider"), "entered twice")
    make_district("Lamjung")
    ValueAlias.objects.create(column=ValueAlias.Column.DELIVERY_TYPE, spelling="sp vag", code="normal")
    kaski = District.objects.get(name="Kaski")
    ValueAlias.objects.create(column=ValueAlias.Column.DISTRICT, spelling="Kasky", district=kaski)


def mappings_of(choice):
    """This import's own mappings, as a preview or --map gives them."""
    mappings = Mappings()
    if choice:
        mappings.add(ValueAlias.Column.DELIVERY_TYPE, "vag del", "normal")
        mappings.add(ValueAlias.Column.TERM, "full trm", "term")
        mappings.add(ValueAlias.Column.DISTRICT, "Kaskii", District.objects.get(name="Kaski"))
        mappings.add(ValueAlias.Column.DISTRICT, "Chitwn", NEW_DISTRICT)
    return mappings


def without(header, rows, left_out):
    """The sheet without some of its columns (a register need not have every optional column)."""
    kept = [i for i, name in enumerate(header) if name not in left_out]
    return [[row[i] for i in kept] for row in [header, *rows]]


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    sheets=workbooks,
    left_out=st.sets(
        st.sampled_from(
            ["diagnosis", "bp_diastolic", "haemoglobin_g_dl", "term_of_delivery", "name", "age_at_marriage"]
        )
    ),
    mapped=st.booleans(),
)
# New follow-ups in a row on a sheet without a column: each must get that field's default afresh.
@example(sheets={"patients": [], "deliveries": [],
                 "followups": [followup_row("F0", 3), followup_row("F0", 4), followup_row("F0", 5)]},
         left_out={"diagnosis"}, mapped=False)  # fmt: skip
# The same unknown and mapped words on many rows: each row is noted, also when its cell is remembered.
@example(sheets={"patients": [patient_row("F1", district=d) for d in ["Kaskii", "Chitwn", "Kaskii", "Chitwan"]],
                 "deliveries": [delivery_row(f"F{n}", type_of_delivery=t, term_of_delivery=term)
                                for n, (t, term) in enumerate([("xyz", "early"), ("vag del", "full trm"),
                                                               ("xyz", "early"), ("sp vag", "term")])],
                 "followups": []}, left_out=set(), mapped=False)  # fmt: skip
def test_a_plan_has_the_errors_and_values_the_models_own_checks_give(
    on_file, tmp_path_factory, monkeypatch, sheets, left_out, mapped
):
    path = make_workbook(tmp_path_factory.mktemp("checks") / "book.xlsx", {
        "patients": without(PATIENT_HEADER, sheets["patients"], left_out),
        "deliveries": without(DELIVERY_HEADER, sheets["deliveries"], left_out),
        "followups": without(FOLLOWUP_HEADER, sheets["followups"], left_out),
    })  # fmt: skip
    for title in ("patients", "deliveries", "followups"):
        _, _, records, _ = reading.read_sheet(CalamineWorkbook.from_path(str(path)), title, title)
        _, _, original_records, _ = original_read_sheet(CalamineWorkbook.from_path(str(path)), title, title)
        assert exactly(records()) == exactly(original_records())
        assert exactly(records(only=("patient_id",))) == exactly(
            (n, {"patient_id": raw["patient_id"]}) for n, raw in original_records()
        )
    same_plan(path, monkeypatch, mappings_of(mapped))
    if mapped:
        same_plan(path, monkeypatch, mappings_of(False))


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(sheets=fuzz.workbooks)
def test_the_fuzz_workbooks_are_planned_as_the_reference_plans_them(on_file, tmp_path_factory, monkeypatch, sheets):
    path = make_workbook(tmp_path_factory.mktemp("fuzz") / "fuzz.xlsx", {
        "patients": [PATIENT_HEADER, *sheets["patients"]], "deliveries": [DELIVERY_HEADER, *sheets["deliveries"]],
        "followups": [FOLLOWUP_HEADER, *sheets["followups"]],
    })  # fmt: skip
    same_plan(path, monkeypatch)


@pytest.mark.parametrize(
    "build", [*hostile_workbooks.REFUSED, hostile_workbooks.same_name_patients], ids=lambda build: build.__name__
)
def test_the_hostile_workbooks_are_refused_or_planned_as_the_reference_does(on_file, tmp_path, monkeypatch, build):
    path = build(tmp_path, count=300) if build is hostile_workbooks.same_name_patients else build(tmp_path)
    planned = same_plan(path, monkeypatch)
    phrase = hostile_workbooks.REFUSED.get(build)
    assert (planned is None) == (phrase is not None)


def test_a_coded_parser_of_the_plan_is_what_the_column_reads(db):
    """The columns read coded cells with the plan's aliases (loaded once), as parser_for gives them."""
    column = Column(Delivery, "type_of_delivery", True, TODAY, ALIASES)
    assert isinstance(column.parse, CodedParser) and column.parse.aliases == ALIASES["type_of_delivery"]
    assert column.read("sp vag")[:2] == ("normal", None)
    assert isinstance(column.read("xyz")[1], UnknownValue)
