"""Celery tasks of the civic app: a health ping and the notices outbox (delivery and its sweep).

Tasks take ids, not model instances, and leave the work to civic.notices.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from civic.models import Notice
from civic.notices import NoticeDeliveryError, notice_deliver, notices_deliver

__all__ = ["deliver_notice", "deliver_notices", "ping", "retry_pending_notices"]

logger = logging.getLogger("civic.notices")

# deliver_notice's longest backoff between retries (seconds).
RETRY_BACKOFF_MAX = 600
# How long a freshly queued notice may wait for its on_commit enqueue before the sweep sends it.
ENQUEUE_GRACE = timedelta(minutes=1)
# How long a failed notice may wait for its own retry (the longest backoff plus queueing slack)
# before the sweep concludes the retry message was lost.
RETRY_GRACE = timedelta(seconds=RETRY_BACKOFF_MAX) + timedelta(minutes=5)
# Enough for one run of the sweep; the next run, five minutes later, takes the rest.
SWEEP_BATCH = 1000


@shared_task
def ping() -> str:
    """Answer "pong". It does nothing else: it exists to prove a worker round-trip (broker out,
    worker executes, result backend back), for health checks and the worker test."""
    return "pong"


@shared_task(
    acks_late=True,
    autoretry_for=(NoticeDeliveryError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=settings.NOTICE_MAX_ATTEMPTS,
)
def deliver_notice(notice_id: int) -> None:
    """Deliver one e-mail or SMS notice; retried with exponential backoff while the send fails.

    acks_late (with the project-wide reject_on_worker_lost) redelivers the message if the worker
    dies; that is safe because notice_deliver sends only a pending notice, never one already
    claimed as sending, so a redelivered or duplicate task cannot send twice.
    """
    notice_deliver(notice_id=notice_id)


@shared_task(acks_late=True)
def deliver_notices(notice_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of e-mail and SMS notices (one message for up to NOTICE_BATCH of them, see
    civic.notices.deliver_after_commit); each failed send is retried on its own with backoff.

    acks_late is safe for the same reason as deliver_notice's: a notice claimed once is never sent again.
    """
    retry = notices_deliver(notice_ids=notice_ids)
    for notice in retry:
        # The same backoff deliver_notice's own retries use: 2 ** attempts seconds, capped.
        deliver_notice.apply_async((notice.pk,), countdown=min(2 ** notice.attempts, RETRY_BACKOFF_MAX))
    return {"notices": len(notice_ids), "retried": len(retry)}


@shared_task
def retry_pending_notices() -> dict[str, int]:
    """The outbox sweep (every five minutes, CELERY_BEAT_SCHEDULE).

    * Re-enqueues pending e-mail/SMS notices whose task was lost: never attempted a minute after
      they were queued (the on_commit enqueue failed, e.g. the broker was down), or last attempted
      longer ago than any backoff retry would wait. A notice enqueued twice is still sent once.
    * Marks notices stuck in ``sending`` for longer than NOTICE_SENDING_TIMEOUT as failed and logs
      them: their worker died mid-send, so whether they went out is unknown and, by design, they are
      not re-sent (see civic.notices.notice_deliver). A person decides.
    """
    now = timezone.now()
    stale = Notice.objects.filter(
        status=Notice.Status.SENDING, attempted_at__lt=now - settings.NOTICE_SENDING_TIMEOUT
    )
    stale_ids = list(stale.values_list("pk", flat=True)[:SWEEP_BATCH])
    failed = 0
    if stale_ids:
        failed = Notice.objects.filter(pk__in=stale_ids, status=Notice.Status.SENDING).update(
            status=Notice.Status.FAILED,
            last_error="Stuck in sending (the worker stopped mid-send); delivery unknown, not re-sent.",
        )
        logger.warning("Notices stuck in sending, marked failed for a person to check: %s", stale_ids)

    lost = Notice.objects.filter(
        Q(attempts=0, created_at__lt=now - ENQUEUE_GRACE) | Q(attempts__gt=0, attempted_at__lt=now - RETRY_GRACE),
        status=Notice.Status.PENDING,
        channel__in=[Notice.Channel.EMAIL, Notice.Channel.SMS],
    ).order_by("created_at")
    lost_ids = list(lost.values_list("pk", flat=True)[:SWEEP_BATCH])
    requeued = 0
    for start in range(0, len(lost_ids), settings.NOTICE_BATCH):
        batch = lost_ids[start:start + settings.NOTICE_BATCH]
        try:
            deliver_notices.delay(batch)
        except Exception:  # noqa: BLE001 - one failed enqueue (or eager send) must not stop the sweep
            logger.exception("Could not enqueue %s notices; the next sweep tries again", len(batch))
        else:
            requeued += len(batch)
    return {"requeued": requeued, "failed": failed}
