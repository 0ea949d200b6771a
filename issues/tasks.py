"""Celery tasks of the issues app: the overdue sweep, run by beat every minute (CELERY_BEAT_SCHEDULE).

The work itself is issues.sweep.escalate_overdue, which is safe to run twice at once (see there). The
task adds a singleton lock only so that two beat ticks, or a tick and ``manage.py escalate_overdue``,
do not both do the same work: the second one returns at once and the next tick carries on.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

from issues.sweep import escalate_overdue

__all__ = ["SWEEP_LOCK", "escalate_overdue_cases", "singleton"]

logger = logging.getLogger("issues.sweep")

SWEEP_LOCK = "issues:escalate-overdue"


def _redis_lock(name: str, timeout: int):
    """A redis-py lock when the cache is Redis (django-redis's ``cache.lock`` or Django's own backend)."""
    if hasattr(cache, "lock"):  # django-redis
        return cache.lock(name, timeout=timeout)
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(name)
        return cache._cache.get_client(key, write=True).lock(key, timeout=timeout)
    return None


@contextmanager
def singleton(name: str, *, timeout: int) -> Iterator[bool]:
    """Yield True if this caller holds the lock `name` (for at most `timeout` seconds), False if another does.

    On Redis a redis-py lock (released only by its owner, atomically); on other caches an entry
    written with ``cache.add``, which only one caller can create. The timeout frees a lock whose
    holder died; it is the task's hard time limit, so a live holder never outlasts it.
    """
    lock = _redis_lock(name, timeout)
    if lock is not None:
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                from redis.exceptions import LockError

                try:
                    lock.release()
                except LockError:  # it expired meanwhile (and may be someone else's now): nothing to free
                    logger.warning("The lock %s had expired before its release", name)
        return
    token = uuid.uuid4().hex
    acquired = cache.add(name, token, timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(name) == token:
            cache.delete(name)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate_overdue_cases() -> dict[str, int]:
    """Escalate every overdue case one level up, flag those already at the district; returns the counts.

    acks_late is safe: a redelivered run finds nothing left to do for the cases the first one
    committed (their deadlines moved), and the timeline's unique (case, expired deadline) backs that up.
    """
    with singleton(SWEEP_LOCK, timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            logger.info("Overdue sweep skipped: another sweep is running")
            return {"escalated": 0, "flagged": 0, "skipped": 1}
        counts = escalate_overdue()
    if counts["escalated"] or counts["flagged"]:
        logger.info("Overdue sweep: %(escalated)d cases escalated, %(flagged)d flagged to the command centre", counts)
    else:
        logger.debug("Overdue sweep: nothing overdue")
    return counts
