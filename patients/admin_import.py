"""
The admin's workbook import (upload -> preview -> confirm or cancel) and workbook export.

An uploaded file waits between preview and confirm in IMPORT_UPLOAD_DIR, a folder only the app's
user can read, under a random name that only the uploader's session knows. It is deleted on
confirm or cancel, and any upload left behind is deleted after a day.
"""

import os
import secrets
import time
from contextlib import nullcontext
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from patients import audit, vocabulary
from patients.importing import (
    ImportFileError,
    ImportRefused,
    apply_import,
    import_turn,
    plan_import,
    write_error_workbook,
)
from patients.importing.mapping import NEW_DISTRICT, Mappings, save_alias
from patients.importing.plans import GROUP_ROWS_SHOWN
from patients.models import District, ImportBatch, Patient, ValueAlias, normalise_district_name
from patients.workbook import write_workbook

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")
SESSION_KEY = "workbook_uploads"
NEW_DISTRICTS_KEY = "workbook_new_districts"  # token -> district names confirmed as new in its preview
ABANDONED_AFTER_SECONDS = 24 * 3600
PREVIEW_ROWS = 10
ERROR_GROUPS_PER_PAGE = 20
GROUP_ROWS_PER_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    workbook = forms.FileField(
        help_text="An Excel (.xlsx) or OpenDocument (.ods) workbook with sheets patients, deliveries "
        "and/or followups. An old Excel 97-2003 file (.xls): save it as .xlsx first."
    )

    def clean_workbook(self):
        upload = self.cleaned_data["workbook"]
        if not upload.name.lower().endswith(WORKBOOK_SUFFIXES):
            if upload.name.lower().endswith(".xls"):
                raise forms.ValidationError(
                    f"{upload.name} is an Excel 97-2003 workbook: open it in your spreadsheet program, save it as "
                    "an Excel workbook (.xlsx) and upload that."
                )
            raise forms.ValidationError(f"{upload.name} is not a workbook: choose an .xlsx or .ods file.")
        limit = settings.IMPORT_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            raise forms.ValidationError(f"{upload.name} is larger than {limit} MB.")
        return upload


def _require_import_permission(request):
    if not request.user.has_perm("patients.add_importbatch"):
        raise PermissionDenied


def _upload_dir():
    folder = Path(settings.IMPORT_UPLOAD_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _store(request, upload):
    """Keep the upload privately until confirm or cancel; return its token."""
    folder = _upload_dir()
    for old in folder.iterdir():
        if old.stat().st_mtime < time.time() - ABANDONED_AFTER_SECONDS:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    descriptor = os.open(folder / token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stored:
        for chunk in upload.chunks():
            stored.write(chunk)
    request.session.setdefault(SESSION_KEY, {})[token] = upload.name
    request.session.modified = True
    return token


def _stored(request, token):
    """The stored file's path and original name; 404 unless this session uploaded it."""
    name = request.session.get(SESSION_KEY, {}).get(token)
    path = Path(settings.IMPORT_UPLOAD_DIR) / token
    if name is None or not path.is_file():
        raise Http404("This upload is no longer here: upload the workbook again.")
    return path, name


def _discard(request, token):
    (Path(settings.IMPORT_UPLOAD_DIR) / token).unlink(missing_ok=True)
    request.session.get(SESSION_KEY, {}).pop(token, None)
    request.session.get(NEW_DISTRICTS_KEY, {}).pop(token, None)
    request.session.modified = True


def _mappings(request, token):
    """This upload's own mappings: the districts confirmed as new in its preview (the mappings to
    known values are saved aliases, which every plan reads)."""
    mappings = Mappings()
    for name in request.session.get(NEW_DISTRICTS_KEY, {}).get(token, []):
        mappings.add(ValueAlias.Column.DISTRICT, name, NEW_DISTRICT)
    return mappings


def _plan(request, path, name, token):
    return plan_import(path, file_name=name, mappings=_mappings(request, token))


def import_upload_view(model_admin, request):
    _require_import_permission(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = _store(request, form.cleaned_data["workbook"])
        return redirect("admin:patients_patient_import_workbook_preview", token=token)
    return _render(
        model_admin, request, "admin/patients/import_upload.html", {"form": form, "title": "Import a workbook"}
    )


def import_preview_view(model_admin, request, token):
    """GET: what the import would do. POST: map unknown values, confirm (write it) or cancel."""
    _require_import_permission(request)
    path, name = _stored(request, token)
    preview = reverse("admin:patients_patient_import_workbook_preview", args=[token])
    changelist = reverse("admin:patients_patient_changelist")
    if request.method == "POST" and "cancel" in request.POST:
        _discard(request, token)
        messages.info(request, f"Import of {name} cancelled: nothing was written.")
        return redirect(changelist)
    if request.method == "POST" and "map" in request.POST:
        _map_values(request, token)
        return redirect(preview)
    # A confirm plans again and writes in its turn: an import confirmed meanwhile is seen, not doubled.
    with import_turn() if request.method == "POST" else nullcontext():
        try:
            plan = _plan(request, path, name, token)
        except ImportFileError as error:
            _discard(request, token)
            context = {"form": UploadForm(), "title": "Import a workbook", "upload_error": f"{name}: {error}"}
            return _render(model_admin, request, "admin/patients/import_upload.html", context, status=400)

        if request.method == "POST":
            skip_invalid = request.POST.get("skip_invalid") == "on"
            try:
                batch = apply_import(
                    plan, user=request.user, source=ImportBatch.Source.ADMIN, skip_invalid=skip_invalid
                )
            except ImportRefused as refused:
                messages.error(request, str(refused))
            else:
                _discard(request, token)
                if batch is None:
                    messages.info(request, f"Nothing to import from {name}: every row is already in the records.")
                else:
                    messages.success(request, f"Imported {name} as import #{batch.pk}: {_summary(plan)}.")
                return redirect(changelist)
    groups = Paginator(plan.error_groups(), ERROR_GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "title": f"Preview of {name}",
        "plan": plan,
        "sheets": [_sheet_preview(sheet) for sheet in plan.sheets.values()],
        "error_groups": groups,
        "group_offset": groups.start_index() - 1 if groups.object_list else 0,
        "rows_shown": GROUP_ROWS_SHOWN,
        "unmatched": [_unmatched_choices(unmatched) for unmatched in plan.unmatched.values()],
        "duplicates": plan.possible_duplicates[: settings.IMPORT_MAX_DUPLICATES_SHOWN],
        "more_duplicates": max(0, len(plan.possible_duplicates) - settings.IMPORT_MAX_DUPLICATES_SHOWN),
        "token": token,
    }
    return _render(model_admin, request, "admin/patients/import_preview.html", context)


def _unmatched_choices(unmatched):
    """An unknown value with what it may be mapped to: the suggestions first, then every known value."""
    if unmatched.column == ValueAlias.Column.DISTRICT:
        everything = [(str(pk), name) for pk, name in District.objects.values_list("pk", "name")]
        by_name = {name: pk for pk, name in everything}
        suggested = [(by_name[s.value], s.label) for s in unmatched.suggestions if s.value in by_name]
        everything.append((NEW_DISTRICT, f"a new district: {normalise_district_name(unmatched.typed)}"))
    else:
        coded = vocabulary.CODED_COLUMNS[unmatched.column]
        everything = [(code, label) for code, label in coded.choices.choices]
        suggested = [(s.value, s.label) for s in unmatched.suggestions]
    return {
        "value": unmatched,
        "column_words": ValueAlias.Column(unmatched.column).label,
        "suggested": suggested,
        "others": [choice for choice in everything if choice not in suggested],
        "first_rows": unmatched.rows[:GROUP_ROWS_SHOWN],
    }


def _map_values(request, token):
    """Save the preview's mappings: each to a known value as an alias (used by every later import,
    the forms and the API), a district confirmed as new for this upload only."""
    if not request.user.has_perm("patients.add_valuealias"):
        raise PermissionDenied
    mapped = 0
    for index in range(int(request.POST.get("map-count", 0) or 0)):
        column = request.POST.get(f"map-{index}-column", "")
        spelling = request.POST.get(f"map-{index}-spelling", "")
        target = request.POST.get(f"map-{index}-to", "")
        if not target or column not in ValueAlias.Column.values:
            continue
        if column == ValueAlias.Column.DISTRICT and target == NEW_DISTRICT:
            confirmed = request.session.setdefault(NEW_DISTRICTS_KEY, {}).setdefault(token, [])
            confirmed.append(spelling)
            request.session.modified = True
            mapped += 1
            continue
        meaning = target
        if column == ValueAlias.Column.DISTRICT:
            meaning = District.objects.filter(pk=int(target)).first() if target.isdigit() else None
        try:
            if meaning is None:
                raise ValidationError(f"no district {target}")
            save_alias(column, spelling, meaning, request.user)
        except ValidationError as invalid:
            messages.error(request, f"'{spelling}' was not mapped: {' '.join(invalid.messages)}")
        else:
            mapped += 1
    if mapped:
        messages.success(request, f"{mapped} value{'s' if mapped != 1 else ''} mapped; the preview below uses them.")


def import_error_rows_view(model_admin, request, token, group):
    """Every row of one group of errors in the preview, a page at a time."""
    _require_import_permission(request)
    path, name = _stored(request, token)
    try:
        groups = _plan(request, path, name, token).error_groups()
    except ImportFileError as error:
        raise Http404(str(error)) from None
    if not 0 <= group < len(groups):
        raise Http404("No such group of errors: preview the workbook again.")
    rows = Paginator(groups[group].errors, GROUP_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"title": f"Rows of {name} with one problem", "group": groups[group], "rows": rows, "token": token}
    return _render(model_admin, request, "admin/patients/import_error_rows.html", context)


def import_errors_view(model_admin, request, token):
    """The invalid rows of the uploaded workbook, with a reason column, as xlsx."""
    _require_import_permission(request)
    path, name = _stored(request, token)
    try:
        plan = _plan(request, path, name, token)
    except ImportFileError as error:
        raise Http404(str(error)) from None
    response = HttpResponse(content_type=XLSX)
    write_error_workbook(plan, response)
    audit.log_export(request, f"Rows with errors of the workbook {name}", rows=plan.invalid_count)
    response["Content-Disposition"] = f'attachment; filename="errors-{Path(name).stem}.xlsx"'
    return response


def export_workbook_view(model_admin, request):
    """All patients (or one district's) with their deliveries and follow-ups, in the import format."""
    if not request.user.has_perm("patients.export_patient"):
        raise PermissionDenied
    patients, district = Patient.objects.all(), _district_filter(request)
    if district:
        patients = patients.in_district(district)
    stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
    response = HttpResponse(content_type=XLSX)
    rows = write_workbook(response, patients)
    what = f" of {district.name} district" if district else ""
    audit.log_export(request, f"Workbook of patients, deliveries and follow-ups{what}", rows=rows)
    response["Content-Disposition"] = f'attachment; filename="patients-{stamp}.xlsx"'
    return response


def _district_filter(request):
    """The changelist's district filter, as the export link carries it; an unknown one is a 404, never
    a workbook of everyone recorded as one district's."""
    value = request.GET.get("district__id__exact")
    if not value:
        return None
    whole = value.isascii() and value.isdigit() and len(value) < 10
    district = District.objects.filter(pk=int(value)).first() if whole else None
    if district is None:
        raise Http404(f"No district with id {value}.")
    return district


def _summary(plan):
    counts = plan.counts()
    return "; ".join(
        f"{kind} {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged"
        + (f", {c['invalid']} skipped" if c["invalid"] else "")
        for kind, c in counts.items()
    )


def _sheet_preview(sheet):
    columns = list(sheet.columns)
    return {
        "sheet": sheet,
        "counts": sheet.counts(),
        "columns": columns,
        "new": [(row.row, [sheet.shown(row, name) for name in columns]) for row in sheet.new[:PREVIEW_ROWS]],
        "updated": [(row.row, row.key, row.changes) for row in sheet.updated[:PREVIEW_ROWS]],
    }


def _render(model_admin, request, template, context, status=200):
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **context}
    return TemplateResponse(request, template, context, status=status)
