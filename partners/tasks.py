"""Celery tasks of the partners app: webhook deliveries and their dispatch sweep, and the request
log's retention."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from civic.locks import singleton
from partners.delivery import delivery_attempt, delivery_claim, dispatch_due
from partners.models import ApiRequest

__all__ = ["deliver_webhook", "dispatch_webhooks", "prune_api_requests"]

logger = logging.getLogger("partners.webhooks")

PRUNE_BATCH = 10_000
# Waits up to this long are Celery countdowns; longer ones are left to the dispatch sweep, because the
# broker would hand a longer-delayed task out again after its visibility timeout (10 minutes).
COUNTDOWN_MAX = timedelta(minutes=5)
DISPATCH_LOCK = "partners:dispatch-webhooks"
DISPATCH_BATCH = 1000


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a delivery; on failure the next one is scheduled with exponential backoff.

    Safe to receive twice: only the worker that claims the pending delivery sends it."""
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return "not pending"
    wait = delivery_attempt(delivery)
    if wait is not None and wait <= COUNTDOWN_MAX:
        deliver_webhook.apply_async((delivery_id,), countdown=wait.total_seconds())
    return delivery.status


@shared_task
def dispatch_webhooks(grace_seconds: int = 60) -> int:
    """The dispatch sweep (every minute, CELERY_BEAT_SCHEDULE; also run after a large publish, with no
    grace): enqueue the deliveries that are due and whose task is not on its way."""
    with singleton(DISPATCH_LOCK, timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            return 0
        ids = dispatch_due(grace=timedelta(seconds=grace_seconds), limit=DISPATCH_BATCH)
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    if len(ids) == DISPATCH_BATCH:  # more are waiting: carry on at once rather than next minute
        dispatch_webhooks.delay(grace_seconds)
    return len(ids)


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
