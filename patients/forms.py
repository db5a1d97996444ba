import functools

from django import forms

from patients import vocabulary
from patients.models import Delivery, District, FollowUp, Patient


class DateInput(forms.DateInput):
    """The browser's date picker; it always sends ISO dates, whatever the locale."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "Patient ID, name or village", "type": "search"}),
    )
    district = forms.ModelChoiceField(queryset=District.objects.all(), required=False, empty_label="All districts")


class SpelledChoiceField(forms.TypedChoiceField):
    """A delivery type or term: the select sends the code; a label or a spelling registers use
    (patients.vocabulary), in any case, is read as its code too."""

    def __init__(self, *, coded, **kwargs):
        super().__init__(**kwargs)
        self.coded = coded

    def to_python(self, value):
        value = super().to_python(value)
        return (self.coded.code(value) or value) if value else value


def spelled_choices(db_field, **kwargs):
    """ModelForm.Meta.formfield_callback: coded columns read every spelling of their values."""
    coded = vocabulary.CODED_COLUMNS.get(db_field.name)
    if coded is not None:
        kwargs["choices_form_class"] = functools.partial(SpelledChoiceField, coded=coded)
    return db_field.formfield(**kwargs)


class DistrictChoiceField(forms.ModelChoiceField):
    """A known district: the select sends its id; its name in any case, or a saved alias, will do too.
    Staff forms never add a district (an administrator or an import does)."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not value.strip().isdigit():
            district = District.objects.named(value)
            if district is None:
                raise forms.ValidationError(vocabulary.unknown_district_message(value), code="invalid_choice")
            return district
        return super().to_python(value)


class PatientForm(forms.ModelForm):
    district = DistrictChoiceField(queryset=District.objects.all())

    class Meta:
        model = Patient
        fields = [
            "patient_id",
            "name",
            "district",
            "village",
            "height_cm",
            "weight_kg",
            "education_level",
            "monthly_income",
            "age_at_menarche",
            "age_at_marriage",
            "age_at_first_pregnancy",
            "occupation",
            "diet",
            "condition",
        ]
        widgets = {"condition": forms.Textarea(attrs={"rows": 3})}


class DeliveryForm(forms.ModelForm):
    """A delivery of the patient in `instance.patient` (set by the view, not a form field)."""

    class Meta:
        model = Delivery
        fields = [
            "date_of_delivery",
            "type_of_delivery",
            "term_of_delivery",
            "age_at_delivery",
            "weight_at_delivery",
            "haemoglobin_at_delivery",
            "placental_weight",
        ]
        widgets = {"date_of_delivery": DateInput()}
        formfield_callback = spelled_choices

    def clean_date_of_delivery(self):
        # The patient is not a form field, so Django's own unique check would skip this pair.
        day = self.cleaned_data["date_of_delivery"]
        taken = _taken(self.instance, date_of_delivery=day)
        if taken is not None:
            raise forms.ValidationError(
                f"{self.instance.patient.patient_id} already has a {taken}delivery on {day:%d %b %Y}."
            )
        return day


class FollowUpForm(forms.ModelForm):
    """A follow-up visit of the patient in `instance.patient` (set by the view, not a form field)."""

    class Meta:
        model = FollowUp
        fields = [
            "visit_number",
            "visit_date",
            "weight_kg",
            "haemoglobin_g_dl",
            "bp_systolic",
            "bp_diastolic",
            "diagnosis",
        ]
        widgets = {"visit_date": DateInput(), "diagnosis": forms.Textarea(attrs={"rows": 3})}

    def clean_visit_number(self):
        number = self.cleaned_data["visit_number"]
        taken = _taken(self.instance, visit_number=number)
        if taken is not None:
            raise forms.ValidationError(
                f"{self.instance.patient.patient_id} already has {'a voided ' if taken else ''}visit {number}."
            )
        return number


def _taken(record, **key):
    """None if no other record of her holds `key`; "" if one in use does, "voided " if a voided one
    does (it keeps its key: an administrator may restore it)."""
    others = type(record).all_objects.filter(patient=record.patient, **key).exclude(pk=record.pk)
    voided_at = others.values_list("voided_at", flat=True)[:1]
    if not voided_at:
        return None
    return "" if voided_at[0] is None else "voided "


class VoidForm(forms.Form):
    reason = forms.CharField(
        max_length=Patient._meta.get_field("void_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this record should not count, e.g. entered twice, or for the wrong patient.",
    )
