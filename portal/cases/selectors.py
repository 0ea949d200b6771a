"""Public reads of cases, shaped for the portal's pages. Which cases are public is issues.selectors'
rule (``public_case_list``: not rejected or duplicate, and not those whose citizen reporter asked not
to be shown publicly — the citizen's wish keeps the whole case off public pages); this module decides
what of them a public page shows:

- Which fields: reference, category, status, description, area (grid name), dates and a location;
  never the reporter, the assignee, residents or staff comments. For a sensitive category the
  location is the grid's centroid and there is no address (issues.selectors.public_location, which
  Open311 shows too).
- Where: ``public_cases_near`` measures distances from that public point (issues.selectors.cases_near),
  so a sensitive case's distance tells no more than its grid does.
"""

from django.db.models import QuerySet

from grid.models import GridNode, Level
from grid.permissions import subtree_q
from issues.models import Case
from issues.selectors import cases_near, public_case_list, public_location

__all__ = ["NEARBY_LIMIT", "NEARBY_RADIUS_M", "area_choices", "public_case", "public_cases", "public_cases_near"]

NEARBY_RADIUS_M = 2000
NEARBY_LIMIT = 20


def public_cases(filters: dict | None = None) -> QuerySet:
    """Recent public cases, newest first. filters: ``category`` (a Category or pk), ``area`` (a GridNode
    or pk: its whole subtree)."""
    filters = filters or {}
    cases = public_case_list().select_related("category", "grid").order_by("-created_at", "-id")
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


def public_cases_near(lat: float, lon: float, *, radius_m: int = NEARBY_RADIUS_M,
                      limit: int = NEARBY_LIMIT) -> list[dict]:
    """public_case dicts (plus ``distance_m``) of the public cases whose public point lies within
    ``radius_m`` of (lat, lon), nearest first, at most ``limit``: two queries."""
    cases = public_case_list().select_related("category", "grid")
    return [{**public_case(near.case), "distance_m": near.distance_m}
            for near in cases_near(cases, lat, lon, radius_m=radius_m, limit=limit)]
