"""django-filter FilterSet and ordering of the case list (/api/v1/issues/cases/)."""

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.filters import OrderingFilter

from civic.api.pagination import with_tie_break
from grid.filters import SubtreeFilter
from issues.models import OPEN_STATUSES, Case, Category, Status
from issues.selectors import category_descendant_ids

__all__ = ["CaseFilter", "CaseOrderingFilter", "overdue_q"]


def overdue_q() -> Q:
    """Open and past its deadline: the list's ``overdue`` filter, and the command centre's count of it."""
    return Q(status__in=OPEN_STATUSES, due_at__lt=timezone.now())


class CaseFilter(django_filters.FilterSet):
    # A column of the case itself: no join can repeat a row, and DISTINCT would sort the whole scope.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label=_("status (repeat for several)"),
                                                 distinct=False)
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(), method="filter_category", label=_("category, with its sub-categories")
    )
    node = SubtreeFilter(field_name="grid_path", label=_("under node"))
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("open and past its deadline"))
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     label=_("reported at or after"))
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt",
                                                      label=_("reported before"))
    q = django_filters.CharFilter(method="filter_text", label=_("text in the reference, description or address"))

    class Meta:
        model = Case
        fields = ["status", "category", "node", "overdue", "created_after", "created_before", "q"]

    def filter_category(self, queryset, name, value):
        return queryset.filter(category_id__in=category_descendant_ids(value)) if value else queryset

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(overdue_q()) if value else queryset.exclude(overdue_q())

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(reference__icontains=value) | Q(description__icontains=value) | Q(address__icontains=value)
        )


class CaseOrderingFilter(OrderingFilter):
    """DRF's ordering with the id as the last tie-break, so pages never repeat or skip a case."""

    def get_ordering(self, request, queryset, view):
        return with_tie_break(super().get_ordering(request, queryset, view) or [])
