"""The REST API's house rules: who may call what, errors as JSON, and routes with or without a slash."""

import copy

from django.db import models
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views import defaults
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.utils import encoders

# The permission each HTTP method needs on the view's model: read, create, change.
METHOD_ACTIONS = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add", "PATCH": "change", "PUT": "change"}


# Items of a streamed JSON array sent at a time: fewer, larger writes than one per item.
STREAM_ITEMS = 500


def streamed_json_array(items):
    """A StreamingHttpResponse of `items` (any iterable, read once) as a JSON array, written as it is
    read and spelled as DRF's JSONRenderer would spell the whole list: its encoder (dates as ISO
    text), compact, UTF-8, no NaN, U+2028 and U+2029 escaped."""
    encoder = encoders.JSONEncoder(ensure_ascii=not api_settings.UNICODE_JSON, allow_nan=not api_settings.STRICT_JSON,
                                   separators=(",", ":"))  # fmt: skip

    def chunks():
        yield b"["
        batch, first = [], True
        for item in items:
            batch.append(encoder.encode(item))
            if len(batch) == STREAM_ITEMS:
                yield _json_chunk(batch, first)
                batch, first = [], False
        if batch:
            yield _json_chunk(batch, first)
        yield b"]"

    return StreamingHttpResponse(chunks(), content_type="application/json")


def _json_chunk(encoded, first):
    text = ("" if first else ",") + ",".join(encoded)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class RolePermission(BasePermission):
    """Logged in (session or token) and holding the model permission the method needs
    (`view.permission_model`, e.g. "followup": GET needs patients.view_followup, POST add_followup;
    a view may map methods to actions itself in `method_actions`)."""

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        action = getattr(view, "method_actions", METHOD_ACTIONS).get(request.method)
        return action is not None and user.has_perm(f"patients.{action}_{view.permission_model}")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering a body nested past Python's recursion limit (`[[[[...]]]]`, which
    no client of ours sends) with a 400 rather than a RecursionError's 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply.") from None


def _strict(field_class, accepted, name):
    """A DRF field that refuses values of the wrong JSON type ("52" for a number, 7 for text),
    where DRF would convert them: the OpenAPI schema promises the type."""

    class Strict(field_class):
        def to_internal_value(self, data):
            if isinstance(data, bool) or not isinstance(data, accepted):
                raise serializers.ValidationError(f"Expected {name}.", code="invalid")
            return super().to_internal_value(data)

    Strict.__name__ = f"Strict{field_class.__name__}"
    return Strict


StrictCharField = _strict(serializers.CharField, str, "text")
StrictFloatField = _strict(serializers.FloatField, (int, float), "a number")
StrictIntegerField = _strict(serializers.IntegerField, int, "a whole number")
StrictDecimalField = _strict(serializers.DecimalField, (int, float), "a number")


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose text and number fields take only their own JSON type."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.FloatField: StrictFloatField,
        models.IntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.DecimalField: StrictDecimalField,
    }

    def get_fields(self):
        # Building fields from the model is about a fifth of reading one patient, and they are the
        # same for every instance of a class: build them once per class, hand each instance a copy.
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return copy.deepcopy(built)


class QueryParameters(serializers.Serializer):
    """Query parameters, checked strictly: a parameter given empty (`?to=`) is an error, not ignored."""

    def to_internal_value(self, data):
        blank = {name: ["Give a value or leave the parameter out."] for name in self.fields if data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This record already exists."
    default_code = "conflict"


def exception_handler(exc, context):
    """Every error as {"error": message}; bad input also names each field: {"fields": {name: [why]}}."""
    from rest_framework.views import exception_handler as drf_exception_handler  # it imports these settings

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": "Invalid input.", "fields": _as_field_errors(response.data)}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": str(response.data["detail"])}
    return response


def _as_field_errors(data):
    if isinstance(data, dict):
        return data
    return {"non_field_errors": data if isinstance(data, list) else [data]}


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(),
        required=False,
        help_text="Each bad field, and why (absent when the body is not JSON).",
    )


def error_responses(*codes):
    """OpenAPI responses for the errors an endpoint can answer with (always 401 and 403)."""
    responses = {401: ErrorSerializer, 403: ErrorSerializer}
    for code in codes:
        responses[code] = ValidationErrorSerializer if code == 400 else ErrorSerializer
    return responses


def api_path(route, view, name):
    """The route both without and with a trailing slash (the prototype's clients use neither form
    consistently), named once."""
    return [path(route, view, name=name), path(f"{route}/", view)]


def json_or_html(html_view, status_code, message):
    """An error view that answers JSON under /api/ and the site's HTML page elsewhere."""

    def view(request, *args, **kwargs):
        if request.path.startswith("/api/"):
            return JsonResponse({"error": message}, status=status_code)
        return html_view(request, *args, **kwargs)

    return view


not_found = json_or_html(defaults.page_not_found, 404, "Not found.")
server_error = json_or_html(defaults.server_error, 500, "Server error.")
bad_request = json_or_html(defaults.bad_request, 400, "Bad request.")
permission_denied = json_or_html(defaults.permission_denied, 403, "You do not have permission to perform this action.")


def undocumented_slash_twins(endpoints):
    """drf-spectacular hook: document each route once, without its trailing-slash twin."""
    paths = {path for path, *_ in endpoints}
    return [endpoint for endpoint in endpoints if not (endpoint[0].endswith("/") and endpoint[0][:-1] in paths)]
