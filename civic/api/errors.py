"""One JSON shape for every API error, whatever raised it.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"name": ["..."]}}}

Domain code raises Django's ValidationError/PermissionDenied/ProtectedError, or a ConflictError
subclass (e.g. issues.services.StaleVersion); they are mapped here so that services stay free of
HTTP concerns.
"""


from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from civic.errors import ConflictError
from civic.ratelimit import RateLimited

__all__ = ["ConflictError", "ErrorSerializer", "error_body", "exception_handler"]



class ErrorBodySerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def error_body(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    """The one shape, also for answers given outside DRF (civic.middleware)."""
    body = {"status": status, "code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


def _from_django(exc):
    if isinstance(exc, RateLimited):
        return exceptions.Throttled(wait=exc.retry_after)
    if isinstance(exc, ConflictError):
        return Conflict(str(exc) or str(exc.message), code=exc.error_code())
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        return Conflict(_("The object is still referenced by other records."), code="protected")
    if isinstance(exc, IntegrityError):
        return Conflict(_("The change conflicts with existing data."), code="conflict")
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) if isinstance(item, (dict, list)) else str(item) for item in detail]
    return [str(detail)]


def exception_handler(exc, context):
    exc = _from_django(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code, message, fields = "error", "", None
    if isinstance(exc, exceptions.ValidationError):
        code, message = "invalid", _("The request is not valid.")
        fields = _flatten(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code, message = codes if isinstance(codes, str) else "error", str(exc.detail)
    body = error_body(response.status_code, code, message, fields)
    return Response(body, status=response.status_code, headers=response.headers)
