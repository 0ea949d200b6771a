"""Celery tasks of the partners app: the request log's retention (daily, CELERY_BEAT_SCHEDULE)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from partners.models import ApiRequest

__all__ = ["prune_api_requests"]

PRUNE_BATCH = 10_000


@shared_task
def prune_api_requests() -> int:
    """Delete request-log rows older than API_REQUEST_LOG_DAYS, a batch at a time (short locks)."""
    before = timezone.now() - timedelta(days=settings.API_REQUEST_LOG_DAYS)
    deleted = 0
    while True:
        ids = list(ApiRequest.objects.filter(at__lt=before).order_by("at").values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += ApiRequest.objects.filter(pk__in=ids).delete()[0]
