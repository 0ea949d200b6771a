"""The benchmarks' city: the synthetic city of ``seed_demo --scale N --staff`` (grids, households, a
person posted at every grid, community, street office and district), four categories, and cases
generated in SQL — one in ten overdue, six in ten open with a deadline ahead, three in ten closed,
in every grid. Ten consecutive cases go to a grid, the next ten to a grid far across the city: a
district's or a street's cases are spread over the whole id range as a city's reports are, not
stored in runs (which would let a scan of the newest cases stumble on a whole district at once).

Every step is idempotent; deadlines are put back on that pattern at each run (a day after they were
generated, the "ahead" ones would have fallen due), and the table is vacuumed after it changed, so
that the planner and the visibility map see it as a settled production table.

Django must be set up before this module is imported.
"""

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction

from grid.demo import SYNTHETIC_CITY_CODE, ensure_demo_user, synthetic_staff_username
from grid.models import GridNode, Level
from grid.permissions import PATH_END
from issues.models import OPEN_STATUSES, Case, Category, Status

__all__ = ["BENCH_PREFIX", "SCOPES", "ensure_categories", "ensure_cases", "ensure_citizen", "ensure_city",
           "grid_point", "scope_users"]

BENCH_PREFIX = "BM"
# In the description of every generated case. Cases of earlier generators (the first gave all the
# cases of a grid one status, made them all overdue or none, and stored the grids in runs) lack it
# and are generated again.
GENERATION = "g3"
# Consecutive blocks of ten cases go to grids this many apart in path order (modulo the grid count):
# a prime, so every grid gets as many blocks whatever the count (unless a multiple of it).
GRID_STRIDE = 7919
# The levels whose staff the list benchmarks read as, narrowest first.
SCOPES = {"grid": Level.GRID, "community": Level.COMMUNITY, "street": Level.STREET_OFFICE, "district": Level.DISTRICT}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def ensure_city(grids: int, households_per_grid: int) -> GridNode:
    call_command("seed_demo", scale=grids, households_per_grid=households_per_grid, staff=True)
    # The planner's statistics as autovacuum would have gathered them after a bulk load (some test
    # machines run PostgreSQL with autovacuum off): without them the grant lookup's generic plan
    # guesses 433 grants a user and hashes the whole node table (12 ms, against 0.1 ms).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
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
    first = Case.objects.filter(reference=f"{BENCH_PREFIX}-{1:08d}").values_list("description", flat=True).first()
    if first is not None and f" {GENERATION} " not in first:
        _delete_generated()
    existing = Case.objects.filter(reference__startswith=f"{BENCH_PREFIX}-").count()
    if existing >= total:
        print(f"{existing:,} benchmark cases exist.")
    else:
        _generate(root, existing, total, categories)
    refreshed = _refresh_deadlines()
    if existing < total or refreshed:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {_q(Case._meta.db_table)}")


def _delete_generated() -> None:
    started = time.perf_counter()
    generated = f"SELECT id FROM {_q(Case._meta.db_table)} WHERE reference LIKE %s"
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows that refer to these cases go first, by hand: the foreign keys' own checks are off
        # meanwhile, as the one on duplicate_of (no index) would scan the table once per deleted case.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for relation in Case._meta.related_objects:
            if relation.related_model is not Case:
                cursor.execute(f"DELETE FROM {_q(relation.related_model._meta.db_table)}"
                               f" WHERE {_q(relation.field.column)} IN ({generated})", [f"{BENCH_PREFIX}-%"])
        cursor.execute(f"UPDATE {_q(Case._meta.db_table)} SET duplicate_of_id = NULL"
                       f" WHERE duplicate_of_id IN ({generated})", [f"{BENCH_PREFIX}-%"])
        cursor.execute(f"DELETE FROM {_q(Case._meta.db_table)} WHERE reference LIKE %s", [f"{BENCH_PREFIX}-%"])
        deleted = cursor.rowcount
    print(f"Deleted {deleted:,} cases of the previous generator in {time.perf_counter() - started:.0f} s.")


def _generate(root: GridNode, existing: int, total: int, categories: list[Category]) -> None:
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
            handling_node_id, version, escalation_count, due_at, created_at, updated_at, attributes, media_url)
        SELECT %(prefix)s || lpad(s::text, 8, '0'), (%(cats)s::bigint[])[1 + s %% %(ncats)s],
               '垃圾堆积 bench {GENERATION} case ' || s, 31.0, 101.0, '', g.id, g.path, %(reporter)s, 'grid_worker',
               true, 2,
               CASE WHEN s %% 10 IN (0, 1, 2, 3, 4, 5, 6) THEN (%(open)s::text[])[1 + s %% %(nopen)s]
                    ELSE 'closed' END,
               {int(Level.COMMUNITY)}, c.id, 1, 0,
               CASE WHEN s %% 10 = 0 THEN now() - interval '1 hour' * (1 + s %% 48)
                    WHEN s %% 10 < 7 THEN now() + interval '1 day' ELSE NULL END,
               now() - interval '1 second' * (%(total)s - s), now(), '{{}}'::jsonb, ''
          FROM generate_series(%(first)s, %(total)s) AS s
          CROSS JOIN counted
          JOIN grids g ON g.n = (s::bigint / 10 * {GRID_STRIDE}) %% counted.total
          JOIN {_q(GridNode._meta.db_table)} c ON c.path = substr(g.path, 1, {4 * int(Level.COMMUNITY)})
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "root": root.path, "root_end": root.path + PATH_END, "prefix": f"{BENCH_PREFIX}-", "cats": cat_ids,
            "ncats": len(cat_ids), "reporter": reporter.pk, "open": [str(s) for s in open_statuses],
            "nopen": len(open_statuses), "first": existing + 1, "total": total,
        })
    print(f"Generated {total - existing:,} benchmark cases in {time.perf_counter() - started:.0f} s.")


def _refresh_deadlines() -> int:
    """Open cases meant to be ahead of their deadline (nine in ten) that have since fallen due get
    a deadline a day ahead again; returns how many."""
    marks = ", ".join(["%s"] * len(OPEN_STATUSES))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_q(Case._meta.db_table)} SET due_at = now() + interval '1 day'"
            f" WHERE reference LIKE %s AND status IN ({marks}) AND due_at < now() + interval '1 hour'"
            " AND substr(reference, %s)::bigint %% 10 <> 0",
            [f"{BENCH_PREFIX}-%", *OPEN_STATUSES, len(BENCH_PREFIX) + 2],
        )
        refreshed = cursor.rowcount
    if refreshed:
        print(f"Put the deadlines of {refreshed:,} cases a day ahead again (they had fallen due since generated).")
    return refreshed


def _middle(nodes):
    return nodes[len(nodes) // 2]


def scope_users(root: GridNode) -> dict[str, object]:
    """The staff posted at a grid, community, street office and district down the middle of the city
    (not at its edge): {scope: user}."""
    users, node = {}, root
    for scope, level in sorted(SCOPES.items(), key=lambda item: item[1]):
        node = _middle(list(node.get_children()))
        assert node.level == level
        users[scope] = get_user_model().objects.get(username=synthetic_staff_username(node))
    return {scope: users[scope] for scope in SCOPES}


def grid_point(user) -> tuple[GridNode, float, float]:
    """A grid inside the user's post (the middle one) and its centre: where a report is made."""
    post = user.posts.select_related("node").get()
    grids = list(GridNode.objects.filter(path__startswith=post.node.path, level=Level.GRID).order_by("path"))
    grid = _middle(grids)
    return grid, (grid.min_lat + grid.max_lat) / 2, (grid.min_lon + grid.max_lon) / 2


def ensure_citizen():
    """A resident with no post, who reports through the portal (bench_citizen reported every generated case)."""
    return ensure_demo_user("bench_resident", name="张丽", staff=False)
