"""Reading a workbook: open it (after the guard), match its headers to fields, and read each cell
into the value its field holds, or a ValueError saying why it cannot be read."""

import datetime
import decimal
import hashlib
import re

from django.conf import settings
from django.db import models
from python_calamine import CalamineError, CalamineWorkbook

from patients import vocabulary
from patients.importing.plans import ImportFileError
from patients.text import strip_control_characters
from patients.workbook import IGNORED_COLUMNS, REQUIRED_COLUMNS, column_lookup, header_key
from patients.workbook_guard import WorkbookRefused, check_workbook

BLANKS = {"", "-", "--", "na", "n/a", "nil", "none", "null", "not done", "nd"}


# --- Reading cells ------------------------------------------------------------------------------


def _is_blank(value):
    return value is None or (isinstance(value, str) and value.strip().lower() in BLANKS)


def parse_text(value):
    if value.__class__ is str and value.isascii() and value.isprintable():
        # The usual cell: printable ASCII (U+0020-U+007E) holds no control character to drop.
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        raise ValueError("a date or time, where text was expected")
    # Control characters (pasted from other systems) are never meant: dropped, not refused.
    return strip_control_characters(str(value)).strip()


_INFINITY = float("inf")


def parse_number(value):
    if value.__class__ is float:  # the usual cell (an exact float: never a bool, a date or blank)
        if value != value or value in (_INFINITY, -_INFINITY):
            raise ValueError("not a number")
        return value
    if value.__class__ is int:  # a whole number (the reader made 26.0 into 26)
        return float(value)
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
    if value.__class__ is int:
        return int(float(value))  # as below: through a float, as every number of a workbook is
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
    if value.__class__ is datetime.date:  # the usual cell: a real date
        return value
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


class UnknownValue(ValueError):
    """A coded value (delivery type, term) that no known spelling or saved alias names."""

    def __init__(self, coded, typed):
        self.column, self.typed = coded.column, typed
        super().__init__(
            f"unknown {coded.verbose_name} '{typed}': map it to a known one, or write one of: {coded.accepted()}"
        )


class CodedParser:
    """Reads a coded column's cells: the app's words first, then `aliases` (key -> code: the saved
    aliases and an import's own mappings, read once), or without them a query per unknown value."""

    def __init__(self, coded, aliases=None):
        self.coded, self.aliases = coded, aliases

    def __call__(self, value):
        if _is_blank(value):
            return ""
        typed = parse_text(value)
        code = self.coded.code(typed, self.aliases)
        if code is None:
            raise UnknownValue(self.coded, typed)
        return code


def parser_for(model, name, aliases=None):
    """The function that reads a workbook cell for a model field (raises ValueError with the reason).

    `aliases` ({column: {key: code}}) gives the coded columns' parsers the aliases to use."""
    if name in ("district", "patient_id"):
        return parse_text
    if name in vocabulary.CODED_COLUMNS:
        return CodedParser(vocabulary.CODED_COLUMNS[name], None if aliases is None else aliases.get(name, {}))
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


def open_workbook(source):
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


def checksum(source):
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


def read_sheet(workbook, title, kind):
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

    wanted_positions = list(positions.items())

    def records(only=None):
        """(row number, {field: raw value}) for each non-blank row; with `only`, just those fields
        (a row is blank or not by all its known columns, whichever are asked for)."""
        items = wanted_positions if only is None else [(name, i) for name, i in wanted_positions if name in only]
        indexes = list(positions.values())
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            if number <= header_row:
                continue
            width = len(cells)
            for i in indexes:  # a row is blank when every cell of a known column is
                if i < width and (value := cells[i]) != "" and value is not None:
                    break
            else:
                continue
            # Spreadsheets store every number as a float: 26.0 is shown, and reported, as 26.
            yield (
                number,
                {
                    name: (int(value) if isinstance(value := cells[i], float) and value.is_integer() else value)
                    if i < width
                    else ""
                    for name, i in items
                },
            )

    # A function, not a generator: a large sheet is read twice (keys first) rather than held in memory.
    return columns, ignored, records, max(sheet.total_height - header_row + 1, 0)
