"""Staff pages: find a patient, read her record, add and correct deliveries and follow-ups."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Prefetch
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from insights import queries
from patients import audit, clinical, figures, timeline
from patients.attention import needs_attention
from patients.forms import DeliveryForm, FollowUpForm, PatientForm, PatientSearchForm, VoidForm
from patients.models import Delivery, FollowUp, Patient
from patients.voiding import VoidRefused, void
from patients.writes import patient_pk, records_written

PATIENTS_PER_PAGE = 25


class WholePagePaginator(Paginator):
    """Asks the database for a whole page of rows, even when fewer are left. Django's asks for just
    those left, and a LIMIT of 1 or 2 makes PostgreSQL walk the patient_id index in order until a
    row matches the search: 0.45 s at a million patients for a search that finds one, where a LIMIT
    of a page reads the search's own indexes (15 ms)."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page + self.orphans if self.count > bottom else bottom  # none left: no query
        return self._get_page(self.object_list[bottom:top], number, self)


# Her printed record fits one A4 page: her latest visits only (the page on screen has them all).
PRINTED_VISITS = 6
PATIENT_SORTS = {"patient": "Patient ID", "priority": "Priority, most urgent first"}


def staff_permission(perm):
    """Anonymous users go to the login page; logged-in users without `perm` get 403."""

    def decorator(view):
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorator


@require_GET
@staff_permission("patients.view_patient")
def patient_list(request):
    form = PatientSearchForm(request.GET or None)
    patients = Patient.objects.select_related("district")
    if form.is_valid():
        patients = patients.search(form.cleaned_data["q"]).in_district(form.cleaned_data["district"])
    sort = request.GET.get("sort") if request.GET.get("sort") in PATIENT_SORTS else "patient"
    if sort == "priority":
        # Most urgent first, then the rest by patient ID; her priority is read from her stored facts.
        table = Patient._meta.db_table
        patients = patients.annotate(priority=RawSQL(queries.priority_sql(table), [])).order_by(
            F("priority").asc(nulls_last=True), "patient_id"
        )
    page = WholePagePaginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    readings = queries.latest_readings(patient.pk for patient in page.object_list)
    rows = [(patient, readings.get(patient.pk, {})) for patient in page.object_list]
    context = {"form": form, "page": page, "rows": rows, "sort": sort, "sorts": PATIENT_SORTS.items()}
    return render(request, "patients/list.html", context)


@require_GET
@staff_permission("patients.view_patient")
def patient_detail(request, patient_id):
    patient = _get_or_404(
        Patient.objects.select_related("district").prefetch_related(
            Prefetch("deliveries", Delivery.objects.order_by("date_of_delivery")),
            Prefetch("followups", FollowUp.objects.order_by("visit_number")),
        ),
        patient_id,
    )
    audit.log_view(request, patient, "Record page")
    deliveries, followups = patient.deliveries.all(), patient.followups.all()  # prefetched, in use only
    risk = patient.risk(deliveries, followups)
    drawn = timeline.chart(timeline.readings(patient), patient.patient_id, clinical.anaemia_cutoff_g_dl())
    context = {
        "timeline": figures.for_page(
            "timeline", drawn, numbers_in="her deliveries and follow-up visits", numbers_href="#deliveries"
        )
        if drawn
        else None,
        "patient": patient,
        "deliveries": deliveries,
        "followups": followups,
        "risk": risk,
        "attention": needs_attention(patient, risk, deliveries, followups),
        "current_hb": risk.current,
        "severity": risk.severity,
        "printed_visits": PRINTED_VISITS,
    }
    return render(request, "patients/detail.html", context)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.add_patient")
def patient_create(request):
    form = PatientForm(request.POST or None)
    return _form_page(request, form, title="Add a patient", cancel_url="patients:list")


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_patient")
def patient_edit(request, patient_id):
    patient = _get_or_404(Patient.objects, patient_id)
    if request.method == "GET":
        audit.log_view(request, patient, "Edit form")
    form = PatientForm(request.POST or None, instance=patient)
    return _form_page(request, form, title=f"Edit {patient}", patient=patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.add_delivery")
def delivery_create(request, patient_id):
    patient = _get_or_404(Patient.objects, patient_id)
    form = DeliveryForm(request.POST or None, instance=Delivery(patient=patient))
    return _form_page(request, form, title=f"Add a delivery for {patient}", patient=patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_delivery")
def delivery_edit(request, patient_id, pk):
    delivery = _get_or_404(Delivery.objects.select_related("patient"), patient_id, pk=pk)
    if request.method == "GET":
        audit.log_view(request, delivery.patient, f"Edit form of the delivery on {delivery.date_of_delivery}")
    form = DeliveryForm(request.POST or None, instance=delivery)
    return _form_page(request, form, title=f"Edit {delivery}", patient=delivery.patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.add_followup")
def followup_create(request, patient_id):
    patient = _get_or_404(Patient.objects, patient_id)
    # Voided visits too: a voided visit keeps its number.
    last_visit = patient.followups(manager="all_objects").aggregate(last=Max("visit_number"))["last"] or 0
    form = FollowUpForm(
        request.POST or None,
        instance=FollowUp(patient=patient),
        initial={"visit_number": last_visit + 1, "visit_date": timezone.localdate()},
    )
    return _form_page(request, form, title=f"Add a follow-up for {patient}", patient=patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_followup")
def followup_edit(request, patient_id, pk):
    followup = _get_or_404(FollowUp.objects.select_related("patient"), patient_id, pk=pk)
    if request.method == "GET":
        audit.log_view(request, followup.patient, f"Edit form of follow-up {followup.visit_number}")
    form = FollowUpForm(request.POST or None, instance=followup)
    return _form_page(request, form, title=f"Edit {followup}", patient=followup.patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_patient")
def patient_void(request, patient_id):
    patient = _get_or_404(Patient.objects, patient_id)
    return _void_page(request, patient, patient, {
        "deliveries": patient.deliveries.count(), "followups": patient.followups.count(),  # those in use
    })  # fmt: skip


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_delivery")
def delivery_void(request, patient_id, pk):
    delivery = _get_or_404(Delivery.objects.select_related("patient"), patient_id, pk=pk)
    return _void_page(request, delivery, delivery.patient)


@require_http_methods(["GET", "POST"])
@staff_permission("patients.change_followup")
def followup_void(request, patient_id, pk):
    followup = _get_or_404(FollowUp.objects.select_related("patient"), patient_id, pk=pk)
    return _void_page(request, followup, followup.patient)


def _get_or_404(queryset, patient_id, **lookups):
    """The patient `patient_id`, or her record matching `lookups`; else 404. An ID holding a NUL
    names nobody (and PostgreSQL refuses it in a query)."""
    if "\x00" in patient_id:
        raise Http404("No such patient.")
    key = "patient_id" if queryset.model is Patient else "patient__patient_id"
    return get_object_or_404(queryset, **{key: patient_id}, **lookups)


def _void_page(request, record, patient, with_her=None):
    """Ask why, then void the record: it leaves every page and insight, and stays for the administrators."""
    form = VoidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            void(record, request.user, form.cleaned_data["reason"])
        except VoidRefused as refused:
            form.add_error("reason", str(refused))
        else:
            messages.success(request, f"Voided {record}. An administrator can restore it.")
            return redirect("patients:list" if record is patient else patient)
    context = {"form": form, "record": record, "patient": patient, "with_her": with_her}
    return render(request, "patients/void.html", context)


def _form_page(request, form, *, title, patient=None, cancel_url=None):
    """Save a valid POST and go back to the patient; otherwise show the form with what was typed."""
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # the record, its history and what is worked out from it, or none
                record = form.save()
                records_written([patient_pk(record)])
        except IntegrityError:
            # A concurrent submission (a double click) saved the same key after this form was
            # checked: the database refused this one, and the form, checked again, now names it.
            form.full_clean()
            if form.is_valid():
                raise
        else:
            messages.success(request, f"Saved {record}.")
            return redirect(patient or record)
    context = {"form": form, "title": title, "patient": patient, "cancel_url": cancel_url}
    return render(request, "patients/form.html", context)
