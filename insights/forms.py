from django import forms

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
