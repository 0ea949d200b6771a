"""django-filter FilterSets for the grid API; node choices are limited to what the user may see."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from grid.models import Department, GridNode, Household, Level, Place, PlaceKind, Post, Role, Visit, VisitOutcome
from grid.permissions import rule_for, scope, subtree_q

__all__ = [
    "DepartmentFilter", "HouseholdFilter", "NodeFilter", "PlaceFilter", "PostFilter", "SubtreeFilter", "VisitFilter",
]


def _visible_nodes(request):
    if request is None:
        return GridNode.objects.none()
    return scope(GridNode.objects.all(), request.user)


@extend_schema_field(OpenApiTypes.INT)
class SubtreeFilter(django_filters.ModelChoiceFilter):
    """A node id that expands to the node's whole subtree (an index range on `field_name`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", _visible_nodes)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        try:
            rule = rule_for(qs.model)
        except LookupError:
            return qs.filter(subtree_q(self.field_name, value.path))
        return qs.filter(rule.subtree_q(value.path, self.field_name))


class ChildrenFilter(SubtreeFilter):
    """A node id that selects the node's direct children."""

    def filter(self, qs, value):
        return super().filter(qs, value).filter(depth=value.depth + 1) if value else qs


class NodeFilter(django_filters.FilterSet):
    level = django_filters.ChoiceFilter(choices=Level.choices)
    parent = ChildrenFilter(field_name="path", label=_("parent"))
    subtree = SubtreeFilter(field_name="path", label=_("subtree of node"))
    code = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = GridNode
        fields = ["level", "parent", "subtree", "code", "name"]



class DepartmentFilter(django_filters.FilterSet):
    node = SubtreeFilter(field_name="node__path", label=_("under node"))

    class Meta:
        model = Department
        fields = ["node", "code"]


class PostFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    node = SubtreeFilter(field_name="node__path", label=_("under node"))

    class Meta:
        model = Post
        fields = ["role", "node"]


class HouseholdFilter(django_filters.FilterSet):
    node = SubtreeFilter(field_name="grid_path", label=_("under node"))

    class Meta:
        model = Household
        fields = ["node"]


class PlaceFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=PlaceKind.choices)
    node = SubtreeFilter(field_name="grid_path", label=_("under node"))

    class Meta:
        model = Place
        fields = ["kind", "node"]


class VisitFilter(django_filters.FilterSet):
    node = SubtreeFilter(field_name="grid_path", label=_("under node"))
    # Plain ids: the list is scoped already, so an id outside the user's grants finds nothing, and
    # no query is spent checking that the id exists.
    household = django_filters.NumberFilter(field_name="household_id", label=_("household"))
    place = django_filters.NumberFilter(field_name="place_id", label=_("place"))
    outcome = django_filters.ChoiceFilter(choices=VisitOutcome.choices)
    visited_after = django_filters.IsoDateTimeFilter(field_name="visited_at", lookup_expr="gte",
                                                     label=_("visited at or after"))
    visited_before = django_filters.IsoDateTimeFilter(field_name="visited_at", lookup_expr="lt",
                                                      label=_("visited before"))

    class Meta:
        model = Visit
        fields = ["node", "household", "place", "outcome", "visited_after", "visited_before"]
