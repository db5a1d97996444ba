"""The admin, made for data managers: find, correct and review records on tables of any size."""

from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from patients.models import Delivery, District, FollowUp, Patient


def date_hierarchy_if_fast(field):
    """`date_hierarchy` only on PostgreSQL: on SQLite its year/month buttons run a Python date
    function over every row (about 6 s at a million follow-ups). SQLite keeps the date filter."""
    is_postgresql = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    return field if is_postgresql else None


class BigTableAdmin(SimpleHistoryAdmin):
    # No COUNT(*) of the whole table on every page load.
    show_full_result_count = False
    list_per_page = 50


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["name", "patient_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(patient_count=Count("patients"))

    @admin.display(description="patients", ordering="patient_count")
    def patient_count(self, district):
        return district.patient_count


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = [
        "date_of_delivery",
        "type_of_delivery",
        "term_of_delivery",
        "age_at_delivery",
        "weight_at_delivery",
        "haemoglobin_at_delivery",
        "placental_weight",
    ]


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = ["visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp_systolic", "bp_diastolic", "diagnosis"]


@admin.register(Patient)
class PatientAdmin(BigTableAdmin):
    list_display = ["patient_id", "name", "district", "village", "age_at_first_pregnancy", "weight_kg"]
    list_display_links = ["patient_id", "name"]
    list_filter = ["district"]
    list_select_related = ["district"]
    # "^" is a prefix match, which the patient_id index can answer.
    search_fields = ["^patient_id", "name", "village"]
    search_help_text = "Patient ID (from its start), name or village."
    autocomplete_fields = ["district"]
    inlines = [DeliveryInline, FollowUpInline]
    fieldsets = [
        (None, {"fields": ["patient_id", "name", "district", "village"]}),
        ("Body", {"fields": ["height_cm", "weight_kg"]}),
        ("History", {"fields": ["age_at_menarche", "age_at_marriage", "age_at_first_pregnancy", "condition"]}),
        ("Circumstances", {"fields": ["education_level", "monthly_income", "occupation", "diet"]}),
    ]


@admin.register(Delivery)
class DeliveryAdmin(BigTableAdmin):
    list_display = [
        "patient",
        "date_of_delivery",
        "type_of_delivery",
        "term_of_delivery",
        "haemoglobin_at_delivery",
        "district",
    ]
    list_filter = ["type_of_delivery", "term_of_delivery", "date_of_delivery", "patient__district"]
    list_select_related = ["patient", "patient__district"]
    search_fields = ["^patient__patient_id", "patient__name"]
    search_help_text = "Patient ID (from its start) or name."
    autocomplete_fields = ["patient"]
    date_hierarchy = date_hierarchy_if_fast("date_of_delivery")
    ordering = ["-date_of_delivery"]

    @admin.display(description="district", ordering="patient__district__name")
    def district(self, delivery):
        return delivery.patient.district


@admin.register(FollowUp)
class FollowUpAdmin(BigTableAdmin):
    list_display = ["patient", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp", "diagnosis"]
    list_filter = ["visit_date", "patient__district"]
    list_select_related = ["patient"]
    search_fields = ["^patient__patient_id", "patient__name"]
    search_help_text = "Patient ID (from its start) or name."
    autocomplete_fields = ["patient"]
    date_hierarchy = date_hierarchy_if_fast("visit_date")
    ordering = ["-visit_date"]

    @admin.display(description="BP (mmHg)")
    def bp(self, followup):
        if followup.bp_systolic is None:
            return "—"
        return f"{followup.bp_systolic}/{followup.bp_diastolic if followup.bp_diastolic is not None else '?'}"
