"""Benchmark: the district commander's command-centre dashboard at 1,000,000 cases, on PostgreSQL.

Every aggregate of the dashboard (centre.selectors, as the page calls them, grant lookup included)
against the same aggregate in hand-written SQL, interleaved in one run; each ratio printed, and the
same numbers checked. Then the whole page (GET /admin/centre/, rendered) as the commander sees it.
Targets: each aggregate within 2x of its SQL; the whole dashboard under a second.

The cases are bench/cases.py's (its generator, run once); this script adds, once, the history the
dashboard reads and that generator does not write: an "accept" event for each case (0.5-6 hours after
the report), resolution and closing times for the closed cases, a dispute for the reopened ones, an
expired deadline for one closed case in twenty, and the open cases assigned to 200 people.

Usage: DATABASE_URL=postgres://... .venv/bin/python bench/dashboard.py [--cases 1000000] [--runs 10]
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.cases import BENCH_PREFIX, ensure_cases, ensure_categories, ensure_city  # noqa: E402
from bench.timing import interleaved_medians  # noqa: E402
from centre import selectors  # noqa: E402
from centre.filters import DashboardForm, select  # noqa: E402
from centre.tables import Dashboard  # noqa: E402
from grid.permissions import PATH_END, forget_grants  # noqa: E402
from issues.models import OPEN_STATUSES  # noqa: E402

USER = "bench_district"
TOP = 15


#
# Data: the history bench/cases.py's generator leaves out
#


def ensure_history() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM issues_caseevent e JOIN issues_case c ON c.id = e.case_id"
                       " WHERE c.reference LIKE %s AND e.action = 'accept')", [f"{BENCH_PREFIX}-%"])
        if cursor.fetchone()[0]:
            print("The benchmark cases' history exists.")
            return
        started = time.perf_counter()
        like = [f"{BENCH_PREFIX}-%"]
        # Accepted 30 minutes to 6 hours after the report; the closed ones resolved a day or two later.
        cursor.execute(
            "INSERT INTO issues_caseevent (case_id, action, from_status, to_status, from_level, to_level, comment,"
            " created_at) SELECT id, 'accept', 'reported', 'accepted', 4, 4, '',"
            " created_at + interval '1 minute' * (30 + id %% 330) FROM issues_case WHERE reference LIKE %s", like)
        cursor.execute(
            "UPDATE issues_case SET resolved_at = created_at + interval '1 hour' * (20 + id %% 30),"
            " closed_at = created_at + interval '1 hour' * (30 + id %% 30)"
            " WHERE reference LIKE %s AND status = 'closed'", like)
        cursor.execute(
            "INSERT INTO issues_caseevent (case_id, action, from_status, to_status, comment, created_at)"
            " SELECT id, 'reopen', 'resolved', 'reopened', 'not fixed', created_at + interval '2 days'"
            " FROM issues_case WHERE reference LIKE %s AND status = 'reopened'", like)
        cursor.execute(
            "INSERT INTO issues_caseevent (case_id, action, from_status, to_status, from_level, to_level, comment,"
            " expired_deadline, created_at) SELECT id, 'escalate', 'accepted', 'dispatched', 4, 3, '',"
            " created_at + interval '8 hours', created_at + interval '8 hours'"
            " FROM issues_case WHERE reference LIKE %s AND status = 'closed' AND id %% 20 = 0", like)
        cursor.execute("ANALYZE issues_case")
        cursor.execute("ANALYZE issues_caseevent")
    print(f"Wrote the benchmark cases' history in {time.perf_counter() - started:.0f} s.")


def ensure_assignees(people: int = 200) -> None:
    """Open cases assigned round-robin to bench_person_* accounts, so that the load per person has rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM issues_case WHERE reference LIKE %s AND assignee_id IS NOT NULL)",
                       [f"{BENCH_PREFIX}-%"])
        if cursor.fetchone()[0]:
            return
    User = get_user_model()
    User.objects.bulk_create([User(username=f"bench_person_{n:03d}", last_name="基准", first_name=f"{n}")
                              for n in range(people)], ignore_conflicts=True)
    ids = list(User.objects.filter(username__startswith="bench_person_").order_by("username")
               .values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE issues_case SET assignee_id = (%s::bigint[])[1 + id %% %s] WHERE reference LIKE %s"
            f" AND status IN ({', '.join(['%s'] * len(OPEN_STATUSES))})",
            [ids, len(ids), f"{BENCH_PREFIX}-%", *OPEN_STATUSES])
        cursor.execute("VACUUM ANALYZE issues_case")
    print(f"Assigned the open benchmark cases to {len(ids)} people.")


#
# Hand-written SQL of each aggregate, grant lookup included
#


def _grant_paths(cursor, user) -> list[str]:
    cursor.execute(
        "SELECT n.path FROM grid_gridnodeuserobjectpermission g JOIN auth_permission p ON p.id = g.permission_id"
        " JOIN grid_gridnode n ON n.id = g.content_object_id WHERE g.user_id = %s AND p.codename = 'view_case'"
        " UNION SELECT n.path FROM grid_gridnodegroupobjectpermission g"
        " JOIN civic_user_groups m ON m.group_id = g.group_id JOIN auth_permission p ON p.id = g.permission_id"
        " JOIN grid_gridnode n ON n.id = g.content_object_id WHERE m.user_id = %s AND p.codename = 'view_case'",
        [user.pk, user.pk])
    paths: list[str] = []
    for (path,) in sorted(cursor.fetchall()):
        if not paths or not path.startswith(paths[-1]):
            paths.append(path)
    return paths


def _scope(cursor, user) -> tuple[str, list]:
    paths = _grant_paths(cursor, user)
    ranges = " OR ".join(["(c.grid_path >= %s AND c.grid_path < %s)"] * len(paths)) or "FALSE"
    return f"(({ranges}) OR c.reporter_id = %s)", [*[b for p in paths for b in (p, p + PATH_END)], user.pk]


OPEN = "c.status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'reopened')"


def sql_counts(user):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            "SELECT c.status, c.category_id, c.handling_level, c.handling_department_id IS NOT NULL, COUNT(*),"
            f" COUNT(*) FILTER (WHERE {OPEN} AND c.due_at < now()),"
            f" COUNT(*) FILTER (WHERE {OPEN} AND c.due_at >= now() AND c.due_at < now() + interval '24 hours')"
            f" FROM issues_case c WHERE {where} GROUP BY 1, 2, 3, 4", params)
        rows = cursor.fetchall()
    return {"total": sum(r[4] for r in rows), "overdue": sum(r[5] for r in rows), "due_soon": sum(r[6] for r in rows)}


def sql_timings(user):
    tz = settings.TIME_ZONE
    def clock(name):
        within = " + ".join(f"GREATEST(0, LEAST({name}_sec, {end}) - {start})"
                            for start, end in ((32400, 43200), (48600, 63000)))  # 9:00-12:00, 13:30-17:30
        return f"(k.before[{name}_day] + CASE WHEN k.work[{name}_day] THEN {within} ELSE 0 END)"

    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            "WITH f AS MATERIALIZED (SELECT c.created_at, c.resolved_at, e.accepted_at,"
            " COALESCE(e.reopened, FALSE) AS reopened, COALESCE(e.missed, FALSE) AS missed FROM issues_case c"
            " LEFT JOIN LATERAL (SELECT MIN(created_at) FILTER (WHERE action = 'accept') AS accepted_at,"
            " BOOL_OR(action = 'reopen') AS reopened, BOOL_OR(expired_deadline IS NOT NULL) AS missed"
            f" FROM issues_caseevent WHERE case_id = c.id) e ON TRUE WHERE {where}),"
            " k AS (SELECT MIN(day) AS first, ARRAY_AGG(work ORDER BY day) AS work,"
            " ARRAY_AGG(before ORDER BY day) AS before FROM (SELECT day, work,"
            " COALESCE(SUM(CASE WHEN work THEN 25200 ELSE 0 END) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED"
            " PRECEDING AND 1 PRECEDING), 0) AS before FROM (SELECT d::date AS day,"
            " COALESCE(cd.is_workday, EXTRACT(ISODOW FROM d) < 6) AS work FROM generate_series("
            " ((SELECT MIN(created_at) FROM f) AT TIME ZONE %s)::date,"
            " ((SELECT GREATEST(MAX(created_at), MAX(accepted_at), MAX(resolved_at)) FROM f) AT TIME ZONE %s)::date,"
            " interval '1 day') d LEFT JOIN civic_calendarday cd ON cd.date = d::date) days) cal),"
            " l AS MATERIALIZED (SELECT (created_at AT TIME ZONE %s)::date - k.first + 1 AS c_day,"
            " DATE_PART('epoch', (created_at AT TIME ZONE %s)::time) AS c_sec,"
            " (accepted_at AT TIME ZONE %s)::date - k.first + 1 AS a_day,"
            " DATE_PART('epoch', (accepted_at AT TIME ZONE %s)::time) AS a_sec,"
            " (resolved_at AT TIME ZONE %s)::date - k.first + 1 AS r_day,"
            " DATE_PART('epoch', (resolved_at AT TIME ZONE %s)::time) AS r_sec,"
            " resolved_at IS NOT NULL AS resolved, reopened, missed FROM f CROSS JOIN k),"
            f" w AS MATERIALIZED (SELECT {clock('a')} - {clock('c')} AS a, {clock('r')} - {clock('c')} AS r,"
            " resolved, reopened, missed FROM l CROSS JOIN k)"
            " SELECT COUNT(a), AVG(a), PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY a), COUNT(r), AVG(r),"
            " PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY r), COUNT(*) FILTER (WHERE resolved AND NOT missed),"
            " COUNT(*) FILTER (WHERE reopened) FROM w", [*params, *[tz] * 8])
        row = cursor.fetchone()
    return {"accepted": row[0], "median_accept_hours": round(row[2] / 3600, 2) if row[2] is not None else None,
            "resolved": row[3], "median_resolve_hours": round(row[5] / 3600, 2) if row[5] is not None else None,
            "on_time": row[6], "reopened": row[7]}


def sql_funnel(user):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            "SELECT c.handling_level, NOT EXISTS (SELECT 1 FROM issues_caseevent e WHERE e.case_id = c.id"
            " AND e.action = 'accept'), c.handling_department_id IS NOT NULL, COUNT(*) FROM issues_case c"
            f" WHERE {where} AND c.resolved_at IS NOT NULL GROUP BY 1, 2, 3", params)
        return sum(row[3] for row in cursor.fetchall())


def sql_series(user, column: str, start, end):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            f"SELECT DATE_TRUNC('day', c.{column} AT TIME ZONE %s), COUNT(*) FROM issues_case c WHERE {where}"
            f" AND c.{column} >= %s AND c.{column} < %s GROUP BY 1",
            [settings.TIME_ZONE, *params, start, end])
        return sum(row[1] for row in cursor.fetchall())


def sql_grid_load(user):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            f"SELECT c.grid_id, g.name, g.code, COUNT(*), COUNT(*) FILTER (WHERE c.due_at < now())"
            f" FROM issues_case c JOIN grid_gridnode g ON g.id = c.grid_id WHERE {where} AND {OPEN}"
            f" GROUP BY 1, 2, 3 ORDER BY 4 DESC, 3 LIMIT {TOP}", params)
        return [row[3] for row in cursor.fetchall()]


def sql_worker_load(user):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        cursor.execute(
            f"SELECT c.assignee_id, u.username, COUNT(*), COUNT(*) FILTER (WHERE c.due_at < now())"
            f" FROM issues_case c JOIN civic_user u ON u.id = c.assignee_id WHERE {where} AND {OPEN}"
            f" GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT {TOP}", params)
        return [row[2] for row in cursor.fetchall()]


def sql_prefix(user, length: int, start=None, end=None):
    with connection.cursor() as cursor:
        where, params = _scope(cursor, user)
        period = " AND c.created_at >= %s AND c.created_at < %s" if start else ""
        cursor.execute(
            f"SELECT SUBSTR(c.grid_path, 1, {length}), COUNT(*), COUNT(*) FILTER (WHERE {OPEN}),"
            f" COUNT(*) FILTER (WHERE {OPEN} AND c.due_at < now()) FROM issues_case c WHERE {where}{period}"
            " GROUP BY 1", [*params, *([start, end] if start else [])])
        return sum(row[1] for row in cursor.fetchall())


#
# Ours: the selectors the page calls, on a fresh Selection (grant lookup included)
#


def _selection(user):
    forget_grants(user)
    request = RequestFactory().get("/admin/centre/")
    request.user = user
    return select(request, DashboardForm({}))


def aggregates(user, node_length: int, start, end):
    """(name, ours, sql, how to compare): each aggregate of the dashboard."""
    local = timezone.get_default_timezone()
    day_start = timezone.datetime.combine(start, timezone.datetime.min.time(), tzinfo=local)
    day_end = timezone.datetime.combine(end + timedelta(days=1), timezone.datetime.min.time(), tzinfo=local)
    year_start = timezone.datetime.combine(end - timedelta(days=364), timezone.datetime.min.time(), tzinfo=local)

    def counts():
        c = selectors.case_counts(_selection(user).cases)
        return {"total": c.total, "overdue": c.overdue, "due_soon": c.due_soon}

    def timings():
        t = selectors.case_timings(_selection(user).cases)
        return {"accepted": t.accepted, "median_accept_hours": t.median_accept_hours, "resolved": t.resolved,
                "median_resolve_hours": t.median_resolve_hours, "on_time": t.resolved_on_time,
                "reopened": t.reopened}

    def series(metric):
        return lambda: sum(p["count"] for p in selectors.series(_selection(user).cases_any_time, metric=metric,
                                                                interval="day", start=start, end=end))

    def children():
        sel = _selection(user)
        return sum(r["total"] for r in selectors.child_rows(sel.cases, Dashboard(sel).children))

    def community():
        sel = _selection(user)
        board = Dashboard(sel)
        return sum(r[1] for r in board.table("communities").rows)

    return [
        ("counts by status, category, level; overdue; due in 24 h", counts, lambda: sql_counts(user)),
        ("working time to accept / resolve, on-time, reopened", timings, lambda: sql_timings(user)),
        ("where cases are resolved", lambda: sum(r["count"] for r in selectors.resolution_funnel(
            _selection(user).cases)), lambda: sql_funnel(user)),
        ("trend: reported per day", series("reported"), lambda: sql_series(user, "created_at", day_start, day_end)),
        ("trend: resolved per day", series("resolved"), lambda: sql_series(user, "resolved_at", day_start, day_end)),
        ("trend: closed per day", series("closed"), lambda: sql_series(user, "closed_at", day_start, day_end)),
        ("load per grid (top 15)", lambda: [r["open"] for r in selectors.grid_load(_selection(user).cases)],
         lambda: sql_grid_load(user)),
        ("load per person (top 15)", lambda: [r["open"] for r in selectors.worker_load(_selection(user).cases)],
         lambda: sql_worker_load(user)),
        ("cases by area one level down", children, lambda: sql_prefix(user, node_length)),
        ("a year's cases per community", community, lambda: sql_prefix(user, 16, year_start, day_end)),
    ]


def page_times(user, runs: int) -> list[float]:
    # The page's static URLs without collectstatic's manifest: what is timed is the server's work.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = Client()
    client.force_login(user)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        response = client.get("/admin/centre/", secure=True)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/dashboard.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    root = ensure_city()
    ensure_cases(root, args.cases, ensure_categories())
    ensure_history()
    ensure_assignees()
    user = get_user_model().objects.get(username=USER)
    with selectors.reading():
        sel = _selection(user)
        in_scope = sel.cases.count()
        node_length = len(Dashboard(sel).children[0].path)
        end = timezone.localdate()
        start = end - timedelta(days=29)
        checks = []
        print(f"\n{USER}: {in_scope:,} cases in scope of {args.cases:,}; median of {args.runs} interleaved runs,"
              " grant lookup included in both; load average when starting: "
              + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores\n")
        print(f"{'aggregate':<58}{'ours ms':>10}{'SQL ms':>10}{'ours/SQL':>10}  same")
        total_ours = total_sql = 0.0
        for name, ours, sql in aggregates(user, node_length, start, end):
            same = ours() == sql()
            times = interleaved_medians({"ours": ours, "sql": sql}, args.runs)
            ratio = times["ours"] / times["sql"]
            total_ours += times["ours"]
            total_sql += times["sql"]
            print(f"{name:<58}{times['ours']:>10.1f}{times['sql']:>10.1f}{ratio:>10.2f}  {'yes' if same else 'NO'}")
            checks.append((f"{name}: within 2x of SQL, same numbers", ratio <= 2 and same))
        print(f"{'all aggregates':<58}{total_ours:>10.1f}{total_sql:>10.1f}{total_ours / total_sql:>10.2f}")
    pages = page_times(user, max(3, args.runs // 2))
    page = statistics.median(pages)
    print(f"\nThe whole dashboard page (GET /admin/centre/, every widget rendered): median {page * 1000:.0f} ms,"
          f" min {min(pages) * 1000:.0f} ms, max {max(pages) * 1000:.0f} ms over {len(pages)} runs")
    checks.append(("the whole dashboard under a second", page < 1.0))
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
