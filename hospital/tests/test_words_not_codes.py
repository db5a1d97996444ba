"""Words for people, codes for machines (issue #13): no page a person reads, chart she looks at, or
header of a download or of the insights workbook shows a reason, a risk factor, a field, a review
rule or a column by its code (`low_haemoglobin`, `bp_systolic`, `n_anaemic`, ...).

The records below trigger every reason, risk factor, delivery type and term, and review rule, so
that each has its chance to show up bare on every page.
"""

import csv
import datetime
import io
import re
from html.parser import HTMLParser

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse

from insights import queries
from patients import clinical, labels
from patients.models import Delivery, DeliveryTerm, DeliveryType, FollowUp, Patient
from patients.tests.factories import make_delivery, make_district, make_followup, make_patient

pytestmark = pytest.mark.django_db

FIELD_NAMES = {f.name for model in (Patient, Delivery, FollowUp) for f in model._meta.get_fields() if "_" in f.name}
CHOICE_CODES = {code for choices in (DeliveryType, DeliveryTerm) for code in choices.values if "_" in code}
CODES = {
    *clinical.REASON_CODES, *clinical.RISK_FACTOR_CODES, *FIELD_NAMES, *CHOICE_CODES, clinical.DISTRICT_SD,
    clinical.VISIT_JUMP, *(name for name in (*labels.COLUMNS, *labels.RATES) if "_" in name),
}  # fmt: skip
N_COLUMN = r"n_[a-z]\w*"  # any count column of the insights' rows


def code_pattern(codes):
    """A regex finding any of `codes`, or an n_... column name, as a whole word."""
    names = "|".join(re.escape(code) for code in sorted(codes, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{names}|{N_COLUMN})(?!\w)")


class VisibleText(HTMLParser):
    """The text a person sees on a page: its text nodes, not its tags, attribute values (a form's
    `name="bp_systolic"`, an option's `value="c_section"`), scripts (chart data) or styles."""

    HIDDEN = {"script", "style", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(page):
    parser = VisibleText()
    parser.feed(page)
    parser.close()
    return " ".join(parser.parts)


def chart_text(figure):
    """What a person reads on a chart: titles, legend names, category labels and hovers."""
    if isinstance(figure, dict):
        return " ".join(
            value if isinstance(value, str) and key in ("text", "name", "hovertemplate") else chart_text(value)
            for key, value in figure.items()
        )
    if isinstance(figure, list):
        return " ".join(item if isinstance(item, str) else chart_text(item) for item in figure)
    return ""


def test_the_check_sees_text_but_not_attributes_or_scripts():
    pattern = code_pattern(CODES)
    page = (
        '<p title="low_haemoglobin">Haemoglobin below 11 g/dL</p><select name="type_of_delivery">'
        '<option value="c_section">Caesarean section</option></select>'
        '<script type="application/json">{"n_anaemic": 3}</script><style>.bp_systolic {}</style>'
    )
    assert pattern.findall(visible_text(page)) == []
    for shown in ("<td>bp_systolic</td>", "<th>n_anaemic</th>", "<li>c_section, visit_jump</li>", "<b>post_term</b>"):
        assert pattern.findall(visible_text(page + shown)), shown
    assert pattern.findall(chart_text({"data": [{"name": "c_section", "x": ["Kaski"]}]})) == ["c_section"]


@pytest.fixture
def records():
    """One district's ordinary patients, a patient with every reason and every risk factor, and one
    whose values are flagged for review, for every record: every code has a chance to show."""
    kaski = make_district("Kaski")
    for n in range(20):
        patient = make_patient(patient_id=f"ORD{n:02d}", district=kaski, height_cm=155, weight_kg=55)
        make_delivery(patient, date_of_delivery=datetime.date(2024, 1, 1 + n), haemoglobin_at_delivery=12.0,
                      weight_at_delivery=60, placental_weight=500)  # fmt: skip
        make_followup(patient, visit_date=datetime.date(2024, 3, 1 + n), weight_kg=55, haemoglobin_g_dl=12.0)
    # Every reason (anaemia and hypertension written, low haemoglobin, Caesarean, high blood pressure),
    # every risk factor (first pregnancy at 17, 142 cm, body-mass index 17.4, a preterm delivery), the
    # other delivery types and terms, and a jump in weight and in haemoglobin between her visits.
    every = make_patient(patient_id="EVERY1", name="Maya Thapa", district=kaski, condition="Anaemia; PIH",
                         height_cm=142, weight_kg=35, age_at_marriage=16, age_at_first_pregnancy=17)  # fmt: skip
    make_delivery(every, date_of_delivery=datetime.date(2023, 5, 2), type_of_delivery=DeliveryType.ASSISTED,
                  term_of_delivery=DeliveryTerm.POST_TERM, haemoglobin_at_delivery=11.0)  # fmt: skip
    make_delivery(every, date_of_delivery=datetime.date(2024, 2, 3), type_of_delivery=DeliveryType.C_SECTION,
                  term_of_delivery=DeliveryTerm.PRETERM, haemoglobin_at_delivery=9.5)  # fmt: skip
    make_followup(every, visit_date=datetime.date(2024, 2, 10), weight_kg=42, haemoglobin_g_dl=12.5)
    make_followup(every, visit_date=datetime.date(2024, 3, 10), weight_kg=35, haemoglobin_g_dl=8.0, bp_systolic=165,
                  bp_diastolic=112, diagnosis="low hb, pre-eclampsia")  # fmt: skip
    # Values far from the district's means: her height and weight, at delivery and at a follow-up.
    far = make_patient(patient_id="FAR1", district=kaski, height_cm=190, weight_kg=110)
    make_delivery(far, date_of_delivery=datetime.date(2024, 2, 20), haemoglobin_at_delivery=5.0,
                  weight_at_delivery=120, placental_weight=1400)  # fmt: skip
    make_followup(far, visit_date=datetime.date(2024, 3, 25), weight_kg=110, haemoglobin_g_dl=12.0, bp_systolic=200,
                  bp_diastolic=130)  # fmt: skip

    # The records do what they are here for.
    reasons = {code for row in queries.high_risk_patients() for code in row["reasons"]}
    assert reasons == set(clinical.REASON_CODES)
    (district,) = queries.district_metrics()
    assert all(district[f"n_{code}"] for code in clinical.RISK_FACTOR_CODES)
    flagged = queries.anomalies()
    assert {row["rule"] for row in flagged} == {clinical.DISTRICT_SD, clinical.VISIT_JUMP}
    assert {row["record"] for row in flagged} == {"patient", "delivery", "follow-up"}
    assert set(Delivery.objects.values_list("type_of_delivery", flat=True)) == set(DeliveryType.values)
    assert set(Delivery.objects.values_list("term_of_delivery", flat=True)) == set(DeliveryTerm.values)
    return {"every": every, "delivery": every.deliveries.last(), "followup": every.followups.last()}


def _columns_of_the_insights():
    """The keys of every insight's rows: none of them may be shown as it is."""
    outcomes, effect, trends = queries.delivery_outcomes(), queries.followup_effect(), queries.trends()
    tables = [
        queries.district_metrics(), queries.average_weight_by_district(), queries.high_risk_patients(),
        queries.anomalies(), queries.deliveries_by_month(), trends["by_visit"], trends["by_month"], [trends["change"]],
        outcomes["by_delivery_type"], [outcomes["chi_square"]], effect["by_followup_count"],
        effect["by_first_followup_timing"],
    ]  # fmt: skip
    return {key for rows in tables for row in rows if row for key in row if "_" in key}


@pytest.fixture
def codes(records):
    return code_pattern(CODES | _columns_of_the_insights())


INSIGHT_PAGES = ["overview", "districts", "high_risk", "trends", "deliveries", "followups", "anomalies"]


def _pages(records, role):
    every, delivery, followup = records["every"], records["delivery"], records["followup"]
    pages = {name: reverse(f"insights:{name}") for name in INSIGHT_PAGES}
    pages |= {
        "high-risk patients, filtered": reverse("insights:high_risk") + "?reason=c_section&reason=low_haemoglobin",
        "the districts page for one district": reverse("insights:districts") + f"?district={every.district_id}",
        "patient list": reverse("patients:list"),
        "patient search": reverse("patients:list") + "?q=EVERY",
        "her record": reverse("patients:detail", args=[every.patient_id]),
        "add a follow-up": reverse("patients:followup_create", args=[every.patient_id]),
    }
    if role == "administrator":
        pages |= {
            "add a patient": reverse("patients:create"),
            "edit a patient": reverse("patients:edit", args=[every.patient_id]),
            "void a patient": reverse("patients:void", args=[every.patient_id]),
            "add a delivery": reverse("patients:delivery_create", args=[every.patient_id]),
            "edit a delivery": reverse("patients:delivery_edit", args=[every.patient_id, delivery.pk]),
            "void a delivery": reverse("patients:delivery_void", args=[every.patient_id, delivery.pk]),
            "edit a follow-up": reverse("patients:followup_edit", args=[every.patient_id, followup.pk]),
            "void a follow-up": reverse("patients:followup_void", args=[every.patient_id, followup.pk]),
        }
    return pages


def _forms_sent_empty(records, role):
    """The add forms sent empty: their messages name the fields a person must fill in."""
    patient_id = records["every"].patient_id
    forms = {"add a follow-up, sent empty": reverse("patients:followup_create", args=[patient_id])}
    if role == "administrator":
        forms |= {
            "add a patient, sent empty": reverse("patients:create"),
            "add a delivery, sent empty": reverse("patients:delivery_create", args=[patient_id]),
        }
    return forms


@pytest.mark.parametrize("role", ["administrator", "clinician"])
def test_no_page_a_person_reads_shows_a_code(client, users, records, codes, role):
    client.force_login(users[role])
    shown = {}
    responses = {name: client.get(url) for name, url in _pages(records, role).items()}
    responses |= {name: client.post(url, {}) for name, url in _forms_sent_empty(records, role).items()}
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.status_code)
        found = codes.findall(visible_text(response.content.decode()))
        for chart in (response.context.get("charts") or []) + [response.context.get("timeline") or {}]:
            found += codes.findall(chart_text(chart.get("figure") or {}))
        if found:
            shown[name] = sorted(set(found))
    assert shown == {}, f"codes shown to a person: {shown}"
    # The pages had something to show: her reasons in words, the records to review, every link.
    record = visible_text(responses["her record"].content.decode())
    assert "Maya Thapa" in record and "Caesarean" in record
    assert "Large change since the previous visit" in visible_text(responses["anomalies"].content.decode())
    high_risk = visible_text(responses["high_risk"].content.decode())
    assert all(reason.label in high_risk for reason in clinical.REASONS)
    if role == "administrator":
        assert "Edit patient" in record and "Add delivery" in record


def test_the_downloads_headers_are_words(client, users, records, codes, tmp_path):
    client.force_login(users["clinician"])
    response = client.get(reverse("insights:high_risk"), {"format": "csv"})
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.getvalue().decode()))
    assert rows and not codes.findall(" | ".join(header)) and not [h for h in header if "_" in h], header
    # The reasons' codes have a column of their own, for machines; its heading is in words.
    assert "Reason codes" in header
    assert clinical.LOW_HAEMOGLOBIN in " ".join(row[header.index("Reason codes")] for row in rows)

    response = client.get(reverse("insights:high_risk"), {"format": "xlsx"})
    header = [cell.value for cell in next(openpyxl.load_workbook(io.BytesIO(response.getvalue())).active.iter_rows())]
    assert header and not codes.findall(" | ".join(header)), header

    call_command("export_insights", out=str(tmp_path / "insights.xlsx"))
    workbook = openpyxl.load_workbook(tmp_path / "insights.xlsx", read_only=True)
    shown = {}
    for sheet in workbook.worksheets[1:]:
        header = [str(value) for value in next(sheet.iter_rows(max_row=1, values_only=True))]
        if found := codes.findall(" | ".join(header)) + [h for h in header if "_" in h]:
            shown[sheet.title] = found
    assert shown == {}, f"codes in the workbook's headers: {shown}"
