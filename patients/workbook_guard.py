"""
Limits a workbook must keep before any reader opens it: no upload can take a server worker down.

A spreadsheet reader trusts the file. calamine (our xlsx/ods reader) builds each sheet as one grid
from its first to its last filled cell, so a 2 KB file with cells at A1 and XFD1048576 asks for
550 GB and aborts the whole process; it copies a shared string into every cell that uses it, so one
20 MB string used by 50 cells costs gigabytes. openpyxl (django-import-export's reader) pads rows
to the sheet's width in the same way. Neither has a bounded mode, so this module reads the file's
parts itself (an xlsx or ods file is a zip of XML), in chunks, with memory flat in the file's size,
and refuses the file before a reader sees it when:

- the zip has too many parts, or they unpack to too much XML (zip bombs, 10,000 sheets);
- any XML part has a DTD (entity expansion "billion laughs", external entities);
- a sheet's declared (`<dimension>`) or real extent spans more cells or rows than allowed;
- a single text is longer than a spreadsheet cell can hold (32,767 characters), or the text the
  cells would expand to (shared strings times their uses) is more than allowed.

The limits are settings (IMPORT_MAX_*). Excel 97-2003 (.xls) and binary (.xlsb) workbooks cannot be
checked this way and are refused with how to save them as .xlsx.
"""

import html
import re
import zipfile
import zlib
from array import array
from collections import Counter
from dataclasses import dataclass
from xml.parsers import expat

from django.conf import settings

# Excel's own limits: a cell holds at most 32,767 characters; a sheet has 1,048,576 rows and
# 16,384 columns (XFD).
MAX_CELL_TEXT = 32_767
MAX_SHEET_ROWS = 1_048_576
MAX_SHEET_COLUMNS = 16_384
# A cell's text is at most 6 bytes of XML per character (an escape such as &quot;).
MAX_TEXT_BYTES = MAX_CELL_TEXT * 6
CHUNK_BYTES = 1 << 20
SMALL_PART_BYTES = 16 << 20
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Patterns over raw XML bytes (C-speed, no tree built). A namespace prefix (x:c) is allowed.
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
CELL_START = re.compile(rb"<" + _PREFIX + rb"c[\s/>]")
CELL_WITH_REF = re.compile(rb"<" + _PREFIX + rb"c\s[^>]*?\br\s*=")
# (column, row, "/" when the cell is empty and self-closing: readers skip those)
CELL_REF = re.compile(rb"<" + _PREFIX + rb"c\s[^>]*?\br\s*=\s*[\"']([A-Z]{1,3})([0-9]{1,7})[\"'][^>]*?(/?)>")
ROW_START = re.compile(rb"<" + _PREFIX + rb"row[\s/>]")
ROW_WITH_REF = re.compile(rb"<" + _PREFIX + rb"row\s[^>]*?\br\s*=")
ROW_REF = re.compile(rb"<" + _PREFIX + rb"row\s[^>]*?\br\s*=\s*[\"']([0-9]{1,7})[\"']")
DIMENSION = re.compile(
    rb"<" + _PREFIX + rb"dimension\s[^>]*?\bref\s*=\s*[\"']\$?([A-Z]{1,3})\$?([0-9]{1,7})"
    rb"(?::\$?([A-Z]{1,3})\$?([0-9]{1,7}))?[\"']"
)
# In a plain sheet, a cell beyond column Z or row 999,999, or an address written otherwise (any
# other sheet is measured cell by cell).
FAR_CELL = re.compile(rb'<c r="(?![A-Z][0-9]{1,6}")')
NEAR_ROWS, NEAR_COLUMNS = 999_999, 26
# A cell tag written any other way: a tab or line break after its name, or a namespace prefix.
ODD_CELL_STARTS = (b"<c\t", b"<c\n", b"<c\r")
PREFIXED_CELL = re.compile(rb":c[\s/>]")
SHARED_STRING_USE = re.compile(
    rb"<" + _PREFIX + rb"c\s[^>]*?\bt\s*=\s*[\"']s[\"'][^>]*>\s*<" + _PREFIX + rb"v>\s*([0-9]+)"
)
# A string item, empty (<si/>) or with its XML as the group: indexes must stay aligned with the reader's.
SI = re.compile(rb"<" + _PREFIX + rb"si\b[^>]*?/>|<" + _PREFIX + rb"si\b[^>]*>(.*?)</" + _PREFIX + rb"si>", re.DOTALL)
SI_START = re.compile(rb"<" + _PREFIX + rb"si\b")
DTD = (b"<!DOCTYPE", b"<!ENTITY")
XML_ENCODING = re.compile(rb"\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']+)")
ASCII_BASED = {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin-1", b"latin1", b"windows-1252"}
WORKSHEET_RELATION = re.compile(
    rb"<(?:[\w.-]+:)?Relationship\b(?=[^>]*\bType\s*=\s*[\"'][^\"']*/worksheet[\"'])[^>]*\bTarget\s*=\s*[\"']([^\"']+)"
)


class WorkbookRefused(Exception):
    """The file breaks a limit; the message says which, where, and what to do."""


@dataclass(frozen=True)
class Extent:
    """How far one sheet may span: rows, and cells from A1 to its farthest filled cell."""

    rows: int
    cells: int


def check_workbook(source, extent=None):
    """Refuse `source` (a path or a binary file) unless every limit holds; read nothing into a grid.

    `extent` narrows the settings' IMPORT_MAX_ROWS and IMPORT_MAX_CELLS (the single-sheet import,
    whose reader builds Python objects cell by cell, takes far less)."""
    extent = extent or Extent(settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_CELLS)
    if hasattr(source, "read"):
        source.seek(0)
        head = source.read(8)
        source.seek(0)
    else:
        with open(source, "rb") as stream:
            head = stream.read(8)
    if head.startswith(OLE_MAGIC):
        raise WorkbookRefused(
            "This is an Excel 97-2003 workbook (.xls), whose size cannot be checked before it is read. "
            "Open it in your spreadsheet program, save it as an Excel workbook (.xlsx) and upload that."
        )
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise WorkbookRefused(
            "This file is not a workbook that can be read (xlsx or ods expected). A CSV or PDF renamed to "
            ".xlsx will not do."
        ) from None
    try:
        with archive:
            _check_archive(archive, extent)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise WorkbookRefused(f"This workbook is damaged and cannot be read ({error}).") from None
    finally:
        if hasattr(source, "seek"):
            source.seek(0)


def _check_archive(archive, extent):
    parts = archive.infolist()
    if len(parts) > settings.IMPORT_MAX_PARTS:
        raise WorkbookRefused(
            f"This workbook has {len(parts):,} parts; a workbook may have at most {settings.IMPORT_MAX_PARTS:,} "
            "(sheets, styles and the like). Keep the sheets patients, deliveries and followups and remove the rest."
        )
    unpacked = sum(part.file_size for part in parts)
    limit = settings.IMPORT_MAX_UNPACKED_MB * 1024 * 1024
    if unpacked > limit:
        raise WorkbookRefused(
            f"This workbook unpacks to {unpacked / 1024 / 1024:,.0f} MB; the limit is "
            f"{settings.IMPORT_MAX_UNPACKED_MB:,} MB. Split it into smaller workbooks."
        )
    names = {part.filename for part in parts}
    if "xl/workbook.xml" in names:
        _check_xlsx(archive, names, extent)
    elif "content.xml" in names:
        _check_ods(archive, extent)
    elif "xl/workbook.bin" in names:
        raise WorkbookRefused(
            "This is a binary Excel workbook (.xlsb). Save it as an Excel workbook (.xlsx) and upload that."
        )
    else:
        raise WorkbookRefused("This file is a zip archive but not a workbook (xlsx or ods expected).")


# --- xlsx --------------------------------------------------------------------------------------------


def _check_xlsx(archive, names, extent):
    sheets = _worksheet_parts(archive, names)
    text_lengths = array("L")  # each shared string's length in bytes of XML (an upper bound on its characters)
    for name in sorted(names):
        if name == "xl/sharedStrings.xml":
            text_lengths = _shared_string_lengths(archive, name)
        elif name not in sheets and name.endswith((".xml", ".rels", ".vml")):
            for _chunk in _chunks(archive, name):
                pass  # every XML part is read once for a DTD
    text_total = 0
    for name, title in sorted(sheets.items()):
        text_total += _check_sheet(archive, name, title, text_lengths, extent)
        _check_text_total(text_total, title)


def _check_text_total(text_total, title):
    if text_total > settings.IMPORT_MAX_TEXT_MB * 1024 * 1024:
        raise WorkbookRefused(
            f"The text in this workbook's cells adds up to more than {settings.IMPORT_MAX_TEXT_MB:,} MB (the same "
            f"long text repeated in many cells, by sheet '{title}'). Split the workbook or shorten the texts."
        )


def _worksheet_parts(archive, names):
    """Every worksheet part (the workbook's relations may point anywhere), each with its sheet's title."""
    titles = {}
    if "xl/_rels/workbook.xml.rels" in names:
        relations = _small_part(archive, "xl/_rels/workbook.xml.rels")
        workbook = _small_part(archive, "xl/workbook.xml")
        targets = {}
        for match in re.finditer(rb"<(?:[\w.-]+:)?Relationship\b[^>]*>", relations):
            tag = match.group(0)
            rel_id, target = re.search(rb"\bId\s*=\s*[\"']([^\"']+)", tag), WORKSHEET_RELATION.match(tag)
            if rel_id and target:
                path = target.group(1).decode("utf-8", "replace").lstrip("/")
                targets[rel_id.group(1)] = path if path.startswith("xl/") else f"xl/{path}"
        for match in re.finditer(rb"<(?:[\w.-]+:)?sheet\b[^>]*>", workbook):
            tag = match.group(0)
            title = re.search(rb"\bname\s*=\s*[\"']([^\"']*)", tag)
            rel_id = re.search(rb"\b(?:[\w.-]+:)?id\s*=\s*[\"']([^\"']+)", tag)
            if rel_id and rel_id.group(1) in targets:
                titles[targets[rel_id.group(1)]] = html.unescape(title.group(1).decode("utf-8", "replace"))
    # Any part under xl/worksheets/ is checked too, whatever the relations say.
    for name in names:
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            titles.setdefault(name, name.rsplit("/", 1)[-1])
    return {name: title for name, title in titles.items() if name in names}


def _small_part(archive, name):
    """A part that lists things (sheets, relations), read whole: a few kilobytes in any real workbook."""
    if archive.getinfo(name).file_size > SMALL_PART_BYTES:
        raise WorkbookRefused(f"The part {name} of this workbook is over {SMALL_PART_BYTES // 1024 // 1024} MB.")
    return b"".join(_chunks(archive, name))


def _shared_string_lengths(archive, name):
    lengths = array("L")
    index = 0
    tail = b""
    for chunk in _chunks(archive, name):
        data = tail + chunk
        end = 0
        for match in SI.finditer(data):
            raw = match.group(1) or b""
            if len(raw) > MAX_CELL_TEXT and _text_length(raw) > MAX_CELL_TEXT:
                raise _too_long(f"Shared string {index + 1:,}", _text_length(raw))
            lengths.append(len(raw))
            index += 1
            end = match.end()
        tail = data[end:]
        start = SI_START.search(tail)
        tail = tail[start.start() :] if start else b""
        if len(tail) > MAX_TEXT_BYTES + 4096:
            raise _too_long(f"Shared string {index + 1:,}", len(tail))
    return lengths


def _text_length(raw):
    """The characters of a string item: its XML without tags, entities decoded."""
    return len(html.unescape(re.sub(rb"<[^>]*>", b"", raw).decode("utf-8", "replace")))


def _too_long(where, length, over=""):
    return WorkbookRefused(
        f"{where} of this workbook is {over}{length:,} characters long; a spreadsheet cell holds at most "
        f"{MAX_CELL_TEXT:,}. This file was not written by a spreadsheet program as it is; save it again."
    )


def _check_sheet(archive, name, title, text_lengths, extent):
    """Refuse a sheet whose cells span too much; return how many bytes of shared text its cells use.

    Files written by spreadsheet programs put the address first in every cell (`<c r="B7"`): for
    those a few byte counts and failing searches prove the sheet lies within A1:Z999999, which is
    all a register needs, and nothing is built per cell. Any other sheet is measured cell by cell.
    """
    plain, cells, declared = True, 0, None
    for number, chunk in enumerate(_chunks(archive, name)):
        if number == 0 and (dimension := DIMENSION.search(chunk)):  # it comes before the cells
            declared = dimension.groups()
        with_address = chunk.count(b'<c r="')
        if chunk.count(b"<c") == with_address:
            found = with_address  # every tag starting "<c" is a cell with its address first (no <c>, <c/>, <cols>)
        else:
            found = chunk.count(b"<c ") + chunk.count(b"<c>") + chunk.count(b"<c/>")
        cells += found
        plain = plain and found == with_address and not _odd_cells(chunk)
    if declared and declared[2]:
        first_col, first_row, last_col, last_row = declared
        height = int(last_row) - int(first_row) + 1
        width = _column_number(last_col) - _column_number(first_col) + 1
        _check_extent(title, f"declares the range {_declared_range(declared)}", height, width, extent)
    if not plain or extent.cells < NEAR_ROWS * NEAR_COLUMNS:
        height, width, cells = _measure_sheet(archive, name, title)
        where = f"has cells as far as row {height:,} and column {_column_name(width)}"
        _check_extent(title, where, height, width, extent)
    text_used = cells * max(text_lengths, default=0)  # as if every cell were the longest shared string
    if text_used > settings.IMPORT_MAX_TEXT_MB * 1024 * 1024:
        text_used = _shared_text_used(archive, name, text_lengths)
    return text_used


def _odd_cells(chunk):
    """Whether a chunk has a cell that the quick path cannot vouch for."""
    return bool(
        FAR_CELL.search(chunk)
        or PREFIXED_CELL.search(chunk)
        # A one-byte search first: most chunks hold no tab nor line break at all.
        or any(start[-1:] in chunk and start in chunk for start in ODD_CELL_STARTS)
    )


def _measure_sheet(archive, name, title):
    """The rows and columns a reader's grid would span: from A1 to the farthest cell that holds a
    value (empty self-closing cells are skipped, as readers do); cells and rows without an address
    follow the one before, so they are counted in."""
    max_row = max_col = 0
    cells = cells_with_ref = rows = rows_with_ref = 0
    for chunk in _chunks(archive, name):
        refs = CELL_REF.findall(chunk)
        filled = [(col, row) for col, row, empty in refs if not empty]
        if filled:
            max_col = max(max_col, max(_column_number(col) for col in {col for col, _ in filled}))
            max_row = max(max_row, max(int(row) for row in {row for _, row in filled}))
        with_ref = len(CELL_WITH_REF.findall(chunk))
        if with_ref != len(refs):
            raise WorkbookRefused(f"Sheet '{title}' has a cell whose address is not a cell address.")
        cells += len(CELL_START.findall(chunk))
        cells_with_ref += with_ref
        rows += len(ROW_START.findall(chunk))
        rows_with_ref += len(ROW_WITH_REF.findall(chunk))
        max_row = max(max_row, max((int(r) for r in ROW_REF.findall(chunk)), default=0))
    return max_row + (rows - rows_with_ref), max_col + (cells - cells_with_ref), cells


def _check_extent(title, what, height, width, extent):
    if height > extent.rows or width > MAX_SHEET_COLUMNS or height * width > extent.cells:
        raise WorkbookRefused(
            f"Sheet '{title}' {what}: {height:,} rows by {width:,} columns. A sheet may span at most "
            f"{extent.rows:,} rows and {extent.cells:,} cells from A1 to its last cell. "
            "Delete the empty rows and columns after your data (or anything typed far away), save, and upload again."
        )


def _shared_text_used(archive, name, text_lengths):
    """The bytes of shared text the sheet's cells expand to, each use of a string counted."""
    uses = Counter()
    for chunk in _chunks(archive, name):
        uses.update(SHARED_STRING_USE.findall(chunk))
    return sum(text_lengths[int(i)] * count for i, count in uses.items() if int(i) < len(text_lengths))


def _declared_range(groups):
    first_col, first_row, last_col, last_row = (part.decode() for part in groups)
    return f"{first_col}{first_row}:{last_col}{last_row}"


def _column_number(letters):
    """b"A" -> 1, b"XFD" -> 16384."""
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _column_name(number):
    name = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        name = chr(65 + rest) + name
    return name or "A"


def _chunks(archive, name):
    """The part's bytes in chunks of about a megabyte, refusing a DTD. Each chunk ends where a tag
    starts and the rest is carried to the next, so no tag is cut in two; a text or tag that runs on
    for more than a chunk is refused (a cell holds 32,767 characters)."""
    tail = b""
    with archive.open(name) as stream:
        _check_encoding(name, stream.peek(200)[:200])
        while True:
            block = stream.read(CHUNK_BYTES)
            data = tail + block
            if b"!" in data and any(marker in data for marker in DTD):  # one byte first: rarely there
                raise WorkbookRefused(
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
                if len(tail) > MAX_TEXT_BYTES + CHUNK_BYTES:
                    raise _too_long(f"A text in {name}", len(tail), over="over ")
                continue
            yield data[:cut]
            tail = data[cut:]


def _check_encoding(name, head):
    """Refuse XML in an encoding whose bytes our patterns cannot read (UTF-16: every other byte a NUL).
    Spreadsheet programs write UTF-8; ASCII-based declarations read the same."""
    declared = XML_ENCODING.match(head.removeprefix(b"\xef\xbb\xbf"))
    encoding = declared.group(1).lower() if declared else b"utf-8"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head or encoding not in ASCII_BASED:
        raise WorkbookRefused(
            f"The part {name} of this workbook is not written in UTF-8, as spreadsheet programs write it. "
            "Open the file in your spreadsheet program and save it again."
        )


# --- ods ---------------------------------------------------------------------------------------------

TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def _check_ods(archive, extent):
    for name in archive.namelist():
        if name.endswith(".xml") and name != "content.xml":
            for _chunk in _chunks(archive, name):
                pass  # read once for a DTD
    counter = _OdsExtent(extent)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = counter.start
    parser.EndElementHandler = counter.end
    parser.CharacterDataHandler = counter.text
    try:
        for chunk in _chunks(archive, "content.xml"):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise WorkbookRefused(f"This workbook's content is not well-formed XML ({error}).") from None


class _OdsExtent:
    """Follows an OpenDocument spreadsheet's rows and cells, whose repeat counts a reader expands,
    and refuses a table whose filled cells would span too much or expand to too much text."""

    def __init__(self, extent):
        self.extent = extent
        self.title, self.text_total = "", 0
        self.in_cell = False

    def start(self, name, attributes):
        if name == f"{TABLE_NS} table":
            self.title = attributes.get(f"{TABLE_NS} name", "")
            self.row_index = self.height = self.width = 0
        elif name == f"{TABLE_NS} table-row":
            self.row_repeat = _repeat(attributes.get(f"{TABLE_NS} number-rows-repeated"))
            self.column, self.row_width, self.row_text = 0, 0, 0
        elif name in (f"{TABLE_NS} table-cell", f"{TABLE_NS} covered-table-cell"):
            self.in_cell = True
            self.cell_repeat = _repeat(attributes.get(f"{TABLE_NS} number-columns-repeated"))
            self.cell_filled = f"{OFFICE_NS} value-type" in attributes
            self.cell_text = 0
        elif name == f"{TEXT_NS} s" and self.in_cell:
            # <text:s text:c="N"/> is N spaces, which a reader writes out: 9 bytes can ask for gigabytes.
            self._add_text(_repeat(attributes.get(f"{TEXT_NS} c")))

    def text(self, data):
        self._add_text(len(data))

    def _add_text(self, length):
        if self.in_cell:
            self.cell_filled = True
            self.cell_text += length
            if self.cell_text > MAX_CELL_TEXT:
                raise _too_long(f"A cell of sheet '{self.title}'", self.cell_text)

    def end(self, name):
        if name in (f"{TABLE_NS} table-cell", f"{TABLE_NS} covered-table-cell"):
            self.in_cell = False
            self.column += self.cell_repeat
            if self.cell_filled:
                self.row_width = self.column
                self.row_text += self.cell_text * self.cell_repeat
        elif name == f"{TABLE_NS} table-row":
            if self.row_width:
                self.height = self.row_index + self.row_repeat
                self.width = max(self.width, self.row_width)
                column = _column_name(min(self.width, MAX_SHEET_COLUMNS + 1))
                where = f"has cells as far as row {self.height:,} and column {column}"
                _check_extent(self.title, where, self.height, self.width, self.extent)
                self.text_total += self.row_text * self.row_repeat
                _check_text_total(self.text_total, self.title)
            self.row_index += self.row_repeat


def _repeat(value):
    try:
        return max(int(value), 1) if value else 1
    except ValueError:
        return 1
