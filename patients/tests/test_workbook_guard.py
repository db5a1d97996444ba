"""Workbooks made to take a server down are refused before any reader opens them, through the admin
and the command, with a message naming the limit; nothing is written. Real registers still pass."""

import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from patients.importing import ImportFileError, plan_import
from patients.models import ImportBatch, Patient
from patients.tests import hostile_workbooks
from patients.tests.hostile_workbooks import HEADER_ROW, xlsx_package
from patients.tests.workbooks import make_workbook, patient_row, standard_sheets
from patients.workbook_guard import WorkbookRefused, check_workbook

UPLOAD = reverse("admin:patients_patient_import_workbook")
HOSTILE = list(hostile_workbooks.REFUSED.items())
IDS = [build.__name__ for build, _ in HOSTILE]


@pytest.fixture(autouse=True)
def upload_dir(tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    return settings.IMPORT_UPLOAD_DIR


@pytest.mark.parametrize(("build", "phrase"), HOSTILE, ids=IDS)
def test_the_command_refuses_a_hostile_workbook_and_writes_nothing(db, tmp_path, build, phrase):
    path = build(tmp_path)
    with pytest.raises(CommandError) as refused:
        call_command("import_workbook", str(path), verbosity=0)
    assert phrase in str(refused.value)
    assert Patient.all_objects.count() == 0 and ImportBatch.objects.count() == 0


@pytest.mark.parametrize(("build", "phrase"), HOSTILE, ids=IDS)
def test_the_admin_refuses_a_hostile_workbook_and_forgets_it(
    client, data_manager, tmp_path, upload_dir, build, phrase, settings
):
    settings.IMPORT_BACKGROUND_MB = 1_000  # checked in the request (the worker runs the same check)
    path = build(tmp_path)
    client.force_login(data_manager)
    stored = client.post(UPLOAD, {"workbook": SimpleUploadedFile(path.name, path.read_bytes())})
    if path.suffix == ".xls":  # refused by its name already, before it is stored
        assert stored.status_code == 200 and phrase in stored.content.decode()
    else:
        preview = client.get(stored.url)
        assert preview.status_code == 400
        assert phrase in preview.content.decode()
    assert Patient.all_objects.count() == 0 and ImportBatch.objects.count() == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_real_registers_pass_the_guard(tmp_path):
    check_workbook("fixtures/demo_workbook.xlsx")
    check_workbook("fixtures/libreoffice/register.xlsx")
    check_workbook("fixtures/libreoffice/register.ods")
    with open(make_workbook(tmp_path / "w.xlsx", standard_sheets()), "rb") as upload:
        check_workbook(upload)
        assert upload.tell() == 0  # left ready for the reader


def test_the_limits_are_settings_and_the_refusal_names_them(db, tmp_path, settings):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(patients=[patient_row(f"P{n}") for n in range(300)]))
    settings.IMPORT_MAX_CELLS = 2_000  # 301 rows by 10 columns is 3,010 cells
    with pytest.raises(
        ImportFileError, match="A1:J301: 301 rows by 10 columns.*at most 1,048,576 rows and 2,000 cells"
    ):
        plan_import(path)
    settings.IMPORT_MAX_CELLS, settings.IMPORT_MAX_ROWS = 26_000_000, 300
    with pytest.raises(ImportFileError, match="301 rows by 10 columns"):
        plan_import(path)
    settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_PARTS = 1_048_576, 5
    with pytest.raises(ImportFileError, match="at most 5"):
        plan_import(path)
    settings.IMPORT_MAX_PARTS = 1_000
    assert plan_import(path).counts()["patients"]["new"] == 300


def test_a_zip_bomb_is_refused_by_its_unpacked_size(tmp_path, settings):
    settings.IMPORT_MAX_UNPACKED_MB = 1
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, 60_000))
    path = xlsx_package(tmp_path / "bomb.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{rows}</sheetData>"})
    with pytest.raises(WorkbookRefused, match="unpacks to 3 MB; the limit is 1 MB"):
        check_workbook(path)


def test_a_long_text_used_by_many_cells_is_refused_by_the_text_it_would_expand_to(tmp_path, settings):
    """30,000 characters is a legal cell; 2,000 cells sharing it would be 60 MB of text in a reader."""
    settings.IMPORT_MAX_TEXT_MB = 50
    cells = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>1</v></c></row>' for r in range(2, 2_002))
    other = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>' for r in range(2, 2_002))
    shared = f"<si><t>short</t></si><si><t>{'a' * 30_000}</t></si>"
    path = xlsx_package(tmp_path / "t.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{cells}</sheetData>"}, shared)
    with pytest.raises(WorkbookRefused, match="adds up to more than 50 MB"):
        check_workbook(path)
    # The same cells using the short string are fine: uses are counted string by string.
    path = xlsx_package(tmp_path / "s.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{other}</sheetData>"}, shared)
    check_workbook(path)


@pytest.mark.parametrize(
    "cell",
    [
        '<c s="0" r="XFD1048576"><v>1</v></c>',  # the address is not the first attribute
        "<c><v>1</v></c>" * 20_000,  # cells without an address follow the one before
        '<x:c r="XFD1048576"><x:v>1</x:v></x:c>',  # a namespace prefix
        '<c\tr="XFD1048576"><v>1</v></c>',  # a tab after the tag's name
        '<c\nr="XFD1048576"><v>1</v></c>',  # a line break
        '<c r="xfd1048576"><v>1</v></c>',  # an address in lower case
    ],
    ids=["address-not-first", "no-addresses", "prefixed", "tab", "line-break", "lower-case"],
)
def test_cells_written_in_unusual_ways_are_measured_one_by_one(tmp_path, cell):
    """With the default limits, so that the quick path for plain sheets is the one under test."""
    path = xlsx_package(
        tmp_path / "u.xlsx", {"patients": f'<sheetData>{HEADER_ROW}<row r="9">{cell}</row></sheetData>'}
    )
    with pytest.raises(WorkbookRefused, match="has cells as far as|not a cell address"):
        check_workbook(path)


def test_empty_formatted_cells_far_away_do_not_count(tmp_path):
    """Readers skip a cell with a style and no value, so it cannot make their grid large."""
    far = '<row r="1048576"><c r="XFD1048576" s="1"/></row>'
    check_workbook(xlsx_package(tmp_path / "f.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{far}</sheetData>"}))


def test_a_damaged_zip_is_refused(tmp_path):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 10] ^= 0xFF  # a flipped byte inside the compressed sheet
    path.write_bytes(bytes(data))
    with pytest.raises(WorkbookRefused, match="damaged"):
        check_workbook(path)


def test_many_patients_of_one_name_are_each_flagged_once(db, tmp_path, client, data_manager, settings):
    """300 women of one name and village: 300 flags, not 89,700 pairs; the preview lists a page of them."""
    path = hostile_workbooks.same_name_patients(tmp_path, count=300)
    plan = plan_import(path)
    assert len(plan.possible_duplicates) == 300
    assert {d.reason for d in plan.possible_duplicates} == {"same name and village"}
    assert all(d.other_patient_id != d.patient_id for d in plan.possible_duplicates)

    settings.IMPORT_MAX_DUPLICATES_SHOWN = 50
    client.force_login(data_manager)
    stored = client.post(UPLOAD, {"workbook": SimpleUploadedFile(path.name, path.read_bytes())})
    page = client.get(stored.url).content.decode()
    assert "300 possible duplicate patients" in page and "… and 250 more." in page
    assert page.count("same name and village") == 50


def test_a_sheet_the_reader_cannot_parse_is_a_refusal_not_a_crash(db, tmp_path, client, data_manager):
    """The reader parses a sheet only when it is asked for it, after the workbook opened fine."""
    broken = f'<sheetData>{HEADER_ROW}<row r="2"><c r="A2"><v>1</v></row></sheetData>'
    path = xlsx_package(tmp_path / "broken.xlsx", {"patients": broken})
    with pytest.raises(ImportFileError, match="Sheet 'patients' cannot be read"):
        plan_import(path)
    client.force_login(data_manager)
    stored = client.post(UPLOAD, {"workbook": SimpleUploadedFile(path.name, path.read_bytes())})
    assert client.get(stored.url).status_code == 400


@pytest.mark.parametrize("build", [hostile_workbooks.corner_cells, hostile_workbooks.declared_million_rows,
                                   hostile_workbooks.long_shared_string], ids=lambda build: build.__name__)  # fmt: skip
def test_the_single_sheet_import_refuses_a_hostile_workbook_with_its_reason(client, data_manager, tmp_path, build):
    """django-import-export's Import on the changelist reads with openpyxl, which pads every row to
    the sheet's width: the same check runs first, and its message reaches the data manager."""
    path = build(tmp_path)
    client.force_login(data_manager)
    response = client.post(
        reverse("admin:patients_patient_import"),
        {"import_file": SimpleUploadedFile(path.name, path.read_bytes()), "format": "0"},  # 0: xlsx
    )
    assert response.status_code == 200
    assert hostile_workbooks.REFUSED[build] in response.content.decode()
    assert Patient.all_objects.count() == 0


def test_a_single_sheet_export_with_a_filter_that_names_nothing_goes_back_to_the_changelist(client, data_manager):
    client.force_login(data_manager)
    for query in ({"district": ""}, {"": ""}, {"no_such_field__exact": "1"}):
        response = client.get(reverse("admin:patients_followup_export"), query)
        assert response.status_code == 302
        assert response.url == reverse("admin:patients_followup_changelist") + "?e=1"


def test_xml_in_another_encoding_than_utf8_is_refused(tmp_path):
    """UTF-16 puts a NUL between the bytes the checks look for: refused, not read past."""
    sheet = f'<?xml version="1.0" encoding="UTF-16"?><worksheet><sheetData>{HEADER_ROW}</sheetData></worksheet>'
    path = xlsx_package(tmp_path / "w.xlsx", {"patients": "<sheetData/>"})
    with zipfile.ZipFile(path, "a") as package:
        package.writestr("xl/worksheets/sheet9.xml", sheet.encode("utf-16"))
    with pytest.raises(WorkbookRefused, match="not written in UTF-8"):
        check_workbook(path)


def test_the_single_sheet_import_takes_a_sheet_of_corrections_not_a_register(client, data_manager, tmp_path):
    """One cell at Z999999 is within a register's limits, but openpyxl would build a million rows of
    Python objects (minutes, gigabytes): the single-sheet import has its own, smaller, limit."""
    far = '<row r="999999"><c r="Z999999"><v>1</v></c></row>'
    path = xlsx_package(tmp_path / "far.xlsx", {"patients": f"<sheetData>{HEADER_ROW}{far}</sheetData>"})
    check_workbook(path)  # the workbook import reads it (calamine: about 1 GB), and says what is wrong
    client.force_login(data_manager)
    response = client.post(
        reverse("admin:patients_patient_import"),
        {"import_file": SimpleUploadedFile(path.name, path.read_bytes()), "format": "0"},
    )
    assert response.status_code == 200
    assert "999,999 rows by 26 columns" in response.content.decode()
