"""Money-moving POSTs of the billing API through civic.idempotency: the Idempotency-Key header is
required (400 without it); the same key and body replays the first answer with Idempotent-Replayed:
true; the same key with another body is a 422; the same key still running is a 409."""

from collections.abc import Callable

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.response import Response

from civic.api.errors import exception_handler
from civic.idempotency import IdempotencyConflict, IdempotencyMismatch, idempotent_run, request_fingerprint
from partners.models import ApiKey
from services.billing.models import IdempotencyRecord

__all__ = ["IDEMPOTENCY_KEY_REQUIRED", "idempotent"]

IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
    description="Required, up to 255 characters (a UUID is best), one per payment the client means to make. "
                "The same key with the same body answers the first response again with Idempotent-Replayed: true; "
                "with another body 422; while the first is still running 409. Keys are kept 24 hours.",
)


class KeyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; try again shortly."
    default_code = "idempotency_in_progress"


class KeyMismatch(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with another request."
    default_code = "idempotency_key_mismatch"


def _caller(request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def idempotent(request, view, run: Callable[[], Response]) -> Response:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise exceptions.ValidationError({"idempotency_key": [_("This request needs an Idempotency-Key header.")]})
    if len(key) > 255 or not key.isprintable():
        raise exceptions.ValidationError({"idempotency_key": [_("The Idempotency-Key is at most 255 characters.")]})

    def execute():
        try:
            response = run()
        except Exception as exc:
            response = exception_handler(exc, {"view": view, "request": request})
            if response is None:
                raise
        return response.status_code, response.data, {}

    try:
        stored = idempotent_run(model=IdempotencyRecord, scope=_caller(request), key=key,
                                fingerprint=request_fingerprint(request.method, request.path, request.data),
                                run=execute)
    except IdempotencyConflict:
        raise KeyInProgress from None
    except IdempotencyMismatch:
        raise KeyMismatch from None
    response = Response(stored.body, status=stored.status, headers=stored.headers)
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
