"""Reads of cases and categories. Every case read starts from grid.permissions.scope (action "view"),
which lets a citizen see the cases they reported and staff the cases of their subtrees."""

from django.db.models import Prefetch, QuerySet

from grid.models import GridNode, Level
from grid.permissions import rule_for, scope, scope_by_codename
from issues.models import Case, CaseEvent, Category

__all__ = ["case_detail", "case_list", "category_descendant_ids", "category_list", "report_grid_list"]


#
# Categories
#


def category_list() -> QuerySet:
    """The categories a case may be reported in (any authenticated user may read them)."""
    return Category.objects.filter(is_active=True)


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
