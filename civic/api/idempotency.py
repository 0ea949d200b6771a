"""The Idempotency-Key request header: a UUID the client makes per write it may have to send again
(a phone's offline queue, a retry after a lost answer); the service stores the write once per user
and key, and hands back what the first copy stored."""

import uuid

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter

__all__ = ["idempotency_key", "idempotency_key_parameter"]


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
