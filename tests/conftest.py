"""Shared fixtures: a small city built with the real services, users posted at each level, and
helpers for tests that need PostgreSQL or Redis."""

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import CityBuilder
from tests.support.budgets import query_budget_checker


def pytest_collection_modifyitems(items):
    browser_tests = Path(__file__).parent / "browser"
    for item in items:
        if browser_tests in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def require_service(available: bool, what: str) -> None:
    """Skip when the service is absent; with CIVIC_REQUIRE_SERVICES=1 the skip becomes a failure."""
    if available:
        return
    if settings.CIVIC_REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (CIVIC_REQUIRE_SERVICES=1) but not configured")
    pytest.skip(f"{what} not configured")


@pytest.fixture
def query_budget():
    """``with query_budget("issues.cases.list"): ...`` fails above the budget in tests/query_budgets.json
    (tests/support/budgets.py)."""
    return query_budget_checker()


def pytest_sessionfinish(session):
    query_budget_checker.write_measured()  # only with UPDATE_QUERY_BUDGETS=1


@pytest.fixture
def deliver_notices_in_process(monkeypatch):
    """Send e-mail/SMS notices in this process whatever the broker, so that a test can read what was
    sent even when REDIS_URL points Celery at a real broker (CI); the worker round trip has its own test.
    (In-app notices need nothing: they are rows.)"""
    from civic.tasks import deliver_notice, deliver_notices

    for task in (deliver_notice, deliver_notices):
        monkeypatch.setattr(task, "delay", lambda *args, task=task, **kwargs: task.apply(args, kwargs))


@pytest.fixture
def tasks_in_process():
    """Run every Celery task in this process when it is sent, as without a broker, for tests that read
    what a chain of tasks did (a payment settled by the gateway's callback task): CI has Redis as the
    broker and no worker. The worker round trip has its own tests (tests/civic/test_celery_worker.py)."""
    from config.celery import app

    # The app reads its settings under the CELERY_ namespace (config/celery.py).
    eager = app.conf.task_always_eager
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    yield
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=eager)


@pytest.fixture
def postgres():
    require_service(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    require_service(bool(url), "Redis (REDIS_URL)")
    return url


@pytest.fixture
def city(db):
    return CityBuilder().build()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """A fast hasher for every test (a live server shares these settings): the test city's ten users
    cost seconds each time with the real one, and no test is about the hashing itself. The real one
    stays second, to check hashes made outside a test (the demo accounts' shared hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    """Each test its own cache key space: rate-limit counts and locks never carry over from another
    test, another run (primary keys repeat) or another process sharing the Redis database."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploads (case photos, demo photos) go to a per-test folder, never into the repository."""
    settings.MEDIA_ROOT = tmp_path / "media"
