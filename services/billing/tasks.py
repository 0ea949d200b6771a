"""Celery tasks of e-billing, run by beat (CELERY_BEAT_SCHEDULE in config/settings.py) or enqueued after
commit by services.billing.services and .gateway. Every one is safe to run twice: the outbox's dedupe
keys, conditional UPDATEs and settle-once payments make a second run find nothing left to do."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from civic.idempotency import idempotency_purge
from services.billing import gateway, services
from services.billing.models import Bill, IdempotencyRecord, Provider

__all__ = [
    "gateway_callback",
    "mark_overdue_bills",
    "notify_bills_due_soon",
    "notify_bills_issued",
    "purge_idempotency_records",
    "reconcile_providers",
    "requery_unknown_payments",
]

logger = logging.getLogger("services.billing")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notify_bills_issued(bill_ids: list[int]) -> int:
    count = 0
    for bill in Bill.objects.filter(pk__in=bill_ids, citizen__isnull=False).select_related("provider", "citizen"):
        services.bill_notify(bill, "issued")
        count += 1
    return count


@shared_task(acks_late=True, reject_on_worker_lost=True)
def gateway_callback(reference: str) -> None:
    """The simulated gateway calling us back (services.billing.gateway)."""
    gateway.callback_send(reference)


@shared_task
def purge_idempotency_records() -> int:
    """Idempotency keys are kept 24 hours (civic.idempotency.IDEMPOTENCY_KEEP), then go."""
    return idempotency_purge(model=IdempotencyRecord)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def requery_unknown_payments() -> dict[str, int]:
    """Gateway payments pending too long become unknown; every unknown one is asked about again."""
    timed_out = services.payments_mark_unknown()
    counts = services.payments_requery()
    counts["timed_out"] = timed_out
    if counts["still_unknown"]:
        logger.warning("%(still_unknown)d gateway payments are still unknown", counts)
    return counts


@shared_task(acks_late=True, reject_on_worker_lost=True)
def mark_overdue_bills() -> int:
    return services.bills_mark_overdue()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notify_bills_due_soon() -> int:
    return services.bills_notify_due_soon()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reconcile_providers(day: str | None = None) -> dict[str, int]:
    """Yesterday's reconciliation (or `day`'s, YYYY-MM-DD) for every provider: exceptions per provider."""
    from datetime import date

    target = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    result = {}
    for provider in Provider.objects.order_by("code"):
        run = services.reconcile(provider=provider, day=target)
        result[provider.code] = run.exceptions_count
    return result
