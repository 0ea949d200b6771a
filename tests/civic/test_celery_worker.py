"""A real Celery worker process, a real Redis broker and result backend: one task round-trip.

The worker runs in a child process on a queue of its own (tests.support.processes). It uses no
database: the worker would talk to the real database, not pytest's test database, and the ping task
touches none.
"""

import pytest
from celery.result import EagerResult

from civic.tasks import ping
from config.celery import app
from tests.support.processes import celery_worker


@pytest.mark.slow
@pytest.mark.services
def test_task_round_trip_through_a_real_worker(redis_url):
    with celery_worker(app, {"REDIS_URL": redis_url}) as worker:
        result = ping.apply_async(queue=worker.queue)
        # An eager result would prove nothing about the worker.
        assert not isinstance(result, EagerResult), "CELERY_TASK_ALWAYS_EAGER is on"
        assert result.get(timeout=15) == "pong", worker.output()
        result.forget()
