"""Workbook import: what lands, what is refused and why, and that nothing is half-written."""

import datetime

import pytest
from django.core.management import call_command

from patients.importing import ImportFileError, ImportRefused, apply_import, plan_import, write_error_workbook
from patients.models import Delivery, District, FollowUp, ImportBatch, Patient
from patients.tests import test_constraints
from patients.tests.factories import make_followup, make_patient
from patients.tests.workbooks import (
    DELIVERY_HEADER,
    FOLLOWUP_HEADER,
    PATIENT_HEADER,
    delivery_row,
    followup_row,
    make_workbook,
    patient_row,
    standard_sheets,
)
from patients.workbook import write_workbook

pytestmark = pytest.mark.django_db


def counts():
    return Patient.objects.count(), Delivery.objects.count(), FollowUp.objects.count()


def only_error(plan, sheet=None):
    errors = [e for e in plan.errors if sheet is None or e.sheet == sheet]
    assert len(errors) == 1, errors
    return errors[0]


def test_a_new_workbook_lands_whole_and_is_recorded_once(tmp_path, data_manager):
    path = make_workbook(tmp_path / "register.xlsx", standard_sheets(
        patients=[patient_row("P001"), patient_row("P002", district="  chitwan ", name="Gita Thapa")],
        deliveries=[delivery_row("P001"), delivery_row("P002", type_of_delivery="LSCS")],
        followups=[followup_row("P001", 1), followup_row("P001", 2, visit_date="2024-04-20")],
    ))  # fmt: skip
    plan = plan_import(path)
    assert plan.errors == []
    assert plan.counts()["patients"] == {"new": 2, "updated": 0, "unchanged": 0, "invalid": 0}
    assert plan.new_districts == ["Kaski", "Chitwan"]  # title case of the spelling the file uses

    batch = apply_import(plan, user=data_manager, source=ImportBatch.Source.ADMIN)
    assert counts() == (2, 2, 2)
    p2 = Patient.objects.get(patient_id="P002")
    assert p2.district.name == "Chitwan" and p2.deliveries.get().type_of_delivery == Delivery.Type.C_SECTION
    assert (batch.imported_by, batch.file_name, batch.counts["followups"]["new"]) == (data_manager, "register.xlsx", 2)
    assert len(batch.file_sha256) == 64
    assert set(Patient.objects.values_list("import_batch", flat=True)) == {batch.pk}
    assert set(FollowUp.objects.values_list("import_batch", flat=True)) == {batch.pk}
    # One record of the import, not a history copy of every row it created.
    assert Patient.history.count() == 0


def test_importing_the_same_workbook_twice_changes_nothing_the_second_time(tmp_path):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets())
    apply_import(plan_import(path))
    again = plan_import(path)
    assert again.counts() == {
        kind: {"new": 0, "updated": 0, "unchanged": 1, "invalid": 0} for kind in ("patients", "deliveries", "followups")
    }
    assert apply_import(again) is None
    assert counts() == (1, 1, 1)
    assert ImportBatch.objects.count() == 1


def test_a_changed_value_updates_the_row_and_its_history_keeps_the_old_one(tmp_path, data_manager):
    apply_import(plan_import(make_workbook(tmp_path / "a.xlsx", standard_sheets())))
    changed = standard_sheets(followups=[followup_row(haemoglobin_g_dl=11.6)])
    plan = plan_import(make_workbook(tmp_path / "b.xlsx", changed))
    assert plan.counts()["followups"] == {"new": 0, "updated": 1, "unchanged": 0, "invalid": 0}
    assert plan.sheets["followups"].updated[0].changes == {"haemoglobin_g_dl": (10.9, 11.6)}

    batch = apply_import(plan, user=data_manager)
    followup = FollowUp.objects.get()
    assert followup.haemoglobin_g_dl == 11.6 and followup.import_batch == batch
    before, after = followup.history.order_by("history_id")
    assert before.haemoglobin_g_dl == 10.9 and before.history_change_reason.startswith("Values before import")
    assert after.haemoglobin_g_dl == 11.6 and after.history_user == data_manager


def test_a_patient_moved_to_a_new_district_is_an_update(tmp_path):
    apply_import(plan_import(make_workbook(tmp_path / "a.xlsx", standard_sheets())))
    plan = plan_import(make_workbook(tmp_path / "b.xlsx", standard_sheets(patients=[patient_row(district="Jhapa")])))
    assert plan.sheets["patients"].updated[0].changes == {"district": ("kaski", "jhapa")}
    apply_import(plan)
    assert Patient.objects.get().district.name == "Jhapa"


def test_deliveries_and_follow_ups_may_name_patients_already_in_the_database(tmp_path):
    patient = make_patient(patient_id="OLD1")
    make_followup(patient, visit_number=1)
    path = make_workbook(tmp_path / "w.xlsx", {
        "deliveries": [DELIVERY_HEADER, delivery_row("OLD1")],
        "followups": [FOLLOWUP_HEADER, followup_row("OLD1", 2)],
    })  # fmt: skip
    apply_import(plan_import(path))
    assert patient.deliveries.count() == 1 and patient.followups.count() == 2


def test_forgiving_sheet_names_and_headers(tmp_path):
    path = make_workbook(tmp_path / "w.xlsx", {
        "Patients": [["Patient ID", "DISTRICT", "Height (cm)", "Weight [kg]", "Age at menarche", "Blood group"],
                     ["P9", "Kaski", "150", "48,5", 12.0, "O+"]],
        "Follow Ups": [["patient-id", "Visit No", "Visit Date", "Hb (g/dL)", "Systolic BP", "DBP", "followup_id"],
                       ["P9", 1, "05/03/2024", "9.8", 110, 70, 17]],
        "Deliveries": [["Patient_ID", "Date of Delivery", "Type of Delivery", "delivery_id"],
                       ["P9", datetime.datetime(2024, 3, 1, 14, 30), "Emergency LSCS", 3]],
        "Notes": [["anything"]],
    })  # fmt: skip
    plan = plan_import(path)
    assert plan.errors == []
    assert plan.ignored_sheets == ["Notes"]
    assert plan.sheets["patients"].ignored_columns == ["Blood group"]
    assert plan.sheets["followups"].ignored_columns == []  # the prototype's serial ids are expected
    apply_import(plan)
    patient = Patient.objects.get(patient_id="P9")
    assert (patient.height_cm, patient.weight_kg, patient.age_at_menarche) == (150, 48.5, 12)
    followup = patient.followups.get()
    assert (followup.visit_date, followup.haemoglobin_g_dl, followup.bp_diastolic) == (
        datetime.date(2024, 3, 5), 9.8, 70)  # fmt: skip
    assert patient.deliveries.get().date_of_delivery == datetime.date(2024, 3, 1)


@pytest.mark.parametrize(("typed", "expected"), [
    (datetime.date(2023, 3, 12), datetime.date(2023, 3, 12)),
    ("2023-03-12", datetime.date(2023, 3, 12)),
    ("12/03/2023", datetime.date(2023, 3, 12)),
    ("12-03-2023", datetime.date(2023, 3, 12)),
    ("12.3.2023", datetime.date(2023, 3, 12)),
    ("12 Mar 2023", datetime.date(2023, 3, 12)),
])  # fmt: skip
def test_dates_as_excel_dates_iso_and_day_first_text(tmp_path, typed, expected):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=[delivery_row(date_of_delivery=typed)]))
    apply_import(plan_import(path))
    assert Delivery.objects.get().date_of_delivery == expected


def test_the_date_order_is_a_setting(tmp_path, settings):
    settings.IMPORT_DATE_ORDER = "MDY"
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=[delivery_row(date_of_delivery="03/12/2023")]))
    apply_import(plan_import(path))
    assert Delivery.objects.get().date_of_delivery == datetime.date(2023, 3, 12)


def test_blank_rows_are_skipped_and_text_is_trimmed(tmp_path):
    sheets = standard_sheets(patients=[patient_row("  P1 ", village="  Deurali  "), [None] * 10, patient_row("P2")])
    sheets["deliveries"] = [DELIVERY_HEADER]
    sheets["followups"] = [FOLLOWUP_HEADER]
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    assert plan.counts()["patients"]["new"] == 2
    apply_import(plan)
    assert Patient.objects.get(patient_id="P1").village == "Deurali"


def test_every_delivery_type_spelling_of_the_design_maps(tmp_path):
    spellings = ["NVD", "SVD", "Normal", "LSCS", "C-section", "C/S", "CS", "Caesarean", "Cesarean", "Emergency LSCS",
                 "Vacuum", "Forceps"]  # fmt: skip
    rows = [
        delivery_row(date_of_delivery=f"2024-01-{day:02d}", type_of_delivery=t) for day, t in enumerate(spellings, 1)
    ]
    apply_import(plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=rows))))
    types = list(Delivery.objects.order_by("date_of_delivery").values_list("type_of_delivery", flat=True))
    assert types == ["normal"] * 3 + ["c_section"] * 7 + ["assisted"] * 2


# --- What is refused -------------------------------------------------------------------------------


def assert_refused_whole(plan):
    with pytest.raises(ImportRefused):
        apply_import(plan)
    assert counts() == (0, 0, 0)
    assert not ImportBatch.objects.exists()


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path):
    csv = tmp_path / "register.xlsx"
    csv.write_text("patient_id,district\nP1,Kaski\n")
    with pytest.raises(ImportFileError, match="not a workbook"):
        plan_import(csv)
    pdf = tmp_path / "report.xlsx"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n")
    with pytest.raises(ImportFileError, match="not a workbook"):
        plan_import(pdf)


def test_an_empty_workbook_is_refused(tmp_path):
    with pytest.raises(ImportFileError, match="'patients' is empty"):
        plan_import(make_workbook(tmp_path / "w.xlsx", {"patients": []}))


def test_a_workbook_without_a_known_sheet_names_its_sheets(tmp_path):
    with pytest.raises(ImportFileError, match="No sheet named patients.*'Sheet1', 'Data'"):
        plan_import(make_workbook(tmp_path / "w.xlsx", {"Sheet1": [["a"]], "Data": [["b"]]}))


def test_a_missing_required_column_is_named(tmp_path):
    sheets = {"Follow-ups": [["patient_id", "visit_date", "hb"], ["P1", "2024-01-01", 10]]}
    with pytest.raises(ImportFileError, match="Sheet 'Follow-ups' has no column visit_number"):
        plan_import(make_workbook(tmp_path / "w.xlsx", sheets))


def test_two_columns_meaning_the_same_field_are_refused(tmp_path):
    sheets = {"patients": [["patient_id", "district", "Hb", "weight", "Weight (kg)"]]}
    with pytest.raises(ImportFileError, match="'weight' and 'Weight \\(kg\\)' both mean weight_kg"):
        plan_import(make_workbook(tmp_path / "w.xlsx", sheets))


def test_an_unknown_patient_is_reported_with_its_row(tmp_path):
    sheets = standard_sheets(followups=[followup_row("P001", 1), followup_row("P404", 1)])
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    error = only_error(plan)
    assert (error.sheet, error.row, error.column, error.value) == ("followups", 3, "patient_id", "P404")
    assert "unknown patient P404" in error.reason
    assert_refused_whole(plan)


def test_a_duplicate_key_inside_a_sheet_is_reported(tmp_path):
    sheets = standard_sheets(patients=[patient_row("P001"), patient_row("P001")],
                             followups=[followup_row(visit_number=1), followup_row(visit_number=1)])  # fmt: skip
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    reasons = {(e.sheet, e.row): e.reason for e in plan.errors}
    assert reasons[("patients", 3)] == "duplicate: patient_id P001 is also on row 2"
    assert "also" not in reasons.get(("followups", 2), "")
    assert assert_refused_whole(plan) is None


def test_a_value_out_of_range_names_sheet_row_column_and_value(tmp_path):
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(patients=[patient_row(height_cm=15.2)])))
    error = only_error(plan, "patients")
    assert (error.sheet, error.row, error.column, error.value) == ("patients", 2, "height_cm", 15.2)
    assert error.reason == "15.2 is outside the plausible range 100-200 cm."
    # The patient's delivery and follow-up are refused with her, each saying why.
    assert plan.counts()["deliveries"]["invalid"] == 1 and plan.counts()["followups"]["invalid"] == 1
    assert_refused_whole(plan)


def test_haemoglobin_in_g_per_litre_gets_the_hint(tmp_path):
    plan = plan_import(
        make_workbook(tmp_path / "w.xlsx", standard_sheets(followups=[followup_row(haemoglobin_g_dl=98)]))
    )
    error = only_error(plan)
    assert (error.column, error.value) == ("haemoglobin_g_dl", 98)
    assert "looks like g/L" in error.reason and "9.8" in error.reason


@pytest.mark.parametrize(("typed", "reason"), [
    ("31/02/2023", "not a real date"),
    ("2023-02-31", "not a real date"),
    ("12/03/23", "year in full"),
    ("yesterday", "not a date"),
    (45000, "a number, not a date"),
])  # fmt: skip
def test_an_impossible_date_is_refused(tmp_path, typed, reason):
    plan = plan_import(
        make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=[delivery_row(date_of_delivery=typed)]))
    )
    error = plan.errors[0]
    assert (error.sheet, error.row, error.column) == ("deliveries", 2, "date_of_delivery")
    assert reason in error.reason


def test_a_date_in_the_future_is_refused(tmp_path):
    future = datetime.date.today() + datetime.timedelta(days=3)
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(followups=[followup_row(visit_date=future)])))
    assert "in the future" in only_error(plan).reason


def test_an_unknown_delivery_type_lists_the_accepted_ones(tmp_path):
    plan = plan_import(
        make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=[delivery_row(type_of_delivery="Breech")]))
    )
    error = only_error(plan)
    assert error.value == "Breech"
    assert error.reason.startswith("unknown delivery type 'Breech'")
    assert "Normal vaginal (normal)" in error.reason and "Caesarean section (c_section)" in error.reason
    assert [(u.typed, u.rows) for u in plan.unmatched.values()] == [("Breech", [("deliveries", 2)])]


def test_numbers_typed_as_words_are_refused(tmp_path):
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(patients=[patient_row(weight_kg="fifty")])))
    assert only_error(plan, "patients").reason == "not a number"


CONSTRAINT_CASES = [
    ("patients", values, field) for values, field, _ in test_constraints.PATIENT_CASES
] + [
    ("deliveries", values, field) for values, field, _ in test_constraints.DELIVERY_CASES
] + [
    ("followups", values, field) for values, field, _ in test_constraints.FOLLOWUP_CASES
]  # fmt: skip
HEADERS = {
    "patients": PATIENT_HEADER + ["education_level", "monthly_income"],
    "deliveries": DELIVERY_HEADER + ["age_at_delivery", "weight_at_delivery", "placental_weight"],
    "followups": FOLLOWUP_HEADER,
}
ROW_MAKERS = {"patients": patient_row, "deliveries": delivery_row, "followups": followup_row}


@pytest.mark.parametrize(("kind", "values", "field"), CONSTRAINT_CASES)
def test_every_database_constraint_is_checked_before_writing(tmp_path, kind, values, field):
    """Each bad value the database refuses (test_constraints' tables) is a named row error here."""
    sheets = standard_sheets()
    header = HEADERS[kind]
    row = dict(zip(sheets[kind][0], sheets[kind][1], strict=True))
    row.update({name: ("" if value is None else value) for name, value in values.items()})
    sheets[kind] = [header, [row.get(name, "") for name in header]]
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    assert (kind, field) in {(plan.sheets[e.sheet].kind, e.column) for e in plan.errors}, plan.errors
    assert_refused_whole(plan)


def test_skip_invalid_imports_the_valid_rows_and_skips_their_dependents(tmp_path):
    sheets = standard_sheets(
        patients=[patient_row("P001"), patient_row("P002", age_at_menarche=30)],
        deliveries=[delivery_row("P001"), delivery_row("P002")],
        followups=[followup_row("P001"), followup_row("P002")],
    )
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    reasons = [e.reason for e in plan.errors if e.sheet == "deliveries"]
    assert reasons == ["patient P002 is not imported: her row 3 has errors"]
    batch = apply_import(plan, skip_invalid=True)
    assert counts() == (1, 1, 1)
    assert batch.skipped_invalid and batch.counts["patients"]["invalid"] == 1


def test_the_error_workbook_holds_the_bad_rows_with_reasons_and_imports_once_fixed(tmp_path):
    sheets = standard_sheets(
        followups=[followup_row(visit_number=1), followup_row(visit_number=2, haemoglobin_g_dl=97)]
    )
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    errors_path = tmp_path / "errors.xlsx"
    write_error_workbook(plan, errors_path)

    from openpyxl import load_workbook

    sheet = load_workbook(errors_path)["followups"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("source row", *FOLLOWUP_HEADER, "reason")
    assert rows[1][0] == 3 and rows[1][5] == 97 and "looks like g/L" in rows[1][-1]

    sheet["F2"] = 9.7  # the data manager fixes the value
    load_workbook  # noqa: B018
    sheet.parent.save(errors_path)
    apply_import(plan_import(make_workbook(tmp_path / "ok.xlsx", standard_sheets())))
    fixed = plan_import(errors_path)
    assert fixed.errors == [] and fixed.counts()["followups"]["new"] == 1
    apply_import(fixed)
    assert FollowUp.objects.get(visit_number=2).haemoglobin_g_dl == 9.7


def test_export_then_import_reports_everything_unchanged(tmp_path):
    call_command("seed_demo", patients=60, seed=5, verbosity=0)
    before = counts()
    path = tmp_path / "export.xlsx"
    write_workbook(path)
    plan = plan_import(path)
    assert plan.errors == []
    for kind, sheet_counts in plan.counts().items():
        assert sheet_counts["new"] == sheet_counts["updated"] == sheet_counts["invalid"] == 0, kind
    assert sum(c["unchanged"] for c in plan.counts().values()) == sum(before)


def test_the_demo_workbook_imports_cleanly(settings):
    plan = plan_import(settings.BASE_DIR / "fixtures" / "demo_workbook.xlsx")
    assert plan.errors == []
    apply_import(plan)
    assert Patient.objects.count() == 200 and District.objects.count() >= 15


def test_possible_duplicate_patients_are_flagged_not_refused(tmp_path):
    make_patient(patient_id="OLD7", name="Sita Gurung", village="Deurali")
    make_patient(patient_id="OLD8", name="Gita Thapa", village="Elsewhere", age_at_first_pregnancy=21)
    sheets = standard_sheets(
        patients=[
            patient_row("N1", name="sita gurung", village="deurali"),
            patient_row("N2", name="Gita Thapa", village="Rampur", age_at_first_pregnancy=22),
            patient_row("N3", name="Gita Thapa", village="Rampur2", district="Jhapa", age_at_first_pregnancy=22),
            patient_row("N4", name="Tara Rai", village="Pathari"),
        ],
        deliveries=[],
        followups=[],
    )
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    flags = {(d.patient_id, d.other_patient_id, d.other_row, d.reason) for d in plan.possible_duplicates}
    assert flags == {
        ("N1", "OLD7", None, "same name and village"),
        ("N2", "OLD8", None, "same name and district, age at first pregnancy within a year"),
    }
    assert plan.errors == []


@pytest.mark.parametrize("name", ["register.xlsx", "register.ods"])
def test_a_register_saved_by_libreoffice_calc_with_text_numbers_and_dates(settings, name):
    """fixtures/libreoffice/: typed as people type (numbers and dates as text, a decimal comma),
    saved by LibreOffice Calc itself (fixtures/libreoffice/build.py)."""
    plan = plan_import(settings.BASE_DIR / "fixtures" / "libreoffice" / name)
    assert plan.errors == []
    assert plan.sheets["patients"].ignored_columns == ["Remarks"]
    assert {kind: c["new"] for kind, c in plan.counts().items()} == {"patients": 3, "deliveries": 3, "followups": 3}
    apply_import(plan)

    sabina, puja = Patient.objects.get(patient_id="LO-001"), Patient.objects.get(patient_id="1002")
    assert (sabina.height_cm, sabina.age_at_menarche, sabina.district.name) == (151.5, 13, "Kaski")
    assert (puja.weight_kg, puja.district.name) == (52.5, "Chitwan")
    first, second = sabina.followups.order_by("visit_number")
    assert (first.visit_date, first.bp_systolic) == (datetime.date(2023, 3, 15), 118)
    assert (second.visit_date, second.haemoglobin_g_dl) == (datetime.date(2023, 4, 20), 11.2)
    deliveries = {d.patient.patient_id: d for d in Delivery.objects.select_related("patient")}
    assert deliveries["1002"].date_of_delivery == datetime.date(2023, 3, 12)  # "12/03/2023" is 12 March
    assert deliveries["LO-001"].type_of_delivery == deliveries["LO-003"].type_of_delivery == "c_section"
    assert deliveries["LO-003"].term_of_delivery == "post_term"


def test_a_district_name_too_long_is_a_row_error_not_a_crash(tmp_path):
    # Found by the import fuzz: the name went to the database unchecked (SQLite: "LIKE pattern too
    # complex"; PostgreSQL: value too long), a 500 in the admin.
    name = "é" * 32_000
    path = make_workbook(tmp_path / "long.xlsx", standard_sheets(patients=[patient_row(district=name)]))
    plan = plan_import(path)
    [error, *_] = plan.errors
    assert (error.sheet, error.row, error.column) == ("patients", 2, "district")
    assert error.reason == "a district name of 32000 characters: at most 100"
    assert not District.objects.exists()


def test_a_long_file_name_fits_the_history_of_the_rows_it_updates(tmp_path):
    make_workbook(tmp_path / "first.xlsx", standard_sheets())
    apply_import(plan_import(tmp_path / "first.xlsx"))
    path = make_workbook(tmp_path / "again.xlsx", standard_sheets(patients=[patient_row(name="Sita Thapa")]))
    apply_import(plan_import(path, file_name="ward register " * 15 + ".xlsx"))
    assert Patient.objects.get().name == "Sita Thapa"
    assert all(len(h.history_change_reason) <= 100 for h in Patient.history.exclude(history_change_reason=None))


def test_patient_ids_are_matched_whatever_their_case(tmp_path):
    """ "p0030" in a register is P0030: her row updates her, her visits attach to her, no twin."""
    make_patient(patient_id="P0030", weight_kg=52)
    sheets = standard_sheets(
        patients=[patient_row("p0030", weight_kg=54), patient_row("N1"), patient_row("n1")],
        deliveries=[],
        followups=[followup_row("p0030", visit_number=1)],
    )
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    assert plan.counts()["patients"] == {"new": 1, "updated": 1, "unchanged": 0, "invalid": 1}
    assert [(e.row, e.reason) for e in plan.errors] == [(4, "duplicate: patient_id n1 is also on row 3")]
    apply_import(plan, skip_invalid=True)
    assert sorted(Patient.objects.values_list("patient_id", flat=True)) == ["N1", "P0030"]
    assert Patient.objects.get(patient_id="P0030").weight_kg == 54
    assert FollowUp.objects.get().patient.patient_id == "P0030"


def test_a_record_written_by_someone_else_meanwhile_refuses_the_whole_import(tmp_path):
    sheets = standard_sheets(patients=[patient_row("P900"), patient_row("P901")], deliveries=[], followups=[])
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", sheets))
    make_patient(patient_id="P900")  # a form saves her between the preview and the confirm
    with pytest.raises(ImportRefused, match="recorded by someone else while the import was being checked"):
        apply_import(plan)
    assert list(Patient.objects.values_list("patient_id", flat=True)) == ["P900"]
    assert not ImportBatch.objects.exists()
