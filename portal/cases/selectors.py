"""Public reads of cases: the only place that decides what of a case the public may see.

- Which cases: not rejected or duplicate, and not those whose citizen reporter asked not to be shown
  publicly (``reporter_public=False``): the citizen's wish keeps the whole case off public pages.
- Which fields: reference, category, status, description, area (grid name), dates and a location;
  never the reporter, the assignee, residents or staff comments. For a sensitive category the
  location is the grid's centroid and there is no address.
"""

from decimal import Decimal

from django.db.models import QuerySet

from grid.models import GridNode, Level
from issues.models import Case, Status

__all__ = ["area_choices", "public_case", "public_cases"]

HIDDEN_STATUSES = (Status.REJECTED, Status.DUPLICATE)


def public_cases(filters: dict | None = None) -> QuerySet:
    """Recent public cases, newest first. filters: ``category`` (a Category or pk), ``area`` (a GridNode
    or pk: its whole subtree)."""
    filters = filters or {}
    cases = (
        Case.objects.select_related("category", "grid")
        .exclude(status__in=HIDDEN_STATUSES)
        .filter(reporter_public=True)
        .order_by("-created_at", "-id")
    )
    category = filters.get("category")
    if category:
        cases = cases.filter(category=category)
    area = filters.get("area")
    if area:
        if not isinstance(area, GridNode):
            area = GridNode.objects.get(pk=area)
        cases = cases.filter(grid_path__startswith=area.path)
    return cases


def area_choices() -> QuerySet:
    """The areas the public may filter by: districts, street offices and communities."""
    return GridNode.objects.filter(level__in=(Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY)).order_by("path")


def _grid_point(grid: GridNode) -> tuple:
    """The grid's centroid; the middle of its bounding box if it has none; never the case's own point."""
    if grid.centroid_lat is not None and grid.centroid_lon is not None:
        return grid.centroid_lat, grid.centroid_lon
    if None not in (grid.min_lat, grid.max_lat, grid.min_lon, grid.max_lon):
        quantum = Decimal("0.000001")
        return (Decimal(str((grid.min_lat + grid.max_lat) / 2)).quantize(quantum),
                Decimal(str((grid.min_lon + grid.max_lon) / 2)).quantize(quantum))
    return None, None


def public_case(case: Case) -> dict:
    """The fields of a case safe to show anyone (templates and map markers read only these)."""
    blurred = case.category.sensitive
    if blurred:
        (lat, lon), address = _grid_point(case.grid), ""
    else:
        lat, lon, address = case.lat, case.lon, case.address
    return {
        "reference": case.reference,
        "category": case.category.display_name,
        "status": case.status,
        "status_display": str(case.get_status_display()),
        "description": case.description,
        "area": case.grid.name,
        "address": address,
        "lat": str(lat) if lat is not None else "",
        "lon": str(lon) if lon is not None else "",
        "blurred": blurred,
        "created_at": case.created_at,
    }
