"""The admin, made for data managers: find, correct and review records on tables of any size."""

from functools import cached_property, partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, ORDER_VAR, PAGE_VAR
from django.contrib.admin.widgets import AdminTextareaWidget, AutocompleteSelect
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import Count
from django.forms import ModelForm
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from import_export.admin import ImportExportModelAdmin
from rest_framework.authtoken import admin as token_admin
from rest_framework.authtoken.models import TokenProxy
from simple_history.admin import SimpleHistoryAdmin

from patients import admin_import, audit, spreadsheet
from patients.models import AccessLog, Delivery, District, FollowUp, ImportBatch, Patient, ValueAlias
from patients.resources import DeliveryResource, FollowUpResource, PatientResource
from patients.vocabulary import CODED_COLUMNS
from patients.voiding import VoidRefused, restore
from patients.workbook_guard import WorkbookRefused
from patients.writes import patient_pk, records_written

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


def _once_more_on_a_clash(request, view, *args):
    """Run an admin form view; if its save lost a race for a unique key (two people adding the same
    visit at the same moment, a double click), run it once more: the form, checked again, now names
    the clash as a field error, where the database's refusal would be a 500. Each run in its own
    transaction, so the refused one leaves nothing behind."""
    if request.method != "POST":
        return view(*args)
    try:
        with transaction.atomic():
            return view(*args)
    except IntegrityError:
        with transaction.atomic():
            return view(*args)


def _is_an_id(field, value):
    """Whether `value` can be a value of `field`: not abc (nor a NUL) for a number, nor a number past
    its column's range (SQLite cannot even be asked)."""
    try:
        value = field.to_python(value)
    except ValidationError:
        return False
    if isinstance(value, int):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return low <= value <= high
    return True


def _id_or_404(field, object_id):
    """An id in a URL that cannot be one of `field` names nothing: 404, not a 500."""
    if not _is_an_id(field, unquote(object_id)):
        raise Http404(f"No record with the id {object_id!r}.")


def _names_a_record_or_none(opts, name, value):
    """Whether `value`, given for the field `name` of `opts` (a new record's initial value in the
    URL), is an id its relation can hold; True for what is not a relation."""
    try:
        field = opts.get_field(name)
    except FieldDoesNotExist:
        return True
    if not field.is_relation:
        return True
    return all(_is_an_id(field.target_field, one) for one in (value if isinstance(value, list) else [value]))


class AutocompleteOfIds(AutocompleteSelect):
    """Django's autocomplete box, which looks the posted value up again to show it when the form comes
    back with an error: a value no record can have (abc for a number) is shown as nothing, where
    the lookup would answer 500."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        return super().optgroups(name, [one for one in value if _is_an_id(target, one)], attr)


class AnswersBadInput:
    """A ModelAdmin answering what a double click, a stale page or a hand-made URL sends as its checks
    would, never with a 500: a save that lost a race for a unique key shows the form again, naming
    the clash; an action on ids no record can have is refused; a filter the database cannot run (a
    NUL, the year 99999) is the changelist's "incorrect lookup"; a NUL searched for finds nothing;
    a posted autocomplete value that no record can have is a form error, shown empty."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = AutocompleteOfIds(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return _once_more_on_a_clash(request, super().changeform_view, request, object_id, form_url, extra_context)

    def get_object(self, request, object_id, from_field=None):
        # "?_to_field=" (empty) names no field: Django would look up a field called "" and answer 500.
        return super().get_object(request, object_id, from_field or None)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        return {name: value for name, value in initial.items() if _names_a_record_or_none(self.opts, name, value)}

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)  # counts the rows: runs the filters
        except (ValueError, OverflowError) as invalid:
            raise IncorrectLookupParameters(invalid) from invalid

    def get_search_results(self, request, queryset, search_term):
        # The changelist's search form refuses a NUL; the admin's pickers (autocomplete) pass it on.
        if "\x00" in search_term:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(_is_an_id(self.opts.pk, value) for value in selected):
            self.message_user(request, "No action was taken: the selection names no record.", messages.ERROR)
            return None  # the changelist again
        return super().response_action(request, queryset)


# A whole big table is counted by the planner's estimate above this many rows (PostgreSQL).
ESTIMATE_COUNT_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """Counts the rows exactly, unless the list is a whole table (`whole`: no search or filter) on
    PostgreSQL and the planner expects more than ESTIMATE_COUNT_ABOVE rows: then it takes that
    estimate (`estimated`; kept within a few per cent by ANALYZE and autovacuum) and the page says
    "about". COUNT(*) of 10 million follow-ups took 0.6 s of the changelist's 0.65 s."""

    def __init__(self, *args, whole=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.whole, self.estimated = whole, False

    @cached_property
    def count(self):
        database = connections[self.object_list.db]
        if self.whole and database.vendor == "postgresql":
            sql, params = self.object_list.query.sql_with_params()
            with database.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                (plan,) = cursor.fetchone()[0]
            if plan["Plan"]["Plan Rows"] > ESTIMATE_COUNT_ABOVE:
                self.estimated = True
                return plan["Plan"]["Plan Rows"]
        return super().count

    def validate_number(self, number):
        """Past an estimated count a page may still hold rows: it is shown (empty past the real end)."""
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.estimated and int(number) > 1:
                return int(number)
            raise


class BigTableAdmin(AnswersBadInput, ImportExportModelAdmin, SimpleHistoryAdmin):
    # No COUNT(*) of the whole table on every page load, nor of its first page (EstimatedCountPaginator).
    show_full_result_count = False
    list_per_page = 50
    paginator = EstimatedCountPaginator
    # Single-sheet import and export (django-import-export), in the workbook's column names.
    # Written by one rule (formulas as text, numbers as numbers); an xlsx is checked before it is read.
    formats = [spreadsheet.XLSX, spreadsheet.CSV]
    # Staff void records (patients.voiding); the admin shows who did it and restores them.
    readonly_fields = VOID_FIELDS
    actions = ["restore_selected"]
    # A record's versions (simple_history) in a box that scrolls sideways: the table is wider than a phone.
    object_history_list_template = "admin/patients/object_history_list.html"

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        whole = set(request.GET) <= {PAGE_VAR, ORDER_VAR}  # the page and its order: no search, no filter
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, whole=whole)

    def export_action(self, request, *args, **kwargs):
        try:
            return super().export_action(request, *args, **kwargs)
        except IncorrectLookupParameters:
            # A filter that names nothing (?district=, a field the model has not): back to the
            # changelist, which says so, as it does for its own filters.
            changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return redirect(f"{changelist}?{ERROR_FLAG}=1")

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, WorkbookRefused):
            form.add_error("import_file", str(e))  # the limit the file broke, and what to do
        else:
            super().add_data_read_fail_error_to_form(form, e)

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

    # --- Writes, each announced once (patients.writes) ---

    def save_model(self, request, obj, form, change):
        # A delivery or follow-up may be moved to another patient here: both patients' records change.
        before = {self._patient_in_store(obj)} if change else set()
        super().save_model(request, obj, form, change)
        request.patients_written = before | {patient_pk(obj)}

    def save_related(self, request, form, formsets, change):
        # The add and change forms: the record, then her inline records, then one announcement.
        super().save_related(request, form, formsets, change)
        records_written(request.patients_written)

    def _patient_in_store(self, obj):
        if isinstance(obj, Patient):
            return obj.pk
        return self.model.all_objects.filter(pk=obj.pk).values_list("patient_id", flat=True).first()

    def delete_model(self, request, obj):
        patient = patient_pk(obj)  # before the delete, which empties a patient's pk
        with transaction.atomic():
            super().delete_model(request, obj)
            records_written([patient])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            field = "pk" if self.model is Patient else "patient_id"
            patients = set(queryset.values_list(field, flat=True))
            super().delete_queryset(request, queryset)
            records_written(patients)

    # --- The access audit: record pages and exports ---

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.method == "GET":
            audit.log_view(request, _patient_of(obj), f"Admin: {self.opts.verbose_name} page of {obj}")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        _id_or_404(self.opts.pk, object_id)
        self._log_history(request, object_id, "history")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        _id_or_404(self.opts.pk, object_id)
        _id_or_404(self.model.history.model._meta.pk, version_id)
        self._log_history(request, object_id, f"version {version_id}")
        # Reverting to this version saves the record: a lost race for its key is a form error too.
        return _once_more_on_a_clash(request, self._revert, request, object_id, version_id, extra_context)

    def _revert(self, request, *args):
        # simple_history saves the version with save_model alone (no save_related): announce it here.
        response = super().history_form_view(request, *args)
        if getattr(request, "patients_written", None) is not None:
            records_written(request.patients_written)
        return response

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
class DistrictAdmin(AnswersBadInput, admin.ModelAdmin):
    list_display = ["name", "patient_count"]
    search_fields = ["name"]
    ordering = ["name"]  # the autocomplete pages through them

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(patient_count=Count("patients"))

    @admin.display(description="patients", ordering="patient_count")
    def patient_count(self, district):
        return district.patient_count

    # A district's name is in the insights: each write is announced (patients.writes), naming no patient.

    def save_model(self, request, district, form, change):
        super().save_model(request, district, form, change)
        records_written([])

    def delete_model(self, request, district):
        with transaction.atomic():
            super().delete_model(request, district)
            records_written([])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            records_written([])


@admin.register(ValueAlias)
class ValueAliasAdmin(AnswersBadInput, admin.ModelAdmin):
    """The spellings data managers mapped in import previews: correct one here, or add one ahead of
    an import. Imports, the staff forms and the API read them (patients.vocabulary)."""

    list_display = ["spelling", "column", "meaning", "created_by", "created_at"]
    list_filter = ["column"]
    search_fields = ["spelling", "district__name"]
    list_select_related = ["district", "created_by"]
    autocomplete_fields = ["district"]
    fields = ["column", "spelling", "code", "district", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "code":  # a delivery type's or a term's code, by its words
            groups = [(coded.verbose_name.capitalize(), coded.choices.choices) for coded in CODED_COLUMNS.values()]
            return forms.ChoiceField(choices=[("", "---------"), *groups], required=False, label="Means")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, alias, form, change):
        if not change:
            alias.created_by = request.user
        super().save_model(request, alias, form, change)


# A patient's deliveries and follow-ups on her page, stacked: each field with its own label (a
# table's columns name them for the eye only), and a page that fits a laptop and a phone (a row of
# eight or nine inputs does not).


class DeliveryInline(admin.StackedInline):
    model = Delivery
    extra = 0
    # DeliveryForm's fields (test_admin_pages checks), related ones side by side; a phone stacks them.
    fields = [
        "date_of_delivery",
        ("type_of_delivery", "term_of_delivery"),
        ("age_at_delivery", "weight_at_delivery"),
        ("haemoglobin_at_delivery", "placental_weight"),
        "voided_at",
    ]
    readonly_fields = ["voided_at"]


class FollowUpInline(admin.StackedInline):
    model = FollowUp
    extra = 0
    # FollowUpForm's fields (test_admin_pages checks), related ones side by side; a phone stacks them.
    fields = [
        ("visit_number", "visit_date"),
        ("weight_kg", "haemoglobin_g_dl"),
        ("bp_systolic", "bp_diastolic"),
        "diagnosis",
        "voided_at",
    ]
    readonly_fields = ["voided_at"]
    formfield_overrides = {models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 3})}}


@admin.register(Patient)
class PatientAdmin(BigTableAdmin):
    resource_classes = [PatientResource]
    # Its object tools: the workbook's import and export beside the single sheet's, each saying which
    # to use (django-import-export puts this template in front of Django's change_list.html).
    import_export_change_list_template = "admin/patients/patient/change_list.html"
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
            path("import-workbook/<str:token>/errors/<int:group>/", view(admin_import.import_error_rows_view),
                 name="patients_patient_import_workbook_error_rows"),
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
class ImportBatchAdmin(AnswersBadInput, admin.ModelAdmin):
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
class AccessLogAdmin(AnswersBadInput, admin.ModelAdmin):
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


# --- Users, roles and API tokens ----------------------------------------------------------------
# Administrators manage users and their roles, but only a superuser (made by createsuperuser) makes
# superusers or hands out what administrators do not hold: deletes of the audit records.


def _not_held(granter, permissions):
    """Of `permissions`, those `granter` does not hold herself (none, for a superuser)."""
    if granter.is_superuser:
        return []
    held = granter.get_all_permissions()
    permissions = permissions.select_related("content_type")
    return [p for p in permissions if f"{p.content_type.app_label}.{p.codename}" not in held]


class GrantsOnlyWhatSheHolds(ModelForm):
    """A user or group form whose filler (`granter`, set per request) may add only permissions she
    holds herself, and only groups whose every permission she holds: so nobody hands herself, another
    or a role more than she has. What was granted before stays when the form is saved."""

    granter = None

    def clean_user_permissions(self):
        return self._refuse_unheld("user_permissions")

    def clean_permissions(self):
        return self._refuse_unheld("permissions")

    def clean_groups(self):
        groups = self._added("groups")
        refused = [group.name for group in groups if _not_held(self.granter, group.permissions.all())]
        if refused:
            raise ValidationError(f"You cannot give groups holding permissions you do not hold: {', '.join(refused)}.")
        return self.cleaned_data["groups"]

    def _refuse_unheld(self, field):
        refused = _not_held(self.granter, self._added(field))
        if refused:
            raise ValidationError(
                f"You cannot grant permissions you do not hold: {', '.join(p.name for p in refused)}."
            )
        return self.cleaned_data[field]

    def _added(self, field):
        chosen = self.cleaned_data[field]
        return chosen.exclude(pk__in=getattr(self.instance, field).all()) if self.instance.pk else chosen


class UserForm(GrantsOnlyWhatSheHolds, UserChangeForm):
    pass


class GrantsOnlyWhatSheHoldsAdmin(AnswersBadInput):
    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a new class on every call
        form.granter = request.user
        return form


def _may_touch(request, user):
    return user is None or not user.is_superuser or request.user.is_superuser


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(GrantsOnlyWhatSheHoldsAdmin, auth_admin.UserAdmin):
    """Django's, but for superusers alone: superuser status, and changing or deleting a superuser
    (her password included, which would be the same as being her)."""

    form = UserForm
    # The system sets these (at a login, at the account's creation): shown, not typed.
    readonly_fields = ["last_login", "date_joined"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser else [*fields, "is_superuser"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _may_touch(request, obj)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(GrantsOnlyWhatSheHoldsAdmin, auth_admin.GroupAdmin):
    form = GrantsOnlyWhatSheHolds


admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(AnswersBadInput, token_admin.TokenAdmin):
    """DRF's, without superusers' tokens for anyone else: reading one is acting as a superuser."""

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user__is_superuser=False)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(is_superuser=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
