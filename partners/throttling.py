"""Per-key rate limits, counted in the cache (Redis in production, so every web process shares them).

A fixed window per key: the first request of a window creates its counter (`cache.add`), every
request increments it (`cache.incr`, atomic in Redis), and the counter expires with its window. Two
cache round trips per request, whatever the rate; at a window's edge a key may make up to twice its
rate within one period, which a limit meant to protect the service can accept.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from partners.keys import parse_rate
from partners.models import ApiKey

__all__ = ["ApiKeyRateThrottle", "throttle_wait"]

logger = logging.getLogger("partners.throttling")


def _rate(key: ApiKey) -> tuple[int, int]:
    return parse_rate(key.rate or settings.API_KEY_DEFAULT_RATE)


def throttle_wait(key: ApiKey) -> int | None:
    """Count one request of the key; the seconds until it may try again when over its rate, else None."""
    limit, period = _rate(key)
    now = time.time()
    window = int(now // period)
    # The hash, not the id: ids repeat across databases (a test run, a restored copy) sharing one Redis.
    name = f"partners:rate:{key.key_hash[:32]}:{period}:{window}"
    try:
        cache.add(name, 0, timeout=period + 1)
        try:
            count = cache.incr(name)
        except ValueError:  # the counter expired between add and incr: this is the window's first request
            cache.add(name, 1, timeout=period + 1)
            count = 1
    except Exception:  # noqa: BLE001 - the cache being down must not take the API down with it
        logger.warning("Rate limit not counted: the cache is unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


class ApiKeyRateThrottle(BaseThrottle):
    """DRF's throttle for requests authenticated by a key; others are not counted here."""

    def allow_request(self, request, view):
        key = request.auth
        self._wait = throttle_wait(key) if isinstance(key, ApiKey) else None
        return self._wait is None

    def wait(self):
        return self._wait
