"""Beat tasks of booking (CELERY_BEAT_SCHEDULE): each scans what is due now, so a missed tick is caught up
by the next and nothing is scheduled as a far-future ETA task (which the Redis broker would redeliver).
Each is safe to run twice at once (SKIP LOCKED rows, conditional updates, reminder flags and the
notices' dedupe keys); the singleton lock only saves the duplicate work."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from civic.locks import singleton
from services.booking import services

__all__ = ["expire_holds", "generate_slots", "mark_no_shows", "schedule_follow_ups", "send_reminders"]

logger = logging.getLogger(__name__)


def _once(name: str, work) -> int:
    with singleton(f"booking:{name}", timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            logger.info("booking %s skipped: another run is in progress", name)
            return 0
        done = work()
    if done:
        logger.info("booking %s: %d", name, done)
    return done


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_holds() -> int:
    """Release held places whose hold lapsed (and offer them to the next in the waitlist)."""
    return _once("expire-holds", services.holds_expire)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_reminders() -> int:
    """The day-before and two-hours-before reminders that are due, each once."""
    return _once("reminders", services.reminders_send)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def mark_no_shows() -> int:
    return _once("no-shows", services.no_shows_mark_due)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def schedule_follow_ups() -> int:
    """Book the next appointment of every chronic follow-up plan falling due."""
    return _once("follow-ups", services.follow_ups_schedule)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generate_slots() -> int:
    """Keep BOOKING_HORIZON_DAYS working days of slots ahead, from the schedule templates."""
    days = services.working_days_ahead(settings.BOOKING_HORIZON_DAYS, first=timezone.localdate())
    return _once("slots", lambda: services.slots_generate(first=days[0], last=days[-1]))
