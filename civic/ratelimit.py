"""Rate limits kept in the cache (Redis in production, so every web process and worker counts together).

A limit of N per window is N slots: a use takes a free slot, which stays taken for one window. So at
most N uses fall in any window-long stretch of time (a fixed window would let 2N through across its
edge), and taking a slot is one atomic ``cache.add``. Callers count attempts, not successes: the
answer to "may I?" must not depend on what the attempt would have found (a known phone number, an
ID number already registered), or the limit itself becomes the oracle it guards against.
"""

import logging
import math
import time
from datetime import timedelta

from django.core.cache import cache
from django.utils.crypto import salted_hmac

from civic.audit import audit_refusal

__all__ = ["RateLimited", "ratelimit_hit"]

logger = logging.getLogger("civic.ratelimit")


class RateLimited(Exception):
    """Too many uses: try again in ``retry_after`` seconds (the API answers 429 with Retry-After)."""

    def __init__(self, scope: str, retry_after: int):
        super().__init__(f"{scope}: retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def _digest(scope: str, key: str) -> str:
    # Keys are phone numbers, addresses, user ids: the cache keeps only a keyed digest of them.
    return salted_hmac("civic.ratelimit", f"{scope}\0{key}", algorithm="sha256").hexdigest()[:32]


def ratelimit_hit(scope: str, key: str, *, limit: int, window: timedelta, cost: int = 1, actor=None) -> None:
    """Take `cost` slots of `limit` for `key` in `scope`, or raise RateLimited when they are not free.

    The first refusal of a lock-out is logged, and written to the audit log (with `actor` when given);
    the key itself is never written anywhere, only its digest.
    """
    seconds = max(1, int(window.total_seconds()))
    base = f"ratelimit:{scope}:{_digest(scope, key)}"
    slots = [f"{base}:{i}" for i in range(limit)]
    now = time.time()
    taken = cache.get_many(slots)
    needed = cost
    for slot in slots:
        if needed == 0:
            return
        if slot not in taken and cache.add(slot, now + seconds, seconds):
            needed -= 1
    if needed == 0:
        return
    expiries = [value for value in cache.get_many(slots).values() if isinstance(value, (int, float))]
    retry_after = max(1, math.ceil(min(expiries, default=now + seconds) - now))
    if cache.add(f"{base}:refused", 1, retry_after):
        logger.warning("Rate limit %s (%d per %d s) reached for key %s", scope, limit, seconds, base[-32:])
        audit_refusal(actor=actor, action="ratelimit.refused", summary=scope,
                      detail={"scope": scope, "key_digest": base[-32:], "limit": limit, "window_seconds": seconds})
    raise RateLimited(scope, retry_after)
