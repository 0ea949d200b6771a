"""A real Celery worker process, a real Redis broker and result backend: one task round-trip.

The worker runs in a child process on a queue of its own, so it cannot pick up anyone else's
tasks (nor anyone else's worker pick up ours). It uses no database: the worker would talk to the
real database, not pytest's test database, and the ping task touches none.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from celery.result import EagerResult

from civic.tasks import ping
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 15.0


def _wait_until_ready(proc: subprocess.Popen, nodename: str, log) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited early with code {proc.returncode}:\n{_read(log)}")
        if app.control.ping(destination=[nodename], timeout=0.5):
            return
    pytest.fail(f"worker {nodename} did not answer a ping within {READY_TIMEOUT:.0f}s:\n{_read(log)}")


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-4000:]


@pytest.mark.slow
@pytest.mark.services
def test_task_round_trip_through_a_real_worker(redis_url):
    uid = uuid.uuid4().hex[:12]
    queue = f"civic-test-{uid}"
    nodename = f"test-{uid}@civic-pytest"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": redis_url}
    cmd = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--pool=solo", "-l", "info", "-Q", queue, "-n", nodename,
        # Skip the start-up chatter with other workers: faster, and nothing else is relevant here.
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip

    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_until_ready(proc, nodename, log)

            result = ping.apply_async(queue=queue)
            # An eager result would prove nothing about the worker.
            assert not isinstance(result, EagerResult), "CELERY_TASK_ALWAYS_EAGER is on"
            assert result.get(timeout=15) == "pong", _read(log)
            result.forget()
        finally:
            proc.terminate()  # SIGTERM: warm shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            # Kombu keeps a binding record per queue; don't leave one behind per test run.
            with app.connection_for_write() as conn:
                conn.default_channel.client.delete(f"_kombu.binding.{queue}")
