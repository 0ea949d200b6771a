"""ETag and If-Match for updates that race: two people editing the same household must not silently
overwrite each other.

A read of one object answers an ETag, a hash of the representation the reader got; an update sent
with `If-Match: <that ETag>` applies only if the object still reads the same, checked under a row
lock, else 412 and nothing changes. Without If-Match an update applies as before. (Cases carry a
version of their own instead: issues.api.views.case_etag, a stale one answers 409.)
"""

import hashlib
import json

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status

__all__ = ["ConditionalUpdateMixin", "IF_MATCH_PARAMETER", "PreconditionFailed", "representation_etag"]

IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False,
    description="The ETag of the object as read: the update applies only if it still reads the same (412 if not).",
)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object has changed since you read it (If-Match): reload it and try again.")
    default_code = "precondition_failed"


def representation_etag(data) -> str:
    """Weak: it stands for what this reader was shown (masking depends on the reader), not for bytes."""
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return f'W/"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    strip = lambda tag: tag.strip().removeprefix("W/")  # noqa: E731 - weak comparison, RFC 9110 8.8.3.2
    return strip(etag) in {strip(tag) for tag in header.split(",")}


class ConditionalUpdateMixin:
    """For a ModelViewSet: ETag on retrieve and update; If-Match checked on update under a row lock.

    The ETag is always that of the object as `retrieve` shows it, whatever serializer an update uses."""

    _lock_rows = False

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return queryset.select_for_update(of=("self",)) if self._lock_rows else queryset

    def _read_etag(self, instance) -> str:
        action, self.action = self.action, "retrieve"
        try:
            return representation_etag(self.get_serializer(instance).data)
        finally:
            self.action = action

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = representation_etag(response.data)
        return response

    def update(self, request, *args, **kwargs):
        with transaction.atomic():
            self._lock_rows = True
            expected = request.headers.get("If-Match")
            if expected is not None and not _matches(expected, self._read_etag(self.get_object())):
                raise PreconditionFailed
            response = super().update(request, *args, **kwargs)
            response["ETag"] = self._read_etag(self.get_object())
        return response
