"""Reads of the grid, each starting from grid.permissions.scope."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Length, Substr

from civic.audit import audit_view
from grid.geo import Around, contains
from grid.idnumbers import id_number_hash, mask_id_number
from grid.models import (
    Department,
    DuplicateRegistration,
    GridNode,
    Household,
    Level,
    Place,
    Post,
    Resident,
    Visit,
    VisitOutcome,
)
from grid.permissions import can, path_prefix_q, scope, subtree_q

if TYPE_CHECKING:
    from civic.types import User, Viewer

__all__ = [
    "BOUNDARY_LIMIT",
    "PatrolItem",
    "boundary_features",
    "department_list",
    "duplicate_registration_list",
    "id_number_holder",
    "grid_centre",
    "grid_paths_near",
    "household_list",
    "locate",
    "node_ancestors",
    "node_list",
    "patrol_list",
    "place_list",
    "post_list",
    "posted_at_or_above",
    "shown_id_number",
    "visit_list",
    "with_household_counts",
]


def with_household_counts(nodes: QuerySet) -> QuerySet:
    """Annotate each node with the households registered anywhere in its subtree (one subquery, index ranges)."""
    in_subtree = Household.objects.filter(subtree_q("grid_path", OuterRef("path")))
    counts = in_subtree.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    return nodes.annotate(household_count=Coalesce(Subquery(counts), 0))


BOUNDARY_LIMIT = 2000  # features per answer: a city's communities, or the grids in view


def boundary_features(*, level: int | None = None, within: GridNode | None = None,
                      bbox: tuple[float, float, float, float] | None = None) -> dict:
    """The boundaries of the tree's nodes as a GeoJSON FeatureCollection (one query): at a level, under a
    node, overlapping a box (min_lon, min_lat, max_lon, max_lat). The grid map is public information —
    names, codes and outlines, nothing of who lives there — so every map draws it under its own data,
    and stays readable when no tile server can be reached. At most BOUNDARY_LIMIT features, the
    answer says whether more matched."""
    nodes = GridNode.objects.filter(boundary__isnull=False)
    if level is not None:
        nodes = nodes.filter(level=level)
    if within is not None:
        nodes = nodes.filter(path_prefix_q("path", [within.path]))
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox
        nodes = nodes.filter(max_lon__gte=min_lon, min_lon__lte=max_lon, max_lat__gte=min_lat, min_lat__lte=max_lat)
    rows = list(nodes.order_by("path").values("pk", "name", "code", "level", "boundary")[:BOUNDARY_LIMIT + 1])
    return {
        "type": "FeatureCollection",
        "truncated": len(rows) > BOUNDARY_LIMIT,
        "features": [
            {"type": "Feature", "id": row["pk"], "geometry": row["boundary"],
             "properties": {"name": row["name"], "code": row["code"], "level": row["level"]}}
            for row in rows[:BOUNDARY_LIMIT]
        ],
    }


def node_list(*, user: "Viewer", action: str = "view") -> QuerySet:
    parent = GridNode.objects.filter(path=Substr(OuterRef("path"), 1, Length(OuterRef("path")) - GridNode.steplen))
    nodes = scope(GridNode.objects.all(), user, action).annotate(parent_pk=Subquery(parent.values("pk")[:1]))
    return with_household_counts(nodes)


def node_ancestors(node: GridNode) -> QuerySet:
    return GridNode.objects.filter(path__in=node.ancestor_paths()).order_by("depth")


def department_list(*, user: "Viewer") -> QuerySet:
    return scope(Department.objects.select_related("node"), user)


def post_list(*, user: "Viewer") -> QuerySet:
    return scope(Post.objects.select_related("user", "node", "department"), user)


def posted_at_or_above(user: "User", level: int) -> bool:
    """Does the user hold a post at a node of `level` or higher (department staff: their department's node)?"""
    return Post.objects.filter(user=user, node__level__lte=level).exists()


def household_list(*, user: "Viewer") -> QuerySet:
    return scope(Household.objects.select_related("grid", "building__estate"), user).prefetch_related("residents")


def place_list(*, user: "Viewer") -> QuerySet:
    return scope(Place.objects.select_related("grid"), user)


#
# ID numbers
#


def shown_id_number(*, viewer: "Viewer", resident: Resident) -> str:
    """A resident's ID number as `viewer` may see it: whole with view_personal_id on the household's
    grid (and then the view goes to the audit log), masked otherwise. Every API field, admin page and
    form that shows an ID number asks here."""
    if can(viewer, "view_personal_id", resident):
        audit_view(actor=viewer, action="resident.id_number_viewed", target=resident)
        return resident.id_number
    return mask_id_number(resident.id_number)


def id_number_holder(number: str, *, exclude: Resident | None = None) -> Resident | None:
    """The registration that holds `number` (not one under review as a duplicate), found by its keyed hash."""
    holders = Resident.objects.select_related("household").filter(id_number_hash=id_number_hash(number),
                                                                   duplicate=False)
    if exclude is not None and exclude.pk is not None:
        holders = holders.exclude(pk=exclude.pk)
    return holders.first()


def duplicate_registration_list(*, user: "Viewer") -> QuerySet:
    """Duplicate registrations whose two households the user's grants both cover, open ones first."""
    return scope(DuplicateRegistration.objects.select_related(
        "resident__household__grid", "original__household__grid", "registered_by", "resolved_by"), user,
    ).order_by(F("resolved_at").desc(nulls_first=True), "-id")


def grid_centre(node: GridNode) -> tuple[Decimal, Decimal] | tuple[None, None]:
    """The point that stands for a whole node (a report without a location fix, a sensitive case shown
    publicly): its centroid, else the middle of its bounding box; (None, None) without either."""
    if node.centroid_lat is not None and node.centroid_lon is not None:
        return node.centroid_lat, node.centroid_lon
    if node.min_lat is None or node.max_lat is None or node.min_lon is None or node.max_lon is None:
        return None, None
    quantum = Decimal("0.000001")  # the precision of the centroid fields
    return (Decimal(str((node.min_lat + node.max_lat) / 2)).quantize(quantum),
            Decimal(str((node.min_lon + node.max_lon) / 2)).quantize(quantum))


def locate(lat: float | Decimal, lon: float | Decimal) -> GridNode | None:
    """The grid whose boundary contains the point: bounding boxes in SQL, the exact test in shapely."""
    lat, lon = float(lat), float(lon)
    candidates = GridNode.objects.filter(
        Q(level=Level.GRID, min_lat__lte=lat, max_lat__gte=lat, min_lon__lte=lon, max_lon__gte=lon)
    ).order_by("path")
    for node in candidates:
        if contains(node.boundary, lat, lon):
            return node
    return None


def grid_paths_near(around: Around) -> list[str]:
    """Paths of the grids whose bounding box meets the box around the point: whatever lies in a grid
    (a case, and its public point) can be near the point only if its grid is one of these. The bounding
    boxes are indexed (grid_node_bbox)."""
    lat, lon, half_lat, half_lon = around.lat, around.lon, around.half_lat, around.half_lon
    return list(
        GridNode.objects.filter(level=Level.GRID, min_lat__lte=lat + half_lat, max_lat__gte=lat - half_lat,
                                min_lon__lte=lon + half_lon, max_lon__gte=lon - half_lon)
        .values_list("path", flat=True)
    )


#
# Patrols
#


def visit_list(*, user: "Viewer") -> QuerySet:
    """Visits the user may see, newest first."""
    return scope(Visit.objects.select_related("grid", "household", "place", "visitor"), user)


@dataclass(frozen=True)
class PatrolItem:
    """A household or place on a patrol list, with what its visits so far say."""

    kind: str  # "household" or "place"
    id: int
    name: str
    grid_id: int
    grid_name: str
    last_visited_at: datetime | None
    last_outcome: str | None  # a VisitOutcome value
    visit_count: int

    @property
    def last_outcome_label(self) -> str:
        return str(VisitOutcome(self.last_outcome).label) if self.last_outcome else ""


def _with_visit_summary(records: QuerySet, kind: str) -> QuerySet:
    # Each subquery reads the first entries of the record's (kind, -visited_at, -id) index. Only
    # last_visited_at is a sort key: PostgreSQL evaluates the other two for the kept rows alone.
    visits = Visit.objects.filter(**{kind: OuterRef("pk")}).order_by("-visited_at", "-id")
    count = visits.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    return records.annotate(
        last_visited_at=Subquery(visits.values("visited_at")[:1]),
        last_outcome=Subquery(visits.values("outcome")[:1]),
        visit_count=Coalesce(Subquery(count), 0),
    )


def _patrol_order(row: dict) -> tuple:
    """Never visited first, then the oldest last visit; registry order breaks ties (as in SQL)."""
    visited = row["last_visited_at"]
    return (visited is not None, visited or datetime.min, row["grid_path"], row["kind"], row["id"])


def _patrol_rows(model: type[Household | Place], kind: str, *, user: "Viewer", grid: GridNode | None, limit: int,
                 name_fields: tuple) -> list[dict]:
    records = scope(model.objects.all(), user)
    if grid is not None:
        records = records.filter(path_prefix_q("grid_path", [grid.path]))
    rows = (
        _with_visit_summary(records, kind)
        .order_by(F("last_visited_at").asc(nulls_first=True), "grid_path", "id")
        .values("id", "grid_id", "grid_path", "last_visited_at", "last_outcome", "visit_count", *name_fields,
                grid_name=F("grid__name"))[:limit]
    )
    return [{**row, "kind": kind} for row in rows]


def _household_name(row: dict) -> str:
    return f"{row['address']} · {row['head_name']}" if row["head_name"] else row["address"]


def patrol_list(*, user: "Viewer", grid: GridNode | None = None, limit: int = 50) -> list[PatrolItem]:
    """The households and places in the user's scope (or in `grid`'s subtree, within it) that need a
    visit most: never visited first, then by oldest last visit. One query per kind, whatever the scope."""
    rows = _patrol_rows(Household, "household", user=user, grid=grid, limit=limit, name_fields=("address", "head_name"))
    rows += _patrol_rows(Place, "place", user=user, grid=grid, limit=limit, name_fields=("name",))
    rows.sort(key=_patrol_order)
    return [
        PatrolItem(
            kind=row["kind"], id=row["id"], name=_household_name(row) if row["kind"] == "household" else row["name"],
            grid_id=row["grid_id"], grid_name=row["grid_name"], last_visited_at=row["last_visited_at"],
            last_outcome=row["last_outcome"], visit_count=row["visit_count"],
        )
        for row in rows[:limit]
    ]
