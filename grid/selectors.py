"""Reads of the grid, each starting from grid.permissions.scope."""

from decimal import Decimal

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat, Length, Substr

from grid.geo import contains
from grid.models import Department, GridNode, Household, Level, Place, Post
from grid.permissions import PATH_END, scope

__all__ = [
    "department_list",
    "household_list",
    "locate",
    "node_ancestors",
    "node_list",
    "place_list",
    "post_list",
    "with_household_counts",
]


def with_household_counts(nodes: QuerySet) -> QuerySet:
    """Annotate each node with the households registered anywhere in its subtree (one subquery, index ranges)."""
    in_subtree = Household.objects.filter(
        grid_path__gte=OuterRef("path"), grid_path__lt=Concat(OuterRef("path"), Value(PATH_END))
    )
    counts = in_subtree.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    return nodes.annotate(household_count=Coalesce(Subquery(counts), 0))


def node_list(*, user, action: str = "view") -> QuerySet:
    parent = GridNode.objects.filter(path=Substr(OuterRef("path"), 1, Length(OuterRef("path")) - GridNode.steplen))
    nodes = scope(GridNode.objects.all(), user, action).annotate(parent_pk=Subquery(parent.values("pk")[:1]))
    return with_household_counts(nodes)


def node_ancestors(node: GridNode) -> QuerySet:
    return GridNode.objects.filter(path__in=node.ancestor_paths()).order_by("depth")


def department_list(*, user) -> QuerySet:
    return scope(Department.objects.select_related("node"), user)


def post_list(*, user) -> QuerySet:
    return scope(Post.objects.select_related("user", "node", "department"), user)


def household_list(*, user) -> QuerySet:
    return scope(Household.objects.select_related("grid", "building__estate"), user).prefetch_related("residents")


def place_list(*, user) -> QuerySet:
    return scope(Place.objects.select_related("grid"), user)


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
