"""The command centre's figures: each one query (aggregated in the database) over the cases of a
centre.filters.Selection, whatever the number of cases in scope.

Every function takes a queryset built on issues.selectors.case_list + issues.filters.CaseFilter, so
the counts are the case list's counts. Durations are working time (civic.workcal's calendar), in
SQL on PostgreSQL (centre.worktime) and in Python elsewhere.
"""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Substr, TruncDay, TruncMonth, TruncWeek
from django.dispatch import receiver
from django.utils import timezone

from centre.filters import local_midnight
from centre.worktime import WorkingClock, clock_at, clock_cte, clock_parts, median
from civic.replica import read_alias, replica_reads
from grid.models import GridNode, Level
from issues.filters import overdue_q
from issues.models import OPEN_STATUSES, CaseEvent, Category, Status

__all__ = [
    "Counts", "Timings", "case_counts", "case_timings", "category_rows", "child_rows", "community_year",
    "grid_load", "reading", "resolution_funnel", "series", "worker_load",
]

FINAL_UNFILED = (Status.REJECTED, Status.DUPLICATE)  # never filed as cases: outside the closure rate
DUE_SOON = timedelta(hours=24)
LOAD_ROWS = 15
# Set on a database connection (an attribute of ours, hence setattr) once its session has JIT off.
_JIT_OFF_ATTR = "centre_jit_off"


@receiver(connection_created)
def _new_session(sender, connection, **kwargs):
    setattr(connection, _JIT_OFF_ATTR, False)


@contextmanager
def reading() -> Iterator[str]:
    """Read the figures from the replica when there is one (civic.replica), without PostgreSQL's JIT
    compiler: it spends 0.5 s compiling each aggregate over 100,000 cases that runs in 0.05 s without."""
    with replica_reads():
        alias = read_alias()
        connection = connections[alias]
        if connection.vendor == "postgresql" and not getattr(connection, _JIT_OFF_ATTR, False):
            with connection.cursor() as cursor:
                cursor.execute("SET jit = off")
            setattr(connection, _JIT_OFF_ATTR, True)
        yield alias


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


#
# Counts: one GROUP BY gives every count of the summary
#


@dataclass
class Counts:
    total: int = 0
    open: int = 0
    overdue: int = 0
    due_soon: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_category: dict[int, int] = field(default_factory=dict)  # direct counts; category_rows rolls them up
    open_by_level: dict[str, int] = field(default_factory=dict)  # a Level value as text, or "department"
    open_by_category: dict[int, int] = field(default_factory=dict)

    @property
    def closure_rate(self) -> float | None:
        filed = self.total - sum(self.by_status.get(s, 0) for s in FINAL_UNFILED)
        return _rate(self.by_status.get(Status.CLOSED, 0), filed)


def case_counts(cases: QuerySet, *, now: datetime | None = None) -> Counts:
    now = now or timezone.now()
    due_soon = Q(status__in=OPEN_STATUSES, due_at__gte=now, due_at__lt=now + DUE_SOON)
    rows = (
        cases.order_by()
        .values("status", "category_id", "handling_level", in_department=Q(handling_department__isnull=False))
        .annotate(n=Count("pk"), overdue=Count("pk", filter=overdue_q()), due_soon=Count("pk", filter=due_soon))
        .using(read_alias())
    )
    counts = Counts(by_status=dict.fromkeys(Status.values, 0))
    for row in rows:
        n = row["n"]
        counts.total += n
        counts.by_status[row["status"]] += n
        counts.by_category[row["category_id"]] = counts.by_category.get(row["category_id"], 0) + n
        counts.overdue += row["overdue"]
        counts.due_soon += row["due_soon"]
        if row["status"] in OPEN_STATUSES:
            counts.open += n
            level = "department" if row["in_department"] else str(row["handling_level"])
            counts.open_by_level[level] = counts.open_by_level.get(level, 0) + n
            counts.open_by_category[row["category_id"]] = counts.open_by_category.get(row["category_id"], 0) + n
    return counts


def category_rows(direct: dict[int, int], open_direct: dict[int, int] | None = None) -> list[dict]:
    """Every category with its cases and those of its sub-categories (as the case list's ``category``
    filter counts them), and as many open ones from ``open_direct``; tree order. One query (the
    category tree is small)."""
    categories = list(Category.objects.using(read_alias()).order_by("code").values(
        "pk", "parent_id", "code", "name", "name_en"))
    children: dict[int | None, list[Mapping[str, Any]]] = defaultdict(list)
    for category in categories:
        children[category["parent_id"]].append(category)

    def total(category: Mapping[str, Any], counts: dict[int, int]) -> int:
        return counts.get(category["pk"], 0) + sum(total(child, counts) for child in children[category["pk"]])

    rows: list[dict] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for category in children[parent_id]:
            rows.append({"id": category["pk"], "code": category["code"], "name": category["name"],
                         "name_en": category["name_en"], "parent": category["parent_id"], "depth": depth,
                         "count": total(category, direct), "open": total(category, open_direct or {})})
            walk(category["pk"], depth + 1)

    walk(None, 0)
    return rows


#
# Timings and rates: working time to accept and to resolve, on time, reopened
#


@dataclass
class Timings:
    accepted: int = 0
    mean_accept_hours: float | None = None
    median_accept_hours: float | None = None
    resolved: int = 0
    mean_resolve_hours: float | None = None
    median_resolve_hours: float | None = None
    resolved_on_time: int = 0
    ever_resolved: int = 0
    reopened: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.resolved_on_time, self.resolved)

    @property
    def reopen_rate(self) -> float | None:
        return _rate(self.reopened, self.ever_resolved)


def _events(action: str | None = None, **filters) -> QuerySet:
    events = CaseEvent.objects.filter(case=OuterRef("pk"), **filters)
    return events.filter(action=action) if action else events


def _facts(cases: QuerySet) -> QuerySet:
    """Per case: when it was accepted (its "accept" event), whether it was ever disputed ("reopen") and
    whether it ever missed a deadline (the overdue sweep's escalation or flag names the expired one)."""
    return cases.order_by().annotate(
        accepted_at=Subquery(_events("accept").order_by("id").values("created_at")[:1]),
        reopened=Exists(_events("reopen")),
        missed=Exists(_events(expired_deadline__isnull=False)),
    ).values("created_at", "accepted_at", "resolved_at", "reopened", "missed")


def case_timings(cases: QuerySet) -> Timings:
    alias = read_alias()
    if cases.query.is_empty():
        return Timings()
    if connections[alias].vendor == "postgresql":
        return _timings_sql(cases, alias)
    return _timings_python(list(_facts(cases).using(alias)))


def _timings_sql(cases: QuerySet, alias: str) -> Timings:
    # The events of each case are read in one index probe (a LATERAL aggregate), not one per figure.
    inner, params = cases.order_by().values("id", "created_at", "resolved_at").query.get_compiler(
        using=alias).as_sql()
    events = CaseEvent._meta.db_table
    cte, cte_params = clock_cte(
        "(SELECT MIN(created_at) FROM f)",
        "(SELECT GREATEST(MAX(created_at), MAX(accepted_at), MAX(resolved_at)) FROM f)",
    )
    parts, part_params = zip(*(clock_parts(column, name) for column, name in
                               (("created_at", "c"), ("accepted_at", "a"), ("resolved_at", "r"))), strict=True)
    created, accepted, resolved = (clock_at(name) for name in ("c", "a", "r"))
    sql = (
        f"WITH f AS MATERIALIZED (SELECT c.created_at, c.resolved_at, e.accepted_at,"
        " COALESCE(e.reopened, FALSE) AS reopened, COALESCE(e.missed, FALSE) AS missed"
        f" FROM ({inner}) AS c LEFT JOIN LATERAL (SELECT MIN(created_at) FILTER (WHERE action = 'accept')"
        " AS accepted_at, BOOL_OR(action = 'reopen') AS reopened, BOOL_OR(expired_deadline IS NOT NULL) AS missed"
        f" FROM {events} WHERE case_id = c.id) AS e ON TRUE), {cte},"
        f" l AS MATERIALIZED (SELECT {', '.join(parts)},"
        " resolved_at IS NOT NULL AS resolved, reopened, missed FROM f CROSS JOIN clock),"
        # Materialized: each working-time clock is computed once per row, not once per use.
        f" w AS MATERIALIZED (SELECT {accepted} - {created} AS accept_s, {resolved} - {created} AS resolve_s,"
        " resolved, reopened, missed FROM l CROSS JOIN clock)"
        " SELECT COUNT(accept_s), AVG(accept_s), PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY accept_s),"
        " COUNT(resolve_s), AVG(resolve_s), PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY resolve_s),"
        " COUNT(*) FILTER (WHERE resolved AND NOT missed), COUNT(*) FILTER (WHERE resolved OR reopened),"
        " COUNT(*) FILTER (WHERE reopened) FROM w"
    )
    all_params = [*params, *cte_params, *[p for group in part_params for p in group]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, all_params)
        row = cursor.fetchone()
    hours = [None if value is None else round(float(value) / 3600, 2) for value in row[:6]]
    return Timings(
        accepted=row[0], mean_accept_hours=hours[1], median_accept_hours=hours[2], resolved=row[3],
        mean_resolve_hours=hours[4], median_resolve_hours=hours[5], resolved_on_time=row[6],
        ever_resolved=row[7], reopened=row[8],
    )


def _timings_python(rows: list[dict]) -> Timings:
    moments = [m for row in rows for m in (row["created_at"], row["accepted_at"], row["resolved_at"]) if m]
    accept: list[float] = []
    resolve: list[float] = []
    if moments:  # else no case at all: nothing accepted or resolved either
        clock = WorkingClock.covering(moments)
        accept = [clock.between(r["created_at"], r["accepted_at"]) / 3600 for r in rows if r["accepted_at"]]
        resolve = [clock.between(r["created_at"], r["resolved_at"]) / 3600 for r in rows if r["resolved_at"]]

    def mean(values):
        return round(sum(values) / len(values), 2) if values else None

    def middle(values):
        value = median(values)
        return None if value is None else round(value, 2)

    return Timings(
        accepted=len(accept), mean_accept_hours=mean(accept), median_accept_hours=middle(accept),
        resolved=len(resolve), mean_resolve_hours=mean(resolve), median_resolve_hours=middle(resolve),
        resolved_on_time=sum(1 for r in rows if r["resolved_at"] and not r["missed"]),
        ever_resolved=sum(1 for r in rows if r["resolved_at"] or r["reopened"]),
        reopened=sum(1 for r in rows if r["reopened"]),
    )


#
# Where cases end: the escalation funnel
#


def resolution_funnel(cases: QuerySet) -> list[dict]:
    """Resolved cases (resolved_at set) by the level that resolved them: the grid (on the spot, never
    accepted), the community, the street office, the district, or a functional department."""
    rows = (
        cases.order_by().filter(resolved_at__isnull=False)
        .annotate(on_spot=~Exists(_events("accept")))
        .values("handling_level", "on_spot", in_department=Q(handling_department__isnull=False))
        .annotate(n=Count("pk"))
        .using(read_alias())
    )
    found: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["on_spot"]:
            key = str(Level.GRID.value)
        elif row["in_department"]:
            key = "department"
        else:
            key = str(row["handling_level"])
        found[key] += row["n"]
    order = [str(Level.GRID.value), str(Level.COMMUNITY.value), str(Level.STREET_OFFICE.value),
             str(Level.DISTRICT.value), "department"]
    return [{"level": key, "count": found.get(key, 0)} for key in order]


#
# Trends
#

_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
_FIELDS = {"reported": "created_at", "resolved": "resolved_at", "closed": "closed_at"}


def _bucket_starts(start: date, end: date, interval: str) -> list[date]:
    if interval == "day":
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]
    if interval == "week":
        first = start - timedelta(days=start.weekday())
        return [first + timedelta(weeks=n) for n in range((end - first).days // 7 + 1)]
    months, current = [], start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def series(cases_any_time: QuerySet, *, metric: str, interval: str, start: date, end: date) -> list[dict]:
    """How many cases were reported (resolved, closed) per day, week or month from ``start`` to ``end``
    (local dates, both included; every bucket present, zeros too). One query."""
    column = _FIELDS[metric]
    tz = timezone.get_default_timezone()
    rows = (
        cases_any_time.order_by()
        .filter(**{f"{column}__gte": local_midnight(start), f"{column}__lt": local_midnight(end + timedelta(days=1))})
        .annotate(bucket=_TRUNC[interval](column, tzinfo=tz))
        .values("bucket").annotate(n=Count("pk"))
        .using(read_alias())
    )
    found = {}
    for row in rows:
        bucket = row["bucket"]
        found[bucket.astimezone(tz).date() if isinstance(bucket, datetime) else bucket] = row["n"]
    return [{"start": day.isoformat(), "count": found.get(day, 0)} for day in _bucket_starts(start, end, interval)]


#
# Load
#


def grid_load(cases: QuerySet, *, limit: int = LOAD_ROWS) -> list[dict]:
    """The grids with the most open cases, with how many of them are overdue."""
    return list(
        cases.order_by().filter(status__in=OPEN_STATUSES)
        .values("grid_id", name=F("grid__name"), code=F("grid__code"))
        .annotate(open=Count("pk"), overdue=Count("pk", filter=overdue_q()))
        .order_by("-open", "code")[:limit]
        .using(read_alias())
    )


def worker_load(cases: QuerySet, *, limit: int = LOAD_ROWS) -> list[dict]:
    """The people with the most open cases assigned to them, with how many of them are overdue."""
    return list(
        cases.order_by().filter(status__in=OPEN_STATUSES, assignee__isnull=False)
        .values("assignee_id", username=F("assignee__username"), last_name=F("assignee__last_name"),
                first_name=F("assignee__first_name"))
        .annotate(open=Count("pk"), overdue=Count("pk", filter=overdue_q()))
        .order_by("-open", "username")[:limit]
        .using(read_alias())
    )


def _prefix_counts(cases: QuerySet, length: int, **extra) -> dict[str, dict]:
    rows = (
        cases.order_by().annotate(prefix=Substr("grid_path", 1, length))
        .values("prefix").annotate(total=Count("pk"), **extra)
        .using(read_alias())
    )
    return {row.pop("prefix"): row for row in rows}


def child_rows(cases: QuerySet, nodes: list[GridNode]) -> list[dict]:
    """Each node (the children of the area, or the top nodes of a scope) with its cases, open and overdue:
    one query per depth among the nodes (one, unless a user's grants sit at several levels)."""
    counts: dict[str, dict] = {}
    for length in sorted({len(node.path) for node in nodes}):
        counts.update(_prefix_counts(cases, length, open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
                                     overdue=Count("pk", filter=overdue_q())))
    empty = {"total": 0, "open": 0, "overdue": 0}
    return [{"node": node, **counts.get(node.path, empty)} for node in nodes]


def community_year(cases_any_time: QuerySet, *, end: date, communities: list[GridNode]) -> dict:
    """Cases reported in the year (365 days) up to ``end`` in each community of the area: the figure the
    district reports (2,580 a year per community before the phone app, 1,500 after)."""
    start = end - timedelta(days=364)
    year = cases_any_time.filter(created_at__gte=local_midnight(start),
                                 created_at__lt=local_midnight(end + timedelta(days=1)))
    counts = _prefix_counts(year, GridNode.steplen * Level.COMMUNITY) if communities else {}
    rows = sorted(
        ({"node": node, "count": counts.get(node.path, {}).get("total", 0)} for node in communities),
        key=lambda row: (-row["count"], row["node"].path),
    )
    total = sum(row["count"] for row in rows)
    return {"start": start, "end": end, "rows": rows, "mean": round(total / len(rows)) if rows else None}
