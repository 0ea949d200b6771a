"""Benchmark: Civic over HTTP as it is deployed, every figure beside a trivial endpoint's latency
measured in the same run (the ratio is what compares across machines).

gunicorn (2 sync workers, DEBUG off, static files collected) serves the app on loopback against a
city of 200,000 cases (``seed_demo --scale 81 --staff`` and bench/cases.py's generator: 9 street
offices of ~22,000 cases each) with Redis as cache and broker, as production runs. Each figure is 50
sequential requests, each on a fresh connection, the figures interleaved; a first round warms up and
the median of the second is reported:

    trivial        GET /api/v1/auth/me/ (token)
    list           GET /api/v1/issues/cases/?page_size=25, a street officer's first page (token)  target 3x
    changelist     GET /admin/issues/case/, the same officer logged in (session)                  target 5x
    API report     POST /api/v1/issues/cases/, JSON without photo, a grid worker (token)          target 2x
    web report     POST /cases/report/, a resident logged in (session + CSRF)                     target 2x

with the SQL statements of each (the same request made once in this process). Then the overdue
sweep: ``manage.py escalate_overdue`` in a subprocess over the city's overdue cases, its wall time
against the time spent inside its SQL statements (target: at most 2x), with the notices it wrote and
its traffic to the broker. Nothing accumulates: the reports are deleted after the run, the swept cases
put back as they were and the broker's queue purged, so every run measures the same data.

(Not named http.py: Python puts a script's folder first on sys.path, and a bench/http.py would shadow
the standard library's http package for every script in bench/.)

Usage: DATABASE_URL=postgres://.../civic_bench_http REDIS_URL=redis://... .venv/bin/python bench/over_http.py
       [--cases 200000] [--grids 81] [--requests 50] [--sweeps 2] [--port 8113]
The exit status is 1 if a target is missed.
"""

import argparse
import http.client
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from importlib import import_module
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The server and this process share these: a session the server made is read here to count statements.
os.environ.update(DEBUG="0", SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
                  SECURE_HSTS_SECONDS="0", ALLOWED_HOSTS="127.0.0.1")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())
os.environ.setdefault("STATIC_ROOT", tempfile.mkdtemp(prefix="civic-bench-static-"))
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="civic-bench-media-"))

import django  # noqa: E402

django.setup()
logging.getLogger("axes").setLevel(logging.WARNING)  # a line per login otherwise

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from bench.city import (  # noqa: E402
    ensure_cases,
    ensure_categories,
    ensure_citizen,
    ensure_city,
    grid_point,
    scope_users,
)
from bench.measure import BrokerTraffic, Statements, purge_broker  # noqa: E402
from bench.server import serve, stop  # noqa: E402
from bench.timing import verdict  # noqa: E402
from bench.undo import NewRows, OverdueCases  # noqa: E402
from grid.demo import DEMO_PASSWORD  # noqa: E402
from issues.models import Category  # noqa: E402
from issues.selectors import case_list  # noqa: E402

HOST = "127.0.0.1"
PAGE = 25
TARGETS = {"list": 3.0, "changelist": 5.0, "api_report": 2.0, "web_report": 2.0}
SWEEP_RATIO = 2.0
SWEEP_MARK = "BENCH-SWEEP "


#
# HTTP, one fresh connection per request
#


class Session:
    """A client's credentials (a token, or cookies kept from the responses) over plain HTTP."""

    def __init__(self, port: int, *, token: str | None = None):
        self.port = port
        self.token = token
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds from opening the connection to the last byte)."""
        headers = {"Host": f"{HOST}:{self.port}", "Connection": "close", "Accept-Language": "zh-hans"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        start = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - start
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, content, elapsed

    def form(self, path: str, data: dict) -> tuple[int, bytes, float]:
        fields = {**data, "csrfmiddlewaretoken": self.cookies.get(settings.CSRF_COOKIE_NAME, "")}
        return self.request("POST", path, urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def log_in(self, username: str) -> None:
        """The portal's login form, as a browser sends it (its CSRF cookie first)."""
        status, _body, _s = self.request("GET", "/accounts/login/")
        assert status == 200, status
        status, body, _s = self.form("/accounts/login/", {"username": username, "password": DEMO_PASSWORD})
        assert status == 302 and settings.SESSION_COOKIE_NAME in self.cookies, (status, body[:300])


def _expect(status: int, session: Session, method: str, path: str, body=None, content_type=None):
    def call() -> float:
        got, content, seconds = session.request(method, path, body, content_type)
        assert got == status, (method, path, got, content[:300])
        return seconds

    return call


#
# The figures
#


class Figures:
    """The five requests, ready to be made over HTTP (and once in this process, to count statements)."""

    def __init__(self, port: int, officer, worker, citizen):
        self.officer, self.worker, self.citizen = officer, worker, citizen
        officer_token = Token.objects.get_or_create(user=officer)[0].key
        worker_token = Token.objects.get_or_create(user=worker)[0].key
        self.me_client = Session(port, token=officer_token)
        self.staff = Session(port)
        self.staff.log_in(officer.username)
        self.resident = Session(port)
        self.resident.log_in(citizen.username)
        status, body, _s = self.resident.request("GET", "/cases/report/")  # its CSRF cookie, as a browser gets it
        assert status == 200 and b"csrfmiddlewaretoken" in body, status
        self.reporter = Session(port, token=worker_token)
        category = Category.objects.get(code="bench-0")
        _grid, lat, lon = grid_point(worker)
        self.api_body = json.dumps({"category": category.pk, "description": "路灯不亮 bench", "lat": lat, "lon": lon})
        self.web_form = {"category": category.pk, "description": "井盖缺失 bench", "lat": lat, "lon": lon,
                         "address": ""}
        self.list_path = f"/api/v1/issues/cases/?page_size={PAGE}"
        self.calls = {
            "trivial": _expect(200, self.me_client, "GET", "/api/v1/auth/me/"),
            "list": _expect(200, self.me_client, "GET", self.list_path),
            "changelist": _expect(200, self.staff, "GET", "/admin/issues/case/"),
            "api_report": _expect(201, self.reporter, "POST", "/api/v1/issues/cases/", self.api_body.encode(),
                                  "application/json"),
            "web_report": self._web_report,
        }

    def _web_report(self) -> float:
        status, body, seconds = self.resident.form("/cases/report/", self.web_form)
        assert status == 302, (status, body[:300])
        return seconds

    def log_out(self) -> None:
        """Delete the two sessions the run logged in with."""
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for session in (self.staff, self.resident):
            store(session_key=session.cookies.get(settings.SESSION_COOKIE_NAME)).delete()

    def statements(self) -> dict[str, Statements]:
        """Each request once more, in this process through Django's test client with the same credentials."""
        def client(token=None, session: Session | None = None) -> Client:
            c = Client(HTTP_HOST=HOST, headers={"authorization": f"Token {token}"} if token else {})
            for name, value in (session.cookies if session else {}).items():
                c.cookies[name] = value
            return c

        requests = {
            "trivial": lambda: client(self.me_client.token).get("/api/v1/auth/me/"),
            "list": lambda: client(self.me_client.token).get(self.list_path),
            "changelist": lambda: client(session=self.staff).get("/admin/issues/case/"),
            "api_report": lambda: client(self.reporter.token).post("/api/v1/issues/cases/", self.api_body,
                                                                   content_type="application/json"),
            "web_report": lambda: client(session=self.resident).post("/cases/report/", self.web_form),
        }
        counted = {}
        for name, make in requests.items():
            make()  # warm, as the server's workers are
            with Statements(keep=True) as statements:
                response = make()
            assert response.status_code < 400, (name, response.status_code, response.content[:300])
            counted[name] = statements
        return counted


def measure(figures: Figures, requests: int) -> dict[str, list[float]]:
    """Two rounds of `requests` per figure, interleaved; the first warms up, the second is returned (ms)."""
    timings: dict[str, list[float]] = {}
    for _round in range(2):
        timings = {name: [] for name in figures.calls}
        for _ in range(requests):
            for name, call in figures.calls.items():
                timings[name].append(call() * 1000)
    return timings


#
# The sweep, in a subprocess
#


def sweep_child() -> int:
    """Run by the parent: manage.py escalate_overdue here, timed, and one line of JSON with the figures."""
    with Statements() as sql, BrokerTraffic() as broker:
        start = time.perf_counter()
        call_command("escalate_overdue", stdout=open(os.devnull, "w"))  # noqa: SIM115
        wall = time.perf_counter() - start
    print(SWEEP_MARK + json.dumps({"wall_s": wall, "sql_s": sql.seconds, "statements": sql.count,
                                   "messages": broker.messages, "redis": broker.redis_commands,
                                   "publish_s": broker.publish_seconds}))
    return 0


def sweep_once() -> dict:
    cases = OverdueCases()
    rows = NewRows()
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--sweep-child"], cwd=ROOT, env=dict(os.environ),
                              capture_output=True, text=True)
        process_s = time.perf_counter() - start
        lines = [line for line in done.stdout.splitlines() if line.startswith(SWEEP_MARK)]
        if done.returncode or not lines:
            sys.exit(f"The sweep's subprocess failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
                     f"{done.stderr[-3000:]}")
        result = json.loads(lines[-1].removeprefix(SWEEP_MARK))
        result.update(overdue=cases.count, process_s=process_s)
    finally:
        removed = rows.remove()
        cases.restore()
        purge_broker()
    result["removed"] = removed
    return result


#
# Report
#


def _statement_kinds(statements: Statements) -> str:
    return f"{statements.count} ({statements.kinds()})"


def report(timings: dict[str, list[float]], counted: dict[str, Statements], checks: list) -> None:
    labels = {
        "trivial": "GET /api/v1/auth/me/ (token)",
        "list": f"list API, first page of {PAGE} (token)",
        "changelist": "admin case changelist (session)",
        "api_report": "report through the API, JSON (token)",
        "web_report": "citizen's web report, form (session + CSRF)",
    }
    trivial = statistics.median(timings["trivial"])
    print(f"    {'figure':<46}{'median ms':>10}{'p90 ms':>8}{'x trivial':>11}{'target':>8}{'statements':>12}")
    for name, label in labels.items():
        values = sorted(timings[name])
        median, p90 = statistics.median(values), values[int(len(values) * 0.9) - 1]
        ratio = median / trivial
        target = TARGETS.get(name)
        print(f"    {label:<46}{median:>10.1f}{p90:>8.1f}{ratio:>10.2f}x{f'{target:g}x' if target else '':>8}"
              f"{counted[name].count:>12}")
        if target:
            checks.append((f"{label}: within {target:g}x of the trivial endpoint ({ratio:.2f}x)", ratio <= target))
    print("    statements of each request:")
    for name, label in labels.items():
        print(f"      {label}: {_statement_kinds(counted[name])}")


def report_sweep(results: list[dict], checks: list) -> None:
    result = results[-1]
    ratio = result["wall_s"] / result["sql_s"] if result["sql_s"] else float("inf")
    print(f"\nOverdue sweep: manage.py escalate_overdue in a subprocess over {result['overdue']:,} overdue cases, "
          f"{len(results)} runs, data restored after each (figures of the last):")
    for i, run in enumerate(results, 1):
        print(f"    run {i}: {run['wall_s']:.2f} s wall, {run['sql_s']:.2f} s inside {run['statements']} SQL "
              f"statements, {run['messages']:,} messages published ({run['publish_s']:.2f} s), "
              f"{run['redis']:,} Redis round trips; the subprocess took {run['process_s']:.1f} s in all")
    notices = result["removed"].get("civic.Notice", 0)
    print(f"    notices written (and deleted afterwards): {notices:,}; rows removed: {result['removed']}")
    print(f"    wall / SQL = {ratio:.2f} (target at most {SWEEP_RATIO:g})")
    checks.append((f"sweep with its notices: wall at most {SWEEP_RATIO:g}x its SQL time ({ratio:.2f}x)",
                   ratio <= SWEEP_RATIO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--grids", type=int, default=81)
    parser.add_argument("--households-per-grid", type=int, default=100)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--sweeps", type=int, default=2)
    parser.add_argument("--port", type=int, default=8113)
    parser.add_argument("--sweep-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_child:
        return sweep_child()
    if connection.vendor != "postgresql" or settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit("bench/http.py needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), as production runs.")
    try:
        return run(args)
    finally:
        for folder in (settings.STATIC_ROOT, settings.MEDIA_ROOT):
            if Path(folder).name.startswith("civic-bench-"):
                shutil.rmtree(folder, ignore_errors=True)


def run(args) -> int:
    call_command("migrate", verbosity=0)
    root = ensure_city(args.grids, args.households_per_grid)
    ensure_cases(root, args.cases, ensure_categories())
    users = scope_users(root)
    officer, worker, citizen = users["street"], users["grid"], ensure_citizen()
    call_command("collectstatic", interactive=False, verbosity=0)
    log = Path(settings.MEDIA_ROOT) / "gunicorn.log"
    server, url = serve(dict(os.environ), log, port=args.port, workers=2)
    checks: list[tuple[str, bool]] = []
    rows = NewRows()
    try:
        figures = Figures(args.port, officer, worker, citizen)
        in_scope = case_list(user=officer).count()
        print(f"\nOver HTTP at {url}: gunicorn, 2 sync workers, DEBUG off; {args.cases:,} cases; {officer.username} "
              f"sees {in_scope:,} of them; {args.requests} requests per figure, each on a fresh connection, figures "
              "interleaved; median of the second round (the first warms up); statements: the same request once in "
              "this process:")
        timings = measure(figures, args.requests)
        counted = figures.statements()
    finally:
        stop(server)
        removed = rows.remove()
        purge_broker()
        if "figures" in locals():
            figures.log_out()
    report(timings, counted, checks)
    print(f"    written by the run and deleted afterwards: {removed}")
    report_sweep([sweep_once() for _ in range(args.sweeps)], checks)
    print()
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
