"""Reads of the field app. Cases come from issues.selectors, the patrol list from grid.selectors, and
every read here goes through grid.permissions too, so the field app sees exactly what the API and the
admin let the same person see."""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Case as SqlCase
from django.db.models import Expression, F, QuerySet, Value, When

from grid.models import ROLE_LEVEL, GridNode, Household, Level, Place, Post, Visit
from grid.permissions import grant_paths, path_prefix_q, rule_for, scope_by_codename
from grid.selectors import grid_centre
from issues.models import OPEN_STATUSES, Status
from issues.selectors import case_list

if TYPE_CHECKING:
    from civic.types import Viewer

__all__ = [
    "VISIT_TARGETS",
    "cases_to_verify",
    "field_roles",
    "open_cases",
    "patrol_grids",
    "report_grid_options",
    "visit_targets",
]

# What a patrol visits, by the name grid.services.visit_record gives it (and the field app's URLs).
VISIT_TARGETS: dict[str, type[Household | Place]] = {"household": Household, "place": Place}


def field_roles(user: "Viewer") -> frozenset[str]:
    """The roles the user holds at a node of the grid tree; none means the field app is not for them
    (citizens, department staff, accounts without a post)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    posts = Post.objects.filter(user=user, role__in=list(ROLE_LEVEL)).order_by().values_list("role", flat=True)
    return frozenset(posts)


def open_cases(*, user: "Viewer") -> QuerySet:
    """Open cases in the user's scope, the nearest deadline first, so the overdue ones lead."""
    return case_list(user=user).filter(status__in=OPEN_STATUSES).order_by(F("due_at").asc(nulls_last=True), "id")


def cases_to_verify(*, user: "Viewer") -> QuerySet:
    """Resolved cases in the user's scope waiting for someone to check the result on site, oldest first."""
    return case_list(user=user).filter(status=Status.RESOLVED).order_by("resolved_at", "id")


def _outer_rings(boundary: dict | None) -> list:
    if not boundary:
        return []
    polygons = boundary["coordinates"] if boundary["type"] == "MultiPolygon" else [boundary["coordinates"]]
    return [polygon[0] for polygon in polygons]


def report_grid_options(grids: Iterable[GridNode]) -> list[dict]:
    """What the phone needs to tell, without signal, whether a GPS fix lies in one of the user's grids
    (their outer rings; holes are left to the server's exact test) and where to put a report without a fix."""
    options = []
    for grid in grids:
        lat, lon = grid_centre(grid)
        options.append({
            "id": grid.pk, "name": grid.name, "rings": _outer_rings(grid.boundary),
            "lat": str(lat) if lat is not None else "", "lon": str(lon) if lon is not None else "",
        })
    return options


#
# Patrols
#


def patrol_grids(*, user: "Viewer") -> QuerySet:
    """The grids whose households and places are on the user's patrol list (grid.selectors.patrol_list
    reads the registry), each marked `can_record` where the user may also record a visit."""
    grids = scope_by_codename(GridNode.objects.filter(level=Level.GRID).order_by("path"), user,
                              rule_for(Household).actions["view"])
    record_paths = grant_paths(user, rule_for(Visit).actions["add"])
    can_record: Expression
    if record_paths is None:
        can_record = Value(True)
    elif record_paths:
        can_record = SqlCase(When(path_prefix_q("path", record_paths), then=Value(True)), default=Value(False))
    else:
        can_record = Value(False)
    return grids.annotate(can_record=can_record)


def visit_targets(*, user: "Viewer", kind: str) -> QuerySet:
    """The households (kind "household") or places the user may record a visit to; a record anywhere
    else is not found at all, so a visit form cannot even name it."""
    model = VISIT_TARGETS[kind]
    return scope_by_codename(model.objects.select_related("grid"), user, rule_for(Visit).actions["add"])
