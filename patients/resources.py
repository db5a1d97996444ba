"""
django-import-export resources: single-sheet import and export (xlsx, csv) on each changelist.

They read cells exactly as the workbook import does (the same parsers, column names and natural
keys) and validate through the models (`clean_model_instances`). For whole workbooks, and for
large files, the admin's "Import workbook" is the fast path; this one suits a sheet of corrections.
"""

import datetime

from django.core.exceptions import NON_FIELD_ERRORS
from import_export import fields, resources, widgets

from patients import vocabulary
from patients.importing import DISTRICT_NAME_LENGTH, parse_text, parser_for
from patients.models import Delivery, District, FollowUp, ImportBatch, Patient
from patients.workbook import DELIVERY_COLUMNS, FOLLOWUP_COLUMNS, PATIENT_COLUMNS
from patients.writes import patient_pk, records_written


class CellWidget(widgets.Widget):
    """Reads a cell with the workbook import's parser; writes dates as ISO text."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser

    def clean(self, value, row=None, **kwargs):
        return self.parser(value)

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value.isoformat() if isinstance(value, datetime.date) else value


class DistrictWidget(widgets.ForeignKeyWidget):
    """A known district by name (any case or spacing) or saved alias. A new one is refused: this
    import's preview does not show new districts, so the workbook import (which asks) or the admin
    adds them."""

    def __init__(self):
        super().__init__(District, field="name")

    def clean(self, value, row=None, **kwargs):
        name = parse_text(value)
        if not name:
            raise ValueError("a district is required")
        if len(name) > DISTRICT_NAME_LENGTH:
            raise ValueError(f"a district name of {len(name)} characters: at most {DISTRICT_NAME_LENGTH}")
        district = District.objects.named(name)
        if district is None:
            raise ValueError(
                f"{vocabulary.unknown_district_message(name)} (Import workbook lists new districts before adding them.)"
            )
        return district


class PatientWidget(widgets.ForeignKeyWidget):
    """A patient by her patient_id, who must already be recorded."""

    def __init__(self):
        super().__init__(Patient, field="patient_id")

    def clean(self, value, row=None, **kwargs):
        patient_id = parse_text(value)
        patient = Patient.all_objects.holding_ids([patient_id]).first()
        if patient is None:
            raise ValueError(f"unknown patient {patient_id}: import her in the patients sheet first")
        if patient.is_voided:
            raise ValueError(f"patient {patient_id} is voided: an administrator can restore her")
        return patient


class RecordResource(resources.ModelResource):
    """Validates through the model, skips unchanged rows, and records each import as an ImportBatch."""

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        return lambda **kwargs: CellWidget(parser_for(f.model, f.name))

    @classmethod
    def widget_kwargs_for_field(cls, field_name, django_field):
        return {}

    def import_data(self, dataset, dry_run=False, **kwargs):
        self._dry_run = dry_run
        return super().import_data(dataset, dry_run=dry_run, **kwargs)

    def before_import(self, dataset, **kwargs):
        self.batch, self.patients_written = None, set()
        if not self._dry_run:
            user = kwargs.get("user")
            self.batch = ImportBatch.objects.create(
                imported_by=user if user is not None and user.is_authenticated else None,
                source=ImportBatch.Source.ADMIN_SHEET,
                file_name=(kwargs.get("file_name") or "sheet")[:255],
                file_sha256="",
            )

    def get_queryset(self):
        # Voided rows are found, so that a row naming one is refused rather than inserted again.
        return self._meta.model.all_objects.all()

    def filter_export(self, queryset, **kwargs):
        return queryset.active()

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if instance.is_voided:
            errors[NON_FIELD_ERRORS] = [
                f"{instance} is voided: an administrator can restore it, or leave this row out."
            ]
        super().validate_instance(instance, errors, validate_unique)

    def before_save_instance(self, instance, row, **kwargs):
        if self.batch is not None:
            instance.import_batch = self.batch

    def after_save_instance(self, instance, row, **kwargs):
        self.patients_written.add(patient_pk(instance))

    def after_import(self, dataset, result, **kwargs):
        # Inside the import's transaction: its rows and what is worked out from them land together.
        if self.patients_written:
            records_written(self.patients_written)
        if self.batch is None:
            return
        totals = result.totals
        written = totals.get("new", 0) + totals.get("update", 0)
        if not written:
            self.batch.delete()
            return
        self.batch.counts = {
            self._meta.model._meta.model_name: {
                "new": totals.get("new", 0),
                "updated": totals.get("update", 0),
                "unchanged": totals.get("skip", 0),
                "invalid": totals.get("invalid", 0) + totals.get("error", 0),
            }
        }
        self.batch.save(update_fields=["counts"])

    class Meta:
        abstract = True


class PatientResource(RecordResource):
    district = fields.Field(attribute="district", column_name="district", widget=DistrictWidget())

    class Meta:
        model = Patient
        fields = PATIENT_COLUMNS
        export_order = PATIENT_COLUMNS
        import_id_fields = ["patient_id"]
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class DeliveryResource(RecordResource):
    patient_id = fields.Field(attribute="patient", column_name="patient_id", widget=PatientWidget())

    class Meta:
        model = Delivery
        fields = DELIVERY_COLUMNS
        export_order = DELIVERY_COLUMNS
        import_id_fields = ["patient_id", "date_of_delivery"]
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class FollowUpResource(RecordResource):
    patient_id = fields.Field(attribute="patient", column_name="patient_id", widget=PatientWidget())

    class Meta:
        model = FollowUp
        fields = FOLLOWUP_COLUMNS
        export_order = FOLLOWUP_COLUMNS
        import_id_fields = ["patient_id", "visit_number"]
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
