"""
The FHIR R4 API under /fhir/: read-only JSON (`application/fhir+json`), behind the API's logins,
tokens and roles, audited as the API's reads of a patient are. Errors are OperationOutcomes.

- `GET /fhir/metadata`: the CapabilityStatement (any logged-in user).
- `GET /fhir/<type>?...`: a search (a `searchset` Bundle, paged by `_count` and `_offset`).
- `GET /fhir/<type>/<id>`: a read.
- `GET /fhir/Patient/<id>/$everything`: the patient and every resource of her records.
"""

import datetime
import operator
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from patients import audit
from patients.fhir import mapping, resources
from patients.models import Delivery, FollowUp, Patient

FHIR_JSON = "application/fhir+json"
# What a reader needs for each resource type: a Patient alone is her registration; the others
# come from her deliveries and follow-ups.
PATIENT_PERMISSIONS = ("patients.view_patient",)
RECORD_PERMISSIONS = ("patients.view_patient", "patients.view_delivery", "patients.view_followup")
# Search results per page: _count's default and its most.
DEFAULT_COUNT, MAX_COUNT = 20, 200
# Parameters every search takes, besides its own (mapping.SEARCH_PARAMETERS).
PAGING_PARAMETERS = ("_count", "_offset", "_format")
# A date search's prefixes (http://hl7.org/fhir/search.html#prefix) and what each asks of a date.
DATE_PREFIXES = {"eq": operator.eq, "ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


class FHIRRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"


class ResourcePermission(BasePermission):
    """Logged in (session or token) and holding what the view's resource type needs."""

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return user.has_perms(view.required_permissions(view.kwargs.get("resource_type")))


class SearchError(exceptions.APIException):
    """A search FHIR's rules refuse: 400 with an OperationOutcome naming the parameter."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail, issue_code="invalid"):
        super().__init__(detail)
        self.issue_code = issue_code


# An error's HTTP status -> FHIR's issue type (http://hl7.org/fhir/valueset-issue-type.html).
_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                406: "not-supported", 429: "throttled"}  # fmt: skip


def operation_outcome(diagnostics, issue_code, severity="error"):
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": issue_code, "diagnostics": diagnostics}],
    }


def exception_handler(exc, context):
    """Every error as an OperationOutcome, with the status DRF gives it (404 for Http404)."""
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    issue_code = getattr(exc, "issue_code", None) or _ISSUE_CODES.get(response.status_code, "processing")
    response.data = operation_outcome(str(detail), issue_code)
    return response


class FHIRView(APIView):
    schema = None  # FHIR's own CapabilityStatement describes it, not the /api/ OpenAPI schema
    renderer_classes = [FHIRRenderer, JSONRenderer]
    permission_classes = [ResourcePermission]
    http_method_names = ["get", "head", "options"]

    def required_permissions(self, resource_type):
        return PATIENT_PERMISSIONS if resource_type == "Patient" else RECORD_PERMISSIONS

    def get_exception_handler(self):
        return exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # clinical records: no copies in shared caches
        return response

    def base_url(self):
        return self.request.build_absolute_uri("/fhir/")


class CapabilityStatementView(FHIRView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(capability_statement(self.base_url()))


def capability_statement(base_url):
    """Exactly what this server does: read and search of mapping.SEARCH_PARAMETERS' types, and
    $everything of a Patient."""
    rest_resources = []
    for resource_type, parameters in mapping.SEARCH_PARAMETERS.items():
        entry = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "versioning": "no-version",
            "readHistory": False,
            "searchParam": [
                {"name": name, "type": kind, "documentation": words} for name, (kind, words) in parameters.items()
            ] + [
                {"name": "_count", "type": "number", "documentation": f"Results per page (at most {MAX_COUNT})"},
                {"name": "_offset", "type": "number", "documentation": "Results to skip (the paging links set it)"},
            ],
        }  # fmt: skip
        if resource_type == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        rest_resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": mapping.CAPABILITY_DATE,
        "publisher": "Maternal health records",
        "kind": "instance",
        "software": {"name": "Maternal health records"},
        "implementation": {"description": "The hospital's maternal health records, read-only", "url": base_url},
        "fhirVersion": mapping.FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Unknown search parameters are ignored, or refused (400) with "
                             "the header Prefer: handling=strict. Voided records are never shown.",
            "security": {"description": "Log in (a session) or send Authorization: Token <key>; the roles of /api/ "
                                        "apply. Every read of a patient's records is logged."},
            "resource": rest_resources,
        }],
    }  # fmt: skip


class ReadView(FHIRView):
    def get(self, request, resource_type, resource_id):
        patient, found = _read(resource_type, resource_id)
        if found is None:
            raise exceptions.NotFound(f"{resource_type}/{resource_id} is not known.")
        audit.log_view(request, patient, f"FHIR: {resource_type}/{resource_id}")
        return Response(found)


def _read(resource_type, resource_id):
    """(her Patient record, the resource) for a resource id; (None, None) when there is none."""
    if resource_type == "Patient":
        patient = _patient(resource_id)
        return (patient, resources.patient(patient)) if patient else (None, None)
    parsed = resources.parse_record_id(resource_id)
    if parsed is None:
        return None, None
    record_name, pk = parsed
    model = {"patient": Patient, "delivery": Delivery, "followup": FollowUp}[record_name]
    row = model.objects.filter(pk=pk).first()
    if row is None:
        return None, None
    patient = (
        row
        if record_name == "patient"
        else Patient.objects.select_related("district").filter(pk=row.patient_id).first()
    )
    if patient is None:
        return None, None
    rows = {"delivery": [], "followup": []}
    if record_name != "patient":
        rows[record_name] = [row]
    built = resources.record_resources(patient, rows["delivery"], rows["followup"])
    found = next((r for r in built if r["resourceType"] == resource_type and r["id"] == resource_id), None)
    return patient, found


def _patient(resource_id):
    """The patient (not voided) with this FHIR id, or None."""
    pk = resources.as_pk(resource_id)
    return None if pk is None else Patient.objects.select_related("district").filter(pk=pk).first()


class SearchView(FHIRView):
    def get(self, request, resource_type):
        if resource_type not in mapping.SEARCH_PARAMETERS:
            raise exceptions.NotFound(f"No resource type {resource_type} here.")
        parameters = _search_parameters(request, resource_type)
        count, offset = _paging(parameters)
        if resource_type == "Patient":
            matches, total = _search_patients(parameters, count, offset)
        else:
            patient = _required_patient(parameters)
            found = []
            if patient is not None:
                audit.log_view(request, patient, f"FHIR: her {resource_type} resources")
                found = [r for r in _everything(patient) if r["resourceType"] == resource_type]
                found = [r for r in found if _matches(r, parameters)]
            total, matches = len(found), found[offset : offset + count]
        return Response(self.searchset(resource_type, parameters, matches, total, count, offset))

    def searchset(self, resource_type, parameters, matches, total, count, offset):
        base = self.base_url()

        def link(relation, at):
            query = [(name, value) for name, values in parameters.items() if name not in PAGING_PARAMETERS
                     for value in values] + [("_count", count), ("_offset", at)]  # fmt: skip
            return {"relation": relation, "url": f"{base}{resource_type}?{urlencode(query)}"}

        links = [link("self", offset)]
        if offset + count < total:
            links.append(link("next", offset + count))
        if offset > 0:
            links.append(link("previous", max(0, offset - count)))
        return _bundle("searchset", base, matches, total=total, links=links)


def _bundle(kind, base, found, total=None, links=()):
    bundle = {"resourceType": "Bundle", "type": kind}
    if total is not None:
        bundle["total"] = total
    if links:
        bundle["link"] = list(links)
    bundle["entry"] = [
        {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in found
    ]
    return bundle


class EverythingView(FHIRView):
    def get(self, request, resource_id):
        patient = _patient(resource_id)
        if patient is None:
            raise exceptions.NotFound(f"Patient/{resource_id} is not known.")
        audit.log_view(request, patient, "FHIR: Patient $everything")
        found = [resources.patient(patient), *_everything(patient)]
        return Response(_bundle("searchset", self.base_url(), found, total=len(found)))

    def required_permissions(self, resource_type):
        return RECORD_PERMISSIONS


def _everything(patient):
    """Every resource of her records but the Patient (two queries)."""
    deliveries = patient.deliveries.order_by("date_of_delivery", "pk")
    followups = patient.followups.order_by("visit_date", "visit_number", "pk")
    return resources.record_resources(patient, deliveries, followups)


def _search_parameters(request, resource_type):
    """{name (with its modifier): [values]} of the known parameters. An unknown one is ignored,
    or refused when the client asks for strict handling (Prefer: handling=strict)."""
    known = mapping.SEARCH_PARAMETERS[resource_type]
    strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
    parameters = {}
    for name in request.query_params:
        values = request.query_params.getlist(name)
        base, _, modifier = name.partition(":")
        paging = base in PAGING_PARAMETERS and not modifier
        if paging or (base in known and modifier in _MODIFIERS[known[base][0]]):
            parameters[name] = values
        elif strict:
            raise SearchError(f"Unknown search parameter '{name}' for {resource_type}.", "not-supported")
    return parameters


# The modifiers each kind of parameter takes ("" for none).
_MODIFIERS = {"string": ("", "contains", "exact"), "token": ("",), "reference": ("",), "date": ("",)}


def _paging(parameters):
    def number(name, default, most=None):
        values = parameters.get(name)
        if not values:
            return default
        value = resources.as_pk(values[-1])
        if value is None:
            raise SearchError(f"{name} must be a whole number, not '{values[-1][:50]}'.")
        return value if most is None else min(value, most)

    return number("_count", DEFAULT_COUNT, MAX_COUNT), number("_offset", 0)


def _search_patients(parameters, count, offset):
    patients = Patient.objects.select_related("district").order_by("pk")
    for name, values in parameters.items():
        base, _, modifier = name.partition(":")
        for value in values:
            patients = _patient_filter(patients, base, modifier, value)
    total = patients.count()
    page = list(patients[offset : offset + count]) if count else []
    return [resources.patient(patient) for patient in page], total


def _patient_filter(patients, base, modifier, value):
    if base == "_id":
        return patients.filter(pk__in=[pk for pk in map(resources.as_pk, value.split(",")) if pk is not None])
    if base == "identifier":
        system, bar, code = value.rpartition("|")
        if bar and system and system != settings.FHIR_PATIENT_ID_SYSTEM:
            return patients.none()
        return patients.filter(patient_id=code) if "\x00" not in code else patients.none()
    if "\x00" in value:
        return patients.none()
    lookup = {"": "istartswith", "contains": "icontains", "exact": "exact"}
    if base == "name":
        return patients.filter(**{f"name__{lookup[modifier]}": value})
    if base == "address-district":
        return patients.filter(**{f"district__name__{lookup[modifier]}": value})
    return patients  # the paging parameters


def _required_patient(parameters):
    """The patient the search names (`patient`, required for the record types), or None if unknown."""
    values = parameters.get("patient")
    if not values:
        raise SearchError("Name the patient: patient=Patient/<id>.", "required")
    # Patient/<id>, <id>, or an absolute reference ending in Patient/<id>.
    value = values[-1]
    return _patient(value.rpartition("Patient/")[2] if "Patient/" in value else value)


def _matches(resource, parameters):
    """Whether a record's resource meets the search's code and date parameters."""
    for name, values in parameters.items():
        for value in values:
            if name == "code" and not _has_code(resource, value):
                return False
            if name == "date" and not _in_dates(resources.resource_date(resource), value):
                return False
    return True


def _has_code(resource, value):
    codings = resource.get("code", {}).get("coding", [])
    for token in value.split(","):
        system, bar, code = token.rpartition("|")
        if any(c["code"] == code and (not bar or not system or c["system"] == system) for c in codings):
            return True
    return False


def _in_dates(day, value):
    """Whether `day` meets a date search's value: a date after an optional prefix (eq by default)."""
    prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
    try:
        wanted = datetime.date.fromisoformat(value.removeprefix(prefix))
    except ValueError:
        raise SearchError(f"date must be a date (YYYY-MM-DD) after an optional prefix, not '{value[:50]}'.") from None
    return day is not None and DATE_PREFIXES[prefix](day, wanted)


class NotFoundView(FHIRView):
    """Anything else under /fhir/: an OperationOutcome, not the site's 404 page."""

    permission_classes = [IsAuthenticated]

    def get(self, request, path):
        raise exceptions.NotFound(f"Nothing at /fhir/{path}.")
