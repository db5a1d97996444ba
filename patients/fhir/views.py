"""
The FHIR R4 API under /fhir/: read-only JSON (`application/fhir+json`), behind the API's logins,
tokens and roles, audited as the API's reads of a patient are. Errors are OperationOutcomes.

- `GET /fhir/metadata`: the CapabilityStatement (any logged-in user).
- `GET /fhir/<type>?...`: a search (a `searchset` Bundle, paged by `_count` and `_offset`).
- `GET /fhir/<type>/<id>`: a read.
- `GET /fhir/Patient/<id>/$everything`: the patient and every resource of her records.
- `GET /fhir/$export`: a bulk export (administrators), its status at `$export-status/<id>` and its
  NDJSON files at `$export-file/<id>/<type>.ndjson` (patients.fhir.bulk).
"""

import calendar
import datetime
import re
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import http_date
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from patients import audit
from patients.fhir import bulk, mapping, resources
from patients.models import AccessLog, BulkExport, Delivery, FollowUp, Patient

FHIR_JSON = "application/fhir+json"
# What a reader needs for each resource type: a Patient alone is her registration; the others
# come from her deliveries and follow-ups.
PATIENT_PERMISSIONS = ("patients.view_patient",)
RECORD_PERMISSIONS = ("patients.view_patient", "patients.view_delivery", "patients.view_followup")
# A bulk export of every record: administrators only.
EXPORT_PERMISSIONS = ("patients.add_bulkexport",)
# How long an export's status and files can be read after it was asked for.
EXPORT_LIFETIME = datetime.timedelta(hours=24)
# Search results per page: _count's default and its most.
DEFAULT_COUNT, MAX_COUNT = 20, 200
# Parameters every search takes, besides its own (mapping.SEARCH_PARAMETERS); the paging links
# set the first two.
PAGING_PARAMETERS = ("_count", "_offset")
COMMON_PARAMETERS = (*PAGING_PARAMETERS, "_format")
# The longest value a search takes (a name, a code, a date): longer is no one's, and SQLite
# refuses a LIKE pattern past 50,000 bytes.
MAX_VALUE_LENGTH = 500
# A date search's prefixes (http://hl7.org/fhir/search.html#prefix): whether a record's day meets
# each, given the first and last day the searched date covers (2024 covers the whole year).
DATE_PREFIXES = {
    "eq": lambda day, first, last: first <= day <= last,
    "ne": lambda day, first, last: not first <= day <= last,
    "ge": lambda day, first, last: day >= first,
    "gt": lambda day, first, last: day > last,
    "le": lambda day, first, last: day <= last,
    "lt": lambda day, first, last: day < first,
}
# A searched date: a year, a month, a day, or a moment of a day (its day is what counts).
_SEARCHED_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                            r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?$")  # fmt: skip
# What `_format` may say: JSON, in any of FHIR's spellings.
JSON_FORMATS = ("json", "application/json", "application/fhir+json", "application/json+fhir")


class FHIRRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"


def _with_plus(value):
    """A query value with its "+" back: written unencoded in a URL (application/fhir+json, a time
    zone's +05:45), a "+" arrives as a space, and no value FHIR reads here has a space."""
    return value.replace(" ", "+")


def _prefers(request, preference):
    """Whether the request's Prefer header asks for `preference` (handling=strict, handling=lenient)."""
    return preference in request.headers.get("Prefer", "").replace(" ", "").split(",")


class FHIRContentNegotiation(DefaultContentNegotiation):
    """FHIR's `_format` chooses the format before Accept does: JSON in any spelling, anything else
    406. DRF's own `format` parameter means nothing here (it would answer 404 to a read)."""

    class settings:  # noqa: N801 (stands in for DRF's api_settings, the one setting it reads)
        URL_FORMAT_OVERRIDE = None

    def select_renderer(self, request, renderers, format_suffix=None):
        wanted = request.query_params.get("_format")
        if wanted:
            if _with_plus(wanted) not in JSON_FORMATS:
                raise exceptions.NotAcceptable(f"_format '{wanted[:50]}' is not supported: this server speaks "
                                               f"JSON ({FHIR_JSON}).")  # fmt: skip
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


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
    content_negotiation_class = FHIRContentNegotiation
    http_method_names = ["get", "head"]

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
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                "documentation": f"Administrators: every record as NDJSON, one file per type "
                                 f"({', '.join(bulk.RESOURCE_TYPES)}); it takes _type, _outputFormat and _since "
                                 f"(the patients whose records were written since: all their resources of each "
                                 f"type). The files "
                                 f"can be read for {EXPORT_LIFETIME.total_seconds() / 3600:g} hours.",
            }],
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
            audit.log_views(request, [patient for patient, _ in matches], "FHIR: Patient search")
            matches = [resource for _, resource in matches]
        else:
            patient = _searched_patient(parameters)
            found = []
            if patient is not None:
                audit.log_view(request, patient, f"FHIR: her {resource_type} resources")
                found = [r for r in _everything(patient, {resource_type}) if _matches(r, parameters)]
            total, matches = len(found), found[offset : offset + count]
        return Response(self.searchset(resource_type, parameters, matches, total, count, offset))

    def searchset(self, resource_type, parameters, matches, total, count, offset):
        base = self.base_url()

        def link(relation, at):
            query = [(name, value) for name, values in parameters.items() if name not in PAGING_PARAMETERS
                     for value in values] + [("_count", count), ("_offset", at)]  # fmt: skip
            return {"relation": relation, "url": f"{base}{resource_type}?{urlencode(query)}"}

        links = [link("self", offset)]
        if count and offset + count < total:  # _count=0 asks for the total alone: no pages to follow
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


def _everything(patient, types=resources.RECORDS_READ):
    """The resources of `types` (all but the Patient by default) of her records (two queries)."""
    deliveries = patient.deliveries.order_by(*resources.RECORD_ORDER["delivery"])
    followups = patient.followups.order_by(*resources.RECORD_ORDER["followup"])
    return resources.record_resources(patient, deliveries, followups, types)


def _search_parameters(request, resource_type):
    """{name (with its modifier): [values]} of the known parameters with a value (FHIR ignores an
    empty one). An unknown parameter is ignored, or refused when the client asks for strict
    handling (Prefer: handling=strict); a known one with a modifier it does not take is refused."""
    known = mapping.SEARCH_PARAMETERS[resource_type]
    strict = _prefers(request, "handling=strict")
    parameters = {}
    for name in request.query_params:
        values = [value for value in request.query_params.getlist(name) if value != ""]
        base, colon, modifier = name.partition(":")
        if base in known and modifier not in _MODIFIERS[known[base][0]]:
            raise SearchError(f"{base} does not take the modifier ':{modifier[:50]}' here.", "not-supported")
        if base in known or (base in COMMON_PARAMETERS and not colon):
            for value in values:
                if len(value) > MAX_VALUE_LENGTH:
                    raise SearchError(f"{base}'s value is longer than {MAX_VALUE_LENGTH} characters.", "too-long")
            if values:
                parameters[name] = values
        elif strict:
            raise SearchError(f"Unknown search parameter '{name[:50]}' for {resource_type}.", "not-supported")
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
    return [(patient, resources.patient(patient)) for patient in page], total


def _patient_filter(patients, base, modifier, value):
    if base == "_id":
        return patients.filter(pk__in=[pk for pk in map(resources.as_pk, value.split(",")) if pk is not None])
    if base == "identifier":
        system, bar, code = value.rpartition("|")
        if bar and system != settings.FHIR_PATIENT_ID_SYSTEM:  # "|P1" asks for an identifier without a system
            return patients.none()
        return patients.filter(patient_id=code) if "\x00" not in code else patients.none()
    if "\x00" in value:
        return patients.none()
    lookup = {"": "istartswith", "contains": "icontains", "exact": "exact"}
    if base == "name" and not modifier:
        # Starts with: her name, or any word of it (FHIR matches any part of a name).
        return patients.filter(Q(name__istartswith=value) | Q(name__icontains=f" {value}"))
    if base == "name":
        return patients.filter(**{f"name__{lookup[modifier]}": value})
    if base == "address-district":
        return patients.filter(**{f"district__name__{lookup[modifier]}": value})
    return patients  # the paging parameters


def _searched_patient(parameters):
    """The patient a search of her records names (`patient` or `subject`, as Patient/<id>, <id>, or
    an absolute reference ending so), or None if it names nobody, or two people."""
    named = {
        value.rpartition("Patient/")[2] if "Patient/" in value else value
        for name in ("patient", "subject")
        for value in parameters.get(name, ())
    }
    if not named:
        raise SearchError("Name the patient: patient=Patient/<id>.", "required")
    return _patient(named.pop()) if len(named) == 1 else None  # her records are no one else's


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
        for coding in codings:
            if (not code or coding["code"] == code) and (not bar or coding["system"] == system):
                return True  # "system|" is any code of the system; "|code" would be a code without one
    return False


def _in_dates(day, value):
    """Whether `day` meets a date search's value: a date (a year, a month, a day or a moment)
    after an optional prefix (eq by default)."""
    prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
    first, last = _date_range(value.removeprefix(prefix))
    return day is not None and DATE_PREFIXES[prefix](day, first, last)


def _date_range(text):
    """The first and last day a searched date covers (2024: the year; 2024-03: March)."""
    match = _SEARCHED_DATE.match(text)
    try:
        year, month, day = (int(part) if part else None for part in match.groups())
        if month is None:
            return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        if day is None:
            return datetime.date(year, month, 1), datetime.date(year, month, calendar.monthrange(year, month)[1])
        return datetime.date(year, month, day), datetime.date(year, month, day)
    except (AttributeError, ValueError):  # no match, or no such month or day
        raise SearchError(f"date must be a date (YYYY, YYYY-MM, YYYY-MM-DD or a moment of a day) after an optional "
                          f"prefix, not '{text[:50]}'.") from None  # fmt: skip


class NotFoundView(FHIRView):
    """Anything else under /fhir/: an OperationOutcome, not the site's 404 page."""

    permission_classes = [IsAuthenticated]

    def get(self, request, path):
        raise exceptions.NotFound(f"Nothing at /fhir/{path}.")


class ExportView(FHIRView):
    """The kick-off of a bulk export (FHIR Bulk Data): 202 Accepted, its status URL in Content-Location."""

    http_method_names = ["get"]  # not HEAD: each kick-off starts an export

    def required_permissions(self, resource_type):
        return EXPORT_PERMISSIONS

    def get(self, request):
        types, ignored = _export_types(request)
        export = BulkExport.objects.create(
            requested_by=request.user,
            resource_types=types,
            since=_export_since(request),
            request_url=request.build_absolute_uri()[:2000],
        )
        audit.log_export(request, f"FHIR bulk export {export.pk} asked for: {', '.join(types)}")
        status_url = request.build_absolute_uri(reverse("fhir:export_status", args=[export.pk]))
        outcome = operation_outcome(f"Export accepted: its status is at {status_url}", "informational", "information")
        outcome["issue"] += [
            {"severity": "warning", "code": "not-supported", "diagnostics": f"Ignored the parameter '{name[:50]}'."}
            for name in ignored
        ]
        return Response(outcome, status=status.HTTP_202_ACCEPTED, headers={"Content-Location": status_url})


# The kick-off's parameters (the Bulk Data spec's others are not supported).
EXPORT_PARAMETERS = ("_type", "_outputFormat", "_since")


def _export_types(request):
    """The resource types asked for (_type; all by default), in bulk.RESOURCE_TYPES' order, and the
    parameters ignored. Any other parameter is refused, as the spec asks, unless the client asks
    for lenient handling: then it is ignored, and the kick-off's answer says so."""
    lenient = _prefers(request, "handling=lenient")
    ignored = [name for name in request.query_params if name not in EXPORT_PARAMETERS]
    for name in ignored:
        if not lenient:
            raise SearchError(
                f"$export does not support the parameter '{name[:50]}': it takes {', '.join(EXPORT_PARAMETERS)}.",
                "not-supported",
            )
    for output_format in request.query_params.getlist("_outputFormat"):
        if _with_plus(output_format) not in bulk.OUTPUT_FORMATS:
            raise SearchError(
                f"_outputFormat '{output_format[:50]}' is not supported: use {bulk.NDJSON}.", "not-supported"
            )
    wanted = {name.strip() for value in request.query_params.getlist("_type") for name in value.split(",")}
    unknown = sorted(wanted - set(bulk.RESOURCE_TYPES))
    if unknown:
        raise SearchError(f"_type names {', '.join(name[:50] for name in unknown)}, which this server does not "
                          f"export: it exports {', '.join(bulk.RESOURCE_TYPES)}.", "not-supported")  # fmt: skip
    return [name for name in bulk.RESOURCE_TYPES if not wanted or name in wanted], ignored


def _export_since(request):
    """The moment `_since` names (a FHIR instant: a date and time with its zone), or None."""
    values = request.query_params.getlist("_since")
    if not values:
        return None
    text = _with_plus(values[-1])  # 2024-01-31T08:00:00+05:45
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SearchError(f"_since must be an instant with its time zone (2024-01-31T08:00:00Z), not '{text[:50]}'.")
    return moment


class ExportStatusView(ExportView):
    """An export's status: its manifest (200: the files are written as they are downloaded, so it is
    ready at once), or DELETE to cancel it. Only the administrator who asked for it may read it."""

    http_method_names = ["get", "head", "delete"]

    def get(self, request, export_id):
        export = _own_export(request, export_id)
        manifest = {
            "transactionTime": export.requested_at.isoformat(),
            "request": export.request_url,
            "requiresAccessToken": True,
            "output": [
                {"type": name, "url": request.build_absolute_uri(reverse("fhir:export_file", args=[export.pk, name]))}
                for name in export.resource_types
            ],
            "error": [],
        }
        expires = http_date((export.requested_at + EXPORT_LIFETIME).timestamp())
        return Response(manifest, content_type="application/json", headers={"Expires": expires})

    def delete(self, request, export_id):
        _own_export(request, export_id).delete()
        outcome = operation_outcome(f"Export {export_id} is cancelled.", "informational", "information")
        return Response(outcome, status=status.HTTP_202_ACCEPTED)


def _own_export(request, export_id):
    """The user's own export with this id, if it has not expired."""
    export = BulkExport.objects.filter(
        pk=export_id, requested_by=request.user, requested_at__gt=timezone.now() - EXPORT_LIFETIME
    ).first()
    if export is None:
        raise exceptions.NotFound(f"No export {export_id} of yours: it was cancelled, it expired, or it is "
                                  "someone else's.")  # fmt: skip
    return export


class NDJSONRenderer(JSONRenderer):
    """What a bulk client asks for (Accept: application/fhir+ndjson); errors render as one line of JSON."""

    media_type = bulk.NDJSON
    format = "ndjson"


class PlainNDJSONRenderer(NDJSONRenderer):
    media_type = "application/ndjson"


class ExportFileView(ExportView):
    """One NDJSON file of an export, written as it is read; the access log counts its lines."""

    renderer_classes = [FHIRRenderer, NDJSONRenderer, PlainNDJSONRenderer, JSONRenderer]
    http_method_names = ["get", "head"]

    def get(self, request, export_id, resource_type):
        export = _own_export(request, export_id)
        if resource_type not in export.resource_types:
            raise exceptions.NotFound(f"Export {export_id} has no {resource_type} file.")
        if request.method == "HEAD":  # the headers alone: nothing read, nothing exported
            return HttpResponse(content_type=bulk.NDJSON)
        access = audit.log_export(request, f"FHIR bulk export {export.pk}: {resource_type}")
        lines = _counted(bulk.ndjson_lines(resource_type, export.since), access)
        return StreamingHttpResponse(bulk.in_pieces(lines), content_type=bulk.NDJSON)


def _counted(lines, access):
    """The lines, and once they are written (or the download stops), their number in the access
    log's row."""
    count, finished = 0, False
    try:
        for line in lines:
            count += 1
            yield line
        finished = True
    finally:
        what = access.what if finished else f"{access.what} (interrupted)"[:255]
        AccessLog.objects.filter(pk=access.pk).update(rows=count, what=what)
