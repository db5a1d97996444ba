import pytest
from django.core.management import CommandError, call_command

from patients.models import FollowUp, ImportBatch, Patient
from patients.tests.workbooks import followup_row, make_workbook, patient_row, standard_sheets

pytestmark = pytest.mark.django_db


def run(capsys, *args):
    """call_command, returning (exit status, stdout)."""
    try:
        call_command("import_workbook", *map(str, args), verbosity=0)
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    return status, capsys.readouterr().out


def test_imports_and_says_what_it_did(tmp_path, capsys):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets())
    status, out = run(capsys, path)
    assert status == 0
    assert "patients   1 new, 0 updated, 0 unchanged, 0 invalid" in out
    assert "new districts: Kaski" in out
    assert f"Imported as import #{ImportBatch.objects.get().pk}." in out
    assert ImportBatch.objects.get().source == ImportBatch.Source.COMMAND

    status, out = run(capsys, path)
    assert status == 0
    assert "0 new, 0 updated, 1 unchanged" in out and "Nothing to import" in out


def test_dry_run_writes_nothing(tmp_path, capsys):
    status, out = run(capsys, make_workbook(tmp_path / "w.xlsx", standard_sheets()), "--dry-run")
    assert status == 0 and "Dry run" in out
    assert not Patient.objects.exists()


def test_invalid_rows_are_a_table_and_a_non_zero_exit_and_nothing_written(tmp_path, capsys):
    sheets = standard_sheets(
        followups=[followup_row(visit_number=1), followup_row(visit_number=2, haemoglobin_g_dl=104)]
    )
    errors_out = tmp_path / "errors.xlsx"
    status, out = run(capsys, make_workbook(tmp_path / "w.xlsx", sheets), "--errors-out", errors_out)
    assert status == 1
    [line] = [line for line in out.splitlines() if "looks like g/L" in line]
    assert line.split()[:4] == ["1", "followups", "haemoglobin_g_dl", "3"]  # rows, sheet, column, first rows
    assert "Nothing was imported: 1 rows are invalid" in out
    assert errors_out.exists()
    assert not Patient.objects.exists()


def test_skip_invalid_writes_the_valid_rows_and_still_exits_non_zero(tmp_path, capsys):
    sheets = standard_sheets(patients=[patient_row("P001"), patient_row("P002", height_cm=500)], followups=[])
    status, out = run(capsys, make_workbook(tmp_path / "w.xlsx", sheets), "--skip-invalid")
    assert status == 1
    assert "skipping 1 invalid rows" in out
    assert list(Patient.objects.values_list("patient_id", flat=True)) == ["P001"]
    assert not FollowUp.objects.exists()


def test_a_file_that_cannot_be_read_is_a_command_error(tmp_path):
    bad = tmp_path / "w.xlsx"
    bad.write_text("not a workbook")
    with pytest.raises(CommandError, match="not a workbook"):
        call_command("import_workbook", str(bad), verbosity=0)
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_workbook", str(tmp_path / "missing.xlsx"), verbosity=0)
