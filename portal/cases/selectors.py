"""Public reads of cases for the portal's pages.

- Which cases, and where they are shown: issues.selectors.public_case_list and public_location, the
  rule Open311 follows too (not rejected or duplicate, not those whose citizen reporter asked not to
  be shown; a sensitive category at its grid's centre, without an address).
- Which fields: reference, category, status, description, area (grid name), dates and a location;
  never the reporter, the assignee, residents or staff comments.
- Where: ``public_cases_near`` measures distances from that public point, so a sensitive case's
  distance tells no more than its grid does.
"""

import math

from django.db.models import Case as SqlCase
from django.db.models import F, FloatField, QuerySet, When
from django.db.models.functions import Cast

from grid.models import GridNode, Level
from grid.permissions import subtree_q
from issues.models import Case
from issues.selectors import public_case_list, public_location

__all__ = ["NEARBY_LIMIT", "NEARBY_RADIUS_M", "area_choices", "public_case", "public_cases", "public_cases_near"]

NEARBY_RADIUS_M = 2000
NEARBY_LIMIT = 20
EARTH_RADIUS_M = 6_371_000
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180


def public_cases(filters: dict | None = None) -> QuerySet:
    """Recent public cases, newest first. filters: ``category`` (a Category or pk), ``area`` (a GridNode
    or pk: its whole subtree)."""
    filters = filters or {}
    cases = public_case_list()
    category = filters.get("category")
    if category:
        cases = cases.filter(category=category)
    area = filters.get("area")
    if area:
        if not isinstance(area, GridNode):
            area = GridNode.objects.get(pk=area)
        cases = cases.filter(subtree_q("grid_path", area.path))
    return cases


def area_choices() -> QuerySet:
    """The areas the public may filter by: districts, street offices and communities."""
    return GridNode.objects.filter(level__in=(Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY)).order_by("path")


def public_case(case: Case) -> dict:
    """The fields of a case safe to show anyone (templates and map markers read only these)."""
    lat, lon, address, blurred = public_location(case)
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


def _public_coordinate(own: str, centroid: str, low: str, high: str) -> SqlCase:
    """public_case's point as SQL (one coordinate): the case's own, or for a sensitive category the
    grid's centroid, else the middle of the grid's bounding box."""
    return SqlCase(
        When(category__sensitive=False, then=Cast(own, FloatField())),
        When(grid__centroid_lat__isnull=False, grid__centroid_lon__isnull=False,
             then=Cast(f"grid__{centroid}", FloatField())),
        default=(F(f"grid__{low}") + F(f"grid__{high}")) / 2.0,
        output_field=FloatField(),
    )


def _grid_paths_near(lat: float, lon: float, half_lat: float, half_lon: float) -> list[str]:
    """Paths of the grids whose bounding box meets the box around the point. A case lies in its grid,
    and so does its public point (its own, or its grid's centroid), so only these grids' cases can be
    near the point. The bounding boxes are indexed (grid_node_bbox)."""
    return list(
        GridNode.objects.filter(level=Level.GRID, min_lat__lte=lat + half_lat, max_lat__gte=lat - half_lat,
                                min_lon__lte=lon + half_lon, max_lon__gte=lon - half_lon)
        .values_list("path", flat=True)
    )


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def public_cases_near(lat: float, lon: float, *, radius_m: int = NEARBY_RADIUS_M,
                      limit: int = NEARBY_LIMIT) -> list[dict]:
    """public_case dicts (plus ``distance_m``) of the public cases whose public point lies within
    ``radius_m`` of (lat, lon), nearest first, at most ``limit``.

    Two queries: the grids near the point, then their public cases, filtered and ordered by an
    equirectangular distance (plain arithmetic, the same on SQLite and PostgreSQL, and exact enough
    over a few kilometres). Cases' own coordinates are not indexed; their grid_path is. The distance
    shown is then the great-circle one from the public point.
    """
    half_lat = radius_m / METRES_PER_DEGREE
    # Degrees of longitude shrink with the cosine of the latitude; clamped so a pole stays finite.
    lon_scale = max(math.cos(math.radians(lat)), 1e-6)
    half_lon = min(half_lat / lon_scale, 180.0)
    nearness = (F("public_lat") - lat) * (F("public_lat") - lat) + (
        (F("public_lon") - lon) * lon_scale * (F("public_lon") - lon) * lon_scale
    )
    paths = _grid_paths_near(lat, lon, half_lat, half_lon)
    cases = (
        public_cases()
        # The paths as a list (not a subquery) and on both tables: PostgreSQL then reads the cases and
        # the grids they join through their path indexes, rather than scanning either table whole.
        .filter(grid_path__in=paths, grid__path__in=paths)
        .annotate(public_lat=_public_coordinate("lat", "centroid_lat", "min_lat", "max_lat"),
                  public_lon=_public_coordinate("lon", "centroid_lon", "min_lon", "max_lon"))
        .annotate(nearness=nearness)
        .filter(nearness__lte=half_lat * half_lat)
        .order_by("nearness", "-created_at", "-id")[:limit]
    )
    results = []
    for case in cases:
        public = public_case(case)
        public["distance_m"] = _distance_m(lat, lon, float(public["lat"]), float(public["lon"]))
        results.append(public)
    return results
