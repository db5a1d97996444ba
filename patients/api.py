"""
The records over REST: the prototype's GET/POST /api/patients, and what users expect beside them.

Column names are the prototype's. Validation is the models' own (field validators and clean()),
and every write runs in one transaction, so nothing is half-written.
"""

from django.core.exceptions import ValidationError as ModelValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from hospital.api import (
    METHOD_ACTIONS,
    Conflict,
    QueryParameters,
    StrictCharField,
    StrictModelSerializer,
    error_responses,
)
from patients import audit, clinical, vocabulary
from patients.models import (
    Delivery,
    District,
    FollowUp,
    Patient,
    PlausibleRange,
    normalise_district_name,
    patient_id_validator,
)
from patients.text import validate_no_control_characters
from patients.voiding import MAX_REASON, VoidRefused, void
from patients.workbook import DELIVERY_COLUMNS, FOLLOWUP_COLUMNS, PATIENT_COLUMNS
from patients.writes import records_written


def plausible_ranges(model):
    """Serializer kwargs stating each field's plausible range, so the OpenAPI schema shows it."""
    return {
        f.name: {"min_value": v.low, "max_value": v.high}
        for f in model._meta.concrete_fields
        for v in f.validators
        if isinstance(v, PlausibleRange)
    }


def model_clean(instance):
    """Run the model's clean() (ages in order, systolic above diastolic, ...) as a 400 with fields."""
    try:
        instance.clean()
    except ModelValidationError as invalid:
        raise serializers.ValidationError(invalid.message_dict) from None


class SpelledChoiceField(serializers.ChoiceField):
    """A delivery type or term by its code, the words the app shows for it, or a spelling registers
    use (patients.vocabulary), in any case; answered as the code."""

    def to_internal_value(self, data):
        coded = vocabulary.CODED_COLUMNS.get(self.field_name)
        if coded is not None and isinstance(data, str) and data.strip() and data not in self.choices:
            data = coded.code(data) or data
        return super().to_internal_value(data)


class PatientRecordSerializer(StrictModelSerializer):
    """A delivery or follow-up of the patient in context["patient"]; `key_field` is unique per patient."""

    patient_id = serializers.CharField(source="patient.patient_id", read_only=True)
    serializer_choice_field = SpelledChoiceField
    key_field = None
    taken = None  # the message when the key is taken: "{patient} ... {value}"

    def validate(self, attrs):
        self.refuse_a_taken_key(attrs)
        model_clean(self.Meta.model(patient=self.context["patient"], **attrs))
        return attrs

    def refuse_a_taken_key(self, attrs):
        """A 400 on the key field if another record of hers holds the key; a voided one keeps its
        key (an administrator may restore it)."""
        patient, value = self.context["patient"], attrs[self.key_field]
        if self.Meta.model.all_objects.filter(patient=patient, **{self.key_field: value}).exists():
            raise serializers.ValidationError(
                {self.key_field: [self.taken.format(patient=patient.patient_id, value=value)]}
            )


class DeliverySerializer(PatientRecordSerializer):
    delivery_id = serializers.IntegerField(source="pk", read_only=True)
    key_field = "date_of_delivery"
    taken = "{patient} already has a delivery on {value}."

    class Meta:
        model = Delivery
        fields = ["delivery_id", *DELIVERY_COLUMNS]
        extra_kwargs = plausible_ranges(Delivery)


class FollowUpSerializer(PatientRecordSerializer):
    followup_id = serializers.IntegerField(source="pk", read_only=True)
    key_field = "visit_number"
    taken = "{patient} already has visit {value}."

    class Meta:
        model = FollowUp
        fields = ["followup_id", *FOLLOWUP_COLUMNS]
        extra_kwargs = plausible_ranges(FollowUp)


class RiskSerializer(serializers.Serializer):
    high_risk = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.ChoiceField(clinical.REASON_CODES))
    reason_labels = serializers.ListField(child=serializers.CharField(), help_text="The reasons in words, in order.")
    priority = serializers.ChoiceField(
        clinical.PRIORITY_LEVELS, allow_null=True, help_text="Triage priority when high-risk: 1 (urgent) to 3."
    )
    priority_label = serializers.CharField(help_text='In words, e.g. "Priority 1 (urgent)"; empty when not high-risk.')
    haemoglobin_g_dl = serializers.FloatField(allow_null=True, help_text="Her current (latest) reading, g/dL.")
    haemoglobin_date = serializers.DateField(allow_null=True)
    severity = serializers.ChoiceField(clinical.Severity.ALL, allow_null=True)
    bp_systolic = serializers.IntegerField(allow_null=True, help_text="Her latest blood pressure, mmHg.")
    bp_diastolic = serializers.IntegerField(allow_null=True)
    bp_date = serializers.DateField(allow_null=True)
    bp_band = serializers.ChoiceField(clinical.BloodPressureBand.ALL, allow_null=True)
    risk_factors = serializers.ListField(
        child=serializers.ChoiceField(clinical.RISK_FACTOR_CODES),
        help_text="Risk factors (they do not make her high-risk by themselves).",
    )
    risk_factor_labels = serializers.ListField(child=serializers.CharField())


class PatientSerializer(StrictModelSerializer):
    """A patient with the prototype's columns; `district` is the district's name (new ones are created)."""

    district = StrictCharField(
        max_length=100,
        validators=[validate_no_control_characters],
        help_text="A known district's name (any case), or a saved alias of it. An unknown name is a 400 naming "
        "the nearest known districts: districts are added by an administrator or a workbook import.",
    )

    class Meta:
        model = Patient
        fields = ["patient_id", "name", *[c for c in PATIENT_COLUMNS if c not in ("patient_id", "name")]]
        # A taken patient_id is a 409 Conflict (checked by the view), not a 400.
        extra_kwargs = {**plausible_ranges(Patient), "patient_id": {"validators": [patient_id_validator]}}

    def to_representation(self, patient):
        data = super().to_representation(patient)
        data["district"] = patient.district.name
        return data

    def validate_district(self, name):
        if not normalise_district_name(name):
            raise serializers.ValidationError("A district is required.")
        district = District.objects.named(name)
        if district is None:
            raise serializers.ValidationError(vocabulary.unknown_district_message(name))
        return district

    def validate(self, attrs):
        values = {**attrs}
        instance = Patient(**{**_field_values(self.instance), **values}) if self.instance else Patient(**values)
        model_clean(instance)
        return attrs

    def save(self, **kwargs):
        return super().save(**kwargs)


class PatientDetailSerializer(PatientSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True, source="delivery_list")
    followups = FollowUpSerializer(many=True, read_only=True, source="followup_list")
    risk = serializers.SerializerMethodField()

    class Meta(PatientSerializer.Meta):
        fields = [*PatientSerializer.Meta.fields, "deliveries", "followups", "risk"]

    @extend_schema_field(RiskSerializer)
    def get_risk(self, patient):
        return risk_as_json(patient.risk(patient.delivery_list, patient.followup_list))


def risk_as_json(risk):
    """A clinical.Risk as RiskSerializer describes it: codes, and their words beside them."""
    current, bp = risk.current, risk.blood_pressure
    return {
        "high_risk": risk.high_risk,
        "reasons": risk.reasons,
        "reason_labels": [clinical.label(code) for code in risk.reasons],
        "priority": risk.priority,
        "priority_label": clinical.priority_label(risk.priority),
        "haemoglobin_g_dl": risk.haemoglobin_g_dl,
        "haemoglobin_date": current.date if current else None,
        "severity": risk.severity,
        "bp_systolic": bp.systolic if bp else None,
        "bp_diastolic": bp.diastolic if bp else None,
        "bp_date": bp.date if bp else None,
        "bp_band": risk.blood_pressure_band,
        "risk_factors": risk.factors,
        "risk_factor_labels": [clinical.label(code) for code in risk.factors],
    }


def _field_values(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


class PatientPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class PatientPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PatientSerializer(many=True)


class PatientListFilters(QueryParameters):
    district = serializers.CharField(required=False, max_length=100, help_text="A district's name.")
    q = serializers.CharField(required=False, max_length=100, help_text="patient_id (from its start), name or village.")
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=PatientPagination.max_page_size)

    def validate_district(self, name):
        # An unknown district is a filter that matches no patient, not an error.
        return District.objects.named(name) or District(pk=0, name=name)


def _get_patient_with_records(patient_id):
    """The patient with her district, deliveries and follow-ups in three queries, as the detail
    serializer reads them (`delivery_list`, `followup_list`). Plain queries rather than
    prefetch_related: for one patient its machinery cost a tenth of an API read."""
    patient = _get_patient(patient_id, Patient.objects.select_related("district"))
    # Through her related managers, so each record knows its patient without a query.
    patient.delivery_list = list(patient.deliveries.active().order_by("date_of_delivery"))
    patient.followup_list = list(patient.followups.active().order_by("visit_number"))
    return patient


def _refuse_a_taken_patient_id(patient_id, patient=None):
    """409 if another patient than `patient` holds `patient_id`, in any case; a voided patient keeps
    hers (an administrator may restore her)."""
    holder = Patient.all_objects.holding_ids([patient_id])
    if patient is not None:
        holder = holder.exclude(pk=patient.pk)
    taken = holder.values_list("patient_id", flat=True).first()
    if taken is not None:
        raise Conflict(f"A patient with patient_id {taken} already exists.")


def _save_patient(serializer, patient_id, patient=None):
    """Save the patient unless `patient_id` is taken (409), also when a concurrent request (a double
    submit) takes it between the check and the insert: the database's unique constraint refuses the
    second insert, and the check, asked again, now sees the first."""
    try:
        with transaction.atomic():
            _refuse_a_taken_patient_id(patient_id, patient)
            records_written([serializer.save().pk])
    except IntegrityError:
        _refuse_a_taken_patient_id(patient_id, patient)
        raise


def _get_patient(patient_id, queryset=None):
    patients = queryset if queryset is not None else Patient.objects.all()
    # An ID holding a NUL names nobody (and PostgreSQL refuses it in a query).
    patient = None if "\x00" in patient_id else patients.filter(patient_id=patient_id).first()
    if patient is None:
        # The prototype's body for an unknown patient.
        raise exceptions.NotFound("Patient not found")
    return patient


class PatientListView(APIView):
    permission_model = "patient"

    @extend_schema(
        summary="List and search patients",
        operation_id="patients_list",
        parameters=[PatientListFilters],
        responses={200: PatientPage, **error_responses(400, 404)},
    )
    def get(self, request):
        filters = PatientListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        patients = Patient.objects.select_related("district").in_district(filters.validated_data.get("district"))
        patients = patients.search(filters.validated_data.get("q", ""))
        paginator = PatientPagination()
        page = paginator.paginate_queryset(patients, request, view=self)
        return paginator.get_paginated_response(PatientSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a patient (the prototype's POST /patients)",
        request=PatientSerializer,
        responses={201: PatientDetailSerializer, **error_responses(400, 409)},
    )
    def post(self, request):
        serializer = PatientSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient_id = serializer.validated_data["patient_id"]
        _save_patient(serializer, patient_id)
        patient = _get_patient_with_records(patient_id)
        location = request.build_absolute_uri(f"/api/patients/{patient_id}")
        return Response(
            PatientDetailSerializer(patient).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class PatientDetailView(APIView):
    permission_model = "patient"

    @extend_schema(
        summary="A patient with her deliveries, follow-ups and risk (the prototype's GET /patients/<id>)",
        responses={200: PatientDetailSerializer, **error_responses(404)},
    )
    def get(self, request, patient_id):
        patient = _get_patient_with_records(patient_id)
        audit.log_view(request, patient, "API: patient with her records")
        return Response(PatientDetailSerializer(patient).data)

    @extend_schema(
        summary="Correct a patient's details",
        request=PatientSerializer(partial=True),
        responses={200: PatientDetailSerializer, **error_responses(400, 404, 409)},
    )
    def patch(self, request, patient_id):
        patient = _get_patient(patient_id, Patient.objects.select_related("district"))
        serializer = PatientSerializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        new_id = serializer.validated_data.get("patient_id", patient.patient_id)
        _save_patient(serializer, new_id, patient)
        return Response(PatientDetailSerializer(_get_patient_with_records(new_id)).data)


class PatientRecordsView(APIView):
    """A patient's deliveries or follow-ups: list them, or add one."""

    serializer_class = None
    order_by = None

    @property
    def permission_model(self):
        return self.serializer_class.Meta.model._meta.model_name

    def get(self, request, patient_id):
        patient = _get_patient(patient_id)
        records = self.serializer_class.Meta.model.objects.filter(patient=patient).select_related("patient")
        audit.log_view(request, patient, f"API: her {self.serializer_class.Meta.model._meta.verbose_name_plural}")
        return Response(self.serializer_class(records.order_by(self.order_by), many=True).data)

    def post(self, request, patient_id):
        patient = _get_patient(patient_id)
        serializer = self.serializer_class(data=request.data, context={"patient": patient})
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                record = serializer.save(patient=patient)
                records_written([patient.pk])
        except IntegrityError:
            # A concurrent request (a double submit) took the key between the check and the insert:
            # the database refused this one, and the check, asked again, now sees the other.
            serializer.refuse_a_taken_key(serializer.validated_data)
            raise
        return Response(self.serializer_class(record).data, status=status.HTTP_201_CREATED)


def records_schema(serializer, noun):
    return extend_schema_view(
        get=extend_schema(
            summary=f"A patient's {noun}", responses={200: serializer(many=True), **error_responses(404)}
        ),
        post=extend_schema(
            summary=f"Add one of a patient's {noun}", request=serializer,
            responses={201: serializer, **error_responses(400, 404)},
        ),
    )  # fmt: skip


@records_schema(DeliverySerializer, "deliveries")
class DeliveryListView(PatientRecordsView):
    serializer_class = DeliverySerializer
    order_by = "date_of_delivery"


@records_schema(FollowUpSerializer, "follow-up visits")
class FollowUpListView(PatientRecordsView):
    serializer_class = FollowUpSerializer
    order_by = "visit_number"


class VoidSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=MAX_REASON, help_text="Why the record should not count, e.g. entered twice.")


class VoidedSerializer(serializers.Serializer):
    voided = serializers.CharField(help_text="What was voided.")
    voided_at = serializers.DateTimeField()
    voided_by = serializers.CharField(allow_null=True)
    void_reason = serializers.CharField()


class VoidView(APIView):
    """Void a record (it is kept, with who, when and why, and leaves every answer and insight; an
    administrator can restore it in the admin). Needs the permission to change the record."""

    method_actions = {**METHOD_ACTIONS, "POST": "change"}
    permission_model = None

    def record(self, patient_id, **kwargs):
        raise NotImplementedError

    def post(self, request, patient_id, **kwargs):
        serializer = VoidSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = self.record(patient_id, **kwargs)
        try:
            void(record, request.user, serializer.validated_data["reason"])
        except VoidRefused as refused:
            raise serializers.ValidationError({"reason": [str(refused)]}) from None
        return Response({"voided": str(record), "voided_at": record.voided_at,
                         "voided_by": request.user.get_username(), "void_reason": record.void_reason})  # fmt: skip


def void_schema(noun):
    return extend_schema(
        summary=f"Void {noun} (kept for the record, restorable by an administrator)", request=VoidSerializer,
        responses={200: VoidedSerializer, **error_responses(400, 404)},
    )  # fmt: skip


class PatientVoidView(VoidView):
    permission_model = "patient"

    @void_schema("a patient, with her deliveries and follow-ups")
    def post(self, request, patient_id):
        return super().post(request, patient_id)

    def record(self, patient_id):
        return _get_patient(patient_id)


class DeliveryVoidView(VoidView):
    permission_model = "delivery"

    @void_schema("one of a patient's deliveries")
    def post(self, request, patient_id, delivery_id):
        return super().post(request, patient_id, delivery_id=delivery_id)

    def record(self, patient_id, delivery_id):
        return _get_record(Delivery, patient_id, delivery_id, "Delivery not found")


class FollowUpVoidView(VoidView):
    permission_model = "followup"

    @void_schema("one of a patient's follow-up visits")
    def post(self, request, patient_id, followup_id):
        return super().post(request, patient_id, followup_id=followup_id)

    def record(self, patient_id, followup_id):
        return _get_record(FollowUp, patient_id, followup_id, "Follow-up not found")


def _get_record(model, patient_id, pk, missing):
    record = model.objects.select_related("patient").filter(pk=pk, patient=_get_patient(patient_id)).first()
    if record is None:
        raise exceptions.NotFound(missing)
    return record
