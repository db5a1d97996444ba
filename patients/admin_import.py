"""
The admin's workbook import (upload -> preview -> map values -> confirm or cancel) and workbook export.

An uploaded file waits between preview and confirm in IMPORT_UPLOAD_DIR, a folder only the app's
user can read, under a random name that only the uploader's session knows, with an ImportUpload
row that holds its state and its preview. A file up to IMPORT_BACKGROUND_MB is checked and written
in the request; a larger one by the background worker (patients.importing.background), while the
page shows its progress. The file is deleted on confirm or cancel, and any upload left behind is
deleted after a day.
"""

import os
import secrets
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from patients import audit, vocabulary
from patients.importing import background
from patients.importing.mapping import NEW_DISTRICT, save_alias
from patients.importing.plans import GROUP_ROWS_SHOWN
from patients.models import District, ImportUpload, Patient, ValueAlias, normalise_district_name
from patients.workbook import write_workbook

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")
SESSION_KEY = "workbook_uploads"
ABANDONED_AFTER_SECONDS = 24 * 3600
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
    """Keep the upload privately until confirm or cancel; return its ImportUpload."""
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
    large = upload.size > settings.IMPORT_BACKGROUND_MB * 1024 * 1024
    return ImportUpload.objects.create(
        token=token, file_name=upload.name[:255], uploaded_by=request.user, background=large
    )


def _stored(request, token):
    """This session's upload; 404 for anyone else's, or one no longer here."""
    if token not in request.session.get(SESSION_KEY, {}):
        raise Http404("This upload is no longer here: upload the workbook again.")
    upload = ImportUpload.objects.filter(token=token, uploaded_by=request.user).first()
    if upload is None or (upload.state != ImportUpload.State.DONE and not background.upload_path(token).is_file()):
        raise Http404("This upload is no longer here: upload the workbook again.")
    return upload


def _discard(request, upload):
    for path in (background.upload_path(upload.token), background.errors_path(upload.token)):
        path.unlink(missing_ok=True)
    request.session.get(SESSION_KEY, {}).pop(upload.token, None)
    request.session.modified = True
    upload.delete()


def _check(upload):
    """Check now (a small file), or ask the worker to (a large one)."""
    if upload.background:
        ImportUpload.objects.filter(pk=upload.pk).update(
            state=ImportUpload.State.CHECKING, phase="Waiting for the worker"
        )
        background.check_in_background.enqueue(upload.pk)
    else:
        background.check(upload)


def import_upload_view(model_admin, request):
    _require_import_permission(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = _store(request, form.cleaned_data["workbook"])
        _check(upload)
        return redirect("admin:patients_patient_import_workbook_preview", token=upload.token)
    return _render(
        model_admin, request, "admin/patients/import_upload.html", {"form": form, "title": "Import a workbook"}
    )


def import_preview_view(model_admin, request, token):
    """GET: progress, then what the import would do, then its result. POST: map unknown values,
    confirm (write it), cancel, or run again what a stopped worker left."""
    _require_import_permission(request)
    upload = _stored(request, token)
    preview = reverse("admin:patients_patient_import_workbook_preview", args=[token])
    changelist = reverse("admin:patients_patient_changelist")
    if request.method == "POST":
        if "cancel" in request.POST:
            _discard(request, upload)
            messages.info(request, f"Import of {upload.file_name} cancelled: nothing was written.")
            return redirect(changelist)
        if "again" in request.POST and background.stalled(upload):
            task = (
                background.write_in_background
                if upload.state == upload.State.WRITING
                else background.check_in_background
            )
            ImportUpload.objects.filter(pk=upload.pk).update(heartbeat=timezone.now(), phase="Waiting for the worker")
            task.enqueue(upload.pk)
            return redirect(preview)
        if upload.state != ImportUpload.State.CHECKED:
            return redirect(preview)  # a second click while it runs: the page shows where it is
        if "map" in request.POST:
            if _map_values(request, upload):
                _check(upload)
            return redirect(preview)
        if "confirm" in request.POST:
            upload.skip_invalid = request.POST.get("skip_invalid") == "on"
            upload.save(update_fields=["skip_invalid"])
            if upload.background:
                ImportUpload.objects.filter(pk=upload.pk).update(
                    state=ImportUpload.State.WRITING,
                    phase="Waiting for the worker",
                    outcome="",
                    rows_done=0,
                    rows_total=0,
                )
                background.write_in_background.enqueue(upload.pk)
                return redirect(preview)
            batch = background.write(upload)
            if upload.state == ImportUpload.State.DONE:
                _discard(request, upload)
                (messages.info if batch is None else messages.success)(request, upload.outcome)
                return redirect(changelist)
            return redirect(preview)  # refused: the preview says why (upload.outcome)

    if upload.state in (ImportUpload.State.CHECKING, ImportUpload.State.WRITING):
        context = {
            "title": f"{upload.get_state_display()}: {upload.file_name}",
            "upload": upload,
            "stalled": background.stalled(upload),
            "silent_seconds": settings.IMPORT_WORKER_SILENT_SECONDS,
        }
        return _render(model_admin, request, "admin/patients/import_progress.html", context)
    if upload.state == ImportUpload.State.FAILED:
        _discard(request, upload)
        context = {"form": UploadForm(), "title": "Import a workbook", "upload_error": upload.outcome}
        return _render(model_admin, request, "admin/patients/import_upload.html", context, status=400)
    if upload.state == ImportUpload.State.DONE:
        context = {"title": f"Imported: {upload.file_name}", "upload": upload}
        return _render(model_admin, request, "admin/patients/import_progress.html", context)

    data = upload.preview
    if upload.outcome:  # why the last confirm was refused
        messages.error(request, upload.outcome)
        ImportUpload.objects.filter(pk=upload.pk).update(outcome="")
    groups = Paginator(data["error_groups"], ERROR_GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "title": f"Preview of {upload.file_name}",
        "plan": data,
        "error_groups": groups,
        "group_offset": groups.start_index() - 1 if groups.object_list else 0,
        "rows_shown": GROUP_ROWS_SHOWN,
        "unmatched": _unmatched_choices(data["unmatched"]),
        "token": token,
    }
    return _render(model_admin, request, "admin/patients/import_preview.html", context)


def _unmatched_choices(values):
    """Each unknown value with what it may be mapped to: the suggestions first, then every known
    value (the districts read once for all of them)."""
    districts = None
    choices = []
    for unmatched in values:
        if unmatched["column"] == ValueAlias.Column.DISTRICT:
            if districts is None:
                districts = [(str(pk), name) for pk, name in District.objects.values_list("pk", "name")]
            by_name = {name: pk for pk, name in districts}
            suggested = [(by_name[value], label) for value, label in unmatched["suggestions"] if value in by_name]
            new = (NEW_DISTRICT, f"a new district: {normalise_district_name(unmatched['typed'])}")
            everything = [*districts, new]
        else:
            everything = vocabulary.CODED_COLUMNS[unmatched["column"]].choices.choices
            suggested = [tuple(suggestion) for suggestion in unmatched["suggestions"]]
        choices.append({
            "value": unmatched,
            "column_words": ValueAlias.Column(unmatched["column"]).label,
            "suggested": suggested,
            "others": [choice for choice in everything if tuple(choice) not in suggested],
        })  # fmt: skip
    return choices


def _map_values(request, upload):
    """Save the preview's mappings: each to a known value as an alias (used by every later import,
    the forms and the API), a district confirmed as new for this upload only. How many were saved."""
    if not request.user.has_perm("patients.add_valuealias"):
        raise PermissionDenied
    mapped = 0
    for index in range(
        int(request.POST.get("map-count", "0") or 0) if request.POST.get("map-count", "").isdigit() else 0
    ):
        column = request.POST.get(f"map-{index}-column", "")
        spelling = request.POST.get(f"map-{index}-spelling", "")
        target = request.POST.get(f"map-{index}-to", "")
        if not target or column not in ValueAlias.Column.values:
            continue
        if column == ValueAlias.Column.DISTRICT and target == NEW_DISTRICT:
            upload.new_districts = [*upload.new_districts, normalise_district_name(spelling)]
            upload.save(update_fields=["new_districts"])
            mapped += 1
            continue
        meaning = target
        if column == ValueAlias.Column.DISTRICT:
            meaning = District.objects.filter(pk=int(target)).first() if target.isascii() and target.isdigit() else None
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
    return mapped


def import_error_rows_view(model_admin, request, token, group):
    """Every row of one group of errors in the preview (the first GROUP_ROWS_KEPT), a page at a time."""
    _require_import_permission(request)
    upload = _stored(request, token)
    groups = upload.preview.get("error_groups", [])
    if not 0 <= group < len(groups):
        raise Http404("No such group of errors: preview the workbook again.")
    rows = Paginator(groups[group]["rows"], GROUP_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"title": f"Rows of {upload.file_name} with one problem", "group": groups[group], "rows": rows,
               "token": token, "kept": background.GROUP_ROWS_KEPT}  # fmt: skip
    return _render(model_admin, request, "admin/patients/import_error_rows.html", context)


def import_errors_view(model_admin, request, token):
    """The invalid rows of the uploaded workbook, with a reason column, as xlsx (written when checked)."""
    _require_import_permission(request)
    upload = _stored(request, token)
    path = background.errors_path(token)
    if not path.is_file():
        raise Http404("This upload has no invalid rows.")
    response = FileResponse(path.open("rb"), content_type=XLSX)
    audit.log_export(request, f"Rows with errors of the workbook {upload.file_name}", rows=upload.preview["invalid"])
    response["Content-Disposition"] = f'attachment; filename="errors-{Path(upload.file_name).stem}.xlsx"'
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


def _render(model_admin, request, template, context, status=200):
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **context}
    return TemplateResponse(request, template, context, status=status)
