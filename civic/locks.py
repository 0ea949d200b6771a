"""A lock that lets one caller at a time do a piece of periodic work (a beat task, its management
command): a second caller learns at once that the work is in hand and returns, rather than waiting.

The work itself must still be safe to run twice (row locks, unique constraints): the lock only saves
the second run its effort, it is not what keeps the data right.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

__all__ = ["singleton"]

logger = logging.getLogger("civic.locks")


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
