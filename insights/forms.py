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

    def checkboxes(self):
        """The filters shown as groups of checkboxes (filters.html): none here."""
        return []

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


def split_codes(values):
    """?reason=a,b as well as ?reason=a&reason=b: each value split at its commas."""
    return [part.strip() for value in values for part in str(value).split(",")]


def not_accepted(value, what, accepted):
    """The message for a code that is not one of `accepted`, naming them (the page's and the API's)."""
    return f'"{value}" is not a {what}. Accepted: {", ".join(str(code) for code in accepted)}.'


def _one_or_more(codes, what, label):
    """Checkboxes for one or more of `codes` (their words are set when the form is made)."""
    return forms.TypedMultipleChoiceField(
        label=label,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": not_accepted("%(value)s", what, codes)},
    )


class HighRiskFilterForm(InsightFilterForm):
    """The insight filters, and the high-risk list's own: one or more reasons (any of them), priorities."""

    reason = _one_or_more(clinical.REASON_CODES, "reason", "Reasons (any of)")
    priority = _one_or_more(clinical.PRIORITY_LEVELS, "priority", "Priority")
    CHECKBOXES = ("reason", "priority")

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            for name in self.CHECKBOXES:
                if name in data:
                    data.setlist(name, split_codes(data.getlist(name)))
        super().__init__(data, *args, **kwargs)
        # In words, read when the form is made: the cut-off in a reason's words is a setting.
        self.fields["reason"].choices = [(reason.code, reason.label) for reason in clinical.REASONS]
        self.fields["priority"].choices = [(str(p.code), clinical.priority_label(p.code)) for p in clinical.PRIORITIES]

    def checkboxes(self):
        return [self[name] for name in self.CHECKBOXES]

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
