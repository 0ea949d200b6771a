"""Reads that may come from a PostgreSQL replica.

With ``DATABASE_REPLICA_URL`` set, settings add a second database alias, ``replica``, and install
``ReplicaRouter``. Only code that asks for it reads there — the command centre's figures and the
exports, wrapped in ``replica_reads()`` — because everything else must see its own writes at once
(a case page right after an action). Writes and migrations always go to ``default``.

Without the setting there is no alias and ``replica_reads()`` changes nothing, so the same code runs
on one machine. Inside a transaction on ``default`` reads stay there too: a transaction must see
what it wrote.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["REPLICA", "ReplicaRouter", "read_alias", "replica_reads"]

REPLICA = "replica"
_reading_replica: ContextVar[bool] = ContextVar("civic_reading_replica", default=False)


def _configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within the block, ORM reads (and ``read_alias()``) use the replica when one is configured."""
    token = _reading_replica.set(True)
    try:
        yield
    finally:
        _reading_replica.reset(token)


def read_alias() -> str:
    """The alias reads go to now: for raw SQL, which no router sees."""
    if _reading_replica.get() and _configured() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return REPLICA
    return DEFAULT_DB_ALIAS


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one set of data: the replica is a copy of default

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
