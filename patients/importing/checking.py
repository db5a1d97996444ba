"""Checking each cell as Model.clean_fields() checks its field, once per distinct cell of a column
where a remembered verdict must equal a fresh one (see Column). planning.py checks each row with
these verdicts, then runs the model's clean() on it; tests/test_import_checks.py proves the result
equals Django's own checks, row by row."""

import datetime

from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.base import ModelState

from patients import clinical
from patients.importing.reading import parser_for
from patients.models import PlausibleRange, validate_not_before_earliest, validate_not_in_future
from patients.text import validate_no_control_characters


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
