"""Real server and worker processes for tests: Django's dev server, gunicorn, a Celery worker.

Each runs as a child process with the environment the test gives it, is waited for until it answers,
and is stopped (SIGTERM, then SIGKILL) when the test is done; its output is shown when it fails.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0

__all__ = ["CeleryWorker", "celery_worker", "free_port", "process", "web_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-4000:]


@contextmanager
def process(cmd: list[str], env: dict, ready: Callable[[], bool], what: str) -> Iterator[Callable[[], str]]:
    """Run `cmd` until the block ends; `ready()` is polled until it is true. Yields a function that
    returns the process's output so far (for assertion messages)."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not ready():
                if proc.poll() is not None:
                    pytest.fail(f"{what} exited early with code {proc.returncode}:\n{_read(log)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{what} was not ready within {READY_TIMEOUT:.0f}s:\n{_read(log)}")
                time.sleep(0.2)
            yield lambda: _read(log)
        finally:
            proc.terminate()  # SIGTERM: a warm shutdown for gunicorn and Celery
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def web_server(kind: str, env: dict, *, workers: int = 2) -> Iterator[int]:
    """Django's dev server (`make run`'s) or gunicorn with sync workers, serving on a free port."""
    port = free_port()
    if kind == "runserver":
        cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    else:
        cmd = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
               "--worker-class", "sync"]
    with process(cmd, {**os.environ, **env}, lambda: _accepts(port), kind):
        yield port


@dataclass
class CeleryWorker:
    queue: str
    nodename: str
    output: Callable[[], str]


@contextmanager
def celery_worker(app, env: dict) -> Iterator[CeleryWorker]:
    """A worker (solo pool) on a queue of its own, so that it cannot pick up anyone else's tasks (nor
    anyone else's worker pick up ours)."""
    uid = uuid.uuid4().hex[:12]
    queue, nodename = f"civic-test-{uid}", f"test-{uid}@civic-pytest"
    cmd = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-l", "info", "-Q", queue,
        "-n", nodename,
        # Skip the start-up chatter with other workers: faster, and nothing else is relevant here.
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    try:
        with process(cmd, env, lambda: bool(app.control.ping(destination=[nodename], timeout=0.5)),
                     f"worker {nodename}") as output:
            yield CeleryWorker(queue, nodename, output)
    finally:
        # Kombu keeps a binding record per queue; don't leave one behind per test run.
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(f"_kombu.binding.{queue}")
