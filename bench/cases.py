"""Benchmark: cases at city scale, on PostgreSQL.

    (a) the overdue sweep (issues.sweep.escalate_overdue) over every overdue case, its time and
        statement count, against a row-by-row loop doing the same work case by case (run on a
        sample and scaled up; the output says so). Target: at least 50x faster.
    (b) the scoped case list, first page of 50 filtered by status, for a street officer and the
        district commander: ours (issues.selectors.case_list) against hand-written SQL of the same
        query, grant lookup included in both. Target: within 2x.
    (c) case creation through the API in this process, cases per second, with and without a photo.

Cases are generated once (SQL, about a minute) on the synthetic city of ``seed_demo --scale``;
every measurement that writes runs in a transaction that is rolled back, so runs are repeatable.

Usage: DATABASE_URL=postgres://... .venv/bin/python bench/cases.py [--cases 1000000] [--sample 10000]
"""

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Measure as production runs: with DEBUG on, Django records every query.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.timing import interleaved_medians  # noqa: E402
from civic.notices import notice_queue  # noqa: E402
from civic.workcal import add_working_time  # noqa: E402
from grid.demo import SYNTHETIC_CITY_CODE  # noqa: E402
from grid.models import GridNode, Level, Post, Role  # noqa: E402
from grid.permissions import PATH_END, forget_grants  # noqa: E402
from grid.services import posts_sync_grants  # noqa: E402
from issues.models import OPEN_STATUSES, Case, CaseEvent, Category, Status  # noqa: E402
from issues.selectors import case_list  # noqa: E402
from issues.sweep import escalate_overdue  # noqa: E402

PAGE = 50
LIST_STATUS = Status.DISPATCHED
BENCH_PREFIX = "BM"


class Rollback(Exception):
    """Raised to leave a measured transaction without keeping its writes."""


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


#
# Data
#


def ensure_city() -> GridNode:
    call_command("seed_demo", scale=10_000, households_per_grid=100)
    posts_sync_grants()  # bench accounts made before cases existed get the case permissions too
    return GridNode.objects.get(code=SYNTHETIC_CITY_CODE)


def ensure_categories() -> list[Category]:
    day = timedelta(hours=7)
    rows = []
    for i, (name, name_en) in enumerate((("市容环卫维护", "Sanitation"), ("道路破损", "Damaged road"),
                                         ("占道经营", "Street vending"), ("邻里纠纷", "Neighbour dispute"))):
        category, _ = Category.objects.get_or_create(
            code=f"bench-{i}", defaults=dict(name=name, name_en=name_en, first_level=Level.COMMUNITY,
                                             accept_within=timedelta(hours=2), resolve_within=day * (i + 1)),
        )
        rows.append(category)
    return rows


def ensure_cases(root: GridNode, total: int, categories: list[Category]) -> None:
    existing = Case.objects.filter(reference__startswith=f"{BENCH_PREFIX}-").count()
    if existing >= total:
        print(f"{existing:,} benchmark cases exist.")
        return
    # A citizen reports them: a staff reporter would also see every case as its owner.
    reporter, _ = get_user_model().objects.get_or_create(username="bench_citizen")
    started = time.perf_counter()
    cat_ids = [c.pk for c in categories]
    open_statuses = [s for s in OPEN_STATUSES if s != Status.REPORTED]
    # One case in ten is overdue; the rest are open with a future deadline, or closed.
    sql = f"""
        WITH grids AS (
            SELECT id, path, row_number() OVER (ORDER BY path) - 1 AS n FROM {_q(GridNode._meta.db_table)}
             WHERE path >= %(root)s AND path < %(root_end)s AND level = {int(Level.GRID)}),
        counted AS (SELECT count(*) AS total FROM grids)
        INSERT INTO {_q(Case._meta.db_table)} (reference, category_id, description, lat, lon, address, grid_id,
            grid_path, reporter_id, reporter_kind, reporter_public, priority, status, handling_level,
            handling_node_id, version, escalation_count, due_at, created_at, updated_at)
        SELECT %(prefix)s || lpad(s::text, 8, '0'), (%(cats)s::bigint[])[1 + s %% %(ncats)s],
               '垃圾堆积 bench case ' || s, 31.0, 101.0, '', g.id, g.path, %(reporter)s, 'grid_worker', true, 2,
               CASE WHEN s %% 10 IN (0, 1, 2, 3, 4, 5, 6) THEN (%(open)s::text[])[1 + s %% %(nopen)s]
                    ELSE 'closed' END,
               {int(Level.COMMUNITY)}, c.id, 1, 0,
               CASE WHEN s %% 10 = 0 THEN now() - interval '1 hour' * (1 + s %% 48)
                    WHEN s %% 10 < 7 THEN now() + interval '1 day' ELSE NULL END,
               now() - interval '1 second' * (%(total)s - s), now()
          FROM generate_series(%(first)s, %(total)s) AS s
          CROSS JOIN counted
          JOIN grids g ON g.n = s %% counted.total
          JOIN {_q(GridNode._meta.db_table)} c ON c.path = substr(g.path, 1, {4 * int(Level.COMMUNITY)})
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "root": root.path, "root_end": root.path + PATH_END, "prefix": f"{BENCH_PREFIX}-", "cats": cat_ids,
            "ncats": len(cat_ids), "reporter": reporter.pk, "open": [str(s) for s in open_statuses],
            "nopen": len(open_statuses), "first": existing + 1, "total": total,
        })
        cursor.execute(f"ANALYZE {_q(Case._meta.db_table)}")
    print(f"Generated {total - existing:,} benchmark cases in {time.perf_counter() - started:.0f} s.")


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


def bench_sweep(sample: int) -> dict:
    overdue = Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=timezone.now(), flagged_at__isnull=True)
    total = overdue.count()
    counts, ours_s, ours_statements = _measure_in_rollback(escalate_overdue)
    done, loop_s, loop_statements = _measure_in_rollback(lambda: _row_by_row(sample))
    scaled = loop_s * total / max(done, 1)
    return {"overdue": total, "counts": counts, "ours_s": ours_s, "ours_statements": ours_statements,
            "sample": done, "loop_s": loop_s, "loop_statements": loop_statements, "loop_scaled_s": scaled,
            "ratio": scaled / ours_s if ours_s else float("inf")}


#
# (b) the scoped list
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
        ranges = " OR ".join(["(c.grid_path >= %s AND c.grid_path < %s)"] * len(paths)) or "FALSE"
        cursor.execute(
            # The same joins as issues.selectors.case_list: what a list row shows.
            "SELECT c.*, cat.*, g.*, h.*, d.*, r.*, a.* FROM issues_case c"
            " JOIN issues_category cat ON cat.id = c.category_id"
            " JOIN grid_gridnode g ON g.id = c.grid_id JOIN grid_gridnode h ON h.id = c.handling_node_id"
            " LEFT JOIN grid_department d ON d.id = c.handling_department_id"
            " JOIN civic_user r ON r.id = c.reporter_id LEFT JOIN civic_user a ON a.id = c.assignee_id"
            f" WHERE c.status = %s AND (({ranges}) OR c.reporter_id = %s) ORDER BY c.id DESC LIMIT {PAGE}",
            [LIST_STATUS, *[b for p in paths for b in (p, p + PATH_END)], user.pk],
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


#
# (c) creation through the API
#


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (120, 160, 90)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def bench_create(count: int, root: GridNode) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

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
                        response = client.post("/api/v1/issues/cases/", data, format="multipart", secure=True)
                    else:
                        response = client.post("/api/v1/issues/cases/", data, format="json", secure=True)
                    assert response.status_code == 201, (response.status_code, response.content[:300])
                return n

            done, seconds, _ = _measure_in_rollback(create)
            results[label] = {"cases": done, "seconds": seconds, "per_second": done / seconds}
    return results


#
# Report
#


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--create", type=int, default=200)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/cases.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    root = ensure_city()
    ensure_cases(root, args.cases, ensure_categories())
    checks = []

    sweep = bench_sweep(args.sample)
    print(f"\n(a) Overdue sweep over {sweep['overdue']:,} overdue cases (of {Case.objects.count():,}):")
    print(f"    ours: {sweep['ours_s']:.2f} s in {sweep['ours_statements']} statements {sweep['counts']}")
    print(f"    row by row: {sweep['loop_s']:.2f} s for a sample of {sweep['sample']:,} cases in "
          f"{sweep['loop_statements']:,} statements, scaled to all: {sweep['loop_scaled_s']:.0f} s")
    print(f"    ours is {sweep['ratio']:.0f}x faster (target 50x); both rolled back.")
    checks.append(("sweep at least 50x faster than row by row", sweep["ratio"] >= 50))

    print(f"\n(b) Scoped case list, first page of {PAGE} with status={LIST_STATUS}, median of {args.runs} "
          "interleaved runs, grant lookup included in both:")
    print(f"    {'user':<16}{'in scope':>10}{'ours ms':>10}{'SQL ms':>10}{'ours/SQL':>10}  same rows")
    for row in bench_list(args.runs):
        print(f"    {row['user']:<16}{row['in_scope']:>10,}{row['ours']:>10.2f}{row['sql']:>10.2f}"
              f"{row['ratio']:>10.2f}  {'yes' if row['same'] else 'NO'}")
        checks.append((f"{row['user']}: list within 2x of SQL", row["ratio"] <= 2 and row["same"]))

    print("\n(c) Case creation through the API in one process (POST /api/v1/issues/cases/), rolled back:")
    for label, row in bench_create(args.create, root).items():
        print(f"    {label:<14} {row['cases']:>5} cases in {row['seconds']:.2f} s: {row['per_second']:.0f} cases/s")

    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
