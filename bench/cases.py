"""Benchmark: cases at city scale, on PostgreSQL, with the city's staff in place.

    (a) the overdue sweep (issues.sweep.escalate_overdue) over every overdue case, with the notices it
        writes to the staff of the new level and the hand-off of their delivery to the broker (the
        on-commit callbacks, run before the rollback as a commit would run them): wall time against
        the time spent inside SQL statements, statements, notices written, messages published and
        Redis round trips. Target: wall at most 2x SQL. And against a row-by-row loop doing the same
        work case by case, hand-off included (run on a sample and scaled up; the output says so).
        Target: 50x faster.
    (b) the scoped case list.
        (1) first page of 50 filtered by status, for a street officer and the district commander: ours
        (issues.selectors.case_list) against hand-written SQL of the same query, grant lookup included
        in both. Target: within 2x.
        (2) the list's common shapes (newest first, a status, overdue first by deadline, a category)
        for a grid worker, a community director, a street officer and a district commander, through
        the API's own view in this process: the first page and the page 20 cursors deep, each with
        the database time of its SQL from EXPLAIN (ANALYZE, BUFFERS), the rows its scans of the cases
        read against those it returned, the buffers; the count and its cost; the request's time
        beside GET /api/v1/auth/me/'s. Target: at most 5 ms in the database for every page.
    (c) writes. Case creation through the API in this process, cases per second, with and without a
        photo (rolled back). The SQL statements of a report through the API (JSON, token) and of a
        citizen's report through the portal's form (session, CSRF), each request's time beside
        GET /api/v1/auth/me/'s; these commit, and what they wrote is deleted afterwards. Target: at
        most 12 statements each.

Cases are generated once (SQL, about a minute) on the synthetic city of ``seed_demo --scale N --staff``;
every measurement that writes is rolled back or undone, so runs are repeatable. Needs Redis (REDIS_URL)
as the broker: the sweep's hand-off to it is measured; its queue is purged afterwards.

Usage: DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/cases.py [--cases 1000000]
       [--grids 10000] [--households-per-grid 100] [--sample 10000] [--runs 50] [--create 200]
       [--parts sweep,list,shapes,writes]
"""

import argparse
import io
import logging
import os
import string
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Measure as production runs: with DEBUG on, Django records every query.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()
# Whitenoise warns that static files were never collected: this process serves none.
warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
logging.getLogger("axes").setLevel(logging.WARNING)  # a line per login otherwise

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Max  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate  # noqa: E402

from bench.city import (  # noqa: E402
    ensure_cases,
    ensure_categories,
    ensure_citizen,
    ensure_city,
    grid_point,
    scope_users,
)
from bench.measure import BrokerTraffic, Statements, explain, purge_broker, run_on_commit_now  # noqa: E402
from bench.timing import interleaved_medians, verdict  # noqa: E402
from bench.undo import NewRows  # noqa: E402
from civic.models import Notice  # noqa: E402
from civic.notices import notice_queue  # noqa: E402
from civic.workcal import add_working_time  # noqa: E402
from grid.models import GridNode, Level, Post, Role  # noqa: E402
from grid.permissions import forget_grants  # noqa: E402
from issues.api.views import CaseViewSet  # noqa: E402
from issues.models import OPEN_STATUSES, Case, CaseEvent, Category, Status  # noqa: E402
from issues.selectors import case_list  # noqa: E402
from issues.sweep import escalate_overdue  # noqa: E402

PAGE = 50
LIST_STATUS = Status.DISPATCHED
LIST_URL = "/api/v1/issues/cases/"
ME_URL = "/api/v1/auth/me/"
DEEP = 20  # cursors followed to the deep page
PAGE_DB_MS = 5.0
SWEEP_RATIO = 2.0
WRITE_STATEMENTS = 12


class Rollback(Exception):
    """Raised to leave a measured transaction without keeping its writes."""


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


#
# (a) the sweep
#


def _measure_in_rollback(fn):
    """Run fn in a transaction that is rolled back; returns (result, seconds, statements)."""
    result, elapsed, statements = None, 0.0, [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    try:
        with transaction.atomic(), connection.execute_wrapper(count):
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            raise Rollback
    except Rollback:
        pass
    return result, elapsed, statements[0]


def _row_by_row(limit: int) -> int:
    """What the sweep replaces: each overdue case loaded, moved, logged and announced on its own."""
    now = timezone.now()
    overdue = Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=now, flagged_at__isnull=True)
    done = 0
    for case in overdue.select_for_update().select_related("category", "grid", "handling_node")[:limit]:
        expired, from_level = case.due_at, case.handling_level
        if case.handling_department_id or case.handling_level > Level.DISTRICT:
            case.handling_level = Level.DISTRICT if case.handling_department_id else case.handling_level - 1
            case.handling_node = GridNode.objects.get(path=case.grid_path[: GridNode.steplen * case.handling_level])
            case.handling_department = None
            case.status, case.escalation_count = Status.DISPATCHED, case.escalation_count + 1
            case.due_at = add_working_time(now, case.category.resolve_within)
            action, template = "escalate", "issues/case_escalated"
        else:
            case.flagged_at = now
            action, template = "flag", "issues/case_overdue_flagged"
        case.version += 1
        case.save()
        CaseEvent.objects.create(case=case, action=action, from_status=case.status, to_status=case.status,
                                 from_level=from_level, to_level=case.handling_level, expired_deadline=expired)
        context = {"reference": case.reference, "category": case.category.name, "grid": case.grid.name,
                   "level": str(Level(case.handling_level).label)}
        for post in Post.objects.select_related("user").filter(node=case.handling_node).exclude(
                role=Role.DEPARTMENT_STAFF):
            notice_queue(recipient=post.user, template=template, context=context,
                         dedupe_key=f"case:{case.pk}:{action}:{case.version}:{post.user_id}")
        done += 1
    return done


def _sweep_with_handoff() -> dict:
    """The sweep and the delivery hand-off its commit would trigger, in a transaction rolled back."""
    result = {}
    try:
        with transaction.atomic():
            last_notice = Notice.objects.aggregate(top=Max("pk"))["top"] or 0
            with Statements() as sql, BrokerTraffic() as broker:
                start = time.perf_counter()
                result["counts"] = escalate_overdue()
                result["callbacks"] = run_on_commit_now()
                result["wall_s"] = time.perf_counter() - start
            result.update(sql_s=sql.seconds, statements=sql.count, messages=broker.messages,
                          redis=broker.redis_commands, publish_s=broker.publish_seconds)
            result["notices"] = dict(Notice.objects.filter(pk__gt=last_notice).values_list("channel")
                                     .annotate(n=Count("pk")).order_by("channel"))
            raise Rollback
    except Rollback:
        pass
    purge_broker()
    return result


def bench_sweep(sample: int) -> dict:
    overdue = Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=timezone.now(), flagged_at__isnull=True)
    total = overdue.count()
    ours = _sweep_with_handoff()

    def row_by_row():
        done = _row_by_row(sample)
        run_on_commit_now()  # its notices' hand-off too
        return done

    done, loop_s, loop_statements = _measure_in_rollback(row_by_row)
    purge_broker()
    scaled = loop_s * total / max(done, 1)
    return {"overdue": total, **ours, "sample": done, "loop_s": loop_s, "loop_statements": loop_statements,
            "loop_scaled_s": scaled, "ratio": scaled / ours["wall_s"] if ours["wall_s"] else float("inf")}


def report_sweep(sweep: dict, checks: list) -> None:
    print(f"\n(a) Overdue sweep over {sweep['overdue']:,} overdue cases (of {Case.objects.count():,}), staff in place, "
          "rolled back:")
    other = sweep["wall_s"] - sweep["sql_s"]
    notices = ", ".join(f"{n:,} {channel}" for channel, n in sweep["notices"].items()) or "none"
    print(f"    ours: {sweep['wall_s']:.2f} s wall, {sweep['sql_s']:.2f} s inside {sweep['statements']} SQL "
          f"statements, {other:.2f} s outside them {sweep['counts']}")
    print(f"    notices written: {notices}")
    print(f"    delivery hand-off: {sweep['callbacks']} on-commit callbacks, {sweep['messages']:,} messages published "
          f"({sweep['publish_s']:.2f} s), {sweep['redis']:,} Redis round trips")
    ratio = sweep["wall_s"] / sweep["sql_s"] if sweep["sql_s"] else float("inf")
    print(f"    wall / SQL = {ratio:.2f} (target at most {SWEEP_RATIO:g})")
    print(f"    row by row: {sweep['loop_s']:.2f} s for a sample of {sweep['sample']:,} cases in "
          f"{sweep['loop_statements']:,} statements, scaled to all: {sweep['loop_scaled_s']:.0f} s")
    print(f"    ours is {sweep['ratio']:.0f}x faster (target 50x); both rolled back.")
    checks.append(("sweep at least 50x faster than row by row", sweep["ratio"] >= 50))
    checks.append((f"sweep with its notices: wall at most {SWEEP_RATIO:g}x its SQL time ({ratio:.2f}x)",
                   ratio <= SWEEP_RATIO))


#
# (b1) the scoped list against hand-written SQL
#


def _ours(user) -> list:
    forget_grants(user)  # the grant lookup is part of every request
    return list(case_list(user=user).filter(status=LIST_STATUS).order_by("-id")[:PAGE])


def _grants_sql() -> str:
    from django.contrib.auth.models import Permission

    from grid.models import GridNodeGroupObjectPermission, GridNodeUserObjectPermission

    membership = get_user_model().groups.through._meta.db_table
    return (
        f"SELECT n.path FROM {GridNodeUserObjectPermission._meta.db_table} g"
        f" JOIN {Permission._meta.db_table} p ON p.id = g.permission_id"
        f" JOIN {GridNode._meta.db_table} n ON n.id = g.content_object_id"
        " WHERE g.user_id = %s AND p.codename = 'view_case'"
        " UNION "
        f"SELECT n.path FROM {GridNodeGroupObjectPermission._meta.db_table} g"
        f" JOIN {membership} m ON m.group_id = g.group_id"
        f" JOIN {Permission._meta.db_table} p ON p.id = g.permission_id"
        f" JOIN {GridNode._meta.db_table} n ON n.id = g.content_object_id"
        " WHERE m.user_id = %s AND p.codename = 'view_case'"
    )


def _hand_sql(user) -> list:
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(), [user.pk, user.pk])
        paths: list[str] = []
        for (path,) in sorted(cursor.fetchall()):
            if not paths or not path.startswith(paths[-1]):
                paths.append(path)
        # As one who knows the indexes writes it: each subtree as its level's prefix (the per-level
        # (prefix, status, id) indexes), and the user's own cases as a second ordered branch, each
        # branch reading one page from its index, rather than one "in my subtrees OR mine" condition.
        subtrees = " OR ".join(["substring(grid_path, 1, %s) = %s"] * len(paths)) or "FALSE"
        cursor.execute(
            # The same joins as issues.selectors.case_list: what a list row shows.
            "SELECT c.*, cat.*, g.*, h.*, d.*, r.*, a.* FROM ("
            f"  (SELECT id FROM issues_case WHERE status = %s AND ({subtrees}) ORDER BY id DESC LIMIT {PAGE})"
            "   UNION"
            f"  (SELECT id FROM issues_case WHERE status = %s AND reporter_id = %s ORDER BY id DESC LIMIT {PAGE})"
            " ) page JOIN issues_case c ON c.id = page.id"
            " JOIN issues_category cat ON cat.id = c.category_id"
            " JOIN grid_gridnode g ON g.id = c.grid_id JOIN grid_gridnode h ON h.id = c.handling_node_id"
            " LEFT JOIN grid_department d ON d.id = c.handling_department_id"
            " JOIN civic_user r ON r.id = c.reporter_id LEFT JOIN civic_user a ON a.id = c.assignee_id"
            f" ORDER BY c.id DESC LIMIT {PAGE}",
            [LIST_STATUS, *[b for p in paths for b in (len(p), p)], LIST_STATUS, user.pk],
        )
        return cursor.fetchall()


def bench_list(runs: int) -> list[dict]:
    rows = []
    for username in ("bench_street", "bench_district"):
        user = get_user_model().objects.get(username=username)
        forget_grants(user)
        in_scope = case_list(user=user).filter(status=LIST_STATUS).count()
        same = [c.pk for c in _ours(user)] == [r[0] for r in _hand_sql(user)]
        times = interleaved_medians({"ours": lambda u=user: _ours(u), "sql": lambda u=user: _hand_sql(u)}, runs)
        rows.append({"user": username, "in_scope": in_scope, **times, "ratio": times["ours"] / times["sql"],
                     "same": same})
    return rows


def report_list(runs: int, checks: list) -> None:
    print(f"\n(b1) Scoped case list, first page of {PAGE} with status={LIST_STATUS}, median of {runs} "
          "interleaved runs, grant lookup included in both:")
    print(f"    {'user':<16}{'in scope':>10}{'ours ms':>10}{'SQL ms':>10}{'ours/SQL':>10}  same rows")
    for row in bench_list(runs):
        print(f"    {row['user']:<16}{row['in_scope']:>10,}{row['ours']:>10.2f}{row['sql']:>10.2f}"
              f"{row['ratio']:>10.2f}  {'yes' if row['same'] else 'NO'}")
        checks.append((f"{row['user']}: list within 2x of SQL", row["ratio"] <= 2 and row["same"]))


#
# (b2) the list's shapes through the API, with their plans
#


def _shapes() -> dict[str, dict]:
    return {
        "newest first": {},
        "a status": {"status": LIST_STATUS},
        "overdue by deadline": {"ordering": "due_at", "overdue": "true"},
        "a category": {"category": Category.objects.get(code="bench-1").pk},
    }


_list_view = CaseViewSet.as_view({"get": "list"})


def _api_get(view, url: str, user, params: dict) -> tuple:
    """One request to a view in this process (no middleware, forced authentication), with its statements."""
    request = APIRequestFactory().get(url, params)
    force_authenticate(request, user=user)
    forget_grants(user)  # the grant lookup is part of every request
    with Statements(keep=True) as statements:
        response = view(request)
        response.render()
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response, statements


def _me_view():
    from civic.api.views import MeView

    return MeView.as_view()


def _statement(statements: Statements, test) -> tuple[str, object, float] | None:
    return next((row for row in statements.executed if test(row[0])), None)


def _is_page(sql: str) -> bool:
    # Ordered: the scope's "any of mine outside it?" probe (grid.permissions) is a LIMIT 1 without order.
    return sql.startswith("SELECT") and not sql.startswith("SELECT COUNT(") and " LIMIT " in sql \
        and " ORDER BY " in sql and f'FROM "{Case._meta.db_table}"' in sql


def _page_figures(statements: Statements) -> dict:
    sql, params, _seconds = _statement(statements, _is_page)
    plan = explain(sql, params, table=Case._meta.db_table)
    return {"plan": plan, "statements": statements.count}


def _count_figures(response, statements: Statements) -> dict:
    counted = _statement(statements, lambda sql: sql.startswith("SELECT COUNT("))
    estimated = _statement(statements, lambda sql: sql.startswith("EXPLAIN"))
    spent = sum(row[2] for row in (counted, estimated) if row) * 1000
    plan = explain(counted[0], counted[1], table=Case._meta.db_table) if counted else None
    return {"count": response.data["count"], "exact": response.data["count_exact"], "ms": spent, "plan": plan,
            "estimated": estimated is not None}


def _cursor(response) -> str | None:
    link = response.data.get("next")
    return parse_qs(urlsplit(link).query)["cursor"][0] if link else None


def bench_shapes(users: dict, runs: int) -> list[dict]:
    rows = []
    me = _me_view()
    for scope, user in users.items():
        for shape, params in _shapes().items():
            response, statements = _api_get(_list_view, LIST_URL, user, params)
            times = interleaved_medians({
                "me": lambda u=user: _api_get(me, ME_URL, u, {}),
                "api": lambda u=user, p=params: _api_get(_list_view, LIST_URL, u, p),
            }, runs)
            first = {"page": 1, **_page_figures(statements), **times}
            count = _count_figures(response, statements)
            page, deep = 1, None
            while page <= DEEP and (cursor := _cursor(response)):
                response, statements = _api_get(_list_view, LIST_URL, user, {**params, "cursor": cursor})
                page += 1
                deep = {"page": page, **_page_figures(statements)}
            rows.append({"scope": scope, "user": user.username, "shape": shape, "first": first, "deep": deep,
                         "count": count})
    return rows


def _plan_line(label: str, figures: dict) -> str:
    plan = figures["plan"]
    api = f"{figures['api']:>8.1f}{figures['me']:>7.1f}" if "api" in figures else " " * 15
    scans = "; ".join(dict.fromkeys(plan.scans))
    return (f"    {label:<34}{figures['page']:>5}{api}{plan.db_ms:>8.2f}{plan.planning_ms:>7.2f}{plan.read:>10,}/"
            f"{plan.returned:<6,}{plan.buffers:>8,}  {scans}")


def report_shapes(users: dict, runs: int, checks: list) -> None:
    print(f"\n(b2) The case list's shapes through the API's own view in this process (CaseViewSet.list, forced "
          f"authentication, page of {PAGE}): the first page and the page {DEEP} cursors deep; 'API ms' the request "
          f"(median of {runs}) beside GET {ME_URL} ('me'); 'db ms' planning + execution of the page's SQL by "
          "EXPLAIN (ANALYZE, BUFFERS), median of 5, of which 'plan' planning; rows the scans of issues_case read / "
          "rows returned; shared buffers:")
    print(f"    {'scope · shape':<34}{'page':>5}{'API ms':>8}{'me':>7}{'db ms':>8}{'plan':>7}{'read/returned':>17}"
          f"{'buffers':>8}  scans of issues_case")
    worst: dict[str, float] = {}
    for row in bench_shapes(users, runs):
        label = f"{row['scope']} · {row['shape']}"
        print(_plan_line(label, row["first"]))
        if row["deep"]:
            print(_plan_line("", row["deep"]))
        count = row["count"]
        how = "exact" if count["exact"] else "estimated"
        count_db = f", its COUNT {count['plan'].db_ms:.2f} ms in the database" if count["plan"] else ""
        print(f"    {'':<34}count {count['count']:,} ({how}): {count['ms']:.2f} ms in its statements{count_db}")
        pages = [row["first"]] + ([row["deep"]] if row["deep"] else [])
        worst[row["scope"]] = max([worst.get(row["scope"], 0.0)] + [p["plan"].db_ms for p in pages])
    for scope, user in users.items():
        checks.append((f"{scope} ({user.username}): every shape's first and deep page at most {PAGE_DB_MS:g} ms in "
                       f"the database (worst {worst[scope]:.2f} ms)", worst[scope] <= PAGE_DB_MS))


#
# (c) writes
#


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (120, 160, 90)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def bench_create(count: int, root: GridNode) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    worker_post = Post.objects.filter(node__path__startswith=root.path, role=Role.STREET_OFFICER).first()
    user = worker_post.user
    grid = GridNode.objects.filter(path__startswith=worker_post.node.path, level=Level.GRID).first()
    lat = (grid.min_lat + grid.max_lat) / 2
    lon = (grid.min_lon + grid.max_lon) / 2
    category = Category.objects.get(code="bench-0")
    client = APIClient()
    client.force_authenticate(user)
    photo = _jpeg()
    results = {}
    with tempfile.TemporaryDirectory() as media:
        settings.MEDIA_ROOT = media
        for label, with_photo in (("without photo", False), ("with a photo", True)):
            n = count if not with_photo else max(count // 4, 10)

            def create(with_photo=with_photo, n=n):
                for i in range(n):
                    data = {"category": category.pk, "description": f"bench {i}", "lat": lat, "lon": lon}
                    if with_photo:
                        data["photos"] = [SimpleUploadedFile("p.jpg", photo, content_type="image/jpeg")]
                        response = client.post(LIST_URL, data, format="multipart", secure=True)
                    else:
                        response = client.post(LIST_URL, data, format="json", secure=True)
                    assert response.status_code == 201, (response.status_code, response.content[:300])
                return n

            done, seconds, _ = _measure_in_rollback(create)
            results[label] = {"cases": done, "seconds": seconds, "per_second": done / seconds}
    return results


class Writers:
    """The two report paths as their clients make them: the API with a token, the portal's form with
    a session and its CSRF token; and the trivial endpoint with the same token."""

    def __init__(self, worker, citizen, category: Category):
        self.category = category
        token, _ = Token.objects.get_or_create(user=worker)
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        _grid, self.api_lat, self.api_lon = grid_point(worker)
        self.web = Client(enforce_csrf_checks=True)
        self.web.force_login(citizen)
        # The CSRF cookie the form's page would set (rendering that page here needs collected static files).
        self.csrf = get_random_string(32, allowed_chars=string.ascii_letters + string.digits)
        self.web.cookies[settings.CSRF_COOKIE_NAME] = self.csrf
        self.web_lat, self.web_lon = self.api_lat, self.api_lon
        self.referer = "https://testserver/cases/report/"  # Django checks it on HTTPS

    def me(self):
        response = self.api.get(ME_URL, secure=True)
        assert response.status_code == 200, response.content[:300]

    def api_report(self):
        data = {"category": self.category.pk, "description": "路灯不亮 bench", "lat": self.api_lat,
                "lon": self.api_lon}
        response = self.api.post(LIST_URL, data, format="json", secure=True)
        assert response.status_code == 201, (response.status_code, response.content[:300])

    def web_report(self):
        data = {"category": self.category.pk, "description": "井盖缺失 bench", "lat": self.web_lat,
                "lon": self.web_lon, "address": "", "csrfmiddlewaretoken": self.csrf}
        response = self.web.post("/cases/report/", data, secure=True, headers={"referer": self.referer})
        assert response.status_code == 302, (response.status_code, response.content[:300])


def bench_write_path(users: dict, runs: int) -> dict:
    writers = Writers(users["grid"], ensure_citizen(), Category.objects.get(code="bench-0"))
    rows = NewRows()
    try:
        measured = {}
        for name in ("api_report", "web_report"):
            getattr(writers, name)()  # warm
            with Statements(keep=True) as statements:
                getattr(writers, name)()
            measured[name] = statements
        times = interleaved_medians({"me": writers.me, "api_report": writers.api_report,
                                     "web_report": writers.web_report}, runs)
    finally:
        removed = rows.remove()
    return {"statements": measured, "times": times, "removed": removed}


def report_writes(args, root: GridNode, users: dict, checks: list) -> None:
    print("\n(c1) Case creation through the API in one process (POST /api/v1/issues/cases/), rolled back:")
    for label, row in bench_create(args.create, root).items():
        print(f"    {label:<14} {row['cases']:>5} cases in {row['seconds']:.2f} s: {row['per_second']:.0f} cases/s")
    write = bench_write_path(users, args.write_runs)
    times = write["times"]
    print(f"\n(c2) One report, committed (and deleted after the run), through the full request in this process; time "
          f"the median of {args.write_runs} interleaved runs beside GET {ME_URL} with the same token "
          f"({times['me']:.1f} ms):")
    labels = {"api_report": f"API, JSON, token ({users['grid'].username})",
              "web_report": "portal form, session + CSRF (bench_resident)"}
    for name, label in labels.items():
        statements = write["statements"][name]
        print(f"    {label:<48}{statements.count:>3} statements {times[name]:>8.1f} ms "
              f"({times[name] / times['me']:.1f}x me)")
        print(f"        {statements.kinds()}")
        checks.append((f"{label}: at most {WRITE_STATEMENTS} SQL statements ({statements.count})",
                       statements.count <= WRITE_STATEMENTS))
    print(f"    deleted afterwards: {write['removed']}")


#
# Report
#


PARTS = ("sweep", "list", "shapes", "writes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--households-per-grid", type=int, default=100)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--shape-runs", type=int, default=10)
    parser.add_argument("--create", type=int, default=200)
    parser.add_argument("--write-runs", type=int, default=30)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which measurements to run, comma-separated (default all: {','.join(PARTS)})")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(parts - set(PARTS)))}")
    if connection.vendor != "postgresql":
        sys.exit("bench/cases.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    if settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit("bench/cases.py needs Redis as the broker (REDIS_URL): the sweep's hand-off to it is measured.")
    root = ensure_city(args.grids, args.households_per_grid)
    ensure_cases(root, args.cases, ensure_categories())
    users = scope_users(root)
    print("Scopes: " + ", ".join(f"{scope} {user.username}" for scope, user in users.items()))
    checks: list[tuple[str, bool]] = []
    if "sweep" in parts:
        report_sweep(bench_sweep(args.sample), checks)
    if "list" in parts:
        report_list(args.runs, checks)
    if "shapes" in parts:
        report_shapes(users, args.shape_runs, checks)
    if "writes" in parts:
        report_writes(args, root, users, checks)
    print()
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
