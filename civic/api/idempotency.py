"""The Idempotency-Key request header: a UUID the client makes per write it may have to send again
(a phone's offline queue, a retry after a lost answer); the service stores the write once per user
and key, and hands back what the first copy stored."""

import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from civic.errors import AlreadyDone

__all__ = ["created_or_replayed", "idempotency_key", "idempotency_key_parameter"]

T = TypeVar("T")


def idempotency_key(request) -> uuid.UUID | None:
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return None
    try:
        return uuid.UUID(header.strip().strip('"'))
    except ValueError:
        raise ValidationError({"idempotency_key": _("The Idempotency-Key header must be a UUID.")}) from None


def idempotency_key_parameter(replay: str) -> OpenApiParameter:
    """The header in the schema; `replay` says what a second copy answers."""
    return OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                            description=f"A UUID the client makes per write it may send again: {replay}")


def created_or_replayed(create: Callable[[], T], respond: Callable[[T, int], Response]) -> Response:
    """Every create with an Idempotency-Key answers alike: 201 with what `create()` stored; or, when the
    service raised AlreadyDone (the client sent it before), 200 with what the first copy stored and the
    header Idempotent-Replayed: true. `respond(instance, status)` builds the response."""
    try:
        return respond(create(), status.HTTP_201_CREATED)
    except AlreadyDone as replay:
        response = respond(replay.instance, status.HTTP_200_OK)
        response["Idempotent-Replayed"] = "true"
        return response
