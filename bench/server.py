"""The app served as in production, on loopback, for the benchmarks that measure over HTTP: gunicorn
started in its own process group, ready once /healthz answers, stopped with the whole group."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["free_port", "serve", "stop"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict, log: Path, *, port: int | None = None, workers: int = 2,
          threads: int = 1) -> tuple[subprocess.Popen, str]:
    """gunicorn on loopback (a free port unless given); one thread per worker is gunicorn's sync
    worker. Its log (django-axes is chatty) goes to `log`."""
    port = port or free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
             "--threads", str(threads), "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}; its log:\n{log.read_text()[-3000:]}")
        try:
            # With a broker, /healthz pings the Celery workers for a second: give it time.
            with urllib.request.urlopen(f"{url}/healthz", timeout=10):
                return process, url
        except OSError:
            time.sleep(0.2)
    stop(process)
    sys.exit(f"gunicorn did not answer /healthz within two minutes; its log:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)
