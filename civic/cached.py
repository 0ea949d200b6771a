"""Small reference tables read on hot paths (the working calendar's days, the partners' webhooks),
kept in each process until any process says they changed.

A value is loaded once per process and version; the version lives in the shared cache (Redis in
production), so a change made by one process (a save in the admin, a management command) is seen by
every other on its next read: reading the version is a cache round trip, never a query.
"""

import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import transaction

__all__ = ["SharedVersion"]

T = TypeVar("T")


class SharedVersion(Generic[T]):
    def __init__(self, name: str, load: Callable[[], T]):
        self.key = f"civic:version:{name}"
        self.load = load
        self._version: str | None = None
        self._value: T | None = None

    def get(self) -> T:
        version = cache.get(self.key)
        if version is None:
            cache.add(self.key, uuid.uuid4().hex, None)
            version = cache.get(self.key)
        if version != self._version or self._value is None:
            self._value, self._version = self.load(), version
        return self._value

    def forget(self, **kwargs) -> None:
        """This process reloads on its next read, every other one once the change commits (a new version
        before the commit would let another process load, and keep, what it cannot see yet). Usable as a
        signal receiver: the signal's arguments are ignored."""
        self._value = None
        transaction.on_commit(self._bump)

    def _bump(self) -> None:
        cache.set(self.key, uuid.uuid4().hex, None)
