"""
The records: districts, patients, their deliveries and their follow-up visits.

Column names are the original prototype's, so its workbooks and API clients keep working.
Invariants live in the database as named constraints; field validators and `clean()` give the
same rules friendlier messages on the way in.
"""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.db.models.fields.related_descriptors import ReverseManyToOneDescriptor, create_reverse_many_to_one_manager
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from patients import clinical
from patients.text import validate_no_control_characters


@deconstructible
class PlausibleRange:
    """Refuses a number outside a plausible range, saying which range (one message for forms, the
    import and the API alike)."""

    def __init__(self, low, high, unit=""):
        self.low, self.high, self.unit = low, high, unit

    def __call__(self, value):
        if value is not None and not self.low <= value <= self.high:
            bounds = clinical.Range(self.low, self.high, self.unit)
            raise ValidationError(f"{value:g} is outside the plausible range {bounds}.", code="plausible_range")

    def __eq__(self, other):
        return isinstance(other, PlausibleRange) and (self.low, self.high, self.unit) == (
            other.low, other.high, other.unit)  # fmt: skip


def range_validators(bounds):
    return [PlausibleRange(bounds.low, bounds.high, bounds.unit)]


def range_constraint(model_name, field, bounds):
    """A named CHECK that a nullable field is empty or inside its plausible range."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": bounds.low, f"{field}__lte": bounds.high}),
        name=f"patients_{model_name}_{field}_range",
        violation_error_message=f"{field} must be within {bounds}.",
    )


def choices_constraint(model_name, field, choices, allow_blank=False):
    """A named CHECK that a field holds one of its choices (choices alone do not stop save())."""
    allowed = list(choices.values) + ([""] if allow_blank else [])
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": allowed}),
        name=f"patients_{model_name}_{field}_valid",
        violation_error_message=f"{field} must be one of: {', '.join(choices.values)}.",
    )


def earliest_date_constraint(model_name, field):
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": datetime.date.fromisoformat(clinical.EARLIEST_DATE_ISO)}),
        name=f"patients_{model_name}_{field}_not_before_{clinical.EARLIEST_DATE_ISO[:4]}",
        violation_error_message=f"{field} must not be before {clinical.EARLIEST_DATE_ISO}.",
    )


def validate_not_in_future(value):
    # A CHECK cannot say this: SQLite refuses non-deterministic functions in constraints.
    # The hospital's date is within a day of the server's, so only dates near today need the
    # (slower) time-zone-aware check: this runs for every row of an import.
    near_today = datetime.date.today() - datetime.timedelta(days=1)
    if value is not None and value >= near_today and value > timezone.localdate():
        raise ValidationError(f"{value:%d %b %Y} is in the future.", code="future_date")


def validate_not_before_earliest(value):
    if value is not None and value < datetime.date.fromisoformat(clinical.EARLIEST_DATE_ISO):
        raise ValidationError(f"{value:%d %b %Y} is before {clinical.EARLIEST_DATE_ISO}.", code="date_too_early")


class ImportSource(models.TextChoices):
    ADMIN = "admin", "Admin workbook upload"
    ADMIN_SHEET = "admin_sheet", "Admin single-sheet import"
    COMMAND = "command", "manage.py import_workbook"


class ImportBatch(models.Model):
    """One workbook import: who, when, which file, what it did. Rows it wrote point to it."""

    Source = ImportSource

    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=12, choices=ImportSource.choices)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField("file SHA-256", max_length=64)
    skipped_invalid = models.BooleanField(
        default=False, help_text="Whether invalid rows were skipped and the valid ones imported."
    )
    counts = models.JSONField(default=dict, help_text="Per sheet: rows new, updated, unchanged and invalid (skipped).")

    class Meta:
        ordering = ["-imported_at"]
        verbose_name = "import"
        constraints = [choices_constraint("importbatch", "source", ImportSource)]

    def __str__(self):
        return f"Import #{self.pk} of {self.file_name}"


class UploadState(models.TextChoices):
    CHECKING = "checking", "Being checked"
    CHECKED = "checked", "Checked"
    WRITING = "writing", "Being imported"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"


class ImportUpload(models.Model):
    """A workbook uploaded in the admin, from upload to result. A large one is checked and written by
    the background worker (patients.importing.background), which reports its progress here; the
    preview it shows is kept here as data (`preview`), as for a small one checked in the request."""

    State = UploadState

    token = models.CharField(max_length=64, unique=True, editable=False)
    file_name = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    background = models.BooleanField(default=False, help_text="Checked and written by the background worker.")
    state = models.CharField(max_length=10, choices=UploadState.choices, default=UploadState.CHECKING)
    phase = models.CharField(max_length=100, blank=True, help_text="What the worker is doing, in words.")
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    heartbeat = models.DateTimeField(null=True, blank=True, help_text="When the worker last reported.")
    new_districts = models.JSONField(
        default=list, blank=True, help_text="District names confirmed as new in the preview (this upload only)."
    )
    preview = models.JSONField(default=dict, blank=True, help_text="What the preview shows, once checked.")
    skip_invalid = models.BooleanField(default=False)
    batch = models.ForeignKey(ImportBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    outcome = models.TextField(blank=True, help_text="The result, or why it failed, in words.")

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [choices_constraint("importupload", "state", UploadState)]

    def __str__(self):
        return f"Upload of {self.file_name} ({self.get_state_display().lower()})"

    @property
    def percent(self):
        return min(100, round(100 * self.rows_done / self.rows_total)) if self.rows_total else 0


def import_batch_field():
    """The import that last wrote a row (empty for rows entered by hand)."""
    return models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+",
        help_text="The import that last wrote this row.",
    )  # fmt: skip


def normalise_district_name(name):
    """Strip and collapse whitespace, so "  Kaski " and "Kaski" are one district."""
    return " ".join(str(name).split())


def district_key(name):
    """What district names are compared by, as the unique constraint compares them (LOWER), spaces
    tidied: a district's name and its aliases' keys."""
    return normalise_district_name(name).lower()


class DistrictManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name__iexact=normalise_district_name(name))

    def named(self, name):
        """The district called `name` (any case, any spacing) or so named by a saved alias, or None."""
        name = normalise_district_name(name)
        if not name:
            return None
        return (
            self.filter(name__iexact=name).first()
            or self.filter(aliases__column="district", aliases__key=district_key(name)).first()
        )

    def get_or_create_by_name(self, name):
        """The district called `name` (any case, any spacing, or a saved alias), created if new, also when another
        request creates it at the same moment: its insert wins, ours fails on the unique name, and
        we read the district it made."""
        name = normalise_district_name(name)
        district = self.named(name)
        if district is None:
            try:
                with transaction.atomic():
                    district = self.create(name=name)
            except IntegrityError:
                district = self.get(name__iexact=name)
        return district


class District(models.Model):
    name = models.CharField(
        max_length=100,
        validators=[validate_no_control_characters],
        help_text="Unique regardless of case; spaces are tidied on the way in.",
    )

    objects = DistrictManager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="patients_district_unique_name_ci",
                violation_error_message="A district with this name already exists.",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="patients_district_name_not_blank"),
        ]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)

    def clean(self):
        self.name = normalise_district_name(self.name)


class VoidableQuerySet(models.QuerySet):
    def active(self):
        """The records not voided: what staff pages, the API, exports and insights show."""
        return self.filter(voided_at__isnull=True)

    def voided(self):
        return self.filter(voided_at__isnull=False)


class ActiveOnly:
    """A manager mixin for `objects`: voided records are left out, as if never entered. The
    models' default manager (`all_objects`) keeps them, so the admin can show and restore them,
    uniqueness checks see the identifiers they still hold, and dumpdata and loaddata see every row.
    A patient's deliveries and follow-ups (`patient.deliveries`) read through `objects` too
    (VoidableForeignKey)."""

    def get_queryset(self):
        return super().get_queryset().active()


class RecordsInUse(ReverseManyToOneDescriptor):
    """The reverse side of a VoidableForeignKey (`patient.deliveries`, `patient.followups`,
    `district.patients`): the records in use, through the model's `objects`.

    Django builds a reverse relation on the model's default manager, `all_objects`, and every
    reader would then have to remember `.active()`: one forgotten call shows a voided record. Every
    record stays one call away: `patient.followups(manager="all_objects")`.
    """

    @cached_property
    def related_manager_cls(self):
        return create_reverse_many_to_one_manager(self.rel.related_model.objects.__class__, self.rel)


class VoidableForeignKey(models.ForeignKey):
    """A foreign key from a voidable record, whose reverse relation shows the records in use."""

    related_accessor_class = RecordsInUse

    def deconstruct(self):
        # A plain ForeignKey to migrations: the difference is only in how Python reads it.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.ForeignKey", args, kwargs


class Voidable(models.Model):
    """A record that staff void instead of deleting (as OpenMRS does): it stays in the database,
    with who voided it, when and why, leaves every page, export, API answer and insight, and an
    administrator can restore it. patients.voiding does both."""

    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    # db_default too: bulk inserts name only the columns they fill.
    void_reason = models.CharField(
        max_length=255,
        blank=True,
        editable=False,
        default="",
        db_default="",
        validators=[validate_no_control_characters],
    )
    void_id = models.UUIDField(
        "void ID",
        null=True,
        blank=True,
        editable=False,
        help_text="One ID per void: a patient and the records voided with her share it, and restoring her "
        "restores the records that carry it.",
    )

    class Meta:
        abstract = True

    @property
    def is_voided(self):
        return self.voided_at is not None


def void_constraints(model_name):
    """Named CHECKs that a voided record says why and carries its void's ID, and only a voided one."""
    return [
        models.CheckConstraint(
            condition=Q(voided_at__isnull=True, void_reason="") | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
            name=f"patients_{model_name}_void_has_reason",
            violation_error_message="A voided record needs a reason, and only a voided one has one.",
        ),
        models.CheckConstraint(
            condition=Q(voided_at__isnull=True, void_id__isnull=True)
            | Q(voided_at__isnull=False, void_id__isnull=False),
            name=f"patients_{model_name}_void_has_id",
            violation_error_message="A voided record needs its void's ID, and only a voided one has one.",
        ),
    ]


def patient_id_key(patient_id):
    """A patient ID as the records compare it: "p0030" is P0030 (patients_patient_unique_id_ci)."""
    return (patient_id or "").lower()


class PatientQuerySet(VoidableQuerySet):
    def holding_ids(self, patient_ids):
        """The patients holding any of `patient_ids`, whatever their case. Compared as the unique
        constraint compares them, LOWER(patient_id), so its index answers; an ID with a NUL (which
        PostgreSQL refuses in a query) names nobody."""
        keys = {patient_id_key(patient_id) for patient_id in patient_ids if "\x00" not in (patient_id or "")}
        return self.alias(lower_patient_id=Lower("patient_id")).filter(lower_patient_id__in=keys)

    def search(self, text):
        """Patients whose patient_id starts with, or whose name or village contains, `text`."""
        text = text.strip()
        if not text:
            return self
        return self.filter(Q(patient_id__istartswith=text) | Q(name__icontains=text) | Q(village__icontains=text))

    def in_district(self, district):
        """Patients of one district (a District or its primary key); all of them when None."""
        return self if district is None else self.filter(district=district)

    def active_between(self, date_from=None, date_to=None):
        """Patients with a delivery or a follow-up dated in the range (all of them without a range)."""
        if date_from is None and date_to is None:
            return self
        deliveries = Delivery.objects.filter(patient=OuterRef("pk")).between(date_from, date_to)
        followups = FollowUp.objects.filter(patient=OuterRef("pk")).between(date_from, date_to)
        return self.filter(Exists(deliveries) | Exists(followups))


class DatedQuerySet(VoidableQuerySet):
    date_field = None

    def between(self, date_from=None, date_to=None):
        """Rows dated from `date_from` to `date_to`, both included (either may be None)."""
        rows = self
        if date_from is not None:
            rows = rows.filter(**{f"{self.date_field}__gte": date_from})
        if date_to is not None:
            rows = rows.filter(**{f"{self.date_field}__lte": date_to})
        return rows

    def dates(self, field_name, kind, order="ASC"):
        """The years of the rows' dates found by hopping along the date's index: the first date on or
        after each 1 January, one lookup per year. The admin's date hierarchy asks for them, and
        Django's SELECT DISTINCT of every row's year took 1.9 s at 10 million follow-ups (under a
        millisecond a year this way). Other kinds and fields are Django's."""
        if kind != "year" or field_name != self.date_field:
            return super().dates(field_name, kind, order)
        years, rows = [], self
        while (first := rows.aggregate(first=Min(field_name))["first"]) is not None:
            years.append(datetime.date(first.year, 1, 1))
            if first.year == datetime.MAXYEAR:
                break
            rows = self.filter(**{f"{field_name}__gte": datetime.date(first.year + 1, 1, 1)})
        return years if order == "ASC" else years[::-1]


class DeliveryQuerySet(DatedQuerySet):
    date_field = "date_of_delivery"


class FollowUpQuerySet(DatedQuerySet):
    date_field = "visit_date"


class PatientManager(models.Manager.from_queryset(PatientQuerySet)):
    def get_by_natural_key(self, patient_id):
        return self.get(patient_id=patient_id)


class ActivePatientManager(ActiveOnly, PatientManager):
    pass


patient_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    "Use letters, digits, '.', '_' and '-' only, starting with a letter or digit.",
)
PATIENT_ID_TAKEN = "patient_id_taken"


class Patient(Voidable):
    patient_id = models.CharField(
        "patient ID",
        max_length=32,
        # Unique regardless of case (patients_patient_unique_id_ci); this index answers the exact
        # lookups: her page, the API, natural keys and the import's lookups by patient_id.
        db_index=True,
        validators=[patient_id_validator],
        help_text="The hospital's own identifier, e.g. P001; unique regardless of case.",
    )
    name = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_no_control_characters],
        help_text="Optional: research extracts are often de-identified.",
    )
    height_cm = models.FloatField(
        "height (cm)",
        null=True,
        blank=True,
        validators=range_validators(clinical.HEIGHT_CM),
        help_text=f"Plausible range {clinical.HEIGHT_CM}.",
    )
    weight_kg = models.FloatField(
        "weight (kg)",
        null=True,
        blank=True,
        validators=range_validators(clinical.WEIGHT_KG),
        help_text=f"Plausible range {clinical.WEIGHT_KG}.",
    )
    education_level = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=range_validators(clinical.EDUCATION_LEVEL),
        help_text="The register's integer code.",
    )
    monthly_income = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=range_validators(clinical.MONTHLY_INCOME),
        help_text="Household income per month.",
    )
    age_at_menarche = models.PositiveSmallIntegerField(
        "age at menarche (years)", null=True, blank=True, validators=range_validators(clinical.AGE_YEARS)
    )
    age_at_marriage = models.PositiveSmallIntegerField(
        "age at marriage (years)", null=True, blank=True, validators=range_validators(clinical.AGE_YEARS)
    )
    age_at_first_pregnancy = models.PositiveSmallIntegerField(
        "age at first pregnancy (years)", null=True, blank=True, validators=range_validators(clinical.AGE_YEARS)
    )
    district = VoidableForeignKey(District, on_delete=models.PROTECT, related_name="patients")
    village = models.CharField(max_length=100, blank=True, validators=[validate_no_control_characters])
    occupation = models.CharField(max_length=100, blank=True, validators=[validate_no_control_characters])
    diet = models.CharField(
        max_length=100, blank=True, validators=[validate_no_control_characters], help_text="e.g. vegetarian, mixed."
    )
    condition = models.TextField(
        blank=True,
        validators=[validate_no_control_characters],
        help_text="Known conditions, free text (e.g. anaemia, pre-eclampsia).",
    )
    import_batch = import_batch_field()

    objects = ActivePatientManager()
    all_objects = PatientManager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id"]
        default_manager_name = "all_objects"
        permissions = [
            ("export_patient", "Can export patients with their deliveries and follow-ups"),
            ("restore_patient", "Can restore a voided patient"),
        ]
        constraints = [
            *void_constraints("patient"),
            # P000030 and p000030 would be twins: one woman with two records.
            models.UniqueConstraint(
                Lower("patient_id"),
                name="patients_patient_unique_id_ci",
                violation_error_code=PATIENT_ID_TAKEN,
                violation_error_message="A patient with this patient ID (in any case) already exists.",
            ),
            range_constraint("patient", "height_cm", clinical.HEIGHT_CM),
            range_constraint("patient", "weight_kg", clinical.WEIGHT_KG),
            range_constraint("patient", "education_level", clinical.EDUCATION_LEVEL),
            range_constraint("patient", "monthly_income", clinical.MONTHLY_INCOME),
            range_constraint("patient", "age_at_menarche", clinical.AGE_YEARS),
            range_constraint("patient", "age_at_marriage", clinical.AGE_YEARS),
            range_constraint("patient", "age_at_first_pregnancy", clinical.AGE_YEARS),
            models.CheckConstraint(
                condition=Q(age_at_menarche__isnull=True)
                | Q(age_at_marriage__isnull=True)
                | Q(age_at_menarche__lte=models.F("age_at_marriage")),
                name="patients_patient_menarche_before_marriage",
                violation_error_message="Age at menarche must not be after age at marriage.",
            ),
            models.CheckConstraint(
                condition=Q(age_at_marriage__isnull=True)
                | Q(age_at_first_pregnancy__isnull=True)
                | Q(age_at_marriage__lte=models.F("age_at_first_pregnancy")),
                name="patients_patient_marriage_before_first_pregnancy",
                violation_error_message="Age at marriage must not be after age at first pregnancy.",
            ),
            models.CheckConstraint(
                condition=Q(age_at_menarche__isnull=True)
                | Q(age_at_first_pregnancy__isnull=True)
                | Q(age_at_menarche__lte=models.F("age_at_first_pregnancy")),
                name="patients_patient_menarche_before_first_pregnancy",
                violation_error_message="Age at menarche must not be after age at first pregnancy.",
            ),
        ]
        # Patients per district (the patient list's district filter, every district insight)
        # use the index Django creates for the district foreign key.

    def __str__(self):
        return f"{self.patient_id} {self.name}".strip()

    def get_absolute_url(self):
        return reverse("patients:detail", args=[self.patient_id])

    def natural_key(self):
        return (self.patient_id,)

    def risk(self, deliveries=None, followups=None):
        """Her clinical.Risk from her deliveries and follow-ups (given, or read from her prefetched
        relations), in Python. The one-patient twin of the high-risk SQL (insights.queries), which
        says the same for many patients from the same rules (clinical.REASONS, PRIORITIES,
        RISK_FACTORS); insights/tests/test_risk_twins.py holds the two to agreement.
        """
        deliveries = self.deliveries.all() if deliveries is None else deliveries
        followups = self.followups.all() if followups is None else followups
        current = clinical.latest_reading(
            [(d.date_of_delivery, clinical.DELIVERY, d.haemoglobin_at_delivery) for d in deliveries]
            + [(f.visit_date, clinical.FOLLOW_UP, f.haemoglobin_g_dl, f.visit_number) for f in followups]
        )
        blood_pressure = clinical.latest_blood_pressure(
            [(f.visit_date, f.visit_number, f.bp_systolic, f.bp_diastolic) for f in followups]
        )
        notes = [self.condition, *(f.diagnosis for f in followups)]
        facts = {
            "anaemia_keyword": any(clinical.mentions_anaemia(text) for text in notes),
            "hypertension_keyword": any(clinical.mentions_hypertension(text) for text in notes),
            "current_haemoglobin_g_dl": current.value if current else None,
            "n_caesarean": sum(d.is_caesarean for d in deliveries),
            "n_preterm": sum(d.term_of_delivery == DeliveryTerm.PRETERM for d in deliveries),
            "latest_bp_systolic": blood_pressure.systolic if blood_pressure else None,
            "latest_bp_diastolic": blood_pressure.diastolic if blood_pressure else None,
            "age_at_first_pregnancy": self.age_at_first_pregnancy,
            "height_cm": self.height_cm,
            "bmi": clinical.body_mass_index(self.height_cm, self.weight_kg),
        }
        return clinical.assess(facts, current, blood_pressure)

    def validate_constraints(self, exclude=None):
        """Django's checks, with a patient_id taken (in any case, by a patient in use or voided: she
        keeps it) as an error of that field naming the ID on record. One more query when it is taken."""
        try:
            super().validate_constraints(exclude)
        except ValidationError as invalid:
            errors = invalid.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            if any(error.code == PATIENT_ID_TAKEN for error in general):
                errors.setdefault("patient_id", []).append(self._patient_id_taken())
                general = [error for error in general if error.code != PATIENT_ID_TAKEN]
            if general:
                errors[NON_FIELD_ERRORS] = general
            raise ValidationError(errors) from None

    def _patient_id_taken(self):
        holder = Patient.all_objects.exclude(pk=self.pk).holding_ids([self.patient_id]).first()
        message = f"{(holder or self).patient_id} already exists."
        if holder is not None and holder.is_voided:
            voided_on = timezone.localtime(holder.voided_at)
            message = (
                f"{holder.patient_id} already exists, voided on {voided_on:%d %b %Y} ({holder.void_reason}): "
                "an administrator can restore her."
            )
        return ValidationError(message, code=PATIENT_ID_TAKEN)

    def clean(self):
        """Name which ages are out of order on the field that is wrong, not only as a whole."""
        ages = [
            ("age_at_menarche", self.age_at_menarche),
            ("age_at_marriage", self.age_at_marriage),
            ("age_at_first_pregnancy", self.age_at_first_pregnancy),
        ]
        known = [(field, age) for field, age in ages if age is not None]
        errors = {}
        for (earlier_field, earlier), (later_field, later) in zip(known, known[1:], strict=False):
            if earlier > later:
                errors[later_field] = f"{later} is before {earlier_field.replace('_', ' ')} ({earlier})."
        if errors:
            raise ValidationError(errors)


def refuse_if_patient_voided(record):
    """A delivery or follow-up may not be added to, or kept in use for, a voided patient (the admin
    could pick her): her records are voided and restored with her."""
    if record.is_voided or (record.patient_id is None and not type(record).patient.is_cached(record)):
        return
    if record.patient.is_voided:
        raise ValidationError({"patient": f"{record.patient.patient_id} is voided: an administrator can restore her."})


class DeliveryManager(models.Manager.from_queryset(DeliveryQuerySet)):
    def get_by_natural_key(self, patient_id, date_of_delivery):
        return self.get(patient__patient_id=patient_id, date_of_delivery=date_of_delivery)


class ActiveDeliveryManager(ActiveOnly, DeliveryManager):
    pass


# Module-level so Delivery.Meta's constraints can name them; used as Delivery.Type and Delivery.Term.
class DeliveryType(models.TextChoices):
    NORMAL = "normal", "Normal vaginal"
    ASSISTED = "assisted", "Assisted (vacuum/forceps)"
    C_SECTION = "c_section", "Caesarean section"


class DeliveryTerm(models.TextChoices):
    TERM = "term", "Term (37-41 weeks)"
    PRETERM = "preterm", "Preterm (before 37 weeks)"
    POST_TERM = "post_term", "Post-term (42 weeks or later)"


class Delivery(Voidable):
    Type = DeliveryType
    Term = DeliveryTerm

    patient = VoidableForeignKey(Patient, on_delete=models.CASCADE, related_name="deliveries")
    date_of_delivery = models.DateField(validators=[validate_not_in_future, validate_not_before_earliest])
    age_at_delivery = models.PositiveSmallIntegerField(
        "age at delivery (years)", null=True, blank=True, validators=range_validators(clinical.AGE_YEARS)
    )
    weight_at_delivery = models.FloatField(
        "weight at delivery (kg)",
        null=True,
        blank=True,
        validators=range_validators(clinical.WEIGHT_KG),
        help_text=f"Plausible range {clinical.WEIGHT_KG}.",
    )
    haemoglobin_at_delivery = models.FloatField(
        "haemoglobin at delivery (g/dL)",
        null=True,
        blank=True,
        validators=[clinical.validate_haemoglobin_g_dl],
        help_text=f"In g/dL, plausible range {clinical.HAEMOGLOBIN_G_DL}.",
    )
    placental_weight = models.FloatField(
        "placental weight (g)",
        null=True,
        blank=True,
        validators=range_validators(clinical.PLACENTAL_WEIGHT_G),
        help_text=f"Plausible range {clinical.PLACENTAL_WEIGHT_G}.",
    )
    term_of_delivery = models.CharField(max_length=10, choices=DeliveryTerm.choices, blank=True)
    type_of_delivery = models.CharField(max_length=10, choices=DeliveryType.choices)
    import_batch = import_batch_field()

    objects = ActiveDeliveryManager()
    all_objects = DeliveryManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["patient", "date_of_delivery"]
        default_manager_name = "all_objects"
        permissions = [("restore_delivery", "Can restore a voided delivery")]
        constraints = [
            *void_constraints("delivery"),
            # Twins are one delivery: a patient delivers at most once on a given day.
            models.UniqueConstraint(
                fields=["patient", "date_of_delivery"],
                name="patients_delivery_unique_date",
                violation_error_message="This patient already has a delivery on this date.",
            ),
            choices_constraint("delivery", "type_of_delivery", DeliveryType),
            choices_constraint("delivery", "term_of_delivery", DeliveryTerm, allow_blank=True),
            range_constraint("delivery", "age_at_delivery", clinical.AGE_YEARS),
            range_constraint("delivery", "weight_at_delivery", clinical.WEIGHT_KG),
            range_constraint("delivery", "haemoglobin_at_delivery", clinical.HAEMOGLOBIN_G_DL),
            range_constraint("delivery", "placental_weight", clinical.PLACENTAL_WEIGHT_G),
            earliest_date_constraint("delivery", "date_of_delivery"),
        ]
        indexes = [
            # Date-range filters and deliveries-per-month on every insight page and the admin.
            models.Index(fields=["date_of_delivery"], name="patients_delivery_date_idx"),
        ]

    def __str__(self):
        return f"Delivery of {self.patient.patient_id} on {self.date_of_delivery}"

    def natural_key(self):
        return self.patient.natural_key() + (self.date_of_delivery.isoformat(),)

    natural_key.dependencies = ["patients.patient"]

    def clean(self):
        """Age at delivery must not precede age at first pregnancy (a query, unless the patient is loaded)."""
        refuse_if_patient_voided(self)
        if self.age_at_delivery is None or (self.patient_id is None and not Delivery.patient.is_cached(self)):
            return
        first_pregnancy = self.patient.age_at_first_pregnancy
        if first_pregnancy is not None and self.age_at_delivery < first_pregnancy:
            raise ValidationError(
                {"age_at_delivery": f"{self.age_at_delivery} is before her age at first pregnancy ({first_pregnancy})."}
            )

    @property
    def is_caesarean(self):
        return self.type_of_delivery == self.Type.C_SECTION


class FollowUpManager(models.Manager.from_queryset(FollowUpQuerySet)):
    def get_by_natural_key(self, patient_id, visit_number):
        return self.get(patient__patient_id=patient_id, visit_number=visit_number)


class ActiveFollowUpManager(ActiveOnly, FollowUpManager):
    pass


class FollowUp(Voidable):
    patient = VoidableForeignKey(Patient, on_delete=models.CASCADE, related_name="followups")
    visit_number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1000)], help_text="1 for the first visit, then 2, 3, ..."
    )
    visit_date = models.DateField(validators=[validate_not_in_future, validate_not_before_earliest])
    bp_systolic = models.PositiveSmallIntegerField(
        "systolic BP (mmHg)", null=True, blank=True, validators=range_validators(clinical.BLOOD_PRESSURE_MMHG)
    )
    bp_diastolic = models.PositiveSmallIntegerField(
        "diastolic BP (mmHg)", null=True, blank=True, validators=range_validators(clinical.BLOOD_PRESSURE_MMHG)
    )
    weight_kg = models.FloatField(
        "weight (kg)",
        null=True,
        blank=True,
        validators=range_validators(clinical.WEIGHT_KG),
        help_text=f"Plausible range {clinical.WEIGHT_KG}.",
    )
    haemoglobin_g_dl = models.FloatField(
        "haemoglobin (g/dL)",
        null=True,
        blank=True,
        validators=[clinical.validate_haemoglobin_g_dl],
        help_text=f"In g/dL, plausible range {clinical.HAEMOGLOBIN_G_DL}.",
    )
    diagnosis = models.TextField(
        blank=True,
        validators=[validate_no_control_characters],
        help_text="Free text, e.g. 'mild anaemia, started iron'.",
    )
    import_batch = import_batch_field()

    objects = ActiveFollowUpManager()
    all_objects = FollowUpManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "follow-up"
        ordering = ["patient", "visit_number"]
        default_manager_name = "all_objects"
        permissions = [("restore_followup", "Can restore a voided follow-up")]
        constraints = [
            *void_constraints("followup"),
            models.UniqueConstraint(
                fields=["patient", "visit_number"],
                name="patients_followup_unique_visit",
                violation_error_message="This patient already has a follow-up with this visit number.",
            ),
            models.CheckConstraint(condition=Q(visit_number__gte=1), name="patients_followup_visit_number_positive"),
            range_constraint("followup", "bp_systolic", clinical.BLOOD_PRESSURE_MMHG),
            range_constraint("followup", "bp_diastolic", clinical.BLOOD_PRESSURE_MMHG),
            models.CheckConstraint(
                condition=Q(bp_systolic__isnull=True)
                | Q(bp_diastolic__isnull=True)
                | Q(bp_systolic__gt=models.F("bp_diastolic")),
                name="patients_followup_systolic_above_diastolic",
                violation_error_message="Systolic blood pressure must be above diastolic.",
            ),
            range_constraint("followup", "weight_kg", clinical.WEIGHT_KG),
            range_constraint("followup", "haemoglobin_g_dl", clinical.HAEMOGLOBIN_G_DL),
            earliest_date_constraint("followup", "visit_date"),
        ]
        indexes = [
            # Date-range filters, cohort means by month and the admin's date navigation.
            models.Index(fields=["visit_date"], name="patients_followup_date_idx"),
            # A patient's latest visit (her current haemoglobin, latest weight): without it the
            # planner walks the date index backwards through everyone's visits (0.8 s a patient at 1M).
            models.Index(fields=["patient", "visit_date", "visit_number"], name="patients_followup_latest_idx"),
            # The trends (insights.queries) read every follow-up's day, visit, weight and haemoglobin:
            # on PostgreSQL this index holds them in that order, at 40% of the table's size, and is
            # read without the table (an index-only scan, where vacuum keeps the visibility map).
            # The trends took 1.8 s to 1.35 s at ten million follow-ups, 213 to 146 ms at a million.
            # SQLite builds the key alone (it has no INCLUDE).
            models.Index(
                fields=["visit_date", "visit_number"],
                include=["weight_kg", "haemoglobin_g_dl"],
                condition=Q(voided_at__isnull=True),
                name="patients_followup_trends_idx",
            ),
        ]

    def __str__(self):
        return f"Follow-up {self.visit_number} of {self.patient.patient_id}"

    def natural_key(self):
        return self.patient.natural_key() + (self.visit_number,)

    natural_key.dependencies = ["patients.patient"]

    def clean(self):
        refuse_if_patient_voided(self)
        if self.bp_systolic is not None and self.bp_diastolic is not None and self.bp_systolic <= self.bp_diastolic:
            raise ValidationError(
                {"bp_diastolic": f"Diastolic ({self.bp_diastolic}) must be below systolic ({self.bp_systolic})."}
            )


class AccessKind(models.TextChoices):
    VIEW = "view", "Viewed a record"
    EXPORT = "export", "Exported records"


class AccessLog(models.Model):
    """Who saw a patient's record, or exported records, and when: one row per page, API read or
    export. Kept apart from the change history (which says who changed what), written by
    patients.audit, and readable by administrators only; nobody can change or delete a row."""

    Kind = AccessKind

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    kind = models.CharField(max_length=6, choices=AccessKind.choices)
    # db_constraint off: the log outlives a record an administrator deletes, and must not slow writes.
    patient = models.ForeignKey(
        Patient, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    patient_ref = models.CharField("patient ID", max_length=32, blank=True, db_index=True)
    what = models.CharField(max_length=255, help_text="The page, API call or export, and its filters.")
    rows = models.PositiveIntegerField(null=True, blank=True, help_text="Rows exported.")
    path = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "record access"
        verbose_name_plural = "record accesses"
        constraints = [choices_constraint("accesslog", "kind", AccessKind)]

    def __str__(self):
        return f"{self.username or 'someone'} {self.get_kind_display().lower()} {self.patient_ref}".strip()


class RecordsWritten(models.Model):
    """When each patient's records (her registration, deliveries and follow-ups) were last written,
    as patients.writes.records_written notes it at the end of every write: what the FHIR bulk
    export's `_since` asks for. A deleted patient's row stays (nothing reads it)."""

    patient = models.OneToOneField(
        Patient, on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    written_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "records written"

    def __str__(self):
        return f"Patient {self.patient_id}'s records written {self.written_at:%Y-%m-%d %H:%M:%S}"


class BulkExport(models.Model):
    """A FHIR bulk export an administrator asked for (GET /fhir/$export): which resource types, by
    whom and when. Its NDJSON files are written as they are downloaded (patients.fhir.bulk), by the
    user who asked, until it expires or she cancels it (which deletes it; the access log keeps it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    resource_types = models.JSONField(help_text="The resource types asked for, one NDJSON file each.")
    since = models.DateTimeField(null=True, blank=True, help_text="Only patients whose records were written since.")
    request_url = models.CharField(max_length=2000, help_text="The kick-off request, as the manifest repeats it.")

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        return f"FHIR export {self.pk} by {self.requested_by}"


def history_reason(text):
    """`text` cut to fit the change history's reason column (django-simple-history's 100 characters:
    PostgreSQL refuses a longer value; SQLite would keep it)."""
    limit = Patient.history.model._meta.get_field("history_change_reason").max_length
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AliasColumn(models.TextChoices):
    DELIVERY_TYPE = "type_of_delivery", "Delivery type"
    TERM = "term_of_delivery", "Term"
    DISTRICT = "district", "District"


# The coded columns an alias may name a value of, with their choices (patients.vocabulary reads it).
CODED_CHOICES = {AliasColumn.DELIVERY_TYPE: DeliveryType, AliasColumn.TERM: DeliveryTerm}


class ValueAlias(models.Model):
    """A spelling a data manager mapped to a known value in an import preview (or here, in the
    admin): "Normal vag." means `normal`, "Kaskii" means the district Kaski. Imports, the staff
    forms and the API read it through patients.vocabulary, after the app's own words."""

    Column = AliasColumn

    column = models.CharField(max_length=20, choices=AliasColumn.choices)
    spelling = models.CharField(
        max_length=100, validators=[validate_no_control_characters], help_text="As it was typed in the register."
    )
    key = models.CharField(
        max_length=100,
        blank=True,
        editable=False,
        help_text="The spelling as values are compared: case and spacing aside.",
    )
    code = models.CharField(
        max_length=10, blank=True, help_text="What a delivery type or term spelled so means (a code)."
    )
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, null=True, blank=True, related_name="aliases",
        help_text="The district a district name spelled so means.",
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["column", "key"]
        verbose_name = "value alias"
        verbose_name_plural = "value aliases"
        constraints = [
            models.UniqueConstraint(
                fields=["column", "key"],
                name="patients_valuealias_unique_key",
                violation_error_message="This spelling is already mapped for this column.",
            ),
            models.CheckConstraint(condition=~Q(key=""), name="patients_valuealias_key_not_blank"),
            models.CheckConstraint(
                condition=(
                    Q(column=AliasColumn.DISTRICT, district__isnull=False, code="")
                    | Q(column=AliasColumn.DELIVERY_TYPE, district__isnull=True, code__in=DeliveryType.values)
                    | Q(column=AliasColumn.TERM, district__isnull=True, code__in=DeliveryTerm.values)
                ),
                name="patients_valuealias_means_one_value",
                violation_error_message="A district alias names a district; other aliases name a code.",
            ),
        ]

    def __str__(self):
        return f"{self.get_column_display()} '{self.spelling}' means {self.meaning}"

    def save(self, *args, **kwargs):
        from patients import vocabulary  # it reads this model

        self.key = vocabulary.alias_key(self.column, self.spelling)
        super().save(*args, **kwargs)

    @property
    def meaning(self):
        if self.column == AliasColumn.DISTRICT:
            return self.district.name if self.district_id else ""
        choices = CODED_CHOICES[self.column]
        return choices(self.code).label if self.code in choices.values else self.code

    def clean(self):
        from patients import vocabulary  # it reads this model

        self.spelling = normalise_district_name(self.spelling)
        self.key = vocabulary.alias_key(self.column, self.spelling) if self.column else ""
        if not self.key:
            raise ValidationError({"spelling": "Type the spelling this alias stands for."})
        if self.column == AliasColumn.DISTRICT:
            self.code = ""
            known = District.objects.filter(name__iexact=self.spelling).first()
            if known is not None and known != self.district:
                raise ValidationError({"spelling": f"'{self.spelling}' is the district {known.name} itself."})
        elif self.column:
            self.district = None
            coded = vocabulary.CODED_COLUMNS[self.column]
            if self.code not in coded.choices.values:
                raise ValidationError({"code": f"Choose one of: {coded.accepted()}."})
            known = coded.known(self.spelling)
            if known is not None:
                raise ValidationError({"spelling": f"'{self.spelling}' already means {coded.label(known)}."})
