"""Benchmark: the first page (50) of households a user may see, in registry order
(grid by grid, then as registered), three ways.

    (a) ours   grid.permissions.scope(): the user's grant paths (one query, cache cleared every run),
               then one grid_path range per collapsed grant, on grid_household's own column
    (b) naive  django-guardian: a direct grant on every grid of the user's subtree, then
               get_objects_for_user(...) as a subquery of Household.objects.filter(grid__in=...)
    (c) SQL    the same query as (a), hand-written: grant paths by hand-written SQL every run, then
               the household SELECT with the path ranges, rows fetched as tuples

on the synthetic city of ``seed_demo --scale`` (built here if missing), for bench_street (one street
office) and bench_district (one district). Targets: ours within 2x of SQL, naive at least 50x slower
than ours, and no "Seq Scan on grid_household" in the plan of (a). The exit status is 1 if any is missed.

Usage: DATABASE_URL=postgres://... .venv/bin/python bench/grid_scope.py [--grids 10000]
       [--households-per-grid 100] [--runs 200] [--explain-all]
"""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Measure as production runs: with DEBUG on, Django records every query, which costs more than
# some of the queries measured here.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import CommandError, call_command  # noqa: E402
from django.db import connection  # noqa: E402
from guardian.shortcuts import get_objects_for_user  # noqa: E402

from bench.timing import interleaved_medians, verdict  # noqa: E402
from grid.demo import SYNTHETIC_CITY_CODE  # noqa: E402
from grid.models import GridNode, GridNodeUserObjectPermission, Household, Level, Post  # noqa: E402
from grid.permissions import PATH_END, forget_grants, scope  # noqa: E402

USERS = ("bench_street", "bench_district")
PAGE = 50
# The registry order of grid.models.Household (and of the API and admin lists).
ORDER = tuple(Household._meta.ordering)
SEQ_SCAN = "Seq Scan on grid_household"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


#
# The three ways
#


def ours(user) -> list:
    forget_grants(user)  # the grant lookup is part of every request
    return list(scope(Household.objects.all(), user, "view").order_by(*ORDER)[:PAGE])


def naive(user) -> list:
    nodes = get_objects_for_user(
        user, "grid.view_registry", klass=GridNode, use_groups=True, with_superuser=False, accept_global_perms=False
    )
    return list(Household.objects.filter(grid__in=nodes).order_by(*ORDER)[:PAGE])


def _grants_sql() -> str:
    user_groups = get_user_model().groups.through._meta.db_table
    return f"""
        SELECT n.path FROM grid_gridnodeuserobjectpermission g
          JOIN auth_permission p ON p.id = g.permission_id
          JOIN {_table(GridNode)} n ON n.id = g.content_object_id
         WHERE g.user_id = %s AND p.codename = 'view_registry'
        UNION
        SELECT n.path FROM grid_gridnodegroupobjectpermission g
          JOIN auth_permission p ON p.id = g.permission_id
          JOIN {_table(GridNode)} n ON n.id = g.content_object_id
          JOIN {connection.ops.quote_name(user_groups)} ug ON ug.group_id = g.group_id
         WHERE ug.user_id = %s AND p.codename = 'view_registry'
    """


def hand_sql(user, grants_sql: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(grants_sql, [user.pk, user.pk])
        paths: list[str] = []
        for (path,) in sorted(cursor.fetchall()):
            if not paths or not path.startswith(paths[-1]):  # a grant under another one adds nothing
                paths.append(path)
        if not paths:
            return []
        where = " OR ".join(["(grid_path >= %s AND grid_path < %s)"] * len(paths))
        cursor.execute(
            "SELECT id, grid_id, grid_path, building_id, address, head_name, phone, registered_at "
            f"FROM {_table(Household)} WHERE {where} ORDER BY grid_path, id LIMIT {PAGE}",
            [bound for path in paths for bound in (path, path + PATH_END)],
        )
        return cursor.fetchall()


def median_ms(fn: Callable[[], list], runs: int) -> float:
    return interleaved_medians({"x": fn}, runs)["x"]


#
# The naive way's grants: one per grid, added for the measurement and removed afterwards
#


def _post_node(user) -> GridNode:
    return Post.objects.filter(user=user, node__code__startswith=SYNTHETIC_CITY_CODE).select_related("node").get().node


def _grid_grants(user, node: GridNode):
    return GridNodeUserObjectPermission.objects.filter(
        user=user, permission=_view_registry(), content_object__level=Level.GRID,
        content_object__path__gte=node.path, content_object__path__lt=node.path + PATH_END,
    )


def _view_registry() -> Permission:
    return Permission.objects.get(content_type__app_label="grid", codename="view_registry")


def add_grid_grants(user, node: GridNode) -> int:
    have = set(_grid_grants(user, node).values_list("content_object_id", flat=True))
    grids = GridNode.objects.filter(level=Level.GRID, path__gte=node.path, path__lt=node.path + PATH_END)
    permission = _view_registry()
    GridNodeUserObjectPermission.objects.bulk_create(
        (GridNodeUserObjectPermission(user=user, permission=permission, content_object_id=pk)
         for pk in grids.values_list("pk", flat=True) if pk not in have),
        batch_size=5000,
    )
    return _grid_grants(user, node).count()


def _analyze() -> None:
    # Fresh statistics give the naive plan its best chance.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {_table(GridNodeUserObjectPermission)}")


#
# Report
#


def _same_rows(user, grants_sql: str) -> bool:
    ids = [obj.pk for obj in ours(user)]
    return ids == [obj.pk for obj in naive(user)] == [row[0] for row in hand_sql(user, grants_sql)]


def bench_user(user, runs: int, grants_sql: str) -> dict:
    forget_grants(user)
    row = {"user": user.username, "scope": scope(Household.objects.all(), user, "view").count()}
    row.update(interleaved_medians({"ours": lambda: ours(user), "sql": lambda: hand_sql(user, grants_sql)}, runs))
    node = _post_node(user)
    try:
        row["grants"] = add_grid_grants(user, node)
        _analyze()
        row["same"] = _same_rows(user, grants_sql)
        row["naive"] = median_ms(lambda: naive(user), min(runs, 20))  # ~250 ms a run: 20 suffice
        row["naive_plan"] = Household.objects.filter(
            grid__in=get_objects_for_user(user, "grid.view_registry", klass=GridNode, use_groups=True,
                                          with_superuser=False, accept_global_perms=False)
        ).order_by(*ORDER)[:PAGE].explain(analyze=True)
    finally:
        _grid_grants(user, node).delete()
        _analyze()
    return row


def print_table(rows: list[dict]) -> None:
    header = f"{'user':<16}{'in scope':>10}{'grid grants':>13}{'ours ms':>10}{'naive ms':>10}{'SQL ms':>9}" \
             f"{'ours/SQL':>10}{'naive/ours':>12}  same rows"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['user']:<16}{r['scope']:>10,}{r['grants']:>13,}{r['ours']:>10.2f}{r['naive']:>10.2f}{r['sql']:>9.2f}"
              f"{r['ours'] / r['sql']:>10.2f}{r['naive'] / r['ours']:>12.1f}  {'yes' if r['same'] else 'NO'}")


def explain_ours(user) -> str:
    forget_grants(user)
    return scope(Household.objects.all(), user, "view").order_by(*ORDER)[:PAGE].explain(analyze=True, buffers=True)


def ensure_city(grids: int, per_grid: int) -> None:
    try:
        call_command("seed_demo", scale=grids, households_per_grid=per_grid)
    except CommandError as exc:
        sys.exit(f"{exc}\nRebuild it with: manage.py seed_demo --scale {grids} "
                 f"--households-per-grid {per_grid} --replace")


def checks(rows: list[dict], plan: str) -> list[tuple[str, bool]]:
    results = [(f"no '{SEQ_SCAN}' in the plan of (a) for bench_street", SEQ_SCAN not in plan)]
    for r in rows:
        results.append((f"{r['user']}: ours within 2x of SQL ({r['ours'] / r['sql']:.2f}x)", r["ours"] <= 2 * r["sql"]))
        results.append((f"{r['user']}: naive at least 50x slower than ours ({r['naive'] / r['ours']:.1f}x)",
                        r["naive"] >= 50 * r["ours"]))
        results.append((f"{r['user']}: the three ways return the same {PAGE} rows", r["same"]))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--households-per-grid", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--explain-all", action="store_true", help="Also print the plan of (a) for bench_district "
                        "and of (b) for both users.")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/grid_scope.py measures PostgreSQL plans: set DATABASE_URL=postgres://user@host:5432/dbname.")
    ensure_city(args.grids, args.households_per_grid)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=USERS)}
    grants_sql = _grants_sql()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"\nPostgreSQL {version}; {Household.objects.count():,} households; median of {args.runs} runs (naive: "
          f"{min(args.runs, 20)}) after one warm-up,\n(a) and (c) interleaved; "
          f"page of {PAGE} in registry order {ORDER}.\n"
          "(c) SQL looks up the grant paths with its own SQL each run; (a) clears its grant cache each run.\n"
          "Synthetic households were registered round by round, one per grid per round, so every grid's ids "
          "spread over the whole table.\n")
    rows = [bench_user(users[name], args.runs, grants_sql) for name in USERS]
    print_table(rows)
    plan = explain_ours(users["bench_street"])
    print(f"\nEXPLAIN ANALYZE of (a) for bench_street:\n{plan}\n")
    if args.explain_all:
        print(f"EXPLAIN ANALYZE of (a) for bench_district:\n{explain_ours(users['bench_district'])}\n")
        for r in rows:
            print(f"EXPLAIN ANALYZE of (b) for {r['user']}:\n{r['naive_plan']}\n")
    results = checks(rows, plan)
    return verdict(results)


if __name__ == "__main__":
    sys.exit(main())
