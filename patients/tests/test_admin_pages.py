"""The admin's pages as HTML: every control labelled, wide tables in scroll containers that say so, no
inline script, and the imports named for what they take. (The browser check, which measures them,
is hospital/tests/test_browser_glance.py.)"""

from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.urls import reverse

from patients import admin as patients_admin
from patients.forms import DeliveryForm, FollowUpForm
from patients.tests.factories import make_delivery, make_followup, make_patient


class Controls(HTMLParser):
    """The form controls of a page a person fills in, the ids its labels point at, and the elements
    that carry a role or an inline event handler."""

    def __init__(self, html):
        super().__init__()
        self.controls, self.labelled, self.regions, self.handlers = [], set(), [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if any(name.startswith("on") for name in attrs):
            self.handlers.append((tag, attrs))
        if tag == "label" and attrs.get("for"):
            self.labelled.add(attrs["for"])
        if attrs.get("role") == "region":
            self.regions.append(attrs)
        # Not the inlines' template row (__prefix__): it is copied, labels and all, when a row is added.
        filled_in = attrs.get("type") not in ("hidden", "submit", "button") and "__prefix__" not in attrs.get(
            "name", ""
        )
        if tag in ("input", "select", "textarea") and filled_in:
            self.controls.append(attrs)

    def unlabelled(self):
        return [c.get("name") for c in self.controls if c.get("id") not in self.labelled and not c.get("aria-label")]


@pytest.fixture
def patient(db):
    patient = make_patient(patient_id="P100")
    make_delivery(patient)
    make_followup(patient)
    make_followup(patient)
    return patient


def _flat(fields):
    return [name for field in fields for name in (field if isinstance(field, tuple) else [field])]


def test_the_patient_page_stacks_her_deliveries_and_follow_ups_with_every_field_of_their_forms():
    assert issubclass(patients_admin.DeliveryInline, patients_admin.admin.StackedInline)
    assert issubclass(patients_admin.FollowUpInline, patients_admin.admin.StackedInline)
    assert _flat(patients_admin.DeliveryInline.fields) == [*DeliveryForm.Meta.fields, "voided_at"]
    assert _flat(patients_admin.FollowUpInline.fields) == [*FollowUpForm.Meta.fields, "voided_at"]


@pytest.mark.parametrize("role", ["data_manager", "administrator"])
def test_every_input_of_the_patient_page_has_a_label(client, users, role, patient):
    client.force_login(users[role])
    page = Controls(client.get(reverse("admin:patients_patient_change", args=[patient.pk])).text)
    names = {control.get("name") for control in page.controls}
    assert {"deliveries-0-date_of_delivery", "deliveries-0-type_of_delivery", "followups-1-visit_date",
            "followups-1-diagnosis", "district"} <= names  # fmt: skip
    assert page.unlabelled() == []


def test_a_users_last_login_and_date_joined_are_shown_not_typed(client, administrator, clinician):
    client.force_login(administrator)
    url = reverse("admin:auth_user_change", args=[clinician.pk])
    response = client.get(url)
    page = Controls(response.text)
    assert not [c for c in page.controls if c.get("name", "").startswith(("last_login", "date_joined"))]
    assert {"last_login", "date_joined"} <= set(response.context["adminform"].readonly_fields)
    assert page.unlabelled() == []


@pytest.mark.parametrize("model", ["patient", "delivery", "followup"])
def test_changelists_label_their_search_box_in_words_and_scroll_their_table_in_a_named_region(
    client, data_manager, patient, model
):
    client.force_login(data_manager)
    html = client.get(reverse(f"admin:patients_{model}_changelist")).text
    assert '<label for="searchbar"><img src="/static/admin/img/search.svg" alt="">Search ' in html
    plural = apps.get_model("patients", model)._meta.verbose_name_plural
    regions = [(r.get("class"), r.get("tabindex"), r.get("aria-label")) for r in Controls(html).regions]
    assert regions == [("results scrolls-sideways", "0", f"Table of {plural}")]


def test_a_records_history_scrolls_in_a_named_region(client, data_manager, patient):
    client.force_login(data_manager)
    page = Controls(client.get(reverse("admin:patients_patient_history", args=[patient.pk])).text)
    assert [(r.get("tabindex"), r.get("aria-label")) for r in page.regions] == [("0", "Change history")]


@pytest.mark.parametrize("model", ["patient", "delivery", "followup"])
def test_the_export_page_has_no_inline_script_and_labels_select_all(client, data_manager, patient, model):
    client.force_login(data_manager)
    response = client.get(reverse(f"admin:patients_{model}_export"))
    assert response.status_code == 200
    page = Controls(response.text)
    assert page.handlers == []
    assert "select-all-toggle" in page.labelled
    assert page.unlabelled() == []
    assert "/static/js/admin.js" in response.text


def test_the_patients_changelist_names_each_import_and_export_for_what_it_takes(client, data_manager, db):
    client.force_login(data_manager)
    html = client.get(reverse("admin:patients_patient_changelist")).text
    links = {
        "Import workbook": reverse("admin:patients_patient_import_workbook"),
        "Import patients sheet": reverse("admin:patients_patient_import"),
        "Export workbook": reverse("admin:patients_patient_export_workbook"),
        "Export patients sheet": reverse("admin:patients_patient_export"),
    }
    for text, url in links.items():
        assert f'href="{url}' in html and f">{text}</a>" in html
    assert html.count(">Import workbook</a>") == 1 and ">Import</a>" not in html
    assert 'id="import-hint"' in html  # which import to use


def test_every_admin_page_has_the_admin_stylesheet_and_script(client, data_manager, db):
    client.force_login(data_manager)
    html = client.get(reverse("admin:index")).text
    assert '<link rel="stylesheet" href="/static/css/admin.css">' in html
    assert '<script src="/static/js/admin.js" defer></script>' in html


def test_the_api_docs_say_their_language_and_turn_deep_links_off(client, administrator):
    client.force_login(administrator)
    html = client.get(reverse("api:docs")).content.decode()
    assert '<html lang="en">' in html and "/static/css/api-docs.css" in html
    assert "<script>" not in html  # its start-up script is a file (the split view)
    script = client.get(reverse("api:docs"), {"script": ""}).content.decode()
    assert '"deepLinking": false' in script


def test_a_column_name_may_wrap_after_its_underscores_and_stays_text():
    from patients.templatetags.labels import breakable

    assert breakable("age_at_first_pregnancy") == "age_<wbr>at_<wbr>first_<wbr>pregnancy"
    assert breakable('<b onclick="x">_y') == "&lt;b onclick=&quot;x&quot;&gt;_<wbr>y"  # a header from a file: escaped


def test_an_empty_to_field_on_a_change_page_is_no_error(client, administrator):
    client.force_login(administrator)
    response = client.get(reverse("admin:auth_user_change", args=[administrator.pk]), {"_to_field": ""})
    assert response.status_code == 200
