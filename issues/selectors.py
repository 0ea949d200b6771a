"""Reads of cases and categories. Every case read starts from grid.permissions.scope (action "view"),
which lets a citizen see the cases they reported and staff the cases of their subtrees — except the
public reads at the end, which decide what of a case anyone may see (the portal's public pages, Open311)."""

from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from grid.models import GridNode, Level
from grid.permissions import rule_for, scope, scope_by_codename
from grid.selectors import grid_centre
from issues.models import Case, CaseEvent, Category, Status

__all__ = [
    "HIDDEN_STATUSES",
    "case_detail",
    "case_list",
    "category_descendant_ids",
    "category_list",
    "public_case_list",
    "public_location",
    "report_grid_list",
]


#
# Categories
#


def category_list(*, with_attributes: bool = False) -> QuerySet:
    """The categories a case may be reported in (any authenticated user may read them); with their
    parent and attributes for the callers that show those (the API, Open311)."""
    categories = Category.objects.filter(is_active=True)
    return categories.select_related("parent").prefetch_related("attributes") if with_attributes else categories


def category_descendant_ids(category: Category) -> list[int]:
    """The category and every category below it, at any depth (one query: the tree is small)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, todo = [], [category.pk]
    while todo:
        pk = todo.pop()
        found.append(pk)
        todo.extend(children.get(pk, []))
    return found


#
# Cases
#


def case_list(*, user) -> QuerySet:
    """The cases the user may see, with what a list row (and a permission check) reads joined in."""
    cases = Case.objects.select_related(
        "category", "grid", "handling_node", "handling_department", "reporter", "assignee"
    )
    return scope(cases, user, "view")


def case_detail(*, user) -> QuerySet:
    """case_list plus the timeline and the photos: a fixed number of queries whatever their length."""
    events = CaseEvent.objects.select_related("actor", "department").order_by("id")
    return case_list(user=user).prefetch_related(Prefetch("events", queryset=events), "photos")


#
# Where a case may be reported
#


def report_grid_list(*, user) -> QuerySet:
    """The grids where the user may report a case: those case_report's own permission check accepts."""
    grids = GridNode.objects.filter(level=Level.GRID).order_by("path")
    return scope_by_codename(grids, user, rule_for(Case).actions["add"])


#
# What anyone may see
#

# Never shown in public: a rejected case or a duplicate is not a problem in the city.
HIDDEN_STATUSES = (Status.REJECTED, Status.DUPLICATE)


def public_case_list() -> QuerySet:
    """The cases anyone may see, newest first: not rejected or duplicate, and not those whose citizen
    reporter asked not to be shown publicly (the wish keeps the whole case off public pages). Show of
    them only what public_location and the callers' public fields allow: never the reporter, the
    assignee, residents or staff comments."""
    return (
        Case.objects.select_related("category", "grid")
        .exclude(status__in=HIDDEN_STATUSES)
        .filter(reporter_public=True)
        .order_by("-created_at", "-id")
    )


def public_location(case: Case) -> tuple[Decimal | None, Decimal | None, str, bool]:
    """(lat, lon, address, blurred) of a case for the public: its own, or for a sensitive category the
    grid's centre and no address."""
    if case.category.sensitive:
        lat, lon = grid_centre(case.grid)
        return lat, lon, "", True
    return case.lat, case.lon, case.address, False
