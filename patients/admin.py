"""The admin, made for data managers: find, correct and review records on tables of any size."""

from functools import partial

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count
from django.urls import path, reverse
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from patients import admin_import, audit
from patients.forms import DeliveryForm, FollowUpForm
from patients.models import AccessLog, Delivery, District, FollowUp, ImportBatch, Patient
from patients.resources import DeliveryResource, FollowUpResource, PatientResource
from patients.voiding import VoidRefused, restore

VOID_FIELDS = ["voided_at", "voided_by", "void_reason"]


def date_hierarchy_if_fast(field):
    """`date_hierarchy` only on PostgreSQL: on SQLite its year/month buttons run a Python date
    function over every row (about 6 s at a million follow-ups). SQLite keeps the date filter."""
    is_postgresql = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    return field if is_postgresql else None


class StatusFilter(admin.SimpleListFilter):
    """Records in use by default; voided ones (to review or restore) on request."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("voided", "Voided"), ("all", "In use and voided")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "In use",
        }
        for value, title in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.voided() if self.value() == "voided" else queryset.active()


class BigTableAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    # No COUNT(*) of the whole table on every page load.
    show_full_result_count = False
    list_per_page = 50
    # Single-sheet import and export (django-import-export), in the workbook's column names.
    formats = [base_formats.XLSX, base_formats.CSV]
    # Staff void records (patients.voiding); the admin shows who did it and restores them.
    readonly_fields = VOID_FIELDS
    actions = ["restore_selected"]

    @admin.action(description="Restore the selected voided %(verbose_name_plural)s", permissions=["restore"])
    def restore_selected(self, request, queryset):
        restored, records = 0, queryset.voided()
        if self.model is not Patient:
            records = records.select_related("patient")  # restore() asks whether her patient is voided
        for record in records:
            try:
                restore(record, request.user)
            except VoidRefused as refused:
                self.message_user(request, str(refused), messages.ERROR)
            else:
                restored += 1
        self.message_user(request, f"Restored {restored} {self.opts.verbose_name_plural}.", messages.SUCCESS)

    def has_restore_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.restore_{self.opts.model_name}")

    # --- The access audit: record pages and exports ---

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.method == "GET":
            audit.log_view(request, _patient_of(obj), f"Admin: {self.opts.verbose_name} page of {obj}")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        self._log_history(request, object_id, "history")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._log_history(request, object_id, f"version {version_id}")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _log_history(self, request, object_id, what):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            audit.log_view(request, _patient_of(obj), f"Admin: {what} of {obj}")

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        audit.log_export(request, f"Admin: {self.opts.verbose_name_plural} as {file_format.get_title()}",
                         rows=queryset.active().count())  # fmt: skip
        return data


def _patient_of(record):
    return record if isinstance(record, Patient) else record.patient


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
    fields = [*DeliveryForm.Meta.fields, "voided_at"]
    readonly_fields = ["voided_at"]


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = [*FollowUpForm.Meta.fields, "voided_at"]
    readonly_fields = ["voided_at"]


@admin.register(Patient)
class PatientAdmin(BigTableAdmin):
    resource_classes = [PatientResource]
    change_list_template = "admin/patients/patient/change_list.html"
    list_display = ["patient_id", "name", "district", "village", "age_at_first_pregnancy", "weight_kg"]
    list_display_links = ["patient_id", "name"]
    list_filter = [StatusFilter, "district"]
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
        ("Voided", {"fields": VOID_FIELDS, "classes": ["collapse"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        # The admin's patient pickers (deliveries, follow-ups) offer patients in use only.
        if request.path == reverse("admin:autocomplete"):
            queryset = queryset.active()
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(partial(function, self))

        return [
            path("import-workbook/", view(admin_import.import_upload_view), name="patients_patient_import_workbook"),
            path("import-workbook/<str:token>/", view(admin_import.import_preview_view),
                 name="patients_patient_import_workbook_preview"),
            path("import-workbook/<str:token>/errors.xlsx", view(admin_import.import_errors_view),
                 name="patients_patient_import_workbook_errors"),
            path("export-workbook/", view(admin_import.export_workbook_view), name="patients_patient_export_workbook"),
        ] + super().get_urls()  # fmt: skip


@admin.register(Delivery)
class DeliveryAdmin(BigTableAdmin):
    resource_classes = [DeliveryResource]
    list_display = [
        "patient",
        "date_of_delivery",
        "type_of_delivery",
        "term_of_delivery",
        "haemoglobin_at_delivery",
        "district",
    ]
    list_filter = [StatusFilter, "type_of_delivery", "term_of_delivery", "date_of_delivery", "patient__district"]
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
    resource_classes = [FollowUpResource]
    list_display = ["patient", "visit_number", "visit_date", "weight_kg", "haemoglobin_g_dl", "bp", "diagnosis"]
    list_filter = [StatusFilter, "visit_date", "patient__district"]
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


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    """The record of every import: read-only, for data managers and administrators."""

    list_display = ["__str__", "imported_at", "imported_by", "source", "summary", "skipped_invalid"]
    list_filter = ["source", "skipped_invalid"]
    list_select_related = ["imported_by"]
    search_fields = ["file_name", "file_sha256", "imported_by__username"]
    readonly_fields = ["imported_by", "imported_at", "source", "file_name", "file_sha256", "skipped_invalid", "counts"]

    def has_add_permission(self, request):
        return False  # imports are made by importing, not by typing

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="rows")
    def summary(self, batch):
        return "; ".join(
            f"{kind}: {c.get('new', 0)} new, {c.get('updated', 0)} updated" for kind, c in batch.counts.items()
        )


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Who saw which patient's record, and who exported records: for administrators, read-only."""

    list_display = ["at", "username", "kind", "patient_ref", "what", "rows", "ip_address"]
    list_filter = ["kind"]
    search_fields = ["=patient_ref", "=username"]
    search_help_text = "A patient ID or a username, exactly."
    date_hierarchy = date_hierarchy_if_fast("at")
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [f.name for f in AccessLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
