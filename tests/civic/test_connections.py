"""The database connection policy (README "Configuration"), measured on real processes against
PostgreSQL: who may keep a connection open between requests or tasks, and how many.

* Django's dev server (`make run`) starts a thread per client connection and never closes a thread's
  database connection: with persistent connections each request thread kept one until PostgreSQL
  refused clients. Under runserver CONN_MAX_AGE is 0, whatever the environment says.
* Elsewhere CONN_MAX_AGE comes from the environment, 0 by default: a connection per request.
* gunicorn's sync workers serve one request at a time: with CONN_MAX_AGE > 0 each keeps one
  connection, so a burst leaves at most one per worker.
* Celery's Django fixup closes a task's connection after the task unless CONN_MAX_AGE lets it live:
  none is left after a task by default, one per pool process with CONN_MAX_AGE > 0.

Each process gets its own PostgreSQL application_name (libpq's PGAPPNAME), and the test counts the
connections pg_stat_activity shows under that name.
"""

import http.client
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection

from civic.tasks import retry_pending_notices
from config.celery import app
from tests.support.processes import celery_worker, web_server

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

BURST = 20  # clients at once, each keeping its socket open until the connections are counted


def _environment(**extra) -> dict:
    """The child process's settings: this test database, its own application name, no Redis unless given."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {"DATABASE_URL": url, "PGAPPNAME": f"civic-test-{uuid.uuid4().hex[:12]}", "REDIS_URL": "",
           "CONN_MAX_AGE": ""}
    env.update({key: str(value) for key, value in extra.items()})
    if not env["CONN_MAX_AGE"]:
        del env["CONN_MAX_AGE"]  # the default
    return env


def _connections(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return cursor.fetchone()[0]


def _settled(application_name: str, at_most: int, timeout: float = 3.0) -> int:
    """The count once it is at most `at_most`, or what it still is after `timeout` (closing takes a moment)."""
    deadline = time.monotonic() + timeout
    while (count := _connections(application_name)) > at_most and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def _burst(port: int) -> list[http.client.HTTPConnection]:
    """BURST clients at once, each asking /healthz (which queries the database) and keeping its socket."""
    clients, statuses, lock = [], [], threading.Lock()

    def ask():
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        client.request("GET", "/healthz")
        response = client.getresponse()
        response.read()
        with lock:
            clients.append(client)
            statuses.append(response.status)

    threads = [threading.Thread(target=ask) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * BURST
    return clients


@pytest.mark.parametrize("conn_max_age", ["", "60"], ids=["default", "60-in-the-environment"])
def test_the_dev_server_keeps_no_connection_per_thread(postgres, conn_max_age):
    env = _environment(CONN_MAX_AGE=conn_max_age)
    with web_server("runserver", env) as port:
        clients = _burst(port)
        try:
            assert _settled(env["PGAPPNAME"], at_most=1) <= 1  # was one per request thread: 20 here
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize(("conn_max_age", "kept"), [("", 0), ("60", 2)], ids=["default", "persistent"])
def test_gunicorn_sync_workers_keep_at_most_one_connection_each(postgres, conn_max_age, kept):
    env = _environment(CONN_MAX_AGE=conn_max_age)
    with web_server("gunicorn", env, workers=2) as port:
        for client in _burst(port):
            client.close()
        count = _settled(env["PGAPPNAME"], at_most=kept)
        if kept:
            assert 1 <= count <= kept  # reused: at most one per worker however many requests came
        else:
            assert count == 0


@pytest.mark.parametrize(("conn_max_age", "kept"), [("", 0), ("60", 1)], ids=["default", "persistent"])
def test_a_celery_worker_keeps_at_most_one_connection_per_pool_process(postgres, redis_url, conn_max_age, kept):
    env = _environment(CONN_MAX_AGE=conn_max_age, REDIS_URL=redis_url)
    with celery_worker(app, env) as worker:
        for _ in range(3):
            result = retry_pending_notices.apply_async(queue=worker.queue)
            assert result.get(timeout=15) == {"requeued": 0, "failed": 0}, worker.output()
            result.forget()
        assert _settled(env["PGAPPNAME"], at_most=kept) == kept, worker.output()
