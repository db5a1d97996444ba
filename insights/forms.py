from django import forms

from patients import clinical
from patients.forms import DateInput
from patients.models import District


class InsightFilterForm(forms.Form):
    """The filters every insight page takes, in the query string: district, from, to."""

    district = forms.ModelChoiceField(queryset=District.objects.all(), required=False, empty_label="All districts")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" and "to" are Python keywords, and the API's parameter names: declared here.
        self.fields["from"] = forms.DateField(label="From", required=False, widget=DateInput)
        self.fields["to"] = forms.DateField(label="To", required=False, widget=DateInput)

    def clean(self):
        data = super().clean()
        if data.get("from") and data.get("to") and data["from"] > data["to"]:
            self.add_error("to", "The last day is before the first.")
        return data

    def filters(self):
        """The query functions' keyword arguments (all records when the form is unbound)."""
        data = self.cleaned_data if self.is_bound else {}
        return {"district": data.get("district"), "date_from": data.get("from"), "date_to": data.get("to")}

    def scope(self):
        """What the filters select, in words, for titles: "Kaski, 1 Jan 2024 to 31 Dec 2024"."""
        filters = self.filters()
        parts = [filters["district"].name if filters["district"] else "all districts"]
        date_from, date_to = filters["date_from"], filters["date_to"]
        if date_from or date_to:
            first = f"{date_from:%-d %b %Y}" if date_from else "the start"
            last = f"{date_to:%-d %b %Y}" if date_to else "today"
            parts.append(f"{first} to {last}")
        return ", ".join(parts)


def _one_or_more(choices, what):
    """Checkboxes for one or more of `choices` ((code, words) pairs); an unknown code names the accepted ones."""
    accepted = ", ".join(str(code) for code, _ in choices)
    return forms.TypedMultipleChoiceField(
        choices=choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": f"%(value)s is not a {what}. Accepted: {accepted}."},
    )


class HighRiskFilterForm(InsightFilterForm):
    """The insight filters, and the high-risk list's own: one or more reasons (any of them), priorities."""

    reason = _one_or_more([(reason.code, reason.label) for reason in clinical.REASONS], "reason")
    priority = _one_or_more([(str(p.code), clinical.priority_label(p.code)) for p in clinical.PRIORITIES], "priority")

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):  # ?reason=a,b as well as ?reason=a&reason=b
            data = data.copy()
            for name in ("reason", "priority"):
                if name in data:
                    data.setlist(name, [part.strip() for value in data.getlist(name) for part in value.split(",")])
        super().__init__(data, *args, **kwargs)
        # The cut-off is a setting: the reasons' words are read when the form is made.
        self.fields["reason"].choices = [(reason.code, reason.label) for reason in clinical.REASONS]
        self.fields["reason"].label = "Reasons"
        self.fields["priority"].label = "Priority"

    def filters(self):
        filters = super().filters()
        data = self.cleaned_data if self.is_bound else {}
        filters["reasons"] = data.get("reason") or None
        filters["priorities"] = [int(level) for level in data.get("priority") or []] or None
        return filters

    def scope(self):
        scope = super().scope()
        filters = self.filters()
        if filters["reasons"]:
            scope += "; " + " or ".join(_lower_first(clinical.label(code)) for code in filters["reasons"])
        if filters["priorities"]:
            scope += "; " + " or ".join(_lower_first(clinical.priority_label(level)) for level in filters["priorities"])
        return scope


def _lower_first(words):
    """ "Haemoglobin below 11 g/dL" -> "haemoglobin below 11 g/dL": inside a sentence, units intact."""
    return words[:1].lower() + words[1:]
