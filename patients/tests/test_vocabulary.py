"""Messy registers: every word the app shows is read back, unknown values are mapped (and the
mapping saved as an alias), and districts have one spelling that every path resolves to."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from patients import vocabulary
from patients.forms import DeliveryForm, PatientForm
from patients.importing import apply_import, plan_import
from patients.importing.mapping import NEW_DISTRICT, Mappings
from patients.models import Delivery, DeliveryTerm, DeliveryType, District, ImportBatch, Patient, ValueAlias
from patients.tests.factories import make_district
from patients.tests.test_admin_import import upload
from patients.tests.test_api import NEW_PATIENT, api
from patients.tests.workbooks import delivery_row, make_workbook, patient_row, standard_sheets

pytestmark = pytest.mark.django_db


def cases(text):
    """How people type a word: as shown, lower, upper, title case, with stray spaces."""
    return sorted({text, text.lower(), text.upper(), text.title(), f"  {text} "})


# Every code and every label the app shows, in every case, with the code it means.
SHOWN = [
    (column, typed, code)
    for column, choices in (("type_of_delivery", DeliveryType), ("term_of_delivery", DeliveryTerm))
    for code, label in choices.choices
    for typed in cases(code) + cases(label)
]
# How registers write them (the register, and the spellings of the wards).
REGISTER = [
    ("type_of_delivery", "Normal vaginal delivery", "normal"),
    ("type_of_delivery", "Spontaneous vaginal delivery", "normal"),
    ("type_of_delivery", "SVD", "normal"),
    ("type_of_delivery", "NVD delivery", "normal"),
    ("type_of_delivery", "Ventouse delivery", "assisted"),
    ("type_of_delivery", "Vacuum extraction", "assisted"),
    ("type_of_delivery", "Forceps delivery", "assisted"),
    ("type_of_delivery", "Instrumental", "assisted"),
    ("type_of_delivery", "Emergency LSCS", "c_section"),
    ("type_of_delivery", "Elective caesarean section", "c_section"),
    ("type_of_delivery", "Em. C/S", "c_section"),
    ("type_of_delivery", "LUSCS", "c_section"),
    ("type_of_delivery", "C-section delivery", "c_section"),
    ("type_of_delivery", "Lower segment caesarean section", "c_section"),
    ("type_of_delivery", "Cesarean", "c_section"),
    ("term_of_delivery", "Full term", "term"),
    ("term_of_delivery", "Preterm birth", "preterm"),
    ("term_of_delivery", "Pre-term", "preterm"),
    ("term_of_delivery", "Post dates", "post_term"),
    ("term_of_delivery", "Post-term delivery", "post_term"),
]


@pytest.mark.parametrize(("column", "typed", "code"), SHOWN + REGISTER)
def test_every_word_the_app_shows_and_registers_use_is_read(column, typed, code):
    assert vocabulary.CODED_COLUMNS[column].code(typed) == code


@pytest.mark.parametrize("typed", ["twins", "breech", "", "emergency", "C", "term?maybe"])
def test_nothing_else_is_guessed(typed):
    assert vocabulary.DELIVERY_TYPES.code(typed) is None


def test_every_shown_word_imports_and_goes_through_the_form_and_the_api(tmp_path, data_manager):
    start = datetime.date(2020, 1, 1)
    rows = []
    for day, (column, typed, _code) in enumerate(SHOWN + REGISTER):
        values = {"date_of_delivery": (start + datetime.timedelta(days=day)).isoformat(), column: typed}
        rows.append(delivery_row(**values))
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=rows, followups=[])))
    assert plan.errors == []
    apply_import(plan)
    stored = dict(Delivery.objects.values_list("date_of_delivery", "type_of_delivery"))
    terms = dict(Delivery.objects.values_list("date_of_delivery", "term_of_delivery"))
    for day, (column, _typed, code) in enumerate(SHOWN + REGISTER):
        on = start + datetime.timedelta(days=day)
        assert (stored if column == "type_of_delivery" else terms)[on] == code

    patient = Patient.objects.get()
    client = api(data_manager)
    for day, (column, typed, code) in enumerate(SHOWN + REGISTER):
        data = {"date_of_delivery": f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}", "type_of_delivery": "normal"}
        data[column] = typed
        form = DeliveryForm(data, instance=Delivery(patient=patient))
        assert form.is_valid(), (typed, form.errors)
        assert form.cleaned_data[column] == code
        response = client.post(f"/api/patients/{patient.patient_id}/deliveries", data, format="json")
        assert response.status_code == 201, (typed, response.json())
        assert response.json()[column] == code


def test_an_unknown_spelling_is_grouped_with_suggestions_and_imports_after_one_mapping(tmp_path, data_manager):
    rows = [delivery_row(date_of_delivery=f"2024-01-{day:02d}", type_of_delivery="Norml vag") for day in range(1, 6)]
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=rows, followups=[]))
    plan = plan_import(path)
    [group] = plan.error_groups()
    assert group.rows == [2, 3, 4, 5, 6] and group.reason.startswith("unknown delivery type 'Norml vag'")
    [unmatched] = plan.unmatched.values()
    assert (unmatched.typed, len(unmatched.rows)) == ("Norml vag", 5)
    assert unmatched.suggestions[0].value == "normal"

    mappings = Mappings()
    mappings.add("type_of_delivery", "Norml vag", "normal")
    plan = plan_import(path, mappings=mappings)
    assert plan.errors == []
    apply_import(plan, user=data_manager)
    alias = ValueAlias.objects.get()
    assert (alias.column, alias.key, alias.code, alias.created_by) == ("type_of_delivery", "normlvag", "normal",
                                                                        data_manager)  # fmt: skip

    # The next file with the same spelling needs no mapping; nor do the form and the API.
    again = make_workbook(tmp_path / "again.xlsx", standard_sheets(
        patients=[patient_row("P002")], deliveries=[delivery_row("P002", type_of_delivery="NORML VAG")], followups=[]
    ))  # fmt: skip
    assert plan_import(again).errors == []
    form = DeliveryForm({"date_of_delivery": "2025-01-01", "type_of_delivery": "norml vag"},
                        instance=Delivery(patient=Patient.objects.get()))  # fmt: skip
    assert form.is_valid() and form.cleaned_data["type_of_delivery"] == "normal"


def test_the_command_maps_with_map_and_saves_the_alias_only_when_the_import_lands(tmp_path, capsys):
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        deliveries=[delivery_row(type_of_delivery="Norml vag", term_of_delivery="FT")], followups=[]
    ))  # fmt: skip
    with pytest.raises(SystemExit):
        call_command("import_workbook", str(path), "--map", "Norml vag=Normal vaginal")
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "unknown term 'FT'" in line]
    assert line.split()[:4] == ["1", "deliveries", "term_of_delivery", "2"]  # rows, sheet, column, first rows
    assert "term 'FT' (1 rows): nearest" in out
    assert not ValueAlias.objects.exists() and not Patient.objects.exists()

    call_command("import_workbook", str(path), "--map", "Norml vag=Normal vaginal", "--map", "term: FT=term")
    assert Delivery.objects.get().type_of_delivery == "normal"
    assert sorted(ValueAlias.objects.values_list("column", "code")) == [
        ("term_of_delivery", "term"),
        ("type_of_delivery", "normal"),
    ]
    with pytest.raises(CommandError, match="no known delivery type, term or district"):
        call_command("import_workbook", str(path), "--map", "x=nonsense")


def test_district_spellings_resolve_to_one_district_in_title_case_of_the_most_common(tmp_path):
    names = ["kailali", "KAILALI", " Kailali ", "kailali", "banke", "BANKE", "Banke "]
    patients = [patient_row(f"P{i:03}", district=name) for i, name in enumerate(names)]
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(patients=patients, deliveries=[],
                                                                          followups=[])))  # fmt: skip
    assert plan.errors == [] and sorted(plan.new_districts) == ["Banke", "Kailali"]
    apply_import(plan)
    assert sorted(District.objects.values_list("name", flat=True)) == ["Banke", "Kailali"]


def test_a_new_district_close_to_a_known_one_waits_for_a_decision(tmp_path):
    make_district("Kaski")
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        patients=[patient_row("P001", district="Kaskii"), patient_row("P002", district="Dolpa")],
        deliveries=[], followups=[],
    ))  # fmt: skip
    plan = plan_import(path)
    [error] = plan.errors
    assert error.row == 2 and "unknown district 'Kaskii', close to 'Kaski'" in error.reason
    assert plan.new_districts == ["Dolpa"]  # far from any known one: added on confirm, as the preview says

    mapped = Mappings()
    mapped.add("district", "Kaskii", District.objects.get())
    plan = plan_import(path, mappings=mapped)
    assert plan.errors == [] and plan.new_districts == ["Dolpa"]

    confirmed = Mappings()
    confirmed.add("district", "Kaskii", NEW_DISTRICT)
    plan = plan_import(path, mappings=confirmed)
    assert plan.errors == [] and sorted(plan.new_districts) == ["Dolpa", "Kaskii"]
    apply_import(plan)
    assert not ValueAlias.objects.exists()  # confirming a new district saves no alias


def test_a_saved_district_alias_resolves_everywhere(tmp_path, data_manager):
    kaski = make_district("Kaski")
    ValueAlias(column="district", spelling="Kaskii", district=kaski).save()
    plan = plan_import(make_workbook(tmp_path / "w.xlsx", standard_sheets(
        patients=[patient_row("P001", district="KASKII")], deliveries=[], followups=[]
    )))  # fmt: skip
    assert plan.errors == [] and plan.new_districts == []
    apply_import(plan)
    assert Patient.objects.get().district == kaski
    assert District.objects.named(" kaskii ") == kaski
    form = PatientForm({**NEW_PATIENT, "patient_id": "P002", "name": "Gita", "district": "kaskii"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["district"] == kaski
    response = api(data_manager).post("/api/patients", {**NEW_PATIENT, "district": "Kaskii"}, format="json")
    assert response.status_code == 201 and response.json()["district"] == "Kaski"


def test_the_api_and_the_form_refuse_an_unknown_district_naming_the_nearest(data_manager):
    make_district("Kaski")
    make_district("Kailali")
    response = api(data_manager).post("/api/patients", {**NEW_PATIENT, "district": "Kaskii"}, format="json")
    assert response.status_code == 400
    assert "Unknown district 'Kaskii'. Did you mean 'Kaski'" in response.json()["fields"]["district"][0]
    assert District.objects.count() == 2 and not Patient.objects.exists()
    form = PatientForm({**NEW_PATIENT, "name": "Gita", "district": "Kaskii"})
    assert not form.is_valid() and "Did you mean 'Kaski'" in form.errors["district"][0]
    ok = api(data_manager).post("/api/patients", {**NEW_PATIENT, "district": " KASKI "}, format="json")
    assert ok.status_code == 201 and ok.json()["district"] == "Kaski"


def test_an_alias_cannot_repeat_what_the_app_already_knows():
    with pytest.raises(ValidationError, match="already means Caesarean section"):
        ValueAlias(column="type_of_delivery", spelling="Emergency LSCS", code="normal").full_clean()
    with pytest.raises(ValidationError, match="Choose one of"):
        ValueAlias(column="term_of_delivery", spelling="whenever", code="c_section").full_clean()
    kaski = make_district("Kaski")
    with pytest.raises(ValidationError, match="is the district Kaski itself"):
        ValueAlias(column="district", spelling="KASKI", district=make_district("Chitwan")).full_clean()
    ValueAlias(column="district", spelling="Kaskii", district=kaski).full_clean()


def test_the_preview_maps_a_value_and_confirms_a_new_district(client, data_manager, tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    make_district("Kaski")
    rows = [delivery_row(date_of_delivery=f"2024-01-{d:02d}", type_of_delivery="Norml vag") for d in (1, 2, 3)]
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        patients=[patient_row("P001", district="Kaskii")], deliveries=rows, followups=[]
    ))  # fmt: skip
    client.force_login(data_manager)
    preview_url = upload(client, path).url
    preview = client.get(preview_url)
    unmatched = {item["value"]["typed"]: item for item in preview.context["unmatched"]}
    assert set(unmatched) == {"Kaskii", "Norml vag"}
    assert unmatched["Norml vag"]["suggested"][0] == ("normal", "Normal vaginal")
    html = preview.content.decode()
    assert html.index('name="confirm"') < html.index('id="unmatched"') < html.index('id="import-errors"')

    index = {item["value"]["typed"]: i for i, item in enumerate(preview.context["unmatched"])}
    response = client.post(preview_url, {
        "map": "1", "map-count": "2",
        f"map-{index['Norml vag']}-column": "type_of_delivery", f"map-{index['Norml vag']}-spelling": "Norml vag",
        f"map-{index['Norml vag']}-to": "normal",
        f"map-{index['Kaskii']}-column": "district", f"map-{index['Kaskii']}-spelling": "Kaskii",
        f"map-{index['Kaskii']}-to": NEW_DISTRICT,
    })  # fmt: skip
    assert response.status_code == 302 and response.url == preview_url
    again = client.get(preview_url)
    assert again.context["unmatched"] == [] and again.context["plan"]["errors"] == 0
    assert ValueAlias.objects.get().created_by == data_manager
    client.post(preview_url, {"confirm": "Confirm import"})
    assert ImportBatch.objects.count() == 1 and Delivery.objects.count() == 3
    assert sorted(District.objects.values_list("name", flat=True)) == ["Kaski", "Kaskii"]


def test_a_page_of_errors_stays_small_whatever_their_number(client, data_manager, tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    rows = [delivery_row(date_of_delivery=f"2024-{1 + d // 28:02d}-{1 + d % 28:02d}", type_of_delivery=f"odd {d % 30}")
            for d in range(300)]  # fmt: skip
    client.force_login(data_manager)
    preview_url = upload(client, make_workbook(tmp_path / "w.xlsx", standard_sheets(deliveries=rows, followups=[]))).url
    preview = client.get(preview_url)
    groups = preview.context["error_groups"]
    assert groups.paginator.count == 30 and len(groups.object_list) == 20
    assert len(preview.content) < 200_000
    rows_page = client.get(reverse("admin:patients_patient_import_workbook_error_rows", args=[
        preview_url.rstrip("/").split("/")[-1], 0]))  # fmt: skip
    assert rows_page.status_code == 200 and rows_page.context["rows"].paginator.count == 10


def test_a_register_saved_by_libreoffice_with_every_spelling_imports_in_one_go(settings):
    """fixtures/libreoffice/spellings.xlsx: one district in four spellings, and delivery types and
    terms as several people write them, saved by LibreOffice Calc (fixtures/libreoffice/build.py)."""
    plan = plan_import(settings.BASE_DIR / "fixtures" / "libreoffice" / "spellings.xlsx")
    assert plan.errors == [] and plan.unmatched == {}
    assert sorted(plan.new_districts) == ["Banke", "Kailali"]
    apply_import(plan)
    types = dict(Delivery.objects.values_list("patient__patient_id", "type_of_delivery"))
    assert [types[f"SP-{i:03}"] for i in (1, 2, 3, 4, 5, 7, 11)] == [
        "normal", "c_section", "c_section", "assisted", "c_section", "assisted", "assisted"
    ]  # fmt: skip
    assert sorted(District.objects.values_list("name", flat=True)) == ["Banke", "Kailali"]


def test_an_unknown_spelling_saved_by_libreoffice_needs_one_mapping_then_none(settings, data_manager):
    path = settings.BASE_DIR / "fixtures" / "libreoffice" / "unknown_spelling.xlsx"
    plan = plan_import(path)
    [unmatched] = plan.unmatched.values()
    assert (unmatched.typed, len(unmatched.rows)) == ("Norml vag", 4)
    assert len(plan.error_groups()) == 1 and plan.invalid_count == 4
    mappings = Mappings()
    mappings.add("type_of_delivery", "Norml vag", "normal")
    apply_import(plan_import(path, mappings=mappings), user=data_manager)
    assert Delivery.objects.filter(type_of_delivery="normal").count() >= 4
    assert plan_import(path).errors == []  # the saved alias maps it from now on


def test_the_preview_refuses_bad_mappings_by_name_and_saves_nothing(client, data_manager, tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    make_district("Kaski")
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        patients=[patient_row("P001", district="Kaskii")],
        deliveries=[delivery_row(type_of_delivery="Norml vag")], followups=[],
    ))  # fmt: skip
    client.force_login(data_manager)
    preview_url = upload(client, path).url
    token = preview_url.rstrip("/").split("/")[-1]
    response = client.post(preview_url, {
        "map": "1", "map-count": "4",
        "map-0-column": "district", "map-0-spelling": "Kaskii", "map-0-to": "999999",  # no such district
        "map-1-column": "type_of_delivery", "map-1-spelling": "Emergency LSCS", "map-1-to": "normal",  # known
        "map-2-column": "term_of_delivery", "map-2-spelling": "Norml vag", "map-2-to": "c_section",  # not a term
        "map-3-column": "no_such_column", "map-3-spelling": "x", "map-3-to": "normal",
    }, follow=True)  # fmt: skip
    shown = [str(message) for message in response.context["messages"]]
    assert "'Kaskii' was not mapped: no district 999999" in shown
    assert any("'Emergency LSCS' was not mapped" in m and "already means Caesarean section" in m for m in shown)
    assert any("'Norml vag' was not mapped" in m and "Choose one of" in m for m in shown)
    assert not ValueAlias.objects.exists() and len(response.context["unmatched"]) == 2
    missing_group = reverse("admin:patients_patient_import_workbook_error_rows", args=[token, 99])
    assert client.get(missing_group).status_code == 404


def test_the_preview_shows_delivery_types_and_terms_in_words(client, data_manager, tmp_path, settings):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    client.force_login(data_manager)
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        deliveries=[delivery_row(type_of_delivery="LSCS", term_of_delivery="preterm")], followups=[]
    ))  # fmt: skip
    [deliveries] = [
        s for s in client.get(upload(client, path).url).context["plan"]["sheets"] if s["kind"] == "deliveries"
    ]
    values = dict(zip(deliveries["columns"], deliveries["new"][0][1], strict=True))
    assert (values["type_of_delivery"], values["term_of_delivery"]) == (
        "Caesarean section",
        "Preterm (before 37 weeks)",
    )


def test_the_preview_reads_the_districts_once_however_many_values_to_map(
    client, data_manager, tmp_path, settings, django_assert_num_queries
):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    for name in ("Kaski", "Kailali", "Banke"):
        make_district(name)
    typos = ["Kaskii", "Kailai", "Bankee"]
    path = make_workbook(tmp_path / "w.xlsx", standard_sheets(
        patients=[patient_row(f"P{n}", district=name) for n, name in enumerate(typos)], deliveries=[], followups=[]
    ))  # fmt: skip
    client.force_login(data_manager)
    preview_url = upload(client, path).url
    with django_assert_num_queries(5):  # login and permissions, the upload, the districts once (not once a value)
        preview = client.get(preview_url)
    assert [item["value"]["typed"] for item in preview.context["unmatched"]] == typos
