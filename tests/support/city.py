"""Rows built once and shared by many tests: the fixture pattern every test package uses.

Building tests.factories.CityBuilder's city through the real services takes about a second; a module
(or package) of small tests builds it once with ``built_once`` and each test gets fresh instances of
it with ``restore``:

    @pytest.fixture(scope="module")
    def _city(django_db_setup, django_db_blocker):
        with built_once(django_db_blocker, CityBuilder().build) as snapshot:
            yield snapshot

    @pytest.fixture
    def city(db, _city):
        return restore(_city)

How it works: ``built_once`` opens an outer transaction, builds the rows in it and keeps it open while
the tests run; each test runs in its own savepoint on top (pytest-django's ``db``), so what a test
changes is undone after it, and the outer transaction is rolled back at the end, leaving the database
empty. The rows are handed over as a snapshot of primary keys, not as objects: ``restore`` loads fresh
instances for each test, so that state cached on a Python object (a user's grants) never leaks from one
test into the next.

Not for tests that need committed rows (races between real connections,
``django_db(transaction=True)``): other connections cannot see an open transaction. Those build their
own city with the function-scoped ``city`` fixture of tests/conftest.py.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Model
from django.test import override_settings

__all__ = ["FAST_HASHERS", "built_once", "restore", "snapshot"]

# The users built once keep their hashes for the whole module: every test must accept these.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def snapshot(built: SimpleNamespace) -> SimpleNamespace:
    """The same namespace with every model instance (directly, or in a dict) replaced by (model, pk)."""

    def keys(value):
        if isinstance(value, Model):
            return type(value), value.pk
        if isinstance(value, dict):
            return {key: keys(item) for key, item in value.items()}
        return value

    return SimpleNamespace(**{name: keys(value) for name, value in vars(built).items()})


def restore(snap: SimpleNamespace) -> SimpleNamespace:
    """Fresh instances for a snapshot: one query per model."""
    wanted: dict[type[Model], set] = defaultdict(set)

    def collect(value):
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], type):
            wanted[value[0]].add(value[1])
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    for value in vars(snap).values():
        collect(value)
    loaded = {model: model._default_manager.in_bulk(pks) for model, pks in wanted.items()}

    def instance(value):
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], type):
            return loaded[value[0]][value[1]]
        if isinstance(value, dict):
            return {key: instance(item) for key, item in value.items()}
        return value

    return SimpleNamespace(**{name: instance(value) for name, value in vars(snap).items()})


@contextmanager
def built_once(django_db_blocker, build: Callable[[], SimpleNamespace]) -> Iterator[SimpleNamespace]:
    """Run ``build`` in an outer transaction kept open until the block ends, then rolled back."""
    outer = ExitStack()
    with django_db_blocker.unblock():
        outer.enter_context(transaction.atomic())
        # Registered after the transaction, so it runs first on close: the exit then rolls back.
        outer.callback(transaction.set_rollback, True)
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
                built = snapshot(build())
        except BaseException:
            outer.close()
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            outer.close()
