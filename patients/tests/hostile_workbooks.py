"""
Workbooks made to hurt a reader: each is a few kilobytes on disk and would take a worker down if a
reader trusted it. Used by patients/tests/test_workbook_guard.py and bench/hostile_workbooks_bench.py.

Each builder writes its file into `folder` and returns the path. The xlsx packages are written part
by part, as a hostile sender would, not through a spreadsheet library that would refuse to.
"""

import zipfile

from openpyxl import Workbook

from patients.tests.workbooks import PATIENT_HEADER, patient_row

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
SHARED_STRINGS_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
HEADER_ROW = '<row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c></row>'


def xlsx_package(path, sheets, shared_strings=None, sheet_prologue=""):
    """An xlsx with {title: sheetData XML}, optionally a sharedStrings part (XML of its <si> items, or a
    callable writing the whole part to a stream, for parts too large to hold)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES)
        package.writestr("_rels/.rels", PACKAGE_RELS)
        entries = "".join(
            f'<sheet name="{title}" sheetId="{n}" r:id="rId{n}"/>' for n, title in enumerate(sheets, start=1)
        )
        package.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats'
            f'.org/officeDocument/2006/relationships"><sheets>{entries}</sheets></workbook>',
        )
        relations = "".join(
            f'<Relationship Id="rId{n}" Type="{WORKSHEET_TYPE}" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        if shared_strings is not None:
            relations += f'<Relationship Id="rIdS" Type="{SHARED_STRINGS_TYPE}" Target="sharedStrings.xml"/>'
        package.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships">{relations}</Relationships>',
        )
        for n, sheet_data in enumerate(sheets.values(), start=1):
            package.writestr(
                f"xl/worksheets/sheet{n}.xml",
                f'<?xml version="1.0" encoding="UTF-8"?>{sheet_prologue}<worksheet xmlns="{MAIN}">{sheet_data}'
                "</worksheet>",
            )
        if callable(shared_strings):
            with package.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                shared_strings(part)
        elif shared_strings is not None:
            package.writestr(
                "xl/sharedStrings.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">{shared_strings}</sst>',
            )
    return path


def corner_cells(folder):
    """Two cells, A1 and XFD1048576: a reader's grid between them is 17 billion cells (550 GB)."""
    return xlsx_package(
        folder / "corner_cells.xlsx",
        {"patients": f'<sheetData>{HEADER_ROW}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'},
    )


def declared_million_rows(folder):
    """A sheet that declares A1:XFD1048576 (a million rows by 16,384 columns) around one cell: openpyxl,
    django-import-export's reader, pads every row to the declared width."""
    return xlsx_package(
        folder / "declared_million_rows.xlsx",
        {"patients": f'<dimension ref="A1:XFD1048576"/><sheetData>{HEADER_ROW}</sheetData>'},
    )


def long_shared_string(folder, megabytes=20, uses=50):
    """One shared string of `megabytes` MB used by `uses` cells: a reader copies it into each."""

    def write(part):
        part.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"><si><t>'.encode())
        block = b"a" * (1 << 20)
        for _ in range(megabytes):
            part.write(block)
        part.write(b"</t></si></sst>")

    cells = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>' for r in range(2, uses + 2))
    return xlsx_package(
        folder / f"shared_string_{megabytes}mb.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{cells}</sheetData>"}, write
    )


def external_entity(folder):
    """XXE: a sheet whose DTD declares an entity read from a file on the server."""
    return xlsx_package(
        folder / "external_entity.xlsx",
        {"patients": f'<sheetData>{HEADER_ROW}<row r="2"><c r="A2" t="inlineStr"><is><t>&xxe;</t></is></c></row>'
                     "</sheetData>"},
        sheet_prologue='<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    )  # fmt: skip


def billion_laughs(folder):
    """Nested entities that expand to a billion "lol"s, in the shared strings."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )

    def write(part):
        part.write(f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE sst [{entities}]>'.encode())
        part.write(f'<sst xmlns="{MAIN}"><si><t>&lol9;</t></si></sst>'.encode())

    cells = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    return xlsx_package(
        folder / "billion_laughs.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{cells}</sheetData>"}, write
    )


def many_sheets(folder, count=10_000):
    """A zip of 10,000 sheets."""
    sheets = {f"sheet{n}": f"<sheetData>{HEADER_ROW}</sheetData>" for n in range(1, count + 1)}
    return xlsx_package(folder / f"{count}_sheets.xlsx", sheets)


def repeated_ods_cells(folder):
    """An OpenDocument sheet whose one filled cell repeats 16,384 columns across a million rows."""
    return _ods(folder / "repeated_cells.ods", '<table:table-row table:number-rows-repeated="1048576">'
                '<table:table-cell table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p>'
                "</table:table-cell></table:table-row>")  # fmt: skip


def _ods(path, rows):
    """An OpenDocument spreadsheet whose table `patients` holds `rows` (XML of table-row elements)."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
        f'<table:table table:name="patients">{rows}</table:table></office:spreadsheet></office:body>'
        "</office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        package.writestr("content.xml", content)
    return path


def ods_spaces(folder):
    """An OpenDocument cell of 2,000 elements <text:s text:c="1000000"/>: each stands for a million
    spaces, which a reader writes out (2 GB of text from 60 KB)."""
    spaces = '<text:s text:c="1000000"/>' * 2_000
    return _ods(folder / "spaces.ods", f'<table:table-row><table:table-cell office:value-type="string"><text:p>{spaces}'
                "</text:p></table:table-cell></table:table-row>")  # fmt: skip


def excel_97(folder):
    """The first bytes of an Excel 97-2003 (.xls) compound file."""
    path = folder / "register.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)
    return path


def same_name_patients(folder, count=4_000):
    """A valid register of `count` new patients of one name and one village: every pair is a possible
    duplicate of every other, 16 million pairs if compared pair by pair."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("patients")
    sheet.append(PATIENT_HEADER)
    for n in range(count):
        sheet.append(patient_row(f"S{n:05d}", name="Sita Gurung", village="Deurali"))
    path = folder / f"same_name_{count}.xlsx"
    workbook.save(path)
    return path


# The files each refused before any reader opens them, with a phrase of their refusal.
REFUSED = {
    corner_cells: "has cells as far as row 1,048,576 and column XFD",
    declared_million_rows: "declares the range A1:XFD1048576",
    long_shared_string: "characters long; a spreadsheet cell holds at most 32,767",
    external_entity: "declares a DTD",
    billion_laughs: "declares a DTD",
    many_sheets: "parts; a workbook may have at most",
    repeated_ods_cells: "has cells as far as row 1,048,576",
    ods_spaces: "characters long; a spreadsheet cell holds at most 32,767",
    excel_97: "save it as an Excel workbook (.xlsx)",
}
