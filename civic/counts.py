"""Counts that stay cheap whatever the list's size: exact up to a limit, the planner's estimate above.

Counting a district's 20,000 cases reads every one of them (and their heap pages), which costs more
than reading the page a user looks at; the API and the admin both count through here.
"""

import json

from django.db import connections
from django.db.models import QuerySet

__all__ = ["EXACT_COUNT_LIMIT", "count_with_estimate"]

EXACT_COUNT_LIMIT = 1000


def count_with_estimate(queryset: QuerySet, limit: int | None = None) -> tuple[int, bool]:
    """(count, exact): exact up to `limit` rows (counted with a LIMIT, so never more), else the
    planner's estimate on PostgreSQL; other databases (small installations) count exactly."""
    limit = EXACT_COUNT_LIMIT if limit is None else limit
    # The joined rows do not change how many there are, and planning the joins costs more than the
    # count (a case list's seven tables). The list's order stays: it leads the planner to the index
    # that reads the list's first rows, not to any narrow one to filter (from its start) for them.
    queryset = queryset.select_related(None)
    counted = queryset[: limit + 1].count()
    if counted <= limit:
        return counted, True
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.count(), True
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(plan[0]["Plan"]["Plan Rows"]), limit + 1), False
